package web

import (
	"context"
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"codeberg.org/passerelle/passerelle/bridges"
	"codeberg.org/passerelle/passerelle/ical"
	"codeberg.org/passerelle/passerelle/internal/golden"
	"codeberg.org/passerelle/passerelle/store"
)

// flowDouble stands in for federation and mail around the real RSVP flow
// (their own tests cover them): it mints Join ids and records the
// notices the flow asks for.
type flowDouble struct {
	mu      sync.Mutex
	calls   []string
	actorNo int
}

func (f *flowDouble) Join(ctx context.Context, tx *store.Tx, p *bridges.Participant, ev *bridges.StoredEvent) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if p.ActorID == 0 {
		f.actorNo++
		a := &store.LocalActor{Kind: store.ActorParticipant, Username: "p" + strconv.Itoa(f.actorNo), DisplayName: "Participant", PrivateKeyPEM: "-", PublicKeyPEM: "-"}
		if err := tx.CreateLocalActor(ctx, a); err != nil {
			return "", err
		}
		p.ActorID = a.ID
	}
	f.calls = append(f.calls, "join "+ev.APID)
	return "https://events.example.org/joins/" + strconv.Itoa(len(f.calls)), nil
}

func (f *flowDouble) Leave(_ context.Context, _ *store.Tx, _ *bridges.Participant, ev *bridges.StoredEvent, _ string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "leave "+ev.APID)
	return nil
}

func (f *flowDouble) Notify(_ context.Context, _ bridges.Tx, _ *bridges.Invitation, n bridges.Notice) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "mail "+string(n))
	return nil
}

func (f *flowDouble) take() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.calls
	f.calls = nil
	return c
}

type mailSite struct {
	*site
	rsvp *bridges.RSVP[*store.Tx]
	flow *flowDouble
}

// newMailSite is the public site with the mail pages mounted on the real
// RSVP flow and store, and the token "tok-<event>" mailed for an
// invitation of ana@example.net to each event.
func newMailSite(t *testing.T) *mailSite {
	t.Helper()
	s := newSite(t)
	f := &flowDouble{}
	r := &bridges.RSVP[*store.Tx]{Store: s.db, Participator: f, Mailer: f, Now: func() time.Time { return now }}
	if err := (&MailPages{Pages: s.pages, RSVP: r}).Mount(s.mux); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for name, id := range s.ids {
		invs, err := r.Invite(ctx, "ana@example.net", []int64{id})
		if err != nil {
			t.Fatal(err)
		}
		if len(invs) == 0 {
			// Invited before it was cancelled or ended.
			invs = append(invs, invitedBefore(t, s.db, "ana@example.net", id))
		}
		for _, inv := range invs {
			if err := s.db.Tx(ctx, func(ctx context.Context, tx *store.Tx) error {
				return tx.AddToken(ctx, inv, bridges.HashToken("tok-"+name))
			}); err != nil {
				t.Fatal(err)
			}
		}
	}
	f.take()
	return &mailSite{site: s, rsvp: r, flow: f}
}

func TestMailPagesGolden(t *testing.T) {
	s := newMailSite(t)
	for _, tc := range []struct{ path, lang, file string }{
		{"/rsvp/tok-repair", "fr", "rsvp-repair.fr.html"},
		{"/rsvp/tok-repair", "en", "rsvp-repair.en.html"},
		{"/rsvp/tok-assembly", "en", "rsvp-cancelled.en.html"},
		{"/mail/unsubscribe/tok-repair", "fr", "unsubscribe.fr.html"},
		{"/mail/unsubscribe/tok-repair", "en", "unsubscribe.en.html"},
	} {
		resp, body := s.get(t, tc.path, "Accept-Language", tc.lang)
		if resp.StatusCode != 200 || resp.Header.Get("Cache-Control") != "no-store" {
			t.Fatalf("%s: %d, Cache-Control %q", tc.path, resp.StatusCode, resp.Header.Get("Cache-Control"))
		}
		golden.Check(t, filepath.Join("testdata", tc.file), []byte(body))
	}
	resp, body := s.get(t, "/rsvp/no-such-token", "Accept-Language", "en")
	if resp.StatusCode != 404 {
		t.Errorf("unknown token: %d", resp.StatusCode)
	}
	golden.Check(t, filepath.Join("testdata", "badlink.en.html"), []byte(body))
	if c := s.flow.take(); len(c) != 0 {
		t.Errorf("GETs acted: %q", c)
	}
}

func TestMailPagesAnswer(t *testing.T) {
	s := newMailSite(t)
	ctx := context.Background()
	state := func() bridges.ParticipationState {
		ti, err := s.rsvp.ByToken(ctx, "tok-repair")
		if err != nil {
			t.Fatal(err)
		}
		return ti.Invitation.State
	}
	// The repair café approves each participant: yes → Join, pending.
	resp, body := post(t, s.site, "/rsvp/tok-repair", url.Values{"answer": {"yes"}}, "Accept-Language", "fr")
	if resp.StatusCode != 200 || !strings.Contains(body, "Votre réponse est enregistrée") || !strings.Contains(body, "valident chaque participation") {
		t.Fatalf("yes: %d\n%s", resp.StatusCode, body)
	}
	if c := s.flow.take(); len(c) != 2 || c[0] != "join https://mobilizon.test/events/1" || c[1] != "mail pending" {
		t.Errorf("yes: calls %q", c)
	}
	if st := state(); st != bridges.StatePending {
		t.Errorf("state %s", st)
	}
	// no → Leave and its mail, as a mail reply would.
	resp, body = post(t, s.site, "/rsvp/tok-repair", url.Values{"answer": {"no"}})
	if resp.StatusCode != 200 || !strings.Contains(body, "no longer take part") {
		t.Errorf("no: %d", resp.StatusCode)
	}
	if c := s.flow.take(); len(c) != 2 || c[0] != "leave https://mobilizon.test/events/1" || c[1] != "mail left" {
		t.Errorf("no: calls %q", c)
	}

	// Refusals: a bad value, a cancelled event, another site's form, a GET.
	for _, tc := range []struct {
		path   string
		form   url.Values
		header []string
		status int
	}{
		{"/rsvp/tok-repair", url.Values{"answer": {"certainly"}}, nil, http.StatusBadRequest},
		{"/rsvp/tok-assembly", url.Values{"answer": {"yes"}}, nil, http.StatusConflict},
		{"/rsvp/tok-repair", url.Values{"answer": {"yes"}}, []string{"Sec-Fetch-Site", "cross-site"}, http.StatusForbidden},
		{"/rsvp/forged", url.Values{"answer": {"yes"}}, nil, http.StatusNotFound},
	} {
		if resp, _ := post(t, s.site, tc.path, tc.form, tc.header...); resp.StatusCode != tc.status {
			t.Errorf("POST %s %v: %d, want %d", tc.path, tc.form, resp.StatusCode, tc.status)
		}
	}
	if c := s.flow.take(); len(c) != 0 || state() != bridges.StateLeft {
		t.Errorf("refused answers acted: %q, %s", c, state())
	}
}

func TestMailPagesUnsubscribe(t *testing.T) {
	s := newMailSite(t)
	ctx := context.Background()
	unsubscribed := func() bool {
		ti, err := s.rsvp.ByToken(ctx, "tok-repair")
		if err != nil {
			t.Fatal(err)
		}
		return ti.Unsubscribed
	}
	// Scanners and people open the link: nothing happens.
	for range 3 {
		s.get(t, "/mail/unsubscribe/tok-repair")
	}
	if unsubscribed() {
		t.Fatal("GET unsubscribed")
	}
	// Another site's form cannot unsubscribe anyone.
	if resp, _ := post(t, s.site, "/mail/unsubscribe/tok-repair", url.Values{"List-Unsubscribe": {"One-Click"}}, "Sec-Fetch-Site", "cross-site"); resp.StatusCode != http.StatusForbidden || unsubscribed() {
		t.Fatalf("cross-site POST: %d", resp.StatusCode)
	}
	// RFC 8058 one-click, as a mail provider's server sends it: no
	// browser headers, the body List-Unsubscribe=One-Click.
	req, _ := http.NewRequest("POST", s.srv.URL+"/mail/unsubscribe/tok-repair", strings.NewReader("List-Unsubscribe=One-Click"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || !unsubscribed() {
		t.Fatalf("one-click: %d, unsubscribed %v", resp.StatusCode, unsubscribed())
	}
	// Every token of the address now says so; a second POST is fine.
	_, body := s.get(t, "/mail/unsubscribe/tok-nyc", "Accept-Language", "fr")
	if !strings.Contains(body, "ne reçoit déjà plus") || strings.Contains(body, "<form") {
		t.Errorf("unsubscribe page after one-click:\n%s", body)
	}
	if resp, body := post(t, s.site, "/mail/unsubscribe/tok-nyc", url.Values{}); resp.StatusCode != 200 || !strings.Contains(body, "no more mail from us") {
		t.Errorf("second unsubscribe: %d", resp.StatusCode)
	}
	// And no more invitations go out to it.
	if _, err := s.rsvp.Invite(ctx, "ANA@example.net", []int64{s.ids["unlisted"]}); err != bridges.ErrUnsubscribed {
		t.Errorf("Invite after unsubscribing: %v", err)
	}
	if resp, _ := post(t, s.site, "/mail/unsubscribe/forged", url.Values{}); resp.StatusCode != http.StatusNotFound {
		t.Errorf("forged token: %d", resp.StatusCode)
	}
}

// invitedBefore records an invitation the way Invite did before the
// event was cancelled or over (Invite itself skips such events).
func invitedBefore(t *testing.T, db *store.DB, address string, eventID int64) int64 {
	t.Helper()
	var id int64
	err := db.Tx(context.Background(), func(ctx context.Context, tx *store.Tx) error {
		p, err := tx.ParticipantByAddress(ctx, address)
		if err != nil {
			return err
		}
		inv := &bridges.Invitation{ParticipantID: p.ID, EventID: eventID, State: bridges.StateInvited, CreatedAt: now, UpdatedAt: now}
		if err := tx.SaveInvitation(ctx, inv); err != nil {
			return err
		}
		id = inv.ID
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// TestMailPagesLiveToWatch: the page a mail links to, for a live to
// watch (a PeerTube live), has nothing to answer: it links to the stream
// instead of offering the buttons, in French and English.
func TestMailPagesLiveToWatch(t *testing.T) {
	s := newMailSite(t)
	ctx := context.Background()
	flow := &bridges.Events[*store.Tx]{Store: s.db, Renderer: &ical.Renderer{Now: func() time.Time { return now }}, Now: func() time.Time { return now }}
	ch, err := flow.Apply(ctx, bridges.Event{APID: "https://peertube.test/videos/watch/1", URL: "https://peertube.test/w/1",
		Title: "Assemblée en direct", Start: now.Add(48 * time.Hour), TimeZone: "Europe/Paris", Status: bridges.StatusConfirmed,
		JoinMode: bridges.JoinExternal, Online: true, OnlineURL: "https://peertube.test/w/1", Public: true, OrganizerName: "Libre Café"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !ch.Event.WatchOnly() {
		t.Fatal("the fixture is not a live to watch")
	}
	invs, err := s.rsvp.Invite(ctx, "ana@example.net", []int64{ch.Event.ID})
	if err != nil {
		t.Fatal(err)
	}
	if len(invs) == 0 {
		invs = append(invs, invitedBefore(t, s.db, "ana@example.net", ch.Event.ID))
	}
	if err := s.db.Tx(ctx, func(ctx context.Context, tx *store.Tx) error {
		return tx.AddToken(ctx, invs[0], bridges.HashToken("tok-live"))
	}); err != nil {
		t.Fatal(err)
	}
	s.flow.take()
	for _, tc := range []struct{ lang, watch, file string }{
		{"fr", "À regarder en ligne", "rsvp-live.fr.html"},
		{"en", "Watch it online", "rsvp-live.en.html"},
	} {
		resp, body := s.get(t, "/rsvp/tok-live", "Accept-Language", tc.lang)
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d", tc.lang, resp.StatusCode)
		}
		if !strings.Contains(body, tc.watch) || !strings.Contains(body, `href="https://peertube.test/w/1"`) {
			t.Errorf("%s: the page does not link to the live", tc.lang)
		}
		if strings.Contains(body, `action="/rsvp/tok-live"`) || strings.Contains(body, `name="answer"`) {
			t.Errorf("%s: a live to watch offers the answer buttons", tc.lang)
		}
		if n := strings.Count(body, `href="https://peertube.test/w/1"`); n != 1 {
			t.Errorf("%s: the live's link is given %d times, want once", tc.lang, n)
		}
		golden.Check(t, filepath.Join("testdata", tc.file), []byte(body))
	}
	if c := s.flow.take(); len(c) != 0 {
		t.Errorf("GETs acted: %q", c)
	}
}

// TestMailPagesRotateCalendar: the page a mail links to shows the
// participant's personal calendar link, and its button (a POST; opening
// the page changes nothing) gives them a new one: the old link stops
// opening the calendar, the new one opens it and the next mail carries it.
func TestMailPagesRotateCalendar(t *testing.T) {
	s := newMailSite(t)
	ctx := context.Background()
	ti, err := s.rsvp.ByToken(ctx, "tok-repair")
	if err != nil {
		t.Fatal(err)
	}
	var old string
	if err := s.db.Tx(ctx, func(ctx context.Context, tx *store.Tx) (err error) {
		old, err = tx.PersonalCalendarToken(ctx, ti.Invitation.ParticipantID, bridges.NewToken())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	opens := func(token string) bool {
		_, err := s.db.ParticipantByCalendarToken(ctx, bridges.HashToken(token))
		return err == nil
	}
	_, body := s.get(t, "/rsvp/tok-repair", "Accept-Language", "en")
	if !strings.Contains(body, "/feeds/personal/"+old+".ics") || !opens(old) {
		t.Fatalf("the page does not show the calendar link %s:\n%s", old, body)
	}
	resp, body := post(t, s.site, "/rsvp/tok-repair/calendar", url.Values{}, "Accept-Language", "en")
	if resp.StatusCode != 200 || !strings.Contains(body, "Your calendar has a new address") {
		t.Fatalf("rotate: %d\n%s", resp.StatusCode, body)
	}
	ti, err = s.rsvp.ByToken(ctx, "tok-repair")
	if err != nil {
		t.Fatal(err)
	}
	fresh := ti.CalendarToken
	if fresh == "" || fresh == old || !strings.Contains(body, "/feeds/personal/"+fresh+".ics") {
		t.Fatalf("new token %q (old %q) not shown:\n%s", fresh, old, body)
	}
	if opens(old) || !opens(fresh) {
		t.Errorf("after rotation the old link opens: %v, the new one: %v", opens(old), opens(fresh))
	}
	if err := s.db.Tx(ctx, func(ctx context.Context, tx *store.Tx) error {
		next, err := tx.PersonalCalendarToken(ctx, ti.Invitation.ParticipantID, bridges.NewToken())
		if next != fresh {
			t.Errorf("the next mail carries %q, want the rotated %q", next, fresh)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if resp, _ := post(t, s.site, "/rsvp/no-such-token/calendar", url.Values{}); resp.StatusCode != 404 {
		t.Errorf("rotate with an unknown token: %d, want 404", resp.StatusCode)
	}
}
