// Package browsertest walks passerelle's public pages in Debian's chromium
// (internal/peers/browser/walk.mjs: playwright-core and axe-core from npm),
// as a visitor would, and judges what it saw. Shared by the web package's
// test and the whole-binary test in cmd/passerelle.
package browsertest

import (
	"bytes"
	"context"
	"encoding/json"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"codeberg.org/passerelle/passerelle/internal/testenv"
)

// Report is what walk.mjs prints.
type Report struct {
	Pages []struct {
		Viewport, URL, Title, Lang string
	}
	Violations []struct {
		Page, ID, Impact, Help string
		Nodes                  int
	}
	Screenshots []string
	ICS         *struct {
		Status   int
		Type     string
		HasEvent bool
	}
	Answered *struct{ URL, Status string }
	External []string
}

// Walk opens base in chromium at a phone and a desktop width: home, the
// first event, its .ics, the answer form filled with email, a source
// page; screenshots go to shots. It skips (or fails under
// PASSERELLE_REQUIRE_ALL) when chromium, node or the npm packages are
// missing.
func Walk(t testing.TB, base, shots, email string) Report {
	t.Helper()
	testenv.LookPath(t, "/usr/bin/chromium", "apt-get install chromium")
	node := testenv.LookPath(t, "node", "Node.js 20")
	_, file, _, _ := runtime.Caller(0)
	peer := filepath.Join(filepath.Dir(file), "..", "peers", "browser")
	if _, err := os.Stat(filepath.Join(peer, "node_modules", "playwright-core")); err != nil {
		testenv.Missing(t, "npm packages of internal/peers/browser (run npm ci there)")
	}
	if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join(peer, "walk.mjs"), base, shots, email)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("browser walk: %v\n%s", err, stderr.String())
	}
	var r Report
	if err := json.Unmarshal(stdout.Bytes(), &r); err != nil {
		t.Fatalf("browser report: %v\n%s", err, stdout.String())
	}
	return r
}

// Check fails the test for what a visitor must never meet: a serious or
// critical accessibility violation, a broken "add to calendar", a request
// to another host, a blank screenshot, an answer form that did not confirm.
func (r Report) Check(t testing.TB, email string) {
	t.Helper()
	if len(r.Pages) < 4 {
		t.Errorf("pages visited: %+v", r.Pages)
	}
	for _, v := range r.Violations {
		if v.Impact == "serious" || v.Impact == "critical" {
			t.Errorf("accessibility (%s) on %s: %s — %s (%d nodes)", v.Impact, v.Page, v.ID, v.Help, v.Nodes)
		} else {
			t.Logf("accessibility (%s) on %s: %s — %s", v.Impact, v.Page, v.ID, v.Help)
		}
	}
	if r.ICS == nil || r.ICS.Status != 200 || !strings.HasPrefix(r.ICS.Type, "text/calendar") || !r.ICS.HasEvent {
		t.Errorf("the .ics behind \"add to calendar\": %+v", r.ICS)
	}
	if r.Answered == nil || !strings.Contains(r.Answered.Status, email) {
		t.Errorf("answer form: %+v", r.Answered)
	}
	if len(r.External) > 0 {
		t.Errorf("pages made requests to other hosts: %v", r.External)
	}
	for _, shot := range r.Screenshots {
		checkNotBlank(t, shot)
	}
}

// checkNotBlank fails when a screenshot is one flat colour.
func checkNotBlank(t testing.TB, path string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	b := img.Bounds()
	r0, g0, b0, _ := img.At(b.Min.X, b.Min.Y).RGBA()
	differ := 0
	for y := b.Min.Y; y < b.Max.Y; y += 4 {
		for x := b.Min.X; x < b.Max.X; x += 4 {
			r, g, bl, _ := img.At(x, y).RGBA()
			if r != r0 || g != g0 || bl != b0 {
				differ++
			}
		}
	}
	if differ < 100 {
		t.Errorf("%s looks blank (%d differing samples)", path, differ)
	}
}

// Layout is where an event page's parts landed in chromium, at one width.
type Layout struct {
	Viewport, URL string
	// DetailsTop and TitleTop are the page tops of the date-and-place list
	// and of the title, in CSS pixels; -1 when absent.
	DetailsTop, TitleTop float64
	// Banner is the event's banner, nil when the page has none.
	Banner *struct {
		Top, Height, Width float64
		// Loaded is whether the image decoded.
		Loaded bool
		// Src is the img element's src attribute.
		Src string
	}
	// External lists the requests the page made to another origin than
	// its own.
	External []string
}

// Measure opens each URL in chromium at a phone and a desktop width
// (internal/peers/browser/layout.mjs), with the pages' own CSP, and
// reports where the event page's parts landed once everything loaded. It
// skips (or fails under PASSERELLE_REQUIRE_ALL) like Walk.
func Measure(t testing.TB, urls ...string) []Layout {
	t.Helper()
	testenv.LookPath(t, "/usr/bin/chromium", "apt-get install chromium")
	node := testenv.LookPath(t, "node", "Node.js 20")
	_, file, _, _ := runtime.Caller(0)
	peer := filepath.Join(filepath.Dir(file), "..", "peers", "browser")
	if _, err := os.Stat(filepath.Join(peer, "node_modules", "playwright-core")); err != nil {
		testenv.Missing(t, "npm packages of internal/peers/browser (run npm ci there)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, append([]string{filepath.Join(peer, "layout.mjs")}, urls...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("browser layout: %v\n%s", err, stderr.String())
	}
	var out []Layout
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		t.Fatalf("browser layout report: %v\n%s", err, stdout.String())
	}
	return out
}
