package store_test

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"codeberg.org/passerelle/passerelle/bridges"
	"codeberg.org/passerelle/passerelle/internal/storetest"
	"codeberg.org/passerelle/passerelle/store"
)

func TestMastodonStorage(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		src := &bridges.Source{Slug: "cafe", ActorURL: "https://mobilizon.test/@cafe", Software: "mobilizon", State: bridges.SourceFollowed, CreatedAt: time.Now()}
		if err := db.Tx(ctx, func(ctx context.Context, tx *store.Tx) error { return tx.SaveSource(ctx, src) }); err != nil {
			t.Fatal(err)
		}
		ev := sampleEvent("https://mobilizon.test/events/1", time.Now().Add(24*time.Hour))
		ev.SourceID = src.ID
		ch, err := (&bridges.Events[*store.Tx]{Store: db}).Apply(ctx, ev, nil)
		if err != nil {
			t.Fatal(err)
		}

		acct := &store.MastodonAccount{Instance: "https://social.test", Acct: "@events@social.test", RemoteID: "1", Token: "t1", State: "active"}
		if err := db.SaveMastodonAccount(ctx, acct); err != nil {
			t.Fatal(err)
		}
		// Connecting the same account again replaces its token.
		again := &store.MastodonAccount{Instance: "https://social.test", Acct: "@events@social.test", RemoteID: "1", Token: "t2", State: "active"}
		if err := db.SaveMastodonAccount(ctx, again); err != nil || again.ID != acct.ID {
			t.Fatalf("reconnect: %v, id %d want %d", err, again.ID, acct.ID)
		}
		if err := db.SetMastodonAccountState(ctx, acct.ID, "needs_reconnection", "401"); err != nil {
			t.Fatal(err)
		}
		got, err := db.MastodonAccount(ctx, acct.ID)
		if err != nil || got.Token != "t2" || got.State != "needs_reconnection" || got.LastError != "401" {
			t.Fatalf("account %+v, %v", got, err)
		}

		route := &store.MastodonRoute{SourceID: src.ID, AccountID: acct.ID, Visibility: "unlisted", On: []store.MastodonTrigger{"create", "cancel"}, Reminder: 90 * time.Minute, ReminderAs: "status", Template: "{{.Title}} {{.Link}}"}
		if err := db.SaveMastodonRoute(ctx, route); err != nil {
			t.Fatal(err)
		}
		var inTx []store.MastodonRoute
		err = db.Tx(ctx, func(ctx context.Context, tx *store.Tx) error {
			inTx, err = tx.MastodonRoutesForSource(ctx, src.ID)
			return err
		})
		if err != nil || len(inTx) != 1 || !reflect.DeepEqual(inTx[0], *route) {
			t.Fatalf("routes in tx: %+v, %v; want %+v", inTx, err, *route)
		}

		post := &store.MastodonPost{EventID: ch.Event.ID, AccountID: acct.ID, Kind: "status", Version: 0, State: "pending", AttemptedAt: time.Now().Truncate(time.Microsecond)}
		if err := db.SaveMastodonPost(ctx, post); err != nil {
			t.Fatal(err)
		}
		pending, err := db.PendingMastodonPosts(ctx)
		if err != nil || len(pending) != 1 || !pending[0].AttemptedAt.Equal(post.AttemptedAt) {
			t.Fatalf("pending %+v, %v", pending, err)
		}
		post.State, post.StatusID = "posted", "110"
		if err := db.SaveMastodonPost(ctx, post); err != nil {
			t.Fatal(err)
		}
		p, err := db.MastodonPost(ctx, ch.Event.ID, acct.ID, "status")
		if err != nil || p.StatusID != "110" || p.State != "posted" {
			t.Fatalf("post %+v, %v", p, err)
		}

		// Claims: one owner at a time, until the claim runs out.
		until := time.Now().Add(time.Minute)
		for _, c := range []struct {
			owner string
			until time.Time
			want  bool
		}{{"a", until, true}, {"b", until, false}, {"a", until, true}} {
			ok, err := db.ClaimMastodonThread(ctx, ch.Event.ID, acct.ID, c.owner, c.until)
			if err != nil || ok != c.want {
				t.Fatalf("claim by %s: %v, %v; want %v", c.owner, ok, err, c.want)
			}
		}
		db.ReleaseMastodonThread(ctx, ch.Event.ID, acct.ID, "a")
		if ok, _ := db.ClaimMastodonThread(ctx, ch.Event.ID, acct.ID, "b", time.Now().Add(-time.Second)); !ok {
			t.Fatal("a released thread could not be claimed")
		}
		if ok, _ := db.ClaimMastodonThread(ctx, ch.Event.ID, acct.ID, "c", until); !ok {
			t.Fatal("an expired claim was not taken over")
		}

		// Disconnecting forgets routes and posts with the account.
		if err := db.DeleteMastodonAccount(ctx, acct.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := db.MastodonPost(ctx, ch.Event.ID, acct.ID, "status"); !errors.Is(err, bridges.ErrNotFound) {
			t.Errorf("post after disconnect: %v", err)
		}
		if rs, _ := db.MastodonRoutes(ctx); len(rs) != 0 {
			t.Errorf("routes after disconnect: %+v", rs)
		}
	})
}
