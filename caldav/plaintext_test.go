package caldav_test

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"codeberg.org/passerelle/passerelle/bridges"
	"codeberg.org/passerelle/passerelle/internal/calendarstest"
	"codeberg.org/passerelle/passerelle/internal/calparsers"
	"codeberg.org/passerelle/passerelle/internal/storetest"
	"codeberg.org/passerelle/passerelle/store"
)

// tag matches an HTML start or end tag, which a calendar app would show as
// it is.
var tag = regexp.MustCompile(`</?[a-zA-Z][a-zA-Z0-9]*(\s[^>]*)?/?>`)

// TestFeedsCarryPlainText: a source whose summary is HTML (as Mobilizon
// sends a group's) and an event with only an HTML description give
// calendars without tags: X-WR-CALDESC, the calendar's DESCRIPTION, the
// event's DESCRIPTION and CalDAV's calendar-description are plain text,
// as ical.js reads them too; the HTML stays in X-ALT-DESC.
func TestFeedsCarryPlainText(t *testing.T) {
	db := storetest.New(t)
	env := calendarstest.Start(t, db)
	src := &bridges.Source{Slug: "lyon-velo", Name: "Lyon à vélo", ActorURL: "https://mobilizon.example/@lyon_velo",
		Summary: `<p>Balades et ateliers vélo à Lyon.</p>`, Software: "mobilizon", State: bridges.SourceFollowed, CreatedAt: time.Now()}
	if err := db.Tx(context.Background(), func(ctx context.Context, tx *store.Tx) error { return tx.SaveSource(ctx, src) }); err != nil {
		t.Fatal(err)
	}
	html := `<p>Rendez-vous <strong>place Bellecour</strong> &amp; départ à 10&nbsp;h.</p><ul><li>casque</li><li>gilet</li></ul><p>Voir <a href="https://velo.example/balade">notre site</a>.</p>`
	stored := env.Apply(t, bridges.Event{APID: "https://mobilizon.example/events/balade", SourceID: src.ID, Title: "Balade du dimanche",
		DescriptionHTML: html, Start: time.Date(2031, 5, 4, 10, 0, 0, 0, time.UTC), End: time.Date(2031, 5, 4, 12, 0, 0, 0, time.UTC),
		Status: bridges.StatusConfirmed, JoinMode: bridges.JoinFree, Public: true, Updated: time.Date(2031, 4, 1, 0, 0, 0, 0, time.UTC)})

	const wantCalDesc = "Balades et ateliers vélo à Lyon."
	wantDesc := []string{"Rendez-vous place Bellecour & départ à 10 h.", "- casque\n- gilet", "Voir notre site (https://velo.example/balade)."}
	for _, path := range []string{"/feeds/lyon-velo.ics", "/feeds/all.ics", "/events/" + strconv.FormatInt(stored.ID, 10) + ".ics"} {
		resp, body := do(t, "GET", env.URL+path, "")
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d %s", path, resp.StatusCode, body)
		}
		unfolded := strings.ReplaceAll(body, "\r\n ", "")
		for _, line := range strings.Split(unfolded, "\r\n") {
			name, _, _ := strings.Cut(line, ":")
			if strings.HasPrefix(name, "X-ALT-DESC") {
				if !strings.Contains(line, "<strong>place Bellecour</strong>") {
					t.Errorf("%s: X-ALT-DESC lost the HTML: %s", path, line)
				}
				continue
			}
			if tag.MatchString(line) {
				t.Errorf("%s: a tag in %s", path, line)
			}
		}
		if path == "/feeds/lyon-velo.ics" && !strings.Contains(unfolded, "\r\nX-WR-CALDESC:"+wantCalDesc+"\r\n") {
			t.Errorf("%s: X-WR-CALDESC is not %q:\n%s", path, wantCalDesc, body)
		}

		file := filepath.Join(t.TempDir(), "cal.ics")
		if err := os.WriteFile(file, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		cal := calparsers.ICALjsCalendar(t, file)
		if path == "/feeds/lyon-velo.ics" && (cal.XWRCalDesc != wantCalDesc || cal.Description != wantCalDesc) {
			t.Errorf("%s: ical.js reads X-WR-CALDESC %q and DESCRIPTION %q, want %q", path, cal.XWRCalDesc, cal.Description, wantCalDesc)
		}
		if len(cal.Events) != 1 {
			t.Fatalf("%s: ical.js reads %d events", path, len(cal.Events))
		}
		for _, w := range wantDesc {
			if !strings.Contains(cal.Events[0].Description, w) {
				t.Errorf("%s: ical.js reads DESCRIPTION %q, want it to hold %q", path, cal.Events[0].Description, w)
			}
		}
		if tag.MatchString(cal.Events[0].Description) {
			t.Errorf("%s: ical.js reads tags in DESCRIPTION %q", path, cal.Events[0].Description)
		}
	}

	resp, body := do(t, "PROPFIND", env.URL+"/dav/calendars/public/lyon-velo/", propfindCal, "Depth", "0")
	if resp.StatusCode != 207 || !strings.Contains(body, wantCalDesc+"</") || strings.Contains(body, "&lt;p&gt;") {
		t.Errorf("calendar-description is not plain text: %d\n%s", resp.StatusCode, body)
	}
}
