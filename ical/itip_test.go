package ical

import (
	"bytes"
	"strconv"
	"time"

	"codeberg.org/passerelle/passerelle/internal/eventfixtures"
	"os"
	"strings"
	"testing"
)

func TestParseITIPBodies(t *testing.T) {
	tests := []struct {
		file      string
		method    string
		uid       string
		organizer string
		attendee  string
		partstat  string
		comment   string
	}{
		{"rfc5546-reply.ics", "REPLY", "calsrv.example.com-873970198738777@example.com", "a@example.com", "b@example.com", "ACCEPTED", ""},
		// BlackBerry folds the ATTENDEE in the middle of the address.
		{"blackberry-reply-accepted-comment.ics", "REPLY", "", "", "user1@domain1.tld", "ACCEPTED", "ok for me"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			data, err := os.ReadFile("../mail/testdata/imip/" + tt.file)
			if err != nil {
				t.Fatal(err)
			}
			msg, err := ParseITIP(data)
			if err != nil {
				t.Fatalf("ParseITIP: %v", err)
			}
			if msg.Method != tt.method {
				t.Errorf("Method = %q, want %q", msg.Method, tt.method)
			}
			if len(msg.Events) != 1 {
				t.Fatalf("%d events, want 1", len(msg.Events))
			}
			ev := msg.Events[0]
			if tt.uid != "" && ev.UID != tt.uid {
				t.Errorf("UID = %q, want %q", ev.UID, tt.uid)
			}
			if tt.organizer != "" && ev.Organizer != tt.organizer {
				t.Errorf("Organizer = %q, want %q", ev.Organizer, tt.organizer)
			}
			if len(ev.Attendees) != 1 || ev.Attendees[0].Address != tt.attendee || ev.Attendees[0].PartStat != tt.partstat {
				t.Errorf("Attendees = %+v, want one %s %s", ev.Attendees, tt.attendee, tt.partstat)
			}
			if ev.Comment != tt.comment {
				t.Errorf("Comment = %q, want %q", ev.Comment, tt.comment)
			}
		})
	}
}

func TestParseITIPLenient(t *testing.T) {
	// A VALARM's ATTENDEE is not an answer; an underscore in a vendor
	// property name (Entourage) must not lose the reply; lower-case
	// parameter names and MAILTO: in capitals are read.
	cal := "BEGIN:VCALENDAR\nVERSION:2.0\nMETHOD:reply\nBEGIN:VEVENT\nUID:u1\nX-ENTOURAGE_UUID:abc\n" +
		"ATTENDEE;partstat=declined;CN=\"Doe, Jane\":MAILTO:Jane@Example.org\nSEQUENCE:3\n" +
		"BEGIN:VALARM\nACTION:EMAIL\nATTENDEE:mailto:organiser@example.org\nTRIGGER:-PT10M\nEND:VALARM\n" +
		"END:VEVENT\nEND:VCALENDAR\n"
	msg, err := ParseITIP([]byte(cal))
	if err != nil {
		t.Fatal(err)
	}
	ev := msg.Events[0]
	if msg.Method != "REPLY" || ev.UID != "u1" || ev.Sequence != 3 {
		t.Errorf("got method %q uid %q sequence %d", msg.Method, ev.UID, ev.Sequence)
	}
	if len(ev.Attendees) != 1 {
		t.Fatalf("attendees %+v, want only the VEVENT's", ev.Attendees)
	}
	if a := ev.Attendees[0]; a.Address != "Jane@Example.org" || a.PartStat != "DECLINED" || a.Name != "Doe, Jane" {
		t.Errorf("attendee %+v", a)
	}
}

func TestParseITIPErrors(t *testing.T) {
	for name, in := range map[string]string{
		"empty":     "",
		"not ical":  "Hello, I will come.\r\n",
		"no event":  "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nEND:VCALENDAR\r\n",
		"truncated": "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:x\r\n",
	} {
		t.Run(name, func(t *testing.T) {
			_, err := ParseITIP([]byte(in))
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.HasPrefix(err.Error(), "parse iTIP calendar") {
				t.Errorf("error %q does not say what was being done", err)
			}
		})
	}
}

func TestITIPRoundTrip(t *testing.T) {
	ev := eventfixtures.Events()["paris-dst"]
	r := &Renderer{Now: func() time.Time { return time.Date(2025, 5, 1, 10, 0, 0, 0, time.UTC) }}
	to := Invitee{Organizer: "rsvp+r-tok@passerelle.example", OrganizerName: "Libre, Café; & co", Attendee: "jane@example.net", PartStat: "NEEDS-ACTION"}
	for _, method := range []string{"REQUEST", "CANCEL"} {
		b, err := r.ITIP(ev, method, to)
		if err != nil {
			t.Fatal(err)
		}
		checkWellFormed(t, b)
		s := string(bytes.ReplaceAll(b, []byte("\r\n "), nil))
		for _, want := range []string{"METHOD:" + method, `CN="Libre, Café; & co"`, "BEGIN:VTIMEZONE", "SEQUENCE:" + strconv.Itoa(ev.Sequence)} {
			if !strings.Contains(s, want) {
				t.Errorf("%s lacks %q:\n%s", method, want, s)
			}
		}
		msg, err := ParseITIP(b)
		if err != nil {
			t.Fatal(err)
		}
		e := msg.Events[0]
		if msg.Method != method || e.UID != ev.APID || e.Organizer != to.Organizer || len(e.Attendees) != 1 || e.Attendees[0].Address != to.Attendee {
			t.Errorf("%s read back as %+v", method, msg)
		}
		if method == "REQUEST" && (e.Attendees[0].PartStat != "NEEDS-ACTION" || !strings.Contains(s, "RSVP=TRUE")) {
			t.Errorf("REQUEST attendee %+v", e.Attendees[0])
		}
		if method == "CANCEL" && !strings.Contains(s, "STATUS:CANCELLED") {
			t.Error("CANCEL without STATUS:CANCELLED")
		}
	}
	if _, err := r.ITIP(ev, "REPLY", to); err == nil {
		t.Error("REPLY accepted: passerelle answers no one's invitation")
	}
}

// TestITIPPublish checks the calendar of an event nobody answers (a live
// to watch): RFC 5546 §3.2.1 wants its ORGANIZER and no ATTENDEE, hence
// no RSVP for a client to turn into Accept/Decline buttons.
func TestITIPPublish(t *testing.T) {
	ev := eventfixtures.Events()["paris-dst"]
	r := &Renderer{Now: func() time.Time { return time.Date(2025, 5, 1, 10, 0, 0, 0, time.UTC) }}
	to := Invitee{Organizer: "rsvp+r-tok@passerelle.example", OrganizerName: "Chaîne", Attendee: "jane@example.net"}
	b, err := r.ITIP(ev, "publish", to)
	if err != nil {
		t.Fatal(err)
	}
	checkWellFormed(t, b)
	s := string(bytes.ReplaceAll(b, []byte("\r\n "), nil))
	for _, unwanted := range []string{"ATTENDEE", "RSVP", "PARTSTAT", "STATUS:CANCELLED"} {
		if strings.Contains(s, unwanted) {
			t.Errorf("PUBLISH carries %s:\n%s", unwanted, s)
		}
	}
	msg, err := ParseITIP(b)
	if err != nil {
		t.Fatal(err)
	}
	e := msg.Events[0]
	if msg.Method != "PUBLISH" || e.UID != ev.APID || e.Organizer != to.Organizer || len(e.Attendees) != 0 || e.Sequence != ev.Sequence {
		t.Errorf("PUBLISH read back as %+v", msg)
	}
}
