package outbox

import (
	"testing"
	"time"
)

func TestBackoff(t *testing.T) {
	want := []time.Duration{30 * time.Second, time.Minute, 2 * time.Minute, 4 * time.Minute}
	for i, w := range want {
		if got := Backoff(i + 1); got != w {
			t.Errorf("Backoff(%d) = %s, want %s", i+1, got, w)
		}
	}
	if got := Backoff(40); got != 24*time.Hour {
		t.Errorf("Backoff(40) = %s, want the 1-day cap", got)
	}
}

// TestHostBusyWait: a delivery that finds its host busy waits a quarter
// of a second at first, twice as long at each wait after, up to 2 s, each
// with up to half as much again at random.
func TestHostBusyWait(t *testing.T) {
	for waits, least := range []time.Duration{250 * time.Millisecond, 500 * time.Millisecond, time.Second, 2 * time.Second, 2 * time.Second, 2 * time.Second} {
		most := least * 5 / 2
		for range 200 {
			if got := hostBusyWait(waits); got < least || got > most {
				t.Fatalf("after %d waits: %s, want %s to %s", waits, got, least, most)
			}
		}
	}
	if most := hostBusyWait(100); most > 5*time.Second {
		t.Errorf("the longest wait is %s, over 5s", most)
	}
}
