package store_test

import (
	"context"
	"testing"
	"time"

	"codeberg.org/passerelle/passerelle/bridges"
	"codeberg.org/passerelle/passerelle/internal/storetest"
	"codeberg.org/passerelle/passerelle/store"
)

// TestRefetchSchedule checks which events are due for a re-fetch, on both
// backends: answered and still of interest, upcoming, not deleted or
// cancelled, and due by their schedule.
func TestRefetchSchedule(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		now := time.Now().Truncate(time.Second)
		events := map[string]*bridges.StoredEvent{}
		err := db.Tx(ctx, func(ctx context.Context, tx *store.Tx) error {
			p := &bridges.Participant{Address: "jane@example.net", CreatedAt: now}
			if err := tx.SaveParticipant(ctx, p); err != nil {
				return err
			}
			for _, c := range []struct {
				name     string
				start    time.Duration
				state    bridges.ParticipationState
				answered bool
				status   bridges.Status
			}{
				{"joined", 48 * time.Hour, bridges.StateJoined, true, bridges.StatusConfirmed},
				{"pending", 200 * time.Hour, bridges.StatePending, true, bridges.StatusConfirmed},
				{"invited", 48 * time.Hour, bridges.StateInvited, false, bridges.StatusConfirmed},
				{"declined", 48 * time.Hour, bridges.StateDeclined, true, bridges.StatusConfirmed},
				{"over", -48 * time.Hour, bridges.StateJoined, true, bridges.StatusConfirmed},
				{"cancelled", 48 * time.Hour, bridges.StateJoined, true, bridges.StatusCancelled},
			} {
				ev := &bridges.StoredEvent{Event: sampleEvent("https://mobilizon.test/events/"+c.name, now.Add(c.start))}
				ev.Status, ev.CreatedAt, ev.ModifiedAt = c.status, now, now
				if err := tx.SaveEvent(ctx, ev); err != nil {
					return err
				}
				events[c.name] = ev
				inv := &bridges.Invitation{ParticipantID: p.ID, EventID: ev.ID, State: c.state, CreatedAt: now, UpdatedAt: now}
				if c.answered {
					inv.AnsweredAt = now
				}
				if err := tx.SaveInvitation(ctx, inv); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		due := func() []string {
			t.Helper()
			ds, err := db.DueRefetches(ctx, time.Now(), 10)
			if err != nil {
				t.Fatal(err)
			}
			var out []string
			for _, d := range ds {
				out = append(out, d.APID[len("https://mobilizon.test/events/"):])
			}
			return out
		}
		if got := due(); len(got) != 2 || got[0] != "joined" || got[1] != "pending" {
			t.Fatalf("due: %v, want [joined pending] (soonest first)", got)
		}
		next := now.Add(time.Hour)
		err = db.Tx(ctx, func(ctx context.Context, tx *store.Tx) error {
			if err := tx.ScheduleRefetch(ctx, events["joined"].ID, next); err != nil {
				return err
			}
			// A re-fetch's answer keeps the schedule.
			return tx.RecordRefetch(ctx, store.RefetchState{EventID: events["joined"].ID, ETag: `"v1"`, LastModified: "Wed, 25 Nov 2026 18:00:00 GMT", CheckedAt: now, LastStatus: 200})
		})
		if err != nil {
			t.Fatal(err)
		}
		if got := due(); len(got) != 1 || got[0] != "pending" {
			t.Errorf("due after scheduling: %v", got)
		}
		st, err := db.RefetchState(ctx, events["joined"].ID)
		if err != nil {
			t.Fatal(err)
		}
		if !st.NextAt.Equal(next) || st.ETag != `"v1"` || st.LastStatus != 200 || !st.CheckedAt.Equal(now) {
			t.Errorf("state %+v", st)
		}
		if st, err := db.RefetchState(ctx, events["pending"].ID); err != nil || !st.NextAt.IsZero() || st.ETag != "" {
			t.Errorf("never re-fetched: %+v, %v", st, err)
		}

		// Two sweeps that both found "pending" due (never scheduled) and
		// then "joined" (due again): only the first claim of each wins.
		claim := func(id int64, now time.Time) bool {
			t.Helper()
			var ok bool
			if err := db.Tx(ctx, func(ctx context.Context, tx *store.Tx) error {
				var err error
				ok, err = tx.ClaimRefetch(ctx, id, now, now.Add(10*time.Minute))
				return err
			}); err != nil {
				t.Fatal(err)
			}
			return ok
		}
		later := time.Now()
		if !claim(events["pending"].ID, later) || claim(events["pending"].ID, later.Add(time.Second)) {
			t.Error("a never-scheduled re-fetch was claimed twice, or not at all")
		}
		if !claim(events["joined"].ID, next) || claim(events["joined"].ID, next.Add(time.Second)) {
			t.Error("a due re-fetch was claimed twice, or not at all")
		}
	})
}
