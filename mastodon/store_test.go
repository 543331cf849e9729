package mastodon_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"codeberg.org/passerelle/passerelle/bridges"
	"codeberg.org/passerelle/passerelle/internal/mastodontest"
	"codeberg.org/passerelle/passerelle/internal/storetest"
	"codeberg.org/passerelle/passerelle/mastodon"
	"codeberg.org/passerelle/passerelle/store"
)

// TestOnStore runs the listener and the poster on the real store, SQLite
// and PostgreSQL: the change and its job commit together, and a lost answer
// is reconciled through the stored pending post.
func TestOnStore(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		srv := mastodontest.New(t, mastodontest.Options{Mode: mastodontest.GoToSocial})
		src := &bridges.Source{Slug: "cafe", ActorURL: "https://mobilizon.test/@cafe", Software: "mobilizon", State: bridges.SourceFollowed, CreatedAt: time.Now()}
		if err := db.Tx(ctx, func(ctx context.Context, tx *store.Tx) error { return tx.SaveSource(ctx, src) }); err != nil {
			t.Fatal(err)
		}
		acct := &mastodon.Account{Instance: srv.URL, Acct: srv.Acct(), RemoteID: mastodontest.AccountID, Token: srv.Token(), State: mastodon.AccountActive}
		if err := db.SaveMastodonAccount(ctx, acct); err != nil {
			t.Fatal(err)
		}
		if err := db.SaveMastodonRoute(ctx, &mastodon.Route{SourceID: src.ID, AccountID: acct.ID, Visibility: "public", On: mastodon.AllTriggers}); err != nil {
			t.Fatal(err)
		}
		flow := &bridges.Events[*store.Tx]{Store: db, Listeners: []bridges.ChangeListener[*store.Tx]{&mastodon.Listener{}}}
		start := time.Now().Add(48 * time.Hour).Truncate(time.Hour)
		ev := bridges.Event{SourceID: src.ID, APID: "https://mobilizon.test/events/1", URL: "https://mobilizon.test/events/1",
			Title: "Repair café", Start: start, End: start.Add(time.Hour), Status: bridges.StatusConfirmed, JoinMode: bridges.JoinFree, Public: true}
		ch, err := flow.Apply(ctx, ev, nil)
		if err != nil {
			t.Fatal(err)
		}
		counts, err := db.JobCounts(ctx)
		if err != nil || len(counts) != 1 || counts[0].Kind != "mastodon_post" || counts[0].Count != 1 {
			t.Fatalf("jobs after the change: %+v, %v; want one mastodon_post", counts, err)
		}

		// The first answer is lost: the post stays pending in the database.
		lost := &lostOnce{base: http.DefaultTransport}
		p := mastodon.NewPoster(db, &http.Client{Transport: lost}, slog.New(slog.NewTextHandler(io.Discard, nil)))
		args := mastodon.PostArgs{EventID: ch.Event.ID, AccountID: acct.ID}
		if err := p.Sync(ctx, args); err == nil {
			t.Fatal("lost answer not reported")
		}
		pending, err := db.PendingMastodonPosts(ctx)
		if err != nil || len(pending) != 1 {
			t.Fatalf("pending posts %+v, %v", pending, err)
		}
		// A process killed while it worked left its claim: jobs wait for
		// it to run out, then reconcile.
		if ok, err := db.ClaimMastodonThread(ctx, ch.Event.ID, acct.ID, "killed process", time.Now().Add(time.Minute)); !ok || err != nil {
			t.Fatalf("claim: %v, %v", ok, err)
		}
		var snooze *river.JobSnoozeError
		if err := p.Sync(ctx, args); !errors.As(err, &snooze) {
			t.Fatalf("sync while a dead process's claim holds: %v, want a snooze", err)
		}
		db.ClaimMastodonThread(ctx, ch.Event.ID, acct.ID, "killed process", time.Now().Add(-time.Second))
		if err := p.Sync(ctx, args); err != nil {
			t.Fatal(err)
		}
		post, err := db.MastodonPost(ctx, ch.Event.ID, acct.ID, mastodon.KindStatus)
		sts := srv.Statuses()
		if err != nil || len(sts) != 1 || post.State != mastodon.PostPosted || post.StatusID != sts[0].ID {
			t.Fatalf("post %+v (%v), statuses %+v; want one, recorded", post, err, sts)
		}
	})
}

type lostOnce struct {
	base http.RoundTripper
	done bool
}

func (l *lostOnce) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := l.base.RoundTrip(req)
	if err == nil && !l.done && req.Method == http.MethodPost && req.URL.Path == "/api/v1/statuses" {
		l.done = true
		resp.Body.Close()
		return nil, io.ErrUnexpectedEOF
	}
	return resp, err
}

// TestResync: after a reconnection, the account's upcoming routed events
// and the events it has statuses for get a job each; a job then brings a
// missed edit.
func TestResync(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		srv := mastodontest.New(t, mastodontest.Options{})
		src := &bridges.Source{Slug: "cafe", ActorURL: "https://mobilizon.test/@cafe", Software: "mobilizon", State: bridges.SourceFollowed, CreatedAt: time.Now()}
		if err := db.Tx(ctx, func(ctx context.Context, tx *store.Tx) error { return tx.SaveSource(ctx, src) }); err != nil {
			t.Fatal(err)
		}
		acct := &mastodon.Account{Instance: srv.URL, Acct: srv.Acct(), RemoteID: mastodontest.AccountID, Token: srv.Token(), State: mastodon.AccountActive}
		db.SaveMastodonAccount(ctx, acct)
		db.SaveMastodonRoute(ctx, &mastodon.Route{SourceID: src.ID, AccountID: acct.ID, Visibility: "public", On: mastodon.AllTriggers})
		flow := &bridges.Events[*store.Tx]{Store: db}
		start := time.Now().Add(48 * time.Hour).Truncate(time.Hour)
		var ids []int64
		for i, title := range []string{"Posted then changed", "Never posted", "Over"} {
			s := start
			if i == 2 {
				s = time.Now().Add(-48 * time.Hour)
			}
			ch, err := flow.Apply(ctx, bridges.Event{SourceID: src.ID, APID: fmt.Sprintf("https://mobilizon.test/events/%d", i), URL: fmt.Sprintf("https://mobilizon.test/events/%d", i),
				Title: title, Start: s, End: s.Add(time.Hour), Status: bridges.StatusConfirmed, JoinMode: bridges.JoinFree, Public: true}, nil)
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, ch.Event.ID)
		}
		p := mastodon.NewPoster(db, http.DefaultClient, slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err := p.Sync(ctx, mastodon.PostArgs{EventID: ids[0], AccountID: acct.ID}); err != nil {
			t.Fatal(err)
		}
		// The token is refused while the event changes…
		db.SetMastodonAccountState(ctx, acct.ID, mastodon.AccountReconnect, "401")
		ev, _ := db.EventByID(ctx, ids[0])
		ev.Title = "Posted then changed (new room)"
		if _, err := flow.Apply(ctx, ev.Event, nil); err != nil {
			t.Fatal(err)
		}
		if err := p.Sync(ctx, mastodon.PostArgs{EventID: ids[0], AccountID: acct.ID}); err != nil {
			t.Fatal(err)
		}
		// …then the account is connected again.
		acct.State = mastodon.AccountActive
		db.SaveMastodonAccount(ctx, acct)
		n, err := mastodon.Resync(ctx, db, acct.ID, time.Now())
		if err != nil || n != 2 {
			t.Fatalf("resync: %d jobs, %v; want 2 (the posted event and the upcoming one, not the one over)", n, err)
		}
		if err := p.Sync(ctx, mastodon.PostArgs{EventID: ids[0], AccountID: acct.ID}); err != nil {
			t.Fatal(err)
		}
		sts := srv.Statuses()
		if len(sts) != 1 || !strings.Contains(sts[0].Text, "new room") {
			t.Errorf("statuses %+v, want the missed edit", sts)
		}
	})
}
