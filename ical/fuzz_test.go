package ical

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	ics "github.com/arran4/golang-ical"

	"codeberg.org/passerelle/passerelle/bridges"
	"codeberg.org/passerelle/passerelle/internal/eventfixtures"
	"codeberg.org/passerelle/passerelle/internal/fuzzbound"
)

// calendarLimits bound parsing or rendering one calendar: golang-ical's
// tokenizer allocates a few dozen bytes per input byte on the seeds (the
// rendered events take up to 200 KiB with their VTIMEZONE).
var calendarLimits = fuzzbound.Limits{Base: 4 << 20, PerByte: 200}

// FuzzParseITIP reads calendars as an iMIP answer brings them, seeded with
// the real replies and requests (../mail/testdata/imip, as TestParseITIP
// reads them) and with passerelle's own rendered events. Beyond bounded
// time and memory, parse → render → parse keeps what the answer flow acts
// on: whether the method is REPLY, each event's UID, RECURRENCE-ID,
// SEQUENCE and ORGANIZER, and each attendee's address and answer.
func FuzzParseITIP(f *testing.F) {
	for _, pattern := range []string{"../mail/testdata/imip/*.ics", "testdata/*.ics"} {
		files, _ := filepath.Glob(pattern)
		for _, file := range files {
			b, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var msg *ITIPMessage
		var err error
		fuzzbound.Check(t, len(data), calendarLimits, func() { msg, err = ParseITIP(data) })
		if err != nil {
			return
		}
		out := renderITIP(msg)
		back, err := ParseITIP(out)
		if err != nil {
			t.Fatalf("a parsed message, rendered again, does not parse: %v\n%s", err, out)
		}
		if got, want := answerView(back), answerView(msg); got != want {
			t.Fatalf("parse → render → parse changed the answer:\n got: %s\nwant: %s\nrendered:\n%s", got, want, out)
		}
	})
}

// renderITIP writes msg back as an iCalendar object with Serialize, the
// way passerelle writes its own calendars.
func renderITIP(msg *ITIPMessage) []byte {
	cal := ics.NewCalendar()
	if msg.Method != "" {
		cal.SetMethod(ics.Method(msg.Method))
	}
	for _, e := range msg.Events {
		vev := cal.AddEvent(e.UID)
		if e.RecurrenceID != "" {
			vev.SetProperty(ics.ComponentPropertyRecurrenceId, e.RecurrenceID)
		}
		vev.SetProperty(ics.ComponentPropertySequence, strconv.Itoa(e.Sequence))
		if e.Organizer != "" {
			vev.SetProperty(ics.ComponentPropertyOrganizer, "mailto:"+e.Organizer)
		}
		for _, a := range e.Attendees {
			var params []ics.PropertyParameter
			if a.PartStat != "" {
				params = append(params, ics.ParticipationStatus(a.PartStat))
			}
			vev.AddProperty(ics.ComponentPropertyAttendee, "mailto:"+a.Address, params...)
		}
	}
	return Serialize(cal)
}

// answerView is what the answer flow reads of a message (mail.Inbound.Reply):
// the values as a calendar can carry them — TEXT values lose the control
// characters it cannot hold, addresses all of them — so that the
// comparison is about meaning, not about bytes no client can send back.
func answerView(msg *ITIPMessage) string {
	var b strings.Builder
	b.WriteString("reply=")
	b.WriteString(strconv.FormatBool(strings.TrimSpace(textClean(msg.Method)) == "REPLY"))
	for _, e := range msg.Events {
		b.WriteString("\nuid=" + strings.TrimSpace(textClean(e.UID)))
		b.WriteString(" rid=" + strings.TrimSpace(cleanControls(e.RecurrenceID)))
		b.WriteString(" seq=" + strconv.Itoa(e.Sequence))
		b.WriteString(" org=" + CalAddress(cleanControls(e.Organizer)))
		for _, a := range e.Attendees {
			ans, err := bridges.ParseAnswer(cleanControls(a.PartStat))
			if err != nil {
				ans = "none"
			}
			b.WriteString(" att=" + CalAddress(cleanControls(a.Address)) + ":" + string(ans))
		}
	}
	return b.String()
}

// textClean is what TextValue keeps of a TEXT value, unescaped (golang-ical
// unescapes TEXT values as it parses them).
func textClean(s string) string {
	return ics.FromText(TextValue(s))
}

// FuzzRenderEvent renders events whose outside-supplied text (title,
// description, place, organiser, tags) and times are fuzzed, as an iTIP
// REQUEST, and checks that the output is RFC 5545 as clients read it:
// CRLF lines of at most 75 octets without control characters, that
// golang-ical parses it with the event's SUMMARY and DTSTART, and that
// ParseITIP reads back its UID, organiser and attendee.
//
// Times stay before 2039 until the VTIMEZONE loop on far-future dates
// (issue 13, item 1) is fixed; then the bound can go.
func FuzzRenderEvent(f *testing.F) {
	for _, ev := range eventfixtures.Events() {
		tags := strings.Join(ev.Tags, ",")
		place := ""
		if ev.Place != nil {
			place = ev.Place.Name
		}
		f.Add(ev.Title, ev.DescriptionText, ev.DescriptionHTML, place, ev.OrganizerName, tags, ev.TimeZone, ev.Start.Unix(), int64(ev.End.Sub(ev.Start)/time.Second))
	}
	f.Add("a\r\nb\x00c\\;,:\"^", "line\rtwo", "<p>x</p>", "\"Le; Comptoir\"", "Doe, \"J\" ^n", "#a,b;c", "America/New_York", int64(2145916799), int64(-1))
	r := &Renderer{Now: func() time.Time { return time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC) }}
	to := Invitee{Organizer: "rsvp+r-tok@passerelle.example", OrganizerName: "Group", Attendee: "ann@example.org", AttendeeName: "Ann"}
	lastSafe := time.Date(2038, 12, 31, 0, 0, 0, 0, time.UTC).Unix()
	f.Fuzz(func(t *testing.T, title, descText, descHTML, place, organizer, tags, zone string, start, duration int64) {
		if _, err := bridges.LoadLocation(zone); err != nil {
			zone = ""
		}
		start = 86400 + mod(start, lastSafe-2*86400)
		ev := &bridges.Event{
			APID: "https://m.example/events/1", Title: title, DescriptionText: descText, DescriptionHTML: descHTML,
			Start: time.Unix(start, 0), TimeZone: zone, Status: bridges.StatusConfirmed,
			OrganizerName: organizer, OrganizerURL: "https://m.example/@g", Tags: strings.Split(tags, ","),
			Place: &bridges.Place{Name: place},
		}
		if duration > 0 {
			ev.End = ev.Start.Add(time.Duration(mod(duration, 30*86400)+1) * time.Second)
		}
		n := len(title) + len(descText) + len(descHTML) + len(place) + len(organizer) + len(tags)
		var out []byte
		var err error
		fuzzbound.Check(t, n, calendarLimits, func() { out, err = r.ITIP(ev, "REQUEST", to) })
		if err != nil {
			t.Fatalf("render: %v", err)
		}
		for i, line := range bytes.SplitAfter(out, []byte("\r\n")) {
			if len(line) == 0 {
				continue
			}
			body := bytes.TrimSuffix(line, []byte("\r\n"))
			if len(body) == len(line) || len(body) > maxLineOctets {
				t.Fatalf("line %d is %d octets or lacks its CRLF: %q", i+1, len(body), line)
			}
			if bytes.ContainsFunc(body, func(r rune) bool { return r < 0x20 && r != '\t' || r == 0x7f }) {
				t.Fatalf("line %d holds a control character: %q", i+1, line)
			}
		}
		cal, err := ics.ParseCalendar(bytes.NewReader(out))
		if err != nil {
			t.Fatalf("rendered calendar does not parse: %v\n%s", err, out)
		}
		evs := cal.Events()
		if len(evs) != 1 {
			t.Fatalf("%d events rendered, want 1", len(evs))
		}
		summary := evs[0].GetProperty(ics.ComponentPropertySummary)
		if want := textClean(strings.TrimSpace(title)); summary == nil && want != "" || summary != nil && summary.Value != want {
			t.Fatalf("SUMMARY %+v, want %q", summary, want)
		}
		if got, err := evs[0].GetStartAt(); err != nil || !got.Equal(ev.Start) {
			t.Fatalf("DTSTART reads %v (%v), want %v", got, err, ev.Start)
		}
		msg, err := ParseITIP(out)
		if err != nil {
			t.Fatalf("ParseITIP of a rendered request: %v", err)
		}
		if len(msg.Events) != 1 || msg.Method != "REQUEST" {
			t.Fatalf("read back %+v", msg)
		}
		got := msg.Events[0]
		if got.UID != ev.APID || got.Organizer != to.Organizer || len(got.Attendees) != 1 || got.Attendees[0].Address != to.Attendee {
			t.Fatalf("read back %+v", got)
		}
	})
}

// mod is n modulo m (m > 0), never negative.
func mod(n, m int64) int64 {
	n %= m
	if n < 0 {
		n += m
	}
	return n
}
