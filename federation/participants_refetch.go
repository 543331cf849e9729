package federation

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/riverqueue/river"

	"codeberg.org/passerelle/passerelle/bridges"
	"codeberg.org/passerelle/passerelle/federation/policy"
	"codeberg.org/passerelle/passerelle/internal/outbound"
	"codeberg.org/passerelle/passerelle/store"
)

// Mobilizon never addresses Update or Delete of an event to its remote
// participants (FORMAT.md §4.1): a participant's Person cannot be followed,
// and a source passerelle does not follow (an event found through a web
// page, an unfollowed group) sends nothing at all. So every event someone
// answered is re-fetched from its origin, conditionally (If-None-Match,
// If-Modified-Since) and signed as the instance actor, on a schedule that
// tightens as the event nears; what changed goes through the same
// bridges.Events[*store.Tx] flow as an incoming Update, so invitations' updates and
// cancellations still go out. A 410 (or a Tombstone) is a Delete.

// RefetchSweepJob finds the answered events whose re-fetch is due and
// enqueues a RefetchJob for each. It runs periodically on one replica.
type RefetchSweepJob struct{}

// Kind implements bridges.Job.
func (RefetchSweepJob) Kind() string { return "federation.refetch_sweep" }

// RefetchJob re-fetches one answered event.
type RefetchJob struct {
	EventID int64 `json:"event_id"`
}

// Kind implements bridges.Job.
func (RefetchJob) Kind() string { return "federation.refetch" }

// RefetchInterval is how long to wait before the next re-fetch of an
// event that starts at start: daily while it is more than a week away,
// hourly in its last week, every ten minutes in its last day (when
// changes matter most and people act on them).
func RefetchInterval(now, start time.Time) time.Duration {
	switch until := start.Sub(now); {
	case until > 7*24*time.Hour:
		return 24 * time.Hour
	case until > 24*time.Hour:
		return time.Hour
	default:
		return 10 * time.Minute
	}
}

// refetchBatch bounds the events one sweep schedules; the next sweep takes
// the rest.
const refetchBatch = 500

// SweepRefetches schedules, for every answered event whose re-fetch is
// due, its next re-fetch time and a RefetchJob, in one transaction each:
// the job is durable, and a sweep on another replica does not pick the
// event again. It returns how many were enqueued.
func (s *Service) SweepRefetches(ctx context.Context) (int, error) {
	now := s.now()
	due, err := s.db.DueRefetches(ctx, now, refetchBatch)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, d := range due {
		claimed := false
		err := s.db.Tx(ctx, func(ctx context.Context, tx *store.Tx) error {
			// Not a unique job: River's uniqueness counts completed jobs
			// too, and the next re-fetch is the same job again. Claiming
			// next_at in this transaction is what keeps an event from
			// being enqueued twice, even by two sweeps at once.
			var err error
			claimed, err = tx.ClaimRefetch(ctx, d.EventID, now, now.Add(RefetchInterval(now, d.Start)))
			if err != nil || !claimed {
				return err
			}
			return tx.Enqueue(ctx, RefetchJob{EventID: d.EventID}, bridges.JobOpts{MaxAttempts: 3})
		})
		if err != nil {
			return n, fmt.Errorf("schedule re-fetch of %s: %w", d.APID, err)
		}
		if claimed {
			n++
		}
	}
	return n, nil
}

// RefetchOutcome says what a re-fetch found.
type RefetchOutcome string

// The outcomes of a re-fetch.
const (
	RefetchNotModified RefetchOutcome = "not-modified" // 304
	RefetchStored      RefetchOutcome = "stored"       // 200, given to bridges.Events[*store.Tx] (which tells whether it changed)
	RefetchDeleted     RefetchOutcome = "deleted"      // 410 or a Tombstone
	RefetchSkipped     RefetchOutcome = "skipped"      // gone from the store, or an answer that changes nothing
)

// RefetchEvent makes one conditional, signed GET of a stored event at its
// origin and applies the answer. Errors are those worth a retry (network,
// 5xx, 429); anything else is an outcome.
func (s *Service) RefetchEvent(ctx context.Context, eventID int64) (RefetchOutcome, error) {
	ev, err := s.db.EventByID(ctx, eventID)
	if errors.Is(err, bridges.ErrNotFound) {
		return RefetchSkipped, nil
	}
	if err != nil {
		return "", err
	}
	if ev.Deleted {
		return RefetchSkipped, nil
	}
	st, err := s.db.RefetchState(ctx, eventID)
	if err != nil {
		return "", err
	}
	status, header, body, err := s.conditionalGet(ctx, ev.APID, st.ETag, st.LastModified)
	if errors.Is(err, policy.ErrBlocked) {
		// A blocked domain's events are not fetched; the participants
		// keep the last copy.
		s.log.Info("re-fetch of an event on a blocked domain skipped", "event", ev.APID)
		return RefetchSkipped, nil
	}
	if err != nil {
		return "", err
	}
	st.CheckedAt, st.LastStatus = s.now(), status
	outcome := RefetchSkipped
	switch {
	case status == http.StatusNotModified:
		outcome = RefetchNotModified
	case status == http.StatusGone:
		outcome, err = s.refetchDeleted(ctx, ev)
	case status >= 200 && status < 300:
		var head objectHeader
		if json.Unmarshal(body, &head) != nil || head.ID == "" {
			s.log.Warn("re-fetched event is not an object", "event", ev.APID)
			break
		}
		if head.is("Tombstone") {
			outcome, err = s.refetchDeleted(ctx, ev)
			break
		}
		if head.ID != ev.APID {
			s.log.Warn("re-fetched event claims another id", "event", ev.APID, "id", head.ID)
			break
		}
		outcome, err = s.refetchStore(ctx, ev, body)
		if err == nil {
			st.ETag, st.LastModified = header.Get("ETag"), header.Get("Last-Modified")
		}
	default:
		// 404 is what Mobilizon answers for an event made private or a
		// draft again: not a deletion; the next re-fetch looks again.
		s.log.Info("re-fetch refused", "event", ev.APID, "status", status)
	}
	if err != nil {
		return "", err
	}
	if err := s.db.Tx(ctx, func(ctx context.Context, tx *store.Tx) error { return tx.RecordRefetch(ctx, st) }); err != nil {
		return "", err
	}
	s.log.Debug("event re-fetched", "event", ev.APID, "status", status, "outcome", outcome)
	return outcome, nil
}

func (s *Service) refetchDeleted(ctx context.Context, ev *bridges.StoredEvent) (RefetchOutcome, error) {
	if _, err := s.events.Delete(ctx, ev.APID); err != nil {
		return "", err
	}
	s.log.Info("re-fetched event is gone: deleted", "event", ev.APID)
	return RefetchDeleted, nil
}

// refetchStore decodes the fetched object with its source's dialect and
// stores it; bridges.Events[*store.Tx] tells the listeners (the RSVP flow mails the
// update or the cancellation) when it changed.
func (s *Service) refetchStore(ctx context.Context, ev *bridges.StoredEvent, body []byte) (RefetchOutcome, error) {
	src := &bridges.Source{Software: "generic"}
	if ev.SourceID != 0 {
		got, err := s.db.SourceWhere(ctx, "id", ev.SourceID)
		if err != nil {
			return "", fmt.Errorf("source of %s: %w", ev.APID, err)
		}
		src = got
	}
	next, err := s.decodeEvent(ctx, src, body)
	if errors.Is(err, errSkip) {
		s.log.Info("re-fetched event not stored", "event", ev.APID, "why", err)
		return RefetchSkipped, nil
	}
	if err != nil {
		return "", err
	}
	next.SourceID = ev.SourceID
	if _, err := s.events.Apply(ctx, next, body); err != nil {
		return "", err
	}
	return RefetchStored, nil
}

// conditionalGet is the Fetcher's signed GET with validators: it returns
// the status (304 included), the headers and, for a 2xx or a 410, the
// bounded body. Network errors, 429 and 5xx are errors (a retry may help).
func (s *Service) conditionalGet(ctx context.Context, rawURL, etag, lastModified string) (int, http.Header, []byte, error) {
	u, err := outbound.CheckURL(rawURL, s.opts.AllowPrivateNetworks)
	if err != nil {
		return 0, nil, nil, err
	}
	if err := s.policy.CheckHost(ctx, u.Host); err != nil {
		return 0, nil, nil, fmt.Errorf("re-fetch %s: %w", rawURL, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return 0, nil, nil, fmt.Errorf("re-fetch %s: %w", rawURL, err)
	}
	req.Header.Set("Accept", acceptActivity)
	if etag != "" {
		req.Header.Set("If-None-Match", etag)
	}
	if lastModified != "" {
		req.Header.Set("If-Modified-Since", lastModified)
	}
	signer, err := s.instanceSigner(ctx)
	if err != nil {
		return 0, nil, nil, fmt.Errorf("re-fetch %s: signer: %w", rawURL, err)
	}
	if err := signer.Sign(req, nil); err != nil {
		return 0, nil, nil, err
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, nil, nil, fmt.Errorf("re-fetch %s: %w", rawURL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500 {
		return resp.StatusCode, resp.Header, nil, &outbound.StatusError{URL: rawURL, StatusCode: resp.StatusCode, RetryAfter: outbound.RetryAfter(resp.Header.Get("Retry-After"), s.now())}
	}
	var body []byte
	if (resp.StatusCode >= 200 && resp.StatusCode < 300) || resp.StatusCode == http.StatusGone {
		if body, err = outbound.ReadLimited(resp.Body, DefaultMaxDocument); err != nil {
			return 0, nil, nil, fmt.Errorf("re-fetch %s: %w", rawURL, err)
		}
	}
	return resp.StatusCode, resp.Header, body, nil
}

type refetchSweepWorker struct {
	river.WorkerDefaults[RefetchSweepJob]
	s *Service
}

func (w *refetchSweepWorker) Work(ctx context.Context, _ *river.Job[RefetchSweepJob]) error {
	n, err := w.s.SweepRefetches(ctx)
	if n > 0 {
		w.s.log.Debug("re-fetches scheduled", "count", n)
	}
	return err
}

type refetchWorker struct {
	river.WorkerDefaults[RefetchJob]
	s *Service
}

func (w *refetchWorker) Work(ctx context.Context, job *river.Job[RefetchJob]) error {
	_, err := w.s.RefetchEvent(ctx, job.Args.EventID)
	return err
}

func (w *refetchWorker) Timeout(*river.Job[RefetchJob]) time.Duration { return 25 * time.Second }

// RegisterRefetch adds the re-fetch workers and returns the periodic job
// that sweeps for due re-fetches every interval (a minute in serve: the
// tightest schedule is ten minutes, so an event is never much late).
func (s *Service) RegisterRefetch(workers *river.Workers, interval time.Duration) *river.PeriodicJob {
	river.AddWorker(workers, &refetchSweepWorker{s: s})
	river.AddWorker(workers, &refetchWorker{s: s})
	// Only River's leader enqueues periodic jobs: one sweep at a time.
	return river.NewPeriodicJob(river.PeriodicInterval(interval), func() (river.JobArgs, *river.InsertOpts) {
		return RefetchSweepJob{}, nil
	}, &river.PeriodicJobOpts{RunOnStart: true})
}
