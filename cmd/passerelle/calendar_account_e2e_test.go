package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"codeberg.org/passerelle/passerelle/internal/calparsers"
	"codeberg.org/passerelle/passerelle/internal/fedipeertest"
	"codeberg.org/passerelle/passerelle/internal/storetest"
	"codeberg.org/passerelle/passerelle/internal/testenv"
)

// calendarAccount is the account block of a mail, as people read it.
type calendarAccount struct{ server, user, password string }

var accountRe = regexp.MustCompile(`Calendar account \(Apple Calendar, Thunderbird, DAVx5…\):\s*\n\s*server:\s+(\S+)\s*\n\s*user:\s+(\S+)\s*\n\s*password:\s+(\S+)`)

func accountOf(t testing.TB, m sentMail) calendarAccount {
	t.Helper()
	g := accountRe.FindStringSubmatch(strings.ReplaceAll(m.In.Text, "\r\n", "\n"))
	if g == nil {
		t.Fatalf("no calendar account in the mail:\n%s", m.In.Text)
	}
	return calendarAccount{server: g[1], user: g[2], password: g[3]}
}

// pythonAccount drives Debian's python3-caldav as a person would: the
// server, user and password from the mail, discovery, then a button
// pressed on one event (its PARTSTAT changed and saved), or the event
// deleted; it prints the calendars and the PARTSTAT read back.
const pythonAccount = `
import caldav, json, sys
server, user, password, uid, action = sys.argv[1:6]
client = caldav.DAVClient(url=server, username=user, password=password)
principal = client.principal()
cals = principal.calendars()
out = {"principal": str(principal.url), "calendars": [str(c.url) for c in cals], "partstat": ""}
for cal in cals:
    for ev in cal.events():
        vev = ev.icalendar_instance.walk("VEVENT")[0]
        if str(vev["UID"]) != uid:
            continue
        if action == "delete":
            ev.delete()
            out["partstat"] = "deleted"
            continue
        if action != "read":
            vev["ATTENDEE"].params["PARTSTAT"] = action
            ev.save()
        ev.load()
        out["partstat"] = str(ev.icalendar_instance.walk("VEVENT")[0]["ATTENDEE"].params["PARTSTAT"])
print(json.dumps(out))
`

func (w *mailWorld) python(acct calendarAccount, uid, action string) (principal string, calendars []string, partstat string) {
	w.t.Helper()
	py := calparsers.DebianPython(w.t, "caldav")
	var out struct {
		Principal string
		Calendars []string
		Partstat  string
	}
	raw := calparsers.Run(w.t, nil, py, "-c", pythonAccount, acct.server, acct.user, acct.password, uid, action)
	if err := json.Unmarshal([]byte(lastLine(raw)), &out); err != nil {
		w.t.Fatalf("python3-caldav: %v\n%s", err, raw)
	}
	return out.Principal, out.Calendars, out.Partstat
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// TestCalendarAccountEndToEnd is issue 16's proof on the real binary, with
// the Fedify peer as the events' home server: the invitation mail carries
// the calendar account; python3-caldav signs in with it, finds the
// invitations and accepts, declines and deletes; vdirsyncer syncs the
// calendar both ways and a PARTSTAT edited in the local file becomes a
// Join; tsdav answers with updateCalendarObject. Every Join and Leave is
// checked at the peer (signed by the participant's actor), every answer in
// the calendar (the PARTSTAT the client reads back). On SQLite and
// PostgreSQL.
func TestCalendarAccountEndToEnd(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			var extra []string
			if backend == "postgres" {
				extra = append(extra, "PASSERELLE_DATABASE_URL="+storetest.URL(t, "postgres"))
			}
			testCalendarAccountEndToEnd(t, startMailWorldEnv(t, extra...))
		})
	}
}

func testCalendarAccountEndToEnd(t *testing.T, w *mailWorld) {
	picnic := w.event(fedipeertest.Event{Name: "Free picnic"})
	workshop := w.event(fedipeertest.Event{Name: "Restricted workshop", JoinMode: "restricted"})
	club := w.event(fedipeertest.Event{Name: "Book club"})
	talk := w.event(fedipeertest.Event{Name: "Tsdav talk"})
	const ana = "ana@example.net"
	for _, title := range []string{"Free picnic", "Restricted workshop", "Book club", "Tsdav talk"} {
		w.invite(title, ana)
	}
	inv := w.waitMail(ana, "Invitation: Free picnic", 1)
	acct := accountOf(t, inv)
	if !strings.HasSuffix(acct.server, "/dav/") || acct.user != ana || len(acct.password) < 16 {
		t.Fatalf("calendar account in the mail: %+v", acct)
	}
	if other := accountOf(t, w.waitMail(ana, "Invitation: Book club", 1)); other != acct {
		t.Errorf("two mails, two accounts: %+v and %+v", acct, other)
	}

	// python3-caldav: discovery from the mail's server with its user and
	// password, then Accept on the picnic.
	principal, cals, ps := w.python(acct, picnic.ID, "ACCEPTED")
	if !strings.HasSuffix(principal, "/dav/principals/account/") || len(cals) != 1 || !strings.HasSuffix(cals[0], "/dav/calendars/account/personal/") {
		t.Fatalf("python3-caldav discovery: principal %s, calendars %v", principal, cals)
	}
	if ps != "TENTATIVE" && ps != "ACCEPTED" {
		t.Errorf("read back after Accept: %s, want TENTATIVE (sent) or ACCEPTED (confirmed)", ps)
	}
	join := w.waitReceived("Join", picnic.ID)
	actor, _ := join.Activity["actor"].(string)
	if raw, _ := json.Marshal(join.Activity); strings.Contains(string(raw), ana) || !strings.Contains(actor, "/actors/p-") {
		t.Errorf("the Join shows the address or no participant actor: %s", raw)
	}
	w.waitMail(ana, "Confirmed: Free picnic", 1)
	if _, _, ps := w.python(acct, picnic.ID, "read"); ps != "ACCEPTED" {
		t.Errorf("after the organisers' confirmation the calendar shows %s", ps)
	}
	// The same answer again (a second device): no second Join.
	w.python(acct, picnic.ID, "ACCEPTED")

	// Decline the restricted workshop, never joined: nothing to send.
	if _, _, ps := w.python(acct, workshop.ID, "DECLINED"); ps != "DECLINED" {
		t.Errorf("read back after Decline: %s", ps)
	}

	// vdirsyncer, two ways: the PARTSTAT edited in the local file is
	// uploaded, and the upload is the Join; the next sync transfers
	// nothing.
	vdirsyncer := testenv.LookPath(t, "vdirsyncer", "apt-get install vdirsyncer")
	dir := t.TempDir()
	conf := filepath.Join(dir, "vdirsyncer.conf")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf(`[general]
status_path = "%[1]s/status/"

[pair mine]
a = "passerelle"
b = "folder"
collections = ["from a"]
conflict_resolution = "a wins"

[storage passerelle]
type = "caldav"
url = "%[2]s"
username = "%[3]s"
password = "%[4]s"

[storage folder]
type = "filesystem"
path = "%[1]s/cal/"
fileext = ".ics"
`, dir, acct.server, acct.user, acct.password)), 0o600); err != nil {
		t.Fatal(err)
	}
	home := []string{"HOME=" + dir, "XDG_CONFIG_HOME=" + dir, "XDG_DATA_HOME=" + dir}
	vdir := func(args ...string) string {
		return calparsers.RunInput(t, home, strings.Repeat("y\n", 10), vdirsyncer, append([]string{"-c", conf}, args...)...)
	}
	vdir("discover")
	if out := vdir("sync"); strings.Count(out, "Copying (uploading) item") != 4 {
		t.Fatalf("first sync, want the 4 events of the calendar (the workshop declined stays):\n%s", out)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "cal", "personal", "*.ics"))
	var clubFile string
	for _, f := range files {
		if b, _ := os.ReadFile(f); strings.Contains(string(b), "UID:"+club.ID) {
			clubFile = f
		}
	}
	if clubFile == "" {
		t.Fatalf("no local file for the book club among %v", files)
	}
	b, _ := os.ReadFile(clubFile)
	edited := strings.Replace(strings.ReplaceAll(string(b), "\r\n ", ""), "PARTSTAT=NEEDS-ACTION", "PARTSTAT=ACCEPTED", 1)
	if edited == string(b) {
		t.Fatalf("no NEEDS-ACTION in the local copy:\n%s", b)
	}
	if err := os.WriteFile(clubFile, []byte(edited), 0o600); err != nil {
		t.Fatal(err)
	}
	if out := vdir("sync"); !strings.Contains(out, "Copying (updating) item") {
		t.Errorf("the edited PARTSTAT was not uploaded:\n%s", out)
	}
	if j := w.waitReceived("Join", club.ID); j.Activity["actor"] != actor {
		t.Errorf("the book club's Join comes from %v, not the participant's actor %s", j.Activity["actor"], actor)
	}
	w.waitMail(ana, "Confirmed: Book club", 1)
	vdir("sync") // brings the confirmed copy
	if out := vdir("sync"); strings.Contains(out, "Copying") {
		t.Errorf("a sync with nothing changed transferred something:\n%s", out)
	}
	if b, _ := os.ReadFile(clubFile); !strings.Contains(strings.ReplaceAll(string(b), "\r\n ", ""), "PARTSTAT=ACCEPTED") {
		t.Errorf("the local copy does not show the confirmed answer:\n%s", b)
	}

	// tsdav: updateCalendarObject with the attendee's PARTSTAT.
	var tsdav struct {
		Status   int
		Partstat string
	}
	node := testenv.LookPath(t, "node", "apt-get install nodejs")
	raw := calparsers.Run(t, []string{"CALDAV_USER=" + acct.user, "CALDAV_PASSWORD=" + acct.password}, node,
		filepath.Join(calparsers.CalclientsDir(), "calclients.mjs"), "answer", acct.server, talk.ID, "ACCEPTED")
	if err := json.Unmarshal([]byte(lastLine(raw)), &tsdav); err != nil || tsdav.Status != 204 {
		t.Fatalf("tsdav answer: %v\n%s", err, raw)
	}
	if tsdav.Partstat != "TENTATIVE" && tsdav.Partstat != "ACCEPTED" {
		t.Errorf("tsdav read back %s", tsdav.Partstat)
	}
	w.waitReceived("Join", talk.ID)

	// Delete the picnic in python3-caldav: a decline, so a Leave.
	w.python(acct, picnic.ID, "delete")
	w.waitReceived("Leave", picnic.ID)
	if n := len(w.received("Join", picnic.ID)); n != 1 {
		t.Errorf("%d Joins of the picnic for one participant", n)
	}
	if n := len(w.received("Join", workshop.ID)) + len(w.received("Leave", workshop.ID)); n != 0 {
		t.Errorf("declining a never-joined event sent %d activities", n)
	}
	if _, _, ps := w.python(acct, picnic.ID, "read"); ps != "" {
		t.Errorf("the deleted picnic is still in the calendar (%s)", ps)
	}

	// A wrong password is refused, as the client says.
	bad := acct
	bad.password = "not-the-password"
	py := calparsers.DebianPython(t, "caldav")
	if out, err := calparsers.RunErr(t, nil, py, "-c", pythonAccount, bad.server, bad.user, bad.password, picnic.ID, "read"); err == nil ||
		!strings.Contains(out, "401") && !strings.Contains(out, "Unauthorized") && !strings.Contains(out, "AuthorizationError") {
		t.Errorf("a wrong password: %v\n%s", err, out)
	}
	_ = time.Second
}
