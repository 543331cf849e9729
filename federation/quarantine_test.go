package federation

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"codeberg.org/passerelle/passerelle/bridges"
	"codeberg.org/passerelle/passerelle/internal/storetest"
	"codeberg.org/passerelle/passerelle/store"
)

// A poison activity (here an Announce whose object's origin does not
// answer in time, then fails) holds up nothing: its batch is stored
// around it, it is retried alone, and after its last attempt it is
// recorded as rejected with the reason. Before, it failed the whole job,
// which was retried ten times with every activity after it unstored.
func TestInboxPoisonQuarantined(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) { testInboxPoisonQuarantined(t, newHarnessOn(t, db, Options{}, false)) })
}

func testInboxPoisonQuarantined(t *testing.T, h *harness) {
	ctx := context.Background()
	r := newRemote(t)
	group := r.addActor("mygroup", "Group", testKey(t, 0))
	h.addSource(group, bridges.SourceFollowed)
	inbox := h.srv.URL + "/inbox"

	first := eventObject(r, "e1", group, group, "2025-04-01T10:00:00Z", "CONFIRMED", false)
	last := eventObject(r, "e2", group, group, "2025-04-01T10:00:00Z", "CONFIRMED", false)
	slowObj := eventObject(r, "e3", group, group, "2025-04-01T10:00:00Z", "CONFIRMED", false)
	slowID := slowObj["id"].(string)
	slowPath := strings.TrimPrefix(slowID, r.url(""))
	r.setDoc(slowPath, slowObj, 0)
	r.setSlow(slowPath, inboxActivityTimeout+4*time.Second)
	announce := map[string]any{"id": r.url("/announces/slow"), "type": "Announce", "actor": group, "object": slowID}
	for _, act := range []map[string]any{
		{"id": first["id"].(string) + "/activity", "type": "Create", "actor": group, "object": first},
		announce,
		{"id": last["id"].(string) + "/activity", "type": "Create", "actor": group, "object": last},
	} {
		if resp := r.post(inbox, group, act, nil); resp.StatusCode != http.StatusAccepted {
			t.Fatalf("%s: HTTP %d", act["type"], resp.StatusCode)
		}
	}
	var batch int64
	if err := storetest.QueryRow(h.db, `SELECT MIN(job_id) FROM inbox_pending`).Scan(&batch); err != nil {
		t.Fatal(err)
	}
	var jobs int
	if err := storetest.QueryRow(h.db, `SELECT COUNT(DISTINCT job_id) FROM inbox_pending`).Scan(&jobs); err != nil || jobs != 1 {
		t.Fatalf("the three activities are in %d jobs (%v), want one batch", jobs, err)
	}

	start := time.Now()
	if err := h.svc.ProcessBatch(ctx, batch); err != nil {
		t.Fatalf("the batch failed: %v (its other activities would wait for its retries)", err)
	}
	if took := time.Since(start); took > inboxActivityTimeout+3*time.Second {
		t.Errorf("the batch took %s: the slow activity was not cut at %s", took, inboxActivityTimeout)
	}
	for _, obj := range []map[string]any{first, last} {
		if h.event(obj["id"].(string)) == nil {
			t.Errorf("%s, batched with the poison, was not stored", obj["id"])
		}
	}
	var solo int64
	var kind string
	var maxAttempts int
	err := storetest.QueryRow(h.db, `SELECT p.job_id, j.kind, j.max_attempts FROM inbox_pending p JOIN river_job j ON j.id = p.job_id`).Scan(&solo, &kind, &maxAttempts)
	if err != nil || kind != (InboxSoloJob{}).Kind() || maxAttempts != inboxSoloAttempts {
		t.Fatalf("the poison's pending row: job %d kind %q max attempts %d (%v), want a %s job of %d attempts",
			solo, kind, maxAttempts, err, InboxSoloJob{}.Kind(), inboxSoloAttempts)
	}

	// Alone, it fails its attempts (now quickly: its origin answers 503)…
	r.setSlow(slowPath, 0)
	r.setDoc(slowPath, slowObj, http.StatusServiceUnavailable)
	if err := h.svc.processBatch(ctx, batchRun{jobID: solo, solo: true}); err == nil {
		t.Fatal("a failed solo attempt succeeded: River would not retry it")
	}
	// …and on the last one it is rejected, with its reason, and leaves the queue.
	if err := h.svc.processBatch(ctx, batchRun{jobID: solo, solo: true, last: true}); err != nil {
		t.Fatalf("the last attempt: %v", err)
	}
	rejected, total, err := h.db.RejectedInboxActivities(ctx, 10)
	if err != nil || total != 1 || len(rejected) != 1 {
		t.Fatalf("rejected %+v (%d in all, %v), want the Announce", rejected, total, err)
	}
	if got := rejected[0]; got.ActivityID != announce["id"] || got.Signer != group || !strings.Contains(got.Reason, "503") || len(got.Body) == 0 {
		t.Errorf("rejected %s from %s: %q, want the Announce from the group with the 503", got.ActivityID, got.Signer, got.Reason)
	}
	var pending int
	if err := storetest.QueryRow(h.db, `SELECT COUNT(*) FROM inbox_pending`).Scan(&pending); err != nil || pending != 0 {
		t.Errorf("%d activities still pending (%v)", pending, err)
	}
}
