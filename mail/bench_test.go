package mail

import (
	"bytes"
	"io"
	"os"
	"testing"

	"codeberg.org/passerelle/passerelle/ical"
)

// BenchmarkCompose measures what one send job costs before SMTP: the
// iTIP calendar rendered for the attendee, then the whole MIME mail
// written out. Run it on one core:
//
//	go test ./mail -run '^$' -bench Compose -cpu 1
func BenchmarkCompose(b *testing.B) {
	r := &ical.Renderer{}
	o := testOutgoing(b, KindInvitation)
	b.ReportAllocs()
	for b.Loop() {
		cal, err := r.ITIP(o.Event, "REQUEST", ical.Invitee{Organizer: o.ReplyTo, OrganizerName: o.Event.OrganizerName, Attendee: o.To})
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
