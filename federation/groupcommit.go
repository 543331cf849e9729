package federation

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"codeberg.org/passerelle/passerelle/bridges"
	"codeberg.org/passerelle/passerelle/store"
)

// inboxBatchMax bounds the activities committed in one transaction.
const inboxBatchMax = 128

// inboxCommitDelay bounds how long the committer waits for requests that
// are being verified, to commit them in the same batch: committing each
// one or two as they come costs more CPU than verifying them (the trade
// PostgreSQL's commit_delay and commit_siblings make), while the sender,
// an ActivityPub server across the network, does not notice a millisecond
// before its 202. A lone request does not wait.
const inboxCommitDelay = time.Millisecond

// inboxJobMax bounds the activities this process gives one job, so that a
// busy inbox spreads its work over several jobs (and workers), and on
// PostgreSQL a job that inbox commits keep locking still gets fetched. A
// River insert costs about a millisecond of CPU on SQLite (its statement
// is parsed anew each time), so the bound keeps that under 1 µs per
// activity; a full job is a second or so of processing.
const inboxJobMax = 1024

// groupCommit is the inbox's group commit: it holds the activities of
// concurrent inbox requests until they are stored, together, with the job
// that processes them. The inbox handler counts each request that is being
// read and verified (arrive), then hands its activity over (commit) or
// says it brings none (left).
type groupCommit struct {
	db   *store.DB
	once sync.Once
	// queue carries the activities to the committer goroutine.
	queue chan *inboxEntry
	// arriving counts inbox requests being read and verified, which the
	// committer may wait for (see inboxCommitDelay).
	arriving atomic.Int64
	// wake tells the committer that a request it may be waiting for was
	// refused.
	wake chan struct{}
	// commits counts the committer's transactions, for the benchmark to
	// report how many activities each carried.
	commits atomic.Int64
}

func newGroupCommit(db *store.DB) *groupCommit {
	return &groupCommit{db: db, queue: make(chan *inboxEntry, inboxBatchMax), wake: make(chan struct{}, 1)}
}

// arrive counts a request whose activity may join the next batch.
func (g *groupCommit) arrive() { g.arriving.Add(1) }

type inboxEntry struct {
	signer string
	body   []byte
	done   chan error
}

// commit records the activity and enqueues the job that processes
// it, durably, before the 202. Concurrent requests share one transaction
// (group commit, as databases do for their logs): one commit for a batch
// instead of one each. A batch joins the inbox job still waiting to run
// when there is one, and only otherwise inserts a job: under load most
// batches cost a look-up instead of a River insert, which is what lets the
// inbox keep up with signature verification. A lone request commits at
// once.
func (g *groupCommit) commit(ctx context.Context, signer string, body []byte) error {
	g.once.Do(func() {
		go g.run()
	})
	e := &inboxEntry{signer: signer, body: body, done: make(chan error, 1)}
	select {
	case g.queue <- e:
		g.arriving.Add(-1)
	case <-ctx.Done():
		g.left()
		return ctx.Err()
	}
	select {
	case err := <-e.done:
		return err
	case <-ctx.Done():
		// The batch may still commit; the sender will retry and the
		// replay check will drop the copy.
		return ctx.Err()
	}
}

// left uncounts a request that will bring no activity, and wakes the
// committer if it was the last one it could be waiting for.
func (g *groupCommit) left() {
	if g.arriving.Add(-1) == 0 {
		select {
		case g.wake <- struct{}{}:
		default:
		}
	}
}

// run is the committer: it gathers the activities that arrive together
// into one transaction.
func (g *groupCommit) run() {
	// The job this process last gave activities to, and how many: past
	// inboxJobMax, batches go to a newer job.
	var lastJob, full int64
	var given int
	deadline := time.NewTimer(inboxCommitDelay)
	deadline.Stop()
	for first := range g.queue {
		batch := []*inboxEntry{first}
		// Let the requests that are ready to run start first (the one
		// that just handed its activity over runs the committer before
		// them), then take every activity that requests being verified
		// bring, until none is left in flight.
		runtime.Gosched()
		deadline.Reset(inboxCommitDelay)
	gather:
		for len(batch) < inboxBatchMax {
			select {
			case e := <-g.queue:
				batch = append(batch, e)
				continue
			default:
			}
			if g.arriving.Load() == 0 {
				break
			}
			select {
			case e := <-g.queue:
				batch = append(batch, e)
			case <-g.wake:
				// A request was refused; look again.
			case <-deadline.C:
				break gather
			}
		}
		deadline.Stop()
		// A deadline guards against a PostgreSQL connection that hangs.
		// SQLite's waits are bounded by its busy timeout, and its driver
		// starts a goroutine per statement to honour a context that can
		// end: on this path that was a tenth of the commit's CPU.
		ctx, cancel := context.Background(), context.CancelFunc(func() {})
		if g.db.Backend() == store.Postgres {
			ctx, cancel = context.WithTimeout(ctx, 30*time.Second)
		}
		var jobID int64
		err := g.db.Tx(ctx, func(ctx context.Context, tx *store.Tx) error {
			var err error
			if jobID, err = tx.WaitingJob(ctx, InboxJob{}.Kind(), full); err != nil {
				return err
			}
			if jobID == 0 {
				if jobID, err = tx.EnqueueID(ctx, InboxJob{}, bridges.JobOpts{MaxAttempts: 10}); err != nil {
					return err
				}
			}
			acts := make([]store.NewInboxActivity, len(batch))
			for i, e := range batch {
				acts[i] = store.NewInboxActivity{Signer: e.signer, Body: e.body}
			}
			return tx.AddInboxActivities(ctx, jobID, acts)
		})
		cancel()
		if err == nil {
			g.commits.Add(1)
			if jobID != lastJob {
				lastJob, given = jobID, 0
			}
			if given += len(batch); given >= inboxJobMax {
				full = jobID
			}
		}
		for _, e := range batch {
			e.done <- err
		}
	}
}
