package main

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"codeberg.org/passerelle/passerelle/internal/binarytest"
	"codeberg.org/passerelle/passerelle/internal/fedipeertest"
	"codeberg.org/passerelle/passerelle/internal/storetest"
)

// icsFeed is a plain .ics served over HTTP on 127.0.0.2, as an
// association's website would, with an ETag.
type icsFeed struct {
	mu     sync.Mutex
	events []string
	raw    string
}

func (f *icsFeed) set(events ...string) { f.mu.Lock(); f.events, f.raw = events, ""; f.mu.Unlock() }

func (f *icsFeed) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch r.URL.Path {
	case "/page.html":
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprint(w, "<html><body>Our calendar</body></html>")
		return
	case "/huge.ics":
		w.Header().Set("Content-Type", "text/calendar")
		w.Write([]byte("BEGIN:VCALENDAR\r\n"))
		w.Write([]byte(strings.Repeat("X-PAD:"+strings.Repeat("x", 1000)+"\r\n", 11*1024)))
		return
	}
	body := "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//club//EN\r\n" + strings.Join(f.events, "") + "END:VCALENDAR\r\n"
	etag := fmt.Sprintf(`"%d-%d"`, len(body), len(f.events))
	if r.Header.Get("If-None-Match") == etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.Header().Set("ETag", etag)
	w.Header().Set("Content-Type", "text/calendar; charset=utf-8")
	fmt.Fprint(w, body)
}

func icsEvent(uid, summary string, start time.Time, extra ...string) string {
	lines := append([]string{"BEGIN:VEVENT", "UID:" + uid, "DTSTAMP:20260101T000000Z",
		"DTSTART;TZID=Europe/Paris:" + start.Format("20060102T150405"), "DURATION:PT2H", "SUMMARY:" + summary,
		"LOCATION:Maison des associations, 3 place du Marché, Lyon"}, extra...)
	return strings.Join(append(lines, "END:VEVENT"), "\r\n") + "\r\n"
}

// TestPublishCalendar drives the real binary: publish a plain .ics, the
// Fedify peer follows @club (Accepted), then receives a Create signed by
// the Group when an event is added, an Update when it changes, an Update
// with ical:status CANCELLED, and a Delete when it vanishes; bad calendars
// are refused with exit 2 and a failed poll shows in publish list without
// touching what is published.
func TestPublishCalendar(t *testing.T) {
	peer := fedipeertest.Start(t, fedipeertest.Mobilizon)
	feed := &icsFeed{}
	ln, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(feed)
	srv.Listener = ln
	srv.Start()
	defer srv.Close()

	dir := t.TempDir()
	addr := binarytest.FreeAddr(t, "127.0.0.1")
	env := []string{
		"PASSERELLE_DATABASE_URL=" + storetest.SQLiteURL(t),
		"PASSERELLE_PUBLIC_URL=http://" + addr,
		"PASSERELLE_FEDERATION_ALLOW_PRIVATE_NETWORKS=true",
	}
	serve := binarytest.Start(t, dir, addr, env)
	cli := func(args ...string) binarytest.Result {
		t.Helper()
		return binarytest.Run(t, dir, append([]string{"PASSERELLE_LISTEN=" + addr}, env...), args...)
	}

	paris, _ := time.LoadLocation("Europe/Paris")
	day := time.Now().In(paris).AddDate(0, 0, 10).Truncate(time.Hour)
	first := icsEvent("first@club", "Repair café", day)
	feed.set(first)

	// Bad input first: nothing gets published.
	for _, bad := range []struct{ url, want string }{
		{srv.URL + "/page.html", "not an iCalendar document"},
		{srv.URL + "/huge.ics", "10 MiB"},
		{"http://127.0.0.2:1/club.ics", "connect"},
		{"ftp://example.org/club.ics", "only https"},
	} {
		r := cli("publish", bad.url, "--name", "bad")
		if r.Code != 2 || !strings.Contains(r.Stderr, bad.want) {
			t.Errorf("publish %s: exit %d, want 2 with %q\n%s", bad.url, r.Code, bad.want, r.Stderr)
		}
	}
	if r := cli("publish", srv.URL+"/club.ics", "--name", "Not A Slug"); r.Code != 2 {
		t.Errorf("bad slug: exit %d", r.Code)
	}
	if r := cli("publish", srv.URL+"/club.ics", "--name", "bad", "--write-attendees"); r.Code != 2 || !strings.Contains(r.Stderr, "not a CalDAV calendar collection") {
		t.Errorf("--write-attendees on a feed: exit %d %s", r.Code, r.Stderr)
	}

	r := cli("publish", "webcal://"+strings.TrimPrefix(srv.URL, "http://")+"/club.ics", "--name", "club", "--title", "The Club", "--summary", "Repairs every month", "--contact", "orga@club.example")
	if r.Code == 2 && strings.Contains(r.Stderr, "https") {
		// webcal:// stands for https, which this test server does not
		// speak: publish it by its http URL.
		r = cli("publish", srv.URL+"/club.ics", "--name", "club", "--title", "The Club", "--summary", "Repairs every month", "--contact", "orga@club.example")
	}
	if r.Code != 0 || !strings.Contains(r.Stdout, "1 events: 1 new") {
		t.Fatalf("publish: exit %d\n%s\n%s", r.Code, r.Stdout, r.Stderr)
	}
	if r := cli("publish", srv.URL+"/club.ics", "--name", "club"); r.Code != 2 || !strings.Contains(r.Stderr, "taken") {
		t.Errorf("publish under a taken name: exit %d %s", r.Code, r.Stderr)
	}

	group := "http://" + addr + "/actors/club"
	d := peer.Send(t, "alice", group+"/inbox", map[string]any{
		"@context": "https://www.w3.org/ns/activitystreams", "id": peer.ActorURL("alice") + "#follow-club",
		"type": "Follow", "actor": peer.ActorURL("alice"), "object": group,
	}, "")
	if d.Status/100 != 2 {
		t.Fatalf("Follow answered %d: %s", d.Status, d.Body)
	}
	acc := peer.WaitReceived(t, "Accept")
	if !acc.Verified || acc.Activity["actor"] != group {
		t.Errorf("Accept: %+v", acc)
	}

	waitFor := func(typ, name string) fedipeertest.Received {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for time.Now().Before(deadline) {
			for _, rec := range peer.Received(t) {
				obj, _ := rec.Activity["object"].(map[string]any)
				if rec.Activity["type"] == typ && obj != nil && (name == "" || obj["name"] == name) {
					if !rec.Verified {
						t.Errorf("%s not verified by the peer", typ)
					}
					return rec
				}
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Fatalf("the peer received no %s of %q; serve's log:\n%s", typ, name, serve.Logs())
		return fedipeertest.Received{}
	}

	second := icsEvent("second@club", "Bike workshop", day.AddDate(0, 0, 7))
	feed.set(first, second)
	if r := cli("publish", "refresh", "club"); r.Code != 0 || !strings.Contains(r.Stdout, "1 new") {
		t.Fatalf("refresh: exit %d %s %s", r.Code, r.Stdout, r.Stderr)
	}
	create := waitFor("Create", "Bike workshop")
	ev := create.Activity["object"].(map[string]any)
	if ev["attributedTo"] != group || ev["ical:status"] != "CONFIRMED" || ev["timezone"] != "Europe/Paris" || ev["startTime"] == nil {
		t.Errorf("Event = %v", ev)
	}
	eventID := ev["id"].(string)

	feed.set(first, strings.Replace(second, "Bike workshop", "Bike workshop (bring tools)", 1))
	if r := cli("publish", "refresh", "club"); r.Code != 0 || !strings.Contains(r.Stdout, "1 updated") {
		t.Fatalf("refresh: exit %d %s %s", r.Code, r.Stdout, r.Stderr)
	}
	if up := waitFor("Update", "Bike workshop (bring tools)"); up.Activity["object"].(map[string]any)["id"] != eventID {
		t.Errorf("Update of another object: %v", up.Activity)
	}
	feed.set(first, strings.Replace(second, "SUMMARY:Bike workshop", "STATUS:CANCELLED\r\nSUMMARY:Bike workshop (cancelled)", 1))
	cli("publish", "refresh", "club")
	if c := waitFor("Update", "Bike workshop (cancelled)"); c.Activity["object"].(map[string]any)["ical:status"] != "CANCELLED" {
		t.Errorf("cancellation: %v", c.Activity)
	}

	// A poll that fails keeps everything: publish list says why.
	feed.set()
	if r := cli("publish", "refresh", "club"); r.Code == 0 || !strings.Contains(r.Stderr, "without any event") {
		t.Errorf("refresh of an empty calendar: exit %d %s", r.Code, r.Stderr)
	}
	r = cli("publish", "list", "--json")
	var line publishLine
	if err := json.Unmarshal([]byte(strings.TrimSpace(r.Stdout)), &line); err != nil {
		t.Fatalf("publish list --json: %v\n%s", err, r.Stdout)
	}
	if line.Slug != "club" || line.Events != 2 || line.Followers != 1 || !strings.Contains(line.Error, "without any event") {
		t.Errorf("publish list: %+v", line)
	}

	feed.set(first)
	if r := cli("publish", "refresh", "club"); r.Code != 0 || !strings.Contains(r.Stdout, "1 deleted") {
		t.Fatalf("refresh: exit %d %s %s", r.Code, r.Stdout, r.Stderr)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		found := false
		for _, rec := range peer.Received(t) {
			if obj, _ := rec.Activity["object"].(map[string]any); rec.Activity["type"] == "Delete" && obj["id"] == eventID && rec.Verified {
				found = true
			}
		}
		if found {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no Delete of %s; log:\n%s", eventID, serve.Logs())
		}
		time.Sleep(100 * time.Millisecond)
	}
	resp, err := http.Get(eventID)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusGone {
		t.Errorf("GET of the deleted event: %d, want 410", resp.StatusCode)
	}
	if r := cli("publish", "list"); !strings.Contains(r.Stdout, "club") || !strings.Contains(r.Stdout, "FOLLOWERS") {
		t.Errorf("publish list:\n%s", r.Stdout)
	}
	if r := cli("status"); !strings.Contains(r.Stdout, "Published calendars:") || !strings.Contains(r.Stdout, "club") {
		t.Errorf("status:\n%s", r.Stdout)
	}
	if r := cli("publish", "remove", "club"); r.Code != 0 {
		t.Errorf("remove: exit %d %s", r.Code, r.Stderr)
	}
	if resp, _ := http.Get(group); resp == nil || resp.StatusCode != http.StatusNotFound {
		t.Errorf("the removed Group still answers")
	}
}
