package web

import (
	"bytes"
	"context"
	"encoding/json"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"passerelle/internal/testenv"
)

// browserReport is what internal/peers/browser/walk.mjs prints.
type browserReport struct {
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

// TestInRealBrowser walks the pages in Debian's chromium, driven by
// playwright-core, with axe-core checking accessibility. Screenshots go to
// web/screenshots/ (not committed) for a person to look at.
func TestInRealBrowser(t *testing.T) {
	testenv.LookPath(t, "/usr/bin/chromium", "apt-get install chromium")
	node := testenv.LookPath(t, "node", "Node.js 20")
	peer, _ := filepath.Abs("../internal/peers/browser")
	if _, err := os.Stat(filepath.Join(peer, "node_modules", "playwright-core")); err != nil {
		testenv.Missing(t, "npm packages of internal/peers/browser (run npm ci there)")
	}
	s := newSite(t)
	shots, _ := filepath.Abs("screenshots")
	if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join(peer, "walk.mjs"), s.srv.URL, shots, "visitor@example.net")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("browser walk: %v\n%s", err, stderr.String())
	}
	var r browserReport
	if err := json.Unmarshal(stdout.Bytes(), &r); err != nil {
		t.Fatalf("browser report: %v\n%s", err, stdout.String())
	}
	if len(r.Pages) < 4 || r.Pages[0].Lang != "fr" || r.Pages[2].Lang != "en" {
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
	if r.Answered == nil || !strings.Contains(r.Answered.Status, "visitor@example.net") {
		t.Errorf("answer form: %+v", r.Answered)
	}
	if len(s.inviter.calls) != 1 || !strings.HasSuffix(s.inviter.calls[0], " visitor@example.net") {
		t.Errorf("the form did not reach the inviter: %v", s.inviter.calls)
	}
	if len(r.External) > 0 {
		t.Errorf("pages made requests to other hosts: %v", r.External)
	}
	for _, shot := range r.Screenshots {
		checkNotBlank(t, shot)
	}
}

// checkNotBlank fails when a screenshot is one flat colour.
func checkNotBlank(t *testing.T, path string) {
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
	first := img.At(b.Min.X, b.Min.Y)
	r0, g0, b0, _ := first.RGBA()
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
