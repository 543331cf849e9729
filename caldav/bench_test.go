package caldav_test

import (
	"fmt"
	"testing"

	"codeberg.org/passerelle/passerelle/internal/storetest"
)

// The hot paths over loopback HTTP on a SQLite store with the fixture
// events: a time-range REPORT, a sync from the current token, a feed 304.
func BenchmarkHotPaths(b *testing.B) {
	env, _ := loaded(b, storetest.New(b))
	cal := env.URL + "/dav/calendars/public/all/"
	_, first := do(b, "REPORT", cal, fmt.Sprintf(syncTmpl, ""))
	token := tokenOf(b, first)
	resp, _ := do(b, "GET", env.URL+"/feeds/all.ics", "")
	etag := resp.Header.Get("ETag")
	for _, bc := range []struct {
		name string
		run  func()
	}{
		{"time-range-report", func() {
			do(b, "REPORT", cal, fmt.Sprintf(queryTmpl, `<c:time-range start="20250329T000000Z" end="20250401T000000Z"/>`), "Depth", "1")
		}},
		{"sync-no-change", func() { do(b, "REPORT", cal, fmt.Sprintf(syncTmpl, token)) }},
		{"feed-304", func() {
			if r, _ := do(b, "GET", env.URL+"/feeds/all.ics", "", "If-None-Match", etag); r.StatusCode != 304 {
				b.Fatalf("feed: %d, want 304", r.StatusCode)
			}
		}},
		{"feed-full", func() { do(b, "GET", env.URL+"/feeds/all.ics", "") }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				bc.run()
			}
		})
	}
}
