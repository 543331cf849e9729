package bridges

import (
	"context"
	"errors"
	"time"
)

// ErrNotFound is returned by storage lookups that find nothing.
var ErrNotFound = errors.New("not found")

// Job is a durable piece of work, run by a worker after the transaction
// that enqueued it commits. Kind names the worker; the value is stored as
// JSON. (It is exactly river.JobArgs, without importing River here.)
type Job interface {
	Kind() string
}

// JobOpts tune how a job is enqueued.
type JobOpts struct {
	// Queue defaults to the default queue; QueueMail for mails.
	Queue string
	// Priority orders the jobs of a queue: 1 (the default) first, then
	// 2, 3, 4.
	Priority int
	// RunAt schedules the job; zero means now.
	RunAt time.Time
	// MaxAttempts bounds retries; zero means the queue's default.
	MaxAttempts int
	// Unique skips the insert when a job of the same kind and arguments is
	// already waiting or running.
	Unique bool
}

// QueueMail is the queue of outgoing mails. It has workers of its own,
// so that a fan-out of thousands of mails, paced by mail.send_interval,
// never holds the workers the inbox and the deliveries need: a Join
// answered by mail leaves while the updates are still being sent.
const QueueMail = "mail"

// StoredEvent is an event with what passerelle keeps beside it.
type StoredEvent struct {
	Event
	// Raw is the ActivityPub document the event was read from.
	Raw []byte `json:"-"`
	// Calendar is the event rendered as a VCALENDAR with one VEVENT,
	// rendered once when the event changes; ETag is its strong validator.
	Calendar []byte `json:"-"`
	ETag     string `json:"-"`
	// Deleted events stay as rows so that sync can report them gone.
	Deleted    bool      `json:"deleted,omitempty"`
	CreatedAt  time.Time `json:"-"`
	ModifiedAt time.Time `json:"-"`
}

// Tx is one storage transaction. A state change and the jobs it causes are
// written in the same Tx, so a crash loses neither or both.
type Tx interface {
	// EventByAPID returns the stored event with that ActivityPub id,
	// deleted ones included, or ErrNotFound.
	EventByAPID(ctx context.Context, apID string) (*StoredEvent, error)
	// SaveEvent inserts or updates the event (by APID), logs the change
	// for calendars' sync, and sets ev.ID.
	SaveEvent(ctx context.Context, ev *StoredEvent) error
	// Enqueue adds a durable job, committed with the transaction.
	Enqueue(ctx context.Context, job Job, opts JobOpts) error
}

// Store opens transactions of type T: the store's own transaction type,
// which the flows and their listeners receive as it is. A flow is generic
// over T so that the compiler, not a type assertion at run time, checks
// that the store's transaction has every method the flows and the
// listeners wired to them use.
type Store[T Tx] interface {
	InTx(ctx context.Context, fn func(ctx context.Context, tx T) error) error
}

// Renderer renders an event as calendar text once, when it changes (the
// ical package implements it): every calendar read is then a byte copy.
type Renderer interface {
	RenderEvent(ev *Event) ([]byte, error)
}
