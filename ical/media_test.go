package ical

import (
	"strings"
	"testing"
	"time"

	ics "github.com/arran4/golang-ical"

	"codeberg.org/passerelle/passerelle/bridges"
)

// TestBannerThroughPasserelle: with MediaURL, the banner is IMAGE (RFC
// 7986) and ATTACH on passerelle, and the remote URL appears nowhere.
func TestBannerThroughPasserelle(t *testing.T) {
	r := &Renderer{MediaURL: func(u string) string { return "https://p.example/media/abc" },
		MediaHTML: func(h string) string {
			return strings.ReplaceAll(h, "https://m.test/media/inline.png", "https://p.example/media/def")
		}}
	ev := &bridges.Event{APID: "https://m.test/events/1", Title: "Banner", Start: time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC),
		Status: bridges.StatusConfirmed, BannerURL: "https://m.test/media/banner.svg",
		DescriptionHTML: `<p>Hi <img src="https://m.test/media/inline.png"></p>`}
	text, err := r.RenderEvent(ev)
	if err != nil {
		t.Fatal(err)
	}
	s := string(text)
	for _, want := range []string{"IMAGE;VALUE=URI:https://p.example/media/abc\r\n", "ATTACH:https://p.example/media/abc\r\n", "https://p.example/media/def"} {
		if !strings.Contains(s, want) {
			t.Errorf("calendar lacks %q:\n%s", want, s)
		}
	}
	if strings.Contains(s, "m.test/media") || strings.Contains(s, "svg") {
		t.Errorf("calendar names the remote image:\n%s", s)
	}
	cal, err := ics.ParseCalendar(strings.NewReader(s))
	if err != nil || len(cal.Events()) != 1 || cal.Events()[0].GetProperty("IMAGE") == nil {
		t.Fatalf("parse back: %v", err)
	}
}
