package web

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"codeberg.org/passerelle/passerelle/bridges"
	"codeberg.org/passerelle/passerelle/ical"
	"codeberg.org/passerelle/passerelle/internal/golden"
	"codeberg.org/passerelle/passerelle/internal/storetest"
	"codeberg.org/passerelle/passerelle/store"
)

var now = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

type recordingInviter struct {
	calls []string
	err   error
}

func (r *recordingInviter) InviteToEvent(ctx context.Context, id int64, addr string) error {
	r.calls = append(r.calls, strconv.FormatInt(id, 10)+" "+addr)
	return r.err
}

type site struct {
	srv     *httptest.Server
	db      *store.DB
	inviter *recordingInviter
	ids     map[string]int64
	// pages and mux let other tests mount more handlers on the site.
	pages *Pages
	mux   *http.ServeMux
}

func ptr[T any](v T) *T { return &v }

func newSite(t *testing.T) *site {
	t.Helper()
	db := storetest.New(t)
	ctx := context.Background()
	src := &bridges.Source{Slug: "libre-cafe", Name: "Libre Café", Summary: "<p>Repair cafés <script>x()</script>in Nantes</p>",
		ActorURL: "https://mobilizon.test/@libre_cafe", Software: "mobilizon", State: bridges.SourceFollowed, CreatedAt: now}
	if err := db.Tx(ctx, func(ctx context.Context, tx *store.Tx) error { return tx.SaveSource(ctx, src) }); err != nil {
		t.Fatal(err)
	}
	flow := &bridges.Events[*store.Tx]{Store: db, Renderer: &ical.Renderer{Now: func() time.Time { return now }}, Now: func() time.Time { return now }}
	ids := map[string]int64{}
	paris := time.FixedZone("CET", 3600)
	for _, ne := range []struct {
		name string
		ev   bridges.Event
	}{
		{"repair", bridges.Event{APID: "https://mobilizon.test/events/1", URL: "https://mobilizon.test/events/1", Title: "Café réparation",
			DescriptionHTML: "<p>Bring a <b>toaster</b></p><img src=x onerror=alert(1)>", DescriptionText: "Bring a toaster",
			Start: time.Date(2026, 11, 28, 14, 0, 0, 0, paris), End: time.Date(2026, 11, 28, 18, 0, 0, 0, paris), TimeZone: "Europe/Paris",
			Status: bridges.StatusConfirmed, JoinMode: bridges.JoinRestricted, MaxCapacity: 20, RemainingCapacity: ptr(4),
			Place:  &bridges.Place{Name: "Maison de quartier", Street: "3 rue Noire", PostalCode: "44000", Locality: "Nantes", Latitude: ptr(47.218), Longitude: ptr(-1.5536)},
			Public: true, OrganizerName: "Libre Café", OrganizerURL: "https://mobilizon.test/@libre_cafe", SourceID: src.ID}},
		{"assembly", bridges.Event{APID: "https://mobilizon.test/events/2", Title: "Assemblée générale", Start: time.Date(2026, 11, 28, 19, 0, 0, 0, paris),
			TimeZone: "Europe/Paris", Status: bridges.StatusCancelled, JoinMode: bridges.JoinFree, Online: true, OnlineURL: "https://visio.test/ag", Public: true, SourceID: src.ID}},
		{"nyc", bridges.Event{APID: "https://gancio.test/event/3", Title: "Hack night", Start: time.Date(2026, 12, 2, 23, 30, 0, 0, time.UTC), End: time.Date(2026, 12, 3, 2, 0, 0, 0, time.UTC),
			TimeZone: "America/New_York", Status: bridges.StatusTentative, JoinMode: bridges.JoinExternal, ExternalParticipationURL: "https://tickets.test/hack", Public: true, SourceID: src.ID}},
		{"past", bridges.Event{APID: "https://mobilizon.test/events/4", Title: "Yesterday", Start: now.Add(-30 * time.Hour), End: now.Add(-28 * time.Hour), Status: bridges.StatusConfirmed, JoinMode: bridges.JoinFree, Public: true, SourceID: src.ID}},
		{"unlisted", bridges.Event{APID: "https://mobilizon.test/events/5", Title: "Unlisted", Start: now.Add(48 * time.Hour), Status: bridges.StatusConfirmed, JoinMode: bridges.JoinFree, Public: false, SourceID: src.ID}},
	} {
		ch, err := flow.Apply(ctx, ne.ev, nil)
		if err != nil {
			t.Fatal(err)
		}
		ids[ne.name] = ch.Event.ID
	}
	inv := &recordingInviter{}
	p := &Pages{DB: db, Site: "Passerelle Nantes", Version: "test", PublicURL: "https://events.example.org",
		JoinAddress: func(slug string) string { return "rsvp+join-" + slug + "@example.org" },
		Inviter:     inv, Now: func() time.Time { return now }}
	mux := http.NewServeMux()
	eventPage, err := p.Mount(mux)
	if err != nil {
		t.Fatal(err)
	}
	// caldav serves /events/<id>.ics in passerelle (and is tested with
	// real parsers there); here a stand-in hands out the stored text.
	mux.Handle("GET /events/{name}", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if id, ok := strings.CutSuffix(r.PathValue("name"), ".ics"); ok {
			n, _ := strconv.ParseInt(id, 10, 64)
			if e, err := db.EventByID(r.Context(), n); err == nil {
				w.Header().Set("Content-Type", "text/calendar; charset=utf-8")
				w.Write(e.Calendar)
				return
			}
		}
		eventPage.ServeHTTP(w, r)
	}))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &site{srv: srv, db: db, inviter: inv, ids: ids, pages: p, mux: mux}
}

func (s *site) get(t *testing.T, path string, header ...string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", s.srv.URL+path, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestPagesGolden(t *testing.T) {
	s := newSite(t)
	for _, tc := range []struct{ path, lang, file string }{
		{"/", "fr-FR,fr;q=0.9,en;q=0.5", "home.fr.html"},
		{"/", "en-GB", "home.en.html"},
		{"/sources/libre-cafe", "en", "source.en.html"},
		{"/events/" + strconv.FormatInt(s.ids["repair"], 10), "fr", "event-repair.fr.html"},
		{"/events/" + strconv.FormatInt(s.ids["nyc"], 10), "en", "event-nyc.en.html"},
	} {
		resp, body := s.get(t, tc.path, "Accept-Language", tc.lang)
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
			t.Fatalf("%s: %d %s", tc.path, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		if len(body) > 50<<10 {
			t.Errorf("%s is %d bytes, over 50 KB", tc.path, len(body))
		}
		golden.Check(t, filepath.Join("testdata", tc.file), []byte(body))
	}
}

func TestPagesContent(t *testing.T) {
	s := newSite(t)
	_, fr := s.get(t, "/", "Accept-Language", "fr")
	_, en := s.get(t, "/", "Accept-Language", "en-US")
	for _, want := range []string{`lang="fr"`, "samedi 28 novembre 2026", "14:00", "Événements à venir", "Annulé", "À confirmer", "En ligne"} {
		if !strings.Contains(fr, want) {
			t.Errorf("French home lacks %q", want)
		}
	}
	// Times are the event's own: 23:30 UTC is 18:30 in New York, on the 2nd.
	if !strings.Contains(en, "Wednesday 2 December 2026") || !strings.Contains(en, "18:30") {
		t.Errorf("New York event not shown in its zone")
	}
	for _, gone := range []string{"Yesterday", "Unlisted"} {
		if strings.Contains(en, gone) {
			t.Errorf("home lists %q", gone)
		}
	}
	if !strings.Contains(en, `class="cancelled"`) {
		t.Error("the cancelled event is not struck through")
	}

	repair := "/events/" + strconv.FormatInt(s.ids["repair"], 10)
	_, ev := s.get(t, repair)
	for _, want := range []string{"4 of 20 places left", "openstreetmap.org/?mlat=47.21800&amp;mlon=-1.55360", "approve each participant",
		"webcal://events.example.org/events/", "calendar.google.com/calendar/render?action=TEMPLATE", "outlook.live.com",
		`action="/events/` + strconv.FormatInt(s.ids["repair"], 10) + `/answer"`, "<b>toaster</b>", "14:00 – 18:00 (Europe/Paris)"} {
		if !strings.Contains(ev, want) {
			t.Errorf("event page lacks %q", want)
		}
	}
	if strings.Contains(ev, "onerror") {
		t.Error("the description was not sanitised")
	}
	_, cancelled := s.get(t, "/events/"+strconv.FormatInt(s.ids["assembly"], 10))
	if strings.Contains(cancelled, `<form`) {
		t.Error("a cancelled event offers the answer form")
	}

	for path, want := range map[string]int{"/events/999999": 404, "/events/abc": 404, "/sources/nope": 404,
		"/events/" + strconv.FormatInt(s.ids["past"], 10): 200} {
		if resp, _ := s.get(t, path); resp.StatusCode != want {
			t.Errorf("GET %s = %d, want %d", path, resp.StatusCode, want)
		}
	}

	resp, body := s.get(t, repair, "Accept", "text/calendar")
	if resp.Header.Get("Content-Type") != "text/calendar; charset=utf-8" || !strings.Contains(body, "BEGIN:VEVENT") {
		t.Errorf("calendar negotiation: %s", resp.Header.Get("Content-Type"))
	}
	resp, _ = s.get(t, repair, "Accept", "application/activity+json")
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "https://mobilizon.test/events/1" {
		t.Errorf("activity negotiation: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, _ = s.get(t, "/sources/libre-cafe", "Accept", "text/calendar")
	if resp.Header.Get("Location") != "/feeds/libre-cafe.ics" {
		t.Errorf("source calendar negotiation: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	_, src := s.get(t, "/sources/libre-cafe")
	for _, want := range []string{"webcal://events.example.org/feeds/libre-cafe.ics", "https://events.example.org/dav/calendars/public/libre-cafe/", "mailto:rsvp&#43;join-libre-cafe@example.org", "Repair cafés"} {
		if !strings.Contains(src, want) {
			t.Errorf("source page lacks %q", want)
		}
	}
	if strings.Contains(src, "<script>") {
		t.Error("source summary not sanitised")
	}
}

func post(t *testing.T, s *site, path string, form url.Values, header ...string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", s.srv.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestAnswerByEmail(t *testing.T) {
	s := newSite(t)
	path := "/events/" + strconv.FormatInt(s.ids["repair"], 10) + "/answer"

	resp, body := post(t, s, path, url.Values{"email": {"Ana <ana@example.net>"}}, "Accept-Language", "fr")
	if resp.StatusCode != 200 || !strings.Contains(body, "ana@example.net") || !strings.Contains(body, "Consultez votre messagerie") {
		t.Fatalf("answer: %d\n%s", resp.StatusCode, body)
	}
	if len(s.inviter.calls) != 1 || s.inviter.calls[0] != strconv.FormatInt(s.ids["repair"], 10)+" ana@example.net" {
		t.Errorf("inviter calls: %v", s.inviter.calls)
	}

	resp, body = post(t, s, path, url.Values{"email": {"not an address"}})
	if resp.StatusCode != 400 || !strings.Contains(body, `role="alert"`) || len(s.inviter.calls) != 1 {
		t.Errorf("bad address: %d, %d calls", resp.StatusCode, len(s.inviter.calls))
	}

	// A POST from another site is refused before anything happens (CSRF).
	resp, _ = post(t, s, path, url.Values{"email": {"eve@example.net"}}, "Sec-Fetch-Site", "cross-site")
	if resp.StatusCode != http.StatusForbidden || len(s.inviter.calls) != 1 {
		t.Errorf("cross-site POST: %d, %d calls", resp.StatusCode, len(s.inviter.calls))
	}
	// GET never changes anything.
	if resp, _ := s.get(t, path); resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET of the form action = %d", resp.StatusCode)
	}

	// Per-address limit: five an hour.
	for i := 0; i < 4; i++ {
		post(t, s, path, url.Values{"email": {"ana@example.net"}})
	}
	resp, _ = post(t, s, path, url.Values{"email": {"ANA@example.net"}})
	if resp.StatusCode != http.StatusTooManyRequests || len(s.inviter.calls) != 5 {
		t.Errorf("sixth request for one address: %d, %d calls", resp.StatusCode, len(s.inviter.calls))
	}

	// A cancelled event takes no answers; a failing mailer says so.
	resp, _ = post(t, s, "/events/"+strconv.FormatInt(s.ids["assembly"], 10)+"/answer", url.Values{"email": {"bob@example.net"}})
	if resp.StatusCode != http.StatusConflict {
		t.Errorf("answer to a cancelled event = %d", resp.StatusCode)
	}
	s.inviter.err = errors.New("smtp down")
	resp, body = post(t, s, path, url.Values{"email": {"carla@example.net"}})
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, "could not be sent") {
		t.Errorf("failing inviter: %d", resp.StatusCode)
	}
}

func TestLiveIsToWatch(t *testing.T) {
	s := newSite(t)
	flow := &bridges.Events[*store.Tx]{Store: s.db, Renderer: &ical.Renderer{}}
	ch, err := flow.Apply(context.Background(), bridges.Event{APID: "https://peertube.test/videos/watch/1", URL: "https://peertube.test/w/1",
		Title: "Assemblée en direct", Start: now.Add(48 * time.Hour), Status: bridges.StatusConfirmed, JoinMode: bridges.JoinExternal,
		Online: true, OnlineURL: "https://peertube.test/w/1", Public: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, fr := s.get(t, "/events/"+strconv.FormatInt(ch.Event.ID, 10), "Accept-Language", "fr")
	if !strings.Contains(fr, "À regarder en ligne") || !strings.Contains(fr, `href="https://peertube.test/w/1"`) || strings.Contains(fr, "inscription") {
		t.Errorf("a live's page must invite to watch it:\n%s", fr)
	}
	if strings.Contains(fr, "<form") {
		t.Error("a live to watch offers the answer form")
	}
}

// TestHomeWhenEmpty: a fresh instance's home page says what to do (follow
// a group, with the command), one whose follow awaits its answer says so,
// and one whose followed sources have nothing coming says that instead.
func TestHomeWhenEmpty(t *testing.T) {
	db := storetest.New(t)
	p := &Pages{DB: db, Site: "Passerelle Nantes", Version: "test", PublicURL: "https://events.example.org", Now: func() time.Time { return now }}
	mux := http.NewServeMux()
	if _, err := p.Mount(mux); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	s := &site{srv: srv, db: db}
	const nothing, pending, followed = "Nothing followed yet.", "A follow is waiting for its answer", "The followed sources have no upcoming events yet"

	resp, body := s.get(t, "/", "Accept-Language", "en")
	if resp.StatusCode != 200 {
		t.Fatalf("home: %d", resp.StatusCode)
	}
	golden.Check(t, filepath.Join("testdata", "home-empty.en.html"), []byte(body))
	for _, want := range []string{nothing, "<code>passerelle follow https://mobilizon.example/@group</code>"} {
		if !strings.Contains(body, want) {
			t.Errorf("a fresh home page lacks %q", want)
		}
	}
	_, fr := s.get(t, "/", "Accept-Language", "fr")
	if !strings.Contains(fr, "Rien n’est encore suivi.") {
		t.Error("a fresh French home page lacks its hint")
	}

	src := &bridges.Source{Slug: "libre-cafe", Name: "Libre Café", ActorURL: "https://mobilizon.test/@libre_cafe",
		Software: "mobilizon", State: bridges.SourcePending, CreatedAt: now}
	save := func() {
		if err := db.Tx(context.Background(), func(ctx context.Context, tx *store.Tx) error { return tx.SaveSource(ctx, src) }); err != nil {
			t.Fatal(err)
		}
	}
	save()
	_, body = s.get(t, "/", "Accept-Language", "en")
	if !strings.Contains(body, pending) || strings.Contains(body, nothing) {
		t.Errorf("with a pending follow the home page says:\n%s", body)
	}

	src.State = bridges.SourceFollowed
	save()
	_, body = s.get(t, "/", "Accept-Language", "en")
	if !strings.Contains(body, followed) || strings.Contains(body, nothing) || strings.Contains(body, pending) {
		t.Errorf("with a followed source and no events the home page says:\n%s", body)
	}
	if !strings.Contains(body, `href="/sources/libre-cafe"`) {
		t.Error("the followed source is not listed")
	}
}
