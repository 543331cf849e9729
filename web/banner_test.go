package web

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"strconv"
	"testing"
	"time"

	"codeberg.org/passerelle/passerelle/bridges"
	"codeberg.org/passerelle/passerelle/ical"
	"codeberg.org/passerelle/passerelle/internal/browsertest"
	"codeberg.org/passerelle/passerelle/store"
)

// TestBannerLeavesNoHole opens event pages in chromium: when the banner
// does not load (a 404), the date and the place are not pushed down by
// room kept for it; when it loads, it shows at its size.
func TestBannerLeavesNoHole(t *testing.T) {
	s := newSite(t)
	var pic bytes.Buffer
	img := image.NewRGBA(image.Rect(0, 0, 1200, 600))
	for y := 0; y < 600; y++ {
		for x := 0; x < 1200; x++ {
			img.Set(x, y, color.RGBA{R: uint8(x), G: 90, B: uint8(y), A: 255})
		}
	}
	if err := png.Encode(&pic, img); err != nil {
		t.Fatal(err)
	}
	var dot bytes.Buffer
	if err := png.Encode(&dot, image.NewNRGBA(image.Rect(0, 0, 1, 1))); err != nil {
		t.Fatal(err)
	}
	for path, b := range map[string][]byte{"/test-media/banner.png": pic.Bytes(), "/test-media/dot.png": dot.Bytes()} {
		s.mux.HandleFunc("GET "+path, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "image/png")
			w.Write(b)
		})
	}
	flow := &bridges.Events[*store.Tx]{Store: s.db, Renderer: &ical.Renderer{Now: func() time.Time { return now }}, Now: func() time.Time { return now }}
	src, err := s.db.SourceBySlug(context.Background(), "libre-cafe")
	if err != nil {
		t.Fatal(err)
	}
	page := map[string]string{}
	for name, banner := range map[string]string{
		"missing":        s.srv.URL + "/test-media/gone.png",
		"missing-no-alt": s.srv.URL + "/test-media/gone-too.png",
		"tiny":           s.srv.URL + "/test-media/dot.png",
		"working":        s.srv.URL + "/test-media/banner.png",
	} {
		alt := "A banner"
		if name == "missing-no-alt" {
			alt = ""
		}
		ch, err := flow.Apply(context.Background(), bridges.Event{APID: "https://mobilizon.test/events/banner-" + name, Title: "Banner " + name,
			Start: now.Add(72 * time.Hour), Status: bridges.StatusConfirmed, JoinMode: bridges.JoinFree, Public: true, SourceID: src.ID,
			Place:     &bridges.Place{Name: "Maison de quartier", Locality: "Nantes"},
			BannerURL: banner, BannerAlt: alt}, nil)
		if err != nil {
			t.Fatal(err)
		}
		page[name] = s.srv.URL + "/events/" + strconv.FormatInt(ch.Event.ID, 10)
	}

	byURL := map[string]string{}
	for name, u := range page {
		byURL[u] = name
	}
	layouts := browsertest.Measure(t, page["missing"], page["missing-no-alt"], page["tiny"], page["working"])
	if len(layouts) != 8 {
		t.Fatalf("measured %d pages, want 4 at two widths", len(layouts))
	}
	for _, l := range layouts {
		t.Logf("%s %s: title at %.0f, details at %.0f, banner %+v", l.Viewport, l.URL, l.TitleTop, l.DetailsTop, l.Banner)
		if l.DetailsTop < 0 || l.Banner == nil {
			t.Errorf("%s %s: no date and place, or no banner", l.Viewport, l.URL)
			continue
		}
		name := byURL[l.URL]
		// The date and the place come right after the title, whatever
		// the banner does.
		if l.DetailsTop > 300 || l.DetailsTop-l.TitleTop > 150 {
			t.Errorf("%s, banner %s: the date and place start %.0f px down (title at %.0f)", l.Viewport, name, l.DetailsTop, l.TitleTop)
		}
		switch name {
		case "missing", "missing-no-alt", "tiny":
			if l.Banner.Loaded != (name == "tiny") {
				t.Errorf("%s, banner %s: loaded %v", l.Viewport, name, l.Banner.Loaded)
			}
			if l.Banner.Height > 60 {
				t.Errorf("%s, banner %s: it takes %.0f px", l.Viewport, name, l.Banner.Height)
			}
		case "working":
			if !l.Banner.Loaded || l.Banner.Height < 100 || l.Banner.Width < 200 {
				t.Errorf("%s: the working banner does not show: %+v", l.Viewport, l.Banner)
			}
		}
	}
}
