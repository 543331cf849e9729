package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	gomail "github.com/emersion/go-message/mail"

	"codeberg.org/passerelle/passerelle/ical"
	"codeberg.org/passerelle/passerelle/internal/binarytest"
	"codeberg.org/passerelle/passerelle/internal/calparsers"
	"codeberg.org/passerelle/passerelle/internal/fedipeertest"
	"codeberg.org/passerelle/passerelle/internal/mailtest"
	"codeberg.org/passerelle/passerelle/internal/storetest"
	"codeberg.org/passerelle/passerelle/internal/wait"
	"codeberg.org/passerelle/passerelle/mail"
	"codeberg.org/passerelle/passerelle/store"
)

// mailWorld is the real binary serving against real peers: the Fedify
// peer shaped as Mobilizon, aiosmtpd receiving what passerelle sends and
// Dovecot holding the mailbox passerelle watches.
type mailWorld struct {
	t     testing.TB
	peer  *fedipeertest.Peer
	smtp  *mailtest.SMTPServer
	imap  *mailtest.Dovecot
	srv   *binarytest.Process
	dir   string
	env   []string
	dbURL string
	// ids are the passerelle event ids by title, starts their start.
	ids    map[string]int64
	starts map[string]time.Time
}

func startMailWorld(t testing.TB) *mailWorld {
	t.Helper()
	return startMailWorldEnv(t)
}

// startMailWorldEnv is startMailWorld with more settings for serve and
// the commands (NAME=value).
func startMailWorldEnv(t testing.TB, extra ...string) *mailWorld {
	t.Helper()
	w := &mailWorld{t: t, peer: fedipeertest.Start(t, fedipeertest.Mobilizon), smtp: mailtest.StartSMTP(t), imap: mailtest.StartDovecot(t),
		dir: t.TempDir(), dbURL: storetest.SQLiteURL(t), ids: map[string]int64{}, starts: map[string]time.Time{}}
	addr := binarytest.FreeAddr(t, "127.0.0.1")
	w.env = []string{
		"PASSERELLE_DATABASE_URL=" + w.dbURL,
		"PASSERELLE_PUBLIC_URL=http://" + addr,
		"PASSERELLE_FEDERATION_ALLOW_PRIVATE_NETWORKS=true",
		"PASSERELLE_MAIL_FROM=Passerelle <events@passerelle.test>",
		"PASSERELLE_MAIL_SMTP=" + w.smtp.URL(),
		"PASSERELLE_MAIL_IMAP=" + w.imap.URL(),
		"PASSERELLE_MAIL_REPLY_ADDRESS=" + w.imap.User,
		"PASSERELLE_LOG_LEVEL=info",
		"PASSERELLE_LISTEN=" + addr,
	}
	w.env = append(w.env, extra...)
	w.srv = binarytest.Start(t, w.dir, addr, w.env)
	if r := w.cli("follow", w.peer.Handle("mygroup")); r.Code != 0 {
		t.Fatalf("follow: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	return w
}

func (w *mailWorld) cli(args ...string) binarytest.Result {
	w.t.Helper()
	return binarytest.Run(w.t, w.dir, w.env, args...)
}

// event creates an event on the peer, federated to passerelle, and waits
// until passerelle lists it.
func (w *mailWorld) event(e fedipeertest.Event) fedipeertest.Created {
	w.t.Helper()
	loc, _ := time.LoadLocation("Europe/Paris")
	start := time.Now().Add(5 * 24 * time.Hour).In(loc).Truncate(time.Hour)
	e.StartTime, e.EndTime, e.Timezone = start.Format(time.RFC3339), start.Add(2*time.Hour).Format(time.RFC3339), "Europe/Paris"
	w.starts[e.Name] = start
	c := w.peer.CreateEvent(w.t, e)
	waitUntil(w.t, "event "+e.Name+" stored", 20*time.Second, func() bool {
		r := w.cli("events", "--json")
		for _, line := range strings.Split(strings.TrimSpace(r.Stdout), "\n") {
			var l struct {
				ID    json.Number `json:"id"`
				Title string      `json:"title"`
			}
			if json.Unmarshal([]byte(line), &l) == nil && l.Title == e.Name {
				id, _ := l.ID.Int64()
				w.ids[e.Name] = id
				return true
			}
		}
		return false
	})
	return c
}

func (w *mailWorld) invite(title, address string) {
	w.t.Helper()
	r := w.cli("invite", "--event", strconv.FormatInt(w.ids[title], 10), address)
	if r.Code != 0 || !strings.Contains(r.Stdout, "1 invitation(s) queued") {
		w.t.Fatalf("invite %s to %s: exit %d\n%s%s", address, title, r.Code, r.Stdout, r.Stderr)
	}
}

// sentMail is one mail aiosmtpd received, read back.
type sentMail struct {
	Raw       []byte
	To        string
	Subject   string
	MessageID string
	In        *mail.Inbound
}

func (m sentMail) calendar(t testing.TB) (*ical.ITIPMessage, ical.ITIPEvent) {
	t.Helper()
	if len(m.In.Calendars) != 1 || len(m.In.Calendars[0].Events) != 1 {
		t.Fatalf("mail %q carries %d calendars, want one with one event", m.Subject, len(m.In.Calendars))
	}
	return m.In.Calendars[0], m.In.Calendars[0].Events[0]
}

func readSent(t testing.TB, raw []byte) sentMail {
	t.Helper()
	mr, err := gomail.CreateReader(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("read sent mail: %v", err)
	}
	subject, _ := mr.Header.Subject()
	m := sentMail{Raw: raw, Subject: subject, To: mr.Header.Get("X-Envelope-To")}
	m.MessageID, _ = mr.Header.MessageID()
	if m.In, err = mail.Parse(bytes.NewReader(raw), 0); err != nil {
		t.Fatalf("parse sent mail: %v", err)
	}
	return m
}

// mails lists what arrived for an address with a subject.
func (w *mailWorld) mails(to, subject string) []sentMail {
	w.t.Helper()
	var out []sentMail
	for _, raw := range w.smtp.Messages(w.t) {
		m := readSent(w.t, raw)
		if strings.EqualFold(m.To, to) && m.Subject == subject {
			out = append(out, m)
		}
	}
	return out
}

// waitMail waits for the nth (1-based) mail to an address with a subject.
func (w *mailWorld) waitMail(to, subject string, n int) sentMail {
	w.t.Helper()
	return w.waitMailWithin(to, subject, n, 30*time.Second)
}

func (w *mailWorld) waitMailWithin(to, subject string, n int, within time.Duration) sentMail {
	w.t.Helper()
	var got []sentMail
	waitUntil(w.t, fmt.Sprintf("mail %q to %s", subject, to), within, func() bool {
		got = w.mails(to, subject)
		return len(got) >= n
	})
	return got[n-1]
}

var replySeq atomic.Int64

// reply builds an answer the way a real client wrote it (a fixture of
// ../../mail/testdata/imip), made to answer our invitation: the event's
// UID, sent to the ORGANIZER address it gave, with a Message-ID of its own.
func reply(t testing.TB, fixture, oldUID, newUID, organizer string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "mail", "testdata", "imip", fixture))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte("UID:"+oldUID)) {
		t.Fatalf("%s does not hold UID %s as plain text", fixture, oldUID)
	}
	b = bytes.ReplaceAll(b, []byte("UID:"+oldUID), []byte("UID:"+newUID))
	b = regexp.MustCompile(`(?m)^To: .*\r?$`).ReplaceAllLiteral(b, []byte("To: <"+organizer+">\r"))
	id := fmt.Sprintf("Message-ID: <reply-%d-%d@client.test>\r", time.Now().UnixNano(), replySeq.Add(1))
	return regexp.MustCompile(`(?mi)^Message-ID: .*\r?$`).ReplaceAllLiteral(b, []byte(id))
}

// appendMail delivers a mail into the watched mailbox by IMAP APPEND.
func (w *mailWorld) appendMail(raw []byte) {
	w.t.Helper()
	w.imap.Append(w.t, raw)
}

// received lists the peer's received activities of a type about an event.
func (w *mailWorld) received(typ, eventURL string) []fedipeertest.Received {
	var out []fedipeertest.Received
	for _, r := range w.peer.Received(w.t) {
		if r.Activity["type"] == typ && r.Activity["object"] == eventURL {
			out = append(out, r)
		}
	}
	return out
}

func (w *mailWorld) waitReceived(typ, eventURL string) fedipeertest.Received {
	w.t.Helper()
	var got []fedipeertest.Received
	waitUntil(w.t, typ+" of "+eventURL+" at the peer", 30*time.Second, func() bool {
		got = w.received(typ, eventURL)
		return len(got) > 0
	})
	if !got[0].Verified {
		w.t.Errorf("Fedify could not verify the %s of %s: %+v", typ, eventURL, got[0])
	}
	return got[0]
}

func waitUntil(t testing.TB, what string, within time.Duration, cond func() bool) {
	t.Helper()
	wait.For(t, within, what, cond)
}

// checkInvitationElsewhere reads an invitation with independent parsers:
// Python's email and icalendar packages, and ical.js (Thunderbird's).
func checkInvitationElsewhere(t *testing.T, m sentMail, uid, title string, start time.Time) {
	t.Helper()
	inv := calparsers.PythonInvitation(t, m.Raw)
	if inv.UID != uid || !strings.HasPrefix(strings.ToLower(inv.Organizer), "mailto:rsvp+r-") || inv.ListUnsubscribePost != "List-Unsubscribe=One-Click" {
		t.Errorf("Python reads UID %q, ORGANIZER %q, List-Unsubscribe-Post %q", inv.UID, inv.Organizer, inv.ListUnsubscribePost)
	}
	if inv.Subject != "Invitation: "+title {
		t.Errorf("Python reads the subject as %q", inv.Subject)
	}

	ics := filepath.Join(t.TempDir(), "invite.ics")
	if err := os.WriteFile(ics, []byte(inv.Calendar), 0o644); err != nil {
		t.Fatal(err)
	}
	evs := calparsers.ICALjs(t, ics)
	if len(evs) != 1 {
		t.Fatalf("ical.js reads %d events in the invitation, want 1", len(evs))
	}
	// ical.js resolves the local time through the mail's VTIMEZONE.
	want := start.UTC().Format("2006-01-02T15:04:05.000Z")
	if evs[0].UID != uid || evs[0].Summary != title || evs[0].Start != want {
		t.Errorf("ical.js reads %+v, want start %s", evs[0], want)
	}
}

// TestMailRSVPEndToEnd is issue 6's end-to-end proof, on the real binary:
// invitations out over SMTP, replies built like Gmail's, Apple's and
// Outlook's appended to the watched Dovecot mailbox, Joins and Leaves to
// the Fedify peer (verified there), its answers back as mail; restricted,
// full, update, cancel and unsubscription.
func TestMailRSVPEndToEnd(t *testing.T) {
	w := startMailWorld(t)
	free := w.event(fedipeertest.Event{Name: "Free picnic"})
	restricted := w.event(fedipeertest.Event{Name: "Restricted workshop", JoinMode: "restricted"})
	refused := w.event(fedipeertest.Event{Name: "Refused workshop", JoinMode: "restricted"})
	full := w.event(fedipeertest.Event{Name: "Full concert", MaximumAttendeeCapacity: 2, Participants: 2})
	const gmail, apple = "tcataldo@gmail.com", "admin@willow.vmw"

	// Free event, Gmail's Accept: Join → the peer's @mod accepts → "you're in".
	w.invite("Free picnic", gmail)
	inv := w.waitMail(gmail, "Invitation: Free picnic", 1)
	_, invEv := inv.calendar(t)
	if invEv.UID != free.ID || len(invEv.Attendees) != 1 || invEv.Attendees[0].PartStat != "NEEDS-ACTION" {
		t.Fatalf("invitation calendar: %+v", invEv)
	}
	checkInvitationElsewhere(t, inv, free.ID, "Free picnic", w.starts["Free picnic"])
	w.appendMail(reply(t, "gmail-reply-accepted.eml", "14ef516ad2e6ce325d5c8efcf9d7ddbfa30f9d15", free.ID, invEv.Organizer))
	join := w.waitReceived("Join", free.ID)
	participant, _ := join.Activity["actor"].(string)
	if raw, _ := json.Marshal(join.Activity); bytes.Contains(raw, []byte(gmail)) || !strings.Contains(participant, "/actors/p-") {
		t.Errorf("the Join shows the address or no participant actor: %s", raw)
	}
	confirmed := w.waitMail(gmail, "Confirmed: Free picnic", 1)
	if _, ev := confirmed.calendar(t); len(ev.Attendees) != 1 || ev.Attendees[0].PartStat != "ACCEPTED" {
		t.Errorf("you're-in calendar: %+v", ev)
	}
	if !strings.Contains(confirmed.In.Text, "You're in") || !bytes.Contains(confirmed.Raw, []byte("In-Reply-To: <"+inv.MessageID+">")) {
		t.Errorf("you're-in mail:\n%s", confirmed.Raw)
	}

	// Restricted events, Apple's and Outlook's Accepts: pending, then the
	// moderator approves one and refuses the other.
	w.invite("Restricted workshop", apple)
	w.invite("Refused workshop", apple)
	_, ev := w.waitMail(apple, "Invitation: Restricted workshop", 1).calendar(t)
	w.appendMail(reply(t, "apple-ios-reply-accepted-fr.eml", "b84ce20", restricted.ID, ev.Organizer))
	_, ev = w.waitMail(apple, "Invitation: Refused workshop", 1).calendar(t)
	w.appendMail(reply(t, "outlook-mac-reply-accepted.eml", "f1394aba7ca8b9474af204a4d88934b7c7aa2191", refused.ID, ev.Organizer))
	w.waitMail(apple, "Awaiting approval: Restricted workshop", 1)
	w.waitMail(apple, "Awaiting approval: Refused workshop", 1)
	rj, fj := w.waitReceived("Join", restricted.ID), w.waitReceived("Join", refused.ID)
	if rj.Activity["actor"] != fj.Activity["actor"] || rj.Activity["actor"] == participant {
		t.Errorf("one actor per participant, reused across events: %v, %v (other participant %s)", rj.Activity["actor"], fj.Activity["actor"], participant)
	}
	if got := w.mails(apple, "Confirmed: Restricted workshop"); len(got) != 0 {
		t.Fatal("confirmed before the moderator decided")
	}
	w.peer.AcceptJoin(t, rj.Activity["id"].(string))
	w.peer.RejectJoin(t, fj.Activity["id"].(string))
	if _, ev := w.waitMail(apple, "Confirmed: Restricted workshop", 1).calendar(t); ev.Attendees[0].PartStat != "ACCEPTED" {
		t.Errorf("approved: %+v", ev)
	}
	if m, ev := w.waitMail(apple, "Not confirmed: Refused workshop", 1).calendar(t); m.Method != "CANCEL" {
		t.Errorf("refused: method %s, %+v", m.Method, ev)
	}

	// A full event: no Join, "the event is full".
	w.invite("Full concert", gmail)
	_, ev = w.waitMail(gmail, "Invitation: Full concert", 1).calendar(t)
	w.appendMail(reply(t, "gmail-reply-accepted.eml", "14ef516ad2e6ce325d5c8efcf9d7ddbfa30f9d15", full.ID, ev.Organizer))
	w.waitMail(gmail, "Full: Full concert", 1)

	// An update on the peer: a new REQUEST, SEQUENCE+1, to those invited
	// and not refused (not for the refused workshop).
	w.peer.UpdateEvent(t, free.UUID, map[string]any{"name": "Free picnic", "content": "<p>Bring a blanket.</p>"})
	w.peer.UpdateEvent(t, refused.UUID, map[string]any{"content": "<p>Moved to room 2.</p>"})
	upd := w.waitMail(gmail, "Updated: Free picnic", 1)
	if m, ev := upd.calendar(t); m.Method != "REQUEST" || ev.Sequence != invEv.Sequence+1 || ev.UID != free.ID {
		t.Errorf("update: method %s, SEQUENCE %d after %d, UID %s", m.Method, ev.Sequence, invEv.Sequence, ev.UID)
	}

	// Decline after accept (Gmail's Decline): Leave at the peer.
	w.appendMail(reply(t, "gmail-reply-declined.eml", "14ef516ad2e6ce325d5c8efcf9d7ddbfa30f9d15", free.ID, invEv.Organizer))
	leave := w.waitReceived("Leave", free.ID)
	if leave.Activity["actor"] != participant {
		t.Errorf("Leave from %v, want %s", leave.Activity["actor"], participant)
	}
	waitUntil(t, "the peer drops the participation", 10*time.Second, func() bool {
		return w.peer.State(t).Joins[join.Activity["id"].(string)].State == "left"
	})
	w.waitMail(gmail, "You left: Free picnic", 1)

	// A cancellation on the peer: METHOD:CANCEL to the approved participant.
	w.peer.CancelEvent(t, restricted.UUID)
	if m, ev := w.waitMail(apple, "Cancelled: Restricted workshop", 1).calendar(t); m.Method != "CANCEL" || ev.UID != restricted.ID {
		t.Errorf("cancel: %s %+v", m.Method, ev)
	}

	// Unsubscription ends all mail to the address: the mail provider's
	// RFC 8058 one-click POST to the List-Unsubscribe URL of the last mail
	// (no browser headers, body List-Unsubscribe=One-Click). A change to
	// the full event mails Gmail once before, then no more.
	w.peer.UpdateEvent(t, full.UUID, map[string]any{"content": "<p>Doors at 19:00.</p>"})
	last := w.waitMail(gmail, "Updated: Full concert", 1)
	mr, err := gomail.CreateReader(bytes.NewReader(last.Raw))
	if err != nil {
		t.Fatal(err)
	}
	if mr.Header.Get("List-Unsubscribe-Post") != "List-Unsubscribe=One-Click" {
		t.Errorf("List-Unsubscribe-Post: %q", mr.Header.Get("List-Unsubscribe-Post"))
	}
	unsub := strings.Trim(mr.Header.Get("List-Unsubscribe"), "<>")
	if !strings.HasPrefix(unsub, "http://"+w.srv.Listen+"/mail/unsubscribe/") {
		t.Fatalf("List-Unsubscribe: %q", unsub)
	}
	resp, err := http.Post(unsub, "application/x-www-form-urlencoded", strings.NewReader("List-Unsubscribe=One-Click"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("one-click unsubscribe: HTTP %d", resp.StatusCode)
	}
	w.peer.UpdateEvent(t, full.UUID, map[string]any{"content": "<p>Doors at 19:30.</p>"})
	w.peer.UpdateEvent(t, free.UUID, map[string]any{"content": "<p>Bring two blankets.</p>"})
	// The other address still gets mail.
	w.invite("Free picnic", apple)
	w.waitMail(apple, "Invitation: Free picnic", 1)
	waitUntil(t, "the update to the unsubscribed address suppressed", 20*time.Second, func() bool {
		return strings.Contains(w.srv.Logs(), "mail to an unsubscribed address suppressed")
	})
	if n := len(w.mails(gmail, "Updated: Full concert")); n != 1 {
		t.Errorf("%d updates of the full concert reached the unsubscribed address, want only the one before", n)
	}
	if n := len(w.mails(gmail, "Updated: Free picnic")); n != 1 {
		t.Errorf("%d updates of the free picnic reached Gmail, want 1 (it declined, then unsubscribed)", n)
	}
	if n := len(w.mails(apple, "Updated: Refused workshop")); n != 0 {
		t.Errorf("a refused participant got %d updates", n)
	}
	if n := len(w.received("Join", full.ID)); n != 0 {
		t.Errorf("%d Joins sent to a full event", n)
	}
	// Addresses never appear in the logs above debug, nor anywhere in
	// what the peer received.
	for _, addr := range []string{gmail, apple} {
		if strings.Contains(strings.ToLower(w.srv.Logs()), strings.ToLower(addr)) {
			t.Errorf("serve's info log shows %s", addr)
		}
		for _, r := range w.peer.Received(t) {
			if raw, _ := json.Marshal(r.Activity); bytes.Contains(bytes.ToLower(raw), []byte(strings.ToLower(addr))) {
				t.Errorf("the peer received %s: %s", addr, raw)
			}
		}
	}
}

// TestMailRefetchThroughServe proves serve's re-fetch of answered events:
// after the group is unfollowed the peer sends passerelle nothing, yet a
// change at the origin reaches the participant as an update, through the
// periodic sweep (every minute) and its signed conditional GET.
func TestMailRefetchThroughServe(t *testing.T) {
	w := startMailWorld(t)
	ev := w.event(fedipeertest.Event{Name: "Quiet picnic"})
	const gmail = "tcataldo@gmail.com"
	w.invite("Quiet picnic", gmail)
	inv := w.waitMail(gmail, "Invitation: Quiet picnic", 1)
	_, c := inv.calendar(t)
	w.appendMail(reply(t, "gmail-reply-accepted.eml", "14ef516ad2e6ce325d5c8efcf9d7ddbfa30f9d15", ev.ID, c.Organizer))
	w.waitMail(gmail, "Confirmed: Quiet picnic", 1)

	if r := w.cli("unfollow", "mygroup"); r.Code != 0 {
		t.Fatalf("unfollow: exit %d %s%s", r.Code, r.Stdout, r.Stderr)
	}
	waitUntil(t, "the peer drops its follower", 20*time.Second, func() bool { return len(w.peer.State(t).Followers["mygroup"]) == 0 })
	if d := w.peer.UpdateEvent(t, ev.UUID, map[string]any{"content": "<p>Moved to the park.</p>"}); len(d) != 0 {
		t.Fatalf("the peer still delivers to passerelle: %+v", d)
	}
	// Whatever the sweep did so far, make the event due now: the next
	// sweep (within a minute) re-fetches it.
	db, err := store.Open(context.Background(), w.dbURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Tx(context.Background(), func(ctx context.Context, tx *store.Tx) error {
		return tx.ScheduleRefetch(ctx, w.ids["Quiet picnic"], time.Now().Add(-time.Second))
	}); err != nil {
		t.Fatal(err)
	}
	upd := w.waitMailWithin(gmail, "Updated: Quiet picnic", 1, 100*time.Second)
	if _, u := upd.calendar(t); u.Sequence != c.Sequence+1 {
		t.Errorf("update SEQUENCE %d after %d", u.Sequence, c.Sequence)
	}
	var signed bool
	for _, f := range w.peer.Fetched(t) {
		if w.peer.URL+f.Path == ev.ID && f.Signed && f.Status == 200 {
			signed = true
		}
	}
	if !signed {
		t.Errorf("no signed GET of the event at the peer: %+v", w.peer.Fetched(t))
	}
}

// TestMailBadInputThroughServe appends what must change nothing to the
// watched mailbox of the real binary: a reply from another address, a
// REPLY for an unknown UID, a wrong token, a bounce, malformed MIME, a
// 30 MB mail, and a valid reply sent twice. Only the valid one joins, once;
// nothing else is answered, and the watcher goes past every one.
func TestMailBadInputThroughServe(t *testing.T) {
	w := startMailWorld(t)
	ev := w.event(fedipeertest.Event{Name: "Guarded picnic"})
	const gmail = "tcataldo@gmail.com"
	w.invite("Guarded picnic", gmail)
	inv := w.waitMail(gmail, "Invitation: Guarded picnic", 1)
	_, c := inv.calendar(t)
	const gmailUID = "14ef516ad2e6ce325d5c8efcf9d7ddbfa30f9d15"
	wrongToken := regexp.MustCompile(`\+r-[a-z2-7]+@`).ReplaceAllString(c.Organizer, "+r-aaaaaaaaaaaaaaaaaaaaaaaaaa@")
	huge := "From: " + gmail + "\r\nTo: <" + c.Organizer + ">\r\nSubject: yes\r\nMessage-ID: <huge@client.test>\r\nContent-Type: text/plain\r\n\r\nyes\r\n" +
		strings.Repeat(strings.Repeat("x", 998)+"\r\n", 30<<10)
	bad := map[string][]byte{
		"another sender": bytes.ReplaceAll(reply(t, "gmail-reply-accepted.eml", gmailUID, ev.ID, c.Organizer), []byte(gmail), []byte("mallory@evil.example")),
		"unknown UID":    reply(t, "gmail-reply-accepted.eml", gmailUID, "urn:uuid:not-an-event-here", c.Organizer),
		"wrong token":    bytes.ReplaceAll(reply(t, "gmail-reply-accepted.eml", gmailUID, ev.ID, wrongToken), []byte("In-Reply-To"), []byte("X-In-Reply-To")),
		"bounce": []byte("From: MAILER-DAEMON@mx.example.net\r\nTo: <" + c.Organizer + ">\r\nMessage-ID: <dsn@mx.example.net>\r\nSubject: Undelivered\r\n" +
			"In-Reply-To: <" + inv.MessageID + ">\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=b\r\n\r\n" +
			"--b\r\nContent-Type: text/plain\r\n\r\nyes\r\n--b\r\nContent-Type: message/delivery-status\r\n\r\nStatus: 5.0.0\r\n--b--\r\n"),
		"malformed MIME": []byte("From: " + gmail + "\r\nTo: <" + c.Organizer + ">\r\nMessage-ID: <broken@client.test>\r\nContent-Type: multipart/mixed\r\n\r\n--\r\n\x00\xff garbage"),
		"30 MB":          []byte(huge),
	}
	for name, raw := range bad {
		t.Logf("appending %s (%d bytes)", name, len(raw))
		w.appendMail(raw)
	}
	db, err := store.Open(context.Background(), w.dbURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	processed := func(n int) {
		t.Helper()
		waitUntil(t, fmt.Sprintf("the watcher past %d mails", n), 60*time.Second, func() bool {
			st, err := db.IMAPState(context.Background(), "INBOX")
			return err == nil && st.LastUID == uint32(n)
		})
	}
	processed(len(bad))
	time.Sleep(500 * time.Millisecond)
	if n := len(w.received("Join", ev.ID)); n != 0 {
		t.Fatalf("%d Joins after mail that must change nothing", n)
	}
	good := reply(t, "gmail-reply-accepted.eml", gmailUID, ev.ID, c.Organizer)
	w.appendMail(good)
	w.appendMail(good)
	processed(len(bad) + 2)
	w.waitMail(gmail, "Confirmed: Guarded picnic", 1)
	time.Sleep(time.Second)
	if n := len(w.received("Join", ev.ID)); n != 1 {
		t.Errorf("%d Joins, want 1 (the valid reply, once)", n)
	}
	if n := len(w.smtp.Messages(t)); n != 2 {
		t.Errorf("%d mails sent, want 2 (the invitation and the confirmation)", n)
	}
	resp, err := http.Get("http://" + w.srv.Listen + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("serve after the bad mail: %v", err)
	}
	resp.Body.Close()
}

// TestMailRSVPUnconfirmedEndToEnd: Mobilizon accepts a Join to a free
// group event without a local moderator and sends no Accept. After
// mail.confirm_wait (2 s here, 2 min by default) the participant hears
// that the answer was delivered but not confirmed; an Accept coming later
// confirms it, once.
func TestMailRSVPUnconfirmedEndToEnd(t *testing.T) {
	const wait = 2 * time.Second
	w := startMailWorldEnv(t, "PASSERELLE_MAIL_CONFIRM_WAIT="+wait.String())
	quiet := w.event(fedipeertest.Event{Name: "Quiet picnic", QuietJoins: true})
	const gmail = "tcataldo@gmail.com"
	w.invite("Quiet picnic", gmail)
	inv := w.waitMail(gmail, "Invitation: Quiet picnic", 1)
	_, invEv := inv.calendar(t)
	w.appendMail(reply(t, "gmail-reply-accepted.eml", "14ef516ad2e6ce325d5c8efcf9d7ddbfa30f9d15", quiet.ID, invEv.Organizer))
	join := w.waitReceived("Join", quiet.ID)
	joinedAt := time.Now()
	joinID, _ := join.Activity["id"].(string)
	if st := w.peer.State(t).Joins[joinID]; st.State != "accepted" {
		t.Errorf("the peer holds the Join as %q, want accepted (silently)", st.State)
	}

	unconfirmed := w.waitMailWithin(gmail, "Answer delivered: Quiet picnic", 1, wait+30*time.Second)
	if time.Since(joinedAt) < wait-500*time.Millisecond {
		t.Errorf("the not-confirmed mail came %s after the Join, before the %s wait", time.Since(joinedAt), wait)
	}
	if !strings.Contains(unconfirmed.In.Text, "did not confirm") || !bytes.Contains(unconfirmed.Raw, []byte("In-Reply-To: <"+inv.MessageID+">")) {
		t.Errorf("not-confirmed mail:\n%s", unconfirmed.Raw)
	}
	if n := len(w.mails(gmail, "Confirmed: Quiet picnic")); n != 0 {
		t.Errorf("%d you're-in mails before any Accept: passerelle claimed more than it knows", n)
	}

	// The organisers confirm later: "you're in", with PARTSTAT=ACCEPTED.
	w.peer.AcceptJoin(t, joinID)
	confirmed := w.waitMail(gmail, "Confirmed: Quiet picnic", 1)
	if _, ev := confirmed.calendar(t); len(ev.Attendees) != 1 || ev.Attendees[0].PartStat != "ACCEPTED" {
		t.Errorf("you're-in calendar: %+v", ev)
	}
	// A second Accept of the same Join confirms nothing more.
	w.peer.AcceptJoin(t, joinID)
	time.Sleep(3 * time.Second)
	if n := len(w.mails(gmail, "Confirmed: Quiet picnic")); n != 1 {
		t.Errorf("%d you're-in mails after two Accepts, want 1", n)
	}
	if n := len(w.mails(gmail, "Answer delivered: Quiet picnic")); n != 1 {
		t.Errorf("%d not-confirmed mails, want 1", n)
	}
}
