package web

import (
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"codeberg.org/passerelle/passerelle/internal/calparsers"
	"codeberg.org/passerelle/passerelle/internal/golden"
)

// feedparserRead prints what Debian's python3-feedparser (the parser most
// feed readers and planets use) reads in an Atom file, and whether a
// strict XML parser accepts it.
const feedparserRead = `
import feedparser, json, sys, xml.etree.ElementTree as ET
raw = open(sys.argv[1], "rb").read()
ET.fromstring(raw)
d = feedparser.parse(raw)
print(json.dumps({
  "bozo": bool(d.bozo), "bozo_exception": str(d.get("bozo_exception", "")), "version": d.version,
  "title": d.feed.get("title", ""), "id": d.feed.get("id", ""), "updated": d.feed.get("updated", ""),
  "links": [{"rel": l.get("rel", ""), "type": l.get("type", ""), "href": l.get("href", "")} for l in d.feed.get("links", [])],
  "entries": [{"id": e.get("id", ""), "title": e.get("title", ""), "link": e.get("link", ""),
    "updated": e.get("updated", ""), "published": e.get("published", ""), "author": e.get("author", ""),
    "summary": e.get("summary", ""), "content": (e.get("content") or [{}])[0].get("value", ""),
    "content_type": (e.get("content") or [{}])[0].get("type", "")} for e in d.entries],
}))
`

type parsedFeed struct {
	Bozo          bool
	BozoException string `json:"bozo_exception"`
	Version       string
	Title, ID     string
	Updated       string
	Links         []struct{ Rel, Type, Href string }
	Entries       []struct {
		ID, Title, Link, Updated, Published, Author, Summary, Content string
		ContentType                                                   string `json:"content_type"`
	}
}

// TestAtomFeeds reads /feeds/all.atom and a source's feed with
// python3-feedparser: well-formed, not bozo, one entry per upcoming public
// event (the past and the unlisted ones left out) with its title, its
// page, its author and its date and place; an unknown source is a 404,
// and the pages point feed readers at the feeds.
func TestAtomFeeds(t *testing.T) {
	s := newSite(t)
	s.mux.HandleFunc("GET /feeds/{file}", s.pages.ServeAtom)
	py := calparsers.DebianPython(t, "feedparser")

	page := func(name string) string {
		return "https://events.example.org/events/" + strconv.FormatInt(s.ids[name], 10)
	}
	for _, tc := range []struct{ path, title, alternate string }{
		{"/feeds/all.atom", "Passerelle Nantes — Upcoming events", "https://events.example.org/"},
		{"/feeds/libre-cafe.atom", "Libre Café", "https://events.example.org/sources/libre-cafe"},
	} {
		resp, body := s.get(t, tc.path)
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/atom+xml; charset=utf-8" {
			t.Fatalf("%s: %d %s\n%s", tc.path, resp.StatusCode, resp.Header.Get("Content-Type"), body)
		}
		wellFormed(t, tc.path, body)
		if tc.path == "/feeds/libre-cafe.atom" {
			golden.Check(t, filepath.Join("testdata", "libre-cafe.atom"), []byte(body))
		}
		file := filepath.Join(t.TempDir(), "feed.atom")
		if err := os.WriteFile(file, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		var f parsedFeed
		out := calparsers.Run(t, nil, py, "-c", feedparserRead, file)
		if err := json.Unmarshal([]byte(out), &f); err != nil {
			t.Fatalf("%s: %v\n%s", tc.path, err, out)
		}
		if f.Bozo || f.Version != "atom10" {
			t.Errorf("%s: feedparser says bozo %v (%s), version %q", tc.path, f.Bozo, f.BozoException, f.Version)
		}
		self := "https://events.example.org" + tc.path
		if f.Title != tc.title || f.ID != self || f.Updated == "" {
			t.Errorf("%s: title %q, id %q, updated %q", tc.path, f.Title, f.ID, f.Updated)
		}
		links := map[string]string{}
		for _, l := range f.Links {
			links[l.Rel+" "+l.Type] = l.Href
		}
		if links["self application/atom+xml"] != self || links["alternate text/html"] != tc.alternate {
			t.Errorf("%s: links %v", tc.path, f.Links)
		}
		var titles []string
		for _, e := range f.Entries {
			titles = append(titles, e.Title)
		}
		if strings.Join(titles, " | ") != "Café réparation | Cancelled: Assemblée générale | To be confirmed: Hack night" {
			t.Errorf("%s: entries %q", tc.path, titles)
		}
		if len(f.Entries) != 3 {
			continue
		}
		repair := f.Entries[0]
		if repair.ID != "https://mobilizon.test/events/1" || repair.Link != page("repair") || repair.Author != "Libre Café" || repair.Updated == "" {
			t.Errorf("%s: first entry %+v", tc.path, repair)
		}
		if repair.Summary != "Saturday 28 November 2026, 14:00 – 18:00 (Europe/Paris) · Maison de quartier, 3 rue Noire, 44000 Nantes" {
			t.Errorf("%s: summary %q", tc.path, repair.Summary)
		}
		if repair.ContentType != "text/html" || !strings.Contains(repair.Content, "<strong>When</strong> Saturday 28 November 2026, 14:00") ||
			!strings.Contains(repair.Content, "<b>toaster</b>") || strings.Contains(repair.Content, "onerror") {
			t.Errorf("%s: content (%s) %q", tc.path, repair.ContentType, repair.Content)
		}
		if f.Entries[2].Link != page("nyc") {
			t.Errorf("%s: entry links %q", tc.path, f.Entries[2].Link)
		}
	}

	for _, path := range []string{"/feeds/nope.atom", "/feeds/.atom"} {
		if resp, _ := s.get(t, path); resp.StatusCode != 404 {
			t.Errorf("%s: %d, want 404", path, resp.StatusCode)
		}
	}
	resp, _ := s.get(t, "/feeds/all.atom")
	if again, _ := s.get(t, "/feeds/all.atom", "If-None-Match", resp.Header.Get("ETag")); again.StatusCode != 304 {
		t.Errorf("a conditional GET of an unchanged feed: %d", again.StatusCode)
	}

	_, home := s.get(t, "/")
	_, src := s.get(t, "/sources/libre-cafe")
	if !strings.Contains(home, `<link rel="alternate" type="application/atom+xml" title="Passerelle Nantes — Upcoming events" href="https://events.example.org/feeds/all.atom">`) ||
		!strings.Contains(src, `type="application/atom+xml" title="Libre Café" href="https://events.example.org/feeds/libre-cafe.atom">`) {
		t.Error("the pages do not link their Atom feeds")
	}
}

// wellFormed reads the whole document with Go's XML decoder too.
func wellFormed(t *testing.T, name, doc string) {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader(doc))
	for {
		_, err := d.Token()
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			t.Fatalf("%s is not well-formed XML: %v", name, err)
		}
	}
}
