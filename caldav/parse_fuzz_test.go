package caldav

import (
	"encoding/xml"
	"testing"
	"time"

	"codeberg.org/passerelle/passerelle/internal/fuzzbound"
)

// FuzzTimeRange reads CALDAV:time-range attributes. Beyond bounded time
// and memory: a range it accepts has a bound, ends after it starts, is in
// UTC, and reads the same once written back the way clients write it.
func FuzzTimeRange(f *testing.F) {
	f.Add("20250330T000000Z", "20250331T000000Z", true, true)
	f.Add("20250101T000000Z", "", true, false)
	f.Add("", "20250601T000000Z", false, true)
	f.Add("yesterday", "20250601T000000Z", true, true)
	f.Add("20250601T000000Z", "20250601T000000Z", true, true)
	f.Add("00010101T000000Z", "99991231T235959Z", true, true)
	f.Fuzz(func(t *testing.T, startAttr, endAttr string, hasStart, hasEnd bool) {
		n := timeRangeNode(startAttr, endAttr, hasStart, hasEnd)
		var start, end time.Time
		var err error
		fuzzbound.Check(t, len(startAttr)+len(endAttr), fuzzbound.Limits{Base: 64 << 10, PerByte: 64}, func() {
			start, end, err = parseTimeRange(n)
		})
		if err != nil {
			if _, ok := err.(*httpError); !ok {
				t.Fatalf("error %v is not an HTTP answer", err)
			}
			return
		}
		if start.IsZero() && end.IsZero() || !start.IsZero() && !end.IsZero() && !end.After(start) {
			t.Fatalf("accepted [%v, %v)", start, end)
		}
		for _, b := range []time.Time{start, end} {
			if !b.IsZero() && b.Location() != time.UTC {
				t.Fatalf("bound %v is not in UTC", b)
			}
		}
		const layout = "20060102T150405Z"
		format := func(t time.Time) string {
			if t.IsZero() {
				return ""
			}
			return t.Format(layout)
		}
		s2, e2, err := parseTimeRange(timeRangeNode(format(start), format(end), !start.IsZero(), !end.IsZero()))
		if err != nil || !s2.Equal(start) || !e2.Equal(end) {
			t.Fatalf("[%v, %v) written back reads [%v, %v) (%v)", start, end, s2, e2, err)
		}
	})
}

func timeRangeNode(start, end string, hasStart, hasEnd bool) *node {
	n := &node{XMLName: xml.Name{Space: nsCalDAV, Local: "time-range"}}
	if hasStart {
		n.Attrs = append(n.Attrs, xml.Attr{Name: xml.Name{Local: "start"}, Value: start})
	}
	if hasEnd {
		n.Attrs = append(n.Attrs, xml.Attr{Name: xml.Name{Local: "end"}, Value: end})
	}
	return n
}

// FuzzSyncToken reads sync tokens as clients send them back. Beyond
// bounded time and memory: a token it accepts names a point of the change
// log (a sequence ≥ 0), and the token written for that point reads the
// same point; every sequence's token reads back as itself.
func FuzzSyncToken(f *testing.F) {
	for _, s := range []string{syncToken(0), syncToken(42), " " + syncToken(7) + "\n", "data:,passerelle-sync-999999999", "data:,passerelle-sync--1", "data:,passerelle-sync-+3", "http://other.example/token/1", "garbage", ""} {
		f.Add(s, int64(len(s)))
	}
	f.Fuzz(func(t *testing.T, token string, seq int64) {
		var got int64
		var ok bool
		fuzzbound.Check(t, len(token), fuzzbound.Limits{Base: 64 << 10, PerByte: 16}, func() { got, ok = parseSyncToken(token) })
		if ok {
			if got < 0 {
				t.Fatalf("%q reads as sequence %d", token, got)
			}
			if again, ok := parseSyncToken(syncToken(got)); !ok || again != got {
				t.Fatalf("%q reads %d, whose token %q reads %d, %v", token, got, syncToken(got), again, ok)
			}
		}
		if seq >= 0 {
			if back, ok := parseSyncToken(syncToken(seq)); !ok || back != seq {
				t.Fatalf("token %q of %d reads %d, %v", syncToken(seq), seq, back, ok)
			}
		}
	})
}
