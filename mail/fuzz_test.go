package mail

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"codeberg.org/passerelle/passerelle/bridges"
	"codeberg.org/passerelle/passerelle/internal/fuzzbound"
)

// mailLimits bound reading one mail. The real replies allocate a few
// hundred KiB and well under 100 bytes per byte; 4 MiB plus 200 bytes per
// byte catches anything worse than linear in the mail's size, which is
// what a mail of nested multiparts costs today (issue 13, item 3: 10,000
// levels, 577 KB, took 136 MB; the fix in mail/inbound.go is another
// change). Inputs a fuzzer makes are too short to show that quadratic
// cost within this bound; the bound says what is expected once it is fixed.
var mailLimits = fuzzbound.Limits{Base: 4 << 20, PerByte: 200}

// mailSeeds are the real mails of testdata/imip (as TestParseFixtures
// reads them).
func mailSeeds(f *testing.F) [][]byte {
	files, err := filepath.Glob("testdata/imip/*.eml")
	if err != nil || len(files) == 0 {
		f.Fatalf("no mails under testdata/imip: %v", err)
	}
	var seeds [][]byte
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		seeds = append(seeds, b)
	}
	return seeds
}

// FuzzParse reads mails as `mail receive` and the IMAP watcher do, then
// turns them into the answer flow's Reply. Beyond bounded time and memory:
// the size limit holds exactly (a mail it accepts is ErrTooLarge one byte
// over the limit, a mail at the limit is not; one it refuses is refused
// under a lower limit too), and a Reply's calendar answers come only from REPLY
// calendars, each for an attendee the calendar names.
func FuzzParse(f *testing.F) {
	for _, b := range mailSeeds(f) {
		f.Add(b)
	}
	f.Add(nestedMultipart(200))
	addr := ReplyAddress{Local: "rsvp", Domain: "passerelle.example"}
	f.Fuzz(func(t *testing.T, data []byte) {
		var in *Inbound
		var err error
		var reply bridges.Reply
		fuzzbound.Check(t, len(data), mailLimits, func() {
			in, err = Parse(bytes.NewReader(data), int64(len(data)))
			if err == nil {
				reply = in.Reply(addr)
			}
		})
		if errors.Is(err, ErrTooLarge) && len(data) > 0 {
			t.Fatalf("a %d-byte mail is too large for a %d-byte limit", len(data), len(data))
		}
		// A limit of zero means the default one: from two bytes on.
		if len(data) > 1 {
			_, lowerErr := Parse(bytes.NewReader(data), int64(len(data)-1))
			switch {
			case err != nil && lowerErr == nil:
				t.Fatalf("a %d-byte mail refused (%v) is accepted under a lower limit", len(data), err)
			case err == nil && !errors.Is(lowerErr, ErrTooLarge):
				t.Fatalf("a %d-byte mail under a limit one byte lower: %v, want ErrTooLarge", len(data), lowerErr)
			}
		}
		if err != nil {
			return
		}
		for _, ca := range reply.Calendar {
			if !repliedBy(in, ca) {
				t.Fatalf("answer %+v is not an attendee's PARTSTAT of a REPLY calendar", ca)
			}
		}
		if !in.Automatic && reply.Text != TextAnswer(in.Text) {
			t.Fatalf("Reply.Text %q, TextAnswer of the text %q", reply.Text, TextAnswer(in.Text))
		}
	})
}

// nestedMultipart is a mail of depth multiparts, each holding the next,
// the innermost holding a calendar REPLY: the shape whose cost grows with
// the square of the depth today (issue 13, item 3), as a seed from which
// the fuzzer explores deeper and odder nestings.
func nestedMultipart(depth int) []byte {
	var b bytes.Buffer
	b.WriteString("From: ann@example.org\r\nTo: rsvp+r-tok@passerelle.example\r\nMIME-Version: 1.0\r\n")
	for i := range depth {
		fmt.Fprintf(&b, "Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n", i, i)
	}
	b.WriteString("Content-Type: text/calendar; method=REPLY\r\n\r\nBEGIN:VCALENDAR\r\nMETHOD:REPLY\r\nBEGIN:VEVENT\r\nUID:u\r\nATTENDEE;PARTSTAT=ACCEPTED:mailto:ann@example.org\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
	for i := depth - 1; i >= 0; i-- {
		fmt.Fprintf(&b, "--b%d--\r\n", i)
	}
	return b.Bytes()
}

// repliedBy reports whether ca is an attendee's answer in a REPLY calendar
// of in.
func repliedBy(in *Inbound, ca bridges.CalendarAnswer) bool {
	for _, cal := range in.Calendars {
		if cal.Method != "REPLY" {
			continue
		}
		for _, ev := range cal.Events {
			for _, at := range ev.Attendees {
				a, err := bridges.ParseAnswer(at.PartStat)
				if err == nil && ev.UID == ca.UID && at.Address == ca.Attendee && a == ca.Answer {
					return true
				}
			}
		}
	}
	return false
}

// FuzzTextAnswer reads plain-text answers, seeded with the texts of the
// real mails and TestTextAnswer's cases. Beyond bounded time and memory:
// the answer is yes, no, maybe or none; blank and quoted lines before the
// first own line change nothing; and only that first line decides.
func FuzzTextAnswer(f *testing.F) {
	for _, b := range mailSeeds(f) {
		if in, err := Parse(bytes.NewReader(b), 0); err == nil && in.Text != "" {
			f.Add(in.Text)
		}
	}
	for _, s := range []string{"Yes", "\n\n  OUI, bien sûr", "Sí, voy.", "Peut-être", "tal vez", "> yes\n>> no\nnon\n", "I am not sure yet.\nyes", "\uFEFFno", "-nein-"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		var got bridges.Answer
		fuzzbound.Check(t, len(text), fuzzbound.Limits{Base: 1 << 20, PerByte: 64}, func() { got = TextAnswer(text) })
		switch got {
		case "", bridges.AnswerAccepted, bridges.AnswerDeclined, bridges.AnswerTentative:
		default:
			t.Fatalf("TextAnswer(%q) = %q, not an answer", text, got)
		}
		if again := TextAnswer("\n  \n> quoted yes\n>no\n" + text); again != got {
			t.Fatalf("blank and quoted lines before %q change the answer from %q to %q", text, got, again)
		}
		first, rest, ok := strings.Cut(text, "\n")
		if ok && strings.TrimSpace(strings.TrimPrefix(first, "\uFEFF")) != "" && !strings.HasPrefix(strings.TrimSpace(strings.TrimPrefix(first, "\uFEFF")), ">") {
			if alone := TextAnswer(first); alone != got {
				t.Fatalf("the first line %q alone answers %q, followed by %q it answers %q", first, alone, rest, got)
			}
		}
	})
}
