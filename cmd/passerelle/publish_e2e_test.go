package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"codeberg.org/passerelle/passerelle/internal/binarytest"
	"codeberg.org/passerelle/passerelle/internal/fedipeertest"
	"codeberg.org/passerelle/passerelle/internal/mailtest"
	"codeberg.org/passerelle/passerelle/internal/storetest"
	"codeberg.org/passerelle/passerelle/publish"
	"codeberg.org/passerelle/passerelle/store"
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
//
// Participations (h19fed): the Fedify peer's Join of an event is
// Accepted and its contact gets a mail naming the event, the participant
// and the count, and another on the Leave; with --join-mode restricted
// (publish set) a Join is held, mailed with the command that answers it,
// listed by publish participants and Accepted by publish approve --event.
// The Event's id answers a browser with its page and an ActivityPub
// client with the Event and its participantCount. publish remove sends
// the follower a Delete of each event and of the Group, signed; then the
// Group and its events answer 410.
func TestPublishCalendar(t *testing.T) {
	for _, backend := range []string{store.SQLite, store.Postgres} {
		t.Run(backend, func(t *testing.T) { testPublishCalendar(t, backend) })
	}
}

func testPublishCalendar(t *testing.T, backend string) {
	peer := fedipeertest.Start(t, fedipeertest.Mobilizon)
	smtpd := mailtest.StartSMTP(t)
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
		"PASSERELLE_DATABASE_URL=" + storetest.URL(t, backend),
		"PASSERELLE_PUBLIC_URL=http://" + addr,
		"PASSERELLE_FEDERATION_ALLOW_PRIVATE_NETWORKS=true",
		"PASSERELLE_MAIL_FROM=Passerelle <events@passerelle.test>",
		"PASSERELLE_MAIL_SMTP=" + smtpd.URL(),
		"PASSERELLE_MAIL_SEND_INTERVAL=0s",
	}
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
	serve := startAfterPublish(t, dir, addr, env)

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

	firstID := group + "/events/" + publish.Key("first@club", "")
	testPublishedParticipations(t, peer, smtpd, serve, cli, group, firstID)

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
	if r := cli("publish", "remove", "club"); r.Code != 0 || !strings.Contains(r.Stdout, "1 follower(s) will be sent a Delete of its 1 event(s)") {
		t.Errorf("remove: exit %d %s %s", r.Code, r.Stdout, r.Stderr)
	}
	// The follower is told: a Delete of the live event and one of the
	// Group, both signed by the Group (the peer fetched its key).
	deadline = time.Now().Add(30 * time.Second)
	for {
		gotEvent, gotGroup := false, false
		for _, rec := range peer.Received(t) {
			if rec.Activity["type"] != "Delete" || rec.Activity["actor"] != group {
				continue
			}
			if !rec.Verified {
				t.Errorf("a Delete not verified by the peer: %v", rec.Activity)
			}
			switch o := rec.Activity["object"].(type) {
			case string:
				gotGroup = gotGroup || o == group
			case map[string]any:
				gotEvent = gotEvent || o["id"] == firstID
			}
		}
		if gotEvent && gotGroup {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no Delete of the event and the Group (event %v, group %v); log:\n%s", gotEvent, gotGroup, serve.Logs())
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Then, once nothing signed by it is left to deliver, the Group and
	// its events are gone (410), for servers and browsers alike.
	deadline = time.Now().Add(30 * time.Second)
	for {
		code, _ := fetch(t, group, "application/activity+json")
		if code == http.StatusGone {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the removed Group answers %d, want 410", code)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if code, body := fetch(t, firstID, "application/activity+json"); code != http.StatusGone || !strings.Contains(body, "Tombstone") {
		t.Errorf("an event of the removed calendar: %d %s", code, body)
	}
	if code, _ := fetch(t, firstID, "text/html"); code != http.StatusGone {
		t.Errorf("the page of an event of the removed calendar: %d", code)
	}
}

// fetch GETs url with that Accept and returns the status and body.
func fetch(t *testing.T, url, accept string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Accept", accept)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// testPublishedParticipations is TestPublishCalendar's part on Joins,
// Leaves, join modes, the organiser's mail and the event's page.
func testPublishedParticipations(t *testing.T, peer *fedipeertest.Peer, smtpd *mailtest.SMTPServer, serve *binarytest.Process,
	cli func(args ...string) binarytest.Result, group, eventID string) {
	t.Helper()
	alice, mod := peer.ActorURL("alice"), peer.ActorURL("mod")
	answerTo := func(actor string) (fedipeertest.Received, bool) {
		for _, rec := range peer.Received(t) {
			if o, ok := rec.Activity["object"].(map[string]any); ok && o["type"] == "Join" && o["actor"] == actor {
				return rec, true
			}
		}
		return fedipeertest.Received{}, false
	}
	waitAnswer := func(actor string) fedipeertest.Received {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for time.Now().Before(deadline) {
			if rec, ok := answerTo(actor); ok {
				if !rec.Verified || rec.Activity["actor"] != group {
					t.Errorf("answer to the Join of %s: %+v", actor, rec)
				}
				return rec
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Fatalf("no answer to the Join of %s; log:\n%s", actor, serve.Logs())
		return fedipeertest.Received{}
	}
	count := func() any {
		t.Helper()
		code, body := fetch(t, eventID, "application/activity+json")
		var ev map[string]any
		if code != 200 || json.Unmarshal([]byte(body), &ev) != nil {
			t.Fatalf("GET the Event: %d %s", code, body)
		}
		return ev["participantCount"]
	}
	mails := func(n int) []string {
		t.Helper()
		var out []string
		for _, m := range smtpd.Wait(t, n, 30*time.Second) {
			out = append(out, string(m))
		}
		return out
	}

	// The Event's id: a browser gets the page, a server the Event.
	if code, body := fetch(t, eventID, "text/html,application/xhtml+xml"); code != 200 || !strings.Contains(body, "Repair café") || !strings.Contains(body, "@club@") {
		t.Errorf("the event's page: %d\n%s", code, body)
	}
	if n := count(); n != float64(0) {
		t.Errorf("participantCount before any Join = %v", n)
	}

	// Free: Accept, the count, a mail; Leave: a mail.
	peer.Send(t, "alice", group+"/inbox", map[string]any{"@context": "https://www.w3.org/ns/activitystreams",
		"id": alice + "#join-1", "type": "Join", "actor": alice, "object": eventID}, "")
	if rec := waitAnswer(alice); rec.Activity["type"] != "Accept" {
		t.Errorf("answer to a free Join: %v", rec.Activity)
	}
	if n := count(); n != float64(1) {
		t.Errorf("participantCount after the Join = %v", n)
	}
	m := mails(1)
	if !strings.Contains(m[0], "To: orga@club.example") || !strings.Contains(m[0], "Repair caf") || !strings.Contains(m[0], alice+" joined") || !strings.Contains(m[0], "Participants now: 1.") {
		t.Errorf("the organiser's mail of the Join:\n%s", m[0])
	}
	peer.Send(t, "alice", group+"/inbox", map[string]any{"@context": "https://www.w3.org/ns/activitystreams",
		"id": alice + "#leave-1", "type": "Leave", "actor": alice, "object": eventID}, "")
	m = mails(2)
	if !strings.Contains(m[1], alice+" left") || !strings.Contains(m[1], "Participants now: 0.") {
		t.Errorf("the organiser's mail of the Leave:\n%s", m[1])
	}

	// Restricted: held, mailed with the command, approved.
	if r := cli("publish", "set", "club", "--join-mode", "restricted"); r.Code != 0 || !strings.Contains(r.Stdout, "join mode restricted") {
		t.Fatalf("publish set: exit %d %s %s", r.Code, r.Stdout, r.Stderr)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		found := false
		for _, rec := range peer.Received(t) {
			if o, _ := rec.Activity["object"].(map[string]any); rec.Activity["type"] == "Update" && o["id"] == eventID && o["joinMode"] == "restricted" {
				found = true
			}
		}
		if found {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no Update with joinMode restricted; log:\n%s", serve.Logs())
		}
		time.Sleep(100 * time.Millisecond)
	}
	peer.Send(t, "mod", group+"/inbox", map[string]any{"@context": "https://www.w3.org/ns/activitystreams",
		"id": mod + "#join-1", "type": "Join", "actor": mod, "object": eventID}, "")
	m = mails(3)
	key := eventID[strings.LastIndex(eventID, "/")+1:]
	if !strings.Contains(m[2], mod+" asks to join") || !strings.Contains(m[2], "passerelle publish approve club "+mod+" --event "+key) {
		t.Errorf("the organiser's mail of a held Join:\n%s", m[2])
	}
	if _, ok := answerTo(mod); ok {
		t.Error("a held Join was answered")
	}
	if r := cli("publish", "participants", "club"); !strings.Contains(r.Stdout, mod) || !strings.Contains(r.Stdout, "pending") || !strings.Contains(r.Stdout, key) || !strings.Contains(r.Stdout, "Repair café") {
		t.Errorf("publish participants:\n%s%s", r.Stdout, r.Stderr)
	}
	if r := cli("publish", "approve", "club", mod, "--event", eventID); r.Code != 0 {
		t.Fatalf("publish approve --event: exit %d %s", r.Code, r.Stderr)
	}
	if rec := waitAnswer(mod); rec.Activity["type"] != "Accept" {
		t.Errorf("answer to an approved Join: %v", rec.Activity)
	}
	if r := cli("publish", "approve", "club", mod, "--event", eventID); r.Code != 2 {
		t.Errorf("a Join approved twice: exit %d", r.Code)
	}
	if n := count(); n != float64(1) {
		t.Errorf("participantCount after the approval = %v", n)
	}
	if r := cli("publish", "set", "club", "--join-mode", "free"); r.Code != 0 {
		t.Errorf("publish set back to free: exit %d %s", r.Code, r.Stderr)
	}
}
