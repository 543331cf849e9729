package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"codeberg.org/passerelle/passerelle/bridges"
	"codeberg.org/passerelle/passerelle/ical"
	"codeberg.org/passerelle/passerelle/internal/binarytest"
	"codeberg.org/passerelle/passerelle/internal/mailtest"
	"codeberg.org/passerelle/passerelle/internal/storetest"
	"codeberg.org/passerelle/passerelle/store"
)

// imapCount counts the mails in a folder of the test Dovecot.
func imapCount(t *testing.T, d *mailtest.Dovecot, folder string) int {
	t.Helper()
	c, err := imapclient.DialInsecure(d.Addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login(d.User, d.Password).Wait(); err != nil {
		t.Fatal(err)
	}
	data, err := c.Select(folder, &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil {
		return -1
	}
	return int(data.NumMessages)
}

var (
	replyToken  = regexp.MustCompile(`rsvp\+r-([a-z0-9]+)@example\.org`)
	unsubscribe = regexp.MustCompile(`(?m)^List-Unsubscribe: <([^>]+)>`)
)

// TestMailByTheBinary drives the real binary with real mail servers
// (aiosmtpd receives, Dovecot is watched): check-config --connect; a mail
// to rsvp+join-SLUG@ brings one invitation per upcoming event and is moved
// to the processed folder; the /rsvp/ page a mail links to shows without
// acting and answers by POST; RFC 8058 one-click ends all mail; and
// participant export and erase.
func TestMailByTheBinary(t *testing.T) {
	smtpd := mailtest.StartSMTP(t)
	dove := mailtest.StartDovecot(t)
	ctx := context.Background()
	dir := t.TempDir()
	addr := binarytest.FreeAddr(t, "127.0.0.1")
	dbURL := storetest.SQLiteURL(t)

	db, err := store.Open(ctx, dbURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	src := &bridges.Source{Slug: "cafe", Name: "Répar'café", ActorURL: "http://127.0.0.1:9/@cafe", Software: "mobilizon", State: bridges.SourceFollowed, CreatedAt: time.Now()}
	if err := db.Tx(ctx, func(ctx context.Context, tx *store.Tx) error { return tx.SaveSource(ctx, src) }); err != nil {
		t.Fatal(err)
	}
	flow := &bridges.Events[*store.Tx]{Store: db, Renderer: &ical.Renderer{}}
	start := time.Now().Add(72 * time.Hour).Truncate(time.Hour)
	for i, title := range []string{"Répar'café de juin", "Atelier vélo"} {
		_, err := flow.Apply(ctx, bridges.Event{APID: fmt.Sprintf("http://127.0.0.1:9/events/%d", i), Title: title, Start: start.Add(time.Duration(i) * 24 * time.Hour),
			TimeZone: "Europe/Paris", Status: bridges.StatusConfirmed, JoinMode: bridges.JoinFree, Public: true,
			OrganizerName: "Répar'café", OrganizerURL: "http://127.0.0.1:9/@cafe", SourceID: src.ID}, nil)
		if err != nil {
			t.Fatal(err)
		}
	}

	env := []string{
		"PASSERELLE_DATABASE_URL=" + dbURL,
		"PASSERELLE_PUBLIC_URL=http://" + addr,
		"PASSERELLE_FEDERATION_ALLOW_PRIVATE_NETWORKS=true",
		"PASSERELLE_MAIL_FROM=Passerelle <rsvp@example.org>",
		"PASSERELLE_MAIL_SMTP=" + smtpd.URL(),
		"PASSERELLE_MAIL_IMAP=" + dove.URL(),
		"PASSERELLE_MAIL_PROCESSED_FOLDER=Processed",
		"PASSERELLE_MAIL_SEND_INTERVAL=0s",
	}
	cli := func(extra []string, args ...string) binarytest.Result {
		t.Helper()
		return binarytest.Run(t, dir, append(append([]string{"PASSERELLE_LISTEN=" + addr}, env...), extra...), args...)
	}

	// check-config --connect reaches both servers, and names the one that fails.
	r := cli(nil, "check-config", "--connect")
	if r.Code != 0 || !strings.Contains(r.Stdout, "# smtp: connected") || !strings.Contains(r.Stdout, "# imap: logged in") {
		t.Fatalf("check-config --connect: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	if strings.Contains(r.Stdout, dove.Password) {
		t.Error("check-config printed the IMAP password")
	}
	r = cli([]string{"PASSERELLE_MAIL_SMTP=smtp://" + binarytest.FreeAddr(t, "127.0.0.1")}, "check-config", "--connect")
	if r.Code == 0 || !strings.Contains(r.Stderr, "mail.smtp") {
		t.Errorf("check-config --connect with SMTP down: exit %d\n%s", r.Code, r.Stderr)
	}

	binarytest.Start(t, dir, addr, env)

	// A mail to the join address: one invitation per upcoming event.
	dove.Append(t, []byte("From: Ana <ana@example.net>\r\nTo: rsvp+join-cafe@example.org\r\nSubject: join\r\n"+
		"Message-ID: <join-1@example.net>\r\nDate: "+time.Now().Format(time.RFC1123Z)+"\r\n\r\nplease\r\n"))
	msgs := smtpd.Wait(t, 2, 30*time.Second)
	var tokens []string
	for _, m := range msgs {
		s := string(m)
		if !strings.Contains(s, "X-Envelope-To: ana@example.net") || !strings.Contains(s, "method=REQUEST") {
			t.Errorf("invitation:\n%.600s", s)
		}
		tok := replyToken.FindStringSubmatch(s)
		u := unsubscribe.FindStringSubmatch(s)
		if tok == nil || u == nil || u[1] != "http://"+addr+"/mail/unsubscribe/"+tok[1] {
			t.Fatalf("invitation lacks its token or one-click link:\n%.1500s", s)
		}
		tokens = append(tokens, tok[1])
	}
	deadline := time.Now().Add(45 * time.Second)
	for imapCount(t, dove, "Processed") != 1 && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
	}
	if n, in := imapCount(t, dove, "Processed"), imapCount(t, dove, "INBOX"); n != 1 || in != 0 {
		t.Errorf("processed folder has %d mails, INBOX %d; want 1 and 0", n, in)
	}

	// The page a mail links to: GET (a scanner) changes nothing…
	base := "http://" + addr
	get := func(path string) (int, string) {
		req, _ := http.NewRequest("GET", base+path, nil)
		req.Header.Set("Accept-Language", "fr")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/rsvp/" + tokens[0]); code != 200 || !strings.Contains(body, "pas encore répondu") || !strings.Contains(body, `value="maybe"`) {
		t.Fatalf("rsvp page: %d\n%s", code, body)
	}
	// …its "yes" button POSTs into the RSVP flow: the Join is queued.
	resp, err := http.PostForm(base+"/rsvp/"+tokens[0], url.Values{"answer": {"yes"}})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), "Your answer is recorded") {
		t.Fatalf("rsvp yes: %d\n%s", resp.StatusCode, b)
	}
	// "maybe" to the other event: a "noted as maybe" mail.
	if resp, err := http.PostForm(base+"/rsvp/"+tokens[1], url.Values{"answer": {"maybe"}}); err != nil || resp.StatusCode != 200 {
		t.Fatalf("rsvp maybe: %v %v", resp, err)
	}
	msgs = smtpd.Wait(t, 3, 30*time.Second)
	if !strings.Contains(string(msgs[2]), ".maybe@example.org>") {
		t.Errorf("third mail is not the maybe confirmation:\n%.800s", msgs[2])
	}

	// The personal calendar each mail links to: the events with their
	// PARTSTAT, as a feed and as a CalDAV calendar. The yes is TENTATIVE
	// until the organisers' server confirms it (here it never answers),
	// and says so.
	cal := regexp.MustCompile(`http://[^\s"]+/feeds/personal/([a-z0-9]+)\.ics`).FindStringSubmatch(strings.ReplaceAll(string(msgs[2]), "=\r\n", ""))
	if cal == nil {
		t.Fatalf("no personal calendar link in:\n%s", msgs[2])
	}
	code, feed := get("/feeds/personal/" + cal[1] + ".ics")
	feed = strings.ReplaceAll(feed, "\r\n ", "")
	if code != 200 || strings.Count(feed, "BEGIN:VEVENT") != 2 || strings.Count(feed, "PARTSTAT=TENTATIVE") != 2 ||
		!strings.Contains(feed, "COMMENT:Your yes was sent") || !strings.Contains(feed, "mailto:ana@example.net") {
		t.Errorf("personal feed: %d\n%s", code, feed)
	}
	if code, _ := get("/feeds/personal/" + strings.ToUpper(cal[1]) + ".ics"); code != 404 {
		t.Errorf("personal feed with a wrong token: %d", code)
	}
	req, _ := http.NewRequest("PROPFIND", base+"/dav/calendars/"+cal[1]+"/personal/", strings.NewReader(""))
	req.Header.Set("Depth", "1")
	pr, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	pb, _ := io.ReadAll(pr.Body)
	pr.Body.Close()
	if pr.StatusCode != 207 || strings.Count(string(pb), ".ics</") != 2 {
		t.Errorf("PROPFIND of the personal calendar: %d\n%s", pr.StatusCode, pb)
	}

	// RFC 8058 one-click, as a mail provider sends it.
	u := unsubscribe.FindStringSubmatch(string(msgs[2]))[1]
	resp, err = http.Post(u, "application/x-www-form-urlencoded", strings.NewReader("List-Unsubscribe=One-Click"))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("one-click unsubscribe: %v %v", resp, err)
	}
	resp.Body.Close()
	r = cli(nil, "invite", "--source", "cafe", "ana@example.net")
	if r.Code != 0 || !strings.Contains(r.Stdout, "unsubscribed, not invited") {
		t.Errorf("invite after unsubscribing: exit %d %s %s", r.Code, r.Stdout, r.Stderr)
	}

	// export: everything held, as JSON.
	r = cli(nil, "participant", "export", "ANA@example.net")
	var rec store.ParticipantRecord
	if err := json.Unmarshal([]byte(r.Stdout), &rec); err != nil || r.Code != 0 {
		t.Fatalf("export: exit %d, %v\n%s%s", r.Code, err, r.Stdout, r.Stderr)
	}
	if rec.Address != "ana@example.net" || !rec.Unsubscribed || len(rec.Invitations) != 2 || rec.ActorUsername == "" ||
		len(rec.Subscriptions) != 1 || rec.Subscriptions[0] != "cafe" || rec.ReplyTokens < 3 {
		t.Errorf("export: %+v", rec)
	}
	states := rec.Invitations[0].State + "," + rec.Invitations[1].State
	if (states != "joining,tentative" && states != "tentative,joining") || len(rec.Invitations[0].Mails) == 0 {
		t.Errorf("export states %s, mails %d", states, len(rec.Invitations[0].Mails))
	}

	// erase: Leave of the joined future event, Delete of the actor, rows gone.
	r = cli(nil, "participant", "erase", "ana@example.net")
	if r.Code != 0 || !strings.Contains(r.Stdout, "2 invitation(s) removed, 1 future event(s) left, Delete of their actor queued") {
		t.Fatalf("erase: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	var leaves, deletes int
	rows, err := storetest.Query(db, "SELECT activity FROM deliveries")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var act []byte
		rows.Scan(&act)
		switch {
		case strings.Contains(string(act), `"type":"Leave"`):
			leaves++
		case strings.Contains(string(act), `"type":"Delete"`):
			deletes++
		}
	}
	rows.Close()
	if leaves != 1 || deletes != 1 {
		t.Errorf("deliveries after erase: %d Leave, %d Delete; want 1 and 1", leaves, deletes)
	}
	if r = cli(nil, "participant", "export", "ana@example.net"); r.Code == 0 || !strings.Contains(r.Stderr, "nothing is held") {
		t.Errorf("export after erase: exit %d %s", r.Code, r.Stderr)
	}
	for _, tok := range tokens {
		if code, _ := get("/rsvp/" + tok); code != 404 {
			t.Errorf("rsvp page of an erased participant: %d", code)
		}
	}
	if n := len(smtpd.Messages(t)); n != 3 {
		t.Errorf("%d mails sent, want 3 (nothing after unsubscribing)", n)
	}
}
