package main

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"codeberg.org/passerelle/passerelle/bridges"
	"codeberg.org/passerelle/passerelle/ical"
	"codeberg.org/passerelle/passerelle/internal/binarytest"
	"codeberg.org/passerelle/passerelle/internal/browsertest"
	"codeberg.org/passerelle/passerelle/internal/mailtest"
	"codeberg.org/passerelle/passerelle/internal/storetest"
	"codeberg.org/passerelle/passerelle/internal/wait"
	"codeberg.org/passerelle/passerelle/media"
	"codeberg.org/passerelle/passerelle/store"
)

// TestVisitorInBrowserGetsInvitation is issue 8's whole path on the real
// binary: a visitor in chromium opens the front page, follows an event,
// downloads its .ics, asks for the invitation by email — and the
// invitation reaches a real SMTP server. The events have banners on their
// own server: the binary fetches them, and no page the visitor opens
// makes a request to another host than passerelle.
func TestVisitorInBrowserGetsInvitation(t *testing.T) {
	smtpd := mailtest.StartSMTP(t)
	var pic bytes.Buffer
	img := image.NewRGBA(image.Rect(0, 0, 600, 300))
	for y := 0; y < 300; y++ {
		for x := 0; x < 600; x++ {
			img.Set(x, y, color.RGBA{R: uint8(x), G: 120, B: uint8(y), A: 255})
		}
	}
	if err := png.Encode(&pic, img); err != nil {
		t.Fatal(err)
	}
	bannerHits := 0
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		bannerHits++
		w.Header().Set("Content-Type", "image/png")
		w.Write(pic.Bytes())
	}))
	defer origin.Close()
	banner := origin.URL + "/media/banner.png"
	ctx := context.Background()
	dir := t.TempDir()
	addr := binarytest.FreeAddr(t, "127.0.0.1")
	dbURL := storetest.SQLiteURL(t)

	db, err := store.Open(ctx, dbURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	src := &bridges.Source{Slug: "velo", Name: "Vélo libre", ActorURL: "http://127.0.0.1:9/@velo", Software: "mobilizon", State: bridges.SourceFollowed, CreatedAt: time.Now()}
	if err := db.Tx(ctx, func(ctx context.Context, tx *store.Tx) error { return tx.SaveSource(ctx, src) }); err != nil {
		t.Fatal(err)
	}
	// The media listener enqueues the banner's fetch with each event, as
	// serve's event flow does; the binary's workers run it.
	flow := &bridges.Events[*store.Tx]{Store: db, Renderer: &ical.Renderer{}, Listeners: []bridges.ChangeListener[*store.Tx]{media.Listener{}}}
	start := time.Now().Add(96 * time.Hour).Truncate(time.Hour)
	for i, title := range []string{"Atelier réparation vélo", "Balade du dimanche"} {
		_, err := flow.Apply(ctx, bridges.Event{APID: fmt.Sprintf("http://127.0.0.1:9/events/%d", i), URL: fmt.Sprintf("http://127.0.0.1:9/events/%d", i),
			Title: title, Start: start.Add(time.Duration(i) * 24 * time.Hour), End: start.Add(time.Duration(i)*24*time.Hour + 2*time.Hour),
			TimeZone: "Europe/Paris", Status: bridges.StatusConfirmed, JoinMode: bridges.JoinFree, Public: true,
			Place:         &bridges.Place{Name: "Atelier", Locality: "Nantes"},
			OrganizerName: "Vélo libre", OrganizerURL: src.ActorURL, SourceID: src.ID, BannerURL: banner, BannerAlt: "Des vélos"}, nil)
		if err != nil {
			t.Fatal(err)
		}
	}
	db.Close()

	binarytest.Start(t, dir, addr, []string{
		"PASSERELLE_DATABASE_URL=" + dbURL,
		"PASSERELLE_PUBLIC_URL=http://" + addr,
		"PASSERELLE_INSTANCE_NAME=Passerelle Nantes",
		"PASSERELLE_FEDERATION_ALLOW_PRIVATE_NETWORKS=true",
		"PASSERELLE_MAIL_FROM=Passerelle <rsvp@example.org>",
		"PASSERELLE_MAIL_SMTP=" + smtpd.URL(),
		"PASSERELLE_MAIL_SEND_INTERVAL=0s",
	})
	wait.For(t, 30*time.Second, "the banner to be fetched", func() bool {
		resp, err := http.Get("http://" + addr + media.Path(banner))
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	shots, _ := filepath.Abs(filepath.Join("..", "..", "web", "screenshots", "binary"))
	r := browsertest.Walk(t, "http://"+addr, shots, "visitor@example.net")
	r.Check(t, "visitor@example.net")

	if bannerHits != 1 {
		t.Errorf("the banner's server was asked %d times, want once (by passerelle)", bannerHits)
	}
	resp, err := http.Get("http://" + addr + "/events/1")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(page), `<img class="banner" src="`+media.Path(banner)+`"`) || strings.Contains(string(page), origin.URL) {
		t.Errorf("the event page does not show the banner from passerelle:\n%s", page)
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "img-src 'self';") {
		t.Errorf("CSP %q", csp)
	}

	resp, err = http.Get("http://" + addr + "/sources/velo")
	if err != nil {
		t.Fatal(err)
	}
	page, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(page), "rsvp&#43;join-velo@example.org") {
		t.Errorf("the source page does not show the join address")
	}

	msgs := smtpd.Wait(t, 1, 30*time.Second)
	m := string(msgs[0])
	for _, want := range []string{"X-Envelope-To: visitor@example.net", "method=REQUEST", "Atelier r", "List-Unsubscribe-Post: List-Unsubscribe=One-Click"} {
		if !strings.Contains(m, want) {
			t.Errorf("invitation lacks %q:\n%s", want, m)
		}
	}
}
