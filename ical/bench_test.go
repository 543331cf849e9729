package ical

import (
	"bytes"
	"testing"

	"codeberg.org/passerelle/passerelle/internal/eventfixtures"
)

// BenchmarkRenderEvent is the cost paid once per event change.
func BenchmarkRenderEvent(b *testing.B) {
	ev := eventfixtures.Events()["paris-dst"]
	r := &Renderer{}
	for b.Loop() {
		if _, err := r.RenderEvent(ev); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFeed1000 assembles a feed of 1,000 stored calendars: the whole
// cost of a feed request besides the database read.
func BenchmarkFeed1000(b *testing.B) {
	var cals [][]byte
	r := &Renderer{}
	for _, ev := range eventfixtures.Events() {
		c, err := r.RenderEvent(ev)
		if err != nil {
			b.Fatal(err)
		}
		cals = append(cals, c)
	}
	for len(cals) < 1000 {
		cals = append(cals, cals[len(cals)%4])
	}
	var out bytes.Buffer
	b.SetBytes(int64(len(bytes.Join(cals, nil))))
	for b.Loop() {
		out.Reset()
		if err := Feed(&out, FeedInfo{Name: "bench"}, cals); err != nil {
			b.Fatal(err)
		}
	}
}
