package main

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"codeberg.org/passerelle/passerelle/bridges"
	"codeberg.org/passerelle/passerelle/federation/signing"
	"codeberg.org/passerelle/passerelle/internal/binarytest"
	"codeberg.org/passerelle/passerelle/internal/storetest"
	"codeberg.org/passerelle/passerelle/store"
)

// TestKillMidBurst is the fault run of issue 13: a signed burst of Creates
// from a followed group, and kill -9 of the server in its middle. Every
// activity answered 202 must be stored within a minute, exactly once: on
// SQLite after a restart, on PostgreSQL by the surviving replica without
// one. River used to give a job left running by the dead process back
// only after an hour and five minutes.
func TestKillMidBurst(t *testing.T) {
	for _, backend := range []string{store.SQLite, store.Postgres} {
		t.Run(backend, func(t *testing.T) { testKillMidBurst(t, backend) })
	}
}

// burstPeer is a group on its own loopback host that signs what it sends
// with a real RSA key, served at its actor document.
type burstPeer struct {
	srv    *http.Server
	base   string
	actor  string
	signer *signing.RequestSigner
}

func startBurstPeer(t *testing.T) *burstPeer {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.6:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &burstPeer{base: "http://" + ln.Addr().String()}
	p.actor = p.base + "/@burst"
	p.signer = &signing.RequestSigner{KeyID: p.actor + "#main-key", Key: key}
	der, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	actor, _ := json.Marshal(map[string]any{
		"@context": []string{"https://www.w3.org/ns/activitystreams", "https://w3id.org/security/v1"},
		"id":       p.actor, "type": "Group", "preferredUsername": "burst", "name": "Burst", "inbox": p.actor + "/inbox",
		"publicKey": map[string]any{"id": p.actor + "#main-key", "owner": p.actor,
			"publicKeyPem": string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))},
	})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /@burst", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/activity+json")
		w.Write(actor)
	})
	// Each event names an organiser of its own, whose actor passerelle's
	// inbox job fetches for the name: 20 ms each keeps the jobs busy
	// through the burst, so that the kill finds one with work left.
	mux.HandleFunc("GET /people/{n}", func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(20 * time.Millisecond)
		w.Header().Set("Content-Type", "application/activity+json")
		json.NewEncoder(w).Encode(map[string]any{"id": p.base + r.URL.Path, "type": "Person", "name": "Organiser " + r.PathValue("n"),
			"preferredUsername": "p" + r.PathValue("n"), "inbox": p.base + r.URL.Path + "/inbox"})
	})
	mux.HandleFunc("POST /@burst/inbox", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusAccepted) })
	p.srv = &http.Server{Handler: mux}
	go p.srv.Serve(ln)
	t.Cleanup(func() { p.srv.Close() })
	return p
}

// create sends the Create of event n to public_url's inbox through the
// replica at addr (as a load balancer does, keeping the Host signed); it
// reports whether the server answered 202.
func (p *burstPeer) create(client *http.Client, public, addr string, n int) bool {
	start := time.Now().Add(96 * time.Hour).UTC().Truncate(time.Minute).Add(time.Duration(n) * time.Minute)
	id := fmt.Sprintf("%s/events/%d", p.base, n)
	body, _ := json.Marshal(map[string]any{
		"@context": "https://www.w3.org/ns/activitystreams",
		"id":       id + "/activity", "type": "Create", "actor": p.actor,
		"to": []string{"https://www.w3.org/ns/activitystreams#Public"},
		"object": map[string]any{"id": id, "type": "Event", "name": fmt.Sprintf("Atelier %d", n), "attributedTo": fmt.Sprintf("%s/people/%d", p.base, n),
			"startTime": start.Format(time.RFC3339), "endTime": start.Add(time.Hour).Format(time.RFC3339),
			"to": []string{"https://www.w3.org/ns/activitystreams#Public"}},
	})
	req, _ := http.NewRequest(http.MethodPost, public+"/inbox", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/activity+json")
	if err := p.signer.Sign(req, body); err != nil {
		return false
	}
	req.URL.Host = addr
	resp, err := client.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusAccepted
}

func testKillMidBurst(t *testing.T, backend string) {
	const total, senders = 600, 8
	dbURL := storetest.URL(t, backend)
	db := storetest.Open(t, dbURL)
	peer := startBurstPeer(t)
	src := &bridges.Source{Slug: "burst", ActorURL: peer.actor, Software: "generic", State: bridges.SourceFollowed}
	storetest.SaveSources(t, db, src)

	replicas := 1
	if backend == store.Postgres {
		replicas = 2
	}
	public := "http://" + binarytest.FreeAddr(t, "127.0.0.1")
	env := []string{"PASSERELLE_DATABASE_URL=" + dbURL, "PASSERELLE_PUBLIC_URL=" + public, "PASSERELLE_FEDERATION_ALLOW_PRIVATE_NETWORKS=true"}
	dir := t.TempDir()
	addrs := make([]string, replicas)
	procs := make([]*binarytest.Process, replicas)
	for i := range addrs {
		addrs[i] = binarytest.FreeAddr(t, "127.0.0.1")
		procs[i] = binarytest.Start(t, dir, addrs[i], env)
	}

	// The burst: senders share the events; request n goes to replica n%replicas.
	var next, answered atomic.Int64
	accepted := make([]bool, total)
	var mu sync.Mutex
	killed := make(chan struct{})
	var once sync.Once
	var wg sync.WaitGroup
	client := &http.Client{Timeout: 10 * time.Second}
	for range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				n := int(next.Add(1)) - 1
				if n >= total {
					return
				}
				ok := peer.create(client, public, addrs[n%replicas], n)
				if ok {
					mu.Lock()
					accepted[n] = true
					mu.Unlock()
					answered.Add(1)
				}
			}
		}()
	}
	// The kill: once a third is answered, while replica 0 runs an inbox
	// job (what a crash leaves behind as "running").
	go func() {
		for answered.Load() < total/3 {
			time.Sleep(5 * time.Millisecond)
		}
		for range 1000 {
			var running int
			if storetest.QueryRow(db, `SELECT COUNT(*) FROM river_job WHERE state = 'running' AND kind = 'federation.inbox'`).Scan(&running) == nil && running > 0 {
				break
			}
			time.Sleep(2 * time.Millisecond)
		}
		once.Do(func() { procs[0].Kill(); close(killed) })
	}()
	wg.Wait()
	select {
	case <-killed:
	default:
		t.Fatalf("only %d of %d Creates were answered 202 before the kill", answered.Load(), total)
	}
	t0 := time.Now()
	if backend == store.SQLite {
		procs[0] = binarytest.Start(t, dir, addrs[0], env)
	}
	want := 0
	for _, a := range accepted {
		if a {
			want++
		}
	}
	// Every accepted activity stored, each once; a minute and a half bounds
	// the wait on a loaded CI machine, the figure is logged.
	var stored, distinct int
	deadline := t0.Add(90 * time.Second)
	for {
		if err := storetest.QueryRow(db, `SELECT COUNT(*), COUNT(DISTINCT ap_id) FROM events WHERE source_id = ?`, src.ID).Scan(&stored, &distinct); err != nil {
			t.Fatal(err)
		}
		missing := 0
		for n, a := range accepted {
			if !a {
				continue
			}
			var one int
			if err := storetest.QueryRow(db, `SELECT 1 FROM events WHERE ap_id = ?`, fmt.Sprintf("%s/events/%d", peer.base, n)).Scan(&one); err != nil {
				missing++
			}
		}
		if missing == 0 {
			break
		}
		if time.Now().After(deadline) {
			var pending int
			_ = storetest.QueryRow(db, `SELECT COUNT(*) FROM inbox_pending`).Scan(&pending)
			t.Fatalf("%s after the kill, %d of the %d Creates answered 202 are not stored (%d pending in the inbox)",
				time.Since(t0).Round(time.Second), missing, want, pending)
		}
		time.Sleep(250 * time.Millisecond)
	}
	if stored != distinct {
		t.Errorf("%d event rows for %d events: some stored twice", stored, distinct)
	}
	how := "after the restart"
	if backend == store.Postgres {
		how = "by the surviving replica, without a restart"
	}
	t.Logf("%s: %d of %d Creates answered 202 before or after the kill -9 of a replica mid-burst; all stored %s within %s", backend, want, total, how, time.Since(t0).Round(100*time.Millisecond))
}
