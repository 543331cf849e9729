package mail

import (
	"bytes"
	"io"
	"os"
	"testing"
	"time"

	"passerelle/ical"
)

// BenchmarkComposeInvitation measures what the send worker does per mail
// before SMTP: the iTIP REQUEST rendered by the ical package (VTIMEZONE
// included) and the whole MIME message written out. mails/s is per core
// when run with -cpu 1:
//
//	go test -run '^$' -bench Compose -cpu 1 ./mail
func BenchmarkComposeInvitation(b *testing.B) {
	o := testOutgoing(b, KindInvitation)
	r := &ical.Renderer{Now: func() time.Time { return o.Date }}
	inv := ical.Invitee{Organizer: o.ReplyTo, OrganizerName: o.Event.OrganizerName, Attendee: o.To}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		cal, err := r.ITIP(o.Event, "REQUEST", inv)
		if err != nil {
			b.Fatal(err)
		}
		o.Calendar = cal
		if _, err := o.WriteTo(io.Discard); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "mails/s")
}

// BenchmarkParseReply measures reading a real calendar reply (Gmail's,
// with its calendar twice) as the watcher does for each mail.
func BenchmarkParseReply(b *testing.B) {
	raw, err := os.ReadFile("testdata/imip/gmail-reply-accepted.eml")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		if _, err := Parse(bytes.NewReader(raw), 0); err != nil {
			b.Fatal(err)
		}
	}
}
