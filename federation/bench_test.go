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
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"passerelle/bridges"
	"passerelle/ical"
)

// verifyCost measures one bare RSA-2048 PKCS#1 v1.5 SHA-256 verification
// (what any inbox must pay per request) in this run, once per binary: the
// inbox figures are reported as ratios to it. (testing.Benchmark cannot
// be nested in a benchmark, hence the plain loop.)
var verifyCost = sync.OnceValue(func() float64 {
	key := testKey(nil, 3)
	msg := sha256.Sum256([]byte("(request-target): post /inbox\nhost: example.org\ndate: x\ndigest: y"))
	sig, _ := rsa.SignPKCS1v15(nil, key, crypto.SHA256, msg[:])
	const n = 3000
	start := time.Now()
	for range n {
		if err := rsa.VerifyPKCS1v15(&key.PublicKey, crypto.SHA256, msg[:], sig); err != nil {
			panic(err)
		}
	}
	return float64(time.Since(start).Nanoseconds()) / n
})

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

func BenchmarkInbox(b *testing.B) {
	verify := verifyCost()
	for _, stage := range []string{"accept", "store"} {
		b.Run(stage, func(b *testing.B) {
			h := benchHarness(b, stage == "store")
			r := newRemote(b)
			group := r.addActor("g", "Group", testKey(b, 0))
			h.addSource(group, bridges.SourceFollowed)
			mux := http.NewServeMux()
			h.svc.Mount(mux)
			start := time.Now().Add(48 * time.Hour).UTC().Truncate(time.Second)
			mk := func(i int) (*http.Request, []byte) {
				obj := map[string]any{"id": r.url(fmt.Sprintf("/events/b%d", i)), "type": "Event", "name": fmt.Sprintf("Event %d", i),
					"startTime": start.Format(time.RFC3339), "endTime": start.Add(time.Hour).Format(time.RFC3339), "timezone": "Europe/Paris",
					"updated": "2025-04-01T10:00:00Z", "attributedTo": group}
				body, _ := json.Marshal(map[string]any{"id": obj["id"].(string) + "/activity", "type": "Create", "actor": group, "object": obj})
				req := httptest.NewRequest(http.MethodPost, h.srv.URL+"/inbox", bytes.NewReader(body))
				req.Header.Set("Content-Type", contentTypeActivity)
				if err := (&RequestSigner{KeyID: group + "#main-key", Key: testKey(b, 0)}).Sign(req, body); err != nil {
					b.Fatal(err)
				}
				return req, body
			}
			// Warm the key cache.
			warm, _ := mk(-1)
			w := httptest.NewRecorder()
			mux.ServeHTTP(w, warm)
			if w.Code != http.StatusAccepted {
				b.Fatalf("warm-up: %d %s", w.Code, w.Body)
			}
			reqs := make([]*http.Request, b.N)
			bodies := make([][]byte, b.N)
			for i := range reqs {
				reqs[i], bodies[i] = mk(i)
			}
			b.ResetTimer()
			if stage == "accept" {
				// Peers deliver concurrently: many requests in flight.
				var next atomic.Int64
				b.SetParallelism(8)
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						i := next.Add(1) - 1
						w := httptest.NewRecorder()
						mux.ServeHTTP(w, reqs[i])
						if w.Code != http.StatusAccepted {
							b.Errorf("HTTP %d: %s", w.Code, w.Body)
							return
						}
					}
				})
			} else {
				for i := range b.N {
					w := httptest.NewRecorder()
					mux.ServeHTTP(w, reqs[i])
					if w.Code != http.StatusAccepted {
						b.Fatalf("HTTP %d: %s", w.Code, w.Body)
					}
					if err := h.svc.Process(context.Background(), bodies[i], group); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.StopTimer()
			if stage == "accept" {
				var rows, queued int
				err := h.db.QueryRow(context.Background(), `SELECT COUNT(*) FROM inbox_activities`).Scan(&rows)
				if err == nil {
					err = h.db.QueryRow(context.Background(), `SELECT COALESCE(SUM(json_array_length(args, '$.activities')), 0) FROM river_job WHERE kind = ?`, InboxJob{}.Kind()).Scan(&queued)
				}
				if err != nil || rows != b.N+1 || queued != b.N+1 {
					b.Fatalf("%d activities recorded, %d queued, for %d requests: %v", rows, queued, b.N+1, err)
				}
				var batches int
				if err := h.db.QueryRow(context.Background(), `SELECT COUNT(*) FROM river_job WHERE kind = ?`, InboxJob{}.Kind()).Scan(&batches); err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(float64(b.N+1)/float64(batches), "activities/commit")
			}
			perOp := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
			b.ReportMetric(verify/perOp, "x-verify-throughput")
			b.ReportMetric(perOp/verify, "verify-costs")
			if stage == "store" {
				if ev := h.event(r.url(fmt.Sprintf("/events/b%d", b.N-1))); ev == nil || len(ev.Calendar) == 0 {
					b.Fatal("the last event was not stored and rendered")
				}
			}
		})
	}
}

// benchHarness is newHarness without job workers (the benchmark runs the
// job's work itself, to time it) and, for the store stage, with the real
// iCalendar renderer.
func benchHarness(b *testing.B, render bool) *harness {
	h := newHarnessJobs(b, Options{}, false)
	if render {
		h.svc.events.Renderer = &ical.Renderer{}
	}
	return h
}
