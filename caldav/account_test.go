package caldav_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"codeberg.org/passerelle/passerelle/bridges"
	"codeberg.org/passerelle/passerelle/caldav"
	"codeberg.org/passerelle/passerelle/ical"
	"codeberg.org/passerelle/passerelle/internal/storetest"
	"codeberg.org/passerelle/passerelle/internal/testenv"
	"codeberg.org/passerelle/passerelle/store"
)

// joins records what the RSVP flow asks the federated side to send.
type joins struct {
	mu          sync.Mutex
	join, leave int
}

func (j *joins) Join(_ context.Context, _ *store.Tx, _ *bridges.Participant, ev *bridges.StoredEvent) (string, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.join++
	return fmt.Sprintf("https://passerelle.test/join/%d-%d", ev.ID, j.join), nil
}

func (j *joins) Leave(context.Context, *store.Tx, *bridges.Participant, *bridges.StoredEvent, string) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.leave++
	return nil
}

func (j *joins) counts() (int, int) {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.join, j.leave
}

type noMail struct{}

func (noMail) Notify(context.Context, bridges.Tx, *bridges.Invitation, bridges.Notice) error {
	return nil
}

// account is a server with one participant who has a calendar account and
// is invited to two upcoming events (one free, one restricted) and one
// past event.
type account struct {
	t                  *testing.T
	db                 *store.DB
	url                string
	user, password     string
	rsvp               *bridges.RSVP[*store.Tx]
	joins              *joins
	free, restricted   *bridges.StoredEvent
	participant        int64
	freeURL, restrURL  string
	calendarURL, token string
	// logs is everything the server logged.
	logs *testenv.Buffer
}

const anaAddress = "Ana@Example.net"

func newAccount(t *testing.T, db *store.DB) *account {
	ctx := context.Background()
	env, _ := loaded(t, db)
	src := env.AddSource(t, "club", "Club des lecteurs")
	start := time.Now().Add(72 * time.Hour).Truncate(time.Hour).UTC()
	a := &account{t: t, db: db, joins: &joins{}, user: strings.ToLower(anaAddress)}
	a.free = env.Apply(t, bridges.Event{APID: "https://club.example/events/free", SourceID: src.ID, Title: "Lecture libre",
		Start: start, End: start.Add(2 * time.Hour), Status: bridges.StatusConfirmed, JoinMode: bridges.JoinFree, Public: true,
		OrganizerName: "Club des lecteurs", OrganizerURL: "https://club.example/@club", Updated: time.Now()})
	a.restricted = env.Apply(t, bridges.Event{APID: "https://club.example/events/restricted", SourceID: src.ID, Title: "Atelier sur inscription",
		Start: start.Add(24 * time.Hour), End: start.Add(26 * time.Hour), Status: bridges.StatusConfirmed, JoinMode: bridges.JoinRestricted, Public: true,
		OrganizerName: "Club des lecteurs", OrganizerURL: "https://club.example/@club", Updated: time.Now()})
	passwords, err := bridges.NewCalendarPasswords([]byte(strings.Repeat("s", 32)))
	if err != nil {
		t.Fatal(err)
	}
	a.rsvp = &bridges.RSVP[*store.Tx]{Store: db, Participator: a.joins, Mailer: noMail{}, Passwords: passwords}
	a.token = bridges.NewToken()
	err = db.Tx(ctx, func(ctx context.Context, tx *store.Tx) error {
		p := &bridges.Participant{Address: anaAddress, CreatedAt: time.Now()}
		if err := tx.SaveParticipant(ctx, p); err != nil {
			return err
		}
		a.participant = p.ID
		for _, ev := range []*bridges.StoredEvent{a.free, a.restricted} {
			now := time.Now()
			inv := &bridges.Invitation{ParticipantID: p.ID, EventID: ev.ID, State: bridges.StateInvited, CreatedAt: now, UpdatedAt: now}
			if err := tx.SaveInvitation(ctx, inv); err != nil {
				return err
			}
			if ev != a.free {
				continue
			}
			if err := tx.AddToken(ctx, inv.ID, bridges.HashToken(a.token)); err != nil {
				return err
			}
		}
		acct, err := passwords.Account(ctx, tx, p)
		a.password = acct.Password
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	public := &caldav.DBStore{DB: db}
	personal := &caldav.PersonalStore{DB: db, Renderer: &ical.Renderer{}, Organizer: "rsvp@passerelle.test"}
	a.logs = &testenv.Buffer{}
	log := slog.New(slog.NewTextHandler(a.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	a.rsvp.Log = log
	caldav.Mount(mux, &caldav.Server{Store: &caldav.Owners{Public: public, Personal: personal}, Log: log,
		Accounts: &caldav.Accounts{DB: db, Personal: personal, Answers: a.rsvp, Log: log}},
		&caldav.Feeds{Store: public, PublicURL: srv.URL}, caldav.MountOptions{})
	a.url = srv.URL
	_ = log
	a.calendarURL = srv.URL + "/dav/calendars/account/personal/"
	a.freeURL = fmt.Sprintf("%s%d.ics", a.calendarURL, a.free.ID)
	a.restrURL = fmt.Sprintf("%s%d.ics", a.calendarURL, a.restricted.ID)
	return a
}

func basic(user, password string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+password))
}

// as sends a request signed in as the participant.
func (a *account) as(method, url, body string, hdr ...string) (*http.Response, string) {
	a.t.Helper()
	h := []string{"Authorization", basic(a.user, a.password)}
	if method == "PUT" || method == "POST" {
		h = append(h, "Content-Type", "text/calendar; charset=utf-8")
	}
	return do(a.t, method, url, body, append(h, hdr...)...)
}

// get reads an event of the account's calendar.
func (a *account) get(url string) (etag, scheduleTag, body string) {
	a.t.Helper()
	resp, body := a.as("GET", url, "")
	if resp.StatusCode != 200 {
		a.t.Fatalf("GET %s: %d %s", url, resp.StatusCode, body)
	}
	return resp.Header.Get("ETag"), resp.Header.Get("Schedule-Tag"), body
}

var partstatRe = regexp.MustCompile(`ATTENDEE[^:]*PARTSTAT=([A-Z-]+)`)

func partstatOf(t testing.TB, body string) string {
	t.Helper()
	m := partstatRe.FindStringSubmatch(strings.ReplaceAll(body, "\r\n ", ""))
	if m == nil {
		t.Fatalf("no ATTENDEE with PARTSTAT in:\n%s", body)
	}
	return m[1]
}

// withPartstat is the copy as a calendar app saves it after a button.
func withPartstat(body, ps string) string {
	unfolded := strings.ReplaceAll(body, "\r\n ", "")
	return partstatRe.ReplaceAllStringFunc(unfolded, func(s string) string {
		return s[:strings.LastIndex(s, "=")+1] + ps
	})
}

func TestCalendarAccountSignIn(t *testing.T) { storetest.Each(t, testCalendarAccountSignIn) }

// testCalendarAccountSignIn: discovery with credentials reaches the
// participant's principal and calendar; without, the public tree stays as
// it was, and /dav/ asks a client that asks who it is to sign in; a wrong
// password and an unknown address get the same 401; the public and
// secret-link calendars ignore credentials.
func testCalendarAccountSignIn(t *testing.T, db *store.DB) {
	a := newAccount(t, db)
	const whoAmI = `<d:propfind xmlns:d="DAV:"><d:prop><d:current-user-principal/></d:prop></d:propfind>`
	resp, out := do(t, "PROPFIND", a.url+"/dav/", whoAmI, "Depth", "0")
	if resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") != `Basic realm="passerelle", charset="UTF-8"` {
		t.Errorf("who-am-I on /dav/ without credentials: %d %q %s", resp.StatusCode, resp.Header.Get("WWW-Authenticate"), out)
	}
	if resp, out := do(t, "PROPFIND", a.url+"/", whoAmI, "Depth", "0"); resp.StatusCode != 207 || !strings.Contains(out, "/dav/principals/public/") {
		t.Errorf("who-am-I on the site root without credentials (public discovery): %d %s", resp.StatusCode, out)
	}
	if resp, out := do(t, "PROPFIND", a.url+"/", whoAmI, "Depth", "0", "Authorization", basic("anyone", "anything")); resp.StatusCode != 207 || !strings.Contains(out, "/dav/principals/public/") {
		t.Errorf("site root with placeholder credentials (an old vdirsyncer setup): %d %s", resp.StatusCode, out)
	}
	if resp, out := do(t, "PROPFIND", a.url+"/dav/", "", "Depth", "1"); resp.StatusCode != 207 || !strings.Contains(out, "/dav/principals/public/") {
		t.Errorf("public tree from /dav/ without credentials: %d %s", resp.StatusCode, out)
	}
	resp, out = a.as("PROPFIND", a.url+"/dav/", whoAmI, "Depth", "0")
	if resp.StatusCode != 207 || !strings.Contains(out, "<d:href>/dav/principals/account/</d:href>") {
		t.Fatalf("who-am-I signed in: %d %s", resp.StatusCode, out)
	}
	const principalProps = `<d:propfind xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav"><d:prop><d:displayname/><c:calendar-home-set/>
		<c:calendar-user-address-set/><c:schedule-inbox-URL/><c:schedule-outbox-URL/><c:calendar-user-type/></d:prop></d:propfind>`
	resp, out = a.as("PROPFIND", a.url+"/dav/principals/account/", principalProps, "Depth", "0")
	for _, want := range []string{"<d:href>/dav/calendars/account/</d:href>", "<d:href>mailto:" + a.user + "</d:href>",
		"<d:href>/dav/calendars/account/inbox/</d:href>", "<d:href>/dav/calendars/account/outbox/</d:href>", "INDIVIDUAL"} {
		if resp.StatusCode != 207 || !strings.Contains(out, want) {
			t.Errorf("principal lacks %s: %d %s", want, resp.StatusCode, out)
		}
	}
	resp, out = a.as("PROPFIND", a.url+"/dav/calendars/account/", `<d:propfind xmlns:d="DAV:"><d:prop><d:resourcetype/><d:current-user-privilege-set/></d:prop></d:propfind>`, "Depth", "1")
	if resp.StatusCode != 207 || !strings.Contains(out, "/dav/calendars/account/personal/") || !strings.Contains(out, "<c:schedule-inbox/>") ||
		!strings.Contains(out, "<c:schedule-outbox/>") || !strings.Contains(out, "<d:write-content/>") {
		t.Errorf("calendar home: %d %s", resp.StatusCode, out)
	}
	if resp, _ := do(t, "OPTIONS", a.url+"/dav/", ""); !strings.Contains(resp.Header.Get("DAV"), "calendar-auto-schedule") {
		t.Errorf("DAV header %q lacks calendar-auto-schedule", resp.Header.Get("DAV"))
	}

	// Wrong password, unknown address: the same answer.
	r1, b1 := do(t, "PROPFIND", a.url+"/dav/", whoAmI, "Depth", "0", "Authorization", basic(a.user, "wrong-password"))
	r2, b2 := do(t, "PROPFIND", a.url+"/dav/", whoAmI, "Depth", "0", "Authorization", basic("nobody@example.net", a.password))
	if r1.StatusCode != 401 || r2.StatusCode != 401 || b1 != b2 || r1.Header.Get("WWW-Authenticate") != r2.Header.Get("WWW-Authenticate") {
		t.Errorf("wrong password %d %q, unknown address %d %q: want the same 401", r1.StatusCode, b1, r2.StatusCode, b2)
	}
	if resp, _ := do(t, "GET", a.freeURL, ""); resp.StatusCode != 401 {
		t.Errorf("the account's event without credentials: %d", resp.StatusCode)
	}
	// The public calendars and the well-known redirect.
	if resp, out := do(t, "PROPFIND", a.url+"/dav/calendars/public/club/", "", "Depth", "0", "Authorization", basic("anyone", "anything")); resp.StatusCode != 207 {
		t.Errorf("public calendar with stray credentials: %d %s", resp.StatusCode, out)
	}
	if resp, _ := do(t, "PROPFIND", a.url+"/.well-known/caldav", ""); resp.StatusCode != 308 || resp.Header.Get("Location") != "/" {
		t.Errorf("well-known without credentials: %d to %q, want 308 to /", resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp, _ := a.as("PROPFIND", a.url+"/.well-known/caldav", ""); resp.StatusCode != 308 || resp.Header.Get("Location") != "/dav/" {
		t.Errorf("well-known signed in: %d to %q, want 308 to /dav/", resp.StatusCode, resp.Header.Get("Location"))
	}
	// The address is case-insensitive.
	if resp, _ := do(t, "GET", a.freeURL, "", "Authorization", basic(anaAddress, a.password)); resp.StatusCode != 200 {
		t.Errorf("signed in with the address as first given: %d", resp.StatusCode)
	}
	// Neither password, right or wrong, is ever logged, at any level.
	if logs := a.logs.String(); !strings.Contains(logs, "calendar sign-in refused") || strings.Contains(logs, a.password) || strings.Contains(logs, "wrong-password") {
		t.Errorf("the log shows a password, or not the refusal:\n%s", logs)
	}
}

func TestCalendarAccountRateLimit(t *testing.T) { storetest.Each(t, testCalendarAccountRateLimit) }

// testCalendarAccountRateLimit: past ten failed sign-ins in an hour, the
// address is refused even with its password, across replicas.
func testCalendarAccountRateLimit(t *testing.T, db *store.DB) {
	a := newAccount(t, db)
	for i := range 10 {
		if resp, _ := do(t, "GET", a.freeURL, "", "Authorization", basic(a.user, fmt.Sprintf("guess-%d", i))); resp.StatusCode != 401 {
			t.Fatalf("guess %d: %d", i, resp.StatusCode)
		}
	}
	resp, out := a.as("GET", a.freeURL, "")
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" {
		t.Errorf("after ten failures, the right password: %d %s", resp.StatusCode, out)
	}
}

func TestCalendarAccountAnswers(t *testing.T) { storetest.Each(t, testCalendarAccountAnswers) }

// testCalendarAccountAnswers: the calendar shows each invitation with the
// participant as an attendee who must answer; a PUT of their copy with
// PARTSTAT ACCEPTED sends one Join (not two, whatever the retries), the
// copy then says where the answer stands, alarms are kept for them, and a
// DELETE declines. Sync carries every change, answers given elsewhere
// included.
func testCalendarAccountAnswers(t *testing.T, db *store.DB) {
	a := newAccount(t, db)
	resp, out := a.as("REPORT", a.calendarURL, fmt.Sprintf(syncTmpl, ""))
	if resp.StatusCode != 207 || len(hrefs(out)) != 2 {
		t.Fatalf("initial sync: %d %v\n%s", resp.StatusCode, hrefs(out), out)
	}
	token := tokenOf(t, out)

	etag, stag, body := a.get(a.freeURL)
	if unfolded := strings.ReplaceAll(body, "\r\n ", ""); partstatOf(t, body) != "NEEDS-ACTION" || !strings.Contains(unfolded, "RSVP=TRUE") ||
		!strings.Contains(unfolded, `ORGANIZER;CN="Club des lecteurs":mailto:rsvp@passerelle.test`) {
		t.Fatalf("invitation copy:\n%s", body)
	}
	if stag == "" {
		t.Fatal("no Schedule-Tag on GET")
	}

	// Accept: one Join; the copy says TENTATIVE until the organisers'
	// server confirms, and why.
	accepted := withPartstat(body, "ACCEPTED")
	resp, out = a.as("PUT", a.freeURL, accepted, "If-Match", etag, "Content-Type", "text/calendar; charset=utf-8")
	if resp.StatusCode != 204 || resp.Header.Get("Schedule-Tag") != stag {
		t.Fatalf("PUT ACCEPTED: %d %q %s", resp.StatusCode, resp.Header.Get("Schedule-Tag"), out)
	}
	if j, _ := a.joins.counts(); j != 1 {
		t.Fatalf("%d Joins after one accept", j)
	}
	etag2, stag2, body := a.get(a.freeURL)
	if partstatOf(t, body) != "TENTATIVE" || !strings.Contains(body, "COMMENT:Your yes was sent") || stag2 != stag || etag2 == etag {
		t.Errorf("after accept: etag %s→%s stag %s→%s\n%s", etag, etag2, stag, stag2, body)
	}
	// A retry with the old ETag is stale; the same answer again sends no
	// second Join.
	if resp, _ := a.as("PUT", a.freeURL, accepted, "If-Match", etag); resp.StatusCode != 412 {
		t.Errorf("stale If-Match: %d", resp.StatusCode)
	}
	if resp, _ := a.as("PUT", a.freeURL, accepted, "If-Schedule-Tag-Match", `"stale"`); resp.StatusCode != 412 {
		t.Errorf("stale If-Schedule-Tag-Match: %d", resp.StatusCode)
	}
	if resp, out := a.as("PUT", a.freeURL, accepted, "If-Schedule-Tag-Match", stag); resp.StatusCode != 204 {
		t.Errorf("accept again: %d %s", resp.StatusCode, out)
	}
	if j, _ := a.joins.counts(); j != 1 {
		t.Errorf("%d Joins after the same accept twice", j)
	}

	// The organisers' server confirms: ACCEPTED, and sync says so.
	err := db.Tx(context.Background(), func(ctx context.Context, tx *store.Tx) error {
		inv, err := tx.InvitationFor(ctx, a.participant, a.free.ID)
		if err != nil {
			return err
		}
		return a.rsvp.JoinAnswered(ctx, tx, inv.JoinID, bridges.JoinAccepted)
	})
	if err != nil {
		t.Fatal(err)
	}
	resp, out = a.as("REPORT", a.calendarURL, fmt.Sprintf(syncTmpl, token))
	if resp.StatusCode != 207 || len(hrefs(out)) != 1 || !strings.HasSuffix(hrefs(out)[0], fmt.Sprintf("/%d.ics", a.free.ID)) {
		t.Errorf("sync after the accept and the confirmation: %d %v", resp.StatusCode, hrefs(out))
	}
	token = tokenOf(t, out)
	etag, _, body = a.get(a.freeURL)
	if partstatOf(t, body) != "ACCEPTED" || strings.Contains(body, "COMMENT") {
		t.Errorf("confirmed copy:\n%s", body)
	}

	// An alarm of the participant's own is kept for them, and is no answer.
	withAlarm := strings.Replace(body, "END:VEVENT", "BEGIN:VALARM\r\nACTION:DISPLAY\r\nDESCRIPTION:Reminder\r\nTRIGGER:-PT30M\r\nEND:VALARM\r\nX-MOZ-LASTACK:20261204T000000Z\r\nEND:VEVENT", 1)
	if resp, out := a.as("PUT", a.freeURL, withAlarm, "If-Match", etag); resp.StatusCode != 204 {
		t.Fatalf("PUT with an alarm: %d %s", resp.StatusCode, out)
	}
	_, _, body = a.get(a.freeURL)
	if !strings.Contains(body, "TRIGGER:-PT30M") || !strings.Contains(body, "X-MOZ-LASTACK") || partstatOf(t, body) != "ACCEPTED" {
		t.Errorf("alarm not kept:\n%s", body)
	}
	if _, pub := do(t, "GET", fmt.Sprintf("%s/dav/calendars/public/club/%d.ics", a.url, a.free.ID), ""); strings.Contains(pub, "TRIGGER") {
		t.Error("the participant's alarm shows in the public calendar")
	}
	if j, l := a.joins.counts(); j != 1 || l != 0 {
		t.Errorf("an alarm sent %d Joins, %d Leaves", j, l)
	}

	// An answer given on the web (the mail's page) shows in the next sync.
	if _, err := a.rsvp.AnswerByToken(context.Background(), a.token, bridges.AnswerDeclined); err != nil {
		t.Fatal(err)
	}
	resp, out = a.as("REPORT", a.calendarURL, fmt.Sprintf(syncTmpl, token))
	if len(hrefs(out)) != 1 {
		t.Errorf("sync after a web answer: %d %v", resp.StatusCode, hrefs(out))
	}
	token = tokenOf(t, out)
	if _, l := a.joins.counts(); l != 1 {
		t.Errorf("web decline sent %d Leaves", l)
	}

	// The restricted event: accept → pending, then delete = decline.
	etag, _, body = a.get(a.restrURL)
	if resp, out := a.as("PUT", a.restrURL, withPartstat(body, "ACCEPTED"), "If-Match", etag); resp.StatusCode != 204 {
		t.Fatalf("accept restricted: %d %s", resp.StatusCode, out)
	}
	etag, _, body = a.get(a.restrURL)
	if partstatOf(t, body) != "TENTATIVE" || !strings.Contains(body, "approve each participant") {
		t.Errorf("pending copy:\n%s", body)
	}
	if resp, out := a.as("DELETE", a.restrURL, "", "If-Match", etag); resp.StatusCode != 204 {
		t.Fatalf("DELETE: %d %s", resp.StatusCode, out)
	}
	if j, l := a.joins.counts(); j != 2 || l != 2 {
		t.Errorf("after accept and delete of the restricted event: %d Joins, %d Leaves", j, l)
	}
	if resp, _ := a.as("GET", a.restrURL, ""); resp.StatusCode != 404 {
		t.Errorf("deleted event still in the calendar: %d", resp.StatusCode)
	}
	resp, out = a.as("REPORT", a.calendarURL, fmt.Sprintf(syncTmpl, token))
	if !strings.Contains(out, "404") || len(hrefs(out)) != 1 {
		t.Errorf("sync after delete: %d\n%s", resp.StatusCode, out)
	}

	// An iTIP REPLY to the outbox answers too.
	_, _, body = a.get(a.freeURL)
	reply := strings.Replace(withPartstat(body, "ACCEPTED"), "BEGIN:VEVENT", "BEGIN:VEVENT", 1)
	reply = strings.Replace(reply, "BEGIN:VCALENDAR\r\n", "BEGIN:VCALENDAR\r\nMETHOD:REPLY\r\n", 1)
	resp, out = a.as("POST", a.url+"/dav/calendars/account/outbox/", reply, "Content-Type", "text/calendar; method=REPLY")
	if resp.StatusCode != 200 || !strings.Contains(out, "2.0;Success") {
		t.Errorf("outbox REPLY: %d %s", resp.StatusCode, out)
	}
	if j, _ := a.joins.counts(); j != 3 {
		t.Errorf("outbox REPLY ACCEPTED after a decline: %d Joins, want 3", j)
	}
}

func TestCalendarAccountBadInput(t *testing.T) { storetest.Each(t, testCalendarAccountBadInput) }

// testCalendarAccountBadInput: what the account may not send gets a 4xx
// naming the problem, and nothing is joined or stored.
func testCalendarAccountBadInput(t *testing.T, db *store.DB) {
	a := newAccount(t, db)
	etag, _, body := a.get(a.freeURL)
	accepted := withPartstat(body, "ACCEPTED")
	twoEvents := strings.Replace(accepted, "END:VCALENDAR", strings.SplitN(accepted[strings.Index(accepted, "BEGIN:VEVENT"):], "END:VEVENT", 2)[0]+"END:VEVENT\r\nEND:VCALENDAR", 1)
	for _, tc := range []struct {
		name, url, method, body string
		code                    int
		want                    string
	}{
		{"not iCalendar", a.freeURL, "PUT", "yes please", 400, "valid-calendar-data"},
		{"another UID", a.freeURL, "PUT", strings.Replace(accepted, "UID:https://club.example/events/free", "UID:https://club.example/events/other", 1), 403, "UID"},
		{"two VEVENTs", a.freeURL, "PUT", twoEvents, 403, "2 VEVENTs"},
		{"10 MB", a.freeURL, "PUT", strings.Repeat("X", 10<<20), 413, "limit"},
		{"another attendee", a.freeURL, "PUT", strings.Replace(accepted, "mailto:"+anaAddress, "mailto:bob@example.net", 1), 403, "is not you"},
		{"the title", a.freeURL, "PUT", strings.Replace(accepted, "SUMMARY:Lecture libre", "SUMMARY:Ma lecture", 1), 403, "SUMMARY belongs to the organisers"},
		{"the time", a.freeURL, "PUT", regexp.MustCompile(`(DTSTART[^:\r\n]*:\d{8}T\d\d)\d\d`).ReplaceAllString(accepted, "${1}17"), 403, "time belongs to the organisers"},
		{"a new event", a.calendarURL + "999999.ics", "PUT", accepted, 403, "cannot add events"},
		{"a property change", a.calendarURL, "PROPPATCH", `<d:propertyupdate xmlns:d="DAV:"/>`, 403, "read-only"},
		{"a new calendar", a.url + "/dav/calendars/account/new/", "MKCALENDAR", "", 403, "need-privileges"},
		{"a REQUEST to the outbox", a.url + "/dav/calendars/account/outbox/", "POST", strings.Replace(accepted, "BEGIN:VCALENDAR\r\n", "BEGIN:VCALENDAR\r\nMETHOD:REQUEST\r\n", 1), 403, "REPLY only"},
		{"a PARTSTAT that is no answer", a.freeURL, "PUT", withPartstat(body, "DELEGATED"), 403, "not an answer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, out := a.as(tc.method, tc.url, tc.body, "If-Match", etag)
			if resp.StatusCode != tc.code || !strings.Contains(out, tc.want) {
				t.Errorf("%s: %d %s, want %d naming %q", tc.name, resp.StatusCode, out, tc.code, tc.want)
			}
		})
	}
	if j, l := a.joins.counts(); j != 0 || l != 0 {
		t.Errorf("bad input sent %d Joins, %d Leaves", j, l)
	}
	if etag2, _, after := a.get(a.freeURL); etag2 != etag || after != body {
		t.Errorf("bad input changed the event:\n%s", after)
	}
}

// BenchmarkSignInRefused measures a refused sign-in for an address that
// is a participant's (wrong password) and for one that is not: the two
// must cost the same, so that timing does not tell which addresses exist.
// Compare the two ns/op (go test ./caldav -run '^$' -bench SignIn).
func BenchmarkSignInRefused(b *testing.B) {
	db := storetest.New(b)
	ctx := context.Background()
	passwords, _ := bridges.NewCalendarPasswords([]byte(strings.Repeat("s", 32)))
	err := db.Tx(ctx, func(ctx context.Context, tx *store.Tx) error {
		p := &bridges.Participant{Address: anaAddress, CreatedAt: time.Now()}
		if err := tx.SaveParticipant(ctx, p); err != nil {
			return err
		}
		_, err := passwords.Account(ctx, tx, p)
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	personal := &caldav.PersonalStore{DB: db, Renderer: &ical.Renderer{}, Organizer: "rsvp@passerelle.test"}
	// No limit: every attempt takes the whole path.
	srv := httptest.NewServer(&caldav.Server{Store: personal, Accounts: &caldav.Accounts{DB: db, Personal: personal,
		Log: slog.New(slog.DiscardHandler), MaxFailuresPerAddress: 1 << 30, MaxFailuresPerClient: 1 << 30}})
	b.Cleanup(srv.Close)
	for _, user := range []string{anaAddress, "nobody@example.net"} {
		b.Run(map[string]string{anaAddress: "participant", "nobody@example.net": "unknown"}[user], func(b *testing.B) {
			for i := range b.N {
				req, _ := http.NewRequest("GET", srv.URL+"/dav/calendars/account/personal/", nil)
				req.Header.Set("Authorization", basic(user, fmt.Sprintf("guess-%d", i)))
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != 401 {
					b.Fatalf("status %d", resp.StatusCode)
				}
			}
		})
	}
}
