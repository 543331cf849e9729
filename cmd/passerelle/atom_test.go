package main

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"codeberg.org/passerelle/passerelle/internal/binarytest"
)

// TestNodeInfoOutboundFeedsExist (issue 14 item 7): every outbound format
// the binary's NodeInfo lists is served (atom1.0 at /feeds/all.atom, which
// was a 404), an unknown source's feed is a 404, the home page points feed
// readers at it, and nodeName is instance.name.
func TestNodeInfoOutboundFeedsExist(t *testing.T) {
	dir := t.TempDir()
	addr := binarytest.FreeAddr(t, "127.0.0.1")
	binarytest.Start(t, dir, addr, []string{"PASSERELLE_INSTANCE_NAME=Vélo à Lyon", "PASSERELLE_PUBLIC_URL=http://" + addr})
	get := func(path string) (*http.Response, string) {
		t.Helper()
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	_, body := get("/nodeinfo/2.1")
	var ni struct {
		Services struct{ Outbound []string }
		Metadata struct{ NodeName string }
	}
	if err := json.Unmarshal([]byte(body), &ni); err != nil {
		t.Fatalf("nodeinfo: %v\n%s", err, body)
	}
	if ni.Metadata.NodeName != "Vélo à Lyon" {
		t.Errorf("nodeName %q, want instance.name", ni.Metadata.NodeName)
	}
	paths := map[string]string{"atom1.0": "/feeds/all.atom"}
	if len(ni.Services.Outbound) == 0 {
		t.Error("nodeinfo lists no outbound service")
	}
	for _, svc := range ni.Services.Outbound {
		path, known := paths[svc]
		if !known {
			t.Errorf("nodeinfo lists %q, which this test does not know how to fetch", svc)
			continue
		}
		resp, feed := get(path)
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/atom+xml; charset=utf-8" ||
			!strings.Contains(feed, `<feed xmlns="http://www.w3.org/2005/Atom">`) || !strings.Contains(feed, "Vélo à Lyon") {
			t.Errorf("%s (%s): %d %s\n%s", path, svc, resp.StatusCode, resp.Header.Get("Content-Type"), feed)
		}
	}
	for _, path := range []string{"/feeds/nope.atom", "/feeds/nope.ics"} {
		if resp, _ := get(path); resp.StatusCode != 404 {
			t.Errorf("%s: %d, want 404", path, resp.StatusCode)
		}
	}
	if resp, _ := get("/feeds/all.ics"); resp.StatusCode != 200 {
		t.Errorf("/feeds/all.ics: %d", resp.StatusCode)
	}
	if _, home := get("/"); !strings.Contains(home, `<link rel="alternate" type="application/atom+xml"`) || !strings.Contains(home, "/feeds/all.atom") {
		t.Error("the home page does not point at the Atom feed")
	}
}
