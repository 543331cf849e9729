package mail

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// nestedMail is a mail of depth multiparts, each inside the one before,
// with a calendar reply in the innermost.
func nestedMail(depth int) []byte {
	var b bytes.Buffer
	b.WriteString("From: jane@example.net\r\nTo: rsvp+r-tok@example.org\r\nMessage-ID: <deep@example.net>\r\nMIME-Version: 1.0\r\n")
	for i := range depth {
		fmt.Fprintf(&b, "Content-Type: multipart/mixed; boundary=\"b%d\"\r\n\r\n--b%d\r\n", i, i)
	}
	b.WriteString("Content-Type: text/calendar; method=REPLY\r\n\r\n" + replyCalendar("deep-uid") + "\r\n")
	for i := depth - 1; i >= 0; i-- {
		fmt.Fprintf(&b, "--b%d--\r\n", i)
	}
	return b.Bytes()
}

func replyCalendar(uid string) string {
	return "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nMETHOD:REPLY\r\nBEGIN:VEVENT\r\nUID:" + uid +
		"\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20260201T180000Z\r\nATTENDEE;PARTSTAT=ACCEPTED:mailto:jane@example.net\r\n" +
		"ORGANIZER:mailto:rsvp+r-tok@example.org\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
}

// TestParseNestingLimit: a mail nested MaxNesting deep is read to its
// innermost calendar; one level more, and a mail of 10,000 levels (which
// took 14 s when every level re-scanned what it held), are refused with
// ErrTooDeep, and Receive ignores them saying why.
func TestParseNestingLimit(t *testing.T) {
	in, err := Parse(bytes.NewReader(nestedMail(MaxNesting)), 0)
	if err != nil {
		t.Fatalf("mail %d levels deep: %v", MaxNesting, err)
	}
	if len(in.Calendars) != 1 || in.Calendars[0].Method != "REPLY" {
		t.Fatalf("mail %d levels deep: calendars %+v, problems %q", MaxNesting, in.Calendars, in.Problems)
	}
	for _, depth := range []int{MaxNesting + 1, 10_000} {
		if _, err := Parse(bytes.NewReader(nestedMail(depth)), 0); !errors.Is(err, ErrTooDeep) {
			t.Errorf("mail %d levels deep: got %v, want ErrTooDeep", depth, err)
		}
	}
	out, err := (&Receiver{}).Receive(context.Background(), bytes.NewReader(nestedMail(10_000)))
	if err != nil {
		t.Fatalf("receive: %v (a mail that will never be read must not be retried)", err)
	}
	if !strings.Contains(out.Ignored, "levels deep") {
		t.Errorf("ignored %q, want the nesting named", out.Ignored)
	}
}

// TestParseNestingOverSize: a deep mail above the size limit is still
// reported as too large, not as too deep.
func TestParseNestingOverSize(t *testing.T) {
	raw := nestedMail(10_000)
	if _, err := Parse(bytes.NewReader(raw), int64(len(raw)/2)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("got %v, want ErrTooLarge", err)
	}
}

// manyCalendars is a multipart of n calendar parts, every other one a
// copy of the one before it.
func manyCalendars(n int) []byte {
	var b bytes.Buffer
	b.WriteString("From: jane@example.net\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n")
	for i := range n {
		fmt.Fprintf(&b, "--b\r\nContent-Type: text/calendar; method=REPLY\r\n\r\n%s\r\n", replyCalendar(fmt.Sprint("uid-", i/2)))
	}
	b.WriteString("--b--\r\n")
	return b.Bytes()
}

// TestParseDuplicateCalendars: a calendar sent twice (Gmail: inline and
// as invite.ics) is kept once, however many parts the mail has.
func TestParseDuplicateCalendars(t *testing.T) {
	in, err := Parse(bytes.NewReader(manyCalendars(200)), 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(in.Calendars) != 100 {
		t.Fatalf("%d calendars, want 100", len(in.Calendars))
	}
	for i, c := range in.Calendars {
		if want := fmt.Sprint("uid-", i); len(c.Events) != 1 || c.Events[0].UID != want {
			t.Fatalf("calendar %d: %+v, want UID %s", i, c.Events, want)
		}
	}
}

// BenchmarkParseNested measures refusing a mail of 10,000 and 50,000
// nested multiparts (14 s and 614 s before the depth limit); the time per
// byte stays the same as the mail grows.
func BenchmarkParseNested(b *testing.B) {
	for _, depth := range []int{10_000, 50_000} {
		raw := nestedMail(depth)
		b.Run(fmt.Sprint(depth), func(b *testing.B) {
			b.SetBytes(int64(len(raw)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Parse(bytes.NewReader(raw), 0); !errors.Is(err, ErrTooDeep) {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkParseManyCalendars measures a mail of 3,000 and 30,000
// calendar parts (5 s for 30,000 when each was compared with all before).
func BenchmarkParseManyCalendars(b *testing.B) {
	for _, n := range []int{3_000, 30_000} {
		raw := manyCalendars(n)
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			b.SetBytes(int64(len(raw)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Parse(bytes.NewReader(raw), 0); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
