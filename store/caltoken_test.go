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

// TestPersonalCalendarToken: a participant keeps one calendar token (the
// first given), a rotation replaces every token they had, and saving a
// participant read before the rotation does not bring the old one back.
func TestPersonalCalendarToken(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		p := &bridges.Participant{Address: "ana@example.net", CreatedAt: time.Now()}
		tx := func(f func(ctx context.Context, tx *store.Tx) error) {
			t.Helper()
			if err := db.Tx(ctx, f); err != nil {
				t.Fatal(err)
			}
		}
		opens := func(token string) bool {
			t.Helper()
			id, err := db.ParticipantByCalendarToken(ctx, bridges.HashToken(token))
			if err != nil && !errors.Is(err, bridges.ErrNotFound) {
				t.Fatal(err)
			}
			return err == nil && id == p.ID
		}
		// A link minted one per mail before this change.
		tx(func(ctx context.Context, tx *store.Tx) error {
			if err := tx.SaveParticipant(ctx, p); err != nil {
				return err
			}
			return tx.AddCalendarToken(ctx, p.ID, bridges.HashToken("legacy"))
		})
		var first, second string
		tx(func(ctx context.Context, tx *store.Tx) (err error) {
			first, err = tx.PersonalCalendarToken(ctx, p.ID, "first")
			return err
		})
		tx(func(ctx context.Context, tx *store.Tx) (err error) {
			second, err = tx.PersonalCalendarToken(ctx, p.ID, "second")
			return err
		})
		if first != "first" || second != "first" {
			t.Fatalf("tokens %q then %q, want first both times", first, second)
		}
		if !opens("first") || !opens("legacy") || opens("second") {
			t.Errorf("first %v legacy %v second %v: want the first and the legacy link to open", opens("first"), opens("legacy"), opens("second"))
		}

		stale := *p
		tx(func(ctx context.Context, tx *store.Tx) error { return tx.RotateCalendarToken(ctx, p.ID, "rotated") })
		if opens("first") || opens("legacy") || !opens("rotated") {
			t.Errorf("after rotation: first %v legacy %v rotated %v", opens("first"), opens("legacy"), opens("rotated"))
		}
		stale.DisplayName = "Ana"
		tx(func(ctx context.Context, tx *store.Tx) error { return tx.SaveParticipant(ctx, &stale) })
		tx(func(ctx context.Context, tx *store.Tx) error {
			got, err := tx.ParticipantByID(ctx, p.ID)
			if err != nil {
				return err
			}
			if got.CalendarToken != "rotated" || got.DisplayName != "Ana" {
				t.Errorf("participant after a stale save: token %q, name %q", got.CalendarToken, got.DisplayName)
			}
			return nil
		})
		tx(func(ctx context.Context, tx *store.Tx) error {
			if err := tx.RotateCalendarToken(ctx, p.ID+100, "nobody"); !errors.Is(err, bridges.ErrNotFound) {
				t.Errorf("rotate for no participant: %v, want ErrNotFound", err)
			}
			return nil
		})
	})
}
