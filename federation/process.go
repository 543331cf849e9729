package federation

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/riverqueue/river"

	"codeberg.org/passerelle/passerelle/bridges"
	"codeberg.org/passerelle/passerelle/federation/signing"
	"codeberg.org/passerelle/passerelle/internal/metrics"
	"codeberg.org/passerelle/passerelle/internal/outbound"
	"codeberg.org/passerelle/passerelle/store"
)

// errSkip marks an activity that is deliberately not acted on; the job
// succeeds and a debug line says why.
var errSkip = errors.New("skipped")

func skipf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errSkip, fmt.Sprintf(format, args...))
}

// Time bounds of inbox work. A job stops taking activities after
// inboxBatchBudget and is run again at once for the rest (River's snooze,
// which counts no attempt), so that it always ends well within
// inboxJobTimeout and a crashed replica's job is rescued soon (see
// store.StartJobs). One activity gets inboxActivityTimeout: one that fails
// or runs longer is moved to a job of its own (InboxSoloJob), and the
// batch goes on.
const (
	inboxBatchBudget     = 8 * time.Second
	inboxActivityTimeout = 6 * time.Second
	inboxJobTimeout      = 20 * time.Second
	// inboxSoloAttempts is how often an activity is tried alone before it
	// is recorded as rejected. River waits attempt⁴ seconds between tries:
	// about 80 minutes in all, so that a home server that is down for a
	// while is waited for.
	inboxSoloAttempts = 8
)

// InboxSoloJob processes one activity that failed in its batch, alone;
// after its last attempt the activity is recorded as rejected (store's
// inbox_rejected), with the reason, and logged. Its own kind, so that the
// inbox never adds new activities to it.
type InboxSoloJob struct{}

// Kind implements bridges.Job.
func (InboxSoloJob) Kind() string { return "federation.inbox_solo" }

// batchRun says how ProcessBatch runs a job.
type batchRun struct {
	jobID int64
	// solo is an InboxSoloJob; last is set on its final attempt.
	solo, last bool
}

// errMore asks River to run the job again at once: its time budget is
// spent and activities are left (a snooze is no failed attempt).
var errMore = river.JobSnooze(0)

// ProcessBatch runs the inbox job jobID: it processes each activity
// recorded for it, in the order received, except replays of activities
// already processed, then removes them from the queue and adds them to the
// replay guard. An activity that fails or runs too long goes to a job of
// its own (InboxSoloJob) and the others are stored; only a failure of the
// database itself fails the job.
func (s *Service) ProcessBatch(ctx context.Context, jobID int64) error {
	return s.processBatch(ctx, batchRun{jobID: jobID})
}

func (s *Service) processBatch(ctx context.Context, run batchRun) error {
	start := time.Now()
	acts, err := s.db.PendingInboxActivities(ctx, run.jobID)
	if err != nil {
		return err
	}
	keys := make([]string, len(acts))
	ids := make([]string, len(acts))
	for i, a := range acts {
		// An unreadable body keeps an empty id: Process drops it.
		head, _ := readActivityHead(a.Body)
		ids[i] = head.ID
		if head.ID == "" {
			// Transient activities have no id; the body's digest still
			// catches a replay.
			head.ID = "transient:" + a.Signer
		}
		keys[i] = store.InboxDedupeKey(head.ID, a.Body)
	}
	seen, err := s.db.SeenInboxActivities(ctx, keys)
	if err != nil {
		return err
	}
	var errs []error
	more := false
	done := make([]int64, 0, len(acts))
	doneKeys := make([]string, 0, len(acts))
	for i, a := range acts {
		if seen[keys[i]] {
			// Its key is in the guard already (or goes in with the
			// first copy of this batch).
			s.log.Debug("inbox: replayed activity dropped", "key", keys[i])
			metrics.InboxActivities.WithLabelValues("other", "replay").Inc()
			done = append(done, a.ID)
			continue
		}
		if !run.solo && i > 0 && time.Since(start) > inboxBatchBudget {
			more = true
			break
		}
		if err := s.processTimed(ctx, a.Body, a.Signer); err != nil {
			if ctx.Err() != nil {
				errs = append(errs, ctx.Err())
				break
			}
			if err := s.setAside(ctx, run, a, ids[i], err); err != nil {
				errs = append(errs, err)
			}
			continue
		}
		seen[keys[i]] = true
		done = append(done, a.ID)
		doneKeys = append(doneKeys, keys[i])
	}
	// Pruning the guard once a minute is plenty: keys live for a day.
	now := s.now()
	var keep time.Duration
	if now.Sub(time.UnixMicro(s.inboxPruned.Load())) > time.Minute {
		s.inboxPruned.Store(now.UnixMicro())
		keep = s.replayHorizon()
	}
	if err := s.db.InboxActivitiesDone(ctx, done, doneKeys, now, keep); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if more {
		return errMore
	}
	return nil
}

// processTimed runs Process under inboxActivityTimeout. Process runs on a
// goroutine of its own so that even work that never looks at its context
// (a renderer in a loop) cannot hold the job: the goroutine is left behind
// then, its context cancelled, which rolls back its transaction.
func (s *Service) processTimed(ctx context.Context, body []byte, signer string) error {
	ctx, cancel := context.WithTimeout(ctx, inboxActivityTimeout)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				done <- fmt.Errorf("panic: %v", p)
			}
		}()
		done <- s.Process(ctx, body, signer)
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		if parent := context.Cause(ctx); parent != context.DeadlineExceeded {
			return parent
		}
		return fmt.Errorf("still running after %s", inboxActivityTimeout)
	}
}

// setAside deals with an activity that failed: in a batch, it moves to a
// job of its own; alone, it is retried (the job fails) until its last
// attempt, when it is recorded as rejected with the reason.
func (s *Service) setAside(ctx context.Context, run batchRun, a store.InboxActivity, activityID string, cause error) error {
	switch {
	case !run.solo:
		job, err := s.db.MoveInboxActivity(ctx, a.ID, InboxSoloJob{}, bridges.JobOpts{MaxAttempts: inboxSoloAttempts})
		if err != nil {
			return err
		}
		s.log.Info("inbox: activity failed in its batch, retried alone", "activity", activityID, "signer", a.Signer, "job", job, "err", cause)
		return nil
	case !run.last:
		return fmt.Errorf("activity %s: %w", activityID, cause)
	}
	if err := s.db.RejectInboxActivity(ctx, a.ID, activityID, cause.Error(), s.now()); err != nil {
		return err
	}
	s.log.Warn("inbox: activity rejected after every attempt (passerelle status lists it)", "activity", activityID,
		"signer", a.Signer, "attempts", inboxSoloAttempts, "err", cause)
	return nil
}

// replayHorizon is how long an activity is remembered against replays:
// one signed with a Date at the edge of the accepted window can be
// replayed until the other edge, plus an hour of clock skew between
// replicas.
func (s *Service) replayHorizon() time.Duration {
	window := s.verifier.Window
	if window <= 0 {
		window = signing.DefaultDateWindow
	}
	return 2*window + time.Hour
}

// Process acts on one verified activity, signed by signer. It returns an
// error only when retrying may help.
func (s *Service) Process(ctx context.Context, body []byte, signer string) error {
	var act Activity
	if err := json.Unmarshal(body, &act); err != nil {
		s.log.Warn("inbox job: unreadable activity", "err", err)
		return nil
	}
	// The handler checked that the key's owner is the actor; a job checks
	// again rather than trust what it reads.
	actor := ref(act.Actor)
	if actor != signer {
		s.log.Warn("inbox job: actor is not the signer", "actor", actor, "signer", signer)
		return nil
	}
	var err error
	switch act.Type {
	case "Create", "Update", "Announce":
		err = s.processEvent(ctx, &act, actor)
	case "Delete":
		err = s.processDelete(ctx, &act, actor)
	case "Accept", "Reject":
		err = s.processAnswer(ctx, &act, actor)
	case "Follow":
		err = s.processFollow(ctx, &act, actor)
	case "Join":
		err = s.processJoin(ctx, &act, actor)
	case "Leave":
		err = s.processLeave(ctx, ref(act.Object), actor)
	case "Undo":
		// Only published calendars have followers and participants.
		err = s.processUndo(ctx, &act, actor)
	default:
		err = skipf("activity type %s", act.Type)
	}
	if errors.Is(err, errSkip) {
		s.log.Debug("inbox: activity ignored", "type", act.Type, "id", act.ID, "actor", actor, "why", err)
		return nil
	}
	if err != nil {
		return fmt.Errorf("%s %s from %s: %w", act.Type, act.ID, actor, err)
	}
	return nil
}

// sourceFor finds the followed source an event belongs to: the activity's
// actor (a Gancio relay, a group or PeerTube channel announcing), the
// object's attributedTo (Mobilizon's group, when a member sends the
// Create; PeerTube's channel, when its account sends the Update) or its
// organiser.
// The actor must be on the source's host: a member Person of a group
// lives on the group's instance.
func (s *Service) sourceFor(ctx context.Context, actor string, candidates ...string) (*bridges.Source, error) {
	for _, c := range append([]string{actor}, candidates...) {
		if c == "" {
			continue
		}
		src, err := s.db.SourceWhere(ctx, "actor_url", c)
		if errors.Is(err, bridges.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if src.State != bridges.SourceFollowed && src.State != bridges.SourcePending {
			return nil, skipf("source %s is %s", src.Slug, src.State)
		}
		if !sameHost(src.ActorURL, actor) {
			return nil, skipf("actor %s is not on the host of source %s", actor, src.ActorURL)
		}
		return src, nil
	}
	return nil, skipf("no followed source among %s, %v", actor, candidates)
}

// objectFromOrigin returns the activity's object as its origin serves it:
// the embedded copy when it comes from the object's own host (the actor
// is there), otherwise a signed fetch of its id. A copy from anyone else
// is never believed, so a forged cross-origin Create stores nothing.
func (s *Service) objectFromOrigin(ctx context.Context, act *Activity, actor string) (*objectHeader, []byte, error) {
	if o := embedded(act.Object); o != nil && sameHost(o.ID, actor) {
		return o, act.Object, nil
	}
	id := ref(act.Object)
	if id == "" {
		return nil, nil, skipf("activity has no object")
	}
	body, err := s.fetcher.Get(ctx, id, "")
	if err != nil {
		var se *outbound.StatusError
		if errors.As(err, &se) && se.StatusCode >= 400 && se.StatusCode < 500 && se.StatusCode != 429 {
			return nil, nil, skipf("object %s: %v", id, err)
		}
		return nil, nil, fmt.Errorf("refetch object from its origin: %w", err)
	}
	var o objectHeader
	if err := json.Unmarshal(body, &o); err != nil || o.ID == "" {
		return nil, nil, skipf("object %s is not a JSON object", id)
	}
	if o.ID != id && !sameHost(o.ID, id) {
		return nil, nil, skipf("object fetched from %s claims id %s", id, o.ID)
	}
	return &o, body, nil
}

func (s *Service) processEvent(ctx context.Context, act *Activity, actor string) error {
	obj, raw, err := s.objectFromOrigin(ctx, act, actor)
	if err != nil {
		return err
	}
	// Every attributedTo entry is a candidate: PeerTube's Update comes
	// from the account and names the followed channel second.
	candidates := append(refs(obj.AttributedTo), ref(act.AttributedTo), ref(obj.Actor))
	src, err := s.sourceFor(ctx, actor, candidates...)
	if err != nil {
		return err
	}
	if !sameHost(obj.ID, src.ActorURL) {
		// An Announce of someone else's event: believe it only from its
		// origin, which objectFromOrigin did, and only for our source's
		// own host (a group sharing a remote event is not its event).
		return skipf("event %s is not hosted by source %s", obj.ID, src.ActorURL)
	}
	return s.ingest(ctx, src, raw)
}

// decodeEvent reads an object of the source with its dialect: the
// event to store, or a skip (not an event, a draft, invalid). It fills the
// organiser's name from their actor document, which the dialects leave
// to the side that fetches.
func (s *Service) decodeEvent(ctx context.Context, src *bridges.Source, raw []byte) (bridges.Event, error) {
	d := s.dialect(src.Software)
	if d == nil {
		return bridges.Event{}, skipf("no dialect for %s", src.Software)
	}
	ev, err := d.Decode(raw)
	if errors.Is(err, bridges.ErrNotAnEvent) {
		return ev, skipf("not an event: %v", err)
	}
	if err != nil {
		s.log.Warn("event refused by its dialect", "source", src.Slug, "software", src.Software, "err", err)
		return ev, skipf("decode: %v", err)
	}
	if err := ev.Validate(); err != nil {
		s.log.Warn("event refused", "source", src.Slug, "err", err)
		return ev, skipf("invalid event: %v", err)
	}
	if ev.Draft {
		// Mobilizon federates group drafts; they are shown once an Update
		// publishes them.
		return ev, skipf("event %s is a draft", ev.APID)
	}
	if ev.OrganizerName == "" && ev.OrganizerURL != "" {
		ev.OrganizerName = s.actorName(ctx, ev.OrganizerURL)
	}
	ev.SourceID = src.ID
	return ev, nil
}

// actorName is an actor's display name (or username), from the cache or
// a fetch; empty when neither works, which only leaves the name out.
func (s *Service) actorName(ctx context.Context, actorURL string) string {
	ra, err := s.db.RemoteActor(ctx, actorURL)
	if err != nil {
		if ra, _, err = s.refreshActor(ctx, actorURL, ""); err != nil {
			s.log.Debug("organiser name unavailable", "actor", actorURL, "err", err)
			return ""
		}
	}
	return firstNonEmpty(ra.Name, ra.Username)
}

// ingest decodes an event object with the source's dialect and stores it.
func (s *Service) ingest(ctx context.Context, src *bridges.Source, raw []byte) error {
	ev, err := s.decodeEvent(ctx, src, raw)
	if err != nil {
		return err
	}
	if _, err := s.events.Apply(ctx, ev, raw); err != nil {
		return err
	}
	// The time of a source's last activity is shown to the minute; a
	// burst from one group writes it once, not once per event (each write
	// was a commit of its own, and on PostgreSQL a wait on the source's
	// row for every other replica storing that group's events).
	if s.now().Sub(src.LastActivity) < time.Minute {
		return nil
	}
	if err := s.db.TouchSource(ctx, src.ID); err != nil {
		s.log.Warn("record source activity", "source", src.Slug, "err", err)
	}
	return nil
}

func (s *Service) dialect(software string) bridges.Dialect {
	if d, ok := s.dialects[software]; ok {
		return d
	}
	return s.dialects["generic"]
}

func (s *Service) processDelete(ctx context.Context, act *Activity, actor string) error {
	id := ref(act.Object)
	if id == "" {
		return skipf("Delete without object")
	}
	if id == actor {
		return skipf("actor %s deleted itself", actor)
	}
	// Only the object's own origin may delete it: Mobilizon's Delete comes
	// from the deleting Person (organiser, moderator or admin) of the
	// event's instance.
	if !sameHost(id, actor) {
		return skipf("Delete of %s by %s from another host", id, actor)
	}
	if o := embedded(act.Object); o != nil && (o.is("Note") || o.is("Person") || o.is("Group")) {
		return skipf("Delete of a %v", o.types())
	}
	ch, err := s.events.Delete(ctx, id)
	if err != nil {
		return err
	}
	if ch.Event == nil {
		return skipf("Delete of unknown object %s", id)
	}
	return nil
}

// processAnswer handles Accept and Reject: of passerelle's Follow (the
// source's state), or of a Join passerelle sent for a participant (told
// to the RSVP flow).
func (s *Service) processAnswer(ctx context.Context, act *Activity, actor string) error {
	objID := ref(act.Object)
	if objID == "" {
		return skipf("%s without object", act.Type)
	}
	if !s.isLocal(objID) {
		return skipf("%s of %s, which passerelle did not send", act.Type, objID)
	}
	inner := embedded(act.Object)
	if inner != nil && inner.is("Join") {
		return s.processJoinAnswer(ctx, act, actor, objID, inner)
	}
	if inner == nil || !inner.is("Follow") {
		// A bare id: one of our Follows, or else one of our Joins.
		if _, err := s.db.SourceWhere(ctx, "follow_id", objID); errors.Is(err, bridges.ErrNotFound) {
			return s.processJoinAnswer(ctx, act, actor, objID, nil)
		}
	}
	return s.db.Tx(ctx, func(ctx context.Context, tx *store.Tx) error {
		src, err := tx.SourceWhere(ctx, "follow_id", objID)
		if errors.Is(err, bridges.ErrNotFound) {
			return skipf("%s of unknown Follow %s", act.Type, objID)
		}
		if err != nil {
			return err
		}
		if src.ActorURL != actor {
			return skipf("%s of the Follow of %s sent by %s", act.Type, src.ActorURL, actor)
		}
		state := bridges.SourceFollowed
		if act.Type == "Reject" {
			state = bridges.SourceRefused
		}
		if src.State == bridges.SourceUnfollowed {
			return skipf("source %s was unfollowed", src.Slug)
		}
		if err := tx.SetSourceState(ctx, src.ID, state); err != nil {
			return err
		}
		s.log.Info("follow answered", "source", src.Slug, "state", state)
		return nil
	})
}

func (s *Service) processJoinAnswer(ctx context.Context, act *Activity, actor, joinID string, inner *objectHeader) error {
	if s.joins == nil {
		s.log.Warn("answer to a Join, but no RSVP flow is wired", "join", joinID)
		return nil
	}
	if inner != nil {
		if p := ref(inner.Actor); p != "" && !s.isLocal(p) {
			return skipf("%s of someone else's Join", act.Type)
		}
	}
	// Only the server the Join went to may answer it. The embedded Join is
	// the sender's copy and proves nothing, so the check uses passerelle's
	// own record of where it delivered the Join.
	ds, err := s.db.DeliveriesOf(ctx, joinID)
	if err != nil {
		return err
	}
	if len(ds) == 0 {
		return skipf("%s of %s, which is no Join passerelle sent", act.Type, joinID)
	}
	from := false
	for _, d := range ds {
		if sameHost(d.Recipient, actor) || sameHost(d.Inbox, actor) {
			from = true
		}
	}
	if !from {
		return skipf("%s of Join %s from %s, not the server it was sent to", act.Type, joinID, actor)
	}
	answer := bridges.JoinAccepted
	if act.Type == "Reject" {
		answer = bridges.JoinRejected
	}
	return s.db.Tx(ctx, func(ctx context.Context, tx *store.Tx) error {
		return s.joins.JoinAnswered(ctx, tx, joinID, answer)
	})
}
