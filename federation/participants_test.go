package federation

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"codeberg.org/passerelle/passerelle/bridges"
	"codeberg.org/passerelle/passerelle/internal/fedipeertest"
	"codeberg.org/passerelle/passerelle/store"
)

// participantEvent is what the RSVP flow hands to Join and Leave: a stored
// event as the Mobilizon dialect reads it (the organiser is the group).
func participantEvent(peer *fedipeertest.Peer, c fedipeertest.Created) *bridges.StoredEvent {
	return &bridges.StoredEvent{Event: bridges.Event{APID: c.ID, OrganizerURL: peer.ActorURL("mygroup")}}
}

// getJSON GETs a URL unsigned, as Mobilizon fetches a keyId's actor.
func getJSON(t *testing.T, u, accept string) (int, map[string]any, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var doc map[string]any
	_ = json.Unmarshal(b, &doc)
	return resp.StatusCode, doc, string(b)
}

// TestFedifyParticipants drives the participant side for real: Service.Join
// and Service.Leave (what the RSVP flow calls) against the Fedify peer
// shaped as Mobilizon, whose Fedify verifies every signature by fetching
// the participant's actor unsigned.
func TestFedifyParticipants(t *testing.T) {
	peer := fedipeertest.Start(t, fedipeertest.Mobilizon)
	h := newHarness(t, Options{})
	ctx := context.Background()
	free := peer.CreateEvent(t, fedipeertest.Event{Name: "Libre", StartTime: future(30 * time.Hour), Silent: true})
	restricted := peer.CreateEvent(t, fedipeertest.Event{Name: "Sur inscription", StartTime: future(30 * time.Hour), JoinMode: "restricted", Silent: true})
	refused := peer.CreateEvent(t, fedipeertest.Event{Name: "Refusé", StartTime: future(30 * time.Hour), JoinMode: "restricted", Silent: true})
	full := peer.CreateEvent(t, fedipeertest.Event{Name: "Complet", StartTime: future(30 * time.Hour), MaximumAttendeeCapacity: 1, Participants: 1, Silent: true})

	const address = "ana.secret@example.org"
	p := &bridges.Participant{ID: 1, Address: address}
	join := func(c fedipeertest.Created) string {
		t.Helper()
		var id string
		if err := h.db.Tx(ctx, func(ctx context.Context, tx *store.Tx) error {
			var err error
			id, err = h.svc.Join(ctx, tx, p, participantEvent(peer, c))
			return err
		}); err != nil {
			t.Fatalf("join %s: %v", c.ID, err)
		}
		return id
	}
	freeJoin := join(free)
	actorID := p.ActorID
	if actorID == 0 {
		t.Fatal("Join created no participant actor")
	}
	restrictedJoin, refusedJoin, fullJoin := join(restricted), join(refused), join(full)
	if p.ActorID != actorID {
		t.Errorf("a second Join made a second actor (%d, then %d): one actor per participant", actorID, p.ActorID)
	}
	actor, err := h.db.LocalActorByID(ctx, p.ActorID)
	if err != nil {
		t.Fatal(err)
	}
	me := h.svc.ActorURL(actor.Username)

	// The actor, its key and WebFinger are served unsigned (Mobilizon and
	// Fedify fetch keys that way) and say nothing of the address.
	status, doc, body := getJSON(t, me, "application/activity+json")
	if status != 200 || doc["type"] != "Person" || doc["id"] != me {
		t.Fatalf("participant actor: HTTP %d %s", status, body)
	}
	if key, _ := doc["publicKey"].(map[string]any); key == nil || key["publicKeyPem"] != actor.PublicKeyPEM || key["owner"] != me {
		t.Errorf("participant actor's key: %v", doc["publicKey"])
	}
	for _, leak := range []string{address, "ana.secret", "example.org"} {
		if strings.Contains(body, leak) {
			t.Errorf("the participant actor shows %q: %s", leak, body)
		}
	}
	host := strings.TrimPrefix(h.srv.URL, "http://")
	status, wf, body := getJSON(t, h.srv.URL+"/.well-known/webfinger?resource="+url.QueryEscape("acct:"+actor.Username+"@"+host), "")
	links, _ := wf["links"].([]any)
	if status != 200 || wf["subject"] != "acct:"+actor.Username+"@"+host || len(links) != 1 || links[0].(map[string]any)["href"] != me || strings.Contains(body, address) {
		t.Errorf("participant WebFinger: HTTP %d %s", status, body)
	}

	// The Joins reach the peer signed by the participant's key, shaped as
	// Mobilizon's own (FORMAT §5.1).
	eventually(t, "four Joins received", func() bool {
		n := 0
		for _, r := range peer.Received(t) {
			if r.Activity["type"] == "Join" {
				n++
			}
		}
		return n == 4
	})
	for _, r := range peer.Received(t) {
		if r.Activity["type"] != "Join" {
			continue
		}
		raw, _ := json.Marshal(r.Activity)
		if !r.Verified || r.Status != 200 {
			t.Errorf("Join %v: verified %v, HTTP %d", r.Activity["id"], r.Verified, r.Status)
		}
		if r.Activity["actor"] != me || r.Path != "/inbox" {
			t.Errorf("Join from %v to %s, want from %s to the shared inbox", r.Activity["actor"], r.Path, me)
		}
		obj, _ := r.Activity["object"].(string)
		to, _ := r.Activity["to"].([]any)
		if !strings.HasPrefix(obj, peer.URL+"/events/") || len(to) != 2 || to[0] != me || to[1] != peer.ActorURL("mygroup") {
			t.Errorf("Join shape: %s", raw)
		}
		if _, ok := r.Activity["participationMessage"]; !ok || strings.Contains(string(raw), address) || strings.Contains(string(raw), "Public") {
			t.Errorf("Join content: %s", raw)
		}
	}

	// Answers come back to the RSVP listener: the free Join auto-accepted
	// by @mod, the restricted ones when a moderator decides.
	eventually(t, "the free Join accepted", func() bool { return h.joins.get(freeJoin) == bridges.JoinAccepted })
	if a := h.joins.get(restrictedJoin); a != "" {
		t.Errorf("a restricted Join was answered before any moderator acted: %s", a)
	}
	peer.AcceptJoin(t, restrictedJoin)
	peer.RejectJoin(t, refusedJoin)
	eventually(t, "the restricted Join accepted", func() bool { return h.joins.get(restrictedJoin) == bridges.JoinAccepted })
	eventually(t, "the other restricted Join rejected", func() bool { return h.joins.get(refusedJoin) == bridges.JoinRejected })

	// Mobilizon copies other participants' Join answers to every
	// participant: an Accept of someone else's Join is not ours.
	other := peer.URL + "/join/event/someone-else"
	if d := peer.Send(t, "mod", h.srv.URL+"/inbox", map[string]any{"@context": "https://www.w3.org/ns/activitystreams",
		"id": peer.URL + "/accept/join/other", "type": "Accept", "actor": peer.ActorURL("mod"), "attributedTo": peer.ActorURL("mygroup"),
		"object": map[string]any{"type": "Join", "id": other, "actor": peer.ActorURL("alice"), "object": free.ID},
		"to":     []string{peer.ActorURL("alice"), peer.ActorURL("mygroup")}, "cc": []string{me}}, ""); d.Status != http.StatusAccepted {
		t.Errorf("someone else's Accept: HTTP %d %s", d.Status, d.Body)
	}
	// A Reject of our Join naming, by bare id, a Join we never sent
	// (forged id under our URL): nothing to answer.
	forged := h.svc.URL("/join/never-sent")
	peer.Send(t, "mod", h.srv.URL+"/inbox", map[string]any{"@context": "https://www.w3.org/ns/activitystreams",
		"id": peer.URL + "/reject/join/forged", "type": "Reject", "actor": peer.ActorURL("mod"), "object": forged, "to": []string{me}}, "")

	// Decline after accept: the Leave reaches the peer, signed, and the
	// peer drops the participation.
	if err := h.db.Tx(ctx, func(ctx context.Context, tx *store.Tx) error {
		return h.svc.Leave(ctx, tx, p, participantEvent(peer, free), freeJoin)
	}); err != nil {
		t.Fatal(err)
	}
	leave := peer.WaitReceived(t, "Leave")
	if !leave.Verified || leave.Activity["actor"] != me || leave.Activity["object"] != free.ID {
		t.Errorf("Leave: %+v", leave)
	}
	eventually(t, "the peer drops the participation", func() bool { return peer.State(t).Joins[freeJoin].State == "left" })

	time.Sleep(300 * time.Millisecond)
	if a := h.joins.get(fullJoin); a != "" {
		t.Errorf("a Join to a full event was answered: %s", a)
	}
	if _, held := peer.State(t).Joins[fullJoin]; held {
		t.Error("the peer kept a Join to a full event")
	}
	if a := h.joins.get(other); a != "" {
		t.Errorf("someone else's Join answered to us: %s", a)
	}
	if a := h.joins.get(forged); a != "" {
		t.Errorf("an answer to a Join passerelle never sent reached the flow: %s", a)
	}

	// Leave without a standing actor is a no-op, not an error.
	if err := h.db.Tx(ctx, func(ctx context.Context, tx *store.Tx) error {
		return h.svc.Leave(ctx, tx, &bridges.Participant{Address: "x@example.org"}, participantEvent(peer, free), "")
	}); err != nil {
		t.Errorf("Leave of a participant who never joined: %v", err)
	}
}
