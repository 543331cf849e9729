package main

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"codeberg.org/passerelle/passerelle/internal/binarytest"
	"codeberg.org/passerelle/passerelle/internal/calparsers"
	"codeberg.org/passerelle/passerelle/internal/fedipeertest"
	"codeberg.org/passerelle/passerelle/internal/storetest"
)

// TestFarFutureEventsRender (issue 13): events in 2040, 2044 and 2099 in
// zones with summer time (Dublin's is negative, Lord Howe's half an hour)
// are stored and rendered by the real server on both backends within a
// bound, and the feed's VTIMEZONEs give ical.js and python3-icalendar the
// instants the organiser meant (start and end). Before the fix, the first of them looped
// the renderer (holding SQLite's write lock) until the process was killed.
func TestFarFutureEventsRender(t *testing.T) {
	for _, backend := range []struct {
		name string
		url  func(testing.TB) string
	}{{"sqlite", storetest.SQLiteURL}, {"postgres", storetest.PostgresURL}} {
		t.Run(backend.name, func(t *testing.T) { testFarFutureEventsRender(t, backend.url(t)) })
	}
}

func testFarFutureEventsRender(t *testing.T, dbURL string) {
	peer := fedipeertest.Start(t, fedipeertest.Mobilizon)
	dir := t.TempDir()
	addr := binarytest.FreeAddr(t, "127.0.0.1")
	env := []string{
		"PASSERELLE_DATABASE_URL=" + dbURL,
		"PASSERELLE_PUBLIC_URL=http://" + addr,
		"PASSERELLE_FEDERATION_ALLOW_PRIVATE_NETWORKS=true",
	}
	binarytest.Start(t, dir, addr, env)
	if r := binarytest.Run(t, dir, append([]string{"PASSERELLE_LISTEN=" + addr}, env...), "follow", peer.Handle("mygroup")); r.Code != 0 {
		t.Fatalf("follow: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}

	want := map[string][2]string{} // event id → start and end as the parsers print them
	for _, zone := range []string{"Europe/Paris", "America/New_York", "Australia/Lord_Howe", "Europe/Dublin"} {
		loc, err := time.LoadLocation(zone)
		if err != nil {
			t.Fatal(err)
		}
		for _, start := range []time.Time{
			time.Date(2040, time.December, 31, 20, 0, 0, 0, loc), // where Go's zone bounds stuck
			time.Date(2044, time.July, 14, 21, 30, 0, 0, loc),
			time.Date(2099, time.March, 29, 10, 0, 0, 0, loc),
		} {
			c := peer.CreateEvent(t, fedipeertest.Event{
				Name:      zone + " " + start.Format("2006"),
				StartTime: start.Format(time.RFC3339),
				EndTime:   start.Add(3 * time.Hour).Format(time.RFC3339),
				Timezone:  zone,
			})
			for _, d := range c.Deliveries {
				if d.Status != 202 {
					t.Fatalf("serve answered %d to the Create of %s: %s", d.Status, zone, d.Body)
				}
			}
			const js = "2006-01-02T15:04:05.000Z"
			want[c.ID] = [2]string{start.UTC().Format(js), start.Add(3 * time.Hour).UTC().Format(js)}
		}
	}

	// Every event stored and rendered within a minute: the feed lists all.
	path := filepath.Join(t.TempDir(), "all.ics")
	deadline := time.Now().Add(time.Minute)
	for {
		resp, err := http.Get("http://" + addr + "/feeds/all.ics")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		n := 0
		for id := range want {
			if strings.Contains(string(body), "UID:"+id+"\r\n") {
				n++
			}
		}
		if resp.StatusCode == 200 && n == len(want) {
			if err := os.WriteFile(path, body, 0o600); err != nil {
				t.Fatal(err)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after a minute the feed (%d) has %d of the %d far-future events", resp.StatusCode, n, len(want))
		}
		time.Sleep(200 * time.Millisecond)
	}
	// python3-icalendar is asked to use the feed's VTIMEZONEs: by TZID
	// it uses pytz, whose tables have no summer time after 2037.
	for who, evs := range map[string][]calparsers.Event{"ical.js": calparsers.ICALjs(t, path), "python3-icalendar": calparsers.PythonOwnZones(t, path)} {
		seen := 0
		for _, ev := range evs {
			if w, ok := want[ev.UID]; ok {
				seen++
				if ev.Start != w[0] || ev.End != w[1] {
					t.Errorf("%s reads %s (%s) as %s–%s, want %s–%s", who, ev.UID, ev.Summary, ev.Start, ev.End, w[0], w[1])
				}
			}
		}
		if seen != len(want) {
			t.Errorf("%s read %d of the %d far-future events", who, seen, len(want))
		}
	}
}
