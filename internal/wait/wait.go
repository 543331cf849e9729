// Package wait waits, in tests, for a condition another process or
// goroutine brings about, polling within a bound.
package wait

import (
	"testing"
	"time"
)

// For polls cond every 25 ms until it holds, and returns how long that
// took; after within it fails the test naming what was awaited.
func For(t testing.TB, within time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > within {
			t.Fatalf("timed out after %s waiting for %s", within, what)
		}
		time.Sleep(25 * time.Millisecond)
	}
	return time.Since(start)
}
