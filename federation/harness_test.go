package federation

import (
	"bytes"
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"codeberg.org/passerelle/passerelle/bridges"
	"codeberg.org/passerelle/passerelle/bridges/dialects"
	"codeberg.org/passerelle/passerelle/federation/signing"
	"codeberg.org/passerelle/passerelle/internal/storetest"
	"codeberg.org/passerelle/passerelle/internal/wait"
	"codeberg.org/passerelle/passerelle/store"
)

// realDialects are the dialects serve uses (bridges/dialects).
func realDialects() map[string]bridges.Dialect {
	m := map[string]bridges.Dialect{}
	for _, name := range []string{dialects.Mobilizon, dialects.Gancio, dialects.PeerTube, dialects.Generic} {
		m[name] = dialects.For(name, dialects.Options{})
	}
	return m
}

// joinRecorder is a bridges.JoinAnswerListener[*store.Tx] that remembers answers.
type joinRecorder struct {
	mu      sync.Mutex
	answers map[string]bridges.JoinAnswer
}

func (j *joinRecorder) JoinAnswered(_ context.Context, _ *store.Tx, joinID string, a bridges.JoinAnswer) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.answers[joinID] = a
	return nil
}

func (j *joinRecorder) get(id string) bridges.JoinAnswer {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.answers[id]
}

// harness is passerelle's federation side on a loopback server with a
// migrated database and running job workers.
type harness struct {
	t     testing.TB
	db    *store.DB
	svc   *Service
	srv   *httptest.Server
	joins *joinRecorder
}

func newHarness(t *testing.T, opts Options) *harness {
	t.Helper()
	return newHarnessJobs(t, opts, true)
}

// newHarnessJobs is newHarness, with job workers only when jobs is set
// (tests that drive jobs by hand).
func newHarnessJobs(t testing.TB, opts Options, jobs bool) *harness {
	t.Helper()
	return newHarnessOn(t, storetest.New(t), opts, jobs)
}

// newHarnessOn is newHarnessJobs on a given database (PostgreSQL tests).
func newHarnessOn(t testing.TB, db *store.DB, opts Options, jobs bool) *harness {
	t.Helper()
	h := &harness{t: t, db: db, joins: &joinRecorder{answers: map[string]bridges.JoinAnswer{}}}
	mux := http.NewServeMux()
	h.srv = httptest.NewServer(mux)
	t.Cleanup(h.srv.Close)
	opts.PublicURL = h.srv.URL
	opts.AllowPrivateNetworks = true
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if os.Getenv("PASSERELLE_TEST_LOG") != "" {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	svc, err := New(opts, Deps{
		DB:          db,
		Events:      &bridges.Events[*store.Tx]{Store: db, Log: log},
		Dialects:    realDialects(),
		JoinAnswers: h.joins,
		Log:         log,
	})
	if err != nil {
		t.Fatal(err)
	}
	h.svc = svc
	svc.Mount(mux)
	ctx := context.Background()
	if err := svc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if !jobs {
		return h
	}
	workers := river.NewWorkers()
	svc.Register(workers)
	storetest.StartJobs(t, db, store.Jobs{Workers: workers})
	return h
}

// eventually polls cond until it holds or 90 s pass: a bound for a hung
// flow, not a measure (CI runs every package at once under -race on two
// cores, where a Fedify round trip took over 30 s).
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	eventuallyWithin(t, 90*time.Second, what, cond)
}

// eventuallyWithin is eventually with its own bound, for waits that
// include backoffs (slow under -race on a loaded machine).
func eventuallyWithin(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	wait.For(t, within, what, cond)
}

// addSource records a source as already followed.
func (h *harness) addSource(actorURL string, state bridges.SourceState) *bridges.Source {
	h.t.Helper()
	src := &bridges.Source{Slug: "s" + randomID()[:8], ActorURL: actorURL, Software: "generic", State: state, FollowID: h.svc.URL("/follows/" + randomID()), CreatedAt: time.Now()}
	err := h.db.Tx(context.Background(), func(ctx context.Context, tx *store.Tx) error { return tx.SaveSource(ctx, src) })
	if err != nil {
		h.t.Fatal(err)
	}
	return src
}

func (h *harness) event(apID string) *bridges.StoredEvent {
	ev, err := h.db.EventByAPID(context.Background(), apID)
	if errors.Is(err, bridges.ErrNotFound) {
		return nil
	}
	if err != nil {
		h.t.Fatal(err)
	}
	return ev
}

// remote is an ActivityPub server written for the unit tests: actors with
// PKCS#1 keys as Mobilizon publishes them, objects, and a recording inbox.
// The end-to-end tests use the Fedify peer instead.
type remote struct {
	t   testing.TB
	srv *httptest.Server
	mu  sync.Mutex
	// keys by actor name; docs by path; received inbox POSTs.
	keys   map[string]*rsa.PrivateKey
	docs   map[string]any
	status map[string]int
	// slow holds paths answered only after a wait (a tarpit).
	slow     map[string]time.Duration
	received []*http.Request
	bodies   [][]byte
}

var sharedKeys struct {
	once sync.Once
	keys []*rsa.PrivateKey
}

// testKeys are generated once per test binary: RSA-2048 generation is slow.
func testKey(t testing.TB, i int) *rsa.PrivateKey {
	sharedKeys.once.Do(func() {
		for range 4 {
			k, err := signing.ParsePrivateKeyPEM(mustKeyPEM())
			if err != nil {
				panic(err)
			}
			sharedKeys.keys = append(sharedKeys.keys, k)
		}
	})
	return sharedKeys.keys[i]
}

func mustKeyPEM() string {
	p, _, err := signing.GenerateKeyPEM()
	if err != nil {
		panic(err)
	}
	return p
}

func newRemote(t testing.TB) *remote {
	r := &remote{t: t, keys: map[string]*rsa.PrivateKey{}, docs: map[string]any{}, status: map[string]int{}, slow: map[string]time.Duration{}}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *remote) url(path string) string { return r.srv.URL + path }

// addActor publishes an actor whose key is PKCS#1 ("BEGIN RSA PUBLIC KEY").
func (r *remote) addActor(name, typ string, key *rsa.PrivateKey) string {
	id := r.url("/@" + name)
	pemKey := string(pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(&key.PublicKey)}))
	r.mu.Lock()
	defer r.mu.Unlock()
	r.keys[name] = key
	r.docs["/@"+name] = map[string]any{
		"id": id, "type": typ, "preferredUsername": name, "inbox": id + "/inbox", "outbox": id + "/outbox",
		"endpoints": map[string]any{"sharedInbox": r.url("/inbox")},
		"publicKey": map[string]any{"id": id + "#main-key", "owner": id, "publicKeyPem": pemKey},
	}
	return id
}

func (r *remote) setDoc(path string, doc any, status int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.docs[path] = doc
	r.status[path] = status
}

// setSlow makes GETs of path wait d before answering (0: no wait).
func (r *remote) setSlow(path string, d time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.slow[path] = d
}

func (r *remote) serve(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	d := r.slow[req.URL.Path]
	r.mu.Unlock()
	if d > 0 {
		select {
		case <-time.After(d):
		case <-req.Context().Done():
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if req.Method == http.MethodPost {
		b, _ := io.ReadAll(req.Body)
		r.received = append(r.received, req)
		r.bodies = append(r.bodies, b)
		if st := r.status[req.URL.Path]; st != 0 {
			w.Header().Set("Retry-After", "90")
			w.WriteHeader(st)
			return
		}
		w.WriteHeader(http.StatusAccepted)
		return
	}
	doc, ok := r.docs[req.URL.Path]
	if !ok {
		http.NotFound(w, req)
		return
	}
	w.Header().Set("Content-Type", contentTypeActivity)
	if st := r.status[req.URL.Path]; st != 0 {
		w.WriteHeader(st)
	}
	json.NewEncoder(w).Encode(doc)
}

func (r *remote) posts() [][]byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([][]byte(nil), r.bodies...)
}

// post sends a signed activity from one of the remote's actors to target.
func (r *remote) post(target, actor string, activity any, mutate func(*http.Request)) *http.Response {
	r.t.Helper()
	body, err := json.Marshal(activity)
	if err != nil {
		r.t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, target, bytes.NewReader(body))
	req.Header.Set("Content-Type", contentTypeActivity)
	name := strings.TrimPrefix(actor[strings.LastIndex(actor, "/"):], "/@")
	if key := r.keys[name]; key != nil {
		s := &signing.RequestSigner{KeyID: actor + "#main-key", Key: key}
		if err := s.Sign(req, body); err != nil {
			r.t.Fatal(err)
		}
	}
	if mutate != nil {
		mutate(req)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}
