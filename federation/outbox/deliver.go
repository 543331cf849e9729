package outbox

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"time"

	"github.com/riverqueue/river"

	"codeberg.org/passerelle/passerelle/bridges"
	"codeberg.org/passerelle/passerelle/federation/policy"
	"codeberg.org/passerelle/passerelle/internal/metrics"
	"codeberg.org/passerelle/passerelle/internal/outbound"
	"codeberg.org/passerelle/passerelle/store"
)

// The delivery schedule: 30 s after the first failure, doubling up to a
// day between attempts, given up after MaxDeliveryAttempts (about five
// days in all), like maddy's queue and GoToSocial's.
const (
	deliveryFirstRetry  = 30 * time.Second
	deliveryMaxRetry    = 24 * time.Hour
	MaxDeliveryAttempts = 16
	// PerHostDeliveries bounds the deliveries to one host in flight at once
	// across all replicas (a lease in delivery_slots each), so a slow
	// server cannot take every worker nor be flooded.
	PerHostDeliveries = 2
	// deliveryPostTimeout bounds one POST, from signing to reading the
	// answer, whatever the client's own timeout (30 s for NewHTTPClient's):
	// the slot's lease must outlast it.
	deliveryPostTimeout = time.Minute
	// hostSlotLease is how long a slot is leased: the POST's bound plus a
	// margin for the database round trips around it and for clock skew
	// between replicas. A replica that dies mid-POST frees its slot after
	// that.
	hostSlotLease = deliveryPostTimeout + 30*time.Second
	// A delivery that finds every slot of its host taken waits before
	// trying again: HostBusyFirstWait the first time, twice as long at
	// each wait after, up to HostBusyWait, plus a random part of up to
	// half as much again, so that waiting
	// deliveries do not all come back together. Short at first, so that a
	// lone delivery (a participant's Join) behind a few others to the same
	// host goes soon after a slot frees: with a fixed 2 to 5 s, the region
	// bench's RSVP → Join p99 was 3 to 4 s with two or three replicas.
	// Longer after, so that many deliveries waiting for one host do not
	// ask for its slots many times a second.
	HostBusyFirstWait = 250 * time.Millisecond
	HostBusyWait      = 2 * time.Second
)

// hostBusyWait is how long a delivery that found its host busy waits, its
// job having waited waits times before (River's snooze count).
func hostBusyWait(waits int) time.Duration {
	least := HostBusyWait
	if waits < 3 {
		least = HostBusyFirstWait << waits
	}
	return least + rand.N(least*3/2)
}

// DeliverJob sends one recorded delivery (a row of deliveries).
type DeliverJob struct {
	DeliveryID int64 `json:"delivery_id"`
}

// Kind implements bridges.Job.
func (DeliverJob) Kind() string { return "federation.deliver" }

// Recipient says where an activity goes: an actor, whose inbox (its shared
// inbox when offered) is looked up when sending, or an explicit inbox.
type Recipient struct {
	Actor string
	Inbox string
}

// Deliver records, in the caller's transaction, that activity (a JSON
// document) is to be delivered from the local actor fromActorID to the
// recipient, and enqueues the job that signs and sends it. It does no
// network work, so it is safe inside any transaction; the mail flow uses it
// for Joins and Leaves.
func (s *Outbox) Deliver(ctx context.Context, tx *store.Tx, fromActorID int64, to Recipient, activity []byte) error {
	var head struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(activity, &head); err != nil || head.ID == "" {
		return fmt.Errorf("deliver: activity is not a JSON object with an id")
	}
	if to.Actor == "" && to.Inbox == "" {
		return fmt.Errorf("deliver %s: no recipient", head.ID)
	}
	d := &store.Delivery{ActorID: fromActorID, Recipient: to.Actor, Inbox: to.Inbox, ActivityID: head.ID, Activity: activity}
	if err := tx.InsertDelivery(ctx, d); err != nil {
		return err
	}
	return tx.Enqueue(ctx, DeliverJob{DeliveryID: d.ID}, bridges.JobOpts{MaxAttempts: MaxDeliveryAttempts + 1})
}

// Sender signs and sends the recorded deliveries (the delivery jobs) and
// removes erased participants' actors once nothing of theirs remains to
// send.
type Sender struct {
	*Outbox
	client       *http.Client
	policy       *policy.Policy
	allowPrivate bool
	refresh      func(ctx context.Context, actorURL string) (*store.RemoteActor, error)
	log          *slog.Logger
	eraseCheck   time.Duration
}

// SenderOptions are what a Sender needs beside the Outbox.
type SenderOptions struct {
	// Client is the outbound (SSRF-safe) client.
	Client *http.Client
	// Policy is the domain policy, asked again before each POST.
	Policy *policy.Policy
	// AllowPrivateNetworks is federation.allow_private_networks.
	AllowPrivateNetworks bool
	// Refresh fetches a recipient actor's document (for its inbox) when
	// the stored copy has none: federation's, which keeps the cache of
	// remote actors.
	Refresh func(ctx context.Context, actorURL string) (*store.RemoteActor, error)
	Log     *slog.Logger
	// EraseCheckInterval is the first wait between checks of whether an
	// erased participant's deliveries are done; zero means 30 s (tests
	// shorten it).
	EraseCheckInterval time.Duration
}

// NewSender builds the sender of out's deliveries.
func NewSender(out *Outbox, o SenderOptions) *Sender {
	log := o.Log
	if log == nil {
		log = slog.Default()
	}
	return &Sender{Outbox: out, client: o.Client, policy: o.Policy, allowPrivate: o.AllowPrivateNetworks,
		refresh: o.Refresh, log: log, eraseCheck: o.EraseCheckInterval}
}

// inboxFor picks where to POST: the explicit inbox, else the recipient's
// shared inbox when it offers one, else its own inbox.
func (s *Sender) inboxFor(ctx context.Context, d *store.Delivery) (string, error) {
	if d.Inbox != "" {
		return d.Inbox, nil
	}
	ra, err := s.db.RemoteActor(ctx, d.Recipient)
	if err != nil || (ra.Inbox == "" && ra.SharedInbox == "") {
		ra, err = s.refresh(ctx, d.Recipient)
		if err != nil {
			return "", err
		}
	}
	if ra.SharedInbox != "" {
		return ra.SharedInbox, nil
	}
	if ra.Inbox == "" {
		return "", fmt.Errorf("actor %s has no inbox", d.Recipient)
	}
	return ra.Inbox, nil
}

// hostOf is the host of an inbox URL, "" when it has none.
func hostOf(inbox string) string {
	u, err := url.Parse(inbox)
	if err != nil {
		return ""
	}
	return u.Host
}

// Backoff is the wait before attempt n+1 after n failed attempts.
func Backoff(n int) time.Duration {
	d := deliveryFirstRetry
	for i := 1; i < n && d < deliveryMaxRetry; i++ {
		d *= 2
	}
	return min(d, deliveryMaxRetry)
}

// errPermanent marks a delivery that retrying cannot fix.
var errPermanent = errors.New("permanent failure")

// sendDelivery makes one attempt. It returns the inbox used and, on
// failure, the error and how long the server asked us to wait.
func (s *Sender) sendDelivery(ctx context.Context, d *store.Delivery) (string, time.Duration, error) {
	from, err := s.db.LocalActorByID(ctx, d.ActorID)
	if err != nil {
		return "", 0, fmt.Errorf("%w: sender actor %d: %v", errPermanent, d.ActorID, err)
	}
	inbox, err := s.inboxFor(ctx, d)
	if err != nil {
		var se *outbound.StatusError
		if errors.As(err, &se) && se.StatusCode == http.StatusGone {
			// The recipient actor is gone: so is its inbox.
			return "", 0, err
		}
		if errors.Is(err, policy.ErrBlocked) || errors.As(err, &se) && se.StatusCode == http.StatusNotFound {
			return "", 0, fmt.Errorf("%w: %v", errPermanent, err)
		}
		return "", 0, fmt.Errorf("find inbox: %w", err)
	}
	u, err := outbound.CheckURL(inbox, s.allowPrivate)
	if err != nil {
		return inbox, 0, fmt.Errorf("%w: %v", errPermanent, err)
	}
	if err := s.policy.CheckHost(ctx, u.Host); err != nil {
		return inbox, 0, fmt.Errorf("%w: %v", errPermanent, err)
	}
	release, err := s.acquireHost(ctx, u.Host)
	if err != nil {
		return inbox, 0, err
	}
	// Deferred, so that an error or a panic below frees the slot too.
	defer release()
	ctx, cancel := context.WithTimeout(ctx, deliveryPostTimeout)
	defer cancel()
	signer, err := s.SignerFor(from)
	if err != nil {
		return inbox, 0, fmt.Errorf("%w: %v", errPermanent, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(d.Activity))
	if err != nil {
		return inbox, 0, fmt.Errorf("%w: %v", errPermanent, err)
	}
	req.Header.Set("Content-Type", ContentType)
	req.Header.Set("Accept", ContentType)
	if err := signer.Sign(req, d.Activity); err != nil {
		return inbox, 0, fmt.Errorf("%w: %v", errPermanent, err)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return inbox, 0, fmt.Errorf("post to %s: %w", inbox, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		// Mobilizon answers 200 "error" to a bad signature: a 2xx means
		// delivered, nothing more.
		return inbox, 0, nil
	case resp.StatusCode == http.StatusGone:
		return inbox, 0, &outbound.StatusError{URL: inbox, StatusCode: resp.StatusCode}
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusRequestTimeout || resp.StatusCode >= 500:
		return inbox, outbound.RetryAfter(resp.Header.Get("Retry-After"), s.Now()), &outbound.StatusError{URL: inbox, StatusCode: resp.StatusCode}
	default:
		return inbox, 0, fmt.Errorf("%w: %w", errPermanent, &outbound.StatusError{URL: inbox, StatusCode: resp.StatusCode})
	}
}

// errHostBusy says that every delivery slot of the host is taken: the
// delivery waits a little without counting an attempt.
var errHostBusy = errors.New("every delivery slot of the host is taken")

// acquireHost leases one of the host's delivery slots, shared by all
// replicas through the database, or returns errHostBusy at once: a worker
// never waits for a slow host (the job is snoozed instead).
func (s *Sender) acquireHost(ctx context.Context, host string) (release func(), err error) {
	token, ok, err := s.db.AcquireDeliverySlot(ctx, host, PerHostDeliveries, time.Now().Add(hostSlotLease))
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, errHostBusy
	}
	return func() {
		// The attempt's context may be done (job timeout, shutdown): the
		// slot is freed anyway, and if the database is unreachable the
		// lease runs out by itself.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if err := s.db.ReleaseDeliverySlot(ctx, host, token); err != nil {
			s.log.Warn("delivery slot not released; it frees itself when its lease runs out", "host", host, "lease", hostSlotLease, "err", err)
		}
	}, nil
}

// RunDelivery makes one attempt at a delivery and records the outcome.
// It returns nil when done (delivered, gone or given up) and otherwise the
// time to wait before the next attempt. When the destination host has no
// free delivery slot it sends nothing, records nothing and returns a short
// wait (see hostBusyWait).
func (s *Sender) RunDelivery(ctx context.Context, id int64) (retryIn time.Duration, err error) {
	return s.runDelivery(ctx, id, 0)
}

// runDelivery is RunDelivery for a job that has waited waits times.
func (s *Sender) runDelivery(ctx context.Context, id int64, waits int) (retryIn time.Duration, err error) {
	d, err := s.db.DeliveryByID(ctx, id)
	if errors.Is(err, bridges.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	if d.State != store.DeliveryPending {
		return 0, nil
	}
	inbox, wait, sendErr := s.sendDelivery(ctx, d)
	count := func(result string) {
		metrics.Deliveries.WithLabelValues(result, metrics.HostClass(hostOf(inbox))).Inc()
	}
	var se *outbound.StatusError
	switch {
	case errors.Is(sendErr, errHostBusy):
		// Nothing was sent: not an attempt, so a busy host neither uses up
		// the delivery's attempts nor makes it fail.
		retryIn := hostBusyWait(waits)
		s.log.Debug("delivery waits for a free slot", "activity", d.ActivityID, "inbox", inbox, "retry_in", retryIn)
		return retryIn, nil
	case sendErr == nil:
		count("delivered")
		s.log.Info("delivered", "activity", d.ActivityID, "inbox", inbox)
		return 0, s.db.RecordDeliveryAttempt(ctx, id, store.DeliveryDelivered, inbox, "")
	case errors.As(sendErr, &se) && se.StatusCode == http.StatusGone:
		count("gone")
		s.log.Info("delivery stopped: inbox gone", "activity", d.ActivityID, "inbox", inbox)
		return 0, s.db.RecordDeliveryAttempt(ctx, id, store.DeliveryGone, inbox, sendErr.Error())
	case errors.Is(sendErr, errPermanent) || d.Attempts+1 >= MaxDeliveryAttempts:
		count("failed")
		s.log.Warn("delivery given up", "activity", d.ActivityID, "inbox", inbox, "attempts", d.Attempts+1, "err", sendErr)
		return 0, s.db.RecordDeliveryAttempt(ctx, id, store.DeliveryFailed, inbox, sendErr.Error())
	}
	count("retry")
	next := max(Backoff(d.Attempts+1), min(wait, deliveryMaxRetry))
	s.log.Info("delivery failed, will retry", "activity", d.ActivityID, "inbox", inbox, "attempt", d.Attempts+1, "retry_in", next, "err", sendErr)
	if err := s.db.RecordDeliveryAttempt(ctx, id, store.DeliveryPending, inbox, sendErr.Error()); err != nil {
		return 0, err
	}
	return next, nil
}

type deliverWorker struct {
	river.WorkerDefaults[DeliverJob]
	s *Sender
}

// Work runs an attempt; River only schedules: the wait (backoff, the
// server's Retry-After or a busy host) is a snooze, and the attempt count
// lives in the deliveries row, which also says why a delivery was given up.
func (w *deliverWorker) Work(ctx context.Context, job *river.Job[DeliverJob]) error {
	// River counts a job's snoozes in its metadata.
	var meta struct {
		Snoozes int `json:"snoozes"`
	}
	_ = json.Unmarshal(job.Metadata, &meta)
	retryIn, err := w.s.runDelivery(ctx, job.Args.DeliveryID, meta.Snoozes)
	if err != nil {
		return err
	}
	if retryIn > 0 {
		return river.JobSnooze(retryIn)
	}
	return nil
}

// Timeout bounds one delivery: the recipient's actor and a POST, each
// bounded by the client's own timeouts. It stays under
// store.RescueStuckAfter, so that a delivery is never rescued while it
// still runs; a recipient slower than this is tried again later.
func (w *deliverWorker) Timeout(*river.Job[DeliverJob]) time.Duration { return 25 * time.Second }

// Register adds the delivery and erasure workers to the job workers that
// serve runs.
func (s *Sender) Register(workers *river.Workers) {
	river.AddWorker(workers, &deliverWorker{s: s})
	river.AddWorker(workers, &eraseActorWorker{s: s})
}

// NewActivityID mints an id under public_url for an outgoing activity.
func (s *Outbox) NewActivityID(kind string) string {
	return s.URL("/" + url.PathEscape(kind) + "/" + randomID())
}
