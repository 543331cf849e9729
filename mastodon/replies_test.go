package mastodon_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	gomasto "github.com/mattn/go-mastodon"
	"github.com/riverqueue/river"

	"codeberg.org/passerelle/passerelle/bridges"
	"codeberg.org/passerelle/passerelle/internal/mastodontest"
	"codeberg.org/passerelle/passerelle/internal/storetest"
	"codeberg.org/passerelle/passerelle/mastodon"
	"codeberg.org/passerelle/passerelle/store"
)

// joins is the federated side of the test's RSVP flow: it records the
// Joins and Leaves instead of delivering them.
type joins struct {
	mu    sync.Mutex
	calls []string
}

func (j *joins) Join(_ context.Context, _ *store.Tx, p *bridges.Participant, ev *bridges.StoredEvent) (string, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.calls = append(j.calls, "join "+p.Fediverse)
	return fmt.Sprintf("https://passerelle.test/joins/%d", len(j.calls)), nil
}

func (j *joins) Leave(_ context.Context, _ *store.Tx, p *bridges.Participant, _ *bridges.StoredEvent, _ string) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.calls = append(j.calls, "leave "+p.Fediverse)
	return nil
}

// notices is the fediverse channel of the test's RSVP flow: it enqueues
// the direct replies as the real one does and keeps their arguments, so
// the test runs their job itself.
type notices struct{ args []mastodon.DirectArgs }

func (n *notices) Notify(ctx context.Context, tx bridges.Tx, inv *bridges.Invitation, notice bridges.Notice) error {
	n.args = append(n.args, mastodon.DirectArgs{InvitationID: inv.ID, Notice: notice, Key: bridges.NewToken()})
	return mastodon.Directs{}.Notify(ctx, tx, inv, notice)
}

type replyEnv struct {
	db      *store.DB
	srv     *mastodontest.Server
	acct    *mastodon.Account
	ev      *bridges.StoredEvent
	root    string // the event's status
	cancel  string // a reply in its thread that answers nothing
	joins   *joins
	notices *notices
	rsvp    *bridges.RSVP[*store.Tx]
	replies *mastodon.Replies
	replier *mastodon.Replier
	// bobURI is how the server names bob: his ActivityPub id on
	// Mastodon, his profile's URL on GoToSocial.
	bobURI string
}

func newReplyEnv(t *testing.T, db *store.DB, mode mastodontest.Mode, joinMode bridges.JoinMode) *replyEnv {
	ctx := context.Background()
	e := &replyEnv{db: db, srv: mastodontest.New(t, mastodontest.Options{Mode: mode}), joins: &joins{}, notices: &notices{},
		bobURI: "https://social.example/users/bob"}
	if mode == mastodontest.GoToSocial {
		e.bobURI = "https://social.example/@bob"
	}
	src := &bridges.Source{Slug: "cafe", ActorURL: "https://mobilizon.test/@cafe", Software: "mobilizon", State: bridges.SourceFollowed, CreatedAt: time.Now()}
	if err := db.Tx(ctx, func(ctx context.Context, tx *store.Tx) error { return tx.SaveSource(ctx, src) }); err != nil {
		t.Fatal(err)
	}
	e.acct = &mastodon.Account{Instance: e.srv.URL, Acct: e.srv.Acct(), RemoteID: mastodontest.AccountID, Token: e.srv.Token(), State: mastodon.AccountActive, Scopes: mastodon.Scopes}
	if err := db.SaveMastodonAccount(ctx, e.acct); err != nil {
		t.Fatal(err)
	}
	start := time.Now().Add(48 * time.Hour).Truncate(time.Hour)
	ch, err := (&bridges.Events[*store.Tx]{Store: db}).Apply(ctx, bridges.Event{SourceID: src.ID, APID: "https://mobilizon.test/events/1", URL: "https://mobilizon.test/events/1",
		OrganizerURL: "https://mobilizon.test/@cafe", Title: "Repair café @someone", Language: "fr", Start: start, End: start.Add(time.Hour),
		Status: bridges.StatusConfirmed, JoinMode: joinMode, Public: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	e.ev = ch.Event
	// The event's status and its cancellation reply, as the poster
	// records them.
	e.root = e.postLocal(t, "Repair café https://mobilizon.test/events/1", "")
	e.cancel = e.postLocal(t, "❌ https://mobilizon.test/events/1", e.root)
	for kind, id := range map[string]string{mastodon.KindStatus: e.root, mastodon.KindCancel: e.cancel} {
		if err := db.SaveMastodonPost(ctx, &mastodon.Post{EventID: e.ev.ID, AccountID: e.acct.ID, Kind: kind, StatusID: id, State: mastodon.PostPosted}); err != nil {
			t.Fatal(err)
		}
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	e.rsvp = &bridges.RSVP[*store.Tx]{Store: db, Participator: e.joins, Fediverse: e.notices, Log: log}
	e.replies = &mastodon.Replies{DB: db, RSVP: e.rsvp, Holder: "replica-1", Log: log,
		Allowed: func(_ context.Context, host string) error {
			if strings.HasSuffix(host, "blocked.example") {
				return errors.New(host + " is blocked")
			}
			return nil
		}}
	e.replier = &mastodon.Replier{DB: db, PublicURL: "https://passerelle.test", Log: log}
	return e
}

// joinCalls reads the Joins and Leaves, safe beside a running reader.
func (e *replyEnv) joinCalls() []string {
	e.joins.mu.Lock()
	defer e.joins.mu.Unlock()
	return slices.Clone(e.joins.calls)
}

// postLocal makes a status of the community account on the server.
func (e *replyEnv) postLocal(t *testing.T, text, parent string) string {
	c := mastodon.NewClient(nil, e.srv.URL, e.acct.Token)
	st, err := c.Post(context.Background(), &gomasto.Toot{Status: text, InReplyToID: gomasto.ID(parent), Visibility: "public"}, "")
	if err != nil {
		t.Fatal(err)
	}
	return string(st.ID)
}

func (e *replyEnv) read(t *testing.T) {
	t.Helper()
	if err := e.replies.ReadAll(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// direct runs the direct replies enqueued since the last call.
func (e *replyEnv) direct(t *testing.T) {
	t.Helper()
	for _, a := range e.notices.args {
		if err := e.replier.Work(context.Background(), &river.Job[mastodon.DirectArgs]{Args: a}); err != nil {
			t.Fatalf("direct reply %s: %v", a.Notice, err)
		}
	}
	e.notices.args = nil
}

func (e *replyEnv) directs() []mastodontest.Status {
	var out []mastodontest.Status
	for _, st := range e.srv.Statuses() {
		if st.Visibility == "direct" {
			out = append(out, st)
		}
	}
	return out
}

func (e *replyEnv) invitation(t *testing.T) *bridges.Invitation {
	t.Helper()
	var inv *bridges.Invitation
	err := e.db.Tx(context.Background(), func(ctx context.Context, tx *store.Tx) error {
		p, err := tx.ParticipantByFediverse(ctx, e.bobURI)
		if err != nil {
			return err
		}
		inv, err = tx.InvitationFor(ctx, p.ID, e.ev.ID)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return inv
}

var bob = mastodontest.Author{ID: "7", Username: "bob", Domain: "social.example"}

// TestRepliesJoin is the whole way on the real store (SQLite and
// PostgreSQL) and both servers' shapes: a reply "going" under the event's
// status → one Join → the organiser's Accept → one direct reply, even if
// the job runs again or the answer to its POST is lost; "not going" →
// Leave. What is not an answer, or not about the event, does nothing.
func TestRepliesJoin(t *testing.T) {
	for _, mode := range []mastodontest.Mode{mastodontest.Mastodon, mastodontest.GoToSocial} {
		t.Run(string(mode), func(t *testing.T) {
			storetest.Each(t, func(t *testing.T, db *store.DB) {
				ctx := context.Background()
				e := newReplyEnv(t, db, mode, bridges.JoinFree)
				// Conversation, replies elsewhere, a blocked domain, and
				// the account itself: nothing.
				e.srv.AddMention(mastodontest.Mention{Author: bob, Text: "Where is it exactly?", InReplyToID: e.root})
				e.srv.AddMention(mastodontest.Mention{Author: bob, Text: "going", InReplyToID: e.cancel})
				e.srv.AddMention(mastodontest.Mention{Author: bob, Text: "going"})
				e.srv.AddMention(mastodontest.Mention{Author: mastodontest.Author{Username: "mallory", Domain: "spam.blocked.example"}, Text: "going", InReplyToID: e.root})
				e.srv.AddMention(mastodontest.Mention{Author: mastodontest.Author{ID: mastodontest.AccountID, Username: "events"}, Text: "going", InReplyToID: e.root})
				e.read(t)
				if len(e.joins.calls) != 0 || len(e.notices.args) != 0 {
					t.Fatalf("non-answers acted: %q %+v", e.joins.calls, e.notices.args)
				}

				// "going", then a flood of yes from the same account.
				answer := e.srv.AddMention(mastodontest.Mention{Author: bob, Text: "going!", InReplyToID: e.root})
				for range 20 {
					e.srv.AddMention(mastodontest.Mention{Author: bob, Text: "👍", InReplyToID: e.root})
				}
				e.read(t)
				if want := "join " + e.bobURI; len(e.joins.calls) != 1 || e.joins.calls[0] != want {
					t.Fatalf("joins %q, want one %q", e.joins.calls, want)
				}
				// The same replies read again (the cursor lost in a stop):
				// nothing more.
				if err := db.SaveMastodonMentions(ctx, store.MastodonMentions{AccountID: e.acct.ID}); err != nil {
					t.Fatal(err)
				}
				e.read(t)
				if len(e.joins.calls) != 1 {
					t.Fatalf("replies read again joined again: %q", e.joins.calls)
				}
				inv := e.invitation(t)
				if inv.State != bridges.StateJoining {
					t.Fatalf("state %s", inv.State)
				}
				// The organiser accepts: one direct reply, "you're in".
				if err := db.InTx(ctx, func(ctx context.Context, tx *store.Tx) error {
					return e.rsvp.JoinAnswered(ctx, tx, inv.JoinID, bridges.JoinAccepted)
				}); err != nil {
					t.Fatal(err)
				}
				if len(e.notices.args) != 1 || e.notices.args[0].Notice != bridges.NoticeJoined {
					t.Fatalf("notices %+v", e.notices.args)
				}
				// The first POST's answer is lost; the job runs again.
				args := e.notices.args[0]
				e.replier.HTTP = &http.Client{Transport: &lostOnce{base: http.DefaultTransport}}
				if err := e.replier.Work(ctx, &river.Job[mastodon.DirectArgs]{Args: args}); err == nil {
					t.Fatal("lost answer not reported")
				}
				e.replier.HTTP = nil
				for range 2 {
					if err := e.replier.Work(ctx, &river.Job[mastodon.DirectArgs]{Args: args}); err != nil {
						t.Fatal(err)
					}
				}
				e.notices.args = nil
				dms := e.directs()
				if len(dms) != 1 {
					t.Fatalf("%d direct replies, want 1: %+v", len(dms), dms)
				}
				dm := dms[0]
				if dm.InReplyToID != answer || !strings.HasPrefix(dm.Text, "@bob@social.example ") ||
					!strings.Contains(dm.Text, "https://passerelle.test/events/") || !strings.Contains(dm.Text, ".ics") ||
					!strings.Contains(dm.Text, "vous participez") {
					t.Errorf("direct reply %+v", dm)
				}
				// The title's handle is neutralised: bob is the only mention.
				if strings.Count(dm.Text, "@") != 3 || !strings.Contains(dm.Text, "@\u2060someone") {
					t.Errorf("the direct reply mentions someone else than bob: %q", dm.Text)
				}

				// "not going": Leave, and one direct reply saying so.
				e.srv.AddMention(mastodontest.Mention{Author: bob, Text: "Je ne viens plus, désolé", InReplyToID: e.root})
				e.read(t)
				e.direct(t)
				if len(e.joins.calls) != 2 || e.joins.calls[1] != "leave "+e.bobURI || len(e.directs()) != 2 {
					t.Fatalf("after not going: joins %q, %d direct replies", e.joins.calls, len(e.directs()))
				}
			})
		})
	}
}

// TestRepliesApproval: an event whose organisers approve each participant
// answers "waiting", then "approved" once they accept, each once; a full
// event answers "full" and sends no Join.
func TestRepliesApproval(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		e := newReplyEnv(t, db, mastodontest.Mastodon, bridges.JoinRestricted)
		e.srv.AddMention(mastodontest.Mention{Author: bob, Text: "count me in", InReplyToID: e.root})
		e.read(t)
		e.direct(t)
		inv := e.invitation(t)
		if err := db.InTx(ctx, func(ctx context.Context, tx *store.Tx) error {
			return e.rsvp.JoinAnswered(ctx, tx, inv.JoinID, bridges.JoinAccepted)
		}); err != nil {
			t.Fatal(err)
		}
		e.direct(t)
		dms := e.directs()
		if len(dms) != 2 || !strings.Contains(dms[0].Text, "attend l'accord") || !strings.Contains(dms[1].Text, "ont accepté") {
			t.Fatalf("direct replies %+v", dms)
		}

		full := 0
		e2 := newReplyEnv(t, storetest.New(t), mastodontest.GoToSocial, bridges.JoinFree)
		e2.ev.RemainingCapacity = &full
		if err := e2.db.Tx(ctx, func(ctx context.Context, tx *store.Tx) error { return tx.SaveEvent(ctx, e2.ev) }); err != nil {
			t.Fatal(err)
		}
		e2.srv.AddMention(mastodontest.Mention{Author: bob, Text: "+1", InReplyToID: e2.root})
		e2.read(t)
		e2.direct(t)
		if dms := e2.directs(); len(e2.joins.calls) != 0 || len(dms) != 1 || !strings.Contains(dms[0].Text, "complet") {
			t.Fatalf("full event: joins %q, direct replies %+v", e2.joins.calls, dms)
		}
	})
}

// TestRepliesAccountState: a 401 marks the account for reconnection as
// cross-posting does; an account connected before read:notifications is
// not read; another replica's lease is respected; errors back off.
func TestRepliesAccountState(t *testing.T) {
	ctx := context.Background()
	db := storetest.New(t)
	e := newReplyEnv(t, db, mastodontest.Mastodon, bridges.JoinFree)
	e.srv.AddMention(mastodontest.Mention{Author: bob, Text: "going", InReplyToID: e.root})

	if ok, err := db.LeaseMastodonMentions(ctx, e.acct.ID, "replica-2", time.Minute); err != nil || !ok {
		t.Fatal(ok, err)
	}
	e.read(t)
	if len(e.joins.calls) != 0 {
		t.Fatal("read an account another replica holds")
	}
	db.ReleaseMastodonMentions(ctx, e.acct.ID, "replica-2")

	old := *e.acct
	old.Scopes = ""
	if err := db.SaveMastodonAccount(ctx, &old); err != nil {
		t.Fatal(err)
	}
	e.read(t)
	if len(e.joins.calls) != 0 {
		t.Fatal("read an account without read:notifications")
	}
	if err := db.SaveMastodonAccount(ctx, e.acct); err != nil {
		t.Fatal(err)
	}

	e.srv.Fail("GET", "/api/v1/notifications", http.StatusServiceUnavailable, 1, "")
	e.read(t)
	m, err := db.MastodonMentions(ctx, e.acct.ID)
	if err != nil || m.Failures != 1 || !m.NextAt.After(time.Now()) {
		t.Fatalf("after a 503: %+v, %v", m, err)
	}
	e.read(t) // backing off: not asked
	if len(e.joins.calls) != 0 {
		t.Fatal("read during the backoff")
	}
	m.NextAt = time.Time{}
	db.SaveMastodonMentions(ctx, m)
	e.read(t)
	if len(e.joins.calls) != 1 {
		t.Fatalf("after the backoff: joins %q", e.joins.calls)
	}

	e.srv.RevokeTokens()
	e.read(t)
	got, err := db.MastodonAccount(ctx, e.acct.ID)
	if err != nil || got.State != mastodon.AccountReconnect {
		t.Fatalf("after a 401: %+v, %v", got, err)
	}
}

// failingJoins fails every Join of one account, as the flow would for an
// event it cannot join.
type failingJoins struct {
	joins
	fail string
}

func (f *failingJoins) Join(ctx context.Context, tx *store.Tx, p *bridges.Participant, ev *bridges.StoredEvent) (string, error) {
	if p.Fediverse == f.fail {
		return "", errors.New("cannot join")
	}
	return f.joins.Join(ctx, tx, p, ev)
}

// TestRepliesPoison: a reply that fails read after read is given up on,
// so the replies after it are still read.
func TestRepliesPoison(t *testing.T) {
	ctx := context.Background()
	db := storetest.New(t)
	e := newReplyEnv(t, db, mastodontest.Mastodon, bridges.JoinFree)
	fj := &failingJoins{fail: "https://poison.example/users/carol"}
	e.rsvp.Participator = fj
	e.srv.AddMention(mastodontest.Mention{Author: mastodontest.Author{Username: "carol", Domain: "poison.example"}, Text: "going", InReplyToID: e.root})
	e.srv.AddMention(mastodontest.Mention{Author: bob, Text: "going", InReplyToID: e.root})
	for i := 0; ; i++ {
		e.replies.ReadAll(ctx)
		if len(fj.calls) > 0 {
			break
		}
		if i > 10 {
			t.Fatal("the reply after a failing one is never read")
		}
		m, _ := db.MastodonMentions(ctx, e.acct.ID)
		m.NextAt = time.Time{}
		db.SaveMastodonMentions(ctx, m)
	}
	if want := "join " + e.bobURI; len(fj.calls) != 1 || fj.calls[0] != want {
		t.Fatalf("joins %q", fj.calls)
	}
}

// TestRepliesCancelled: someone in is told once that the event is
// cancelled, though it is then deleted too.
func TestRepliesCancelled(t *testing.T) {
	ctx := context.Background()
	db := storetest.New(t)
	e := newReplyEnv(t, db, mastodontest.Mastodon, bridges.JoinFree)
	e.srv.AddMention(mastodontest.Mention{Author: bob, Text: "going", InReplyToID: e.root})
	e.read(t)
	flow := &bridges.Events[*store.Tx]{Store: db, Listeners: []bridges.ChangeListener[*store.Tx]{e.rsvp}}
	cancelled := e.ev.Event
	cancelled.Status = bridges.StatusCancelled
	cancelled.Sequence++
	if _, err := flow.Apply(ctx, cancelled, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := flow.Delete(ctx, e.ev.APID); err != nil {
		t.Fatal(err)
	}
	if n := len(e.notices.args); n != 2 || e.notices.args[0].Notice != bridges.NoticeCancel || e.notices.args[1].Notice != bridges.NoticeCancel {
		t.Fatalf("notices %+v, want two cancellations (cancelled, then deleted)", e.notices.args)
	}
	e.direct(t)
	dms := e.directs()
	if len(dms) != 1 || !strings.Contains(dms[0].Text, "annulé") || strings.Contains(dms[0].Text, ".ics") {
		t.Fatalf("direct replies %+v, want one saying cancelled", dms)
	}
}

// TestRepliesPaging: a burst of replies larger than a page is read in
// full, in order, from both servers' id forms, and not twice.
func TestRepliesPaging(t *testing.T) {
	for _, mode := range []mastodontest.Mode{mastodontest.Mastodon, mastodontest.GoToSocial} {
		t.Run(string(mode), func(t *testing.T) {
			db := storetest.New(t)
			e := newReplyEnv(t, db, mode, bridges.JoinFree)
			for i := range 95 {
				e.srv.AddMention(mastodontest.Mention{Author: mastodontest.Author{Username: fmt.Sprintf("p%d", i), Domain: "many.example"}, Text: "going", InReplyToID: e.root})
			}
			// The first read pages back from the newest; later ones page
			// forward from the cursor.
			e.read(t)
			e.read(t)
			if len(e.joins.calls) != 95 {
				t.Fatalf("%d joins, want 95", len(e.joins.calls))
			}
			for i := range 85 {
				e.srv.AddMention(mastodontest.Mention{Author: mastodontest.Author{Username: fmt.Sprintf("q%d", i), Domain: "many.example"}, Text: "✅", InReplyToID: e.root})
			}
			e.read(t)
			e.read(t)
			if len(e.joins.calls) != 180 || e.joins.calls[179] != "join https://many.example/users/q84" && e.joins.calls[179] != "join https://many.example/@q84" {
				t.Fatalf("%d joins, want 180 in order (last %q)", len(e.joins.calls), e.joins.calls[len(e.joins.calls)-1])
			}
		})
	}
}

// TestRepliesRunReleases: a replica that stops gives its leases up, so
// another reads the account at once.
func TestRepliesRunReleases(t *testing.T) {
	db := storetest.New(t)
	e := newReplyEnv(t, db, mastodontest.Mastodon, bridges.JoinFree)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { e.replies.Run(ctx); close(done) }()
	read := func() bool {
		for _, r := range e.srv.Requests() {
			if r == "GET /api/v1/notifications" {
				return true
			}
		}
		return false
	}
	for deadline := time.Now().Add(5 * time.Second); !read(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("replica-1 never read")
		}
	}
	if ok, _ := db.LeaseMastodonMentions(context.Background(), e.acct.ID, "replica-2", time.Minute); ok {
		t.Fatal("replica-2 took the lease replica-1 holds")
	}
	cancel()
	<-done
	if ok, err := db.LeaseMastodonMentions(context.Background(), e.acct.ID, "replica-2", time.Minute); err != nil || !ok {
		t.Fatalf("after replica-1 stopped: %v, %v", ok, err)
	}
}

// TestRepliesStream: where the server streams notifications (Mastodon),
// a reply is read as soon as it comes, long before the next poll; where it
// does not (GoToSocial), polling goes on alone.
func TestRepliesStream(t *testing.T) {
	for _, mode := range []mastodontest.Mode{mastodontest.Mastodon, mastodontest.GoToSocial} {
		t.Run(string(mode), func(t *testing.T) {
			db := storetest.New(t)
			e := newReplyEnv(t, db, mode, bridges.JoinFree)
			e.replies.Interval = time.Hour
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { e.replies.Run(ctx); close(done) }()
			defer func() { cancel(); <-done }()
			asked := func() bool {
				for _, r := range e.srv.Requests() {
					if r == "GET /api/v1/streaming/user/notification" {
						return true
					}
				}
				return false
			}
			for deadline := time.Now().Add(5 * time.Second); !asked() || (mode == mastodontest.Mastodon && e.srv.Streams() == 0); time.Sleep(10 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatal("the stream was never asked for")
				}
			}
			e.srv.AddMention(mastodontest.Mention{Author: bob, Text: "going", InReplyToID: e.root})
			deadline := time.Now().Add(3 * time.Second)
			for len(e.joinCalls()) == 0 && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			if got := len(e.joinCalls()); (mode == mastodontest.Mastodon) != (got == 1) {
				t.Errorf("%s: %d joins within 3 s of the reply (the next poll is an hour away)", mode, got)
			}
		})
	}
}
