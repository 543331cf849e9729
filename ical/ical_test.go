package ical

import (
	"bytes"
	"codeberg.org/passerelle/passerelle/internal/golden"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	ics "github.com/arran4/golang-ical"

	"codeberg.org/passerelle/passerelle/bridges"
	"codeberg.org/passerelle/passerelle/internal/eventfixtures"
)

func TestRenderGolden(t *testing.T) {
	r := &Renderer{Now: func() time.Time { return mustTimeT(t, "2025-01-01T00:00:00Z") }}
	for name, ev := range eventfixtures.Events() {
		t.Run(name, func(t *testing.T) {
			got, err := r.RenderEvent(ev)
			if err != nil {
				t.Fatal(err)
			}
			checkWellFormed(t, got)
			golden.Check(t, filepath.Join("testdata", name+".ics"), got)
			again, _ := r.RenderEvent(ev)
			if !bytes.Equal(got, again) {
				t.Error("rendering the same event twice gave different bytes (ETags would churn)")
			}
		})
	}
}

// checkWellFormed checks RFC 5545's physical rules: CRLF everywhere, no
// line over 75 octets, no UTF-8 sequence split by a fold, and that
// golang-ical parses it back.
func checkWellFormed(t *testing.T, b []byte) {
	t.Helper()
	if bytes.Contains(bytes.ReplaceAll(b, []byte("\r\n"), nil), []byte("\n")) {
		t.Error("bare LF in output")
	}
	for i, l := range bytes.Split(bytes.TrimSuffix(b, []byte("\r\n")), []byte("\r\n")) {
		if len(l) > 75 {
			t.Errorf("line %d is %d octets long: %q", i+1, len(l), l)
		}
	}
	unfolded := bytes.ReplaceAll(b, []byte("\r\n "), nil)
	if !strings.HasPrefix(string(unfolded), "BEGIN:VCALENDAR\r\n") {
		t.Error("does not start with BEGIN:VCALENDAR")
	}
	for _, l := range strings.Split(string(unfolded), "\r\n") {
		if !utf8Valid(l) {
			t.Errorf("invalid UTF-8 after unfolding: %q", l)
		}
	}
	if _, err := ics.ParseCalendar(bytes.NewReader(b)); err != nil {
		t.Errorf("golang-ical cannot parse it back: %v", err)
	}
}

func utf8Valid(s string) bool { return strings.ToValidUTF8(s, "\uFFFD") == s }

func TestOrganizerCNStaysQuoted(t *testing.T) {
	ev := eventfixtures.Events()["paris-dst"]
	b, err := (&Renderer{}).RenderEvent(ev)
	if err != nil {
		t.Fatal(err)
	}
	unfolded := string(bytes.ReplaceAll(b, []byte("\r\n "), nil))
	if !strings.Contains(unfolded, "\r\nORGANIZER;CN=\"Doe, John\":https://mobilizon.example/@john\r\n") {
		t.Errorf("ORGANIZER not written with a quoted CN:\n%s", unfolded)
	}
	cal, err := ics.ParseCalendar(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	org := cal.Events()[0].GetProperty(ics.ComponentPropertyOrganizer)
	if got := org.ICalParameters["CN"]; len(got) != 1 || got[0] != "Doe, John" {
		t.Errorf("parsed CN = %q, want [\"Doe, John\"]", got)
	}
}

func TestParamValue(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"Jane", "Jane"},
		{"Doe, John", `"Doe, John"`},
		{"a:b;c", `"a:b;c"`},
		{`Fablab "Le Comptoir"`, `"Fablab ^'Le Comptoir^'"`},
		{"x^y", `"x^^y"`},
		{"line\nbreak", `"line^nbreak"`},
		{"", `""`},
		{"bell\x07", "bell"},
	} {
		if got := ParamValue(tc.in); got != tc.want {
			t.Errorf("ParamValue(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

func TestFoldKeepsUTF8(t *testing.T) {
	ev := *eventfixtures.Events()["paris-dst"]
	ev.Title = strings.Repeat("é🎉", 40)
	b, err := (&Renderer{}).RenderEvent(&ev)
	if err != nil {
		t.Fatal(err)
	}
	checkWellFormed(t, b)
	cal, _ := ics.ParseCalendar(bytes.NewReader(b))
	if got := cal.Events()[0].GetProperty(ics.ComponentPropertySummary).Value; got != ev.Title {
		t.Errorf("summary after round trip = %q, want %q", got, ev.Title)
	}
}

// TestTimezoneInstants resolves DTSTART and DTEND through the generated
// VTIMEZONE alone (not through Go's zone data) and checks that they name
// the instants the event has, on both sides of each DST change.
func TestTimezoneInstants(t *testing.T) {
	for _, name := range []string{"paris-dst", "new-york-cancelled"} {
		ev := eventfixtures.Events()[name]
		cal, vev, err := EventCalendar(ev)
		if err != nil {
			t.Fatal(err)
		}
		tzs := cal.Timezones()
		if len(tzs) != 1 {
			t.Fatalf("%s: %d VTIMEZONEs, want 1", name, len(tzs))
		}
		for prop, want := range map[ics.ComponentProperty]time.Time{ics.ComponentPropertyDtStart: ev.Start, ics.ComponentPropertyDtEnd: ev.End} {
			p := vev.GetProperty(prop)
			if tzid := p.ICalParameters["TZID"]; len(tzid) != 1 || tzid[0] != ev.TimeZone {
				t.Errorf("%s %s TZID = %v, want %s", name, prop, tzid, ev.TimeZone)
			}
			got := resolve(t, tzs[0], p.Value)
			if !got.Equal(want) {
				t.Errorf("%s %s %s resolves to %s, want %s", name, prop, p.Value, got.UTC(), want.UTC())
			}
		}
	}
}

// resolve turns a local DATE-TIME into an instant with the observances of
// a VTIMEZONE: the observance in effect is the last one whose onset is not
// after the instant.
func resolve(t *testing.T, tz *ics.VTimezone, local string) time.Time {
	t.Helper()
	l, err := time.Parse(localFormat, local)
	if err != nil {
		t.Fatal(err)
	}
	var best time.Time
	bestOff := 0
	found := false
	for _, sub := range tz.SubComponents() {
		var props []ics.IANAProperty
		switch o := sub.(type) {
		case *ics.Standard:
			props = o.Properties
		case *ics.Daylight:
			props = o.Properties
		}
		var start time.Time
		var from, to int
		for _, p := range props {
			switch p.IANAToken {
			case "DTSTART":
				start, _ = time.Parse(localFormat, p.Value)
			case "TZOFFSETFROM":
				from = parseOffset(t, p.Value)
			case "TZOFFSETTO":
				to = parseOffset(t, p.Value)
			}
		}
		onset := start.Add(-time.Duration(from) * time.Second)
		candidate := l.Add(-time.Duration(to) * time.Second)
		if !candidate.Before(onset) && (!found || onset.After(best)) {
			best, bestOff, found = onset, to, true
		}
	}
	if !found {
		t.Fatalf("no observance covers %s", local)
	}
	return l.Add(-time.Duration(bestOff) * time.Second)
}

func parseOffset(t *testing.T, s string) int {
	t.Helper()
	h, err1 := strconv.Atoi(s[1:3])
	m, err2 := strconv.Atoi(s[3:5])
	if err1 != nil || err2 != nil {
		t.Fatalf("bad offset %q", s)
	}
	v := h*3600 + m*60
	if s[0] == '-' {
		v = -v
	}
	return v
}

func TestTimezoneShapes(t *testing.T) {
	paris, _ := time.LoadLocation("Europe/Paris")
	tokyo, _ := time.LoadLocation("Asia/Tokyo")
	at := mustTimeT(t, "2025-06-01T12:00:00Z")
	for _, tc := range []struct {
		loc      *time.Location
		from, to time.Time
		want     int
	}{
		// Jan 1st in winter time, spring forward, fall back.
		{paris, at, at, 3},
		{paris, at, at.AddDate(1, 0, 0), 5},
		// No transition since 1951: the one observance in effect.
		{tokyo, at, at, 1},
		{time.UTC, at, at, 1},
	} {
		tz := Timezone(tc.loc, tc.from, tc.to)
		if got := len(tz.SubComponents()); got != tc.want {
			t.Errorf("%s %d–%d: %d observances, want %d:\n%s", tc.loc, tc.from.Year(), tc.to.Year(), got, tc.want, SerializeComponent(tz))
		}
	}
}

func TestRenderRejects(t *testing.T) {
	for name, ev := range map[string]*bridges.Event{
		"no id":     {Title: "x", Start: time.Now()},
		"no start":  {APID: "https://x.example/e/1", Title: "x"},
		"bad zone":  {APID: "https://x.example/e/1", Title: "x", Start: time.Now(), TimeZone: "Mars/Olympus"},
		"nil event": nil,
	} {
		if _, err := (&Renderer{}).RenderEvent(ev); err == nil {
			t.Errorf("%s: rendered without error", name)
		}
	}
}

func TestHTMLText(t *testing.T) {
	for _, c := range []struct{ name, in, want string }{
		{"paragraphs, links, br",
			`<p>Hello <strong>world</strong></p><p></p><p>See <a href="https://x.example/">the site</a> or <a href="https://y.example/">https://y.example/</a><br>bye</p>`,
			"Hello world\n\nSee the site (https://x.example/) or https://y.example/\nbye"},
		{"a source's summary", `<p>Balades et ateliers vélo à Lyon.</p>`, "Balades et ateliers vélo à Lyon."},
		{"list and entities", `<p>Au programme&nbsp;:</p><ul><li>bilan &amp; vote</li><li>pot</li></ul>`,
			"Au programme :\n\n- bilan & vote\n- pot"},
		{"plain text keeps its lines", "Line one\nline two\n\nA < B", "Line one\nline two\n\nA < B"},
	} {
		if got := HTMLText(c.in); got != c.want {
			t.Errorf("%s: HTMLText = %q, want %q", c.name, got, c.want)
		}
	}
}

func TestFeedGolden(t *testing.T) {
	r := &Renderer{}
	evs := eventfixtures.Events()
	second := *evs["paris-dst"]
	second.APID += "-bis"
	second.Start = mustTimeT(t, "2025-10-25T20:00:00+02:00")
	second.End = mustTimeT(t, "2025-10-26T08:00:00+01:00")
	var cals [][]byte
	for _, ev := range []*bridges.Event{evs["paris-dst"], evs["new-york-cancelled"], &second, evs["mobilizon-2019"]} {
		b, err := r.RenderEvent(ev)
		if err != nil {
			t.Fatal(err)
		}
		cals = append(cals, b)
	}
	var out bytes.Buffer
	err := Feed(&out, FeedInfo{Name: "Fablabs, Paris", Description: "Events of\nthe fablabs", URL: "https://passerelle.example/feeds/all.ics", Refresh: 30 * time.Minute}, cals)
	if err != nil {
		t.Fatal(err)
	}
	got := out.Bytes()
	checkWellFormed(t, got)
	golden.Check(t, filepath.Join("testdata", "feed.ics"), got)
	if n := bytes.Count(got, []byte("BEGIN:VTIMEZONE\r\n")); n != 2 {
		t.Errorf("%d VTIMEZONEs, want 2 (Paris merged, New York)", n)
	}
	if n := bytes.Count(got, []byte("BEGIN:VEVENT\r\n")); n != 4 {
		t.Errorf("%d VEVENTs, want 4", n)
	}
	cal, err := ics.ParseCalendar(bytes.NewReader(got))
	if err != nil {
		t.Fatal(err)
	}
	for _, tz := range cal.Timezones() {
		if tz.GetProperty(ics.ComponentPropertyTzid).Value == "Europe/Paris" && len(tz.SubComponents()) != 3 {
			t.Errorf("merged Europe/Paris has %d observances, want 3 (the two events share 2025's)", len(tz.SubComponents()))
		}
	}
}

func TestFeedRejectsTruncated(t *testing.T) {
	b, _ := (&Renderer{}).RenderEvent(eventfixtures.Events()["paris-dst"])
	cut := b[:bytes.Index(b, []byte("END:VEVENT"))]
	if err := Feed(&bytes.Buffer{}, FeedInfo{}, [][]byte{cut}); err == nil {
		t.Error("a truncated calendar went into a feed without error")
	}
}

func TestDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{time.Hour: "PT1H", 90 * time.Minute: "PT1H30M", 24 * time.Hour: "P1D", 45 * time.Second: "PT45S", 0: "PT0S"} {
		if got := Duration(d); got != want {
			t.Errorf("Duration(%s) = %s, want %s", d, got, want)
		}
	}
}

func mustTimeT(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestTimezoneFarFuture (issue 13): past the last transition of Go's
// table, ZoneBounds reports 31 December 00:00 UTC of leap years as its own
// next bound, and walking the bounds never ended (an event in Paris in 2040
// took the server down). Each zone and year renders, and every local time
// of the year resolves through the observances alone to Go's instant.
func TestTimezoneFarFuture(t *testing.T) {
	for _, zone := range []string{"Europe/Paris", "America/New_York", "Australia/Lord_Howe", "Europe/Dublin"} {
		loc, err := time.LoadLocation(zone)
		if err != nil {
			t.Fatal(err)
		}
		for _, span := range [][2]int{{2040, 2040}, {2044, 2044}, {2099, 2099}, {2040, 2041}, {2026, 9999}} {
			from := time.Date(span[0], time.March, 1, 12, 0, 0, 0, loc)
			to := time.Date(span[1], time.December, 31, 23, 0, 0, 0, loc)
			done := make(chan *ics.VTimezone, 1)
			go func() { done <- Timezone(loc, from, to) }()
			var tz *ics.VTimezone
			select {
			case tz = <-done:
			case <-time.After(30 * time.Second):
				t.Fatalf("%s %v: Timezone did not return in 30 s", zone, span)
			}
			// The one in effect on 1 January and two changes a year;
			// for years far apart, that for the first and last only.
			most := 1 + 2*(span[1]-span[0]+1)
			if span[1]-span[0] > 1 {
				most = 2 * 3
			}
			if n := len(tz.SubComponents()); n < 3 || n > most {
				t.Errorf("%s %v: %d observances, want 3..%d:\n%s", zone, span, n, most, SerializeComponent(tz))
			}
			// Every day at 12:00 local (and 31 December at 00:30,
			// where Go's bounds went wrong) of the years covered.
			for _, y := range []int{span[0], span[1]} {
				for d := time.Date(y, time.January, 1, 12, 0, 0, 0, loc); d.Year() == y; d = d.AddDate(0, 0, 1) {
					for _, at := range []time.Time{d, time.Date(y, d.Month(), d.Day(), 0, 30, 0, 0, loc)} {
						if got := resolve(t, tz, at.Format(localFormat)); !got.Equal(at) {
							t.Fatalf("%s %v: %s resolves to %s, want %s", zone, span, at.Format(localFormat), got.UTC(), at.UTC())
						}
					}
				}
			}
		}
	}
}
