// Command calendars compares passerelle's CalDAV server and feeds with
// Radicale on the same events, over loopback HTTP, with the same client
// and the same queries, and prints passerelle/Radicale ratios. See
// bench/README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"time"

	"codeberg.org/passerelle/passerelle/bridges"
	"codeberg.org/passerelle/passerelle/caldav"
	"codeberg.org/passerelle/passerelle/ical"
	"codeberg.org/passerelle/passerelle/store"
)

func main() {
	n := flag.Int("events", 10000, "events to load")
	sources := flag.Int("sources", 20, "sources they are spread over")
	reps := flag.Int("reps", 20, "repetitions of each warm measurement (the median is reported)")
	radicale := flag.Bool("radicale", true, "also load and measure Radicale (/usr/bin/python3 -m radicale)")
	flag.BoolVar(&keep, "keep", false, "keep the folder with both databases, and say where it is")
	flag.StringVar(&profileDir, "profile", "", "write a CPU profile of each warm passerelle measurement into this folder (for go tool pprof)")
	flag.StringVar(&databaseURL, "database", "", "passerelle's database: an empty postgres://… database to measure PostgreSQL (default: a SQLite file in the bench folder)")
	scale := flag.String("sync-scale", "", "instead, measure passerelle alone at each of these comma-separated event counts (e.g. 1000,10000,100000): incremental sync, time-range REPORT, feed")
	flag.Parse()
	var err error
	if *scale != "" && databaseURL != "" {
		err = errors.New("-sync-scale loads a fresh SQLite database per size; it does not take -database")
	} else if *scale != "" {
		err = runScale(*scale, *sources, *reps)
	} else {
		err = run(*n, *sources, *reps, *radicale)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

type server struct {
	name string
	// cal is the URL of the calendar holding every event; feed its .ics.
	cal, feed string
	user      string
}

// databaseURL is -database: passerelle's database when not a SQLite file.
var databaseURL string

// startPasserelle loads n events into its database (-database, or SQLite
// in dir) and serves its calendars on loopback.
func startPasserelle(ctx context.Context, dir string, n, nSources int) (server, *store.DB, []*bridges.StoredEvent, error) {
	u := databaseURL
	if u == "" {
		u = "sqlite://" + filepath.Join(dir, "passerelle.db")
	}
	db, err := store.Open(ctx, u, slog.New(slog.DiscardHandler))
	if err != nil {
		return server{}, nil, nil, err
	}
	if err := db.Migrate(ctx); err != nil {
		db.Close()
		return server{}, nil, nil, err
	}
	t0 := time.Now()
	evs, err := load(ctx, db, n, nSources)
	if err != nil {
		db.Close()
		return server{}, nil, nil, err
	}
	fmt.Printf("loaded %d events across %d sources into passerelle in %s\n", n, nSources, time.Since(t0).Round(time.Millisecond))

	mux := http.NewServeMux()
	st := &caldav.DBStore{DB: db}
	caldav.Mount(mux, &caldav.Server{Store: st}, &caldav.Feeds{Store: st}, caldav.MountOptions{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		db.Close()
		return server{}, nil, nil, err
	}
	go http.Serve(ln, mux)
	base := "http://" + ln.Addr().String()
	return server{name: "passerelle", cal: base + "/dav/calendars/public/all/", feed: base + "/feeds/all.ics"}, db, evs, nil
}

// runScale measures passerelle alone at each event count: what should stay
// flat (an incremental sync, a 3-day REPORT, a feed 304) and what grows
// with the calendar (a full feed: one copy of it).
func runScale(sizes string, nSources, reps int) error {
	ctx := context.Background()
	type row struct {
		n                              int
		sync, rangeQ, feed304, feedGet time.Duration
		members, inRange               int
	}
	var rows []row
	for _, f := range strings.Split(sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 100 {
			return fmt.Errorf("-sync-scale: %q is not an event count of at least 100", f)
		}
		dir, err := os.MkdirTemp("", "passerelle-bench-")
		if err != nil {
			return err
		}
		r, err := func() (row, error) {
			if keep {
				fmt.Println("database in", dir)
			} else {
				defer os.RemoveAll(dir)
			}
			srv, db, evs, err := startPasserelle(ctx, dir, n, nSources)
			if err != nil {
				return row{}, err
			}
			defer db.Close()
			r := row{n: n}
			_, body, err := timed(srv, "REPORT", srv.cal, syncBody(""), "1")
			if err != nil {
				return r, err
			}
			token := tokenRE.FindStringSubmatch(body)
			if token == nil {
				return r, fmt.Errorf("no sync token in the initial sync at %d events", n)
			}
			if err := change10(ctx, srv, &bridges.Events[*store.Tx]{Store: db, Renderer: &ical.Renderer{}}, evs, nil); err != nil {
				return r, err
			}
			r.sync, body, err = profiled(srv, fmt.Sprintf("sync-%d", n), func() (time.Duration, string, error) {
				return median(reps, func() (time.Duration, string, error) { return timed(srv, "REPORT", srv.cal, syncBody(token[1]), "1") })
			})
			if err != nil {
				return r, err
			}
			r.members = len(hrefRE.FindAllString(body, -1))
			if r.rangeQ, body, err = median(reps, func() (time.Duration, string, error) { return timed(srv, "REPORT", srv.cal, rangeQuery(evs), "1") }); err != nil {
				return r, err
			}
			r.inRange = len(hrefRE.FindAllString(body, -1))
			if r.feedGet, _, err = median(reps, func() (time.Duration, string, error) { return timed(srv, "GET", srv.feed, "", "") }); err != nil {
				return r, err
			}
			resp, err := do(srv, "GET", srv.feed, "", "")
			if err != nil {
				return r, err
			}
			etag := resp.Header.Get("ETag")
			r.feed304, _, err = median(reps, func() (time.Duration, string, error) {
				return timed(srv, "GET", srv.feed, "", "", "If-None-Match", etag)
			})
			return r, err
		}()
		if err != nil {
			return err
		}
		fmt.Printf("  %d events: sync after 10 changes %s (%d members), 3-day REPORT %s (%d events), feed 304 %s, full feed GET %s\n", r.n, r.sync, r.members, r.rangeQ, r.inRange, r.feed304, r.feedGet)
		rows = append(rows, r)
	}
	fmt.Printf("\n| events | sync after 10 changes | 3-day time-range REPORT | feed 304 | full feed GET |\n|---|---|---|---|---|\n")
	for _, r := range rows {
		fmt.Printf("| %d | %s | %s (%d events) | %s | %s |\n", r.n, r.sync.Round(10*time.Microsecond), r.rangeQ.Round(10*time.Microsecond), r.inRange, r.feed304.Round(time.Microsecond), r.feedGet.Round(100*time.Microsecond))
	}
	return nil
}

// rangeQuery is a 3-day calendar-query starting on the day of the middle
// event.
func rangeQuery(evs []*bridges.StoredEvent) string {
	mid := evs[len(evs)/2].Start.UTC().Truncate(24 * time.Hour)
	return fmt.Sprintf(`<c:calendar-query xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav"><d:prop><d:getetag/><c:calendar-data/></d:prop><c:filter><c:comp-filter name="VCALENDAR"><c:comp-filter name="VEVENT"><c:time-range start="%s" end="%s"/></c:comp-filter></c:comp-filter></c:filter></c:calendar-query>`,
		mid.Format("20060102T150405Z"), mid.Add(72*time.Hour).Format("20060102T150405Z"))
}

func syncBody(token string) string {
	return `<d:sync-collection xmlns:d="DAV:"><d:sync-token>` + token + `</d:sync-token><d:sync-level>1</d:sync-level><d:prop><d:getetag/></d:prop></d:sync-collection>`
}

func run(n, nSources, reps int, withRadicale bool) error {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "passerelle-bench-")
	if err != nil {
		return err
	}
	if keep {
		fmt.Println("databases in", dir)
	} else {
		defer os.RemoveAll(dir)
	}

	srv, db, evs, err := startPasserelle(ctx, dir, n, nSources)
	if err != nil {
		return err
	}
	defer db.Close()
	servers := []server{srv}

	if withRadicale {
		rad, stop, err := startRadicale(ctx, dir, evs)
		if err != nil {
			return err
		}
		defer stop()
		servers = append(servers, rad)
	}

	events := &bridges.Events[*store.Tx]{Store: db, Renderer: &ical.Renderer{}}
	results := map[string]map[string]time.Duration{}
	var order []string
	record := func(srv, what string, d time.Duration) {
		if results[what] == nil {
			results[what] = map[string]time.Duration{}
			order = append(order, what)
		}
		results[what][srv] = d
		fmt.Printf("  %-10s %-36s %s\n", srv, what, d)
	}
	rangeQuery := rangeQuery(evs)
	// Each warm measurement runs its rounds on the servers in turn
	// (passerelle, Radicale, passerelle…), so that the machine's load
	// weighs on both alike, as the inbox benchmark does.
	warm := func(name, label string, f func(srv server) (time.Duration, string, error)) ([]string, error) {
		ds, bodies, err := interleaved(servers, reps, name, f)
		if err != nil {
			return nil, err
		}
		for i, srv := range servers {
			what := label
			if strings.Contains(label, "%d") {
				what = fmt.Sprintf(label, len(hrefRE.FindAllString(bodies[i], -1)))
			}
			record(srv.name, what, ds[i])
		}
		return bodies, nil
	}
	for _, srv := range servers {
		// The first query is the cold one: Radicale builds its cache.
		d, _, err := timed(srv, "REPORT", srv.cal, rangeQuery, "1")
		if err != nil {
			return err
		}
		record(srv.name, "time-range REPORT, first (cold)", d)
	}
	if _, err := warm("time-range", "time-range REPORT, 3 days (%d ev)", func(srv server) (time.Duration, string, error) {
		return timed(srv, "REPORT", srv.cal, rangeQuery, "1")
	}); err != nil {
		return err
	}

	multigets := map[string]string{}
	allHrefs := map[string][][]string{}
	for _, srv := range servers {
		_, list, err := timed(srv, "PROPFIND", srv.cal, `<d:propfind xmlns:d="DAV:"><d:prop><d:getetag/></d:prop></d:propfind>`, "1")
		if err != nil {
			return err
		}
		hrefs := hrefRE.FindAllStringSubmatch(list, -1)
		if len(hrefs) < 100 {
			return fmt.Errorf("%s lists %d objects, want at least 100", srv.name, len(hrefs))
		}
		allHrefs[srv.name] = hrefs
		var mg strings.Builder
		mg.WriteString(`<c:calendar-multiget xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav"><d:prop><d:getetag/><c:calendar-data/></d:prop>`)
		for _, h := range hrefs[:100] {
			mg.WriteString("<d:href>" + h[1] + "</d:href>")
		}
		mg.WriteString("</c:calendar-multiget>")
		multigets[srv.name] = mg.String()
	}
	if _, err := warm("multiget", "multiget of 100", func(srv server) (time.Duration, string, error) {
		return timed(srv, "REPORT", srv.cal, multigets[srv.name], "1")
	}); err != nil {
		return err
	}

	tokens := map[string]string{}
	for _, srv := range servers {
		d, body, err := timed(srv, "REPORT", srv.cal, syncBody(""), "1")
		if err != nil {
			return err
		}
		record(srv.name, "initial sync-collection", d)
		token := tokenRE.FindStringSubmatch(body)
		if token == nil {
			return fmt.Errorf("%s: no sync token in initial sync", srv.name)
		}
		tokens[srv.name] = token[1]
		if err := change10(ctx, srv, events, evs, allHrefs[srv.name]); err != nil {
			return err
		}
	}
	if _, err := warm("sync", "sync after 10 changes (%d members)", func(srv server) (time.Duration, string, error) {
		return timed(srv, "REPORT", srv.cal, syncBody(tokens[srv.name]), "1")
	}); err != nil {
		return err
	}

	if _, err := warm("feed", "full feed GET", func(srv server) (time.Duration, string, error) {
		return timed(srv, "GET", srv.feed, "", "")
	}); err != nil {
		return err
	}
	etags := map[string]string{}
	for _, srv := range servers {
		resp, err := do(srv, "GET", srv.feed, "", "")
		if err != nil {
			return err
		}
		etags[srv.name] = resp.Header.Get("ETag")
	}
	if _, err := warm("feed304", "feed 304", func(srv server) (time.Duration, string, error) {
		return timed(srv, "GET", srv.feed, "", "", "If-None-Match", etags[srv.name])
	}); err != nil {
		return err
	}

	if len(servers) == 2 {
		fmt.Printf("\n| measurement | passerelle | Radicale | Radicale / passerelle |\n|---|---|---|---|\n")
		for _, what := range order {
			p, r := results[what]["passerelle"], results[what]["radicale"]
			key := what
			if _, ok := results[what]["radicale"]; !ok {
				continue
			}
			fmt.Printf("| %s | %s | %s | %.0f× |\n", key, p.Round(10*time.Microsecond), r.Round(10*time.Microsecond), float64(r)/float64(p))
		}
	}
	return nil
}

var (
	hrefRE  = regexp.MustCompile(`<(?:[a-zA-Z]+:)?href>([^<]+\.ics)</(?:[a-zA-Z]+:)?href>`)
	tokenRE = regexp.MustCompile(`<(?:[a-zA-Z]+:)?sync-token>([^<]+)</`)
)

// load applies n events across nSources sources through the ingest flow,
// spread over a year, a third of them in Europe/Paris.
func load(ctx context.Context, db *store.DB, n, nSources int) ([]*bridges.StoredEvent, error) {
	var srcs []*bridges.Source
	for i := range nSources {
		s := &bridges.Source{Slug: fmt.Sprintf("source-%02d", i), Name: fmt.Sprintf("Source %d", i),
			ActorURL: fmt.Sprintf("https://s%d.example/@group", i), Software: "mobilizon", State: bridges.SourceFollowed, CreatedAt: time.Now()}
		if err := db.Tx(ctx, func(ctx context.Context, tx *store.Tx) error { return tx.SaveSource(ctx, s) }); err != nil {
			return nil, err
		}
		srcs = append(srcs, s)
	}
	flow := &bridges.Events[*store.Tx]{Store: db, Renderer: &ical.Renderer{}}
	rng := rand.New(rand.NewPCG(1, 2))
	year := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	out := make([]*bridges.StoredEvent, 0, n)
	for i := range n {
		start := year.Add(time.Duration(rng.IntN(365*24)) * time.Hour)
		ev := bridges.Event{APID: fmt.Sprintf("https://s%d.example/events/%d", i%nSources, i), SourceID: srcs[i%nSources].ID,
			URL: fmt.Sprintf("https://s%d.example/events/%d", i%nSources, i), Title: fmt.Sprintf("Event %d: workshop, talk & party", i),
			DescriptionText: strings.Repeat("A description of some length, as events have. ", 8),
			Start:           start, End: start.Add(2 * time.Hour), Status: bridges.StatusConfirmed, JoinMode: bridges.JoinFree, Public: true,
			Place:         &bridges.Place{Name: "Maison des associations", Street: "1 rue de la Paix", Locality: "Nantes", Country: "France"},
			OrganizerName: "Group, " + srcs[i%nSources].Name, OrganizerURL: srcs[i%nSources].ActorURL,
			Published: year, Updated: year}
		if i%3 == 0 {
			ev.TimeZone = "Europe/Paris"
		}
		ch, err := flow.Apply(ctx, ev, nil)
		if err != nil {
			return nil, err
		}
		out = append(out, ch.Event)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Start.Before(out[j].Start) })
	return out, nil
}

// startRadicale writes the same calendar texts straight into a Radicale
// storage folder (a PUT costs ~45 ms there) and starts it on loopback.
func startRadicale(ctx context.Context, dir string, evs []*bridges.StoredEvent) (server, func(), error) {
	calDir := filepath.Join(dir, "radicale", "collection-root", "bench", "all")
	if err := os.MkdirAll(calDir, 0o755); err != nil {
		return server{}, nil, err
	}
	if err := os.WriteFile(filepath.Join(calDir, ".Radicale.props"), []byte(`{"tag": "VCALENDAR", "D:displayname": "all"}`), 0o644); err != nil {
		return server{}, nil, err
	}
	for _, ev := range evs {
		if err := os.WriteFile(filepath.Join(calDir, fmt.Sprintf("%d.ics", ev.ID)), ev.Calendar, 0o644); err != nil {
			return server{}, nil, err
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return server{}, nil, err
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command("/usr/bin/python3", "-m", "radicale", "--server-hosts", addr,
		"--storage-filesystem-folder", filepath.Join(dir, "radicale"), "--auth-type", "none", "--rights-type", "owner_only")
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		return server{}, nil, fmt.Errorf("start radicale: %w", err)
	}
	stop := func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			stop()
			return server{}, nil, errors.New("radicale did not start listening within 30s")
		}
		time.Sleep(100 * time.Millisecond)
	}
	u := "http://" + addr + "/bench/all/"
	return server{name: "radicale", cal: u, feed: u, user: "bench"}, stop, nil
}

// change10 changes 10 events: through the ingest flow for passerelle, by
// PUT for Radicale (its own way of learning of a change).
func change10(ctx context.Context, srv server, flow *bridges.Events[*store.Tx], evs []*bridges.StoredEvent, hrefs [][]string) error {
	for i := range 10 {
		ev := evs[i*len(evs)/10].Event
		ev.Title += " (changed)"
		ev.Updated = ev.Updated.Add(time.Hour)
		if srv.name == "passerelle" {
			if _, err := flow.Apply(ctx, ev, nil); err != nil {
				return err
			}
			continue
		}
		text, err := (&ical.Renderer{}).RenderEvent(&ev)
		if err != nil {
			return err
		}
		resp, err := do(srv, "PUT", srv.cal+fmt.Sprintf("%d.ics", ev.ID), string(text), "", "Content-Type", "text/calendar")
		if err != nil {
			return err
		}
		if resp.StatusCode >= 300 {
			return fmt.Errorf("radicale PUT: %s", resp.Status)
		}
	}
	return nil
}

var client = &http.Client{Timeout: 10 * time.Minute, Transport: &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: 4}}

func do(srv server, method, url, body, depth string, hdr ...string) (*http.Response, error) {
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	if body != "" && method != "PUT" {
		req.Header.Set("Content-Type", "application/xml; charset=utf-8")
	}
	if depth != "" {
		req.Header.Set("Depth", depth)
	}
	if srv.user != "" {
		req.SetBasicAuth(srv.user, "x")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp, nil
}

// timed makes one request and returns the time to the last byte.
func timed(srv server, method, url, body, depth string, hdr ...string) (time.Duration, string, error) {
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/xml; charset=utf-8")
	}
	if depth != "" {
		req.Header.Set("Depth", depth)
	}
	if srv.user != "" {
		req.SetBasicAuth(srv.user, "x")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	t0 := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return 0, "", err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	d := time.Since(t0)
	if err != nil {
		return 0, "", err
	}
	if resp.StatusCode >= 400 {
		return 0, "", fmt.Errorf("%s %s %s: %s: %.300s", srv.name, method, url, resp.Status, b)
	}
	return d, string(b), nil
}

// keep leaves the bench folder in place for inspection (sqlite3, EXPLAIN).
var keep bool

// profileDir, when set, receives one CPU profile per warm passerelle
// measurement, named after it.
var profileDir string

// profiled runs f under the CPU profiler when -profile is set and srv is
// passerelle (the profile is of this process, which serves passerelle).
func profiled(srv server, name string, f func() (time.Duration, string, error)) (time.Duration, string, error) {
	if profileDir == "" || srv.name != "passerelle" {
		return f()
	}
	out, err := os.Create(filepath.Join(profileDir, name+".pprof"))
	if err != nil {
		return 0, "", err
	}
	defer out.Close()
	if err := pprof.StartCPUProfile(out); err != nil {
		return 0, "", err
	}
	defer pprof.StopCPUProfile()
	return f()
}

// interleaved runs reps rounds of f on every server in turn and returns
// each server's median and last body. With -profile, passerelle's rounds
// run alone under the profiler instead, so the profile is passerelle's.
func interleaved(servers []server, reps int, name string, f func(server) (time.Duration, string, error)) ([]time.Duration, []string, error) {
	ds := make([][]time.Duration, len(servers))
	bodies := make([]string, len(servers))
	if profileDir != "" {
		meds := make([]time.Duration, len(servers))
		for i, srv := range servers {
			d, b, err := profiled(srv, name, func() (time.Duration, string, error) {
				return median(reps, func() (time.Duration, string, error) { return f(srv) })
			})
			if err != nil {
				return nil, nil, err
			}
			meds[i], bodies[i] = d, b
		}
		return meds, bodies, nil
	}
	for range reps {
		for i, srv := range servers {
			d, b, err := f(srv)
			if err != nil {
				return nil, nil, err
			}
			ds[i] = append(ds[i], d)
			bodies[i] = b
		}
	}
	meds := make([]time.Duration, len(servers))
	for i := range ds {
		sort.Slice(ds[i], func(a, b int) bool { return ds[i][a] < ds[i][b] })
		meds[i] = ds[i][len(ds[i])/2]
	}
	return meds, bodies, nil
}

func median(reps int, f func() (time.Duration, string, error)) (time.Duration, string, error) {
	var ds []time.Duration
	var last string
	for range reps {
		d, b, err := f()
		if err != nil {
			return 0, "", err
		}
		ds = append(ds, d)
		last = b
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	return ds[len(ds)/2], last, nil
}
