package dialects

import (
	"errors"
	"os"
	"testing"
	"time"

	"codeberg.org/passerelle/passerelle/bridges"
)

func TestName(t *testing.T) {
	for in, want := range map[string]string{
		"mobilizon": Mobilizon, "Mobilizon": Mobilizon, " gancio ": Gancio, "peertube": PeerTube,
		"mastodon": Generic, "": Generic, "friendica": Generic,
	} {
		if got := Name(in); got != want {
			t.Errorf("Name(%q) = %q, want %q", in, got, want)
		}
	}
}

// Each software name reaches its own dialect: the same documents decode
// differently (or not at all) depending on the dialect chosen.
func TestForPicksTheDialect(t *testing.T) {
	mz, err := os.ReadFile("../mobilizon/testdata/event-object-mobilizon.org-2019.json")
	if err != nil {
		t.Fatal(err)
	}
	ev, err := For("mobilizon", Options{}).Decode(mz)
	if err != nil {
		t.Fatal(err)
	}
	if *ev.Place.Latitude != 47.21617415 {
		t.Errorf("mobilizon dialect did not apply its geo rule: latitude %v", *ev.Place.Latitude)
	}
	ev, err = For("something-else", Options{}).Decode(mz)
	if err != nil {
		t.Fatal(err)
	}
	if *ev.Place.Latitude != -1.54939699141711 {
		t.Errorf("generic dialect changed the geo pair: latitude %v", *ev.Place.Latitude)
	}

	live, err := os.ReadFile("../peertube/testdata/live-scheduled-built.json")
	if err != nil {
		t.Fatal(err)
	}
	ev, err = For("peertube", Options{LiveDuration: 2 * time.Hour}).Decode(live)
	if err != nil {
		t.Fatal(err)
	}
	if d := ev.End.Sub(ev.Start); d != 2*time.Hour {
		t.Errorf("LiveDuration not passed on: %v", d)
	}
	if _, err := For("mobilizon", Options{}).Decode(live); !errors.Is(err, bridges.ErrNotAnEvent) {
		t.Errorf("a Video through the mobilizon dialect: err = %v, want bridges.ErrNotAnEvent", err)
	}
}
