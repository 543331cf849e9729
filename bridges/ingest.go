package bridges

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// ChangeKind says what happened to an event.
type ChangeKind string

// The kinds of change. Minor changes (participant counts) refresh
// calendars but are no new version; Cancelled is an update to the
// cancelled status, which people are told about differently.
const (
	ChangeCreated   ChangeKind = "created"
	ChangeUpdated   ChangeKind = "updated"
	ChangeMinor     ChangeKind = "minor"
	ChangeCancelled ChangeKind = "cancelled"
	ChangeDeleted   ChangeKind = "deleted"
)

// Change is one stored change to an event, as listeners see it.
type Change struct {
	Kind  ChangeKind
	Event *StoredEvent
	// Previous is the event before the change; nil for a creation.
	Previous *StoredEvent
}

// ChangeListener reacts to an event change inside the transaction that
// stores it, typically by enqueueing its own durable jobs (mail updates,
// Mastodon edits), so that the change and its consequences commit together.
type ChangeListener[T Tx] interface {
	EventChanged(ctx context.Context, tx T, ch Change) error
}

// Events is the flow that takes events in from any source and keeps the
// store, the calendars and every listener in step.
type Events[T Tx] struct {
	Store     Store[T]
	Renderer  Renderer
	Listeners []ChangeListener[T]
	Log       *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

func (e *Events[T]) now() time.Time {
	if e.Now != nil {
		return e.Now()
	}
	return time.Now()
}

// Apply stores an incoming copy of an event. A copy older than the stored
// one (by Updated) or identical to it changes nothing; a changed copy is
// re-rendered, gets SEQUENCE+1 when a calendar would show the difference,
// and is announced to the listeners. An event that was deleted stays
// deleted: ActivityPub ids are not reused. It returns the change made, with
// a nil Event when nothing changed.
func (e *Events[T]) Apply(ctx context.Context, ev Event, raw []byte) (Change, error) {
	if err := ev.Validate(); err != nil {
		return Change{}, err
	}
	var ch Change
	err := e.Store.InTx(ctx, func(ctx context.Context, tx T) error {
		ch = Change{}
		old, err := tx.EventByAPID(ctx, ev.APID)
		switch {
		case errors.Is(err, ErrNotFound):
			old = nil
		case err != nil:
			return err
		case old.Deleted:
			return nil
		case !ev.Updated.IsZero() && ev.Updated.Before(old.Updated):
			return nil
		}
		next := &StoredEvent{Event: ev, Raw: raw}
		kind := ChangeCreated
		if old != nil {
			next.ID = old.ID
			next.CreatedAt = old.CreatedAt
			if next.SourceID == 0 {
				next.SourceID = old.SourceID
			}
			if next.Updated.IsZero() {
				next.Updated = old.Updated
			}
			next.Sequence = old.Sequence
			if old.Digest() == next.Digest() && old.SourceID == next.SourceID {
				return nil
			}
			kind = ChangeMinor
			if old.MaterialDigest() != next.MaterialDigest() {
				next.Sequence = old.Sequence + 1
				kind = ChangeUpdated
				if next.Status == StatusCancelled && old.Status != StatusCancelled {
					kind = ChangeCancelled
				}
			}
		}
		if err := e.render(next); err != nil {
			return err
		}
		next.ModifiedAt = e.now()
		if next.CreatedAt.IsZero() {
			next.CreatedAt = next.ModifiedAt
		}
		if err := tx.SaveEvent(ctx, next); err != nil {
			return fmt.Errorf("save event %s: %w", ev.APID, err)
		}
		ch = Change{Kind: kind, Event: next, Previous: old}
		return e.notify(ctx, tx, ch)
	})
	if err != nil {
		return Change{}, err
	}
	if ch.Event != nil && e.Log != nil {
		e.Log.Info("event stored", "event", ev.APID, "change", ch.Kind, "sequence", ch.Event.Sequence)
	}
	return ch, nil
}

// Delete marks the event with that ActivityPub id deleted: it leaves
// calendars and feeds, sync reports it gone, and listeners send
// cancellations. Deleting an unknown or already deleted event is a no-op.
func (e *Events[T]) Delete(ctx context.Context, apID string) (Change, error) {
	var ch Change
	err := e.Store.InTx(ctx, func(ctx context.Context, tx T) error {
		ch = Change{}
		old, err := tx.EventByAPID(ctx, apID)
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if old.Deleted {
			return nil
		}
		next := *old
		next.Deleted = true
		next.Sequence++
		next.Status = StatusCancelled
		if err := e.render(&next); err != nil {
			return err
		}
		next.ModifiedAt = e.now()
		if err := tx.SaveEvent(ctx, &next); err != nil {
			return fmt.Errorf("delete event %s: %w", apID, err)
		}
		ch = Change{Kind: ChangeDeleted, Event: &next, Previous: old}
		return e.notify(ctx, tx, ch)
	})
	if err != nil {
		return Change{}, err
	}
	if ch.Event != nil && e.Log != nil {
		e.Log.Info("event deleted", "event", apID)
	}
	return ch, nil
}

func (e *Events[T]) render(ev *StoredEvent) error {
	if e.Renderer == nil {
		return nil
	}
	cal, err := e.Renderer.RenderEvent(&ev.Event)
	if err != nil {
		return fmt.Errorf("render event %s: %w", ev.APID, err)
	}
	ev.Calendar = cal
	sum := sha256.Sum256(cal)
	ev.ETag = `"` + hex.EncodeToString(sum[:16]) + `"`
	return nil
}

func (e *Events[T]) notify(ctx context.Context, tx T, ch Change) error {
	for _, l := range e.Listeners {
		if err := l.EventChanged(ctx, tx, ch); err != nil {
			return fmt.Errorf("event %s %s: %w", ch.Event.APID, ch.Kind, err)
		}
	}
	return nil
}
