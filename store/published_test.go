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
		// The actor stays, retired, with its key (the Deletes queued by
		// publish remove are signed with it) and its name taken.
		if a, err := db.LocalActorByUsername(ctx, "club"); err != nil || a.Kind != store.ActorCalendarRemoved || a.PrivateKeyPEM != "k" {
			t.Errorf("the retired actor: %+v %v", a, err)
		}
		if _, err := db.ErasedActor(ctx, "club"); err != nil {
			t.Errorf("no date of removal: %v", err)
		}
	})
}

// TestPublishedParticipants: a calendar's join mode, and participants
// accepted or pending, of which only the accepted count.
func TestPublishedParticipants(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		c := &store.PublishedCalendar{Slug: "club", URL: "https://example.org/club.ics"}
		ev := &store.PublishedEvent{UID: "u1", Key: "k1", Hash: "h", State: store.PublishedLive, Object: []byte(`{}`), StartsAt: time.Now()}
		err := db.Tx(ctx, func(ctx context.Context, tx *store.Tx) error {
			if err := tx.CreatePublishedCalendar(ctx, c, &store.LocalActor{DisplayName: "Club", PrivateKeyPEM: "k", PublicKeyPEM: "p"}); err != nil {
				return err
			}
			ev.CalendarID = c.ID
			return tx.PutPublishedEvent(ctx, ev)
		})
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := db.PublishedCalendar(ctx, "club"); got.JoinMode != store.JoinFree {
			t.Errorf("default join mode = %q", got.JoinMode)
		}
		err = db.Tx(ctx, func(ctx context.Context, tx *store.Tx) error {
			if err := tx.SetPublishedJoinMode(ctx, c.ID, store.JoinRestricted); err != nil {
				return err
			}
			if added, err := tx.AddPublishedParticipant(ctx, ev.ID, "https://x/a", "https://x/j1", store.ParticipantAccepted, time.Now()); err != nil || !added {
				t.Errorf("add a: %v %v", added, err)
			}
			if added, err := tx.AddPublishedParticipant(ctx, ev.ID, "https://x/b", "https://x/j2", store.ParticipantPending, time.Now()); err != nil || !added {
				t.Errorf("add b: %v %v", added, err)
			}
			if added, _ := tx.AddPublishedParticipant(ctx, ev.ID, "https://x/b", "https://x/j3", store.ParticipantAccepted, time.Now()); added {
				t.Error("a second Join added twice")
			}
			if n, _ := tx.PublishedParticipantCount(ctx, ev.ID); n != 1 {
				t.Errorf("count with one pending = %d, want 1", n)
			}
			if p, err := tx.PublishedParticipant(ctx, ev.ID, "https://x/b"); err != nil || p.State != store.ParticipantPending || p.EventKey != "k1" {
				t.Errorf("participant b = %+v %v", p, err)
			}
			if ok, err := tx.AcceptPublishedParticipant(ctx, ev.ID, "https://x/b"); err != nil || !ok {
				t.Errorf("accept b: %v %v", ok, err)
			}
			gone, was, err := tx.RemovePublishedParticipant(ctx, ev.ID, "https://x/a")
			if err != nil || !gone || !was {
				t.Errorf("remove a: %v %v %v", gone, was, err)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := db.PublishedCalendar(ctx, "club"); got.JoinMode != store.JoinRestricted {
			t.Errorf("join mode = %q", got.JoinMode)
		}
		ps, err := db.PublishedParticipants(ctx, c.ID)
		if err != nil || len(ps) != 1 || ps[0].Actor != "https://x/b" || ps[0].State != store.ParticipantAccepted {
			t.Errorf("participants = %+v %v", ps, err)
		}
		if n, _ := db.PublishedParticipantCount(ctx, ev.ID); n != 1 {
			t.Errorf("count = %d", n)
		}
	})
}
