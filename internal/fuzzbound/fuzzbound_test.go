package fuzzbound

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// failures is a testing.TB that records Fatalf instead of stopping.
type failures struct {
	testing.TB
	msgs []string
}

func (f *failures) Fatalf(format string, args ...any) {
	f.msgs = append(f.msgs, fmt.Sprintf(format, args...))
}

var sink [][]byte

func TestCheck(t *testing.T) {
	limits := Limits{Base: 1 << 20, PerByte: 100}
	for _, tc := range []struct {
		name string
		n    int
		call func()
		want string // substring of the failure; empty when it must pass
	}{
		{"linear", 10_000, func() { sink = [][]byte{make([]byte, 500_000)} }, ""},
		{"too much", 10_000, func() { sink = [][]byte{make([]byte, 4<<20)} }, "more than the bound"},
		{"quadratic", 1_000, func() {
			sink = nil
			for i := range 2_000 { // 4 MB for 1,000 bytes: over any bound
				sink = append(sink, make([]byte, 1_000+i))
			}
		}, "allocated"},
		{"panic", 1, func() { panic("boom") }, "panic on a 1-byte input: boom"},
		{"hang", 1, func() { time.Sleep(2 * time.Second) }, "still runs after"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := &failures{TB: t}
			// Only the hanging call meets the deadline: the others are
			// given SeedDeadline so that a loaded machine cannot fail them.
			limit := SeedDeadline
			if tc.name == "hang" {
				limit = 100 * time.Millisecond
			}
			check(rec, tc.n, limits, limit, tc.call)
			switch {
			case tc.want == "" && len(rec.msgs) > 0:
				t.Errorf("failed: %v", rec.msgs)
			case tc.want != "" && (len(rec.msgs) != 1 || !strings.Contains(rec.msgs[0], tc.want)):
				t.Errorf("failures %q, want one saying %q", rec.msgs, tc.want)
			}
		})
	}
}
