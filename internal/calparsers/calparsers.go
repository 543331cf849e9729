// Package calparsers reads iCalendar files with the parsers calendar users
// have: ical.js (Thunderbird's, through internal/peers/calclients) and
// Debian's python3-icalendar. Tests compare the instants they read with
// what passerelle meant; each returns the events as the parser saw them.
package calparsers

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"codeberg.org/passerelle/passerelle/internal/testenv"
)

// Event is one VEVENT as a parser read it; Start and End are UTC instants
// in JavaScript's toISOString form (2025-03-29T21:00:00.000Z).
type Event struct {
	UID, Summary, Start, End, TZID, OrganizerCN string
	// Description is the DESCRIPTION as ical.js unescaped it (ICALjs and
	// ICALjsCalendar only).
	Description string
}

// Calendar is a whole calendar as ical.js read it: its name, its
// descriptions (X-WR-CALDESC, the de-facto one, and RFC 7986 DESCRIPTION)
// and its events.
type Calendar struct {
	Name, XWRCalDesc, Description string
	Events                        []Event
}

// ICALjsCalendar parses the iCalendar file at path with ical.js, keeping
// the calendar's own properties too.
func ICALjsCalendar(t testing.TB, path string) Calendar {
	t.Helper()
	node := testenv.LookPath(t, "node", "apt-get install nodejs")
	dir := CalclientsDir()
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "ical.js")); err != nil {
		testenv.Missing(t, "ical.js (cd internal/peers/calclients && npm ci)")
	}
	var cal Calendar
	out := Run(t, nil, node, filepath.Join(dir, "calclients.mjs"), "calendar", path)
	if err := json.Unmarshal([]byte(out), &cal); err != nil {
		t.Fatalf("ical.js on %s: %v\n%s", path, err, out)
	}
	return cal
}

// ICALjs parses the iCalendar file at path with ical.js.
func ICALjs(t testing.TB, path string) []Event {
	t.Helper()
	node := testenv.LookPath(t, "node", "apt-get install nodejs")
	dir := CalclientsDir()
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "ical.js")); err != nil {
		testenv.Missing(t, "ical.js (cd internal/peers/calclients && npm ci)")
	}
	var evs []Event
	out := Run(t, nil, node, filepath.Join(dir, "calclients.mjs"), "parse", path)
	if err := json.Unmarshal([]byte(out), &evs); err != nil {
		t.Fatalf("ical.js on %s: %v\n%s", path, err, out)
	}
	return evs
}

// CalclientsDir is the folder of the Node peer programs (tsdav, ical.js).
func CalclientsDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "peers", "calclients")
}

const pythonEvents = `
import datetime, icalendar, json, sys
utc = datetime.timezone.utc
cal = icalendar.Calendar.from_ical(open(sys.argv[1], "rb").read())
own = {str(tz["TZID"]): tz.to_tz() for tz in cal.walk("VTIMEZONE")} if sys.argv[2] == "own" else None
def iso(e, name):
    if name not in e:
        return ""
    p = e[name]
    tzid = p.params.get("TZID")
    if own is not None and tzid:
        local = datetime.datetime.strptime(p.to_ical().decode(), "%Y%m%dT%H%M%S")
        at = own[tzid].localize(local)
    else:
        at = e.decoded(name)
    return at.astimezone(utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")
print(json.dumps([{"UID": str(e["UID"]), "Summary": str(e.get("SUMMARY", "")),
  "Start": iso(e, "DTSTART"), "End": iso(e, "DTEND"),
  "TZID": e["DTSTART"].params.get("TZID", "")} for e in cal.walk("VEVENT")]))
`

// Python parses the iCalendar file at path with Debian's python3-icalendar,
// which resolves a TZID that names an Olson zone with pytz, not with the
// file's VTIMEZONE.
func Python(t testing.TB, path string) []Event { return python(t, path, "pytz") }

// PythonOwnZones parses the iCalendar file at path with Debian's
// python3-icalendar and resolves every TZID through the file's own
// VTIMEZONE (icalendar's Timezone.to_tz): what a reader without a zone
// database of its own sees.
func PythonOwnZones(t testing.TB, path string) []Event { return python(t, path, "own") }

func python(t testing.TB, path, zones string) []Event {
	t.Helper()
	py := DebianPython(t, "icalendar")
	out := Run(t, nil, py, "-c", pythonEvents, path, zones)
	var evs []Event
	if err := json.Unmarshal([]byte(out), &evs); err != nil {
		t.Fatalf("python3-icalendar on %s: %v\n%s", path, err, out)
	}
	return evs
}

// DebianPython returns Debian's python3 after checking that it imports
// module (a pyenv python3 earlier on PATH does not see Debian's modules).
func DebianPython(t testing.TB, module string) string {
	t.Helper()
	const py = "/usr/bin/python3"
	if _, err := os.Stat(py); err != nil {
		testenv.Missing(t, "Debian's /usr/bin/python3 (apt-get install python3)")
	}
	if err := exec.Command(py, "-c", "import "+module).Run(); err != nil {
		testenv.Missing(t, "Debian's python3-"+module+" (apt-get install python3-"+module+")")
	}
	return py
}

// Run runs a peer program with extra environment, bounded to 90 s, and
// returns its standard output; a failure fails the test with both outputs.
func Run(t testing.TB, env []string, name string, args ...string) string {
	t.Helper()
	return RunInput(t, env, "", name, args...)
}

// RunInput is Run with standard input.
func RunInput(t testing.TB, env []string, stdin, name string, args ...string) string {
	t.Helper()
	out, stderr, err := run(env, stdin, name, args...)
	if err != nil {
		t.Fatalf("%s %s: %v\nstdout:\n%s\nstderr:\n%s", name, strings.Join(args, " "), err, out, stderr)
	}
	return out + stderr
}

// RunErr runs a program expected to fail: its outputs together, and the
// error.
func RunErr(t testing.TB, env []string, name string, args ...string) (string, error) {
	t.Helper()
	out, stderr, err := run(env, "", name, args...)
	return out + stderr, err
}

func run(env []string, stdin, name string, args ...string) (string, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin = strings.NewReader(stdin)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	return string(out), stderr.String(), err
}

// Invitation is an iMIP invitation as Python's email package and
// python3-icalendar read it.
type Invitation struct {
	Subject, ListUnsubscribePost string
	UID, Organizer, OrganizerCN  string
	// Calendar is the text/calendar part's content.
	Calendar string
}

const pythonInvitation = `
import sys, json, email, email.policy, icalendar
msg = email.message_from_bytes(sys.stdin.buffer.read(), policy=email.policy.default)
cals = [p for p in msg.walk() if p.get_content_type() == "text/calendar"]
assert len(cals) == 1, "calendar parts: %d" % len(cals)
assert cals[0].get_param("method") == "REQUEST", cals[0].get_param("method")
content = cals[0].get_content()
if isinstance(content, bytes):
    content = content.decode()
cal = icalendar.Calendar.from_ical(content)
assert str(cal["METHOD"]) == "REQUEST", cal["METHOD"]
ev = cal.walk("VEVENT")[0]
att = ev["ATTENDEE"]
assert att.params["PARTSTAT"] == "NEEDS-ACTION" and att.params["RSVP"] == "TRUE", att.params
assert cal.walk("VTIMEZONE"), "no VTIMEZONE"
org = ev["ORGANIZER"]
print(json.dumps({"Subject": str(msg["Subject"]), "ListUnsubscribePost": str(msg["List-Unsubscribe-Post"] or ""),
  "UID": str(ev["UID"]), "Organizer": str(org), "OrganizerCN": str(org.params.get("CN", "")), "Calendar": content}))
`

// PythonInvitation reads the raw mail of an invitation with Python's email
// package and python3-icalendar, which assert what every invitation must
// be (one text/calendar part of METHOD REQUEST, an ATTENDEE asked to
// answer, a VTIMEZONE), and returns what the caller checks further.
func PythonInvitation(t testing.TB, raw []byte) Invitation {
	t.Helper()
	py := DebianPython(t, "icalendar")
	cmd := exec.Command(py, "-c", pythonInvitation)
	cmd.Stdin = strings.NewReader(string(raw))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("Python's email/icalendar refuse the invitation: %v\n%s", err, stderr.String())
	}
	var inv Invitation
	if err := json.Unmarshal(out, &inv); err != nil {
		t.Fatalf("Python's reading of the invitation: %v\n%s", err, out)
	}
	return inv
}
