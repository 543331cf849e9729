package store_test

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"codeberg.org/passerelle/passerelle/bridges"
	"codeberg.org/passerelle/passerelle/internal/storetest"
	"codeberg.org/passerelle/passerelle/store"
)

func TestMediaCache(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		now := time.Now()
		save := func(ev *bridges.StoredEvent) {
			t.Helper()
			if err := db.Tx(ctx, func(ctx context.Context, tx *store.Tx) error { return tx.SaveEvent(ctx, ev) }); err != nil {
				t.Fatal(err)
			}
		}
		upcoming := &bridges.StoredEvent{Event: bridges.Event{APID: "https://m.test/e/1", Title: "Upcoming", Start: now.Add(48 * time.Hour),
			Status: bridges.StatusConfirmed, JoinMode: bridges.JoinFree}}
		past := &bridges.StoredEvent{Event: bridges.Event{APID: "https://m.test/e/2", Title: "Long past", Start: now.Add(-40 * 24 * time.Hour),
			Status: bridges.StatusConfirmed, JoinMode: bridges.JoinFree}}
		recent := &bridges.StoredEvent{Event: bridges.Event{APID: "https://m.test/e/3", Title: "Just over", Start: now.Add(-3 * 24 * time.Hour),
			Status: bridges.StatusConfirmed, JoinMode: bridges.JoinFree}}
		gone := &bridges.StoredEvent{Event: bridges.Event{APID: "https://m.test/e/4", Title: "Deleted", Start: now.Add(48 * time.Hour),
			Status: bridges.StatusCancelled, JoinMode: bridges.JoinFree}, Deleted: true}
		for _, ev := range []*bridges.StoredEvent{upcoming, past, recent, gone} {
			save(ev)
		}
		link := func(ev *bridges.StoredEvent, hashes ...string) []store.LinkedMedia {
			t.Helper()
			var ms []store.LinkedMedia
			for _, h := range hashes {
				ms = append(ms, store.LinkedMedia{Hash: h, URL: "https://m.test/media/" + h})
			}
			var missing []store.LinkedMedia
			if err := db.Tx(ctx, func(ctx context.Context, tx *store.Tx) (err error) {
				missing, err = tx.SetEventMedia(ctx, ev.ID, ms)
				return err
			}); err != nil {
				t.Fatal(err)
			}
			return missing
		}
		if missing := link(upcoming, "aa", "bb"); len(missing) != 2 {
			t.Fatalf("nothing cached yet, missing %v", missing)
		}
		body := []byte("\x89PNG\r\n\x1a\n\x00\xff binary")
		for _, h := range []string{"aa", "bb", "cc", "dd", "ee"} {
			if err := db.SaveMedia(ctx, &store.Media{Hash: h, URL: "https://m.test/media/" + h, ContentType: "image/png", Body: body, FetchedAt: now}); err != nil {
				t.Fatal(err)
			}
		}
		if missing := link(upcoming, "aa", "bb"); len(missing) != 0 {
			t.Fatalf("all cached, missing %v", missing)
		}
		// A changed event drops its old banner.
		link(upcoming, "aa")
		link(past, "cc")
		link(recent, "dd")
		link(gone, "ee")
		m, err := db.Media(ctx, "aa")
		if err != nil || m.ContentType != "image/png" || !bytes.Equal(m.Body, body) || m.URL != "https://m.test/media/aa" {
			t.Fatalf("Media(aa) = %+v, %v", m, err)
		}
		if _, err := db.Media(ctx, "zz"); !errors.Is(err, bridges.ErrNotFound) {
			t.Fatalf("Media(zz): %v", err)
		}
		cached, err := db.CachedMedia(ctx, []string{"aa", "zz", "cc"})
		if err != nil || !cached["aa"] || !cached["cc"] || cached["zz"] {
			t.Fatalf("CachedMedia = %v, %v", cached, err)
		}
		n, err := db.ExpireMedia(ctx, now.Add(-30*24*time.Hour))
		if err != nil || n != 3 {
			t.Fatalf("ExpireMedia removed %d, %v; want 3 (bb unused, cc long past, ee deleted)", n, err)
		}
		cached, _ = db.CachedMedia(ctx, []string{"aa", "bb", "cc", "dd", "ee"})
		if !cached["aa"] || !cached["dd"] || len(cached) != 2 {
			t.Fatalf("after expiry: %v", cached)
		}
	})
}
