package mastodon

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"codeberg.org/passerelle/passerelle/bridges"
	"codeberg.org/passerelle/passerelle/internal/mastodontest"
)

var png1x1 = []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\xff\xff?\x00\x05\xfe\x02\xfe\xa7\x35\x81\x84\x00\x00\x00\x00IEND\xaeB`\x82")

// loseAnswer drops the answer to the first n POSTs of a status after the
// server handled them, as a crash or a cut connection would.
type loseAnswer struct {
	base http.RoundTripper
	n    atomic.Int32
}

func (l *loseAnswer) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := l.base.RoundTrip(req)
	if err == nil && req.Method == http.MethodPost && req.URL.Path == "/api/v1/statuses" && l.n.Add(-1) >= 0 {
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return nil, errors.New("connection reset by peer (test)")
	}
	return resp, err
}

type fixture struct {
	srv   *mastodontest.Server
	store *memStore
	p     *Poster
	lose  *loseAnswer
	acct  *Account
	route *Route
	ev    *bridges.StoredEvent
}

func newFixture(t *testing.T, mode mastodontest.Mode) *fixture {
	t.Helper()
	srv := mastodontest.New(t, mastodontest.Options{Mode: mode})
	banner := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "image/png")
		w.Write(png1x1)
	}))
	t.Cleanup(banner.Close)
	f := &fixture{srv: srv, store: newMemStore(), lose: &loseAnswer{base: http.DefaultTransport}}
	f.p = NewPoster(f.store, &http.Client{Transport: f.lose}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	f.p.MediaPoll = 10 * time.Millisecond
	ctx := context.Background()
	f.acct = &Account{Instance: srv.URL, Acct: srv.Acct(), RemoteID: mastodontest.AccountID, Token: srv.Token(), State: AccountActive}
	f.store.SaveMastodonAccount(ctx, f.acct)
	f.route = &Route{SourceID: 7, AccountID: f.acct.ID, Visibility: "public", On: AllTriggers}
	f.store.SaveMastodonRoute(ctx, f.route)
	ev := sampleEvents()["fr-place"]
	ev.ID, ev.SourceID = 1, 7
	ev.Start = time.Now().Add(72 * time.Hour).Truncate(time.Hour)
	ev.End = ev.Start.Add(2 * time.Hour)
	ev.BannerURL, ev.BannerAlt = banner.URL+"/banner.png", "Des tasses de café sur une table"
	f.ev = &bridges.StoredEvent{Event: *ev}
	f.store.putEvent(f.ev)
	return f
}

func (f *fixture) sync(t *testing.T) error {
	t.Helper()
	return f.p.Sync(context.Background(), PostArgs{EventID: f.ev.ID, AccountID: f.acct.ID})
}

func (f *fixture) change(mut func(*bridges.Event)) {
	mut(&f.ev.Event)
	f.ev.Sequence++
	f.store.putEvent(f.ev)
}

func TestLifecycle(t *testing.T) {
	for _, mode := range []mastodontest.Mode{mastodontest.Mastodon, mastodontest.GoToSocial} {
		t.Run(string(mode), func(t *testing.T) {
			f := newFixture(t, mode)
			if err := f.sync(t); err != nil {
				t.Fatal(err)
			}
			sts := f.srv.Statuses()
			if len(sts) != 1 {
				t.Fatalf("%d statuses after the first post, want 1", len(sts))
			}
			st := sts[0]
			if st.Visibility != "public" || st.Language != "fr" || len(st.MediaIDs) != 1 {
				t.Errorf("posted %+v, want public, fr, one image", st)
			}
			if alt := f.srv.MediaDescription(st.MediaIDs[0]); alt != f.ev.BannerAlt {
				t.Errorf("alt text %q", alt)
			}
			if !strings.Contains(st.Text, "Café libre") || !strings.Contains(st.Text, f.ev.URL) {
				t.Errorf("text:\n%s", st.Text)
			}
			// A second run (a retried or duplicated job) posts nothing.
			if err := f.sync(t); err != nil || len(f.srv.Statuses()) != 1 {
				t.Fatalf("second run: %v, %d statuses", err, len(f.srv.Statuses()))
			}

			f.change(func(e *bridges.Event) { e.Title = "Café libre (nouvelle salle)" })
			if err := f.sync(t); err != nil {
				t.Fatal(err)
			}
			got, _ := f.srv.Status(st.ID)
			if got.Edits != 1 || !strings.Contains(got.Text, "nouvelle salle") || len(got.MediaIDs) != 1 {
				t.Errorf("after update: %d edits, media %v, text:\n%s", got.Edits, got.MediaIDs, got.Text)
			}

			f.change(func(e *bridges.Event) { e.Status = bridges.StatusCancelled })
			for range 2 {
				if err := f.sync(t); err != nil {
					t.Fatal(err)
				}
			}
			sts = f.srv.Statuses()
			if len(sts) != 2 {
				t.Fatalf("%d statuses after cancellation, want the status and one reply", len(sts))
			}
			if !strings.HasPrefix(sts[0].Text, "❌ ANNULÉ : Café libre") {
				t.Errorf("cancelled status not marked:\n%s", sts[0].Text)
			}
			if sts[1].InReplyToID != st.ID || !strings.HasPrefix(sts[1].Text, "❌ Cet événement est annulé : Café libre") || sts[1].Visibility != "public" {
				t.Errorf("cancel reply %+v", sts[1])
			}

			f.ev.Deleted = true
			f.ev.Sequence++
			f.store.putEvent(f.ev)
			if err := f.sync(t); err != nil {
				t.Fatal(err)
			}
			if sts := f.srv.Statuses(); len(sts) != 1 || sts[0].ID == st.ID {
				t.Errorf("after delete: %+v, want only the reply left", sts)
			}
		})
	}
}

func TestOnlyPublicNonDraft(t *testing.T) {
	f := newFixture(t, mastodontest.Mastodon)
	f.ev.Draft = true
	f.store.putEvent(f.ev)
	f.sync(t)
	f.ev.Draft, f.ev.Public = false, false
	f.store.putEvent(f.ev)
	f.sync(t)
	if n := len(f.srv.Statuses()); n != 0 {
		t.Errorf("%d statuses for a draft and a private event", n)
	}
}

func TestEditRefusedRepliesInThread(t *testing.T) {
	f := newFixture(t, mastodontest.GoToSocial)
	if err := f.sync(t); err != nil {
		t.Fatal(err)
	}
	f.srv.RefuseEdits(true)
	f.change(func(e *bridges.Event) { e.Start = e.Start.Add(time.Hour) })
	for range 2 {
		if err := f.sync(t); err != nil {
			t.Fatal(err)
		}
	}
	sts := f.srv.Statuses()
	if len(sts) != 2 || sts[1].InReplyToID != sts[0].ID || !strings.HasPrefix(sts[1].Text, "✏️ Mise à jour : Café libre") {
		t.Fatalf("statuses %+v, want the status and one update reply", sts)
	}
}

// TestLostAnswer: the server created the status but the answer never came
// back. The retry must find it (GoToSocial ignores Idempotency-Key, so only
// reconciling saves it there) instead of posting again.
func TestLostAnswer(t *testing.T) {
	for _, mode := range []mastodontest.Mode{mastodontest.Mastodon, mastodontest.GoToSocial} {
		t.Run(string(mode), func(t *testing.T) {
			f := newFixture(t, mode)
			f.lose.n.Store(1)
			err := f.sync(t)
			if err == nil || Classify(err) != Temporary {
				t.Fatalf("lost answer: %v, want a temporary error", err)
			}
			if p := f.store.post(f.ev.ID, f.acct.ID, KindStatus); p == nil || p.State != PostPending {
				t.Fatalf("post after a lost answer: %+v, want pending", p)
			}
			if err := f.sync(t); err != nil {
				t.Fatal(err)
			}
			sts := f.srv.Statuses()
			if len(sts) != 1 {
				t.Fatalf("%d statuses, want exactly 1", len(sts))
			}
			if p := f.store.post(f.ev.ID, f.acct.ID, KindStatus); p.State != PostPosted || p.StatusID != sts[0].ID {
				t.Errorf("post %+v, want posted as %s", p, sts[0].ID)
			}
		})
	}
}

// TestLostAnswerThenCancelled: the answer to the POST was lost, and the
// event was cancelled before the retry. The status that exists must be
// found and marked, not forgotten because cancelled events are not posted.
func TestLostAnswerThenCancelled(t *testing.T) {
	for _, then := range []string{"cancelled", "deleted"} {
		t.Run(then, func(t *testing.T) {
			f := newFixture(t, mastodontest.GoToSocial)
			f.lose.n.Store(1)
			if err := f.sync(t); err == nil {
				t.Fatal("lost answer not reported")
			}
			f.change(func(e *bridges.Event) {
				e.Status = bridges.StatusCancelled
				f.ev.Deleted = then == "deleted"
			})
			if err := f.sync(t); err != nil {
				t.Fatal(err)
			}
			sts := f.srv.Statuses()
			switch {
			case then == "deleted" && len(sts) != 0:
				t.Errorf("statuses left after delete: %+v", sts)
			case then == "cancelled" && (len(sts) != 2 || !strings.HasPrefix(sts[0].Text, "❌ ANNULÉ")):
				t.Errorf("statuses %+v, want the marked status and one reply", sts)
			}
		})
	}
}

func TestLimits(t *testing.T) {
	tests := []struct {
		name string
		v2   string // empty: 404
		v1   string
		want Limits
	}{
		{"mastodon v2", `{"configuration":{"statuses":{"max_characters":1000,"characters_reserved_per_url":23}}}`, "", Limits{1000, 23}},
		{"old mastodon v1", "", `{"configuration":{"statuses":{"max_characters":500,"characters_reserved_per_url":23}}}`, Limits{500, 23}},
		{"akkoma v1", "", `{"max_toot_chars":5000,"configuration":{"statuses":{}}}`, Limits{5000, 23}},
		{"says nothing", "", `{}`, DefaultLimits},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				body := map[string]string{"/api/v2/instance": tt.v2, "/api/v1/instance": tt.v1}[r.URL.Path]
				if body == "" {
					http.NotFound(w, r)
					return
				}
				io.WriteString(w, body)
			}))
			defer srv.Close()
			got, err := NewClient(http.DefaultClient, srv.URL, "t").Limits(context.Background())
			if err != nil || got != tt.want {
				t.Errorf("Limits = %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

func TestResetTime(t *testing.T) {
	now := time.Date(2025, 5, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		header, value string
		want          time.Time
	}{
		{"X-RateLimit-Reset", "2025-05-01T12:05:00.000Z", now.Add(5 * time.Minute)},
		{"X-RateLimit-Reset", "2025-05-01T12:05:00+00:00", now.Add(5 * time.Minute)},
		{"X-RateLimit-Reset", "1746101100", time.Unix(1746101100, 0)},
		{"X-RateLimit-Reset", "30", now.Add(30 * time.Second)},
		{"Retry-After", "120", now.Add(2 * time.Minute)},
		{"Retry-After", "Thu, 01 May 2025 12:10:00 GMT", now.Add(10 * time.Minute)},
		{"X-Nothing", "", now.Add(time.Minute)},
	}
	for _, tt := range tests {
		h := http.Header{}
		h.Set(tt.header, tt.value)
		if got := resetTime(h, now); !got.Equal(tt.want) {
			t.Errorf("%s: %q = %s, want %s", tt.header, tt.value, got, tt.want)
		}
	}
}

func TestValidateRoutes(t *testing.T) {
	f := newFixture(t, mastodontest.Mastodon)
	if err := f.p.ValidateRoutes(context.Background()); err != nil {
		t.Fatal(err)
	}
	f.store.SaveMastodonRoute(context.Background(), &Route{SourceID: 9, AccountID: f.acct.ID, Template: "{{.Title"})
	err := f.p.ValidateRoutes(context.Background())
	if err == nil || !strings.Contains(err.Error(), "source 9") || !strings.Contains(err.Error(), "status template") {
		t.Errorf("broken template: %v", err)
	}
}

func TestServerErrors(t *testing.T) {
	t.Run("429 reschedules at the reset", func(t *testing.T) {
		f := newFixture(t, mastodontest.Mastodon)
		f.srv.RateLimit(100, time.Now().Add(90*time.Second))
		start := time.Now()
		err := f.sync(t)
		var snooze *river.JobSnoozeError
		if !errors.As(err, &snooze) || snooze.Duration < 80*time.Second || snooze.Duration > 95*time.Second {
			t.Fatalf("rate limited: %v, want a snooze of about 90s", err)
		}
		if time.Since(start) > 5*time.Second {
			t.Errorf("the worker was held %s", time.Since(start))
		}
	})
	t.Run("401 stops posting to the account", func(t *testing.T) {
		f := newFixture(t, mastodontest.GoToSocial)
		f.srv.RevokeTokens()
		var cancel *river.JobCancelError
		if err := f.sync(t); !errors.As(err, &cancel) {
			t.Fatalf("revoked token: %v, want the job cancelled", err)
		}
		a, _ := f.store.MastodonAccount(context.Background(), f.acct.ID)
		if a.State != AccountReconnect || !strings.Contains(a.LastError, "401") {
			t.Errorf("account %+v, want needs_reconnection", a)
		}
		before := len(f.srv.Requests())
		if err := f.sync(t); err != nil || len(f.srv.Requests()) != before {
			t.Errorf("posting went on to a disconnected account: %v", err)
		}
	})
	for _, tc := range []struct {
		mode mastodontest.Mode
		code int
		body string
	}{
		{mastodontest.Mastodon, 422, `{"error":"Validation failed: Text can't be blank"}`},
		{mastodontest.GoToSocial, 400, `{"error":"Bad Request: text with spoiler exceed max chars (500)"}`},
	} {
		t.Run(strings.Join([]string{string(tc.mode), http.StatusText(tc.code)}, " "), func(t *testing.T) {
			f := newFixture(t, tc.mode)
			f.srv.Fail("POST", "/api/v1/statuses", tc.code, 1, tc.body)
			var cancel *river.JobCancelError
			if err := f.sync(t); !errors.As(err, &cancel) {
				t.Fatalf("refused: %v, want the job given up", err)
			}
			p := f.store.post(f.ev.ID, f.acct.ID, KindStatus)
			if p == nil || p.State != PostFailed || !strings.Contains(p.Error, strings.Split(tc.body, `"`)[3]) {
				t.Errorf("post %+v, want failed with the server's message", p)
			}
		})
	}
	t.Run("422 on an edit keeps the status", func(t *testing.T) {
		f := newFixture(t, mastodontest.Mastodon)
		if err := f.sync(t); err != nil {
			t.Fatal(err)
		}
		f.srv.Fail("PUT", "/api/v1/statuses/", 422, 1, `{"error":"Validation failed: Text character limit of 500 exceeded"}`)
		f.change(func(e *bridges.Event) { e.Title = "Nouveau titre" })
		var cancel *river.JobCancelError
		if err := f.sync(t); !errors.As(err, &cancel) {
			t.Fatalf("refused edit: %v, want the job given up", err)
		}
		p := f.store.post(f.ev.ID, f.acct.ID, KindStatus)
		if p.State != PostPosted || p.Version != 0 || !strings.Contains(p.Error, "character limit") {
			t.Errorf("post %+v, want still posted at version 0 with the server's message", p)
		}
	})
	t.Run("5xx retries, then posts once", func(t *testing.T) {
		f := newFixture(t, mastodontest.Mastodon)
		f.srv.Fail("POST", "/api/v1/statuses", 503, 1, "")
		if err := f.sync(t); err == nil || Classify(err) != Temporary {
			t.Fatalf("503: %v, want a temporary error", err)
		}
		if err := f.sync(t); err != nil {
			t.Fatal(err)
		}
		if n := len(f.srv.Statuses()); n != 1 {
			t.Errorf("%d statuses", n)
		}
	})
}

func TestClaimedThreadWaits(t *testing.T) {
	f := newFixture(t, mastodontest.Mastodon)
	f.store.ClaimMastodonThread(context.Background(), f.ev.ID, f.acct.ID, "another process", time.Now().Add(time.Minute))
	var snooze *river.JobSnoozeError
	if err := f.sync(t); !errors.As(err, &snooze) {
		t.Fatalf("claimed thread: %v, want a snooze", err)
	}
	if n := len(f.srv.Requests()); n != 0 {
		t.Errorf("%d requests while another job held the thread", n)
	}
}

func TestReminder(t *testing.T) {
	f := newFixture(t, mastodontest.Mastodon)
	f.route.Reminder = time.Hour
	f.store.SaveMastodonRoute(context.Background(), f.route)
	if err := f.sync(t); err != nil {
		t.Fatal(err)
	}
	args := ReminderArgs{EventID: f.ev.ID, AccountID: f.acct.ID, Start: f.ev.Start.Unix()}
	for range 2 {
		if err := f.p.Remind(context.Background(), args); err != nil {
			t.Fatal(err)
		}
	}
	sts := f.srv.Statuses()
	if len(sts) != 2 || sts[1].InReplyToID != sts[0].ID || !strings.HasPrefix(sts[1].Text, "⏰ Bientôt : Café libre") {
		t.Fatalf("statuses %+v, want the status and one reminder", sts)
	}
	// A reminder planned for an old start does nothing.
	args.Start -= 3600
	if err := f.p.Remind(context.Background(), args); err != nil || len(f.srv.Statuses()) != 2 {
		t.Errorf("stale reminder: %v, %d statuses", err, len(f.srv.Statuses()))
	}
}

// TestReminderAsStatus: a reminder posted as a new status, whose answer is
// lost, is found again without being confused with the event's status.
func TestReminderAsStatus(t *testing.T) {
	f := newFixture(t, mastodontest.GoToSocial)
	f.route.Reminder, f.route.ReminderAs = time.Hour, "status"
	f.store.SaveMastodonRoute(context.Background(), f.route)
	if err := f.sync(t); err != nil {
		t.Fatal(err)
	}
	args := ReminderArgs{EventID: f.ev.ID, AccountID: f.acct.ID, Start: f.ev.Start.Unix()}
	f.lose.n.Store(1)
	if err := f.p.Remind(context.Background(), args); err == nil {
		t.Fatal("lost answer not reported")
	}
	if err := f.p.Remind(context.Background(), args); err != nil {
		t.Fatal(err)
	}
	sts := f.srv.Statuses()
	if len(sts) != 2 || sts[1].InReplyToID != "" || !strings.HasPrefix(sts[1].Text, "⏰ Bientôt : Café libre") {
		t.Fatalf("statuses %+v, want the event's status and one reminder status", sts)
	}
	kind := "reminder:" + strconv.FormatInt(args.Start, 10)
	if p := f.store.post(f.ev.ID, f.acct.ID, kind); p.StatusID != sts[1].ID {
		t.Errorf("reminder recorded as %s, want %s", p.StatusID, sts[1].ID)
	}
}

func TestListener(t *testing.T) {
	m := newMemStore()
	ctx := context.Background()
	now := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	m.SaveMastodonRoute(ctx, &Route{SourceID: 7, AccountID: 1, On: AllTriggers, Reminder: time.Hour})
	m.SaveMastodonRoute(ctx, &Route{SourceID: 7, AccountID: 2, On: []Trigger{OnCancel}})
	m.SaveMastodonRoute(ctx, &Route{SourceID: 8, AccountID: 3, On: AllTriggers})
	ev := &bridges.StoredEvent{Event: bridges.Event{ID: 5, SourceID: 7, APID: "https://x.example/e/5", Public: true, Start: now.Add(48 * time.Hour)}}
	l := &Listener{Now: func() time.Time { return now }}

	tests := []struct {
		kind      bridges.ChangeKind
		prev      *bridges.StoredEvent
		mut       func(*bridges.StoredEvent)
		accounts  []int64
		reminders int
	}{
		{kind: bridges.ChangeCreated, accounts: []int64{1}, reminders: 1},
		{kind: bridges.ChangeCancelled, prev: ev, accounts: []int64{1, 2}},
		{kind: bridges.ChangeMinor, prev: ev},
		{kind: bridges.ChangeCreated, mut: func(e *bridges.StoredEvent) { e.Draft = true }},
		{kind: bridges.ChangeDeleted, prev: ev, mut: func(e *bridges.StoredEvent) { e.Public = false }, accounts: []int64{1}},
	}
	for _, tt := range tests {
		e := *ev
		if tt.mut != nil {
			tt.mut(&e)
		}
		tx := &memTx{m: m}
		if err := l.eventChanged(ctx, tx, bridges.Change{Kind: tt.kind, Event: &e, Previous: tt.prev}); err != nil {
			t.Fatal(err)
		}
		var accounts []int64
		reminders := 0
		for i, j := range tx.jobs {
			switch a := j.(type) {
			case PostArgs:
				accounts = append(accounts, a.AccountID)
			case ReminderArgs:
				reminders++
				if !tx.runs[i].Equal(e.Start.Add(-time.Hour)) {
					t.Errorf("reminder at %s", tx.runs[i])
				}
			}
		}
		if len(accounts) != len(tt.accounts) || reminders != tt.reminders {
			t.Errorf("%s: posts to %v, %d reminders; want %v, %d", tt.kind, accounts, reminders, tt.accounts, tt.reminders)
		}
	}
}

// cachedImages is passerelle's media cache as the poster sees it.
type cachedImages struct {
	body  []byte
	asked []string
}

func (c *cachedImages) Image(ctx context.Context, url string) ([]byte, string, error) {
	c.asked = append(c.asked, url)
	return c.body, "image/png", nil
}

// TestBannerFromMediaCache: with the media cache, the banner uploaded is
// the cached copy and the event's server is not asked again.
func TestBannerFromMediaCache(t *testing.T) {
	f := newFixture(t, mastodontest.Mastodon)
	hits := 0
	remote := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits++ }))
	defer remote.Close()
	f.ev.BannerURL = remote.URL + "/banner.png"
	f.store.putEvent(f.ev)
	cache := &cachedImages{body: png1x1}
	f.p.Images = cache
	if err := f.sync(t); err != nil {
		t.Fatal(err)
	}
	sts := f.srv.Statuses()
	if len(sts) != 1 || len(sts[0].MediaIDs) != 1 {
		t.Fatalf("posted %+v, want one status with its banner", sts)
	}
	if hits != 0 || len(cache.asked) != 1 || cache.asked[0] != f.ev.BannerURL {
		t.Errorf("the event's server was asked %d times, the cache %v", hits, cache.asked)
	}
}
