package federation

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"codeberg.org/passerelle/passerelle/bridges"
	"codeberg.org/passerelle/passerelle/federation/signing"
	"codeberg.org/passerelle/passerelle/ical"
	"codeberg.org/passerelle/passerelle/internal/storetest"
)

// verifyCost runs bare RSA-2048 PKCS#1 v1.5 SHA-256 verifications (what
// any inbox must pay per request): n of them on each of workers goroutines
// at once. It returns how many ran, the wall time and the CPU time they
// took, in ns. (testing.Benchmark cannot be nested in a benchmark, hence
// the plain loop.)
func verifyCost(workers, n int) (ops int, wall, cpu int64) {
	key := testKey(nil, 3)
	msg := sha256.Sum256([]byte("(request-target): post /inbox\nhost: example.org\ndate: x\ndigest: y"))
	sig, _ := rsa.SignPKCS1v15(nil, key, crypto.SHA256, msg[:])
	start, startCPU := time.Now(), cpuTime()
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range n {
				if err := rsa.VerifyPKCS1v15(&key.PublicKey, crypto.SHA256, msg[:], sig); err != nil {
					panic(err)
				}
			}
		})
	}
	wg.Wait()
	return n * workers, time.Since(start).Nanoseconds(), cpuTime() - startCPU
}

// cpuTime is the CPU time the process has used, user and system, in ns:
// on a shared machine it shows the work done whatever else runs.
func cpuTime() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		panic(err)
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

func BenchmarkRSAVerify(b *testing.B) {
	key := testKey(b, 3)
	msg := sha256.Sum256([]byte("(request-target): post /inbox"))
	sig, _ := rsa.SignPKCS1v15(nil, key, crypto.SHA256, msg[:])
	for b.Loop() {
		if err := rsa.VerifyPKCS1v15(&key.PublicKey, crypto.SHA256, msg[:], sig); err != nil {
			b.Fatal(err)
		}
	}
}

// inboxBench is what both inbox benchmarks start from: a harness whose
// followed group has b.N distinct signed Create{Event} requests ready, and
// the key cache warm.
type inboxBench struct {
	h      *harness
	r      *remote
	group  string
	mux    *http.ServeMux
	reqs   []*http.Request
	bodies [][]byte
}

func newInboxBench(b *testing.B, render bool) *inboxBench {
	h := benchHarness(b, render)
	r := newRemote(b)
	group := r.addActor("g", "Group", testKey(b, 0))
	h.addSource(group, bridges.SourceFollowed)
	ib := &inboxBench{h: h, r: r, group: group, mux: http.NewServeMux()}
	h.svc.Mount(ib.mux)
	start := time.Now().Add(48 * time.Hour).UTC().Truncate(time.Second)
	key := testKey(b, 0)
	mk := func(i int) (*http.Request, []byte, error) {
		obj := map[string]any{"id": r.url(fmt.Sprintf("/events/b%d", i)), "type": "Event", "name": fmt.Sprintf("Event %d", i),
			"startTime": start.Format(time.RFC3339), "endTime": start.Add(time.Hour).Format(time.RFC3339), "timezone": "Europe/Paris",
			"updated": "2025-04-01T10:00:00Z", "attributedTo": group}
		body, _ := json.Marshal(map[string]any{"id": obj["id"].(string) + "/activity", "type": "Create", "actor": group, "object": obj})
		req := httptest.NewRequest(http.MethodPost, h.srv.URL+"/inbox", bytes.NewReader(body))
		req.Header.Set("Content-Type", contentTypeActivity)
		return req, body, (&signing.RequestSigner{KeyID: group + "#main-key", Key: key}).Sign(req, body)
	}
	// Warm the key cache. The timed work carries the profile label
	// phase=timed (the committer goroutine, started by this first request,
	// inherits it), so that `go tool pprof -tagfocus phase=timed` leaves
	// out the signing of the requests.
	warm, _, err := mk(-1)
	if err != nil {
		b.Fatal(err)
	}
	w := httptest.NewRecorder()
	pprof.Do(context.Background(), pprof.Labels("phase", "timed"), func(context.Context) { ib.mux.ServeHTTP(w, warm) })
	if w.Code != http.StatusAccepted {
		b.Fatalf("warm-up: %d %s", w.Code, w.Body)
	}
	// Signing costs far more than verifying: on every core.
	ib.reqs, ib.bodies = make([]*http.Request, b.N), make([][]byte, b.N)
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, runtime.GOMAXPROCS(0))
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < b.N; i = int(next.Add(1) - 1) {
				var err error
				if ib.reqs[i], ib.bodies[i], err = mk(i); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		b.Fatal(err)
	}
	return ib
}

// BenchmarkInbox measures (a) accept: a signed Create{Event} POST → 202
// with its job committed, keys cached, from 16 senders at once; and (b)
// store: the same, then the job's work (replay guard, event stored and
// rendered), one at a time. Both are reported as ratios to bare RSA-2048
// verification measured in the same run (see verifyCost):
// x-verify-throughput compares wall time at the same parallelism,
// x-verify-cpu CPU time per request (what a machine of its own would
// show, as the inbox is CPU-bound), x-verify-1core (accept) the parallel
// inbox against one core verifying, the figure this benchmark first
// reported.
func BenchmarkInbox(b *testing.B) {
	b.Run("accept", benchmarkInboxAccept)
	b.Run("store", benchmarkInboxStore)
}

// benchmarkInboxAccept interleaves ten rounds of verification and of
// inbox requests, so that load from elsewhere on a shared machine, which
// drifts over seconds, weighs on both sides of the ratios alike.
func benchmarkInboxAccept(b *testing.B) {
	ib := newInboxBench(b, false)
	const rounds, senders = 10, 16
	procs := runtime.GOMAXPROCS(0)
	var verOps, oneOps int
	var verWall, verCPU, oneWall, inboxWall, inboxCPU int64
	b.ResetTimer()
	for round := range rounds {
		b.StopTimer()
		ops, wall, cpu := verifyCost(procs, 300)
		verOps, verWall, verCPU = verOps+ops, verWall+wall, verCPU+cpu
		ops, wall, _ = verifyCost(1, 300)
		oneOps, oneWall = oneOps+ops, oneWall+wall
		b.StartTimer()
		// Peers deliver concurrently: many requests in flight.
		lo, hi := b.N*round/rounds, b.N*(round+1)/rounds
		next := atomic.Int64{}
		next.Store(int64(lo))
		start, startCPU := time.Now(), cpuTime()
		var wg sync.WaitGroup
		for range senders {
			wg.Go(func() {
				pprof.SetGoroutineLabels(pprof.WithLabels(context.Background(), pprof.Labels("phase", "timed")))
				for i := int(next.Add(1) - 1); i < hi; i = int(next.Add(1) - 1) {
					w := httptest.NewRecorder()
					ib.mux.ServeHTTP(w, ib.reqs[i])
					if w.Code != http.StatusAccepted {
						b.Errorf("HTTP %d: %s", w.Code, w.Body)
						return
					}
				}
			})
		}
		wg.Wait()
		inboxWall, inboxCPU = inboxWall+time.Since(start).Nanoseconds(), inboxCPU+cpuTime()-startCPU
	}
	b.StopTimer()
	// Every request's activity is recorded for an inbox job, and the jobs
	// are far fewer than the requests.
	var rows, queued, jobs int
	h := ib.h
	err := storetest.QueryRow(h.db, `SELECT COUNT(*) FROM inbox_pending`).Scan(&rows)
	if err == nil {
		err = storetest.QueryRow(h.db, `SELECT COUNT(*) FROM inbox_pending WHERE job_id IN (SELECT id FROM river_job WHERE kind = ?)`, InboxJob{}.Kind()).Scan(&queued)
	}
	if err == nil {
		err = storetest.QueryRow(h.db, `SELECT COUNT(*) FROM river_job WHERE kind = ?`, InboxJob{}.Kind()).Scan(&jobs)
	}
	if err != nil || rows != b.N+1 || queued != b.N+1 || jobs == 0 {
		b.Fatalf("%d activities recorded, %d queued, %d jobs, for %d requests: %v", rows, queued, jobs, b.N+1, err)
	}
	b.ReportMetric(float64(b.N+1)/float64(jobs), "activities/job")
	b.ReportMetric(float64(b.N+1)/float64(h.svc.inbox.commits.Load()), "activities/commit")
	perOp, cpuPerOp := float64(inboxWall)/float64(b.N), float64(inboxCPU)/float64(b.N)
	b.ReportMetric(float64(verWall)/float64(verOps)/perOp, "x-verify-throughput")
	b.ReportMetric(float64(verCPU)/float64(verOps)/cpuPerOp, "x-verify-cpu")
	b.ReportMetric(float64(oneWall)/float64(oneOps)/perOp, "x-verify-1core")
	b.ReportMetric(cpuPerOp/1e3, "cpu-µs/op")
}

// benchmarkInboxStore is one job's work, sequential: verification on one
// core is its yardstick, measured before and after.
func benchmarkInboxStore(b *testing.B) {
	ib := newInboxBench(b, true)
	h := ib.h
	ops, wall, cpu := verifyCost(1, 1500)
	b.ResetTimer()
	startCPU := cpuTime()
	for i := range b.N {
		w := httptest.NewRecorder()
		ib.mux.ServeHTTP(w, ib.reqs[i])
		if w.Code != http.StatusAccepted {
			b.Fatalf("HTTP %d: %s", w.Code, w.Body)
		}
		// The job's work: the replay guard, then the event. (Finding the
		// job's id is a look-up of its own, small against the rest.)
		var job int64
		if err := storetest.QueryRow(h.db, `SELECT job_id FROM inbox_pending ORDER BY id DESC LIMIT 1`).Scan(&job); err != nil {
			b.Fatal(err)
		}
		if err := h.svc.ProcessBatch(context.Background(), job); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	inboxCPU := cpuTime() - startCPU
	ops2, wall2, cpu2 := verifyCost(1, 1500)
	ops, wall, cpu = ops+ops2, wall+wall2, cpu+cpu2
	if ev := h.event(ib.r.url(fmt.Sprintf("/events/b%d", b.N-1))); ev == nil || len(ev.Calendar) == 0 {
		b.Fatal("the last event was not stored and rendered")
	}
	perOp, cpuPerOp := float64(b.Elapsed().Nanoseconds())/float64(b.N), float64(inboxCPU)/float64(b.N)
	b.ReportMetric(float64(wall)/float64(ops)/perOp, "x-verify-throughput")
	b.ReportMetric(float64(cpu)/float64(ops)/cpuPerOp, "x-verify-cpu")
	b.ReportMetric(cpuPerOp/1e3, "cpu-µs/op")
}

// benchHarness is newHarness without job workers (the benchmark runs the
// job's work itself, to time it) and, for the store stage, with the real
// iCalendar renderer.
func benchHarness(b *testing.B, render bool) *harness {
	// On PostgreSQL when PASSERELLE_TEST_POSTGRES names a server.
	db := storetest.New(b)
	if os.Getenv(storetest.PostgresEnv) != "" {
		db = storetest.NewPostgres(b)
	}
	h := newHarnessOn(b, db, Options{}, false)
	if render {
		h.svc.events.Renderer = &ical.Renderer{}
	}
	return h
}
