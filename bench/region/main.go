// Command region runs passerelle as a regional gateway would be run: the
// real binary, as 1, 2 and 3 replicas on one PostgreSQL database (and one
// SQLite node for comparison), fed signed Creates by many groups on many
// hosts while calendar clients sync, and prints one table: inbox
// throughput and latency to 202, how long the stored events took, calendar
// sync latency under load, memory per replica and database size, with the
// activities lost or stored twice (checked, not assumed). See
// bench/README.md.
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"codeberg.org/passerelle/passerelle/bridges"
	"codeberg.org/passerelle/passerelle/federation/signing"
	"codeberg.org/passerelle/passerelle/store"
)

func main() {
	replicas := flag.String("replicas", "1,2,3", "replica counts to run on PostgreSQL, one run each (empty: none)")
	sqlite := flag.Bool("sqlite", true, "also run one SQLite node")
	database := flag.String("database", "postgres://root@127.0.0.1:5432/test?sslmode=disable", "a PostgreSQL server's database URL; each run creates a database of its own beside it")
	hosts := flag.Int("hosts", 4, "remote hosts (loopback addresses 127.0.0.10, .11…)")
	groups := flag.Int("groups", 5, "followed groups per host")
	activities := flag.Int("activities", 2000, "signed Creates sent per run")
	senders := flag.Int("senders", 16, "concurrent senders (remote servers delivering)")
	clients := flag.Int("clients", 20, "calendar clients syncing during the burst")
	scale := flag.Int("scale", 1, "multiply -activities and -groups")
	fanout := flag.Int("fanout", 5000, "invitees of the event whose Update is fanned out to them by mail (0: skip)")
	flag.DurationVar(&storeWait, "wait", 5*time.Minute, "how long a run waits for every accepted Create to be stored before counting the rest as lost")
	flag.Parse()
	cfg := config{hosts: *hosts, groups: *groups * *scale, activities: *activities * *scale, senders: *senders, clients: *clients}
	var runs []result
	ctx := context.Background()
	bin, err := build()
	if err != nil {
		fail(err)
	}
	peers, err := startPeers(cfg)
	if err != nil {
		fail(err)
	}
	if *sqlite {
		r, err := runOnce(ctx, bin, cfg, peers, "sqlite", 1, "")
		if err != nil {
			fail(err)
		}
		runs = append(runs, r)
	}
	for _, s := range strings.Split(*replicas, ",") {
		if strings.TrimSpace(s) == "" {
			continue
		}
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			fail(fmt.Errorf("-replicas %q: want counts such as 1,2,3", *replicas))
		}
		r, err := runOnce(ctx, bin, cfg, peers, "postgres", n, *database)
		if err != nil {
			fail(err)
		}
		runs = append(runs, r)
	}
	printTable(cfg, runs)
	if *fanout > 0 {
		var frs []fanoutResult
		backends := []string{"postgres"}
		if *sqlite {
			backends = []string{"sqlite", "postgres"}
		}
		for _, b := range backends {
			r, err := runFanout(ctx, bin, peers, b, *database, *fanout)
			if err != nil {
				fail(err)
			}
			frs = append(frs, r)
		}
		printFanout(frs)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "bench:", err)
	os.Exit(1)
}

// storeWait is -wait.
var storeWait time.Duration

type config struct {
	hosts, groups, activities, senders, clients int
}

// build compiles the binary once.
func build() (string, error) {
	dir, err := os.MkdirTemp("", "passerelle-region-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "passerelle")
	out, err := exec.Command("go", "build", "-o", bin, "./cmd/passerelle").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build (run from the repository's root): %v\n%s", err, out)
	}
	return bin, nil
}

// peer is one remote host: its groups sign with real RSA keys and are
// served at their actor documents.
type peer struct {
	base   string
	groups []*group
}

type group struct {
	actor  string
	signer *signing.RequestSigner
}

func startPeers(cfg config) ([]*peer, error) {
	var out []*peer
	for h := range cfg.hosts {
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.%d:0", 10+h))
		if err != nil {
			return nil, err
		}
		p := &peer{base: "http://" + ln.Addr().String()}
		docs := map[string][]byte{}
		for g := range cfg.groups {
			key, err := rsa.GenerateKey(rand.Reader, 2048)
			if err != nil {
				return nil, err
			}
			name := fmt.Sprintf("g%d", g)
			actor := p.base + "/@" + name
			der, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
			doc, _ := json.Marshal(map[string]any{
				"@context": []string{"https://www.w3.org/ns/activitystreams", "https://w3id.org/security/v1"},
				"id":       actor, "type": "Group", "preferredUsername": name, "name": "Group " + name, "inbox": actor + "/inbox",
				"publicKey": map[string]any{"id": actor + "#main-key", "owner": actor,
					"publicKeyPem": string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))},
			})
			docs["/@"+name] = doc
			p.groups = append(p.groups, &group{actor: actor, signer: &signing.RequestSigner{KeyID: actor + "#main-key", Key: key}})
		}
		mux := http.NewServeMux()
		mux.HandleFunc("GET /{actor}", func(w http.ResponseWriter, r *http.Request) {
			doc, ok := docs[r.URL.Path]
			if !ok {
				http.NotFound(w, r)
				return
			}
			w.Header().Set("Content-Type", "application/activity+json")
			w.Write(doc)
		})
		mux.HandleFunc("POST /{actor}/inbox", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusAccepted) })
		go (&http.Server{Handler: mux}).Serve(ln)
		out = append(out, p)
	}
	return out, nil
}

type result struct {
	backend  string
	replicas int
	// Inbox: requests answered 202 and their latency.
	accepted           int
	refused            int
	sendWall           time.Duration
	p50, p99           time.Duration
	storeWall          time.Duration
	stored, lost, dups int
	// Calendar syncs during the burst.
	syncs            int
	syncP50, syncP99 time.Duration
	rss              []int64 // KiB, VmHWM per replica
	dbBytes          int64
}

// runOnce runs one configuration from a fresh database.
func runOnce(ctx context.Context, bin string, cfg config, peers []*peer, backend string, replicas int, pgURL string) (result, error) {
	res := result{backend: backend, replicas: replicas}
	inst, err := newInstance(ctx, backend, pgURL)
	if err != nil {
		return res, err
	}
	defer inst.close()
	db, dir, dbURL := inst.db, inst.dir, inst.dbURL
	// The groups are followed already (the Follow handshake is not what
	// is measured).
	var all []*group
	for _, p := range peers {
		for i, g := range p.groups {
			src := &bridges.Source{Slug: fmt.Sprintf("%s-%d", strings.NewReplacer("http://", "", ".", "-", ":", "-").Replace(p.base), i),
				ActorURL: g.actor, Software: "generic", State: bridges.SourceFollowed, CreatedAt: time.Now()}
			if err := db.Tx(ctx, func(ctx context.Context, tx *store.Tx) error { return tx.SaveSource(ctx, src) }); err != nil {
				return res, err
			}
			all = append(all, g)
		}
	}
	public := "http://" + freeAddr("127.0.0.1")
	env := append(os.Environ(), "PASSERELLE_DATABASE_URL="+dbURL, "PASSERELLE_PUBLIC_URL="+public,
		"PASSERELLE_FEDERATION_ALLOW_PRIVATE_NETWORKS=true", "PASSERELLE_LOG_LEVEL=warn", "PASSERELLE_DATA_DIR="+dir)
	var addrs []string
	var procs []*exec.Cmd
	defer func() {
		for _, p := range procs {
			stopServe(p)
		}
	}()
	for range replicas {
		addr := freeAddr("127.0.0.1")
		cmd, err := startServe(bin, dir, env, addr)
		if cmd != nil {
			procs = append(procs, cmd)
		}
		if err != nil {
			return res, err
		}
		addrs = append(addrs, addr)
	}
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}

	// Calendar clients sync the all-events calendar during the burst.
	stopSync := make(chan struct{})
	var syncMu sync.Mutex
	var syncTimes []time.Duration
	var syncWG sync.WaitGroup
	for c := range cfg.clients {
		syncWG.Add(1)
		go func() {
			defer syncWG.Done()
			token := ""
			for {
				select {
				case <-stopSync:
					return
				default:
				}
				d, next, err := syncOnce(client, "http://"+addrs[c%len(addrs)]+"/dav/calendars/public/all/", token)
				if err == nil {
					token = next
					syncMu.Lock()
					syncTimes = append(syncTimes, d)
					syncMu.Unlock()
				}
				time.Sleep(200 * time.Millisecond)
			}
		}()
	}

	// The burst: senders share the activities; activity n goes from
	// group n%len(all) through replica n%replicas (a load balancer).
	var next atomic.Int64
	lat := make([]time.Duration, cfg.activities)
	ok := make([]bool, cfg.activities)
	start := time.Now()
	var wg sync.WaitGroup
	for range cfg.senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				n := int(next.Add(1)) - 1
				if n >= cfg.activities {
					return
				}
				t0 := time.Now()
				ok[n] = create(client, all[n%len(all)], public, addrs[n%len(addrs)], n)
				lat[n] = time.Since(t0)
			}
		}()
	}
	wg.Wait()
	res.sendWall = time.Since(start)
	var accLat []time.Duration
	for n := range ok {
		if ok[n] {
			res.accepted++
			accLat = append(accLat, lat[n])
		} else {
			res.refused++
		}
	}
	res.p50, res.p99 = percentile(accLat, 50), percentile(accLat, 99)

	// Until every accepted Create is stored (or -wait passes).
	deadline := time.Now().Add(storeWait)
	for {
		st, err := db.ReadStats(ctx)
		if err == nil && st.Events >= res.accepted {
			res.stored = st.Events
			break
		}
		if time.Now().After(deadline) {
			if err == nil {
				res.stored = st.Events
			}
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	res.storeWall = time.Since(start)
	close(stopSync)
	syncWG.Wait()
	res.syncs = len(syncTimes)
	res.syncP50, res.syncP99 = percentile(syncTimes, 50), percentile(syncTimes, 99)
	// Lost: accepted and not stored. Twice: more than one change-log
	// entry for one event (a Create processed twice).
	changes, err := db.ChangesSince(ctx, 0, 0, 0)
	if err != nil {
		return res, err
	}
	perEvent := map[int64]int{}
	for _, c := range changes {
		perEvent[c.EventID]++
	}
	for _, k := range perEvent {
		if k > 1 {
			res.dups++
		}
	}
	res.lost = max(0, res.accepted-res.stored)
	for _, p := range procs {
		res.rss = append(res.rss, vmHWM(p.Process.Pid))
	}
	if backend == "postgres" {
		res.dbBytes = pgSize(dbURL)
	} else if fi, err := os.Stat(filepath.Join(dir, "passerelle.db")); err == nil {
		res.dbBytes = fi.Size()
		if wal, err := os.Stat(filepath.Join(dir, "passerelle.db-wal")); err == nil {
			res.dbBytes += wal.Size()
		}
	}
	return res, nil
}

// instance is a run's folder and fresh database, migrated.
type instance struct {
	dir, dbURL string
	db         *store.DB
	drop       func()
}

// newInstance makes a folder and a database of the run's own: a SQLite
// file in the folder, or a new PostgreSQL database beside pgURL's.
func newInstance(ctx context.Context, backend, pgURL string) (*instance, error) {
	dir, err := os.MkdirTemp("", "passerelle-region-run-")
	if err != nil {
		return nil, err
	}
	in := &instance{dir: dir, dbURL: "sqlite://" + filepath.Join(dir, "passerelle.db"), drop: func() {}}
	if backend == "postgres" {
		if in.dbURL, in.drop, err = freshDatabase(pgURL); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
	}
	if in.db, err = store.Open(ctx, in.dbURL, slog.New(slog.DiscardHandler)); err == nil {
		if err = in.db.Migrate(ctx); err != nil {
			in.db.Close()
		}
	}
	if err != nil {
		in.drop()
		os.RemoveAll(dir)
		return nil, err
	}
	return in, nil
}

func (in *instance) close() {
	in.db.Close()
	in.drop()
	os.RemoveAll(in.dir)
}

// startServe starts `passerelle serve` in dir listening on addr and waits
// until it answers /healthz. The process, once started, is returned even
// with an error, for the caller to stop.
func startServe(bin, dir string, env []string, addr string) (*exec.Cmd, error) {
	cmd := exec.Command(bin, "serve")
	cmd.Dir = dir
	cmd.Env = append(slices.Clone(env), "PASSERELLE_LISTEN="+addr)
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	return cmd, waitHealthy(addr)
}

func stopServe(cmd *exec.Cmd) {
	cmd.Process.Kill()
	cmd.Wait()
}

// create sends the Create of event n, signed by g, to public_url's inbox
// through the replica at addr (the signed Host stays public_url's).
func create(client *http.Client, g *group, public, addr string, n int) bool {
	return send(client, g, public, addr, n, "Create", fmt.Sprintf("Atelier %d", n), time.Time{})
}

// send posts a Create or Update of event n with that name.
func send(client *http.Client, g *group, public, addr string, n int, kind, name string, updated time.Time) bool {
	start := time.Now().Add(96 * time.Hour).UTC().Truncate(time.Minute).Add(time.Duration(n) * time.Minute)
	id := fmt.Sprintf("%s/events/%d", g.actor, n)
	obj := map[string]any{"id": id, "type": "Event", "name": name, "attributedTo": g.actor,
		"startTime": start.Format(time.RFC3339), "endTime": start.Add(time.Hour).Format(time.RFC3339),
		"to": []string{"https://www.w3.org/ns/activitystreams#Public"}}
	if !updated.IsZero() {
		obj["updated"] = updated.UTC().Format(time.RFC3339)
	}
	body, _ := json.Marshal(map[string]any{
		"@context": "https://www.w3.org/ns/activitystreams",
		"id":       fmt.Sprintf("%s/activity/%s/%d", id, kind, time.Now().UnixNano()), "type": kind, "actor": g.actor,
		"to":     []string{"https://www.w3.org/ns/activitystreams#Public"},
		"object": obj,
	})
	req, _ := http.NewRequest(http.MethodPost, public+"/inbox", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/activity+json")
	if err := g.signer.Sign(req, body); err != nil {
		return false
	}
	req.URL.Host = addr
	resp, err := client.Do(req)
	if err != nil {
		return false
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode == http.StatusAccepted
}

const syncBody = `<d:sync-collection xmlns:d="DAV:"><d:sync-token>%s</d:sync-token><d:sync-level>1</d:sync-level><d:prop><d:getetag/></d:prop></d:sync-collection>`

// syncOnce is one sync-collection from token, as a calendar app's
// periodic sync: its time and the token it got.
func syncOnce(client *http.Client, url, token string) (time.Duration, string, error) {
	req, _ := http.NewRequest("REPORT", url, strings.NewReader(fmt.Sprintf(syncBody, token)))
	req.Header.Set("Content-Type", "application/xml")
	req.Header.Set("Depth", "1")
	t0 := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return 0, token, err
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	d := time.Since(t0)
	if resp.StatusCode != 207 {
		return d, "", fmt.Errorf("sync: %d", resp.StatusCode)
	}
	s := string(b)
	if i := strings.Index(s, "<d:sync-token>"); i >= 0 {
		s = s[i+len("<d:sync-token>"):]
		if j := strings.Index(s, "<"); j >= 0 {
			return d, s[:j], nil
		}
	}
	return d, token, nil
}

func percentile(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[min(len(s)-1, len(s)*p/100)]
}

func freeAddr(host string) string {
	ln, err := net.Listen("tcp", host+":0")
	if err != nil {
		fail(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func waitHealthy(addr string) error {
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get("http://" + addr + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return errors.New("passerelle did not become healthy at " + addr)
}

// vmHWM is the process's peak resident memory, in KiB.
func vmHWM(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return n
		}
	}
	return 0
}

// psql runs one statement against the server of url, on database db.
func psql(url, db, sql string) (string, error) {
	u := url
	if i := strings.LastIndex(u, "/"); i > len("postgres://") {
		q := ""
		if j := strings.Index(u[i:], "?"); j >= 0 {
			q = u[i+j:]
		}
		u = u[:i+1] + db + q
	}
	out, err := exec.Command("psql", "-X", "-q", "-t", "-A", u, "-c", sql).CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// freshDatabase creates a database of its own beside url's.
func freshDatabase(url string) (string, func(), error) {
	name := fmt.Sprintf("region_%d", time.Now().UnixNano())
	base := url[strings.LastIndex(url, "/")+1:]
	if i := strings.Index(base, "?"); i >= 0 {
		base = base[:i]
	}
	if out, err := psql(url, base, "CREATE DATABASE "+name); err != nil {
		return "", nil, fmt.Errorf("create database (psql): %v %s", err, out)
	}
	u := url[:strings.LastIndex(url, "/")+1] + name
	if i := strings.Index(url[strings.LastIndex(url, "/"):], "?"); i >= 0 {
		u += url[strings.LastIndex(url, "/")+i:]
	}
	return u, func() { psql(url, base, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)") }, nil
}

func pgSize(url string) int64 {
	name := url[strings.LastIndex(url, "/")+1:]
	if i := strings.Index(name, "?"); i >= 0 {
		name = name[:i]
	}
	out, err := psql(url, name, "SELECT pg_database_size(current_database())")
	if err != nil {
		return 0
	}
	n, _ := strconv.ParseInt(out, 10, 64)
	return n
}

func printTable(cfg config, runs []result) {
	fmt.Printf("\n%d signed Creates from %d groups on %d hosts, %d senders; %d calendar clients syncing every 200 ms\n\n",
		cfg.activities, cfg.hosts*cfg.groups, cfg.hosts, cfg.senders, cfg.clients)
	fmt.Println("| run | accepted/s (to 202) | 202 p50 | 202 p99 | stored/s (end to end) | lost (not stored after -wait) | twice | sync p50 | sync p99 | syncs | VmHWM per replica (MiB) | database |")
	fmt.Println("|---|---|---|---|---|---|---|---|---|---|---|---|")
	var base float64
	for _, r := range runs {
		acc := float64(r.accepted) / r.sendWall.Seconds()
		st := float64(r.stored) / r.storeWall.Seconds()
		var rss []string
		for _, k := range r.rss {
			rss = append(rss, strconv.FormatInt(k/1024, 10))
		}
		ratio := ""
		if r.backend == "postgres" {
			if r.replicas == 1 {
				base = st
			} else if base > 0 {
				ratio = fmt.Sprintf(" (%.2f× one replica)", st/base)
			}
		}
		fmt.Printf("| %s ×%d | %.0f | %s | %s | %.0f%s | %d | %d | %s | %s | %d | %s | %.1f MiB |\n",
			r.backend, r.replicas, acc, r.p50.Round(time.Microsecond*100), r.p99.Round(time.Microsecond*100), st, ratio, r.lost, r.dups,
			r.syncP50.Round(time.Microsecond*100), r.syncP99.Round(time.Microsecond*100), r.syncs, strings.Join(rss, ", "), float64(r.dbBytes)/(1<<20))
		if r.refused > 0 {
			fmt.Printf("  (%d Creates were refused or failed: see the run's log)\n", r.refused)
		}
	}
}
