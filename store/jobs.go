package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"codeberg.org/passerelle/passerelle/bridges"
)

// Enqueue adds a durable job in the transaction: it runs only if the
// transaction commits, and it survives any crash after that.
func (tx *Tx) Enqueue(ctx context.Context, job bridges.Job, opts bridges.JobOpts) error {
	_, err := tx.db.client().InsertTx(ctx, tx.tx, job, insertOpts(opts))
	if err != nil {
		return fmt.Errorf("enqueue %s job: %w", job.Kind(), err)
	}
	return nil
}

// EnqueueID is Enqueue that also returns the new job's id, for work the
// transaction then records for that job to find (see WaitingJob).
func (tx *Tx) EnqueueID(ctx context.Context, job bridges.Job, opts bridges.JobOpts) (int64, error) {
	res, err := tx.db.client().InsertTx(ctx, tx.tx, job, insertOpts(opts))
	if err != nil {
		return 0, fmt.Errorf("enqueue %s job: %w", job.Kind(), err)
	}
	return res.Job.ID, nil
}

// WaitingJob returns the id of the newest job of that kind, above after,
// that is queued and not started, or 0 when there is none. A transaction
// may record more work for that job instead of inserting another one (a
// River insert costs far more than this look-up): no worker can start the
// job before the transaction ends, so the job sees all of it. On SQLite
// the transaction holds the write lock from BEGIN (immediate transactions,
// see Open) and River's fetch is a write; on PostgreSQL the job's row is
// locked here and River's fetch skips locked rows (FOR UPDATE SKIP
// LOCKED), while a job that a fetch has already locked is skipped here.
func (tx *Tx) WaitingJob(ctx context.Context, kind string, after int64) (int64, error) {
	q := `SELECT id FROM river_job WHERE kind = ? AND state = 'available' AND id > ? ORDER BY id DESC LIMIT 1`
	if tx.db.backend == Postgres {
		q += ` FOR UPDATE SKIP LOCKED`
	}
	var id int64
	err := tx.queryRowPrepared(ctx, q, kind, after).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("look for a waiting %s job: %w", kind, err)
	}
	return id, nil
}

// Enqueue adds a durable job in a transaction of its own.
func (db *DB) Enqueue(ctx context.Context, job bridges.Job, opts bridges.JobOpts) error {
	return db.Tx(ctx, func(ctx context.Context, tx *Tx) error { return tx.Enqueue(ctx, job, opts) })
}

func insertOpts(o bridges.JobOpts) *river.InsertOpts {
	ro := &river.InsertOpts{Queue: o.Queue, ScheduledAt: o.RunAt, MaxAttempts: o.MaxAttempts, Priority: o.Priority}
	if o.Unique {
		ro.UniqueOpts = river.UniqueOpts{ByArgs: true}
	}
	return ro
}

func (db *DB) client() *river.Client[*sql.Tx] {
	db.mu.RLock()
	defer db.mu.RUnlock()
	return db.river
}

// Job time limits. A worker whose work needs longer than DefaultJobTimeout
// declares its own Timeout, below RescueStuckAfter.
const (
	DefaultJobTimeout = 20 * time.Second
	RescueStuckAfter  = 30 * time.Second
)

// Jobs is what StartJobs runs.
type Jobs struct {
	// Workers holds every worker, registered by each package.
	Workers *river.Workers
	// Periodic jobs are enqueued on a schedule by one replica at a time.
	Periodic []*river.PeriodicJob
	// MaxWorkers bounds jobs of the default queue run at once by this
	// process; 0 means 8.
	MaxWorkers int
	// MailWorkers bounds the mails (bridges.QueueMail) sent at once by
	// this process; 0 means 4.
	MailWorkers int
	// PollInterval is how often an idle worker looks for new jobs; 0
	// means 200 ms (database/sql drivers have no LISTEN, so River polls).
	PollInterval time.Duration
}

// StartJobs starts working the queue. The returned stop drains: it lets
// running jobs finish until ctx is done, then cancels what is left (a
// cancelled job is retried later, by this or another replica).
func (db *DB) StartJobs(ctx context.Context, j Jobs) (stop func(context.Context) error, err error) {
	if j.MaxWorkers == 0 {
		j.MaxWorkers = 8
	}
	if j.MailWorkers == 0 {
		j.MailWorkers = 4
	}
	if j.PollInterval == 0 {
		j.PollInterval = 200 * time.Millisecond
	}
	client, err := river.NewClient(db.driver(), &river.Config{
		Logger: db.log.With("component", "jobs"),
		Queues: map[string]river.QueueConfig{
			river.QueueDefault: {MaxWorkers: j.MaxWorkers},
			bridges.QueueMail:  {MaxWorkers: j.MailWorkers},
		},
		Workers:           j.Workers,
		PeriodicJobs:      j.Periodic,
		FetchPollInterval: j.PollInterval,
		FetchCooldown:     j.PollInterval / 4,
		JobTimeout:        DefaultJobTimeout,
		// A job left running by a process that died (kill -9, a crash,
		// a lost machine) is given back after this; River looks every 30
		// seconds, so its work resumes within about a minute, on another
		// replica or after a restart. Every worker's Timeout stays below
		// it, so that no job still running is rescued.
		RescueStuckJobsAfter: RescueStuckAfter,
		// River logs every failed attempt; our workers say why themselves.
		ErrorHandler: &errorLogger{log: db.log},
	})
	if err != nil {
		return nil, fmt.Errorf("set up job workers: %w", err)
	}
	if err := client.Start(ctx); err != nil {
		return nil, fmt.Errorf("start job workers: %w", err)
	}
	db.mu.Lock()
	db.river = client
	db.mu.Unlock()
	return func(ctx context.Context) error {
		err := client.Stop(ctx)
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
			cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			return client.StopAndCancel(cctx)
		}
		return err
	}, nil
}

type errorLogger struct{ log *slog.Logger }

func (e *errorLogger) HandleError(ctx context.Context, job *rivertype.JobRow, err error) *river.ErrorHandlerResult {
	e.log.Warn("job failed", "kind", job.Kind, "job", job.ID, "attempt", job.Attempt, "max_attempts", job.MaxAttempts, "err", err)
	return nil
}

func (e *errorLogger) HandlePanic(ctx context.Context, job *rivertype.JobRow, panicVal any, trace string) *river.ErrorHandlerResult {
	e.log.Error("job panicked", "kind", job.Kind, "job", job.ID, "panic", panicVal, "trace", trace)
	return nil
}
