package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"codeberg.org/passerelle/passerelle/bridges"
	"codeberg.org/passerelle/passerelle/internal/binarytest"
	"codeberg.org/passerelle/passerelle/internal/fedipeertest"
	"codeberg.org/passerelle/passerelle/internal/mastodontest"
	"codeberg.org/passerelle/passerelle/internal/wait"
	"codeberg.org/passerelle/passerelle/mastodon"
	"codeberg.org/passerelle/passerelle/store"
)

// site is one passerelle installation driven through its real binary.
type site struct {
	t      *testing.T
	dir    string
	listen string
	env    []string
	db     *store.DB
	// serve is the running `passerelle serve`, nil when stopped.
	serve *binarytest.Process
	// logs keeps the output of every serve run, for assertions.
	logs strings.Builder
}

func newSite(t *testing.T) *site {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	dir := t.TempDir()
	dbURL := "sqlite://" + filepath.Join(dir, "passerelle.db")
	s := &site{t: t, dir: dir, listen: binarytest.FreeAddr(t, "127.0.0.1")}
	s.env = []string{
		"PASSERELLE_DATABASE_URL=" + dbURL,
		"PASSERELLE_LISTEN=" + s.listen,
		"PASSERELLE_PUBLIC_URL=http://" + s.listen,
		"PASSERELLE_FEDERATION_ALLOW_PRIVATE_NETWORKS=true",
		"PASSERELLE_LOG_LEVEL=debug",
	}
	s.run(nil, "migrate")
	var err error
	s.db, err = store.Open(context.Background(), dbURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	// A serve still running at the end is killed by binarytest's own
	// cleanup, which also prints its output when the test failed.
	t.Cleanup(func() { s.db.Close() })
	return s
}

// run runs a command to completion and returns its output.
func (s *site) run(stdin io.Reader, args ...string) string {
	s.t.Helper()
	r := binarytest.Run(s.t, s.dir, s.env, args...)
	if r.Code != 0 {
		s.t.Fatalf("passerelle %s: exit %d\n%s%s", strings.Join(args, " "), r.Code, r.Stdout, r.Stderr)
	}
	return r.Stdout
}

func (s *site) start() {
	s.t.Helper()
	s.serve = binarytest.Start(s.t, s.dir, s.listen, s.env)
}

// kill stops serve with SIGKILL: no cleanup runs.
func (s *site) kill() {
	s.serve.Kill()
	s.logs.WriteString(s.serve.Logs())
	s.serve = nil
}

func (s *site) stop() {
	if s.serve != nil {
		if err := s.serve.Stop(20 * time.Second); err != nil {
			s.t.Errorf("SIGTERM: %v", err)
		}
		s.logs.WriteString(s.serve.Logs())
		s.serve = nil
	}
}

// connect runs `passerelle mastodon connect` as a person would: it opens
// the printed authorize URL (the test server shows the code, as Mastodon
// does for out-of-band apps) and types the code.
func (s *site) connect(srv *mastodontest.Server) {
	s.t.Helper()
	cmd := exec.Command(binarytest.Build(s.t), "mastodon", "connect", srv.URL)
	cmd.Dir, cmd.Env = s.dir, binarytest.Env(s.env...)
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	r := bufio.NewReader(stdout)
	var authorize string
	for authorize == "" {
		line, err := r.ReadString('\n')
		if err != nil {
			s.t.Fatalf("connect printed no authorize URL: %v\n%s", err, stderr.String())
		}
		if u := strings.TrimSpace(line); strings.HasPrefix(u, srv.URL+"/oauth/authorize?") {
			authorize = u
		}
	}
	resp, err := http.Get(authorize)
	if err != nil {
		s.t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := regexp.MustCompile(`class="oauth-code" readonly type="text" value="([^"]+)"`).FindSubmatch(page)
	if m == nil {
		s.t.Fatalf("authorize page shows no code: %s", page)
	}
	fmt.Fprintf(stdin, "%s\n", m[1])
	stdin.Close()
	rest, _ := io.ReadAll(r)
	if err := cmd.Wait(); err != nil {
		s.t.Fatalf("connect: %v\n%s%s", err, rest, stderr.String())
	}
	if !strings.Contains(string(rest), "connected "+srv.Acct()) {
		s.t.Fatalf("connect said: %s", rest)
	}
}

// addSource stands for a followed source (the federation side creates them).
func (s *site) addSource(slug string) *bridges.Source {
	s.t.Helper()
	src := &bridges.Source{Slug: slug, ActorURL: "https://mobilizon.test/@" + slug, Handle: "@" + slug + "@mobilizon.test", Software: "mobilizon", State: bridges.SourceFollowed, CreatedAt: time.Now()}
	if err := s.db.Tx(context.Background(), func(ctx context.Context, tx *store.Tx) error { return tx.SaveSource(ctx, src) }); err != nil {
		s.t.Fatal(err)
	}
	return src
}

// events is the ingest flow as the federation inbox runs it, with the
// Mastodon listener, beside the running serve.
func (s *site) events() *bridges.Events[*store.Tx] {
	return &bridges.Events[*store.Tx]{Store: s.db, Listeners: []bridges.ChangeListener[*store.Tx]{&mastodon.Listener{}}}
}

func waitFor(t *testing.T, what string, limit time.Duration, ok func() bool) {
	t.Helper()
	wait.For(t, limit, what, ok)
}

func e2eEvent(src *bridges.Source) bridges.Event {
	start := time.Now().Add(96 * time.Hour).Truncate(time.Hour)
	return bridges.Event{
		SourceID: src.ID, APID: "https://mobilizon.test/events/7d3c", URL: "https://mobilizon.test/events/7d3c",
		Title: "Atelier vélo", DescriptionText: "Réparez votre vélo avec nous.", Language: "fr", TimeZone: "Europe/Paris",
		Start: start, End: start.Add(3 * time.Hour), Place: &bridges.Place{Name: "Le Hangar", Locality: "Lyon"},
		Tags: []string{"vélo"}, Status: bridges.StatusConfirmed, JoinMode: bridges.JoinFree, Public: true,
		Updated: time.Now().Truncate(time.Microsecond),
	}
}

// TestMastodonKillAfterPost: in GoToSocial mode (Idempotency-Key ignored),
// serve is SIGKILLed after the instance accepted the POST and before the
// status id was recorded. After a restart there is still exactly one
// status, and passerelle knows its id.
func TestMastodonKillAfterPost(t *testing.T) {
	srv := mastodontest.New(t, mastodontest.Options{Mode: mastodontest.GoToSocial})
	s := newSite(t)
	s.connect(srv)
	src := s.addSource("velo")
	out := s.run(nil, "mastodon", "route", "--source", "@velo@mobilizon.test", "--account", srv.URL, "--visibility", "public")
	if !strings.Contains(out, "events of velo now go to "+srv.Acct()) {
		t.Fatalf("route said: %s", out)
	}
	accepted := make(chan mastodontest.Status, 1)
	release := make(chan struct{})
	srv.OnCreate(func(st mastodontest.Status) {
		accepted <- st
		<-release // hold the answer until serve is dead
	})
	s.start()
	ctx := context.Background()
	ch, err := s.events().Apply(ctx, e2eEvent(src), nil)
	if err != nil {
		t.Fatal(err)
	}
	var st mastodontest.Status
	select {
	case st = <-accepted:
	case <-time.After(30 * time.Second):
		t.Fatal("serve posted nothing within 30s")
	}
	s.kill()
	close(release)
	srv.OnCreate(nil)

	post, err := s.db.MastodonPost(ctx, ch.Event.ID, mustAccount(t, s).ID, mastodon.KindStatus)
	if err != nil || post.State != mastodon.PostPending || post.StatusID != "" {
		t.Fatalf("after the kill the post is %+v, %v; want pending without id (killed in between)", post, err)
	}

	s.start()
	waitFor(t, "the status to be reconciled", 60*time.Second, func() bool {
		p, err := s.db.MastodonPost(ctx, ch.Event.ID, post.AccountID, mastodon.KindStatus)
		return err == nil && p.State == mastodon.PostPosted
	})
	sts := srv.Statuses()
	if len(sts) != 1 {
		t.Fatalf("%d statuses after the restart, want exactly 1", len(sts))
	}
	post, _ = s.db.MastodonPost(ctx, ch.Event.ID, post.AccountID, mastodon.KindStatus)
	if post.StatusID != st.ID || sts[0].ID != st.ID || sts[0].Visibility != "public" {
		t.Errorf("recorded %s, server has %+v, accepted %s", post.StatusID, sts[0], st.ID)
	}
	s.stop()
	if !strings.Contains(s.logs.String(), "adopted a status posted before a stop") {
		t.Errorf("serve did not say it adopted the status")
	}
}

// TestMastodonLifecycle: with the real binary serving, in Mastodon mode,
// an event is posted once, edited on update, marked on cancellation with
// one reply, and its status deleted when the event is deleted; accounts
// shows the connected account.
func TestMastodonLifecycle(t *testing.T) {
	srv := mastodontest.New(t, mastodontest.Options{Mode: mastodontest.Mastodon})
	s := newSite(t)
	s.connect(srv)
	src := s.addSource("cafe")
	s.run(nil, "mastodon", "route", "--source", "cafe", "--account", srv.Acct(), "--visibility", "unlisted", "--on", "create,update,cancel,delete")
	if out := s.run(nil, "mastodon", "accounts"); !strings.Contains(out, srv.Acct()) || !strings.Contains(out, "active") {
		t.Errorf("accounts: %s", out)
	}
	if out := s.run(nil, "mastodon", "routes"); !strings.Contains(out, "cafe") || !strings.Contains(out, "unlisted") {
		t.Errorf("routes: %s", out)
	}
	// A broken template is refused when the route is saved, naming it.
	bad := filepath.Join(s.dir, "bad.tmpl")
	os.WriteFile(bad, []byte("{{.Title} {{.Link}}"), 0o600)
	r := binarytest.Run(t, s.dir, s.env, "mastodon", "route", "--source", "cafe", "--account", srv.Acct(), "--template", bad)
	if r.Code != 2 || !strings.Contains(r.Stderr, "--template "+bad) || !strings.Contains(r.Stderr, "status template") {
		t.Errorf("bad template: exit %d, %s", r.Code, r.Stderr)
	}
	r = binarytest.Run(t, s.dir, s.env, "mastodon", "route", "--source", "nosuch", "--account", srv.Acct())
	if r.Code != 2 || !strings.Contains(r.Stderr, `no source named "nosuch"`) {
		t.Errorf("unknown source: exit %d, %s", r.Code, r.Stderr)
	}
	s.start()
	ctx := context.Background()
	flow := s.events()
	ev := e2eEvent(src)
	if _, err := flow.Apply(ctx, ev, nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the status", 30*time.Second, func() bool { return len(srv.Statuses()) == 1 })
	first := srv.Statuses()[0]
	if first.Visibility != "unlisted" || !strings.Contains(first.Text, "Atelier vélo") || !strings.Contains(first.Text, ev.URL) {
		t.Errorf("posted %+v", first)
	}

	ev.Title, ev.Updated = "Atelier vélo et trottinette", ev.Updated.Add(time.Minute)
	if _, err := flow.Apply(ctx, ev, nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the edit", 30*time.Second, func() bool {
		st, _ := srv.Status(first.ID)
		return st.Edits == 1 && strings.Contains(st.Text, "trottinette")
	})

	ev.Status, ev.Updated = bridges.StatusCancelled, ev.Updated.Add(time.Minute)
	if _, err := flow.Apply(ctx, ev, nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the cancellation reply", 30*time.Second, func() bool { return len(srv.Statuses()) == 2 })
	if st, _ := srv.Status(first.ID); !strings.HasPrefix(st.Text, "❌ ANNULÉ") {
		t.Errorf("status not marked cancelled:\n%s", st.Text)
	}

	if _, err := flow.Delete(ctx, ev.APID); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the deletion", 30*time.Second, func() bool {
		st, _ := srv.Status(first.ID)
		return st.Deleted
	})
	s.stop()
	if n := len(srv.Statuses()); n != 1 {
		t.Errorf("%d statuses left, want only the cancellation reply", n)
	}
	s.run(nil, "mastodon", "unroute", "--source", "cafe", "--account", srv.Acct())
	token := mustAccount(t, s).Token
	if out := s.run(nil, "mastodon", "disconnect", srv.Acct()); !strings.Contains(out, "revoked its token") || srv.TokenValid(token) {
		t.Errorf("disconnect: %s (token still valid: %v)", out, srv.TokenValid(token))
	}
	if out := s.run(nil, "mastodon", "accounts"); strings.Contains(out, srv.Acct()) {
		t.Errorf("account still listed after disconnect: %s", out)
	}
}

func mustAccount(t *testing.T, s *site) *mastodon.Account {
	t.Helper()
	accounts, err := s.db.MastodonAccounts(context.Background())
	if err != nil || len(accounts) != 1 {
		t.Fatalf("accounts %v, %v", accounts, err)
	}
	return &accounts[0]
}

// TestMastodonFromFedify: the whole way, with the real binary. An event
// created on the Fedify-based Mobilizon peer reaches passerelle over
// ActivityPub and is posted once to the routed account; updated, the status
// is edited; cancelled, it is marked and answered once; deleted, the status
// is removed.
func TestMastodonFromFedify(t *testing.T) {
	peer := fedipeertest.Start(t, fedipeertest.Mobilizon)
	srv := mastodontest.New(t, mastodontest.Options{Mode: mastodontest.Mastodon})
	s := newSite(t)
	s.start()
	if out := s.run(nil, "follow", peer.Handle("mygroup")); !strings.Contains(out, "accepted the follow") {
		t.Fatalf("follow: %s", out)
	}
	s.connect(srv)
	s.run(nil, "mastodon", "route", "--source", peer.Handle("mygroup"), "--account", srv.Acct())

	start := time.Now().Add(72 * time.Hour).Truncate(time.Hour).In(time.FixedZone("CET", 3600))
	created := peer.CreateEvent(t, fedipeertest.Event{
		Name: "Soirée jeux", Content: "<p>Jeux de société pour tous.</p>", Timezone: "Europe/Paris",
		StartTime: start.Format(time.RFC3339), EndTime: start.Add(3 * time.Hour).Format(time.RFC3339),
	})
	waitFor(t, "the status", 60*time.Second, func() bool { return len(srv.Statuses()) >= 1 })
	time.Sleep(time.Second) // the group's Announce follows the Create: still one status
	sts := srv.Statuses()
	if len(sts) != 1 || !strings.Contains(sts[0].Text, "Soirée jeux") || !strings.Contains(sts[0].Text, peer.EventURL(created.UUID)) || sts[0].Visibility != "public" {
		t.Fatalf("statuses after the Create: %+v", sts)
	}
	id := sts[0].ID

	peer.UpdateEvent(t, created.UUID, map[string]any{"name": "Soirée jeux (complet)"})
	waitFor(t, "the edit", 60*time.Second, func() bool {
		st, _ := srv.Status(id)
		return strings.Contains(st.Text, "(complet)")
	})
	peer.CancelEvent(t, created.UUID)
	waitFor(t, "the cancellation", 60*time.Second, func() bool {
		st, _ := srv.Status(id)
		return len(srv.Statuses()) == 2 && (strings.Contains(st.Text, "CANCELLED") || strings.Contains(st.Text, "ANNULÉ"))
	})
	peer.DeleteEvent(t, created.UUID)
	waitFor(t, "the deletion", 60*time.Second, func() bool {
		st, _ := srv.Status(id)
		return st.Deleted
	})
	if n := len(srv.Statuses()); n != 1 {
		t.Errorf("%d statuses left, want only the cancellation reply", n)
	}
	s.stop()
}
