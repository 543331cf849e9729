package federation

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"runtime"
	"time"

	"codeberg.org/passerelle/passerelle/federation/signing"

	"github.com/riverqueue/river"

	"codeberg.org/passerelle/passerelle/bridges"
	"codeberg.org/passerelle/passerelle/store"
)

// MaxInboxBody bounds an inbox POST: 1 MiB, far above any real activity.
const MaxInboxBody = 1 << 20

// handledTypes are the activity types the inbox acts on; anything else is
// acknowledged and dropped without a job.
var handledTypes = map[string]bool{
	"Create": true, "Update": true, "Announce": true, "Delete": true,
	"Accept": true, "Reject": true, "Undo": true,
}

// InboxJob processes verified incoming activities after the 202: the rows
// of inbox_pending recorded for it (their job_id is the job's id). A
// job queued and not yet started takes every batch committed meanwhile,
// so that the job queue costs one insert per many activities rather than
// one per activity (see commitInbox).
type InboxJob struct{}

// Kind implements bridges.Job.
func (InboxJob) Kind() string { return "federation.inbox" }

// serveInbox is the shared /inbox and every actor's inbox. It does only
// what must happen before answering: the size bound, the domain policy
// (before any other work), the signature, the key owner; then it commits
// the activity for its job and answers 202. Replays are the job's to drop:
// checking them here would cost every request an index look-up and
// insert for what is, with a valid signature, rare.
func (s *Service) serveInbox(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if u := r.PathValue("username"); u != "" {
		if _, err := s.db.LocalActorByUsername(ctx, u); err != nil {
			if !s.erasedActor(w, r, u) {
				http.Error(w, "no such actor", http.StatusNotFound)
			}
			return
		}
	}
	// Counted from here, before the body is read, until the activity is
	// handed to the committer (which then uncounts it) or refused, so that
	// the committer can wait for it (see inboxCommitter): counting from
	// the start gathers about 13 activities per commit from 16 senders
	// instead of 10, and the wait stays bounded by inboxCommitDelay.
	s.inboxArriving.Add(1)
	handed := false
	defer func() {
		if !handed {
			s.inboxLeft()
		}
	}()
	// The keyId names the sender's host before the body is even read.
	if keyID := signing.KeyID(r); keyID != "" {
		if u, err := url.Parse(keyID); err == nil {
			if err := s.policy.CheckHost(ctx, u.Host); errors.Is(err, ErrBlocked) {
				http.Error(w, "domain blocked", http.StatusForbidden)
				return
			}
		}
	}
	body, err := readBody(w, r, MaxInboxBody)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			http.Error(w, "activity larger than 1 MiB", http.StatusRequestEntityTooLarge)
			return
		}
		http.Error(w, "cannot read body", http.StatusBadRequest)
		return
	}
	// Only what the answer depends on; the job reads the rest.
	act, err := readActivityHead(body)
	if err != nil || act.Type == "" {
		http.Error(w, "body is not an ActivityStreams activity", http.StatusBadRequest)
		return
	}
	actor := ref(act.Actor)
	if actor == "" {
		http.Error(w, "activity has no actor", http.StatusBadRequest)
		return
	}
	if err := s.policy.CheckURL(ctx, actor); err != nil {
		http.Error(w, "domain blocked", http.StatusForbidden)
		return
	}
	key, err := s.verifier.Verify(ctx, r, body)
	if err != nil {
		var se *signing.SignatureError
		if errors.As(err, &se) {
			s.log.Info("inbox: signature refused", "actor", actor, "reason", se.Reason)
			http.Error(w, se.Reason, http.StatusUnauthorized)
			return
		}
		if errors.Is(err, ErrBlocked) {
			http.Error(w, "domain blocked", http.StatusForbidden)
			return
		}
		if errors.Is(err, ErrKeyFetchBusy) {
			s.log.Warn("inbox: too many signature keys being fetched", "actor", actor)
			w.Header().Set("Retry-After", "30")
			http.Error(w, "cannot verify signature now, retry later", http.StatusServiceUnavailable)
			return
		}
		s.log.Warn("inbox: cannot get the signature key", "actor", actor, "err", err)
		http.Error(w, "cannot verify signature: key unavailable", http.StatusUnauthorized)
		return
	}
	if key.Owner != actor {
		s.log.Info("inbox: key owner is not the actor", "actor", actor, "key_owner", key.Owner)
		http.Error(w, "signature key is not the activity actor's", http.StatusUnauthorized)
		return
	}
	if !handledTypes[act.Type] {
		s.log.Debug("inbox: ignoring activity type", "type", act.Type, "id", act.ID, "actor", actor)
		w.WriteHeader(http.StatusAccepted)
		return
	}
	handed = true
	if err := s.commitInbox(ctx, key.Owner, body); err != nil {
		s.log.Error("inbox: cannot queue activity", "id", act.ID, "err", err)
		http.Error(w, "cannot queue activity, retry later", http.StatusServiceUnavailable)
		return
	}
	w.WriteHeader(http.StatusAccepted)
}

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

type inboxEntry struct {
	signer string
	body   []byte
	done   chan error
}

// commitInbox records the activity and enqueues the job that processes
// it, durably, before the 202. Concurrent requests share one transaction
// (group commit, as databases do for their logs): one commit for a batch
// instead of one each. A batch joins the inbox job still waiting to run
// when there is one, and only otherwise inserts a job: under load most
// batches cost a look-up instead of a River insert, which is what lets the
// inbox keep up with signature verification. A lone request commits at
// once.
func (s *Service) commitInbox(ctx context.Context, signer string, body []byte) error {
	s.inboxOnce.Do(func() {
		go s.inboxCommitter()
	})
	e := &inboxEntry{signer: signer, body: body, done: make(chan error, 1)}
	select {
	case s.inboxQueue <- e:
		s.inboxArriving.Add(-1)
	case <-ctx.Done():
		s.inboxLeft()
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

// inboxLeft uncounts a request that will bring no activity, and wakes the
// committer if it was the last one it could be waiting for.
func (s *Service) inboxLeft() {
	if s.inboxArriving.Add(-1) == 0 {
		select {
		case s.inboxWake <- struct{}{}:
		default:
		}
	}
}

func (s *Service) inboxCommitter() {
	// The job this process last gave activities to, and how many: past
	// inboxJobMax, batches go to a newer job.
	var lastJob, full int64
	var given int
	deadline := time.NewTimer(inboxCommitDelay)
	deadline.Stop()
	for first := range s.inboxQueue {
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
			case e := <-s.inboxQueue:
				batch = append(batch, e)
				continue
			default:
			}
			if s.inboxArriving.Load() == 0 {
				break
			}
			select {
			case e := <-s.inboxQueue:
				batch = append(batch, e)
			case <-s.inboxWake:
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
		if s.db.Backend() == store.Postgres {
			ctx, cancel = context.WithTimeout(ctx, 30*time.Second)
		}
		var jobID int64
		err := s.db.Tx(ctx, func(ctx context.Context, tx *store.Tx) error {
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
			s.inboxCommits.Add(1)
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

// readBody reads a request body of at most limit bytes, in one allocation
// when the sender gave its length.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	rd := http.MaxBytesReader(w, r.Body, limit)
	if n := r.ContentLength; n >= 0 && n <= limit {
		body := make([]byte, n)
		if _, err := io.ReadFull(rd, body); err != nil {
			return nil, err
		}
		// A body longer than announced is an error, not a truncation.
		var one [1]byte
		if m, _ := rd.Read(one[:]); m > 0 {
			return nil, fmt.Errorf("body longer than its Content-Length")
		}
		return body, nil
	}
	return io.ReadAll(rd)
}

// The inbox's job workers: batches (InboxJob) and the activities that
// failed in theirs, alone (InboxSoloJob); see process.go.

type inboxWorker struct {
	river.WorkerDefaults[InboxJob]
	s *Service
}

func (w *inboxWorker) Work(ctx context.Context, job *river.Job[InboxJob]) error {
	return w.s.processBatch(ctx, batchRun{jobID: job.ID})
}

func (w *inboxWorker) Timeout(*river.Job[InboxJob]) time.Duration { return inboxJobTimeout }

type inboxSoloWorker struct {
	river.WorkerDefaults[InboxSoloJob]
	s *Service
}

func (w *inboxSoloWorker) Work(ctx context.Context, job *river.Job[InboxSoloJob]) error {
	return w.s.processBatch(ctx, batchRun{jobID: job.ID, solo: true, last: job.Attempt >= job.MaxAttempts})
}

func (w *inboxSoloWorker) Timeout(*river.Job[InboxSoloJob]) time.Duration { return inboxJobTimeout }
