package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"codeberg.org/passerelle/passerelle/internal/binarytest"
	"codeberg.org/passerelle/passerelle/internal/fedipeertest"
	"codeberg.org/passerelle/passerelle/internal/storetest"
)

// TestPeerTubeChannel drives the real binary against the PeerTube-shaped
// Fedify peer: `follow @root_channel@host` detects PeerTube, follows the
// channel and backfills its outbox; a scheduled live then shows in
// `events --json`, the channel's .ics feed, a CalDAV calendar-query and its
// event page (with the watch link), follows a reschedule (SEQUENCE+1),
// leaves the upcoming lists once it ended, and leaves the feed when
// deleted. federation.live_duration sets the assumed length of a live.
func TestPeerTubeChannel(t *testing.T) {
	peer := fedipeertest.Start(t, fedipeertest.PeerTube)
	dir := t.TempDir()
	addr := binarytest.FreeAddr(t, "127.0.0.1")
	base := "http://" + addr
	env := []string{
		"PASSERELLE_DATABASE_URL=" + storetest.SQLiteURL(t),
		"PASSERELLE_PUBLIC_URL=" + base,
		"PASSERELLE_FEDERATION_ALLOW_PRIVATE_NETWORKS=true",
		"PASSERELLE_FEDERATION_LIVE_DURATION=90m",
	}
	binarytest.Start(t, dir, addr, env)
	cli := func(args ...string) binarytest.Result {
		t.Helper()
		return binarytest.Run(t, dir, append([]string{"PASSERELLE_LISTEN=" + addr}, env...), args...)
	}
	at := func(d time.Duration) time.Time { return time.Now().Add(d).Truncate(time.Minute).UTC() }

	early := peer.CreateVideo(t, fedipeertest.Video{Name: "Assemblée générale", StartDate: fedipeertest.PeerTubeTime(at(72 * time.Hour)), Silent: true})
	no := false
	peer.CreateVideo(t, fedipeertest.Video{Name: "Compte rendu", IsLiveBroadcast: &no, Silent: true})

	r := cli("follow", peer.Handle("root_channel"))
	if r.Code != 0 || !strings.Contains(r.Stdout, "(Group, peertube)") || !strings.Contains(r.Stdout, "accepted the follow") ||
		!strings.Contains(r.Stdout, "backfill of root-channel: 2 items read") || !strings.Contains(r.Stdout, "1 events stored") {
		t.Fatalf("follow: exit %d\nstdout:\n%s\nstderr:\n%s", r.Code, r.Stdout, r.Stderr)
	}

	start := at(48 * time.Hour)
	live := peer.CreateVideo(t, fedipeertest.Video{Name: "Conseil municipal", Content: "En **direct** de la mairie.", StartDate: fedipeertest.PeerTubeTime(start)})
	for _, d := range live.Deliveries {
		if d.Status != 202 {
			t.Errorf("serve answered %d to the channel's Announce: %s", d.Status, d.Body)
		}
	}

	// events --json: the backfilled and the announced live, 90 min long.
	var listed map[string]map[string]any
	waitFor(t, "both lives in `events --json`", 30*time.Second, func() bool {
		listed = ptEvents(t, cli("events", "--source", peer.Handle("root_channel"), "--json"))
		return listed[live.ID] != nil && listed[early.ID] != nil
	})
	l := listed[live.ID]
	if l["title"] != "Conseil municipal" || l["status"] != "confirmed" || l["source"] != "root-channel" ||
		l["start"] != start.Format(time.RFC3339) || l["end"] != start.Add(90*time.Minute).Format(time.RFC3339) {
		t.Errorf("events --json line: %v", l)
	}
	if len(listed) != 2 {
		t.Errorf("events --json listed %d events, want the 2 lives (not the ordinary video)", len(listed))
	}

	feedURL := base + "/feeds/root-channel.ics"
	vevent := func() string { return ptVEvent(ptGet(t, feedURL, 200), "Conseil municipal") }
	ve := vevent()
	if ve == "" || !strings.Contains(ve, "DTSTART:"+start.Format("20060102T150405Z")) || !strings.Contains(ve, live.ID) {
		t.Fatalf("feed VEVENT of the live:\n%s", ve)
	}
	seq := ptSequence(t, ve)
	window := fmt.Sprintf(`<c:time-range start="%s" end="%s"/>`, time.Now().UTC().Format("20060102T150405Z"), time.Now().Add(30*24*time.Hour).UTC().Format("20060102T150405Z"))
	if got := ptCalendarQuery(t, base+"/dav/calendars/public/root-channel/", window); !strings.Contains(got, "Conseil municipal") || !strings.Contains(got, "Assemblée générale") {
		t.Errorf("CalDAV calendar-query lacks the lives:\n%s", got)
	}
	page := ptGet(t, fmt.Sprintf("%s/events/%v", base, l["id"]), 200)
	if !strings.Contains(page, `href="`+live.ID+`"`) || !strings.Contains(page, "Conseil municipal") {
		t.Errorf("event page has no watch link to %s:\n%s", live.ID, page)
	}

	// Rescheduled: the feed's copy moves, with SEQUENCE+1.
	later := start.Add(24 * time.Hour)
	peer.UpdateVideo(t, live.UUID, map[string]any{"startDate": fedipeertest.PeerTubeTime(later)})
	waitFor(t, "the rescheduled live in the feed", 30*time.Second, func() bool {
		return strings.Contains(vevent(), "DTSTART:"+later.Format("20060102T150405Z"))
	})
	if got := ptSequence(t, vevent()); got != seq+1 {
		t.Errorf("SEQUENCE after the reschedule is %d, want %d", got, seq+1)
	}

	// The stream starts (moved to now), then ends without replay: the live
	// leaves the upcoming lists and the CalDAV time range after its end.
	began := at(-20 * time.Minute)
	peer.UpdateVideo(t, live.UUID, map[string]any{"startDate": fedipeertest.PeerTubeTime(began), "state": 1})
	waitFor(t, "the started live", 30*time.Second, func() bool {
		return strings.Contains(vevent(), "DTSTART:"+began.Format("20060102T150405Z"))
	})
	peer.UpdateVideo(t, live.UUID, map[string]any{"state": 5})
	waitFor(t, "the ended live gone from `events --json`", 30*time.Second, func() bool {
		return ptEvents(t, cli("events", "--json"))[live.ID] == nil
	})
	window = fmt.Sprintf(`<c:time-range start="%s" end="%s"/>`, time.Now().UTC().Truncate(time.Second).Format("20060102T150405Z"), time.Now().Add(30*24*time.Hour).UTC().Format("20060102T150405Z"))
	if got := ptCalendarQuery(t, base+"/dav/calendars/public/root-channel/", window); strings.Contains(got, "Conseil municipal") || !strings.Contains(got, "Assemblée générale") {
		t.Errorf("CalDAV calendar-query after the live ended:\n%s", got)
	}

	// Deleted: gone from the feed too.
	peer.DeleteVideo(t, live.UUID)
	waitFor(t, "the deleted live gone from the feed", 30*time.Second, func() bool { return vevent() == "" })
	if !strings.Contains(ptGet(t, feedURL, 200), "Assemblée générale") {
		t.Error("the other live left the feed")
	}
}

// ptEvents reads `events --json` output, keyed by each event's url.
func ptEvents(t *testing.T, r binarytest.Result) map[string]map[string]any {
	t.Helper()
	if r.Code != 0 {
		t.Fatalf("events: exit %d: %s", r.Code, r.Stderr)
	}
	out := map[string]map[string]any{}
	for _, line := range strings.Split(strings.TrimSpace(r.Stdout), "\n") {
		if line == "" {
			continue
		}
		var l map[string]any
		if err := json.Unmarshal([]byte(line), &l); err != nil {
			t.Fatalf("events --json line %q: %v", line, err)
		}
		u, _ := l["url"].(string)
		out[u] = l
	}
	return out
}

func ptGet(t *testing.T, url string, want int) string {
	t.Helper()
	return ptDo(t, "GET", url, "", nil, want)
}

func ptDo(t *testing.T, method, url, body string, hdr map[string]string, want int) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("%s %s: HTTP %d, want %d: %s", method, url, resp.StatusCode, want, b)
	}
	return string(b)
}

// ptCalendarQuery runs a CalDAV calendar-query REPORT with a VEVENT filter.
func ptCalendarQuery(t *testing.T, url, inner string) string {
	t.Helper()
	q := `<c:calendar-query xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav"><d:prop><d:getetag/><c:calendar-data/></d:prop>` +
		`<c:filter><c:comp-filter name="VCALENDAR"><c:comp-filter name="VEVENT">` + inner + `</c:comp-filter></c:comp-filter></c:filter></c:calendar-query>`
	return ptDo(t, "REPORT", url, q, map[string]string{"Depth": "1", "Content-Type": "application/xml"}, 207)
}

// ptVEvent is the VEVENT of a feed whose SUMMARY is title ("" if none),
// with folded lines joined.
func ptVEvent(feed, title string) string {
	feed = strings.ReplaceAll(feed, "\r\n ", "")
	for _, part := range strings.Split(feed, "BEGIN:VEVENT")[1:] {
		ve, _, _ := strings.Cut(part, "END:VEVENT")
		if strings.Contains(ve, "\r\nSUMMARY:"+title+"\r\n") {
			return ve
		}
	}
	return ""
}

var ptSequenceRE = regexp.MustCompile(`\r\nSEQUENCE:(\d+)\r\n`)

func ptSequence(t *testing.T, vevent string) int {
	t.Helper()
	m := ptSequenceRE.FindStringSubmatch(vevent)
	if m == nil {
		return 0 // RFC 5545: a missing SEQUENCE is 0
	}
	var n int
	fmt.Sscan(m[1], &n)
	return n
}
