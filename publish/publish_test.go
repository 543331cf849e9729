package publish_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"codeberg.org/passerelle/passerelle/bridges"
	"codeberg.org/passerelle/passerelle/bridges/gancio"
	"codeberg.org/passerelle/passerelle/bridges/mobilizon"
	"codeberg.org/passerelle/passerelle/federation/outbox"
	"codeberg.org/passerelle/passerelle/internal/golden"
	"codeberg.org/passerelle/passerelle/internal/outbound"
	"codeberg.org/passerelle/passerelle/internal/seal"
	"codeberg.org/passerelle/passerelle/internal/storetest"
	"codeberg.org/passerelle/passerelle/publish"
	"codeberg.org/passerelle/passerelle/store"
)

var now = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

func cal(events ...string) string {
	return "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n" + strings.Join(events, "") + "END:VCALENDAR\r\n"
}

func vevent(lines ...string) string {
	return "BEGIN:VEVENT\r\n" + strings.Join(lines, "\r\n") + "\r\nEND:VEVENT\r\n"
}

var repairCafe = vevent("UID:repair-1@club", "DTSTAMP:20261101T000000Z", "DTSTART;TZID=Europe/Paris:20261210T190000",
	"DTEND;TZID=Europe/Paris:20261210T220000", "SUMMARY:Repair café", "DESCRIPTION:Bring your toaster.\\n\\nCoffee <free>.",
	"LOCATION:Salle des fêtes, 1 rue de la Paix, Paris", "SEQUENCE:1")

func TestParse(t *testing.T) {
	weekly := vevent("UID:weekly@club", "DTSTART:20261202T180000Z", "DURATION:PT2H", "SUMMARY:Choir",
		"RRULE:FREQ=WEEKLY;COUNT=30", "EXDATE:20261209T180000Z", "LOCATION:https://meet.example/choir")
	moved := vevent("UID:weekly@club", "RECURRENCE-ID:20261216T180000Z", "DTSTART:20261216T190000Z", "DURATION:PT2H", "SUMMARY:Choir (later)", "STATUS:CANCELLED")
	noStart := vevent("UID:nostart@club", "SUMMARY:When?")
	badTZ := vevent("UID:tz@club", "DTSTART;TZID=Mars/Olympus:20261210T190000", "SUMMARY:Far")
	occs, problems, err := publish.Parse([]byte(cal(repairCafe, weekly, moved, noStart, badTZ)), now)
	if err != nil {
		t.Fatal(err)
	}
	if len(problems) != 2 || !strings.Contains(problems[0].Reason+problems[1].Reason, "DTSTART") || !strings.Contains(problems[0].Reason+problems[1].Reason, "Mars/Olympus") {
		t.Errorf("problems = %v", problems)
	}
	var choir []publish.Occurrence
	for _, o := range occs {
		if o.UID == "weekly@club" {
			choir = append(choir, o)
		}
	}
	// 90 days from 1 December: weekly from 2 December is 13 dates, less
	// the excluded 9 December.
	if len(choir) != 12 {
		t.Fatalf("choir occurrences = %d, want 12", len(choir))
	}
	if choir[0].RecurrenceID != "20261202T180000Z" || !choir[0].End.Equal(choir[0].Start.Add(2*time.Hour)) {
		t.Errorf("first occurrence = %+v", choir[0])
	}
	if choir[1].RecurrenceID != "20261216T180000Z" || choir[1].Status != "CANCELLED" || choir[1].Start.Hour() != 19 {
		t.Errorf("overridden occurrence = %+v", choir[1])
	}
	for _, bad := range []string{"<html>not a calendar</html>", "", "BEGIN:VCARD\r\nEND:VCARD\r\n"} {
		if _, _, err := publish.Parse([]byte(bad), now); !errors.Is(err, publish.ErrNotCalendar) {
			t.Errorf("Parse(%q) = %v, want ErrNotCalendar", bad, err)
		}
	}
	var many []string
	for i := 0; i < publish.MaxOccurrences+1; i++ {
		many = append(many, vevent("UID:e"+strings.Repeat("x", i%7)+time.Duration(i).String(), "DTSTART:20261210T190000Z", "SUMMARY:x"))
	}
	if _, _, err := publish.Parse([]byte(cal(many...)), now); err == nil || !strings.Contains(err.Error(), "more than") {
		t.Errorf("too many events: %v", err)
	}
}

// TestEventGolden: the Event JSON of an occurrence, with what FEP-8a8e
// requires and what Mobilizon's and Gancio's parsers read (attributedTo
// one actor, ical:status, startTime with its offset, timezone, Place,
// joinMode, participantCount, attendees), checked field by field and by
// decoding it with passerelle's own Mobilizon and Gancio dialects, which
// follow those parsers (../shared/fixtures).
func TestEventGolden(t *testing.T) {
	withURL := strings.Replace(repairCafe, "SEQUENCE:1", "SEQUENCE:1\r\nURL:https://club.example/repair?a=1&b=2", 1)
	occs, _, err := publish.Parse([]byte(cal(withURL)), now)
	if err != nil || len(occs) != 1 {
		t.Fatal(occs, err)
	}
	g := "https://pass.example/actors/club"
	id := publish.EventURL(g, publish.Key("repair-1@club", ""))
	obj := publish.EventObject(occs[0], publish.EventIDs{ID: id, Group: g, Followers: g + "/followers", JoinMode: "restricted"}, now, time.Time{})
	b, err := json.MarshalIndent(obj, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	golden.Check(t, "testdata/event.json", append(b, '\n'))
	// FEP-8a8e: a minimal Event has type, id, name, startTime (with an
	// offset), and here endTime, location, timezone, organizers,
	// attendees; Mobilizon additionally needs attributedTo (one actor),
	// ical:status, joinMode, url and the Public audience.
	for _, k := range []string{"id", "type", "name", "startTime", "endTime", "attributedTo", "organizers", "attendees", "ical:status", "eventStatus", "joinMode", "location", "timezone", "content", "summary", "url", "to", "participantCount"} {
		if _, ok := obj[k]; !ok {
			t.Errorf("Event lacks %s", k)
		}
	}
	checks := map[string]any{
		"type": "Event", "startTime": "2026-12-10T19:00:00+01:00", "endTime": "2026-12-10T22:00:00+01:00",
		"attributedTo": g, "ical:status": "CONFIRMED", "eventStatus": "https://schema.org/EventScheduled",
		"joinMode": "restricted", "timezone": "Europe/Paris", "participantCount": 0, "draft": false,
		// url is passerelle's page of the event: the same address
		// answers a browser with HTML.
		"url": id, "attendees": id + "/attendees",
	}
	for k, want := range checks {
		if obj[k] != want {
			t.Errorf("%s = %#v, want %#v", k, obj[k], want)
		}
	}
	if to := obj["to"].([]string); len(to) != 1 || to[0] != "https://www.w3.org/ns/activitystreams#Public" {
		t.Errorf("to = %v", to)
	}
	c := obj["content"].(string)
	if strings.Contains(c, "<free>") {
		t.Errorf("content not escaped: %s", c)
	}
	// The organiser's own page stays, as a link in the text.
	if !strings.Contains(c, `<a href="https://club.example/repair?a=1&amp;b=2" rel="nofollow noopener">`) {
		t.Errorf("content lacks the organiser's link: %s", c)
	}
	if _, ok := obj["externalParticipationUrl"]; ok {
		t.Error("externalParticipationUrl on a restricted event")
	}

	// What Mobilizon's and Gancio's parsers make of it.
	raw, _ := json.Marshal(obj)
	mz, err := mobilizon.Decode(raw)
	if err != nil {
		t.Fatalf("Mobilizon's reading: %v", err)
	}
	if mz.Title != "Repair café" || mz.JoinMode != bridges.JoinRestricted || mz.Status != bridges.StatusConfirmed || mz.TimeZone != "Europe/Paris" ||
		!mz.Start.Equal(time.Date(2026, 12, 10, 18, 0, 0, 0, time.UTC)) || mz.Place == nil || mz.Place.Name != "Salle des fêtes" || mz.URL != id {
		t.Errorf("Mobilizon reads %+v", mz)
	}
	gz, err := gancio.Decode(raw)
	if err != nil {
		t.Fatalf("Gancio's reading: %v", err)
	}
	if gz.Title != "Repair café" || !gz.End.Equal(time.Date(2026, 12, 10, 21, 0, 0, 0, time.UTC)) || gz.Place == nil || !strings.Contains(gz.DescriptionHTML, "toaster") {
		t.Errorf("Gancio reads %+v", gz)
	}

	// Join modes on the wire: none is Mobilizon's invite (no requests);
	// external points at the organiser's page.
	for mode, want := range map[string]string{"": "free", "free": "free", "none": "invite", "external": "external"} {
		o := publish.EventObject(occs[0], publish.EventIDs{ID: id, Group: g, Followers: g + "/followers", JoinMode: mode}, now, time.Time{})
		if o["joinMode"] != want {
			t.Errorf("join mode %q sent as %v, want %s", mode, o["joinMode"], want)
		}
		raw, _ := json.Marshal(o)
		if _, err := mobilizon.Decode(raw); err != nil {
			t.Errorf("join mode %q: Mobilizon's reading fails: %v", mode, err)
		}
		if _, ok := o["externalParticipationUrl"]; ok != (mode == "external") {
			t.Errorf("join mode %q: externalParticipationUrl = %v", mode, o["externalParticipationUrl"])
		}
	}

	// Online: a Place with a VirtualLocation address (Gancio) and the
	// Link attachment named Website (Mobilizon).
	online := occs[0]
	online.Location = "https://meet.example/club"
	obj = publish.EventObject(online, publish.EventIDs{ID: g + "/events/x", Group: g, Followers: g + "/followers"}, now, time.Time{})
	loc := obj["location"].(map[string]any)
	if loc["type"] != "Place" || loc["address"].(map[string]any)["type"] != "VirtualLocation" || obj["isOnline"] != true {
		t.Errorf("online location: %v", obj["location"])
	}
	if att := obj["attachment"].([]any)[0].(map[string]any); att["name"] != "Website" || att["mediaType"] != "text/html" || att["href"] != online.Location {
		t.Errorf("online attachment: %v", att)
	}
}

type feed struct {
	mu   sync.Mutex
	body string
	code int
	// propfinds counts the PROPFINDs: the first poll's, to find out it
	// is no CalDAV collection, and no other.
	propfinds int
}

func (f *feed) set(code int, body string) { f.mu.Lock(); f.code, f.body = code, body; f.mu.Unlock() }

func (f *feed) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if r.Method == "PROPFIND" {
		f.propfinds++
	}
	if f.code != 200 {
		http.Error(w, "down", f.code)
		return
	}
	etag := `"` + publish.Key(f.body, "") + `"`
	if r.Header.Get("If-None-Match") == etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.Header().Set("ETag", etag)
	w.Header().Set("Content-Type", "text/calendar")
	w.Write([]byte(f.body))
}

// TestPollDiff: Create, then nothing for an unchanged feed, Update,
// Update with status CANCELLED, Delete; an error, garbage or an empty
// calendar changes nothing.
func TestPollDiff(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := &feed{}
		srv := httptest.NewServer(f)
		defer srv.Close()
		out, err := outbox.New("https://pass.example", db)
		if err != nil {
			t.Fatal(err)
		}
		tick := now
		p := &publish.Publisher{DB: db, Out: out, Fetch: &publish.Fetcher{Client: outbound.New(outbound.Options{AllowPrivateNetworks: true}), AllowPrivate: true},
			Now: func() time.Time { tick = tick.Add(time.Second); return tick }}
		c := &store.PublishedCalendar{Slug: "club", URL: srv.URL + "/club.ics"}
		err = db.Tx(ctx, func(ctx context.Context, tx *store.Tx) error {
			if err := tx.CreatePublishedCalendar(ctx, c, &store.LocalActor{PrivateKeyPEM: "k", PublicKeyPEM: "p"}); err != nil {
				return err
			}
			return tx.AddPublishedFollower(ctx, c.ID, store.PublishedFollower{Actor: "https://peer.example/u/a", SharedInbox: "https://peer.example/inbox"})
		})
		if err != nil {
			t.Fatal(err)
		}
		second := vevent("UID:two@club", "DTSTART:20261220T100000Z", "SUMMARY:Two")
		pending := func() int {
			n, err := db.PendingDeliveriesFrom(ctx, c.ActorID)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
		step := func(code int, body string, want string, wantErr bool) {
			t.Helper()
			f.set(code, body)
			res, err := p.Poll(ctx, "club")
			if (err != nil) != wantErr {
				t.Fatalf("poll: %v (want error %v)", err, wantErr)
			}
			if err == nil && res.String() != want {
				t.Errorf("poll = %q, want %q", res.String(), want)
			}
		}
		step(200, cal(repairCafe, second), "2 events: 2 new, 0 updated, 0 cancelled, 0 deleted", false)
		step(200, cal(repairCafe, second), "not modified since the last fetch", false)
		if pending() != 2 {
			t.Fatalf("deliveries = %d, want 2", pending())
		}
		step(200, cal(strings.Replace(repairCafe, "Repair café", "Repair café!", 1), second), "2 events: 0 new, 1 updated, 0 cancelled, 0 deleted", false)
		step(200, cal(strings.Replace(repairCafe, "SEQUENCE:1", "STATUS:CANCELLED", 1), second), "2 events: 0 new, 0 updated, 1 cancelled, 0 deleted", false)
		for _, bad := range []struct {
			code int
			body string
		}{{503, ""}, {200, "<html>oops</html>"}, {200, cal()}} {
			step(bad.code, bad.body, "", true)
			got, _ := db.PublishedCalendar(ctx, "club")
			if got.LastError == "" {
				t.Errorf("no error recorded for %d %q", bad.code, bad.body)
			}
		}
		if vis, _ := db.VisiblePublishedEvents(ctx, c.ID); len(vis) != 2 {
			t.Fatalf("after bad fetches: %d events visible, want 2 (no mass Delete)", len(vis))
		}
		// The source is back, unchanged since the last good fetch (304):
		// the error goes.
		step(200, cal(strings.Replace(repairCafe, "SEQUENCE:1", "STATUS:CANCELLED", 1), second), "not modified since the last fetch", false)
		if got, _ := db.PublishedCalendar(ctx, "club"); got.LastError != "" {
			t.Errorf("error kept after a 304: %q", got.LastError)
		}
		step(200, cal(second), "1 events: 0 new, 0 updated, 0 cancelled, 1 deleted", false)
		if pending() != 5 {
			t.Errorf("deliveries = %d, want 5", pending())
		}
		gone, err := db.PublishedEventByKey(ctx, c.ID, publish.Key("repair-1@club", ""))
		if err != nil || gone.State != store.PublishedDeleted || !strings.Contains(string(gone.Object), "Tombstone") {
			t.Errorf("deleted event = %+v, %v", gone, err)
		}
		got, _ := db.PublishedCalendar(ctx, "club")
		if got.LastError != "" {
			t.Errorf("last error after a good poll = %q", got.LastError)
		}
		if got.Kind != store.KindFeed || f.propfinds != 1 {
			t.Errorf("kind %q after %d PROPFINDs, want a feed found by one", got.Kind, f.propfinds)
		}
	})
}

// TestFetchRefusals: the outbound client's rules hold for calendars: a
// private address is refused at dial time (a redirect is dialled through
// the same check), plain http without allow_private_networks, a feed over
// 10 MiB; webcal:// is read as https.
func TestFetchRefusals(t *testing.T) {
	ctx := context.Background()
	big := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/redirect" {
			http.Redirect(w, r, "http://10.0.0.1/cal.ics", http.StatusFound)
			return
		}
		w.Write([]byte("BEGIN:VCALENDAR\r\n" + strings.Repeat("X", publish.MaxCalendarBytes)))
	}))
	defer big.Close()
	strict := &publish.Fetcher{Client: outbound.New(outbound.Options{}), AllowPrivate: false}
	if _, err := strict.Fetch(ctx, &store.PublishedCalendar{URL: big.URL}); err == nil || !strings.Contains(err.Error(), "only https") {
		t.Errorf("plain http: %v", err)
	}
	// The URL check passes, the dial is refused.
	dialStrict := &publish.Fetcher{Client: outbound.New(outbound.Options{}), AllowPrivate: true}
	if _, err := dialStrict.Fetch(ctx, &store.PublishedCalendar{URL: big.URL + "/redirect"}); !errors.Is(err, outbound.ErrPrivateAddress) {
		t.Errorf("private address: %v", err)
	}
	loose := &publish.Fetcher{Client: outbound.New(outbound.Options{AllowPrivateNetworks: true}), AllowPrivate: true}
	if _, err := loose.Fetch(ctx, &store.PublishedCalendar{URL: big.URL}); err == nil || !strings.Contains(err.Error(), "10 MiB") {
		t.Errorf("too big: %v", err)
	}
	if got := publish.FeedURL("webcal://club.example/a.ics"); got != "https://club.example/a.ics" {
		t.Errorf("FeedURL = %s", got)
	}
}

// TestPollProblems: VEVENTs that cannot be published are named in the
// calendar's last error while the others are published.
func TestPollProblems(t *testing.T) {
	db := storetest.New(t)
	ctx := context.Background()
	f := &feed{}
	srv := httptest.NewServer(f)
	defer srv.Close()
	out, _ := outbox.New("https://pass.example", db)
	p := &publish.Publisher{DB: db, Out: out, Fetch: &publish.Fetcher{Client: outbound.New(outbound.Options{AllowPrivateNetworks: true}), AllowPrivate: true},
		Now: func() time.Time { return now }}
	c := &store.PublishedCalendar{Slug: "club", URL: srv.URL}
	if err := db.Tx(ctx, func(ctx context.Context, tx *store.Tx) error {
		return tx.CreatePublishedCalendar(ctx, c, &store.LocalActor{PrivateKeyPEM: "k", PublicKeyPEM: "p"})
	}); err != nil {
		t.Fatal(err)
	}
	f.set(200, cal(repairCafe, vevent("UID:nostart@club", "SUMMARY:When?")))
	res, err := p.Poll(ctx, "club")
	if err != nil || res.Created != 1 {
		t.Fatalf("poll: %v %v", res, err)
	}
	got, _ := db.PublishedCalendar(ctx, "club")
	if !strings.Contains(got.LastError, "nostart@club: VEVENT without DTSTART") {
		t.Errorf("last error = %q", got.LastError)
	}
	f.set(200, cal(vevent("UID:nostart@club", "SUMMARY:When?")))
	if _, err := p.Poll(ctx, "club"); err == nil {
		t.Error("a calendar with nothing publishable was accepted")
	}
	if vis, _ := db.VisiblePublishedEvents(ctx, c.ID); len(vis) != 1 {
		t.Errorf("visible = %d, want 1 (nothing deleted)", len(vis))
	}
}

// TestParseRecurringZone: a weekly series in Europe/Paris keeps its local
// hour across the change to winter time.
func TestParseRecurringZone(t *testing.T) {
	at := time.Date(2026, 10, 15, 0, 0, 0, 0, time.UTC)
	series := vevent("UID:w@club", "DTSTART;TZID=Europe/Paris:20261020T190000", "DTEND;TZID=Europe/Paris:20261020T210000",
		"SUMMARY:Choir", "RRULE:FREQ=WEEKLY;COUNT=3")
	occs, problems, err := publish.Parse([]byte(cal(series)), at)
	if err != nil || len(problems) > 0 || len(occs) != 3 {
		t.Fatalf("occs %d, problems %v, err %v", len(occs), problems, err)
	}
	paris, _ := time.LoadLocation("Europe/Paris")
	for _, o := range occs {
		if l := o.Start.In(paris); l.Hour() != 19 || o.End.Sub(o.Start) != 2*time.Hour || o.TZID != "Europe/Paris" {
			t.Errorf("occurrence %s: %s, %s", o.RecurrenceID, l, o.End.Sub(o.Start))
		}
	}
	if occs[0].RecurrenceID != "20261020T170000Z" || occs[2].RecurrenceID != "20261103T180000Z" {
		t.Errorf("recurrence ids %s %s", occs[0].RecurrenceID, occs[2].RecurrenceID)
	}
	// A series every second is left out, quickly, not expanded.
	start := time.Now()
	_, problems, err = publish.Parse([]byte(cal(vevent("UID:s@club", "DTSTART:20261015T000000Z", "SUMMARY:Tick", "RRULE:FREQ=SECONDLY"), repairCafe)), at)
	if err != nil || len(problems) != 1 || !strings.Contains(problems[0].Reason, "more than") || time.Since(start) > 5*time.Second {
		t.Errorf("secondly series: %v %v in %s", problems, err, time.Since(start))
	}
}

// FuzzParse: no calendar text makes Parse panic, and every occurrence it
// returns has a UID and an end not before its start.
func FuzzParse(f *testing.F) {
	f.Add([]byte(cal(repairCafe)))
	f.Add([]byte(cal(vevent("UID:x", "DTSTART:20261202T180000Z", "RRULE:FREQ=DAILY;INTERVAL=0"))))
	f.Add([]byte(cal(vevent("UID:x", "DTSTART;VALUE=DATE:20261202", "RRULE:FREQ=SECONDLY"))))
	f.Add([]byte("BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:x\r\nRECURRENCE-ID:bad\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		occs, _, _ := publish.Parse(data, now)
		for _, o := range occs {
			if o.UID == "" || o.End.Before(o.Start) {
				t.Fatalf("bad occurrence %+v", o)
			}
		}
	})
}

// TestParseZoneNames: Outlook's Windows zone names and libical's prefixed
// ones are read as their IANA zones.
func TestParseZoneNames(t *testing.T) {
	for tzid, want := range map[string]string{
		"Romance Standard Time":                         "Europe/Paris",
		"/freeassociation.sourceforge.net/Europe/Paris": "Europe/Paris",
		`"America/Argentina/Buenos_Aires"`:              "America/Argentina/Buenos_Aires",
	} {
		ev := vevent("UID:z@club", "DTSTART;TZID="+tzid+":20261210T190000", "SUMMARY:Z")
		occs, problems, err := publish.Parse([]byte(cal(ev)), now)
		if err != nil || len(occs) != 1 || len(problems) > 0 {
			t.Errorf("%s: %v %v %v", tzid, occs, problems, err)
			continue
		}
		loc, _ := time.LoadLocation(want)
		if occs[0].TZID != want || occs[0].Start.In(loc).Hour() != 19 {
			t.Errorf("%s: zone %s, start %s", tzid, occs[0].TZID, occs[0].Start)
		}
	}
}

// TestSourcePasswordSealed: a source password stored in clear (before
// sealing existed) is sealed at serve's start, polls still send it, and a
// row whose URL was edited in the database sends it nowhere.
func TestSourcePasswordSealed(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		var mu sync.Mutex
		var got []string
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, pw, _ := r.BasicAuth()
			mu.Lock()
			got = append(got, r.Host+" "+pw)
			mu.Unlock()
			if pw != "s3cret" {
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			w.Header().Set("Content-Type", "text/calendar")
			_, _ = w.Write([]byte(cal(repairCafe)))
		}))
		defer srv.Close()
		out, err := outbox.New("https://pass.example", db)
		if err != nil {
			t.Fatal(err)
		}
		box, err := seal.New([]byte("0123456789abcdef0123456789abcdef"), "published calendar source password")
		if err != nil {
			t.Fatal(err)
		}
		p := &publish.Publisher{DB: db, Out: out, Passwords: box, Now: func() time.Time { return now },
			Fetch: &publish.Fetcher{Client: outbound.New(outbound.Options{AllowPrivateNetworks: true}), AllowPrivate: true}}
		c := &store.PublishedCalendar{Slug: "club", URL: srv.URL + "/club.ics", Username: "club", Password: "s3cret"}
		err = db.Tx(ctx, func(ctx context.Context, tx *store.Tx) error {
			return tx.CreatePublishedCalendar(ctx, c, &store.LocalActor{PrivateKeyPEM: "k", PublicKeyPEM: "p"})
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := p.SealStoredPasswords(ctx); err != nil {
			t.Fatal(err)
		}
		var stored string
		if err := storetest.QueryRow(db, "SELECT password FROM published_calendars WHERE id = ?", c.ID).Scan(&stored); err != nil {
			t.Fatal(err)
		}
		if !seal.IsSealed(stored) || strings.Contains(stored, "s3cret") {
			t.Fatalf("stored password %q is not sealed", stored)
		}
		if res, err := p.Poll(ctx, "club"); err != nil || res.Created != 1 {
			t.Fatalf("poll with the sealed password: %+v, %v (server saw %q)", res, err, got)
		}
		// Whoever can write the database points the row elsewhere: the
		// password no longer opens, and nothing is fetched.
		other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			t.Errorf("the edited URL was fetched (password %q)", r.Header.Get("Authorization"))
		}))
		defer other.Close()
		if _, err := storetest.Exec(db, "UPDATE published_calendars SET url = ? WHERE id = ?", other.URL+"/x.ics", c.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := p.Poll(ctx, "club"); err == nil || !strings.Contains(err.Error(), "cannot open the stored password") {
			t.Errorf("poll of an edited row: %v", err)
		}
		// publish list shows why.
		if c, err := db.PublishedCalendar(ctx, "club"); err != nil || !strings.Contains(c.LastError, "cannot open the stored password") {
			t.Errorf("last error recorded: %+v, %v", c, err)
		}
	})
}
