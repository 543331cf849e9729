package caldav_test

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"codeberg.org/passerelle/passerelle/bridges"
	"codeberg.org/passerelle/passerelle/internal/calendarstest"
	"codeberg.org/passerelle/passerelle/internal/eventfixtures"
	"codeberg.org/passerelle/passerelle/internal/storetest"
	"codeberg.org/passerelle/passerelle/store"
)

// loaded starts a server on db with two sources and the fixture events: the
// Paris and New York events in "fablab", the Mobilizon and Gancio ones in
// "libre", plus one event starting exactly at 2025-06-01T00:00Z.
func loaded(t testing.TB, db *store.DB) (*calendarstest.Env, map[string]*bridges.StoredEvent) {
	env := calendarstest.Start(t, db)
	fablab := env.AddSource(t, "fablab", "Fablab, Paris")
	libre := env.AddSource(t, "libre", "Libre & co")
	evs := eventfixtures.Events()
	stored := map[string]*bridges.StoredEvent{}
	for name, src := range map[string]*bridges.Source{"paris-dst": fablab, "new-york-cancelled": fablab, "mobilizon-2019": libre, "gancio-2021": libre} {
		ev := *evs[name]
		ev.SourceID = src.ID
		stored[name] = env.Apply(t, ev)
	}
	boundary := bridges.Event{APID: "https://libre.example/events/boundary", SourceID: libre.ID, Title: "Starts at the range start",
		Start: time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC), End: time.Date(2025, 6, 1, 2, 0, 0, 0, time.UTC),
		Status: bridges.StatusConfirmed, JoinMode: bridges.JoinFree, Public: true, Updated: time.Date(2025, 5, 1, 0, 0, 0, 0, time.UTC)}
	stored["boundary"] = env.Apply(t, boundary)
	return env, stored
}

func do(t testing.TB, method, url, body string, hdr ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/xml; charset=utf-8")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	client := &http.Client{Transport: testTransport, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }, Timeout: 10 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// testTransport is shared so that connections are reused, as clients do.
var testTransport = &http.Transport{DisableCompression: true}

const propfindCal = `<?xml version="1.0"?><d:propfind xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav" xmlns:cs="http://calendarserver.org/ns/" xmlns:a="http://apple.com/ns/ical/" xmlns:x="urn:x"><d:prop>
<d:displayname/><d:resourcetype/><cs:getctag/><d:sync-token/><c:supported-calendar-component-set/><d:supported-report-set/>
<d:current-user-privilege-set/><a:calendar-color/><c:calendar-description/><x:unknown/></d:prop></d:propfind>`

func TestDiscoveryAndProperties(t *testing.T) { storetest.Each(t, testDiscoveryAndProperties) }

func testDiscoveryAndProperties(t *testing.T, db *store.DB) {
	env, _ := loaded(t, db)
	for _, tc := range []struct {
		name, method, path, body string
		hdr                      []string
		code                     int
		want                     []string
	}{
		{"well-known redirects keeping the method", "PROPFIND", "/.well-known/caldav", "", nil, 308, nil},
		{"PROPFIND on / is DAV", "PROPFIND", "/", `<d:propfind xmlns:d="DAV:"><d:prop><d:current-user-principal/></d:prop></d:propfind>`, []string{"Depth", "0"}, 207,
			[]string{"<d:current-user-principal><d:href>/dav/principals/public/</d:href>"}},
		{"principal has the home set", "PROPFIND", "/dav/principals/public/", `<d:propfind xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav"><d:prop><c:calendar-home-set/><d:resourcetype/></d:prop></d:propfind>`, []string{"Depth", "0"}, 207,
			[]string{"<c:calendar-home-set><d:href>/dav/calendars/public/</d:href>", "<d:principal/>"}},
		{"home lists the calendars", "PROPFIND", "/dav/calendars/public/", propfindCal, []string{"Depth", "1"}, 207,
			[]string{"<d:href>/dav/calendars/public/all/</d:href>", "<d:href>/dav/calendars/public/fablab/</d:href>", "<d:displayname>Fablab, Paris</d:displayname>",
				"<d:displayname>Libre &amp; co</d:displayname>", `<c:comp name="VEVENT"/>`, "<c:calendar-multiget/>", "<d:sync-collection/>",
				"<d:privilege><d:read/></d:privilege>", "<a:calendar-color>#", "<x:unknown xmlns:x=\"urn:x\"></x:unknown>", "404 Not Found", "<cs:getctag>"}},
		{"calendar lists its objects", "PROPFIND", "/dav/calendars/public/fablab/", `<d:propfind xmlns:d="DAV:"><d:prop><d:getetag/><d:getcontenttype/></d:prop></d:propfind>`, []string{"Depth", "1"}, 207,
			[]string{".ics</d:href>", "<d:getetag>&#34;", "text/calendar"}},
		{"allprop on a calendar", "PROPFIND", "/dav/calendars/public/all/", "", []string{"Depth", "0"}, 207, []string{"<c:calendar/>", "<d:sync-token>data:,passerelle-sync-"}},
		{"Depth infinity is refused", "PROPFIND", "/dav/calendars/public/", "", []string{"Depth", "infinity"}, 403, []string{"<d:propfind-finite-depth/>"}},
		{"unknown calendar", "PROPFIND", "/dav/calendars/public/nope/", "", []string{"Depth", "0"}, 404, nil},
		{"unknown owner", "PROPFIND", "/dav/calendars/someone/", "", []string{"Depth", "0"}, 404, nil},
		{"unknown object", "GET", "/dav/calendars/public/fablab/999999.ics", "", nil, 404, nil},
		{"malformed XML", "PROPFIND", "/dav/calendars/public/", "<d:propfind xmlns:d='DAV:'><d:prop>", []string{"Depth", "0"}, 400, []string{"malformed XML"}},
		{"body too large", "REPORT", "/dav/calendars/public/all/", "<a>" + strings.Repeat("x", 2<<20) + "</a>", nil, 413, []string{"limit"}},
		{"PUT is forbidden with need-privileges", "PUT", "/dav/calendars/public/all/1.ics", "BEGIN:VCALENDAR", nil, 403, []string{"<d:need-privileges>", "<d:write-content/>"}},
		{"DELETE is forbidden", "DELETE", "/dav/calendars/public/all/1.ics", "", nil, 403, []string{"<d:unbind/>"}},
		{"PROPPATCH is forbidden", "PROPPATCH", "/dav/calendars/public/all/", "<x/>", nil, 403, []string{"<d:write-properties/>"}},
		{"MKCALENDAR is forbidden", "MKCALENDAR", "/dav/calendars/public/new/", "", nil, 403, []string{"<d:bind/>"}},
		{"unsupported report", "REPORT", "/dav/calendars/public/all/", `<c:free-busy-query xmlns:c="urn:ietf:params:xml:ns:caldav"/>`, nil, 403, []string{"<d:supported-report/>"}},
		{"bad time range", "REPORT", "/dav/calendars/public/all/", `<c:calendar-query xmlns:c="urn:ietf:params:xml:ns:caldav"><c:filter><c:comp-filter name="VCALENDAR"><c:comp-filter name="VEVENT"><c:time-range start="yesterday"/></c:comp-filter></c:comp-filter></c:filter></c:calendar-query>`, nil, 400, []string{"time-range start"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := do(t, tc.method, env.URL+tc.path, tc.body, tc.hdr...)
			if resp.StatusCode != tc.code {
				t.Fatalf("%s %s: status %d, want %d\n%s", tc.method, tc.path, resp.StatusCode, tc.code, body)
			}
			for _, w := range tc.want {
				if !strings.Contains(body, w) {
					t.Errorf("%s %s: body lacks %q:\n%s", tc.method, tc.path, w, body)
				}
			}
			if tc.code == 308 && resp.Header.Get("Location") != "/dav/" {
				t.Errorf("redirect to %q, want /dav/", resp.Header.Get("Location"))
			}
		})
	}
}

const queryTmpl = `<c:calendar-query xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav"><d:prop><d:getetag/><c:calendar-data/></d:prop>
<c:filter><c:comp-filter name="VCALENDAR"><c:comp-filter name="VEVENT">%s</c:comp-filter></c:comp-filter></c:filter></c:calendar-query>`

func TestCalendarQueryTimeRange(t *testing.T) { storetest.Each(t, testCalendarQueryTimeRange) }

func testCalendarQueryTimeRange(t *testing.T, db *store.DB) {
	env, stored := loaded(t, db)
	// A three-month exhibition: the longest event widens the scan's lower
	// bound, and a range in its middle must still find it.
	libre, err := env.DB.SourceBySlug(t.Context(), "libre")
	if err != nil {
		t.Fatal(err)
	}
	stored["exhibition"] = env.Apply(t, bridges.Event{APID: "https://libre.example/events/exhibition", SourceID: libre.ID,
		Title: "Exhibition", Start: time.Date(2025, 7, 1, 8, 0, 0, 0, time.UTC), End: time.Date(2025, 10, 1, 18, 0, 0, 0, time.UTC),
		Status: bridges.StatusConfirmed, JoinMode: bridges.JoinFree, Public: true, Updated: time.Date(2025, 5, 1, 0, 0, 0, 0, time.UTC)})
	for _, tc := range []struct {
		name, inner string
		want        []string
	}{
		{"starts exactly at the range start", `<c:time-range start="20250601T000000Z" end="20250602T000000Z"/>`, []string{"boundary"}},
		{"ends exactly at the range start", `<c:time-range start="20250601T020000Z" end="20250602T000000Z"/>`, nil},
		{"overlaps the DST night in Paris", `<c:time-range start="20250330T050000Z" end="20250330T060000Z"/>`, []string{"paris-dst"}},
		{"after New York's fall back", `<c:time-range start="20251102T060000Z" end="20251102T063000Z"/>`, []string{"new-york-cancelled"}},
		{"open end", `<c:time-range start="20250501T000000Z"/>`, []string{"boundary", "exhibition", "new-york-cancelled"}},
		{"inside a long event", `<c:time-range start="20250815T000000Z" end="20250816T000000Z"/>`, []string{"exhibition"}},
		{"open start", `<c:time-range end="20250601T000001Z"/>`, []string{"boundary", "gancio-2021", "mobilizon-2019", "paris-dst"}},
		{"text match", `<c:prop-filter name="SUMMARY"><c:text-match>jazz</c:text-match></c:prop-filter>`, []string{"new-york-cancelled"}},
		// i;ascii-casemap, the default collation (RFC 4791 §9.7.5): go-webdav
		// compared case-sensitively.
		{"text match ignores ASCII case", `<c:prop-filter name="SUMMARY"><c:text-match>JAZZ</c:text-match></c:prop-filter>`, []string{"new-york-cancelled"}},
		{"negated text match with a time-range", `<c:time-range start="20250501T000000Z"/><c:prop-filter name="SUMMARY"><c:text-match negate-condition="yes">jazz</c:text-match></c:prop-filter>`, []string{"boundary", "exhibition"}},
		{"property defined", `<c:prop-filter name="STATUS"><c:text-match>CANCELLED</c:text-match></c:prop-filter>`, []string{"new-york-cancelled"}},
		{"property not defined", `<c:prop-filter name="X-NOT-THERE"><c:is-not-defined/></c:prop-filter>`, []string{"boundary", "exhibition", "gancio-2021", "mobilizon-2019", "new-york-cancelled", "paris-dst"}},
		{"defined property required", `<c:prop-filter name="X-NOT-THERE"/>`, nil},
		{"parameter text", `<c:prop-filter name="DTSTART"><c:param-filter name="TZID"><c:text-match>europe/paris</c:text-match></c:param-filter></c:prop-filter>`, []string{"paris-dst"}},
		{"property time-range", `<c:prop-filter name="DTSTART"><c:time-range start="20250329T000000Z" end="20250330T000000Z"/></c:prop-filter>`, []string{"paris-dst"}},
		{"no alarm", `<c:comp-filter name="VALARM"><c:is-not-defined/></c:comp-filter>`, []string{"boundary", "exhibition", "gancio-2021", "mobilizon-2019", "new-york-cancelled", "paris-dst"}},
		{"an alarm required", `<c:comp-filter name="VALARM"/>`, nil},
		{"no filter inside VEVENT", ``, []string{"boundary", "exhibition", "gancio-2021", "mobilizon-2019", "new-york-cancelled", "paris-dst"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := do(t, "REPORT", env.URL+"/dav/calendars/public/all/", fmt.Sprintf(queryTmpl, tc.inner), "Depth", "1")
			if resp.StatusCode != 207 {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			got := hrefs(body)
			var want []string
			for _, n := range tc.want {
				want = append(want, fmt.Sprintf("/dav/calendars/public/all/%d.ics", stored[n].ID))
			}
			if strings.Join(sorted(got), " ") != strings.Join(sorted(want), " ") {
				t.Errorf("hrefs %v, want %v (%v)", got, want, tc.want)
			}
			if len(want) > 0 && !strings.Contains(body, "BEGIN:VCALENDAR&#xD;&#xA;") {
				t.Errorf("calendar-data missing or CRLF not preserved:\n%.400s", body)
			}
		})
	}
}

func TestMultigetAndGet(t *testing.T) { storetest.Each(t, testMultigetAndGet) }

func testMultigetAndGet(t *testing.T, db *store.DB) {
	env, stored := loaded(t, db)
	paris := stored["paris-dst"]
	body := fmt.Sprintf(`<c:calendar-multiget xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav"><d:prop><d:getetag/><c:calendar-data/></d:prop>
<d:href>/dav/calendars/public/fablab/%d.ics</d:href><d:href>%s/dav/calendars/public/fablab/%d.ics</d:href><d:href>/dav/calendars/public/fablab/424242.ics</d:href><d:href>/dav/calendars/public/libre/%d.ics</d:href></c:calendar-multiget>`,
		paris.ID, env.URL, stored["new-york-cancelled"].ID, paris.ID)
	resp, out := do(t, "REPORT", env.URL+"/dav/calendars/public/fablab/", body)
	if resp.StatusCode != 207 {
		t.Fatalf("status %d: %s", resp.StatusCode, out)
	}
	if n := strings.Count(out, "HTTP/1.1 404 Not Found</d:status></d:response>"); n != 2 {
		t.Errorf("%d 404 members, want 2 (unknown id, object of another calendar):\n%s", n, out)
	}
	if !strings.Contains(out, "SUMMARY:Nuit des fablabs") || !strings.Contains(out, "SUMMARY:Late jazz session") {
		t.Errorf("multiget lacks calendar data:\n%s", out)
	}

	url := fmt.Sprintf("%s/dav/calendars/public/fablab/%d.ics", env.URL, paris.ID)
	resp, got := do(t, "GET", url, "")
	if resp.StatusCode != 200 || got != string(paris.Calendar) {
		t.Fatalf("GET: %d, body equal to stored text: %v", resp.StatusCode, got == string(paris.Calendar))
	}
	if resp.Header.Get("ETag") != paris.ETag {
		t.Errorf("ETag %q, want %q", resp.Header.Get("ETag"), paris.ETag)
	}
	resp, _ = do(t, "GET", url, "", "If-None-Match", paris.ETag)
	if resp.StatusCode != 304 {
		t.Errorf("conditional GET: %d, want 304", resp.StatusCode)
	}
}

const syncTmpl = `<d:sync-collection xmlns:d="DAV:"><d:sync-token>%s</d:sync-token><d:sync-level>1</d:sync-level><d:prop><d:getetag/></d:prop></d:sync-collection>`

func TestSyncCollection(t *testing.T) { storetest.Each(t, testSyncCollection) }

func testSyncCollection(t *testing.T, db *store.DB) {
	env, stored := loaded(t, db)
	cal := env.URL + "/dav/calendars/public/fablab/"
	resp, out := do(t, "REPORT", cal, fmt.Sprintf(syncTmpl, ""))
	if resp.StatusCode != 207 || len(hrefs(out)) != 2 {
		t.Fatalf("initial sync: %d, %d members, want 2:\n%s", resp.StatusCode, len(hrefs(out)), out)
	}
	token := tokenOf(t, out)

	resp, out = do(t, "REPORT", cal, fmt.Sprintf(syncTmpl, token))
	if resp.StatusCode != 207 || len(hrefs(out)) != 0 || tokenOf(t, out) != token {
		t.Fatalf("sync without changes: %d, members %v, token %s (was %s)", resp.StatusCode, hrefs(out), tokenOf(t, out), token)
	}

	// One change in this calendar, one in another, one deletion here.
	paris := stored["paris-dst"].Event
	paris.Title = "Nuit des fablabs (nouvelle date)"
	paris.Updated = paris.Updated.Add(time.Hour)
	env.Apply(t, paris)
	other := stored["gancio-2021"].Event
	other.Title = "Demo event, moved"
	env.Apply(t, other)
	if _, err := env.Events.Delete(t.Context(), stored["new-york-cancelled"].APID); err != nil {
		t.Fatal(err)
	}

	resp, out = do(t, "REPORT", cal, fmt.Sprintf(syncTmpl, token))
	if resp.StatusCode != 207 {
		t.Fatalf("incremental sync: %d: %s", resp.StatusCode, out)
	}
	want := fmt.Sprintf("/dav/calendars/public/fablab/%d.ics", stored["paris-dst"].ID)
	gone := fmt.Sprintf("<d:href>/dav/calendars/public/fablab/%d.ics</d:href><d:status>HTTP/1.1 404 Not Found</d:status>", stored["new-york-cancelled"].ID)
	if got := hrefs(out); len(got) != 2 || !strings.Contains(out, "<d:href>"+want+"</d:href><d:propstat>") || !strings.Contains(out, gone) {
		t.Errorf("incremental sync members %v, want the changed Paris event and the deleted New York one as 404:\n%s", got, out)
	}
	if tokenOf(t, out) == token {
		t.Error("sync token did not move")
	}

	for _, bad := range []string{"data:,passerelle-sync-999999", "data:,passerelle-sync-999999999", "http://other.example/token/1", "garbage"} {
		resp, out = do(t, "REPORT", cal, fmt.Sprintf(syncTmpl, bad))
		if resp.StatusCode != 403 || !strings.Contains(out, "<d:valid-sync-token/>") {
			t.Errorf("token %q: %d, want 403 valid-sync-token:\n%s", bad, resp.StatusCode, out)
		}
	}
}

func TestFeeds(t *testing.T) { storetest.Each(t, testFeeds) }

func testFeeds(t *testing.T, db *store.DB) {
	env, stored := loaded(t, db)
	resp, body := do(t, "GET", env.URL+"/feeds/all.ics", "")
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/calendar") {
		t.Fatalf("feed: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	for _, w := range []string{"X-WR-CALNAME:All followed events", "X-WR-CALDESC:", "REFRESH-INTERVAL;VALUE=DURATION:PT1H", "X-PUBLISHED-TTL:PT1H", "TZID:Europe/Paris", "TZID:America/New_York"} {
		if !strings.Contains(body, w) {
			t.Errorf("feed lacks %q", w)
		}
	}
	if n := strings.Count(body, "BEGIN:VEVENT"); n != 5 {
		t.Errorf("%d events in all.ics, want 5", n)
	}
	etag, lm := resp.Header.Get("ETag"), resp.Header.Get("Last-Modified")
	if etag == "" || lm == "" {
		t.Fatalf("feed without validators: ETag %q Last-Modified %q", etag, lm)
	}
	for _, h := range [][]string{{"If-None-Match", etag}, {"If-Modified-Since", lm}} {
		resp, _ = do(t, "GET", env.URL+"/feeds/all.ics", "", h...)
		if resp.StatusCode != 304 {
			t.Errorf("%s: %d, want 304", h[0], resp.StatusCode)
		}
	}
	req, _ := http.NewRequest("GET", env.URL+"/feeds/fablab.ics", nil)
	req.Header.Set("Accept-Encoding", "gzip")
	gzResp, err := (&http.Transport{DisableCompression: true}).RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer gzResp.Body.Close()
	if gzResp.Header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("no gzip when asked: %v", gzResp.Header)
	}
	zr, err := gzip.NewReader(gzResp.Body)
	if err != nil {
		t.Fatal(err)
	}
	plain, _ := io.ReadAll(zr)
	if n := bytes.Count(plain, []byte("BEGIN:VEVENT")); n != 2 || !bytes.Contains(plain, []byte("X-WR-CALNAME:Fablab\\, Paris")) {
		t.Errorf("gzipped fablab.ics: %d events:\n%s", n, plain)
	}

	resp, body = do(t, "GET", fmt.Sprintf("%s/events/%d.ics", env.URL, stored["gancio-2021"].ID), "")
	if resp.StatusCode != 200 || body != string(stored["gancio-2021"].Calendar) {
		t.Errorf("single event: %d", resp.StatusCode)
	}
	for _, p := range []string{"/feeds/nope.ics", "/feeds/all.txt", "/events/999999.ics", "/events/abc.ics"} {
		if resp, _ := do(t, "GET", env.URL+p, ""); resp.StatusCode != 404 {
			t.Errorf("%s: %d, want 404", p, resp.StatusCode)
		}
	}
}

var hrefRE = regexp.MustCompile(`<d:href>([^<]*\.ics)</d:href>`)

func hrefs(body string) []string {
	var out []string
	for _, m := range hrefRE.FindAllStringSubmatch(body, -1) {
		out = append(out, m[1])
	}
	return out
}

func sorted(s []string) []string {
	out := append([]string(nil), s...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

var tokenRE = regexp.MustCompile(`<d:sync-token>([^<]+)</d:sync-token>`)

func tokenOf(t testing.TB, body string) string {
	t.Helper()
	m := tokenRE.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no sync-token in:\n%s", body)
	}
	return m[1]
}

// TestFeedKeptAcrossChangesAndReplicas: a feed is built once per change
// and kept in the database, so another replica (another server on the
// same database, with nothing in memory) serves the kept row, and a
// change to an event gives every replica the new feed.
func TestFeedKeptAcrossChangesAndReplicas(t *testing.T) {
	storetest.Each(t, testFeedKeptAcrossChangesAndReplicas)
}

func testFeedKeptAcrossChangesAndReplicas(t *testing.T, db *store.DB) {
	env, stored := loaded(t, db)
	resp, first := do(t, "GET", env.URL+"/feeds/all.ics", "")
	if resp.StatusCode != 200 {
		t.Fatalf("feed: %d", resp.StatusCode)
	}
	etag := resp.Header.Get("ETag")
	var version string
	var kept int
	if err := storetest.QueryRow(env.DB, "SELECT version, LENGTH(body) FROM calendar_feeds WHERE owner = ? AND slug = ?", "public", "all").Scan(&version, &kept); err != nil {
		t.Fatalf("no kept feed after the first request: %v", err)
	}
	if !strings.Contains(etag, version) || kept != len(first) {
		t.Errorf("kept feed version %q (%d bytes), served ETag %s (%d bytes)", version, kept, etag, len(first))
	}

	// Mark the kept row: a replica that reads it shows the mark, one that
	// rebuilt the feed would not.
	marked := strings.Replace(first, "X-WR-CALNAME:All followed events", "X-WR-CALNAME:kept row", 1)
	if _, err := storetest.Exec(env.DB, "UPDATE calendar_feeds SET body = ? WHERE slug = ?", []byte(marked), "all"); err != nil {
		t.Fatal(err)
	}
	replica := env.Replica(t)
	if resp, got := do(t, "GET", replica.URL+"/feeds/all.ics", ""); resp.StatusCode != 200 || got != marked || resp.Header.Get("ETag") != etag {
		t.Errorf("replica: %d, ETag %s (want %s), served the kept row: %v", resp.StatusCode, resp.Header.Get("ETag"), etag, got == marked)
	}
	if _, got := do(t, "GET", env.URL+"/feeds/all.ics", ""); got != first {
		t.Error("the replica that built the feed did not serve it from memory")
	}

	paris := stored["paris-dst"].Event
	paris.Title = "Nuit des fablabs (reportée)"
	paris.Updated = paris.Updated.Add(time.Hour)
	env.Apply(t, paris)
	resp, changed := do(t, "GET", replica.URL+"/feeds/all.ics", "")
	if resp.StatusCode != 200 || !strings.Contains(changed, "SUMMARY:Nuit des fablabs (reportée)") || strings.Contains(changed, "kept row") {
		t.Fatalf("feed after a change: %d, new title: %v", resp.StatusCode, strings.Contains(changed, "reportée"))
	}
	if resp.Header.Get("ETag") == etag {
		t.Error("ETag did not change with the feed")
	}
	req, _ := http.NewRequest("GET", env.URL+"/feeds/all.ics", nil)
	req.Header.Set("Accept-Encoding", "gzip")
	gzResp, err := (&http.Transport{DisableCompression: true}).RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer gzResp.Body.Close()
	zr, err := gzip.NewReader(gzResp.Body)
	if err != nil {
		t.Fatalf("gzip feed after a change: %v", err)
	}
	plain, _ := io.ReadAll(zr)
	if string(plain) != changed || gzResp.Header.Get("Content-Length") == "" {
		t.Errorf("gzip feed (Content-Length %q) differs from the plain one after a change", gzResp.Header.Get("Content-Length"))
	}

	// Requests arriving together after a change, on both replicas, get
	// the same new feed (each replica builds it once for all of them).
	paris.Title = "Nuit des fablabs (confirmée)"
	paris.Updated = paris.Updated.Add(time.Hour)
	env.Apply(t, paris)
	bodies := make([]string, 8)
	var wg sync.WaitGroup
	for i := range bodies {
		base := env.URL
		if i%2 == 1 {
			base = replica.URL
		}
		wg.Go(func() {
			// Not do: t.Fatal belongs to the test's own goroutine.
			resp, err := (&http.Client{Transport: testTransport, Timeout: 10 * time.Second}).Get(base + "/feeds/all.ics")
			if err != nil {
				t.Errorf("concurrent request %d: %v", i, err)
				return
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			bodies[i] = string(b)
		})
	}
	wg.Wait()
	for i, b := range bodies {
		if b != bodies[0] || !strings.Contains(b, "SUMMARY:Nuit des fablabs (confirmée)") {
			t.Errorf("concurrent request %d got another feed (new title: %v)", i, strings.Contains(b, "confirmée"))
		}
	}
}
