package main

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"codeberg.org/passerelle/passerelle/internal/binarytest"
	"codeberg.org/passerelle/passerelle/internal/fedipeertest"
	"codeberg.org/passerelle/passerelle/internal/storetest"
)

// davCounter is a proxy in front of Radicale that counts what passerelle
// asks: the method, and for a REPORT its kind (sync-collection,
// calendar-multiget, calendar-query).
type davCounter struct {
	mu     sync.Mutex
	counts map[string]int
	proxy  *httputil.ReverseProxy
	// before, when set, sees each request before Radicale does.
	before func(r *http.Request)
}

var reportKind = regexp.MustCompile(`<(?:[A-Za-z0-9]+:)?(sync-collection|calendar-multiget|calendar-query)\b`)

func newDAVCounter(t *testing.T, target string) (*httptest.Server, *davCounter) {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	c := &davCounter{counts: map[string]int{}, proxy: httputil.NewSingleHostReverseProxy(u)}
	srv := httptest.NewServer(c)
	t.Cleanup(srv.Close)
	return srv, c
}

func (c *davCounter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	key := r.Method
	if m := reportKind.FindSubmatch(body); r.Method == "REPORT" && m != nil {
		key = string(m[1])
	}
	c.mu.Lock()
	c.counts[key]++
	before := c.before
	c.mu.Unlock()
	if before != nil {
		before(r)
	}
	c.proxy.ServeHTTP(w, r)
}

// take returns the counts since the last call.
func (c *davCounter) take() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.counts
	c.counts = map[string]int{}
	return out
}

// TestPublishCalDAVSync publishes a Radicale calendar, followed by the
// Fedify peer, on both backends: passerelle polls it the CalDAV way. A
// poll with nothing changed is one PROPFIND and no REPORT; an event
// changed in Radicale is one sync-collection and one calendar-multiget,
// and reaches the follower as an Update; one deleted there, a Delete; a
// sync-token Radicale refuses leads to a calendar-query of the whole
// calendar, after which polls are incremental again.
func TestPublishCalDAVSync(t *testing.T) {
	for _, backend := range []struct {
		name string
		url  func(testing.TB) string
	}{{"sqlite", storetest.SQLiteURL}, {"postgres", storetest.PostgresURL}} {
		t.Run(backend.name, func(t *testing.T) { testPublishCalDAVSync(t, backend.url(t)) })
	}
}

func testPublishCalDAVSync(t *testing.T, dbURL string) {
	peer := fedipeertest.Start(t, fedipeertest.Mobilizon)
	radicale := startRadicale(t)
	if code := davDo(t, "MKCALENDAR", radicale+"/club/events/", ""); code != http.StatusCreated {
		t.Fatalf("MKCALENDAR: %d", code)
	}
	proxy, counter := newDAVCounter(t, radicale)
	col := proxy.URL + "/club/events/"
	paris, _ := time.LoadLocation("Europe/Paris")
	day := time.Now().In(paris).AddDate(0, 0, 5).Truncate(time.Hour)
	wrap := func(ev string) string {
		return "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//club//EN\r\n" + ev + "END:VCALENDAR\r\n"
	}
	put := func(name, ev string) {
		t.Helper()
		if code := davDo(t, "PUT", radicale+"/club/events/"+name, wrap(ev)); code/100 != 2 {
			t.Fatalf("PUT %s: %d", name, code)
		}
	}
	put("first.ics", icsEvent("first@club", "Assemblée générale", day))
	put("second.ics", icsEvent("second@club", "Permanence", day.AddDate(0, 0, 2)))

	dir := t.TempDir()
	addr := binarytest.FreeAddr(t, "127.0.0.1")
	env := []string{
		"PASSERELLE_DATABASE_URL=" + dbURL,
		"PASSERELLE_PUBLIC_URL=http://" + addr,
		"PASSERELLE_FEDERATION_ALLOW_PRIVATE_NETWORKS=true",
	}
	if r := binarytest.Run(t, dir, env, "migrate"); r.Code != 0 {
		t.Fatalf("migrate: %d %s", r.Code, r.Stderr)
	}
	cli := func(args ...string) binarytest.Result {
		t.Helper()
		return binarytest.Run(t, dir, append([]string{"PASSERELLE_LISTEN=" + addr}, env...), args...)
	}
	r := cli("publish", col, "--name", "club", "--user", "club", "--password", "secret")
	if r.Code != 0 || !strings.Contains(r.Stdout, "2 events: 2 new") {
		t.Fatalf("publish: exit %d\n%s\n%s", r.Code, r.Stdout, r.Stderr)
	}
	serve := startAfterPublish(t, dir, addr, env)
	group := "http://" + addr + "/actors/club"
	if d := peer.Send(t, "alice", group+"/inbox", map[string]any{
		"@context": "https://www.w3.org/ns/activitystreams", "id": peer.ActorURL("alice") + "#follow-club",
		"type": "Follow", "actor": peer.ActorURL("alice"), "object": group,
	}, ""); d.Status/100 != 2 {
		t.Fatalf("Follow answered %d: %s", d.Status, d.Body)
	}
	peer.WaitReceived(t, "Accept")
	waitFor := func(typ, name string) map[string]any {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for time.Now().Before(deadline) {
			for _, rec := range peer.Received(t) {
				obj, _ := rec.Activity["object"].(map[string]any)
				if rec.Activity["type"] == typ && obj != nil && (obj["name"] == name || obj["id"] == name) && rec.Verified {
					return obj
				}
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Fatalf("the peer received no %s of %q; serve's log:\n%s", typ, name, serve.Logs())
		return nil
	}
	second := waitFor("Create", "Permanence")["id"].(string)

	counter.take()
	if r := cli("publish", "refresh", "club"); r.Code != 0 || !strings.Contains(r.Stdout, "not modified") {
		t.Errorf("refresh without change: %s %s", r.Stdout, r.Stderr)
	}
	if got := counter.take(); got["PROPFIND"] != 1 || len(got) != 1 {
		t.Errorf("a poll with nothing changed asked %v, want one PROPFIND alone", got)
	}

	put("first.ics", icsEvent("first@club", "Assemblée générale (salle 2)", day))
	if r := cli("publish", "refresh", "club"); r.Code != 0 || !strings.Contains(r.Stdout, "1 updated") {
		t.Errorf("refresh after a change: %s %s", r.Stdout, r.Stderr)
	}
	if got := counter.take(); got["sync-collection"] != 1 || got["calendar-multiget"] != 1 || got["calendar-query"] != 0 {
		t.Errorf("a poll after one change asked %v, want one sync-collection and one calendar-multiget", got)
	}
	waitFor("Update", "Assemblée générale (salle 2)")

	davDo(t, "DELETE", radicale+"/club/events/second.ics", "")
	if r := cli("publish", "refresh", "club"); r.Code != 0 || !strings.Contains(r.Stdout, "1 deleted") {
		t.Errorf("refresh after a DELETE: %s %s", r.Stdout, r.Stderr)
	}
	if got := counter.take(); got["sync-collection"] != 1 || got["calendar-multiget"] != 0 || got["calendar-query"] != 0 {
		t.Errorf("a poll after a removal asked %v, want one sync-collection alone", got)
	}
	waitFor("Delete", second)

	// A token Radicale does not know (its storage was reset, say): 403
	// valid-sync-token, and the whole calendar is read again.
	db := storetest.Open(t, dbURL)
	if _, err := storetest.Exec(db, "UPDATE published_calendars SET sync_token = ? WHERE slug = ?", "http://radicale.org/ns/sync/0123456789abcdef", "club"); err != nil {
		t.Fatal(err)
	}
	put("third.ics", icsEvent("third@club", "Vide-grenier", day.AddDate(0, 0, 3)))
	if r := cli("publish", "refresh", "club"); r.Code != 0 || !strings.Contains(r.Stdout, "2 events: 1 new, 0 updated, 0 cancelled, 0 deleted") {
		t.Errorf("refresh with a refused token: %s %s", r.Stdout, r.Stderr)
	}
	if got := counter.take(); got["sync-collection"] != 1 || got["calendar-query"] != 1 {
		t.Errorf("a poll with a refused token asked %v, want the refused sync-collection then one calendar-query", got)
	}
	waitFor("Create", "Vide-grenier")
	if r := cli("publish", "refresh", "club"); r.Code != 0 || !strings.Contains(r.Stdout, "not modified") {
		t.Errorf("refresh after the resync: %s %s", r.Stdout, r.Stderr)
	}
	if got := counter.take(); len(got) != 1 {
		t.Errorf("a poll after the resync asked %v, want one PROPFIND alone", got)
	}
}

// TestPublishWriteAttendees publishes a Radicale calendar with
// --write-attendees, on both backends: a Join from the Fedify peer adds
// the participant as an ATTENDEE of the event in Radicale (on the
// occurrence's own VEVENT for a recurring one), a Leave removes it, and
// the polls that read these writes back send the followers no Update.
// The organiser's change to the event between passerelle's read and its
// write makes Radicale answer 412 to the If-Match: passerelle reads it
// again and writes the ATTENDEE on top of the change.
func TestPublishWriteAttendees(t *testing.T) {
	for _, backend := range []struct {
		name string
		url  func(testing.TB) string
	}{{"sqlite", storetest.SQLiteURL}, {"postgres", storetest.PostgresURL}} {
		t.Run(backend.name, func(t *testing.T) { testPublishWriteAttendees(t, backend.url(t)) })
	}
}

func testPublishWriteAttendees(t *testing.T, dbURL string) {
	peer := fedipeertest.Start(t, fedipeertest.Mobilizon)
	radicale := startRadicale(t)
	col := radicale + "/club/events/"
	if code := davDo(t, "MKCALENDAR", col, ""); code != http.StatusCreated {
		t.Fatalf("MKCALENDAR: %d", code)
	}
	proxy, counter := newDAVCounter(t, radicale)
	paris, _ := time.LoadLocation("Europe/Paris")
	day := time.Now().In(paris).AddDate(0, 0, 5).Truncate(time.Hour)
	wrap := func(ev string) string {
		return "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//club//EN\r\n" + ev + "END:VCALENDAR\r\n"
	}
	davDo(t, "PUT", col+"first.ics", wrap(icsEvent("first@club", "Assemblée générale", day)))
	// The organiser edits the first event (a note no follower sees)
	// just as passerelle first writes to it.
	var organiserEdit sync.Once
	counter.before = func(r *http.Request) {
		if r.Method != "PUT" || !strings.HasSuffix(r.URL.Path, "/first.ics") {
			return
		}
		organiserEdit.Do(func() {
			req, _ := http.NewRequest("PUT", col+"first.ics", strings.NewReader(wrap(icsEvent("first@club", "Assemblée générale", day, "X-CLUB-NOTE:salle réservée"))))
			req.SetBasicAuth("club", "secret")
			req.Header.Set("Content-Type", "text/calendar; charset=utf-8")
			if resp, err := http.DefaultClient.Do(req); err == nil {
				resp.Body.Close()
			}
		})
	}
	davDo(t, "PUT", col+"weekly.ics", wrap(icsEvent("weekly@club", "Permanence", day.AddDate(0, 0, 1), "RRULE:FREQ=WEEKLY;COUNT=4")))

	dir := t.TempDir()
	addr := binarytest.FreeAddr(t, "127.0.0.1")
	env := []string{
		"PASSERELLE_DATABASE_URL=" + dbURL,
		"PASSERELLE_PUBLIC_URL=http://" + addr,
		"PASSERELLE_FEDERATION_ALLOW_PRIVATE_NETWORKS=true",
	}
	if r := binarytest.Run(t, dir, env, "migrate"); r.Code != 0 {
		t.Fatalf("migrate: %d %s", r.Code, r.Stderr)
	}
	cli := func(args ...string) binarytest.Result {
		t.Helper()
		return binarytest.Run(t, dir, append([]string{"PASSERELLE_LISTEN=" + addr}, env...), args...)
	}
	r := cli("publish", proxy.URL+"/club/events/", "--name", "club", "--user", "club", "--password", "secret", "--write-attendees")
	if r.Code != 0 || !strings.Contains(r.Stdout, "5 events: 5 new") {
		t.Fatalf("publish: exit %d\n%s\n%s", r.Code, r.Stdout, r.Stderr)
	}
	serve := startAfterPublish(t, dir, addr, env)
	group := "http://" + addr + "/actors/club"
	alice := peer.ActorURL("alice")
	if d := peer.Send(t, "alice", group+"/inbox", map[string]any{
		"@context": "https://www.w3.org/ns/activitystreams", "id": alice + "#follow-club",
		"type": "Follow", "actor": alice, "object": group,
	}, ""); d.Status/100 != 2 {
		t.Fatalf("Follow answered %d: %s", d.Status, d.Body)
	}
	peer.WaitReceived(t, "Accept")
	// The events, from the backfill: the first, and the second
	// occurrence of the weekly series.
	var first, second string
	deadline := time.Now().Add(30 * time.Second)
	for (first == "" || second == "") && time.Now().Before(deadline) {
		for _, rec := range peer.Received(t) {
			obj, _ := rec.Activity["object"].(map[string]any)
			if rec.Activity["type"] != "Create" || obj == nil {
				continue
			}
			switch start, _ := obj["startTime"].(string); {
			case obj["name"] == "Assemblée générale":
				first = obj["id"].(string)
			case obj["name"] == "Permanence" && strings.HasPrefix(start, day.AddDate(0, 0, 8).Format("2006-01-02")):
				second = obj["id"].(string)
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	if first == "" || second == "" {
		t.Fatalf("the backfill did not bring the events (first %q, second occurrence %q); log:\n%s", first, second, serve.Logs())
	}
	get := func(name string) string {
		t.Helper()
		req, _ := http.NewRequest("GET", col+name, nil)
		req.SetBasicAuth("club", "secret")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		// Unfolded, to look for a whole property.
		return strings.ReplaceAll(string(b), "\r\n ", "")
	}
	waitCal := func(name string, ok func(string) bool, what string) string {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			s := get(name)
			if ok(s) {
				return s
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: Radicale's %s is\n%s\nserve's log:\n%s", what, name, s, serve.Logs())
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	send := func(typ, object string) {
		t.Helper()
		act := map[string]any{"@context": "https://www.w3.org/ns/activitystreams", "id": alice + "#" + strings.ToLower(typ) + "-" + object,
			"type": typ, "actor": alice, "object": object}
		if d := peer.Send(t, "alice", group+"/inbox", act, ""); d.Status/100 != 2 {
			t.Fatalf("%s answered %d: %s", typ, d.Status, d.Body)
		}
	}

	counter.take()
	send("Join", first)
	s := waitCal("first.ics", func(s string) bool { return strings.Contains(s, "X-PASSERELLE-ACTOR") }, "the Join wrote no ATTENDEE")
	if !strings.Contains(s, ":"+alice+"\r\n") || !strings.Contains(s, "PARTSTAT=ACCEPTED") || !strings.Contains(s, "CN=") {
		t.Errorf("the ATTENDEE written:\n%s", s)
	}
	if !strings.Contains(s, "X-CLUB-NOTE:salle réservée") {
		t.Errorf("the organiser's edit was lost to the write:\n%s", s)
	}
	if got := counter.take(); got["PUT"] != 2 || got["GET"] != 2 {
		t.Errorf("the write after a 412 asked %v, want two GETs and two PUTs", got)
	}
	send("Join", second)
	s = waitCal("weekly.ics", func(s string) bool { return strings.Contains(s, "RECURRENCE-ID") }, "the Join of an occurrence wrote no override")
	if strings.Count(s, "BEGIN:VEVENT") != 2 || strings.Count(s, "X-PASSERELLE-ACTOR") != 1 || !strings.Contains(s, "RECURRENCE-ID;TZID=Europe/Paris:"+day.AddDate(0, 0, 8).Format("20060102T150405")) {
		t.Errorf("the occurrence's override:\n%s", s)
	}
	if r := cli("publish", "refresh", "club"); r.Code != 0 || !strings.Contains(r.Stdout, "5 events: 0 new, 0 updated, 0 cancelled, 0 deleted") {
		t.Errorf("refresh after the writes: %s %s", r.Stdout, r.Stderr)
	}

	send("Leave", first)
	waitCal("first.ics", func(s string) bool { return !strings.Contains(s, "ATTENDEE") }, "the Leave left the ATTENDEE")
	if r := cli("publish", "refresh", "club"); r.Code != 0 || !strings.Contains(r.Stdout, "5 events: 0 new, 0 updated, 0 cancelled, 0 deleted") {
		t.Errorf("refresh after the Leave: %s %s", r.Stdout, r.Stderr)
	}
	time.Sleep(time.Second)
	for _, rec := range peer.Received(t) {
		if rec.Activity["type"] == "Update" {
			t.Errorf("the follower got an Update for an ATTENDEE written: %v", rec.Activity)
		}
	}

	// Restricted: a held Join writes nothing; the organiser's approval
	// writes the ATTENDEE.
	if r := cli("publish", "set", "club", "--join-mode", "restricted"); r.Code != 0 {
		t.Fatalf("publish set: %d %s %s", r.Code, r.Stdout, r.Stderr)
	}
	act := map[string]any{"@context": "https://www.w3.org/ns/activitystreams", "id": alice + "#join-again", "type": "Join", "actor": alice, "object": first}
	if d := peer.Send(t, "alice", group+"/inbox", act, ""); d.Status/100 != 2 {
		t.Fatalf("Join answered %d: %s", d.Status, d.Body)
	}
	key := first[strings.LastIndex(first, "/")+1:]
	deadline = time.Now().Add(30 * time.Second)
	for !strings.Contains(cli("publish", "participants", "club").Stdout, "pending") {
		if time.Now().After(deadline) {
			t.Fatalf("the Join was not held; log:\n%s", serve.Logs())
		}
		time.Sleep(200 * time.Millisecond)
	}
	time.Sleep(time.Second)
	if s := get("first.ics"); strings.Contains(s, "ATTENDEE") {
		t.Errorf("a held Join wrote an ATTENDEE:\n%s", s)
	}
	if r := cli("publish", "approve", "club", alice, "--event", key); r.Code != 0 {
		t.Fatalf("publish approve: %d %s %s", r.Code, r.Stdout, r.Stderr)
	}
	waitCal("first.ics", func(s string) bool { return strings.Contains(s, ":"+alice+"\r\n") }, "the approval wrote no ATTENDEE")
}

// startAfterPublish starts serve once the calendar is published, and waits
// for its first sweep (River runs it at start, once the replica leads) to
// have polled the calendar: a poll of serve's own at the same time as a
// counted `publish refresh` would make the test's counts and outputs a
// race. The next sweep is 15 minutes away.
func startAfterPublish(t *testing.T, dir, addr string, env []string) *binarytest.Process {
	t.Helper()
	serve := binarytest.Start(t, dir, addr, env)
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(serve.Logs(), "published calendar polled") && !strings.Contains(serve.Logs(), "poll refused") {
		if time.Now().After(deadline) {
			t.Fatalf("serve's start-up sweep did not poll the calendar; log:\n%s", serve.Logs())
		}
		time.Sleep(100 * time.Millisecond)
	}
	return serve
}
