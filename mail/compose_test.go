package mail

import (
	"bytes"
	"codeberg.org/passerelle/passerelle/internal/golden"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-message"
	gomail "github.com/emersion/go-message/mail"

	"codeberg.org/passerelle/passerelle/bridges"
	"codeberg.org/passerelle/passerelle/ical"
)

func testEvent(t testing.TB) *bridges.Event {
	t.Helper()
	start := time.Date(2025, 6, 7, 17, 0, 0, 0, time.UTC)
	remaining := 12
	return &bridges.Event{
		ID: 42, APID: "https://mobilizon.example/events/6f1e2c1a", URL: "https://mobilizon.example/events/6f1e2c1a",
		Title: "Apéro des libristes, à Lyon", Start: start, End: start.Add(3 * time.Hour), TimeZone: "Europe/Paris",
		Status: bridges.StatusConfirmed, JoinMode: bridges.JoinFree, RemainingCapacity: &remaining,
		Place:         &bridges.Place{Name: "Café Zoé", Street: "3 rue de la Paix", PostalCode: "69001", Locality: "Lyon"},
		OrganizerName: "Libre, Café; & co", OrganizerURL: "https://mobilizon.example/@libre_cafe",
		ExternalParticipationURL: "https://tickets.example/apero", Sequence: 2, Public: true,
	}
}

func testOutgoing(t testing.TB, kind Kind) *Outgoing {
	o := &Outgoing{
		Kind: kind, Event: testEvent(t),
		From: "Passerelle <events@passerelle.example>", To: "jane.doe@example.net",
		ReplyTo:   "events+r-TOKEN123@passerelle.example",
		MessageID: "passerelle.invitation-7." + string(kind) + "@passerelle.example", Thread: "passerelle.invitation-7@passerelle.example",
		UnsubscribeURL: "https://passerelle.example/unsubscribe/UNSUB", PageURL: "https://passerelle.example/rsvp/TOKEN123",
		Date: time.Date(2025, 5, 1, 10, 0, 0, 0, time.UTC),
	}
	if m := kind.Method(); m != "" {
		o.Calendar = testCalendar(t, o, m)
	}
	return o
}

func TestComposeGolden(t *testing.T) {
	for _, kind := range []Kind{KindInvitation, KindUpdate, KindCancel, KindJoined, KindPending, KindUnconfirmed, KindRejected, KindFull, KindExternal, KindMaybe, KindLeft} {
		t.Run(string(kind), func(t *testing.T) {
			o := testOutgoing(t, kind)
			raw, err := o.Bytes()
			if err != nil {
				t.Fatal(err)
			}
			golden.Check(t, filepath.Join("testdata", "golden", string(kind)+".eml"), raw)
			checkComposed(t, o, raw)
		})
	}
}

// checkComposed reads the mail back with go-message and with passerelle's
// own inbound parser: what we send must be what we can read.
func checkComposed(t *testing.T, o *Outgoing, raw []byte) {
	t.Helper()
	if bytes.Contains(bytes.ReplaceAll(raw, []byte("\r\n"), nil), []byte("\n")) {
		t.Error("bare LF in the mail: SMTP wants CRLF")
	}
	for _, line := range bytes.Split(raw, []byte("\r\n")) {
		if len(line) > 998 {
			t.Errorf("line of %d octets (RFC 5322 allows 998)", len(line))
		}
	}
	ent, err := message.Read(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	h := gomail.Header{Header: ent.Header}
	subject, err := h.Subject()
	if err != nil || !strings.Contains(subject, "Apéro des libristes, à Lyon") {
		t.Errorf("Subject %q (%v) does not decode to the title", subject, err)
	}
	if strings.ContainsFunc(ent.Header.Get("Subject"), func(r rune) bool { return r > 127 }) {
		t.Errorf("raw Subject %q is not encoded", ent.Header.Get("Subject"))
	}
	for k, want := range map[string]string{
		"Auto-Submitted":        "auto-generated",
		"List-Unsubscribe":      "<https://passerelle.example/unsubscribe/UNSUB>",
		"List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
		"MIME-Version":          "1.0",
		"Message-Id":            "<" + o.MessageID + ">",
		"In-Reply-To":           "<" + o.Thread + ">",
		"References":            "<" + o.Thread + ">",
		"Date":                  "Thu, 01 May 2025 10:00:00 +0000",
	} {
		if got := ent.Header.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	in, err := Parse(bytes.NewReader(raw), 0)
	if err != nil {
		t.Fatal(err)
	}
	if in.Ignore != "" || len(in.Problems) > 0 {
		t.Errorf("own mail read as ignore=%q problems=%q", in.Ignore, in.Problems)
	}
	if !strings.Contains(in.Text, "Sat 7 June 2025, 19:00–22:00 (Europe/Paris)") {
		t.Errorf("text part lacks the local time:\n%s", in.Text)
	}
	method := o.Kind.Method()
	switch {
	case method == "" && len(in.Calendars) != 0:
		t.Errorf("%s mail carries a calendar", o.Kind)
	case method != "" && len(in.Calendars) != 1:
		t.Errorf("%d distinct calendars, want the inline one and its identical invite.ics", len(in.Calendars))
	case method != "" && in.Calendars[0].Method != method:
		t.Errorf("calendar METHOD %q, want %q", in.Calendars[0].Method, method)
	}
}

func TestComposeRefusesIncomplete(t *testing.T) {
	o := testOutgoing(t, KindInvitation)
	o.Calendar = nil
	if _, err := o.Bytes(); err == nil || !strings.Contains(err.Error(), "calendar") {
		t.Errorf("invitation without calendar: err = %v", err)
	}
	o = testOutgoing(t, KindFull)
	o.To = ""
	if _, err := o.Bytes(); err == nil {
		t.Error("mail without recipient composed")
	}
}

// testCalendar builds the iTIP calendar the way the send worker does.
func testCalendar(t testing.TB, o *Outgoing, method string) []byte {
	t.Helper()
	r := &ical.Renderer{Now: func() time.Time { return o.Date }}
	partstat := map[Kind]string{KindJoined: "ACCEPTED", KindMaybe: "TENTATIVE", KindLeft: "DECLINED"}[o.Kind]
	b, err := r.ITIP(o.Event, method, ical.Invitee{Organizer: o.ReplyTo, OrganizerName: o.Event.OrganizerName, Attendee: o.To, PartStat: partstat})
	if err != nil {
		t.Fatal(err)
	}
	return b
}
