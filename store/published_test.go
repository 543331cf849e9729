package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"codeberg.org/passerelle/passerelle/bridges"
	"codeberg.org/passerelle/passerelle/internal/storetest"
	"codeberg.org/passerelle/passerelle/store"
)

// TestPublishedCalendars: a calendar with its Group actor, followers and
// events (keyed by UID and RECURRENCE-ID), on both backends.
func TestPublishedCalendars(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		c := &store.PublishedCalendar{Slug: "club", URL: "https://example.org/club.ics", Title: "Club"}
		err := db.Tx(ctx, func(ctx context.Context, tx *store.Tx) error {
			return tx.CreatePublishedCalendar(ctx, c, &store.LocalActor{DisplayName: "Club", PrivateKeyPEM: "k", PublicKeyPEM: "p"})
		})
		if err != nil {
			t.Fatal(err)
		}
		a, err := db.LocalActorByUsername(ctx, "club")
		if err != nil || a.Kind != store.ActorCalendar || a.ID != c.ActorID {
			t.Fatalf("actor = %+v, %v", a, err)
		}
		ev := &store.PublishedEvent{CalendarID: c.ID, UID: "u1", RecurrenceID: "", Key: "k1", Hash: "h", State: store.PublishedLive, Object: []byte(`{}`), StartsAt: time.Now()}
		err = db.Tx(ctx, func(ctx context.Context, tx *store.Tx) error {
			if err := tx.AddPublishedFollower(ctx, c.ID, store.PublishedFollower{Actor: "https://x/a", SharedInbox: "https://x/inbox"}); err != nil {
				return err
			}
			if err := tx.PutPublishedEvent(ctx, ev); err != nil {
				return err
			}
			dup := *ev
			dup.ID, dup.Key = 0, "k2"
			if tx.PutPublishedEvent(ctx, &dup) == nil {
				t.Error("a second event with the same UID and RECURRENCE-ID was stored")
			}
			return errors.New("rollback")
		})
		if err == nil || err.Error() != "rollback" {
			t.Fatal(err)
		}
		err = db.Tx(ctx, func(ctx context.Context, tx *store.Tx) error {
			ev.ID = 0
			if err := tx.AddPublishedFollower(ctx, c.ID, store.PublishedFollower{Actor: "https://x/a", SharedInbox: "https://x/inbox"}); err != nil {
				return err
			}
			if err := tx.PutPublishedEvent(ctx, ev); err != nil {
				return err
			}
			ev.State = store.PublishedDeleted
			return tx.PutPublishedEvent(ctx, ev)
		})
		if err != nil {
			t.Fatal(err)
		}
		got, err := db.PublishedEventByKey(ctx, c.ID, "k1")
		if err != nil || got.State != store.PublishedDeleted || got.UID != "u1" {
			t.Fatalf("event = %+v, %v", got, err)
		}
		if vis, _ := db.VisiblePublishedEvents(ctx, c.ID); len(vis) != 0 {
			t.Errorf("visible events = %d, want 0", len(vis))
		}
		fs, _ := db.PublishedFollowers(ctx, c.ID)
		if len(fs) != 1 || fs[0].SharedInbox != "https://x/inbox" {
			t.Errorf("followers = %+v", fs)
		}
		if err := db.RecordPublishedError(ctx, c.ID, "not iCalendar", time.Now()); err != nil {
			t.Fatal(err)
		}
		c2, _ := db.PublishedCalendar(ctx, "club")
		if c2.LastError != "not iCalendar" {
			t.Errorf("last error = %q", c2.LastError)
		}
		err = db.Tx(ctx, func(ctx context.Context, tx *store.Tx) error { return tx.DeletePublishedCalendar(ctx, c2) })
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.PublishedCalendar(ctx, "club"); !errors.Is(err, bridges.ErrNotFound) {
			t.Errorf("after remove: %v", err)
		}
		if _, err := db.LocalActorByUsername(ctx, "club"); !errors.Is(err, bridges.ErrNotFound) {
			t.Errorf("the slug's actor still answers: %v", err)
		}
	})
}
