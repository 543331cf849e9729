package federation

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"codeberg.org/passerelle/passerelle/bridges"
	"codeberg.org/passerelle/passerelle/federation/outbox"
	"codeberg.org/passerelle/passerelle/internal/fedipeertest"
	"codeberg.org/passerelle/passerelle/internal/storetest"
	"codeberg.org/passerelle/passerelle/store"
)

// eraseParticipant does what `participant erase` does through federation:
// a Join (earlier), a Leave and the Delete of the actor, queued in one
// transaction with the outbox.EraseActorJob; it returns that job's arguments.
func eraseParticipant(t *testing.T, h *harness, p *bridges.Participant, ev *bridges.StoredEvent) outbox.EraseActorJob {
	t.Helper()
	ctx := context.Background()
	if err := h.db.Tx(ctx, func(ctx context.Context, tx *store.Tx) error {
		if _, err := h.svc.Join(ctx, tx, p, ev); err != nil {
			return err
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := h.db.Tx(ctx, func(ctx context.Context, tx *store.Tx) error {
		if err := h.svc.Leave(ctx, tx, p, ev, "join"); err != nil {
			return err
		}
		return h.svc.Forget(ctx, tx, p, []string{ev.OrganizerURL})
	}); err != nil {
		t.Fatal(err)
	}
	args := "args"
	if h.db.Backend() == store.SQLite {
		args = "json(args)" // riversqlite stores JSONB
	}
	rows, err := storetest.Query(h.db, `SELECT `+args+` FROM river_job WHERE kind = ?`, outbox.EraseActorJob{}.Kind())
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var args []byte
		var job outbox.EraseActorJob
		if err := rows.Scan(&args); err != nil {
			t.Fatal(err)
		}
		if json.Unmarshal(args, &job) == nil && job.ActorID == p.ActorID {
			return job
		}
	}
	t.Fatalf("erase enqueued no %s job for actor %d", outbox.EraseActorJob{}.Kind(), p.ActorID)
	return outbox.EraseActorJob{}
}

// runPending makes one attempt at every pending delivery.
func runPending(t *testing.T, h *harness) {
	t.Helper()
	ctx := context.Background()
	rows, err := storetest.Query(h.db, `SELECT id FROM deliveries WHERE state = ?`, store.DeliveryPending)
	if err != nil {
		t.Fatal(err)
	}
	var ids []int64
	for rows.Next() {
		var id int64
		rows.Scan(&id)
		ids = append(ids, id)
	}
	rows.Close()
	for _, id := range ids {
		if _, err := h.svc.RunDelivery(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
}

// TestEraseActorAfterDeliveries: the erased participant's actor stays
// served while its Leave and Delete are retrying (their recipients verify
// them with its key), and goes — row and key — once they are delivered:
// then its URL answers 410 with a Tombstone, its inbox 410, WebFinger 404.
// The wait is bounded, and the instance actor is never removed. On both
// backends (River's args are JSONB on SQLite, the schema is 0008's).
func TestEraseActorAfterDeliveries(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		testEraseActorAfterDeliveries(t, newHarnessOn(t, db, Options{}, false))
	})
}

func testEraseActorAfterDeliveries(t *testing.T, h *harness) {
	r := newRemote(t)
	org := r.addActor("org", "Group", testKey(t, 0))
	r.setDoc("/inbox", nil, http.StatusServiceUnavailable)
	ctx := context.Background()
	ev := &bridges.StoredEvent{Event: bridges.Event{APID: r.url("/events/1"), OrganizerURL: org}}

	p := &bridges.Participant{ID: 1, Address: "ana@example.org"}
	job := eraseParticipant(t, h, p, ev)
	if d := time.Until(job.GiveUpAt); d < 6*24*time.Hour || d > 8*24*time.Hour {
		t.Errorf("the wait is bounded at %s from now, want about 7 days", d)
	}
	a, err := h.db.LocalActorByID(ctx, p.ActorID)
	if err != nil {
		t.Fatal(err)
	}
	actorURL := h.svc.ActorURL(a.Username)
	host := strings.TrimPrefix(h.srv.URL, "http://")

	// The organiser's server is down: the deliveries retry, the actor stays.
	runPending(t, h)
	if n, err := h.svc.RunEraseActor(ctx, job); err != nil || n != 3 {
		t.Fatalf("check while retrying: %d pending, %v; want 3 (Join, Leave, Delete)", n, err)
	}
	if code, doc, _ := getJSON(t, actorURL, contentTypeActivity); code != 200 || doc["type"] != "Person" {
		t.Fatalf("actor while its deliveries retry: %d %v", code, doc)
	}

	// It is back: everything is delivered, and the next check removes the actor.
	r.setDoc("/inbox", nil, 0)
	runPending(t, h)
	if n, err := h.svc.RunEraseActor(ctx, job); err != nil || n != 0 {
		t.Fatalf("check after delivery: %d pending, %v", n, err)
	}
	if _, err := h.db.LocalActorByID(ctx, p.ActorID); !errors.Is(err, bridges.ErrNotFound) {
		t.Errorf("actor row after removal: %v", err)
	}
	var keys int
	storetest.QueryRow(h.db, `SELECT COUNT(*) FROM local_actors WHERE public_key_pem = ?`, a.PublicKeyPEM).Scan(&keys)
	if keys != 0 {
		t.Errorf("the erased actor's key is still stored")
	}
	code, doc, body := getJSON(t, actorURL, contentTypeActivity)
	if code != http.StatusGone || doc["type"] != "Tombstone" || doc["id"] != actorURL || doc["formerType"] != "Person" || doc["deleted"] == nil {
		t.Errorf("erased actor: %d %s", code, body)
	}
	if _, err := time.Parse(time.RFC3339, doc["deleted"].(string)); err != nil {
		t.Errorf("Tombstone deleted %v: %v", doc["deleted"], err)
	}
	if strings.Contains(body, "ana") {
		t.Errorf("the Tombstone says something of the person: %s", body)
	}
	if code, _, _ := getJSON(t, actorURL+"/outbox", contentTypeActivity); code != http.StatusGone {
		t.Errorf("erased actor's outbox: %d", code)
	}
	resp := r.post(actorURL+"/inbox", org, map[string]any{"id": org + "#x", "type": "Follow", "actor": org, "object": actorURL}, nil)
	if resp.StatusCode != http.StatusGone {
		t.Errorf("erased actor's inbox: %d, want 410", resp.StatusCode)
	}
	for _, res := range []string{"acct:" + a.Username + "@" + host, actorURL} {
		if code, _, _ := getJSON(t, h.srv.URL+"/.well-known/webfinger?resource="+res, ""); code != 404 {
			t.Errorf("webfinger %s of an erased actor: %d", res, code)
		}
	}
	if code, _, _ := getJSON(t, h.svc.ActorURL("p-never-was"), contentTypeActivity); code != 404 {
		t.Errorf("an actor that never was: %d, want 404", code)
	}
	// A second check (a job run twice) changes nothing.
	if n, err := h.svc.RunEraseActor(ctx, job); err != nil || n != 0 {
		t.Errorf("second check: %d, %v", n, err)
	}

	// Bounded: past GiveUpAt the actor goes even with deliveries pending,
	// and those are marked failed (nothing can sign them any more).
	r.setDoc("/inbox", nil, http.StatusServiceUnavailable)
	p2 := &bridges.Participant{ID: 2, Address: "bo@example.org"}
	job2 := eraseParticipant(t, h, p2, ev)
	if n, err := h.svc.RunEraseActor(ctx, job2); err != nil || n != 3 {
		t.Fatalf("second participant: %d pending, %v", n, err)
	}
	job2.GiveUpAt = time.Now().Add(-time.Second)
	if n, err := h.svc.RunEraseActor(ctx, job2); err != nil || n != 0 {
		t.Fatalf("past the bound: %d pending, %v", n, err)
	}
	if _, err := h.db.LocalActorByID(ctx, p2.ActorID); !errors.Is(err, bridges.ErrNotFound) {
		t.Errorf("actor past the bound: %v", err)
	}
	if n, _ := h.db.PendingDeliveriesFrom(ctx, p2.ActorID); n != 0 {
		t.Errorf("%d deliveries of the removed actor still pending", n)
	}

	// Never the instance actor.
	inst, err := h.svc.InstanceActor(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.svc.RunEraseActor(ctx, outbox.EraseActorJob{ActorID: inst.ID}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.db.LocalActorByID(ctx, inst.ID); err != nil {
		t.Errorf("instance actor after an erase job named it: %v", err)
	}
}

// TestEraseActorByJobs: with serve's workers, the job enqueued by the
// erase waits for the deliveries and removes the actor by itself.
func TestEraseActorByJobs(t *testing.T) {
	h := newHarness(t, Options{EraseCheckInterval: 50 * time.Millisecond})
	r := newRemote(t)
	org := r.addActor("org", "Group", testKey(t, 0))
	ev := &bridges.StoredEvent{Event: bridges.Event{APID: r.url("/events/1"), OrganizerURL: org}}
	p := &bridges.Participant{ID: 1, Address: "ana@example.org"}
	eraseParticipant(t, h, p, ev)
	a, err := h.db.LocalActorByID(context.Background(), p.ActorID)
	if err != nil {
		t.Fatal(err)
	}
	// The erase job re-checks with a doubling interval while deliveries
	// (each verified by fetching the actor) go out: allow for -race.
	eventuallyWithin(t, time.Minute, "the erased actor's URL to answer 410", func() bool {
		code, _, _ := getJSON(t, h.svc.ActorURL(a.Username), contentTypeActivity)
		return code == http.StatusGone
	})
	var deleteSeen bool
	for _, b := range r.posts() {
		deleteSeen = deleteSeen || strings.Contains(string(b), `"type":"Delete"`)
	}
	if !deleteSeen {
		t.Error("the actor was removed before its Delete was delivered")
	}
}

// TestFedifyEraseActor: against the Fedify peer shaped as Mobilizon, which
// verifies every signature by fetching the sender's actor unsigned, the
// erased participant's Leave and Delete are verified — the actor is still
// served while they are sent — and only then does the actor answer 410.
func TestFedifyEraseActor(t *testing.T) {
	peer := fedipeertest.Start(t, fedipeertest.Mobilizon)
	h := newHarness(t, Options{EraseCheckInterval: 50 * time.Millisecond})
	free := peer.CreateEvent(t, fedipeertest.Event{Name: "Libre", StartTime: future(30 * time.Hour), Silent: true})
	p := &bridges.Participant{ID: 1, Address: "ana@example.org"}
	eraseParticipant(t, h, p, participantEvent(peer, free))
	a, err := h.db.LocalActorByID(context.Background(), p.ActorID)
	if err != nil {
		t.Fatal(err)
	}
	me := h.svc.ActorURL(a.Username)
	// The erase job re-checks with a doubling interval while deliveries
	// (each verified by fetching the actor) go out: allow for -race.
	eventuallyWithin(t, time.Minute, "the erased actor's URL to answer 410", func() bool {
		code, _, _ := getJSON(t, me, contentTypeActivity)
		return code == http.StatusGone
	})
	seen := map[string]bool{}
	for _, r := range peer.Received(t) {
		if r.Activity["actor"] != me {
			continue
		}
		typ, _ := r.Activity["type"].(string)
		seen[typ] = true
		if !r.Verified {
			t.Errorf("Fedify could not verify the erased participant's %s (HTTP %d): the actor went too early", typ, r.Status)
		}
	}
	for _, typ := range []string{"Join", "Leave", "Delete"} {
		if !seen[typ] {
			t.Errorf("the peer received no %s from the participant before the actor went", typ)
		}
	}
}
