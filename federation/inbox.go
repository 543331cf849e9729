package federation

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/riverqueue/river"

	"codeberg.org/passerelle/passerelle/federation/policy"
	"codeberg.org/passerelle/passerelle/federation/signing"
	"codeberg.org/passerelle/passerelle/internal/metrics"
)

// MaxInboxBody bounds an inbox POST: 1 MiB, far above any real activity.
const MaxInboxBody = 1 << 20

// handledTypes are the activity types the inbox acts on; anything else is
// acknowledged and dropped without a job.
var handledTypes = map[string]bool{
	"Create": true, "Update": true, "Announce": true, "Delete": true,
	"Accept": true, "Reject": true, "Undo": true,
	// Of published calendars (issue 19): their followers and participants.
	"Follow": true, "Join": true, "Leave": true,
}

// InboxJob processes verified incoming activities after the 202: the rows
// of inbox_pending recorded for it (their job_id is the job's id). A
// job queued and not yet started takes every batch committed meanwhile,
// so that the job queue costs one insert per many activities rather than
// one per activity (see groupCommit.commit).
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
	// the committer can wait for it (see groupCommit.run): counting from
	// the start gathers about 13 activities per commit from 16 senders
	// instead of 10, and the wait stays bounded by inboxCommitDelay.
	s.inbox.arrive()
	handed := false
	// result is what the inbox metrics count this request as; typ is
	// the activity's type once read.
	result, typ := "malformed", "other"
	defer func() {
		if !handed {
			s.inbox.left()
		}
		metrics.InboxActivities.WithLabelValues(metrics.ActivityType(typ), result).Inc()
	}()
	// The keyId names the sender's host before the body is even read.
	if keyID := signing.KeyID(r); keyID != "" {
		if u, err := url.Parse(keyID); err == nil {
			if err := s.policy.CheckHost(ctx, u.Host); errors.Is(err, policy.ErrBlocked) {
				result = "blocked"
				http.Error(w, "domain blocked", http.StatusForbidden)
				return
			}
		}
	}
	body, err := readBody(w, r, MaxInboxBody)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			result = "too_large"
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
	typ = act.Type
	actor := ref(act.Actor)
	if actor == "" {
		http.Error(w, "activity has no actor", http.StatusBadRequest)
		return
	}
	if err := s.policy.CheckURL(ctx, actor); err != nil {
		result = "blocked"
		http.Error(w, "domain blocked", http.StatusForbidden)
		return
	}
	key, err := s.verifier.Verify(ctx, r, body)
	if err != nil {
		result = "bad_signature"
		var se *signing.SignatureError
		if errors.As(err, &se) {
			s.log.Info("inbox: signature refused", "actor", actor, "reason", se.Reason)
			http.Error(w, se.Reason, http.StatusUnauthorized)
			return
		}
		if errors.Is(err, policy.ErrBlocked) {
			result = "blocked"
			http.Error(w, "domain blocked", http.StatusForbidden)
			return
		}
		if errors.Is(err, ErrKeyFetchBusy) {
			result = "busy"
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
		result = "bad_signature"
		s.log.Info("inbox: key owner is not the actor", "actor", actor, "key_owner", key.Owner)
		http.Error(w, "signature key is not the activity actor's", http.StatusUnauthorized)
		return
	}
	if !handledTypes[act.Type] {
		result = "ignored"
		s.log.Debug("inbox: ignoring activity type", "type", act.Type, "id", act.ID, "actor", actor)
		w.WriteHeader(http.StatusAccepted)
		return
	}
	handed = true
	if err := s.inbox.commit(ctx, key.Owner, body); err != nil {
		result = "busy"
		s.log.Error("inbox: cannot queue activity", "id", act.ID, "err", err)
		http.Error(w, "cannot queue activity, retry later", http.StatusServiceUnavailable)
		return
	}
	result = "accepted"
	w.WriteHeader(http.StatusAccepted)
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

// Register adds the federation workers (inbox processing, and the
// outbox's delivery and erasure) to the job workers that serve runs.
func (s *Service) Register(workers *river.Workers) {
	river.AddWorker(workers, &inboxWorker{s: s})
	river.AddWorker(workers, &inboxSoloWorker{s: s})
	s.Sender.Register(workers)
}
