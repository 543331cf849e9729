package main

import (
	"bytes"
	"fmt"
	"slices"
	"testing"
	"time"

	"codeberg.org/passerelle/passerelle/internal/fedipeertest"
)

// BenchmarkRSVPLatency measures issue 6's RSVP latency on loopback, on the
// real binary: from the IMAP APPEND of a calendar reply (Gmail's, made to
// answer each invitation) into the Dovecot mailbox serve watches with IDLE,
// to the Join received (and verified) by the Fedify peer. Each iteration
// is one reply from its own invited address; it reports the median and
// the 90th percentile. Run it with a fixed count:
//
//	go test -run '^$' -bench RSVPLatency -benchtime 20x ./cmd/passerelle
func BenchmarkRSVPLatency(b *testing.B) {
	w := startMailWorld(b)
	ev := w.event(fedipeertest.Event{Name: "Latency picnic"})
	n := b.N
	organizers := make([]string, n)
	for i := range n {
		addr := fmt.Sprintf("guest%d@gmail.com", i)
		w.invite("Latency picnic", addr)
		_, c := w.waitMail(addr, "Invitation: Latency picnic", 1).calendar(b)
		organizers[i] = c.Organizer
	}
	var lat []time.Duration
	b.ResetTimer()
	for i := range n {
		addr := fmt.Sprintf("guest%d@gmail.com", i)
		raw := reply(b, "gmail-reply-accepted.eml", "14ef516ad2e6ce325d5c8efcf9d7ddbfa30f9d15", ev.ID, organizers[i])
		raw = bytes.ReplaceAll(raw, []byte("tcataldo@gmail.com"), []byte(addr))
		before := len(w.received("Join", ev.ID))
		start := time.Now()
		w.appendMail(raw)
		var joins []fedipeertest.Received
		waitUntil(b, "the Join of "+addr, 30*time.Second, func() bool {
			joins = w.received("Join", ev.ID)
			return len(joins) > before
		})
		got := joins[len(joins)-1]
		if !got.Verified {
			b.Fatalf("Join not verified by Fedify: %+v", got)
		}
		lat = append(lat, time.UnixMilli(got.At).Sub(start))
	}
	b.StopTimer()
	slices.Sort(lat)
	median, p90 := lat[len(lat)/2], lat[(len(lat)*9+9)/10-1]
	b.ReportMetric(float64(median.Milliseconds()), "ms-median")
	b.ReportMetric(float64(p90.Milliseconds()), "ms-p90")
	b.Logf("RSVP latency over %d replies: median %s, p90 %s, min %s, max %s", len(lat), median, p90, lat[0], lat[len(lat)-1])
}
