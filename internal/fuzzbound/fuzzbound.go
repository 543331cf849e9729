// Package fuzzbound holds what every fuzz target checks beyond "no panic":
// one call on outside input returns within a deadline and allocates at most
// a linear amount of memory in the input's size. A parser that loops or
// grows quadratically on some input is a denial of service even when it
// never panics.
package fuzzbound

import (
	"flag"
	"fmt"
	"runtime/debug"
	"runtime/metrics"
	"testing"
	"time"
)

// Limits bound the heap one call may allocate on an input of n bytes:
// Base + PerByte·n. Both are generous on purpose (ten times or more what
// the seed corpus needs): the point is to catch super-linear growth, not a
// few percent.
type Limits struct {
	Base    int64
	PerByte int64
}

// bytesFor is the allocation bound for an input of n bytes.
func (l Limits) bytesFor(n int) int64 { return l.Base + l.PerByte*int64(n) }

// flushSlack is added to every bound. The runtime counts small allocations
// per P lazily, when a cached span is swapped out: a call can be charged
// with what other code on its P allocated before it (a fuzzing worker's own
// bookkeeping, an earlier input), up to about one span per size class. A
// CI run charged 130 KiB to a 47-byte time-range parse that allocates a few
// hundred bytes when run alone. A super-linear parser exceeds any fixed
// slack on a large enough input, which the fuzzer grows towards.
const flushSlack = 1 << 20

// Deadlines for one call. A fuzzing worker runs calls one after another, so
// a call that takes two seconds is a hang or worse than linear work. The
// seed corpus also runs as an ordinary test, beside every other package of
// `go test -race ./...` on a loaded machine: there the deadline only has to
// catch a loop that never ends, so it is wider.
const (
	FuzzDeadline = 2 * time.Second
	SeedDeadline = 30 * time.Second
)

// deadline is FuzzDeadline while `go test -fuzz` runs, SeedDeadline
// otherwise.
func deadline() time.Duration {
	if f := flag.Lookup("test.fuzz"); f != nil && f.Value.String() != "" {
		return FuzzDeadline
	}
	return SeedDeadline
}

// allocsMetric counts every byte allocated on the heap since the program
// started. runtime/metrics reads it without stopping the world, unlike
// runtime.ReadMemStats, which would cost more than most calls measured.
const allocsMetric = "/gc/heap/allocs:bytes"

func allocated() int64 {
	s := []metrics.Sample{{Name: allocsMetric}}
	metrics.Read(s)
	return int64(s[0].Value.Uint64())
}

// Check runs call, which parses an input of n bytes, and fails tb when it
// panics, does not return within the deadline, or allocates more than l
// allows for n bytes. call runs on its own goroutine so that a call that
// never returns still lets the test fail with the input; it must not use
// tb. Other goroutines' allocations count too, so a caller that runs
// servers keeps them idle during the call.
func Check(tb testing.TB, n int, l Limits, call func()) {
	tb.Helper()
	check(tb, n, l, deadline(), call)
}

func check(tb testing.TB, n int, l Limits, limit time.Duration, call func()) {
	tb.Helper()
	type result struct {
		allocated int64
		panicked  any
		stack     []byte
	}
	done := make(chan result, 1)
	go func() {
		var r result
		defer func() {
			if p := recover(); p != nil {
				r.panicked, r.stack = p, debug.Stack()
			}
			done <- r
		}()
		before := allocated()
		call()
		r.allocated = allocated() - before
	}()
	timer := time.NewTimer(limit)
	defer timer.Stop()
	select {
	case r := <-done:
		if r.panicked != nil {
			tb.Fatalf("panic on a %d-byte input: %v\n%s", n, r.panicked, r.stack)
		}
		if max := l.bytesFor(n) + flushSlack; r.allocated > max {
			tb.Fatalf("a %d-byte input allocated %s, more than the bound of %s (%s + %d per input byte + %s of other code's allocations counted late)",
				n, size(r.allocated), size(max), size(l.Base), l.PerByte, size(flushSlack))
		}
	case <-timer.C:
		tb.Fatalf("a %d-byte input still runs after %s", n, limit)
	}
}

func size(b int64) string {
	switch {
	case b >= 10<<20:
		return fmt.Sprintf("%d MiB", b>>20)
	case b >= 10<<10:
		return fmt.Sprintf("%d KiB", b>>10)
	}
	return fmt.Sprintf("%d B", b)
}
