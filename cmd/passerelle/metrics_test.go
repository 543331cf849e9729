package main

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"codeberg.org/passerelle/passerelle/internal/binarytest"
	"codeberg.org/passerelle/passerelle/internal/calparsers"
	"codeberg.org/passerelle/passerelle/internal/testenv"
)

// TestMetrics (issue 18 item 2): with metrics.enabled and a token, the
// binary serves /metrics only to a scrape with the token; after some work
// (a refused inbox POST, calendar and feed requests) the counters and
// histograms carry it; the database's gauges and the Go runtime's are
// there; no label carries an address, a URL or the token; and Prometheus'
// own promtool accepts the output. With metrics.listen, /metrics moves to
// its own address.
func TestMetrics(t *testing.T) {
	promtool := testenv.LookPath(t, "promtool", "apt-get install prometheus")
	dir := t.TempDir()
	addr := binarytest.FreeAddr(t, "127.0.0.1")
	const token = "scrape-token-0123456789"
	binarytest.Start(t, dir, addr, []string{"PASSERELLE_PUBLIC_URL=http://" + addr,
		"PASSERELLE_METRICS_ENABLED=true", "PASSERELLE_METRICS_TOKEN=" + token, "PASSERELLE_METRICS_PROFILING=true"})
	base := "http://" + addr
	do := func(method, path, body string, hdr ...string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	// Some work: an unsigned Create (refused), calendars, a feed.
	do("POST", "/inbox", `{"@context":"https://www.w3.org/ns/activitystreams","type":"Create","id":"https://evil.example/1","actor":"https://evil.example/@x","object":{"type":"Event"}}`,
		"Content-Type", "application/activity+json")
	do("PROPFIND", "/dav/calendars/public/", "", "Depth", "1")
	do("GET", "/feeds/all.ics", "")

	if resp, _ := do("GET", "/metrics", ""); resp.StatusCode != 401 {
		t.Errorf("/metrics without the token: %d", resp.StatusCode)
	}
	resp, out := do("GET", "/metrics", "", "Authorization", "Bearer "+token)
	if resp.StatusCode != 200 {
		t.Fatalf("/metrics: %d %s", resp.StatusCode, out)
	}
	for _, want := range []string{
		`passerelle_inbox_activities_total{result="bad_signature",type="Create"} 1`,
		`passerelle_http_request_duration_seconds_count{code="207",handler="caldav",method="PROPFIND"} 1`,
		`passerelle_http_request_duration_seconds_count{code="200",handler="feed",method="GET"} 1`,
		"passerelle_database_up 1", "passerelle_events 0", "passerelle_participants 0", "passerelle_delivery_queue_length 0",
		"go_goroutines ", "process_cpu_seconds_total ",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	// Bounded labels: no address, URL, host or token in any label value.
	for _, m := range regexp.MustCompile(`="([^"]*)"`).FindAllStringSubmatch(out, -1) {
		if v := m[1]; strings.ContainsAny(v, "@/:") || strings.Contains(v, "evil") || strings.Contains(v, token) {
			t.Errorf("label value %q carries an address, a URL or the token", v)
		}
	}
	file := filepath.Join(dir, "metrics.txt")
	if err := os.WriteFile(file, []byte(out), 0o600); err != nil {
		t.Fatal(err)
	}
	if res, err := calparsers.RunErr(t, nil, "sh", "-c", promtool+" check metrics < "+file); err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, res)
	}

	// metrics.profiling: Go's profiles beside /metrics, behind its token.
	if resp, _ := do("GET", "/debug/pprof/heap", ""); resp.StatusCode != 401 {
		t.Errorf("/debug/pprof/heap without the token: %d", resp.StatusCode)
	}
	if resp, out := do("GET", "/debug/pprof/profile?seconds=1", "", "Authorization", "Bearer "+token); resp.StatusCode != 200 || !strings.HasPrefix(out, "\x1f\x8b") {
		t.Errorf("/debug/pprof/profile: %d, %d bytes, not a gzipped profile", resp.StatusCode, len(out))
	}

	// metrics.listen: /metrics on its own address, not beside the pages.
	dir2 := t.TempDir()
	addr2, maddr := binarytest.FreeAddr(t, "127.0.0.1"), binarytest.FreeAddr(t, "127.0.0.1")
	binarytest.Start(t, dir2, addr2, []string{"PASSERELLE_PUBLIC_URL=http://" + addr2,
		"PASSERELLE_METRICS_ENABLED=true", "PASSERELLE_METRICS_LISTEN=" + maddr})
	if resp, err := http.Get("http://" + addr2 + "/metrics"); err != nil || resp.StatusCode != 404 {
		t.Errorf("/metrics beside the pages with metrics.listen set: %v %v", resp, err)
	}
	resp, err := http.Get("http://" + maddr + "/metrics")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("/metrics on metrics.listen: %v %v", resp, err)
	}
	resp.Body.Close()
	// Without metrics.profiling, no profiles anywhere.
	if resp, err := http.Get("http://" + maddr + "/debug/pprof/"); err != nil || resp.StatusCode != 404 {
		t.Errorf("/debug/pprof/ without metrics.profiling: %v %v", resp, err)
	}
}
