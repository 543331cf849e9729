package federation

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"codeberg.org/passerelle/passerelle/bridges"
	"codeberg.org/passerelle/passerelle/federation/outbox"
	"codeberg.org/passerelle/passerelle/federation/signing"
	"codeberg.org/passerelle/passerelle/internal/fedipeertest"
	"codeberg.org/passerelle/passerelle/store"
)

func future(d time.Duration) string {
	loc, _ := time.LoadLocation("Europe/Paris")
	return time.Now().Add(d).In(loc).Truncate(time.Second).Format(time.RFC3339)
}

func (h *harness) source(actorURL string) *bridges.Source {
	h.t.Helper()
	src, err := h.db.SourceWhere(context.Background(), "actor_url", actorURL)
	if err != nil {
		h.t.Fatalf("source %s: %v", actorURL, err)
	}
	return src
}

func (h *harness) follow(input string) (*Resolved, *bridges.Source) {
	h.t.Helper()
	ctx := context.Background()
	res, err := h.svc.Resolve(ctx, input)
	if err != nil {
		h.t.Fatal(err)
	}
	src, err := h.svc.Follow(ctx, res)
	if err != nil {
		h.t.Fatal(err)
	}
	return res, src
}

// TestFedifyMobilizon runs passerelle against the Fedify peer shaped as
// Mobilizon 5.1.3: FORMAT.md's checklist, end to end, with every
// signature made and checked by Fedify.
func TestFedifyMobilizon(t *testing.T) {
	peer := fedipeertest.Start(t, fedipeertest.Mobilizon)
	h := newHarness(t, Options{})
	ctx := context.Background()

	// Events published before the follow, found by backfill: eleven make
	// two pages, and the last page links to an empty one.
	for i := range 11 {
		peer.CreateEvent(t, fedipeertest.Event{Name: "Ancien " + string(rune('a'+i)), StartTime: future(time.Duration(24+i) * time.Hour), Timezone: "Europe/Paris", Silent: true})
	}
	draft := peer.CreateEvent(t, fedipeertest.Event{Name: "Brouillon", StartTime: future(72 * time.Hour), Draft: true, Silent: true})

	res, src := h.follow(peer.Handle("mygroup"))
	if res.Software != "mobilizon" || res.Actor.Type != "Group" || src.EventsURL != peer.ActorURL("mygroup")+"/events" {
		t.Fatalf("resolved %+v, source %+v", res, src)
	}
	follow := peer.WaitReceived(t, "Follow")
	if !follow.Verified {
		t.Fatal("Fedify could not verify passerelle's signed Follow")
	}
	eventually(t, "the group's Accept", func() bool { return h.source(res.ActorURL).State == bridges.SourceFollowed })

	br, err := h.svc.Backfill(ctx, h.source(res.ActorURL), BackfillLimits{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if br.Stored != 11 || br.Truncated != "" {
		t.Errorf("backfill stored %d (truncated %q), want 11: %+v", br.Stored, br.Truncated, br)
	}
	if h.event(peer.EventURL(draft.UUID)) != nil {
		t.Error("backfill stored a draft")
	}
	limited, _ := h.svc.Backfill(ctx, h.source(res.ActorURL), BackfillLimits{MaxItems: 3}, nil)
	if limited.Items != 3 || !strings.Contains(limited.Truncated, "item limit") {
		t.Errorf("bounded backfill: %+v", limited)
	}

	// Create from the organiser Person, then the group's Announce: one event.
	ev := peer.CreateEvent(t, fedipeertest.Event{Name: "Atelier vélo", StartTime: future(96 * time.Hour), EndTime: future(98 * time.Hour), Timezone: "Europe/Paris"})
	if len(ev.Deliveries) != 2 {
		t.Fatalf("Create + Announce: %d deliveries", len(ev.Deliveries))
	}
	for _, d := range ev.Deliveries {
		if d.Status != http.StatusAccepted {
			t.Errorf("passerelle answered %d to a Fedify-signed activity: %s", d.Status, d.Body)
		}
	}
	eventually(t, "the event stored", func() bool { return h.event(ev.ID) != nil })

	// Update reusing the Create's activity id: stored.
	peer.UpdateEvent(t, ev.UUID, map[string]any{"name": "Atelier vélo (salle 2)", "noAnnounce": true})
	eventually(t, "the update", func() bool { return h.event(ev.ID).Title == "Atelier vélo (salle 2)" })
	// Sometimes only the group's Announce arrives.
	peer.UpdateEvent(t, ev.UUID, map[string]any{"name": "Atelier vélo (salle 3)", "announceOnly": true})
	eventually(t, "the announced update", func() bool { return h.event(ev.ID).Title == "Atelier vélo (salle 3)" })

	// A draft federated publicly is ignored until published.
	peer.UpdateEvent(t, draft.UUID, map[string]any{"name": "Brouillon (encore)"})
	peer.UpdateEvent(t, draft.UUID, map[string]any{"draft": false, "name": "Publié"})
	eventually(t, "the published draft", func() bool { e := h.event(peer.EventURL(draft.UUID)); return e != nil && e.Title == "Publié" })

	// Cancellation is an Update with status CANCELLED.
	peer.CancelEvent(t, ev.UUID)
	eventually(t, "the cancellation", func() bool { return h.event(ev.ID).Status == bridges.StatusCancelled })

	// Delete with a Tombstone from a moderator; the event then answers 410.
	peer.DeleteEvent(t, ev.UUID)
	eventually(t, "the deletion", func() bool { return h.event(ev.ID).Deleted })
	if _, err := h.svc.fetcher.Get(ctx, ev.ID, ""); err == nil || !strings.Contains(err.Error(), "410") {
		t.Errorf("GET of the deleted event: %v, want HTTP 410", err)
	}

	// A Fedify-signed Create with a corrupted signature: refused, nothing stored.
	forged := map[string]any{"id": peer.EventURL("forged") + "/activity", "type": "Create", "actor": peer.ActorURL("alice"),
		"object": map[string]any{"id": peer.EventURL("forged"), "type": "Event", "name": "Faux", "startTime": future(5 * time.Hour), "attributedTo": peer.ActorURL("mygroup")}}
	if d := peer.Send(t, "alice", h.srv.URL+"/inbox", forged, "badsig"); d.Status != http.StatusUnauthorized {
		t.Errorf("bad signature: HTTP %d, want 401", d.Status)
	}
	// Key owner ≠ actor: the group's key signs alice's activity.
	if d := peer.Send(t, "mygroup", h.srv.URL+"/inbox", forged, ""); d.Status != http.StatusUnauthorized {
		t.Errorf("key owner ≠ actor: HTTP %d, want 401", d.Status)
	}
	time.Sleep(300 * time.Millisecond)
	if h.event(peer.EventURL("forged")) != nil {
		t.Error("a forged event was stored")
	}

	// Mobilizon answers a bad signature with HTTP 200 "error": passerelle
	// counts a 2xx as delivered, nothing more.
	inst, _ := h.svc.InstanceActor(ctx)
	bogus := []byte(`{"id":"` + h.svc.URL("/test/unsigned") + `","type":"Follow","actor":"` + h.svc.ActorURL("someone-else") + `","object":"` + peer.ActorURL("mygroup") + `"}`)
	if err := h.db.Tx(ctx, func(ctx context.Context, tx *store.Tx) error {
		return h.svc.Deliver(ctx, tx, inst.ID, outbox.Recipient{Actor: peer.ActorURL("mygroup")}, bogus)
	}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the bogus Follow delivered", func() bool {
		ds, _ := h.db.DeliveriesOf(ctx, h.svc.URL("/test/unsigned"))
		return len(ds) == 1 && ds[0].State == store.DeliveryDelivered
	})
	var rec fedipeertest.Received
	for _, r := range peer.Received(t) {
		if r.Activity["id"] == h.svc.URL("/test/unsigned") {
			rec = r
		}
	}
	if rec.Verified || rec.Status != 200 {
		t.Errorf("Mobilizon-shaped answer to a key owner ≠ actor: %+v, want unverified with HTTP 200 \"error\"", rec)
	}
}

func TestFedifyFollowStates(t *testing.T) {
	peer := fedipeertest.Start(t, fedipeertest.Mobilizon)
	h := newHarness(t, Options{})
	ctx := context.Background()

	closed, _ := h.follow(peer.Handle("closedgroup"))
	relay, _ := h.follow(peer.URL)
	person, _ := h.follow(peer.ActorURL("alice"))
	if relay.ActorURL != peer.ActorURL("relay") || !strings.Contains(relay.Notice(), "admin") {
		t.Errorf("instance URL resolved to %s, notice %q", relay.ActorURL, relay.Notice())
	}
	if !strings.Contains(person.Notice(), "group") {
		t.Errorf("following a Mobilizon Person gave no warning: %q", person.Notice())
	}
	eventually(t, "three Follows received", func() bool {
		n := 0
		for _, r := range peer.Received(t) {
			if r.Activity["type"] == "Follow" && r.Verified {
				n++
			}
		}
		return n == 3
	})
	me := h.svc.ActorURL("passerelle")
	peer.RejectFollow(t, "closedgroup", me)
	peer.AcceptFollow(t, "relay", me)
	eventually(t, "the Reject", func() bool { return h.source(closed.ActorURL).State == bridges.SourceRefused })
	eventually(t, "the relay's Accept", func() bool { return h.source(relay.ActorURL).State == bridges.SourceFollowed })
	time.Sleep(200 * time.Millisecond)
	if st := h.source(person.ActorURL).State; st != bridges.SourcePending {
		t.Errorf("follow of a Person: %s, want still pending (Mobilizon never answers)", st)
	}

	// Unfollow sends Undo{Follow}: the peer drops the follower.
	if err := h.svc.Unfollow(ctx, h.source(relay.ActorURL)); err != nil {
		t.Fatal(err)
	}
	peer.WaitReceived(t, "Undo")
	eventually(t, "the follower removed", func() bool {
		_, still := peer.State(t).Followers["relay"][me]
		return !still
	})
}

// TestFedifyJoinAnswers sends Joins from a participant actor through the
// durable delivery API (as the mail flow does) and checks that the peer's
// Accept and Reject reach the JoinAnswerListener.
func TestFedifyJoinAnswers(t *testing.T) {
	peer := fedipeertest.Start(t, fedipeertest.Mobilizon)
	h := newHarness(t, Options{})
	ctx := context.Background()
	free := peer.CreateEvent(t, fedipeertest.Event{Name: "Libre", StartTime: future(30 * time.Hour), Silent: true})
	restricted := peer.CreateEvent(t, fedipeertest.Event{Name: "Sur inscription", StartTime: future(30 * time.Hour), JoinMode: "restricted", Silent: true})
	full := peer.CreateEvent(t, fedipeertest.Event{Name: "Complet", StartTime: future(30 * time.Hour), MaximumAttendeeCapacity: 1, Participants: 1, Silent: true})

	priv, pub, err := signing.GenerateKeyPEM()
	if err != nil {
		t.Fatal(err)
	}
	p := &store.LocalActor{Kind: store.ActorParticipant, Username: "p-" + randomID()[:12], DisplayName: "Participant", PrivateKeyPEM: priv, PublicKeyPEM: pub}
	if err := h.db.Tx(ctx, func(ctx context.Context, tx *store.Tx) error { return tx.CreateLocalActor(ctx, p) }); err != nil {
		t.Fatal(err)
	}
	me := h.svc.ActorURL(p.Username)
	join := func(eventURL string) string {
		id := h.svc.URL("/joins/" + randomID())
		act, _ := json.Marshal(map[string]any{"@context": "https://www.w3.org/ns/activitystreams", "id": id, "type": "Join", "actor": me, "object": eventURL,
			"to": []string{me, peer.ActorURL("mygroup")}})
		if err := h.db.Tx(ctx, func(ctx context.Context, tx *store.Tx) error {
			return h.svc.Deliver(ctx, tx, p.ID, outbox.Recipient{Actor: peer.ActorURL("mygroup")}, act)
		}); err != nil {
			t.Fatal(err)
		}
		return id
	}
	freeJoin, restrictedJoin, fullJoin := join(free.ID), join(restricted.ID), join(full.ID)
	eventually(t, "the free Join accepted", func() bool { return h.joins.get(freeJoin) == bridges.JoinAccepted })
	eventually(t, "the restricted Join received", func() bool { _, ok := peer.State(t).Joins[restrictedJoin]; return ok })
	peer.RejectJoin(t, restrictedJoin)
	eventually(t, "the restricted Join rejected", func() bool { return h.joins.get(restrictedJoin) == bridges.JoinRejected })
	time.Sleep(300 * time.Millisecond)
	if a := h.joins.get(fullJoin); a != "" {
		t.Errorf("a Join to a full event was answered: %s", a)
	}
	for _, r := range peer.Received(t) {
		if r.Activity["type"] == "Join" && !r.Verified {
			t.Errorf("Fedify could not verify the participant's Join %v", r.Activity["id"])
		}
	}
}

func TestFedifyGancio(t *testing.T) {
	peer := fedipeertest.Start(t, fedipeertest.Gancio)
	h := newHarness(t, Options{})
	res, _ := h.follow(peer.URL)
	if res.Software != "gancio" || res.ActorURL != peer.ActorURL("relay") {
		t.Fatalf("resolved %s as %s", res.ActorURL, res.Software)
	}
	eventually(t, "the relay's Accept", func() bool { return h.source(res.ActorURL).State == bridges.SourceFollowed })
	loc := time.FixedZone("", 2*3600)
	start := time.Now().Add(50 * time.Hour).In(loc).Truncate(time.Second).Format(time.RFC3339)
	ev := peer.CreateEvent(t, fedipeertest.Event{Name: "Concerto", StartTime: start})
	eventually(t, "the Gancio event", func() bool { return h.event(ev.ID) != nil })
	peer.UpdateEvent(t, ev.UUID, map[string]any{"name": "Concerto (rinviato)"})
	eventually(t, "the Gancio update", func() bool { return h.event(ev.ID).Title == "Concerto (rinviato)" })
	peer.DeleteEvent(t, ev.UUID)
	eventually(t, "the Gancio delete", func() bool { return h.event(ev.ID).Deleted })
}
