package web

import (
	"bytes"
	"context"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"codeberg.org/passerelle/passerelle/bridges"
	"codeberg.org/passerelle/passerelle/ical"
	"codeberg.org/passerelle/passerelle/internal/browsertest"
	"codeberg.org/passerelle/passerelle/internal/outbound"
	"codeberg.org/passerelle/passerelle/internal/wait"
	"codeberg.org/passerelle/passerelle/media"
	"codeberg.org/passerelle/passerelle/store"
)

// bombHeader is the 33-byte head of a PNG that declares 20,000×20,000
// pixels (1.6 GB decoded).
func bombHeader() []byte {
	var ihdr bytes.Buffer
	ihdr.WriteString("IHDR")
	binary.Write(&ihdr, binary.BigEndian, uint32(20000))
	binary.Write(&ihdr, binary.BigEndian, uint32(20000))
	ihdr.Write([]byte{8, 6, 0, 0, 0})
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	binary.Write(&b, binary.BigEndian, uint32(13))
	b.Write(ihdr.Bytes())
	binary.Write(&b, binary.BigEndian, crc32.ChecksumIEEE(ihdr.Bytes()))
	return b.Bytes()
}

// TestBannerLeavesNoHole stores events whose banners are on another
// server, lets the media jobs fetch them, and opens the pages in
// chromium: a banner that was fetched shows, from passerelle, at its
// size; one that could not be (missing, an SVG or HTML page served as
// image/png, a decompression bomb) is left out, and the date and the
// place follow the title with no room kept for it. No page makes a
// request to another host.
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
	// The events' server: another origin than the pages' (localhost
	// against 127.0.0.1).
	remote := http.NewServeMux()
	for path, b := range map[string][]byte{
		"/test-media/banner.png": pic.Bytes(),
		"/test-media/dot.png":    dot.Bytes(),
		"/test-media/svg.png":    []byte(`<svg xmlns="http://www.w3.org/2000/svg" width="1200" height="600"><script>alert(1)</script></svg>`),
		"/test-media/html.png":   []byte(`<!DOCTYPE html><html><body><script>alert(1)</script></body></html>`),
		"/test-media/bomb.png":   bombHeader(),
	} {
		remote.HandleFunc("GET "+path, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "image/png")
			w.Write(b)
		})
	}
	s.mux.Handle("/test-media/", remote)
	other := strings.Replace(s.srv.URL, "127.0.0.1", "localhost", 1)

	cache := &media.Cache{DB: s.db, Fetcher: &media.Fetcher{Client: outbound.New(outbound.Options{AllowPrivateNetworks: true, Timeout: 5 * time.Second}), AllowPrivate: true}}
	s.pages.Media = cache
	s.mux.Handle("GET /media/{hash}", cache)
	workers := river.NewWorkers()
	cache.Register(workers, time.Hour)
	stop, err := s.db.StartJobs(context.Background(), store.Jobs{Workers: workers, PollInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer stop(context.Background())

	flow := &bridges.Events[*store.Tx]{Store: s.db, Renderer: &ical.Renderer{Now: func() time.Time { return now }}, Now: func() time.Time { return now },
		Listeners: []bridges.ChangeListener[*store.Tx]{media.Listener{}}}
	src, err := s.db.SourceBySlug(context.Background(), "libre-cafe")
	if err != nil {
		t.Fatal(err)
	}
	page := map[string]string{}
	banners := map[string]string{
		"missing":        other + "/test-media/gone.png",
		"missing-no-alt": other + "/test-media/gone-too.png",
		"svg":            other + "/test-media/svg.png",
		"html":           other + "/test-media/html.png",
		"bomb":           other + "/test-media/bomb.png",
		"tiny":           other + "/test-media/dot.png",
		"working":        other + "/test-media/banner.png",
	}
	for name, banner := range banners {
		alt := "A banner"
		if name == "missing-no-alt" {
			alt = ""
		}
		ch, err := flow.Apply(context.Background(), bridges.Event{APID: "https://mobilizon.test/events/banner-" + name, Title: "Banner " + name,
			Start: now.Add(72 * time.Hour), Status: bridges.StatusConfirmed, JoinMode: bridges.JoinFree, Public: true, SourceID: src.ID,
			Place:           &bridges.Place{Name: "Maison de quartier", Locality: "Nantes"},
			DescriptionHTML: `<p>Inside: <img src="` + other + `/test-media/dot.png" alt="dot"> and <img src="` + other + `/test-media/svg.png" alt="svg"></p>`,
			BannerURL:       banner, BannerAlt: alt}, nil)
		if err != nil {
			t.Fatal(err)
		}
		page[name] = s.srv.URL + "/events/" + strconv.FormatInt(ch.Event.ID, 10)
	}
	wait.For(t, 20*time.Second, "the image jobs to finish", func() bool {
		counts, err := s.db.JobCounts(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range counts {
			if c.Kind == "media_fetch" && c.State != "completed" && c.State != "cancelled" {
				return false
			}
		}
		return len(counts) > 0
	})

	byURL := map[string]string{}
	var urls []string
	for name, u := range page {
		byURL[u] = name
		urls = append(urls, u)
	}
	layouts := browsertest.Measure(t, urls...)
	if len(layouts) != 2*len(page) {
		t.Fatalf("measured %d pages, want %d at two widths", len(layouts), len(page))
	}
	for _, l := range layouts {
		name := byURL[l.URL]
		t.Logf("%s %s (%s): title at %.0f, details at %.0f, banner %+v, external %v", l.Viewport, l.URL, name, l.TitleTop, l.DetailsTop, l.Banner, l.External)
		if len(l.External) > 0 {
			t.Errorf("%s, banner %s: requests to other hosts: %v", l.Viewport, name, l.External)
		}
		if l.DetailsTop < 0 {
			t.Errorf("%s %s: no date and place", l.Viewport, l.URL)
			continue
		}
		// The date and the place come right after the title, whatever
		// the banner does.
		if l.DetailsTop > 300 || l.DetailsTop-l.TitleTop > 150 {
			t.Errorf("%s, banner %s: the date and place start %.0f px down (title at %.0f)", l.Viewport, name, l.DetailsTop, l.TitleTop)
		}
		switch name {
		case "tiny", "working":
			if l.Banner == nil || !l.Banner.Loaded || l.Banner.Src != media.Path(banners[name]) {
				t.Errorf("%s: the %s banner does not show from passerelle: %+v", l.Viewport, name, l.Banner)
			} else if name == "working" && (l.Banner.Height < 100 || l.Banner.Width < 200) {
				t.Errorf("%s: the working banner shows at %.0f×%.0f", l.Viewport, l.Banner.Width, l.Banner.Height)
			}
		default:
			if l.Banner != nil {
				t.Errorf("%s, banner %s: shown (%+v), want left out", l.Viewport, name, l.Banner)
			}
		}
	}
	// The description keeps its fetched image, from passerelle, and
	// drops the refused one.
	_, body := s.get(t, strings.TrimPrefix(page["working"], s.srv.URL))
	if !strings.Contains(body, `<img src="`+media.Path(other+"/test-media/dot.png")+`" alt="dot">`) || strings.Contains(body, "svg.png") || strings.Contains(body, "localhost") {
		t.Errorf("description images not rewritten:\n%s", body)
	}
}
