// Command region runs passerelle as a regional gateway would be run: the
// real binary, as 1, 2 and 3 replicas on one PostgreSQL database (and one
// SQLite node for comparison). Each run is fed signed Creates by many
// groups on many hosts while calendar clients sync; then one event's
// Update is fanned out by mail to thousands of invitees, some of whom
// answer by mail while it is sent, their Joins checked and accepted by
// the remote hosts; then (-scale) a large calendar is seeded and synced
// by many clients. It prints one table: throughput, latencies, lags, CPU,
// memory and database growth, with the activities, mails and Joins lost
// or sent twice (checked, not assumed), and each figure's ratio to one
// replica. See bench/README.md.
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
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
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
	var cfg config
	flag.IntVar(&cfg.hosts, "hosts", 4, "remote hosts (loopback addresses 127.0.0.10, .11…)")
	flag.IntVar(&cfg.groups, "groups", 5, "followed groups per host")
	flag.IntVar(&cfg.activities, "activities", 2000, "signed Creates sent per run")
	flag.IntVar(&cfg.senders, "senders", 16, "concurrent senders (remote servers delivering)")
	flag.IntVar(&cfg.clients, "clients", 20, "calendar clients syncing during the burst")
	flag.IntVar(&cfg.fanout, "fanout", 2000, "invitees of the event whose Update is fanned out to them by mail (0: skip; the issue's figure is 5000)")
	flag.IntVar(&cfg.rsvp, "rsvp", 200, "invitees who answer the Update by mail while the fan-out is sent (at most -fanout)")
	flag.IntVar(&cfg.scale, "scale", 0, "events to seed in bulk for the large calendar phase (200000 for the issue's size; 0: skip)")
	flag.IntVar(&cfg.scaleClients, "scale-clients", 200, "concurrent calendar clients of the large calendar phase")
	flag.DurationVar(&cfg.scaleFor, "scale-for", 30*time.Second, "how long the large calendar phase's clients run")
	flag.IntVar(&cfg.mastodon, "mastodon", 0, "groups whose events are cross-posted to an account on an in-process Mastodon server, each status checked (0: no Mastodon side)")
	flag.Float64Var(&cfg.replicaCPU, "replica-cpu", 0, "cores of CPU time each replica may use (a Linux cgroup quota, as if each ran on a host that size; needs root); 0: no cap, every replica shares the whole machine")
	flag.DurationVar(&storeWait, "wait", 5*time.Minute, "how long a run waits for every accepted Create to be stored (and every mail and Join of the fan-out) before counting the rest as lost")
	flag.Parse()
	cfg.rsvp = min(cfg.rsvp, cfg.fanout)
	var runs []*result
	ctx := context.Background()
	bin, err := build()
	if err != nil {
		fail(err)
	}
	binDir = filepath.Dir(bin)
	defer os.RemoveAll(binDir)
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
}

// binDir holds the binary built for the runs, removed at the end (75 MB
// a run otherwise left in the temporary folder).
var binDir string

func fail(err error) {
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	fmt.Fprintln(os.Stderr, "bench:", err)
	os.Exit(1)
}

// storeWait is -wait.
var storeWait time.Duration

type config struct {
	hosts, groups, activities, senders, clients int
	fanout, rsvp, mastodon                      int
	scale, scaleClients                         int
	scaleFor                                    time.Duration
	replicaCPU                                  float64
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
		byPath := map[string]*group{}
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
			g := &group{actor: actor, signer: &signing.RequestSigner{KeyID: actor + "#main-key", Key: key}}
			byPath["/@"+name] = g
			p.groups = append(p.groups, g)
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
		mux.HandleFunc("POST /{actor}/inbox", func(w http.ResponseWriter, r *http.Request) {
			g, ok := byPath["/"+r.PathValue("actor")]
			if !ok {
				http.NotFound(w, r)
				return
			}
			serveInbox(g, w, r)
		})
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
	// What the burst cost: CPU (serve's processes, and PostgreSQL's, see
	// cpuUse) and database growth.
	inboxCPU cpuUse
	// capHeld is the share of the replicas' quota periods during the
	// burst in which their CPU quota (-replica-cpu) ran out.
	capHeld     float64
	eventsBytes int64
	fan         fanoutResult
	masto       mastoResult
	large       scaleResult
	queues      []queueSample
	rss         []int64 // KiB, VmHWM per replica
	dbBytes     int64
}

// bench is one run: its database, replicas and mail sink, which every
// phase uses.
type bench struct {
	cfg    config
	bin    string
	inst   *instance
	procs  []*exec.Cmd
	addrs  []string
	public string
	env    []string
	client *http.Client
	sink   *sink
	groups []*group
	// caps are the replicas' CPU quotas (-replica-cpu), if any.
	caps []*cpuCap
	// masto is the Mastodon side (-mastodon), if any.
	masto *mastoSide
}

// runOnce runs one configuration from a fresh database: the inbox burst,
// then the fan-out of an Update with the RSVPs it gets, then (-scale) the
// large calendar.
func runOnce(ctx context.Context, bin string, cfg config, peers []*peer, backend string, replicas int, pgURL string) (*result, error) {
	res := &result{backend: backend, replicas: replicas}
	inst, err := newInstance(ctx, backend, pgURL)
	if err != nil {
		return res, err
	}
	defer inst.close()
	b := &bench{cfg: cfg, bin: bin, inst: inst, public: "http://" + freeAddr("127.0.0.1"),
		client: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 256}}}
	// The groups are followed already (the Follow handshake is not what
	// is measured); the first -mastodon of them are cross-posted.
	var routed []int64
	for _, p := range peers {
		for i, g := range p.groups {
			src := &bridges.Source{Slug: fmt.Sprintf("%s-%d", strings.NewReplacer("http://", "", ".", "-", ":", "-").Replace(p.base), i),
				ActorURL: g.actor, Software: "generic", State: bridges.SourceFollowed, CreatedAt: time.Now()}
			if err := inst.db.Tx(ctx, func(ctx context.Context, tx *store.Tx) error { return tx.SaveSource(ctx, src) }); err != nil {
				return res, err
			}
			if len(b.groups) < cfg.mastodon {
				routed = append(routed, src.ID)
			}
			b.groups = append(b.groups, g)
		}
	}
	if cfg.mastodon > 0 {
		if b.masto, err = startMastodon(ctx, inst.db, routed); err != nil {
			return res, err
		}
		defer b.masto.close()
	}
	if b.sink, err = startSink(); err != nil {
		return res, err
	}
	defer b.sink.close()
	b.env = append(os.Environ(), "PASSERELLE_DATABASE_URL="+inst.dbURL, "PASSERELLE_PUBLIC_URL="+b.public,
		"PASSERELLE_FEDERATION_ALLOW_PRIVATE_NETWORKS=true", "PASSERELLE_LOG_LEVEL=warn", "PASSERELLE_DATA_DIR="+inst.dir,
		"PASSERELLE_MAIL_FROM=Passerelle <events@passerelle.test>", "PASSERELLE_MAIL_SMTP=smtp://"+b.sink.addr,
		"PASSERELLE_MAIL_SEND_INTERVAL=0s")
	defer func() {
		for _, p := range b.procs {
			stopServe(p)
		}
		for _, c := range b.caps {
			c.remove()
		}
	}()
	for i := range replicas {
		var cg *cpuCap
		if cfg.replicaCPU > 0 {
			if cg, err = newCPUCap(fmt.Sprintf("passerelle-region-%d-%d", os.Getpid(), i), cfg.replicaCPU); cg != nil {
				b.caps = append(b.caps, cg)
			}
			if err != nil {
				return res, err
			}
		}
		addr := freeAddr("127.0.0.1")
		cmd, err := startServe(bin, inst.dir, b.env, addr, cg)
		if cmd != nil {
			b.procs = append(b.procs, cmd)
		}
		if err != nil {
			return res, err
		}
		b.addrs = append(b.addrs, addr)
	}
	// The remote hosts record and answer this run's Joins.
	joins := &joinBook{bench: b}
	current.Store(joins)
	defer current.Store(nil)
	stopQueues := b.sampleQueues(ctx, &res.queues)
	defer stopQueues()

	if err := b.inboxPhase(ctx, res); err != nil {
		return res, err
	}
	if cfg.fanout > 0 {
		if res.fan, err = b.fanoutPhase(ctx, joins); err != nil {
			return res, err
		}
	}
	if cfg.scale > 0 {
		if res.large, err = b.scalePhase(ctx); err != nil {
			return res, err
		}
	}
	stopQueues()
	for _, p := range b.procs {
		res.rss = append(res.rss, vmHWM(p.Process.Pid))
	}
	res.dbBytes = inst.size()
	return res, nil
}

// inboxPhase is the burst of signed Creates while calendar clients sync.
func (b *bench) inboxPhase(ctx context.Context, res *result) error {
	cfg, db, client, addrs := b.cfg, b.inst.db, b.client, b.addrs
	// Signed before the clock starts: see signAll.
	all := b.groups
	groupOf := func(n int) *group { return all[n%len(all)] }
	bodies := make([][]byte, cfg.activities)
	for n := range bodies {
		bodies[n] = activityBody(groupOf(n), n, "Create", fmt.Sprintf("Atelier %d", n), time.Time{})
	}
	posts, err := signAll(b.public, bodies, groupOf)
	if err != nil {
		return fmt.Errorf("sign the burst's Creates: %w", err)
	}
	size0, cpu0 := b.inst.size(), b.cpu()
	ran0, held0 := b.capPeriods()
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
	acceptedAt := make([]time.Time, cfg.activities)
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
				ok[n] = post(client, b.public, addrs[n%len(addrs)], posts[n])
				acceptedAt[n] = time.Now()
				lat[n] = acceptedAt[n].Sub(t0)
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
	if b.masto != nil {
		// Each routed Create's status, by the same deadline.
		want := map[int]time.Time{}
		for n := range ok {
			if ok[n] && n%len(all) < cfg.mastodon {
				want[n] = acceptedAt[n]
			}
		}
		res.masto = b.masto.wait(want, deadline)
	}
	close(stopSync)
	syncWG.Wait()
	res.inboxCPU = b.cpu().since(cpu0)
	if ran, held := b.capPeriods(); ran > ran0 {
		res.capHeld = float64(held-held0) / float64(ran-ran0)
	}
	res.eventsBytes = b.inst.size() - size0
	res.syncs = len(syncTimes)
	res.syncP50, res.syncP99 = percentile(syncTimes, 50), percentile(syncTimes, 99)
	// Lost: accepted and not stored. Twice: more than one change-log
	// entry for one event (a Create processed twice).
	changes, err := db.ChangesSince(ctx, 0, 0, 0)
	if err != nil {
		return err
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
	return nil
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

// size is the database's size (store.DB.Size).
func (in *instance) size() int64 {
	n, _ := in.db.Size(context.Background())
	return n
}

func (in *instance) close() {
	in.db.Close()
	in.drop()
	os.RemoveAll(in.dir)
}

// startServe starts `passerelle serve` in dir listening on addr, under
// the CPU quota cg if there is one, and waits until it answers /healthz.
// The process, once started, is returned even with an error, for the
// caller to stop.
func startServe(bin, dir string, env []string, addr string, cg *cpuCap) (*exec.Cmd, error) {
	cmd := exec.Command(bin, "serve")
	cmd.Dir = dir
	cmd.Env = append(slices.Clone(env), "PASSERELLE_LISTEN="+addr)
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	if cg != nil {
		if err := cg.add(cmd.Process.Pid); err != nil {
			return cmd, err
		}
	}
	return cmd, waitHealthy(addr)
}

func stopServe(cmd *exec.Cmd) {
	cmd.Process.Kill()
	cmd.Wait()
}

// create sends the Create of event n, signed by g, to public_url's inbox
// through the replica at addr (the signed Host stays public_url's).
// send posts a Create or Update of event n with that name.
func send(client *http.Client, g *group, public, addr string, n int, kind, name string, updated time.Time) bool {
	return postSigned(client, g, public, addr, activityBody(g, n, kind, name, updated))
}

// activityBody is a Create or Update of event n, with that name, by g.
func activityBody(g *group, n int, kind, name string, updated time.Time) []byte {
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
	return body
}

// signedPost is an activity signed for public_url's shared inbox, ready to
// be posted.
type signedPost struct {
	header http.Header
	body   []byte
}

// signPost signs body as g for public_url's shared inbox.
func signPost(g *group, public string, body []byte) (signedPost, error) {
	req, _ := http.NewRequest(http.MethodPost, public+"/inbox", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/activity+json")
	if err := g.signer.Sign(req, body); err != nil {
		return signedPost{}, err
	}
	return signedPost{header: req.Header, body: body}, nil
}

// signAll signs every body ahead of a burst, on every core: an RSA
// signature costs the harness 1.5 ms of CPU, and signing during the burst
// took about a core of the two the replicas and PostgreSQL need. The
// signatures are as real; their Date is a few seconds older.
func signAll(public string, bodies [][]byte, groupOf func(n int) *group) ([]signedPost, error) {
	out := make([]signedPost, len(bodies))
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, runtime.NumCPU())
	for range runtime.NumCPU() {
		wg.Go(func() {
			for n := int(next.Add(1)) - 1; n < len(bodies); n = int(next.Add(1)) - 1 {
				var err error
				if out[n], err = signPost(groupOf(n), public, bodies[n]); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	return out, <-errs
}

// postSigned posts an activity signed by g to public_url's shared inbox
// through the replica at addr (the signed Host stays public_url's).
func postSigned(client *http.Client, g *group, public, addr string, body []byte) bool {
	sp, err := signPost(g, public, body)
	return err == nil && post(client, public, addr, sp)
}

// post sends a signed activity through the replica at addr.
func post(client *http.Client, public, addr string, sp signedPost) bool {
	req, _ := http.NewRequest(http.MethodPost, public+"/inbox", bytes.NewReader(sp.body))
	req.Header = sp.header.Clone()
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

// row is one figure of the table: its value in a run (for the ratio to
// one replica) and how it is written; ok false leaves the cell empty.
// A check (counts that must match, or be zero) gets no ratio.
type row struct {
	name  string
	val   func(r *result) (v float64, text string, ok bool)
	check bool
}

func dur(d time.Duration) (float64, string, bool) {
	return d.Seconds(), d.Round(100 * time.Microsecond).String(), d > 0
}

func count(n int) (float64, string, bool) { return float64(n), strconv.Itoa(n), true }

func perSecond(n int, d time.Duration) (float64, string, bool) {
	if d <= 0 {
		return 0, "", false
	}
	v := float64(n) / d.Seconds()
	return v, fmt.Sprintf("%.0f", v), true
}

// perItem is a CPU time or a size divided by a count.
func perItem(total float64, n int, unit string, scale float64) (float64, string, bool) {
	if n <= 0 {
		return 0, "", false
	}
	v := total / float64(n) * scale
	return v, fmt.Sprintf("%.*f %s", max(0, 2-int(math.Log10(max(v, 1)))), v, unit), true
}

func cpuPer(u cpuUse, n int) (float64, string, bool) {
	v, text, ok := perItem(float64(u.total())/float64(time.Millisecond), n, "ms", 1)
	if ok && u.pg > 0 {
		ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) / float64(n) }
		text += fmt.Sprintf(" (PostgreSQL %.2f + %.2f shared)", ms(u.pg), ms(u.pgShared))
	}
	return v, text, ok
}

var rows = []row{
	{name: "accepted/s (to 202)", val: func(r *result) (float64, string, bool) { return perSecond(r.accepted, r.sendWall) }},
	{name: "202 p50", val: func(r *result) (float64, string, bool) { return dur(r.p50) }},
	{name: "202 p99", val: func(r *result) (float64, string, bool) { return dur(r.p99) }},
	{name: "stored/s (end to end)", val: func(r *result) (float64, string, bool) { return perSecond(r.stored, r.storeWall) }},
	{name: "Creates lost (not stored after -wait)", val: func(r *result) (float64, string, bool) { return count(r.lost) }, check: true},
	{name: "Creates stored twice", val: func(r *result) (float64, string, bool) { return count(r.dups) }, check: true},
	{name: "Mastodon: statuses / routed Creates accepted", val: func(r *result) (float64, string, bool) {
		return float64(r.masto.posted), fmt.Sprintf("%d / %d", r.masto.posted, r.masto.routed), r.masto.routed > 0
	}, check: true},
	{name: "Mastodon: Creates posted twice", val: func(r *result) (float64, string, bool) {
		return float64(r.masto.twice), strconv.Itoa(r.masto.twice), r.masto.routed > 0
	}, check: true},
	{name: "Mastodon: 202 → status p50", val: func(r *result) (float64, string, bool) { return dur(r.masto.lagP50) }},
	{name: "Mastodon: 202 → status p99", val: func(r *result) (float64, string, bool) { return dur(r.masto.lagP99) }},
	{name: "sync p50 during the burst", val: func(r *result) (float64, string, bool) { return dur(r.syncP50) }},
	{name: "sync p99 during the burst", val: func(r *result) (float64, string, bool) { return dur(r.syncP99) }},
	{name: "CPU per activity stored", val: func(r *result) (float64, string, bool) { return cpuPer(r.inboxCPU, r.stored) }},
	{name: "CPU cap reached (share of 100 ms periods)", val: func(r *result) (float64, string, bool) {
		return r.capHeld, fmt.Sprintf("%.0f %%", 100*r.capHeld), r.capHeld > 0
	}},
	{name: "database per 1,000 events", val: func(r *result) (float64, string, bool) {
		return perItem(float64(r.eventsBytes)/(1<<10), r.stored, "KiB", 1000)
	}},
	{name: "database per 1,000 participants", val: func(r *result) (float64, string, bool) {
		return perItem(float64(r.fan.participantsBytes)/(1<<10), r.fan.invitees, "KiB", 1000)
	}},
	{name: "fan-out: all mails queued", val: func(r *result) (float64, string, bool) { return dur(r.fan.queued) }},
	{name: "fan-out: all mails sent", val: func(r *result) (float64, string, bool) { return dur(r.fan.sent) }},
	{name: "Update → iMIP mail at the sink p50", val: func(r *result) (float64, string, bool) { return dur(r.fan.mailP50) }},
	{name: "Update → iMIP mail at the sink p99", val: func(r *result) (float64, string, bool) { return dur(r.fan.mailP99) }},
	{name: "Update → new SEQUENCE in an invitee's feed", val: func(r *result) (float64, string, bool) { return dur(r.fan.feedLag) }},
	{name: "update mails received / invitees", val: func(r *result) (float64, string, bool) {
		return float64(r.fan.updates), fmt.Sprintf("%d / %d", r.fan.updates, r.fan.invitees), r.fan.invitees > 0
	}, check: true},
	{name: "mails twice (Message-ID, or an invitee updated twice)", val: func(r *result) (float64, string, bool) { return count(r.fan.twice + r.fan.updTwice) }, check: true},
	{name: "RSVP mail → Join at the remote host p50", val: func(r *result) (float64, string, bool) { return dur(r.fan.rsvpP50) }},
	{name: "RSVP mail → Join at the remote host p99", val: func(r *result) (float64, string, bool) { return dur(r.fan.rsvpP99) }},
	{name: "Joins received / invitees answering", val: func(r *result) (float64, string, bool) {
		return float64(r.fan.joins), fmt.Sprintf("%d / %d", r.fan.joins, r.fan.answering), r.fan.answering > 0
	}, check: true},
	{name: "Joins lost / twice / signature refused", val: func(r *result) (float64, string, bool) {
		return float64(r.fan.joinsLost + r.fan.joinsTwice + r.fan.unsigned), fmt.Sprintf("%d / %d / %d", r.fan.joinsLost, r.fan.joinsTwice, r.fan.unsigned), r.fan.answering > 0
	}, check: true},
	{name: "\"you're in\" after the Accept / mail receive failed", val: func(r *result) (float64, string, bool) {
		return float64(r.fan.confirmed), fmt.Sprintf("%d / %d", r.fan.confirmed, r.fan.receiveFailed), r.fan.answering > 0
	}, check: true},
	{name: "CPU per RSVP (serve + PostgreSQL, fan-out sending included)", val: func(r *result) (float64, string, bool) { return cpuPer(r.fan.rsvpCPU, r.fan.joins) }},
	{name: "CPU per RSVP of `mail receive`", val: func(r *result) (float64, string, bool) {
		return perItem(float64(r.fan.receiveCPU)/float64(time.Millisecond), r.fan.joins, "ms", 1)
	}},
	{name: "large calendar: seeded in", val: func(r *result) (float64, string, bool) { return dur(r.large.seedWall) }},
	{name: "large calendar: CalDAV sync p50", val: func(r *result) (float64, string, bool) { return dur(r.large.syncP50) }},
	{name: "large calendar: CalDAV sync p99", val: func(r *result) (float64, string, bool) { return dur(r.large.syncP99) }},
	{name: "large calendar: feed p50", val: func(r *result) (float64, string, bool) { return dur(r.large.feedP50) }},
	{name: "large calendar: feed p99", val: func(r *result) (float64, string, bool) { return dur(r.large.feedP99) }},
	{name: "large calendar: first full sync or feed p50", val: func(r *result) (float64, string, bool) { return dur(r.large.firstP50) }},
	{name: "large calendar: first full sync or feed p99", val: func(r *result) (float64, string, bool) { return dur(r.large.firstP99) }},
	{name: "large calendar: syncs / feed polls / failed", val: func(r *result) (float64, string, bool) {
		return float64(r.large.syncs), fmt.Sprintf("%d / %d / %d", r.large.syncs, r.large.feeds, r.large.failed), r.large.events > 0
	}, check: true},
	{name: "queues max: deliveries / mails / inbox", val: func(r *result) (float64, string, bool) {
		var m queueSample
		for _, q := range r.queues {
			m.deliveries, m.mails, m.inbox = max(m.deliveries, q.deliveries), max(m.mails, q.mails), max(m.inbox, q.inbox)
		}
		return float64(m.mails), fmt.Sprintf("%d / %d / %d", m.deliveries, m.mails, m.inbox), true
	}},
	{name: "VmHWM per replica (MiB)", val: func(r *result) (float64, string, bool) {
		var ks []string
		var top int64
		for _, k := range r.rss {
			ks = append(ks, strconv.FormatInt(k/1024, 10))
			top = max(top, k)
		}
		return float64(top), strings.Join(ks, ", "), len(ks) > 0
	}},
	{name: "database", val: func(r *result) (float64, string, bool) {
		v := float64(r.dbBytes) / (1 << 20)
		return v, fmt.Sprintf("%.1f MiB", v), true
	}},
}

// printTable prints one column per run and one row per figure; a
// PostgreSQL run of several replicas shows each figure's ratio to the run
// of one.
func printTable(cfg config, runs []*result) {
	fmt.Printf("\n%d signed Creates from %d groups on %d hosts, %d senders; %d calendar clients syncing every 200 ms",
		cfg.activities, cfg.hosts*cfg.groups, cfg.hosts, cfg.senders, cfg.clients)
	if cfg.fanout > 0 {
		fmt.Printf("; an Update fanned out to %d invitees, %d of them answering by mail", cfg.fanout, cfg.rsvp)
	}
	if cfg.scale > 0 {
		fmt.Printf("; a large calendar of %d events, %d clients for %s", cfg.scale, cfg.scaleClients, cfg.scaleFor)
	}
	if cfg.replicaCPU > 0 {
		fmt.Printf("; each replica held to %g of a core", cfg.replicaCPU)
	}
	fmt.Print("\n\n| figure |")
	var one *result
	for _, r := range runs {
		fmt.Printf(" %s ×%d |", r.backend, r.replicas)
		if r.backend == "postgres" && r.replicas == 1 {
			one = r
		}
	}
	fmt.Print("\n|---|" + strings.Repeat("---|", len(runs)) + "\n")
	for _, rw := range rows {
		cells := make([]string, len(runs))
		any := false
		for i, r := range runs {
			v, text, ok := rw.val(r)
			if !ok {
				continue
			}
			any = true
			cells[i] = text
			if !rw.check && one != nil && r.backend == "postgres" && r.replicas > 1 {
				if v1, _, ok1 := rw.val(one); ok1 && v1 != 0 {
					cells[i] += fmt.Sprintf(" (%.2f×)", v/v1)
				}
			}
		}
		if any {
			fmt.Printf("| %s | %s |\n", rw.name, strings.Join(cells, " | "))
		}
	}
	fmt.Println("\nQueue depth every second (deliveries/mails/inbox activities):")
	for _, r := range runs {
		fmt.Printf("  %s ×%d: %s\n", r.backend, r.replicas, queueSeries(r.queues, 12))
		if r.refused > 0 {
			fmt.Printf("  (%s ×%d: %d Creates were refused or failed)\n", r.backend, r.replicas, r.refused)
		}
	}
}
