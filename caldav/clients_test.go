package caldav_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"codeberg.org/passerelle/passerelle/internal/calparsers"
	"codeberg.org/passerelle/passerelle/internal/storetest"
	"codeberg.org/passerelle/passerelle/internal/testenv"
	"codeberg.org/passerelle/passerelle/store"
)

// The instants the fixture events must show in every client: 22:00 CET to
// 10:00 CEST across Paris' spring-forward night, 23:30 EDT to 01:30 EST
// across New York's fall-back night.
var wantInstants = map[string][2]string{
	"https://mobilizon.example/events/0b6c5c8e-2b1e-4f53-9a55-5e3b8a0c1d2e": {"2025-03-29T21:00:00.000Z", "2025-03-30T08:00:00.000Z"},
	"https://gancio.example/federation/m/42":                                {"2025-11-02T03:30:00.000Z", "2025-11-02T06:30:00.000Z"},
}

// run runs a peer program with a deadline and returns its stdout.
func run(t *testing.T, env []string, stdin string, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin = strings.NewReader(stdin)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\nstdout:\n%s\nstderr:\n%s", name, strings.Join(args, " "), err, out, stderr.String())
	}
	return string(out) + stderr.String()
}

const pythonCalDAV = `
import caldav, datetime, json, sys
utc = datetime.timezone.utc
cmd, url = sys.argv[1], sys.argv[2]
client = caldav.DAVClient(url=url, username="anyone", password="anything")
if cmd == "discover":
    principal = client.principal()
    cals = principal.calendars()
    fablab = [c for c in cals if str(c.url).rstrip("/").endswith("/fablab")][0]
    found = fablab.date_search(start=datetime.datetime(2025, 3, 30, 5, 0, tzinfo=utc), end=datetime.datetime(2025, 3, 30, 6, 0, tzinfo=utc))
    objs = fablab.objects(load_objects=False)
    print(json.dumps({
        "calendars": sorted(c.name for c in cals),
        "search": [e.icalendar_instance.walk("VEVENT")[0]["UID"] for e in found],
        "token": objs.sync_token,
        "url": str(fablab.url),
    }))
else:
    cal = client.calendar(url=sys.argv[3])
    changed = cal.objects_by_sync_token(sync_token=sys.argv[4], load_objects=True)
    print(json.dumps({"changed": [str(o.url) for o in changed], "token": changed.sync_token}))
`

// TestPythonCalDAV drives Debian's python3-caldav: discovery from "/",
// listing calendars, a time-range search across Paris' DST night, and an
// incremental sync with the token it got.
func TestPythonCalDAV(t *testing.T) { storetest.Each(t, testPythonCalDAV) }

func testPythonCalDAV(t *testing.T, db *store.DB) {
	py := calparsers.DebianPython(t, "caldav")
	env, stored := loaded(t, db)
	var first struct {
		Calendars []string
		Search    []string
		Token     string
		URL       string
	}
	if err := json.Unmarshal([]byte(run(t, nil, "", py, "-c", pythonCalDAV, "discover", env.URL+"/")), &first); err != nil {
		t.Fatal(err)
	}
	if strings.Join(first.Calendars, "|") != "All followed events|Fablab, Paris|Libre & co" {
		t.Errorf("calendars %q", first.Calendars)
	}
	if len(first.Search) != 1 || first.Search[0] != stored["paris-dst"].APID {
		t.Errorf("date_search found %q, want the Paris event", first.Search)
	}
	if first.Token == "" {
		t.Fatal("no sync token")
	}

	paris := stored["paris-dst"].Event
	paris.Title += " — reporté"
	paris.Updated = paris.Updated.Add(time.Hour)
	env.Apply(t, paris)

	var second struct {
		Changed []string
		Token   string
	}
	if err := json.Unmarshal([]byte(run(t, nil, "", py, "-c", pythonCalDAV, "sync", env.URL+"/", first.URL, first.Token)), &second); err != nil {
		t.Fatal(err)
	}
	if len(second.Changed) != 1 || !strings.HasSuffix(second.Changed[0], fmt.Sprintf("/fablab/%d.ics", paris.ID)) {
		t.Errorf("sync by token returned %q, want only the changed Paris event", second.Changed)
	}
	if second.Token == first.Token {
		t.Error("sync token did not move")
	}
}

// TestVdirsyncerAndKhal syncs a calendar to a folder with Debian's
// vdirsyncer (read-only CalDAV storage), changes one event, checks that the
// next sync transfers only that one, then lists the folder with khal in
// Paris time.
func TestVdirsyncerAndKhal(t *testing.T) { storetest.Each(t, testVdirsyncerAndKhal) }

func testVdirsyncerAndKhal(t *testing.T, db *store.DB) {
	vdirsyncer := testenv.LookPath(t, "vdirsyncer", "apt-get install vdirsyncer")
	khal := testenv.LookPath(t, "khal", "apt-get install khal")
	env, stored := loaded(t, db)
	dir := t.TempDir()
	conf := filepath.Join(dir, "vdirsyncer.conf")
	os.WriteFile(conf, []byte(fmt.Sprintf(`[general]
status_path = "%[1]s/status/"

[pair fablab]
a = "passerelle"
b = "folder"
collections = ["fablab"]
conflict_resolution = "a wins"

[storage passerelle]
type = "caldav"
url = "%[2]s/"
read_only = true
username = "anyone"
password = "anything"

[storage folder]
type = "filesystem"
path = "%[1]s/cal/"
fileext = ".ics"
`, dir, env.URL)), 0o600)
	home := []string{"HOME=" + dir, "XDG_CONFIG_HOME=" + dir, "XDG_DATA_HOME=" + dir}
	run(t, home, strings.Repeat("y\n", 10), vdirsyncer, "-c", conf, "discover")
	out := run(t, home, "", vdirsyncer, "-c", conf, "sync")
	if n := strings.Count(out, "Copying (uploading) item"); n != 2 {
		t.Fatalf("first sync copied %d items, want 2:\n%s", n, out)
	}

	paris := stored["paris-dst"].Event
	paris.Title = "Nuit des fablabs, salle 2"
	paris.Updated = paris.Updated.Add(time.Hour)
	env.Apply(t, paris)
	out = run(t, home, "", vdirsyncer, "-c", conf, "sync")
	if n, m := strings.Count(out, "Copying (updating) item"), strings.Count(out, "Copying (uploading) item"); n != 1 || m != 0 {
		t.Fatalf("second sync updated %d and copied %d items, want 1 and 0:\n%s", n, m, out)
	}

	khalConf := filepath.Join(dir, "khal.conf")
	os.WriteFile(khalConf, []byte(fmt.Sprintf(`[calendars]
[[fablab]]
path = %s/cal/fablab/
[locale]
local_timezone = Europe/Paris
default_timezone = Europe/Paris
timeformat = %%H:%%M
dateformat = %%Y-%%m-%%d
longdateformat = %%Y-%%m-%%d
datetimeformat = %%Y-%%m-%%d %%H:%%M
longdatetimeformat = %%Y-%%m-%%d %%H:%%M
`, dir)), 0o600)
	list := run(t, home, "", khal, "-c", khalConf, "list", "--format", "{start} {end} {title}", "--day-format", "", "2025-01-01", "365d")
	for _, want := range []string{
		"2025-03-29 22:00 2025-03-30 10:00 Nuit des fablabs, salle 2",
		"2025-11-02 04:30 2025-11-02 07:30 Late jazz session",
	} {
		if !strings.Contains(list, want) {
			t.Errorf("khal list lacks %q:\n%s", want, list)
		}
	}
}

// calclients runs internal/peers/calclients/calclients.mjs (tsdav, ical.js).
func calclients(t *testing.T, args ...string) string {
	t.Helper()
	node := testenv.LookPath(t, "node", "apt-get install nodejs")
	dir := calparsers.CalclientsDir()
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "tsdav")); err != nil {
		testenv.Missing(t, "tsdav and ical.js (cd internal/peers/calclients && npm ci)")
	}
	return run(t, nil, "", node, append([]string{filepath.Join(dir, "calclients.mjs")}, args...)...)
}

// TestTsdavAndICALjs discovers the calendars with tsdav, parses every
// object with ical.js checking the DST-crossing instants, then syncs one
// calendar from its token after a change.
func TestTsdavAndICALjs(t *testing.T) { storetest.Each(t, testTsdavAndICALjs) }

func testTsdavAndICALjs(t *testing.T, db *store.DB) {
	env, stored := loaded(t, db)
	var res struct {
		Calendars []struct {
			URL, DisplayName string
			// tsdav turns numeric XML text into JSON numbers.
			Ctag, SyncToken any
			Components      []string
			Objects         []struct {
				URL, Etag string
				Events    []calparsers.Event
			}
		}
	}
	if err := json.Unmarshal([]byte(calclients(t, "discover", env.URL)), &res); err != nil {
		t.Fatal(err)
	}
	if len(res.Calendars) != 3 {
		t.Fatalf("tsdav found %d calendars, want 3", len(res.Calendars))
	}
	var fablabURL, fablabToken string
	seen := 0
	for _, c := range res.Calendars {
		if c.Ctag == nil || c.SyncToken == nil || len(c.Components) != 1 || c.Components[0] != "VEVENT" {
			t.Errorf("calendar %s: ctag %q token %q components %v", c.URL, c.Ctag, c.SyncToken, c.Components)
		}
		if strings.HasSuffix(c.URL, "/fablab/") {
			fablabURL, fablabToken = c.URL, fmt.Sprint(c.SyncToken)
		}
		for _, o := range c.Objects {
			for _, ev := range o.Events {
				if want, ok := wantInstants[ev.UID]; ok {
					seen++
					if ev.Start != want[0] || ev.End != want[1] {
						t.Errorf("ical.js reads %s as %s–%s, want %s–%s", ev.UID, ev.Start, ev.End, want[0], want[1])
					}
				}
				if ev.UID == stored["paris-dst"].APID && ev.OrganizerCN != "Doe, John" {
					t.Errorf("ical.js reads ORGANIZER CN %q, want \"Doe, John\"", ev.OrganizerCN)
				}
			}
		}
	}
	if seen != 4 {
		t.Errorf("checked %d DST events, want 4 (two events in all and in fablab)", seen)
	}

	ny := stored["new-york-cancelled"].Event
	ny.Title = "Late jazz session (moved)"
	ny.Updated = ny.Updated.Add(time.Hour)
	env.Apply(t, ny)
	var changes []struct{ Href, Etag string }
	if err := json.Unmarshal([]byte(calclients(t, "sync", fablabURL, fablabToken)), &changes); err != nil {
		t.Fatal(err)
	}
	if len(changes) != 1 || !strings.HasSuffix(changes[0].Href, fmt.Sprintf("/fablab/%d.ics", ny.ID)) {
		t.Errorf("tsdav syncCollection returned %+v, want the New York event only", changes)
	}
}

// TestFeedsInRealParsers fetches every feed and checks that ical.js and
// Debian's python3-icalendar parse it and read the right instants.
func TestFeedsInRealParsers(t *testing.T) { storetest.Each(t, testFeedsInRealParsers) }

func testFeedsInRealParsers(t *testing.T, db *store.DB) {
	env, stored := loaded(t, db)
	dir := t.TempDir()
	for _, feed := range []string{"all", "fablab", "libre"} {
		_, body := do(t, "GET", env.URL+"/feeds/"+feed+".ics", "")
		path := filepath.Join(dir, feed+".ics")
		os.WriteFile(path, []byte(body), 0o600)

		checkInstants(t, "ical.js "+feed, calparsers.ICALjs(t, path))
		checkInstants(t, "python3-icalendar "+feed, calparsers.Python(t, path))
	}
	// Every single-event calendar too.
	for name, ev := range stored {
		path := filepath.Join(dir, name+".ics")
		os.WriteFile(path, ev.Calendar, 0o600)
		if evs := calparsers.ICALjs(t, path); len(evs) != 1 {
			t.Errorf("ical.js on %s: %d events, want 1", name, len(evs))
		}
	}
}

func checkInstants(t *testing.T, who string, evs []calparsers.Event) {
	t.Helper()
	if len(evs) == 0 {
		t.Errorf("%s: no events", who)
	}
	for _, ev := range evs {
		if want, ok := wantInstants[ev.UID]; ok && (ev.Start != want[0] || ev.End != want[1]) {
			t.Errorf("%s reads %s as %s–%s, want %s–%s", who, ev.UID, ev.Start, ev.End, want[0], want[1])
		}
	}
}
