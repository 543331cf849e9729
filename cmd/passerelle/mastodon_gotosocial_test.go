//go:build gotosocial

package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"html"
	"image"
	"image/color"
	"image/png"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"codeberg.org/passerelle/passerelle/bridges"
	"codeberg.org/passerelle/passerelle/internal/binarytest"
	"codeberg.org/passerelle/passerelle/mastodon"
)

// gtsEnv names a GoToSocial binary built with `-tags debug` (for its
// testrig: an in-memory instance with known accounts), placed in and run
// from its source folder. GoToSocial can only be built from fetched
// source, which CI must not do (PEERS.md), so this test is opt-in: it is
// built only with -tags gotosocial (a skipped test would fail CI under
// PASSERELLE_REQUIRE_ALL); CI covers the same behaviour with
// internal/mastodontest. Checked with GoToSocial 57cb4fe7 (vendored,
// built with Go 1.25: its go-xunsafe refuses Go 1.26):
//
//	CGO_ENABLED=0 go build -tags "debug timetzdata" -o gotosocial ./cmd/gotosocial
//	GTS_WAZERO_COMPILATION_CACHE=/tmp/gts-wazero \
//	PASSERELLE_TEST_GOTOSOCIAL=$PWD/gotosocial go test -tags gotosocial ./cmd/passerelle -run TestRealGoToSocial
//
// (the cache spares the minutes its ffmpeg WebAssembly takes to compile).
const gtsEnv = "PASSERELLE_TEST_GOTOSOCIAL"

// gtsZorkToken is the testrig's access token of local_account_1
// (the_mighty_zork), from its testrig/testmodels.go.
const gtsZorkToken = "NZAZOTC0OWITMDU0NC0ZODG4LWE4NJITMWUXM2M4MTRHZDEX"

// startGoToSocial runs `gotosocial testrig start` (it listens on
// localhost:8080, its fixed test configuration) and returns its base URL.
func startGoToSocial(t *testing.T) string {
	bin := os.Getenv(gtsEnv)
	if bin == "" {
		t.Skipf("%s is not set: a GoToSocial binary built with -tags debug, run from its source folder", gtsEnv)
	}
	cmd := exec.Command(bin, "testrig", "start")
	cmd.Dir = filepath.Dir(bin)
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("GoToSocial output (tail):\n%s", tail(logs.String(), 4000))
		}
	})
	base := "http://localhost:8080"
	waitFor(t, "GoToSocial to serve", 60*time.Second, func() bool {
		resp, err := http.Get(base + "/api/v2/instance")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	return base
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// holdingProxy forwards to GoToSocial; once armed, it lets GoToSocial
// create the next status, then holds the answer back and reports it, so
// the test can kill passerelle between the server's acceptance and the
// recording of the id.
type holdingProxy struct {
	*httptest.Server
	mu       sync.Mutex
	armed    bool
	accepted chan string
	release  chan struct{}
}

func newHoldingProxy(t *testing.T, target string) *holdingProxy {
	u, _ := url.Parse(target)
	rp := httputil.NewSingleHostReverseProxy(u)
	p := &holdingProxy{accepted: make(chan string, 1), release: make(chan struct{})}
	rp.ModifyResponse = func(resp *http.Response) error {
		p.mu.Lock()
		hold := p.armed && resp.Request.Method == http.MethodPost && resp.Request.URL.Path == "/api/v1/statuses" && resp.StatusCode == 200
		if hold {
			p.armed = false
		}
		p.mu.Unlock()
		if hold {
			body, _ := io.ReadAll(resp.Body)
			resp.Body = io.NopCloser(bytes.NewReader(body))
			var st struct{ ID string }
			json.Unmarshal(body, &st)
			p.accepted <- st.ID
			<-p.release
		}
		return nil
	}
	// GoToSocial serves the host it was configured with.
	director := rp.Director
	rp.Director = func(r *http.Request) { director(r); r.Host = u.Host }
	p.Server = httptest.NewServer(rp)
	t.Cleanup(func() {
		select {
		case <-p.release:
		default:
			close(p.release)
		}
		p.Close()
	})
	return p
}

// connectGoToSocial runs `passerelle mastodon connect` and plays the
// account owner in GoToSocial's own pages: sign in, allow, copy the code.
func (s *site) connectGoToSocial(instance string) {
	s.t.Helper()
	cmd := exec.Command(binarytest.Build(s.t), "mastodon", "connect", instance)
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
		if u := strings.TrimSpace(line); strings.HasPrefix(u, instance+"/oauth/authorize?") {
			authorize = u
		}
	}
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, Timeout: 20 * time.Second}
	get := func(u string) string {
		req, _ := http.NewRequest("GET", u, nil)
		req.Header.Set("Accept", "text/html")
		resp, err := browser.Do(req)
		if err != nil {
			s.t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	post := func(u string, form url.Values) string {
		req, _ := http.NewRequest("POST", u, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Accept", "text/html")
		resp, err := browser.Do(req)
		if err != nil {
			s.t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	get(authorize) // redirected to the sign-in page
	page := post(instance+"/auth/sign_in", url.Values{"username": {"zork@example.org"}, "password": {"password"}})
	if !strings.Contains(page, `action="/oauth/authorize"`) {
		s.t.Fatalf("no authorize form after signing in:\n%s", tail(page, 2000))
	}
	page = post(instance+"/oauth/authorize", url.Values{})
	m := regexp.MustCompile(`<code>([^<]+)</code>`).FindStringSubmatch(page)
	if m == nil {
		s.t.Fatalf("no code shown after allowing:\n%s", tail(page, 2000))
	}
	fmt.Fprintf(stdin, "%s\n", html.UnescapeString(m[1]))
	stdin.Close()
	rest, _ := io.ReadAll(r)
	if err := cmd.Wait(); err != nil || !strings.Contains(string(rest), "connected @the_mighty_zork@") {
		s.t.Fatalf("connect: %v\n%s%s", err, rest, stderr.String())
	}
}

// gtsStatuses lists zork's statuses showing link, straight from GoToSocial.
func gtsStatuses(t *testing.T, base, link string) []map[string]any {
	t.Helper()
	req, _ := http.NewRequest("GET", base+"/api/v1/accounts/01F8MH1H7YV1Z7D2C8K2730QBF/statuses?limit=40", nil)
	req.Header.Set("Authorization", "Bearer "+gtsZorkToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var all []map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&all); err != nil {
		t.Fatalf("GoToSocial statuses: %s: %v", resp.Status, err)
	}
	var out []map[string]any
	for _, st := range all {
		if c, _ := st["content"].(string); strings.Contains(html.UnescapeString(c), link) {
			out = append(out, st)
		}
	}
	return out
}

// TestRealGoToSocial runs connect, a post killed after GoToSocial accepted
// it (reconciled after restart: exactly one status), an edit, the
// cancellation and the deletion against a real GoToSocial.
func TestRealGoToSocial(t *testing.T) {
	base := startGoToSocial(t)
	proxy := newHoldingProxy(t, base)
	s := newSite(t)
	s.connectGoToSocial(proxy.URL)
	src := s.addSource("gts")
	s.run(nil, "mastodon", "route", "--source", "gts", "--account", proxy.URL)

	proxy.mu.Lock()
	proxy.armed = true
	proxy.mu.Unlock()
	s.start()
	ctx := context.Background()
	flow := s.events()
	ev := e2eEvent(src)
	ev.BannerURL, ev.BannerAlt = bannerServer(t)+"/banner.png", "Des vélos dans un atelier"
	ch, err := flow.Apply(ctx, ev, nil)
	if err != nil {
		t.Fatal(err)
	}
	var id string
	select {
	case id = <-proxy.accepted:
	case <-time.After(60 * time.Second):
		t.Fatal("passerelle posted nothing within 60s")
	}
	s.kill()
	close(proxy.release)
	acct := mustAccount(t, s)
	post, err := s.db.MastodonPost(ctx, ch.Event.ID, acct.ID, mastodon.KindStatus)
	if err != nil || post.State != mastodon.PostPending {
		t.Fatalf("after the kill: %+v, %v; want pending", post, err)
	}
	s.start()
	waitFor(t, "reconciliation", 90*time.Second, func() bool {
		p, err := s.db.MastodonPost(ctx, ch.Event.ID, acct.ID, mastodon.KindStatus)
		return err == nil && p.State == mastodon.PostPosted
	})
	sts := gtsStatuses(t, base, ev.URL)
	if len(sts) != 1 || sts[0]["id"] != id || sts[0]["visibility"] != "public" || sts[0]["language"] != "fr" {
		t.Fatalf("GoToSocial has %d statuses with the link (%v); want exactly %s, public, fr", len(sts), sts, id)
	}
	media, _ := sts[0]["media_attachments"].([]any)
	if len(media) != 1 || media[0].(map[string]any)["description"] != ev.BannerAlt {
		t.Errorf("media %v, want the banner with its alt text", media)
	}

	ev.Title, ev.Updated = "Atelier vélo et trottinette", ev.Updated.Add(time.Minute)
	if _, err := flow.Apply(ctx, ev, nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the edit on GoToSocial", 60*time.Second, func() bool {
		sts := gtsStatuses(t, base, ev.URL)
		return len(sts) == 1 && strings.Contains(sts[0]["content"].(string), "trottinette")
	})
	ev.Status, ev.Updated = bridges.StatusCancelled, ev.Updated.Add(time.Minute)
	if _, err := flow.Apply(ctx, ev, nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the cancellation reply on GoToSocial", 60*time.Second, func() bool { return len(gtsStatuses(t, base, ev.URL)) == 2 })
	if _, err := flow.Delete(ctx, ev.APID); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the deletion on GoToSocial", 60*time.Second, func() bool { return len(gtsStatuses(t, base, ev.URL)) == 1 })
	s.stop()

	token := acct.Token
	if out := s.run(nil, "mastodon", "disconnect", proxy.URL); !strings.Contains(out, "revoked its token") {
		t.Errorf("disconnect: %s", out)
	}
	req, _ := http.NewRequest("GET", base+"/api/v1/accounts/verify_credentials", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("revoked token: %s, want 401", resp.Status)
	}
}

// bannerServer serves a small PNG, as an event's home server serves its
// banner.
func bannerServer(t *testing.T) string {
	img := image.NewRGBA(image.Rect(0, 0, 64, 32))
	for x := range 64 {
		for y := range 32 {
			img.Set(x, y, color.RGBA{uint8(x * 4), uint8(y * 8), 128, 255})
		}
	}
	var b bytes.Buffer
	png.Encode(&b, img)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "image/png")
		w.Write(b.Bytes())
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}
