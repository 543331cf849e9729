package mastodon

import (
	"context"
	"fmt"
	"time"

	"codeberg.org/passerelle/passerelle/bridges"
	"codeberg.org/passerelle/passerelle/store"
)

// Listener enqueues the Mastodon jobs of an event change inside the
// transaction that stores it, so a change and its posts commit together.
type Listener struct {
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

var _ bridges.ChangeListener[*store.Tx] = (*Listener)(nil)

// triggers maps a change to what a route must post on to care.
var triggers = map[bridges.ChangeKind][]Trigger{
	bridges.ChangeCreated: {OnCreate},
	// An update may also be the first time a route can post the event
	// (it became public, or the route is new), hence create.
	bridges.ChangeUpdated:   {OnUpdate, OnCreate},
	bridges.ChangeCancelled: {OnCancel},
	bridges.ChangeDeleted:   {OnDelete},
}

// EventChanged implements bridges.ChangeListener[*store.Tx].
func (l *Listener) EventChanged(ctx context.Context, tx *store.Tx, ch bridges.Change) error {
	return l.eventChanged(ctx, tx, ch)
}

// routeTx is what the listener needs of the transaction that stores an
// event change: the routes of its source, to enqueue in it. The unit tests
// pass an in-memory one.
type routeTx interface {
	bridges.Tx
	MastodonRoutesForSource(ctx context.Context, sourceID int64) ([]Route, error)
}

func (l *Listener) eventChanged(ctx context.Context, tx routeTx, ch bridges.Change) error {
	ev := ch.Event
	want, ok := triggers[ch.Kind]
	if !ok || ev == nil || ev.SourceID == 0 {
		return nil
	}
	if ch.Kind != bridges.ChangeDeleted && (!ev.Public || ev.Draft) {
		return nil
	}
	routes, err := tx.MastodonRoutesForSource(ctx, ev.SourceID)
	if err != nil {
		return fmt.Errorf("list Mastodon routes of source %d: %w", ev.SourceID, err)
	}
	now := time.Now()
	if l.Now != nil {
		now = l.Now()
	}
	for _, r := range routes {
		posts := false
		for _, t := range want {
			posts = posts || r.Posts(t)
		}
		if !posts {
			continue
		}
		args := PostArgs{EventID: ev.ID, AccountID: r.AccountID, Change: string(ch.Kind), Version: ev.Sequence}
		if err := tx.Enqueue(ctx, args, bridges.JobOpts{MaxAttempts: MaxAttempts}); err != nil {
			return fmt.Errorf("enqueue Mastodon post of %s: %w", ev.APID, err)
		}
		startMoved := ch.Previous == nil || !ch.Previous.Start.Equal(ev.Start)
		if r.Reminder > 0 && startMoved && (ch.Kind == bridges.ChangeCreated || ch.Kind == bridges.ChangeUpdated) {
			if at := ev.Start.Add(-r.Reminder); at.After(now) {
				rem := ReminderArgs{EventID: ev.ID, AccountID: r.AccountID, Start: ev.Start.Unix()}
				if err := tx.Enqueue(ctx, rem, bridges.JobOpts{RunAt: at, MaxAttempts: MaxAttempts}); err != nil {
					return fmt.Errorf("enqueue Mastodon reminder of %s: %w", ev.APID, err)
				}
			}
		}
	}
	return nil
}
