package publish

import (
	"bytes"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"

	goical "github.com/emersion/go-ical"

	"codeberg.org/passerelle/passerelle/store"
)

func decodeCal(t *testing.T, s string) *goical.Calendar {
	t.Helper()
	c, err := goical.NewDecoder(strings.NewReader(s)).Decode()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

const weekly = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//club//EN\r\n" +
	"BEGIN:VEVENT\r\nUID:weekly@club\r\nDTSTAMP:20260101T000000Z\r\nDTSTART;TZID=Europe/Paris:20261203T190000\r\n" +
	"DTEND;TZID=Europe/Paris:20261203T210000\r\nRRULE:FREQ=WEEKLY;COUNT=4\r\nSUMMARY:Permanence\r\nEND:VEVENT\r\n" +
	"BEGIN:VEVENT\r\nUID:once@club\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20261205T100000Z\r\nSUMMARY:Once\r\n" +
	"DESCRIPTION:" + "A long description that goes on and on, with accents: é è à ç, well past seventy-five octets of a line." + "\r\nEND:VEVENT\r\n" +
	"END:VCALENDAR\r\n"

// TestSetAttendee: an occurrence of a series gets its own VEVENT (no
// rule, RECURRENCE-ID and times in the master's zone) holding the
// ATTENDEE; adding twice changes nothing; removing takes it out; and what
// is published of the calendar is the same before and after (no Update).
func TestSetAttendee(t *testing.T) {
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	before, _, err := Parse([]byte(weekly), now)
	if err != nil {
		t.Fatal(err)
	}
	cal := decodeCal(t, weekly)
	actor := "https://mobilizon.example/@alice"
	// The second occurrence: 10 December 19:00 in Paris, 18:00 UTC.
	changed, err := setAttendee(cal.Component, "weekly@club", "20261210T180000Z", actor, "Alice", true)
	if err != nil || !changed {
		t.Fatalf("setAttendee: %v %v", changed, err)
	}
	out := string(encodeCalendar(cal.Component))
	unfolded := strings.ReplaceAll(out, "\r\n ", "")
	for _, want := range []string{"RECURRENCE-ID;TZID=Europe/Paris:20261210T190000\r\n", "DTSTART;TZID=Europe/Paris:20261210T190000\r\n",
		"DTEND;TZID=Europe/Paris:20261210T210000\r\n", "CN=Alice", "PARTSTAT=ACCEPTED", `X-PASSERELLE-ACTOR="` + actor + `"`, ":" + actor + "\r\n"} {
		if !strings.Contains(unfolded, want) {
			t.Errorf("no %q in\n%s", want, out)
		}
	}
	if strings.Count(out, "RRULE") != 1 || strings.Count(out, "ATTENDEE") != 1 {
		t.Errorf("the override copies the rule or the attendee is twice:\n%s", out)
	}
	after, problems, err := Parse([]byte(out), now)
	if err != nil || len(problems) > 0 {
		t.Fatalf("Parse of the written calendar: %v %v", err, problems)
	}
	if !reflect.DeepEqual(before, after) {
		t.Errorf("the published occurrences changed with an ATTENDEE:\n%+v\n%+v", before, after)
	}
	for _, line := range strings.Split(out, "\r\n") {
		if len(line) > 75 {
			t.Errorf("line not folded: %q", line)
		}
	}

	if changed, err := setAttendee(cal.Component, "weekly@club", "20261210T180000Z", actor, "Alice", true); changed || err != nil {
		t.Errorf("adding again: %v %v", changed, err)
	}
	if changed, err := setAttendee(cal.Component, "once@club", "", actor, "Alice", true); !changed || err != nil {
		t.Errorf("adding to a single event: %v %v", changed, err)
	}
	if changed, err := setAttendee(cal.Component, "weekly@club", "20261210T180000Z", actor, "Alice", false); !changed || err != nil {
		t.Errorf("removing: %v %v", changed, err)
	}
	out = string(encodeCalendar(cal.Component))
	if strings.Count(out, "ATTENDEE") != 1 || !strings.Contains(out, "UID:once@club\r\n") {
		t.Errorf("after removing from the occurrence, the single event's alone should stay:\n%s", out)
	}
	if changed, err := setAttendee(cal.Component, "weekly@club", "20261217T180000Z", actor, "Alice", false); changed || err != nil {
		t.Errorf("removing from an occurrence without override: %v %v", changed, err)
	}
	if _, err := setAttendee(cal.Component, "nope@club", "", actor, "Alice", true); err == nil {
		t.Error("an unknown UID: no error")
	}
	// A name cannot add a line to the organiser's calendar.
	if _, err := setAttendee(cal.Component, "once@club", "", "https://evil.example/@m", "M\r\nATTENDEE:mailto:x@evil.example\"", true); err != nil {
		t.Fatal(err)
	}
	out = strings.ReplaceAll(string(encodeCalendar(cal.Component)), "\r\n ", "")
	if strings.Contains(out, "\r\nATTENDEE:mailto") || strings.Count(out, "\r\nATTENDEE") != 2 {
		t.Errorf("a name with a line break:\n%s", out)
	}
}

// TestAssembleResources: the stored resources make one calendar that
// Parse reads whole.
func TestAssembleResources(t *testing.T) {
	cal := decodeCal(t, weekly)
	data := encodeCalendar(cal.Component)
	other := strings.ReplaceAll(strings.ReplaceAll(string(data), "weekly@club", "weekly2@club"), "once@club", "once2@club")
	body, err := assemble(map[string]store.PublishedResource{"/a.ics": {Data: data}, "/b.ics": {Data: []byte(other)}})
	if err != nil {
		t.Fatal(err)
	}
	occs, problems, err := Parse(body, time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC))
	if err != nil || len(problems) > 0 || len(occs) != 10 {
		t.Errorf("Parse of the assembled calendar: %d occurrences, %v, %v\n%s", len(occs), problems, err, body)
	}
}

// TestLimitedBody: an answer past the limit is an error, not a document
// cut short.
func TestLimitedBody(t *testing.T) {
	big := bytes.Repeat([]byte("x"), MaxCalendarBytes+1)
	_, err := io.ReadAll(&limitedBody{ReadCloser: io.NopCloser(bytes.NewReader(big)), left: MaxCalendarBytes})
	if err == nil || !strings.Contains(err.Error(), "MiB") {
		t.Errorf("reading past the limit: %v", err)
	}
	b, err := io.ReadAll(&limitedBody{ReadCloser: io.NopCloser(bytes.NewReader(big[:MaxCalendarBytes])), left: MaxCalendarBytes})
	if err != nil || len(b) != MaxCalendarBytes {
		t.Errorf("reading up to the limit: %d %v", len(b), err)
	}
}
