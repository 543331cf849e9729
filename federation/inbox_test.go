package federation

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"codeberg.org/passerelle/passerelle/bridges"
	"codeberg.org/passerelle/passerelle/federation/signing"
	"codeberg.org/passerelle/passerelle/internal/storetest"
	"codeberg.org/passerelle/passerelle/store"
)

func eventObject(r *remote, uuid, group, person, updated, status string, draft bool) map[string]any {
	id := r.url("/events/" + uuid)
	start := time.Now().Add(48 * time.Hour).UTC().Truncate(time.Second)
	return map[string]any{
		"id": id, "type": "Event", "name": "Atelier " + uuid, "actor": person, "attributedTo": group,
		"startTime": start.Format(time.RFC3339), "endTime": start.Add(2 * time.Hour).Format(time.RFC3339),
		"updated": updated, "status": status, "draft": draft,
		"to": []string{"https://www.w3.org/ns/activitystreams#Public"},
	}
}

func TestInboxMobilizonFlow(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) { testInboxMobilizonFlow(t, newHarnessOn(t, db, Options{}, true)) })
}

func testInboxMobilizonFlow(t *testing.T, h *harness) {
	r := newRemote(t)
	group := r.addActor("mygroup", "Group", testKey(t, 0))
	person := r.addActor("alice", "Person", testKey(t, 1))
	h.addSource(group, bridges.SourceFollowed)
	inbox := h.srv.URL + "/inbox"

	// A member Person sends the Create; attributedTo is the group.
	obj := eventObject(r, "e1", group, person, "2025-04-01T10:00:00Z", "CONFIRMED", false)
	create := map[string]any{"id": obj["id"].(string) + "/activity", "type": "Create", "actor": person, "attributedTo": group, "object": obj}
	if resp := r.post(inbox, person, create, nil); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("Create: HTTP %d", resp.StatusCode)
	}
	eventually(t, "the event stored", func() bool { return h.event(obj["id"].(string)) != nil })

	// The group's Announce of the same object stores nothing new.
	ann := map[string]any{"id": r.url("/announces/1"), "type": "Announce", "actor": group, "object": obj}
	if resp := r.post(inbox, group, ann, nil); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("Announce: HTTP %d", resp.StatusCode)
	}

	// An Update reusing the Create's id cancels it.
	upd := eventObject(r, "e1", group, person, "2025-04-02T10:00:00Z", "CANCELLED", false)
	update := map[string]any{"id": create["id"], "type": "Update", "actor": person, "object": upd}
	if resp := r.post(inbox, person, update, nil); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("Update: HTTP %d", resp.StatusCode)
	}
	eventually(t, "the cancellation", func() bool {
		ev := h.event(obj["id"].(string))
		return ev != nil && ev.Status == bridges.StatusCancelled
	})

	// An older copy arriving late changes nothing.
	r.post(inbox, group, map[string]any{"id": r.url("/announces/2"), "type": "Announce", "actor": group, "object": obj}, nil)

	// A draft is federated but never stored.
	draft := eventObject(r, "e2", group, person, "2025-04-01T10:00:00Z", "CONFIRMED", true)
	r.post(inbox, person, map[string]any{"id": draft["id"].(string) + "/activity", "type": "Create", "actor": person, "object": draft}, nil)

	// Delete with a Tombstone from the deleting Person.
	del := map[string]any{"id": obj["id"].(string) + "/delete", "type": "Delete", "actor": person,
		"object": map[string]any{"type": "Tombstone", "formerType": "Event", "id": obj["id"], "deleted": "2025-04-10T20:10:35.123456Z"}}
	r.post(inbox, person, del, nil)
	eventually(t, "the deletion", func() bool {
		ev := h.event(obj["id"].(string))
		return ev != nil && ev.Deleted
	})
	if ev := h.event(obj["id"].(string)); ev.Status != bridges.StatusCancelled {
		t.Errorf("late Announce of an older copy changed the status to %s", ev.Status)
	}
	if h.event(draft["id"].(string)) != nil {
		t.Error("a draft was stored")
	}
}

func TestInboxRefusals(t *testing.T) {
	h := newHarness(t, Options{Block: []string{"blocked.test"}})
	r := newRemote(t)
	group := r.addActor("g", "Group", testKey(t, 0))
	person := r.addActor("p", "Person", testKey(t, 1))
	h.addSource(group, bridges.SourceFollowed)
	inbox := h.srv.URL + "/inbox"
	now := time.Now()

	mk := func(uuid string) map[string]any {
		obj := eventObject(r, uuid, group, person, "2025-04-01T10:00:00Z", "CONFIRMED", false)
		return map[string]any{"id": obj["id"].(string) + "/activity", "type": "Create", "actor": person, "object": obj}
	}
	tests := []struct {
		name   string
		act    map[string]any
		signAs string
		mutate func(*http.Request)
		want   int
	}{
		{"unsigned", mk("u1"), person, func(r *http.Request) { r.Header.Del("Signature") }, 401},
		{"bad signature", mk("u2"), person, func(r *http.Request) {
			r.Header.Set("Signature", strings.Replace(r.Header.Get("Signature"), `signature="`, `signature="AAAA`, 1))
		}, 401},
		{"wrong digest", mk("u3"), person, func(r *http.Request) {
			r.Header.Set("Digest", "SHA-256=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=")
		}, 401},
		{"stale date", mk("u4"), person, func(r *http.Request) {
			// Re-sign with a Date 13 hours old.
			body := mustJSON(mk("u4"))
			r.Header.Del("Digest")
			(&signing.RequestSigner{KeyID: person + "#main-key", Key: testKey(t, 1), Now: func() time.Time { return now.Add(-13 * time.Hour) }}).Sign(r, body)
		}, 401},
		// The group's key signs an activity whose actor is the person.
		{"key owner is not the actor", mk("u5"), group, nil, 401},
		{"blocked domain", map[string]any{"id": "https://blocked.test/a", "type": "Create", "actor": "https://blocked.test/@x"}, person, nil, 403},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp := r.post(inbox, tc.signAs, tc.act, tc.mutate)
			if resp.StatusCode != tc.want {
				t.Fatalf("HTTP %d, want %d", resp.StatusCode, tc.want)
			}
		})
	}
	big := map[string]any{"id": r.url("/big"), "type": "Create", "actor": person, "content": strings.Repeat("x", MaxInboxBody)}
	if resp := r.post(inbox, person, big, nil); resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("2 MiB body: HTTP %d, want 413", resp.StatusCode)
	}

	// A forged cross-origin Create: an actor on another host sends an
	// event whose id is on the source's host. passerelle refetches it from
	// its origin, which does not have it: nothing is stored.
	forger := newRemote(t)
	mallory := forger.addActor("mallory", "Person", testKey(t, 2))
	forged := eventObject(r, "forged", group, mallory, "2025-04-01T10:00:00Z", "CONFIRMED", false)
	if resp := forger.post(inbox, mallory, map[string]any{"id": forger.url("/c/1"), "type": "Create", "actor": mallory, "object": forged}, nil); resp.StatusCode != 202 {
		t.Fatalf("forged Create: HTTP %d", resp.StatusCode)
	}
	// A replay: the same signed document twice; both accepted, one
	// processed.
	good := mk("replayed")
	r.post(inbox, person, good, nil)
	r.post(inbox, person, good, nil)
	eventually(t, "the genuine event", func() bool { return h.event(good["object"].(map[string]any)["id"].(string)) != nil })
	eventually(t, "the inbox drained", h.inboxDrained)

	var recorded int
	if err := storetest.QueryRow(h.db, `SELECT COUNT(*) FROM inbox_seen`).Scan(&recorded); err != nil {
		t.Fatal(err)
	}
	// forged + replayed (once): the refused requests recorded nothing.
	if recorded != 2 {
		t.Errorf("%d activities seen, want 2 (forged Create, replayed Create once)", recorded)
	}
	time.Sleep(200 * time.Millisecond)
	for _, id := range []string{"u1", "u2", "u3", "u4", "u5", "forged"} {
		if h.event(r.url("/events/"+id)) != nil {
			t.Errorf("event %s was stored", id)
		}
	}
}

func TestInboxOnlyFollowedSources(t *testing.T) {
	h := newHarness(t, Options{})
	r := newRemote(t)
	group := r.addActor("g", "Group", testKey(t, 0))
	other := r.addActor("other", "Group", testKey(t, 1))
	h.addSource(group, bridges.SourceUnfollowed)
	inbox := h.srv.URL + "/actors/passerelle/inbox"
	for i, g := range []string{group, other} {
		obj := eventObject(r, "nf"+string(rune('a'+i)), g, g, "2025-04-01T10:00:00Z", "CONFIRMED", false)
		if resp := r.post(inbox, g, map[string]any{"id": obj["id"].(string) + "/activity", "type": "Create", "actor": g, "object": obj}, nil); resp.StatusCode != 202 {
			t.Fatalf("HTTP %d", resp.StatusCode)
		}
	}
	if resp := r.post(h.srv.URL+"/actors/nobody/inbox", group, map[string]any{"type": "Create", "actor": group}, nil); resp.StatusCode != 404 {
		t.Errorf("inbox of an unknown actor: HTTP %d", resp.StatusCode)
	}
	// Unknown types are acknowledged and ignored.
	if resp := r.post(inbox, group, map[string]any{"id": r.url("/like/1"), "type": "Like", "actor": group, "object": group}, nil); resp.StatusCode != 202 {
		t.Errorf("Like: HTTP %d, want 202", resp.StatusCode)
	}
	time.Sleep(500 * time.Millisecond)
	for _, id := range []string{"nfa", "nfb"} {
		if h.event(r.url("/events/"+id)) != nil {
			t.Errorf("event %s from a source not followed was stored", id)
		}
	}
}

func TestInboxAnswers(t *testing.T) {
	h := newHarness(t, Options{})
	r := newRemote(t)
	group := r.addActor("g", "Group", testKey(t, 0))
	person := r.addActor("mod", "Person", testKey(t, 1))
	refuser := r.addActor("closed", "Group", testKey(t, 2))
	src := h.addSource(group, bridges.SourcePending)
	src2 := h.addSource(refuser, bridges.SourcePending)
	inbox := h.srv.URL + "/inbox"

	accept := map[string]any{"id": r.url("/accept/follow/1"), "type": "Accept", "actor": group,
		"object": map[string]any{"type": "Follow", "id": src.FollowID, "actor": h.svc.ActorURL("passerelle"), "object": group}}
	r.post(inbox, group, accept, nil)
	r.post(inbox, refuser, map[string]any{"id": r.url("/reject/follow/1"), "type": "Reject", "actor": refuser, "object": src2.FollowID}, nil)
	// A Person of the same host cannot accept the group's Follow.
	src3 := h.addSource(r.addActor("g3", "Group", testKey(t, 3)), bridges.SourcePending)
	r.post(inbox, person, map[string]any{"id": r.url("/accept/follow/3"), "type": "Accept", "actor": person, "object": src3.FollowID}, nil)

	joinID := h.svc.URL("/joins/" + randomID())
	participant := h.svc.ActorURL("p-1234")
	recordJoin(t, h, joinID, group)
	// A server the Join was not sent to cannot answer it, whatever its
	// embedded copy of the Join says.
	other := newRemote(t)
	mallory := other.addActor("mallory", "Person", testKey(t, 2))
	other.post(inbox, mallory, map[string]any{"id": other.url("/reject/join/1"), "type": "Reject", "actor": mallory,
		"object": map[string]any{"type": "Join", "id": joinID, "actor": participant, "object": other.url("/events/e1")}}, nil)
	time.Sleep(300 * time.Millisecond)
	if a := h.joins.get(joinID); a != "" {
		t.Fatalf("a Join was answered (%s) by a server it was not sent to", a)
	}
	r.post(inbox, person, map[string]any{"id": r.url("/accept/join/1"), "type": "Accept", "actor": person, "attributedTo": group,
		"object": map[string]any{"type": "Join", "id": joinID, "actor": participant, "object": r.url("/events/e1")}}, nil)
	// Someone else's Join in the same audience is not ours.
	r.post(inbox, person, map[string]any{"id": r.url("/reject/join/2"), "type": "Reject", "actor": person,
		"object": map[string]any{"type": "Join", "id": r.url("/join/event/2"), "actor": r.url("/@bob"), "object": r.url("/events/e1")}}, nil)

	state := func(s *bridges.Source) bridges.SourceState {
		got, err := h.db.SourceWhere(context.Background(), "id", s.ID)
		if err != nil {
			t.Fatal(err)
		}
		return got.State
	}
	eventually(t, "follow accepted", func() bool { return state(src) == bridges.SourceFollowed })
	eventually(t, "follow rejected", func() bool { return state(src2) == bridges.SourceRefused })
	eventually(t, "join accepted", func() bool { return h.joins.get(joinID) == bridges.JoinAccepted })
	if st := state(src3); st != bridges.SourcePending {
		t.Errorf("a Person accepted a group's Follow: state %s", st)
	}
	if a := h.joins.get(r.url("/join/event/2")); a != "" {
		t.Errorf("someone else's Join answered: %s", a)
	}

	// The group then drops passerelle (Reject after Accept, as Mastodon
	// removes a follower); a replay of its earlier Accept, still within
	// the signature window, must not follow again.
	r.post(inbox, group, map[string]any{"id": r.url("/reject/follow/2"), "type": "Reject", "actor": group, "object": src.FollowID}, nil)
	eventually(t, "follow dropped", func() bool { return state(src) == bridges.SourceRefused })
	if resp := r.post(inbox, group, accept, nil); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("replayed Accept: HTTP %d", resp.StatusCode)
	}
	eventually(t, "the inbox drained", h.inboxDrained)
	if st := state(src); st != bridges.SourceRefused {
		t.Errorf("a replayed Accept changed the source to %s", st)
	}
}

// recordJoin records that a Join went to recipient, as Participator.Join does.
func recordJoin(t *testing.T, h *harness, joinID, recipient string) {
	t.Helper()
	ctx := context.Background()
	inst, err := h.svc.InstanceActor(ctx)
	if err != nil {
		t.Fatal(err)
	}
	err = h.db.Tx(ctx, func(ctx context.Context, tx *store.Tx) error {
		return tx.InsertDelivery(ctx, &store.Delivery{ActorID: inst.ID, Recipient: recipient, ActivityID: joinID, Activity: []byte(`{}`)})
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestSourceLastActivity: a source's last activity is recorded once a
// minute at most, not once per event of a burst.
func TestSourceLastActivity(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		h := newHarnessOn(t, db, Options{}, true)
		r := newRemote(t)
		group := r.addActor("mygroup", "Group", testKey(t, 0))
		src := h.addSource(group, bridges.SourceFollowed)
		ctx := context.Background()
		lastActivity := func() time.Time {
			s, err := h.db.SourceWhere(ctx, "actor_url", group)
			if err != nil {
				t.Fatal(err)
			}
			return s.LastActivity
		}
		create := func(uuid string) {
			obj := eventObject(r, uuid, group, group, "2025-04-01T10:00:00Z", "CONFIRMED", false)
			act := map[string]any{"id": obj["id"].(string) + "/activity", "type": "Create", "actor": group, "object": obj}
			if resp := r.post(h.srv.URL+"/inbox", group, act, nil); resp.StatusCode != http.StatusAccepted {
				t.Fatalf("Create: HTTP %d", resp.StatusCode)
			}
			eventually(t, "the event stored", func() bool { return h.event(obj["id"].(string)) != nil })
		}
		setLast := func(at time.Time) {
			if _, err := storetest.Exec(h.db, "UPDATE sources SET last_activity = ? WHERE id = ?", at.UnixMicro(), src.ID); err != nil {
				t.Fatal(err)
			}
		}

		// The source's last activity is written just after the event's
		// commit.
		create("e1")
		eventually(t, "last activity after the first event", func() bool { return time.Since(lastActivity()) < time.Minute })
		recent := time.Now().Add(-30 * time.Second).Truncate(time.Microsecond)
		setLast(recent)
		create("e2")
		// One more event, stored after it, gives a write that should not
		// happen the time to show.
		create("e2b")
		if got := lastActivity(); !got.Equal(recent) {
			t.Errorf("an event 30 s after the last one rewrote last activity: %v, was %v", got, recent)
		}
		setLast(time.Now().Add(-2 * time.Minute))
		create("e3")
		eventually(t, "last activity rewritten by an event 2 minutes after the last one", func() bool { return time.Since(lastActivity()) < time.Minute })
	})
}
