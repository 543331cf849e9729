package federation

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"codeberg.org/passerelle/passerelle/federation/signing"
	"codeberg.org/passerelle/passerelle/internal/outbound"
	"codeberg.org/passerelle/passerelle/internal/storetest"
	"codeberg.org/passerelle/passerelle/publish"
	"codeberg.org/passerelle/passerelle/store"
)

// TestPublishedCalendarGroup: a published calendar is a Group that a
// remote actor follows (Accept sent, follower stored), that sends its
// followers a signed Create of each event, Accepts a Join, serves its
// outbox and Events, answers 410 with a Tombstone for a deleted event,
// and forgets a follower on Undo{Follow}.
func TestPublishedCalendarGroup(t *testing.T) {
	h := newHarness(t, Options{})
	ctx := context.Background()
	r := newRemote(t)
	alice := r.addActor("alice", "Person", testKey(t, 1))

	var mu sync.Mutex
	ics := "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\nUID:one@club\r\nDTSTART:20991210T190000Z\r\nSUMMARY:Repair café\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
	feed := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		w.Write([]byte(ics))
	}))
	defer feed.Close()

	priv, pub, err := signing.GenerateKeyPEM()
	if err != nil {
		t.Fatal(err)
	}
	c := &store.PublishedCalendar{Slug: "club", URL: feed.URL, Title: "The Club", Summary: "Repairs & co"}
	if err := h.db.Tx(ctx, func(ctx context.Context, tx *store.Tx) error {
		return tx.CreatePublishedCalendar(ctx, c, &store.LocalActor{DisplayName: "club", PrivateKeyPEM: priv, PublicKeyPEM: pub})
	}); err != nil {
		t.Fatal(err)
	}
	group := h.svc.ActorURL("club")
	code, doc, body := getJSON(t, group, contentTypeActivity)
	if code != 200 || doc["type"] != "Group" || doc["name"] != "The Club" || doc["manuallyApprovesFollowers"] != false {
		t.Fatalf("group: %d %s", code, body)
	}
	host := strings.TrimPrefix(h.srv.URL, "http://")
	if code, doc, _ := getJSON(t, h.srv.URL+"/.well-known/webfinger?resource=acct:club@"+host, ""); code != 200 || doc["subject"] != "acct:club@"+host {
		t.Errorf("webfinger: %d %v", code, doc)
	}

	resp := r.post(group+"/inbox", alice, map[string]any{"@context": "https://www.w3.org/ns/activitystreams", "id": alice + "#follow-1", "type": "Follow", "actor": alice, "object": group}, nil)
	if resp.StatusCode/100 != 2 {
		t.Fatalf("Follow: %d", resp.StatusCode)
	}
	var accept map[string]any
	eventually(t, "Accept of the Follow", func() bool {
		for _, b := range r.posts() {
			var a map[string]any
			if json.Unmarshal(b, &a) == nil && a["type"] == "Accept" {
				accept = a
				return true
			}
		}
		return false
	})
	if accept["actor"] != group || accept["object"].(map[string]any)["id"] != alice+"#follow-1" {
		t.Errorf("Accept = %v", accept)
	}
	if fs, _ := h.db.PublishedFollowers(ctx, c.ID); len(fs) != 1 || fs[0].SharedInbox != r.url("/inbox") {
		t.Fatalf("followers = %+v", fs)
	}

	p := &publish.Publisher{DB: h.db, Out: h.svc.Outbox, Fetch: &publish.Fetcher{Client: outbound.New(outbound.Options{AllowPrivateNetworks: true}), AllowPrivate: true}, Log: h.svc.log}
	if _, err := p.Poll(ctx, "club"); err != nil {
		t.Fatal(err)
	}
	var create map[string]any
	eventually(t, "Create of the event", func() bool {
		for i, b := range r.posts() {
			var a map[string]any
			if json.Unmarshal(b, &a) == nil && a["type"] == "Create" {
				r.mu.Lock()
				sig := r.received[i].Header.Get("Signature")
				r.mu.Unlock()
				if !strings.Contains(sig, group+"#main-key") {
					t.Errorf("Create not signed by the group: %q", sig)
				}
				create = a
				return true
			}
		}
		return false
	})
	ev := create["object"].(map[string]any)
	eventID := ev["id"].(string)
	if ev["type"] != "Event" || ev["attributedTo"] != group || ev["ical:status"] != "CONFIRMED" || ev["name"] != "Repair café" {
		t.Errorf("Event = %v", ev)
	}
	if code, doc, _ := getJSON(t, eventID, contentTypeActivity); code != 200 || doc["id"] != eventID {
		t.Errorf("GET event: %d %v", code, doc)
	}
	if _, doc, body := getJSON(t, h.srv.URL+"/nodeinfo/2.1", ""); doc["usage"].(map[string]any)["localPosts"] != float64(1) {
		t.Errorf("nodeinfo: %s", body)
	}
	if code, doc, _ := getJSON(t, group+"/outbox", contentTypeActivity); code != 200 || doc["totalItems"] != float64(1) {
		t.Errorf("outbox: %d %v", code, doc)
	}

	// A later follower is sent the upcoming events at once.
	bob := r.addActor("bob", "Person", testKey(t, 2))
	r.post(group+"/inbox", bob, map[string]any{"id": bob + "#follow-1", "type": "Follow", "actor": bob, "object": group}, nil)
	eventually(t, "backfill Create to the new follower", func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		for i, req := range r.received {
			var a map[string]any
			if req.URL.Path == "/@bob/inbox" && json.Unmarshal(r.bodies[i], &a) == nil && a["type"] == "Create" {
				return a["object"].(map[string]any)["id"] == eventID
			}
		}
		return false
	})

	var partsMu sync.Mutex
	var told []PublishedParticipation
	h.svc.parts = func(_ context.Context, _ *store.Tx, p PublishedParticipation) error {
		partsMu.Lock()
		defer partsMu.Unlock()
		told = append(told, p)
		return nil
	}
	r.post(group+"/inbox", alice, map[string]any{"id": alice + "#join-1", "type": "Join", "actor": alice, "object": eventID}, nil)
	eventually(t, "Accept of the Join", func() bool {
		for _, b := range r.posts() {
			var a map[string]any
			if json.Unmarshal(b, &a) == nil && a["type"] == "Accept" && a["object"].(map[string]any)["type"] == "Join" {
				return true
			}
		}
		return false
	})

	partsMu.Lock()
	if len(told) != 1 || !told[0].Joined || told[0].Name != "Repair café" || told[0].Participant != alice || told[0].Count != 1 || told[0].Calendar.Slug != "club" {
		t.Errorf("organiser told %+v", told)
	}
	partsMu.Unlock()
	r.post(group+"/inbox", alice, map[string]any{"id": alice + "#leave-1", "type": "Leave", "actor": alice, "object": eventID}, nil)
	eventually(t, "the organiser told of the Leave", func() bool {
		partsMu.Lock()
		defer partsMu.Unlock()
		return len(told) == 2 && !told[1].Joined && told[1].Count == 0
	})

	mu.Lock()
	ics = strings.Replace(ics, "UID:one@club", "UID:two@club", 1)
	mu.Unlock()
	res, err := p.Poll(ctx, "club")
	if err != nil || res.Deleted != 1 || res.Created != 1 {
		t.Fatalf("second poll: %v %v", res, err)
	}
	code, doc, _ = getJSON(t, eventID, contentTypeActivity)
	if code != http.StatusGone || doc["type"] != "Tombstone" {
		t.Errorf("deleted event: %d %v", code, doc)
	}
	eventually(t, "Delete of the event", func() bool {
		for _, b := range r.posts() {
			var a map[string]any
			if json.Unmarshal(b, &a) == nil && a["type"] == "Delete" {
				return true
			}
		}
		return false
	})

	r.post(group+"/inbox", alice, map[string]any{"id": alice + "#undo-1", "type": "Undo", "actor": alice,
		"object": map[string]any{"id": alice + "#follow-1", "type": "Follow", "actor": alice, "object": group}}, nil)
	eventually(t, "follower removed", func() bool {
		fs, _ := h.db.PublishedFollowers(ctx, c.ID)
		return len(fs) == 1 && fs[0].Actor == bob
	})
}

// TestPublishedCalendarApprove: with --approve a Follow is held (no
// Accept, nothing sent to it, not counted) until AnswerFollow accepts it;
// a rejected one is forgotten.
func TestPublishedCalendarApprove(t *testing.T) {
	h := newHarness(t, Options{})
	ctx := context.Background()
	r := newRemote(t)
	alice := r.addActor("alice", "Person", testKey(t, 1))
	bob := r.addActor("bob", "Person", testKey(t, 2))
	priv, pub, err := signing.GenerateKeyPEM()
	if err != nil {
		t.Fatal(err)
	}
	c := &store.PublishedCalendar{Slug: "club", URL: "https://club.example/c.ics", Approve: true}
	if err := h.db.Tx(ctx, func(ctx context.Context, tx *store.Tx) error {
		return tx.CreatePublishedCalendar(ctx, c, &store.LocalActor{DisplayName: "club", PrivateKeyPEM: priv, PublicKeyPEM: pub})
	}); err != nil {
		t.Fatal(err)
	}
	group := h.svc.ActorURL("club")
	if _, doc, _ := getJSON(t, group, contentTypeActivity); doc["manuallyApprovesFollowers"] != true {
		t.Errorf("manuallyApprovesFollowers = %v", doc["manuallyApprovesFollowers"])
	}
	for _, who := range []string{alice, bob} {
		r.post(group+"/inbox", who, map[string]any{"id": who + "#follow", "type": "Follow", "actor": who, "object": group}, nil)
	}
	eventually(t, "two held follows", func() bool {
		fs, _ := h.db.PublishedFollowers(ctx, c.ID)
		return len(fs) == 2 && fs[0].State == store.FollowerPending && fs[1].State == store.FollowerPending
	})
	if _, doc, _ := getJSON(t, group+"/followers", contentTypeActivity); doc["totalItems"] != float64(0) {
		t.Errorf("held follows counted: %v", doc)
	}
	if err := h.svc.AnswerFollow(ctx, "club", alice, true); err != nil {
		t.Fatal(err)
	}
	if err := h.svc.AnswerFollow(ctx, "club", bob, false); err != nil {
		t.Fatal(err)
	}
	if err := h.svc.AnswerFollow(ctx, "club", bob, true); err == nil {
		t.Error("a follow answered twice")
	}
	seen := map[string]bool{}
	eventually(t, "the Accept and the Reject", func() bool {
		for _, b := range r.posts() {
			var a map[string]any
			if json.Unmarshal(b, &a) == nil {
				if o, ok := a["object"].(map[string]any); ok {
					seen[a["type"].(string)+" "+o["actor"].(string)] = true
				}
			}
		}
		return seen["Accept "+alice] && seen["Reject "+bob]
	})
	fs, _ := h.db.PublishedFollowers(ctx, c.ID)
	if len(fs) != 1 || fs[0].Actor != alice || fs[0].State != store.FollowerAccepted {
		t.Errorf("followers = %+v", fs)
	}
}

// publishedFixture creates a calendar with one event polled from a feed
// and a follower, and returns the calendar, the event's id and the
// publisher.
func publishedFixture(t *testing.T, h *harness, slug, joinMode string) (*store.PublishedCalendar, string, *publish.Publisher) {
	t.Helper()
	ctx := context.Background()
	ics := "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\nUID:one@club\r\nDTSTART:20991210T190000Z\r\nSUMMARY:Repair café\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
	feed := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte(ics)) }))
	t.Cleanup(feed.Close)
	priv, pub, err := signing.GenerateKeyPEM()
	if err != nil {
		t.Fatal(err)
	}
	c := &store.PublishedCalendar{Slug: slug, URL: feed.URL, JoinMode: joinMode}
	if err := h.db.Tx(ctx, func(ctx context.Context, tx *store.Tx) error {
		return tx.CreatePublishedCalendar(ctx, c, &store.LocalActor{DisplayName: slug, PrivateKeyPEM: priv, PublicKeyPEM: pub})
	}); err != nil {
		t.Fatal(err)
	}
	p := &publish.Publisher{DB: h.db, Out: h.svc.Outbox, Fetch: &publish.Fetcher{Client: outbound.New(outbound.Options{AllowPrivateNetworks: true}), AllowPrivate: true}, Log: h.svc.log}
	if _, err := p.Poll(ctx, slug); err != nil {
		t.Fatal(err)
	}
	evs, err := h.db.VisiblePublishedEvents(ctx, c.ID)
	if err != nil || len(evs) != 1 {
		t.Fatal(evs, err)
	}
	return c, EventIDOf(h.svc.ActorURL(slug), evs[0].Key), p
}

// answersTo lists the types of the answers to Joins the remote received.
func answersTo(r *remote) map[string]string {
	out := map[string]string{}
	for _, b := range r.posts() {
		var a map[string]any
		if json.Unmarshal(b, &a) != nil {
			continue
		}
		if o, ok := a["object"].(map[string]any); ok && o["type"] == "Join" {
			out[o["actor"].(string)] = a["type"].(string)
		}
	}
	return out
}

// TestPublishedJoinModes: free accepts at once; restricted holds the
// participant (not counted, the organiser told it is pending) until
// AnswerParticipation; none and external answer Ignore and record
// nothing. The Event and its attendees collection carry the count of the
// moment.
func TestPublishedJoinModes(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) { testPublishedJoinModes(t, newHarnessOn(t, db, Options{}, true)) })
}

func testPublishedJoinModes(t *testing.T, h *harness) {
	ctx := context.Background()
	r := newRemote(t)
	alice := r.addActor("alice", "Person", testKey(t, 1))
	bob := r.addActor("bob", "Person", testKey(t, 2))
	var mu sync.Mutex
	var told []PublishedParticipation
	h.svc.parts = func(_ context.Context, _ *store.Tx, p PublishedParticipation) error {
		mu.Lock()
		defer mu.Unlock()
		told = append(told, p)
		return nil
	}

	c, eventID, _ := publishedFixture(t, h, "club", store.JoinRestricted)
	if _, doc, _ := getJSON(t, eventID, contentTypeActivity); doc["joinMode"] != "restricted" || doc["attendees"] != eventID+"/attendees" {
		t.Errorf("Event = %v", doc)
	}
	for _, who := range []string{alice, bob} {
		r.post(h.svc.ActorURL("club")+"/inbox", who, map[string]any{"id": who + "#join", "type": "Join", "actor": who, "object": eventID}, nil)
	}
	eventually(t, "two held participants", func() bool {
		ps, _ := h.db.PublishedParticipants(ctx, c.ID)
		return len(ps) == 2 && ps[0].State == store.ParticipantPending && ps[1].State == store.ParticipantPending
	})
	mu.Lock()
	if len(told) != 2 || !told[0].Pending || told[0].Count != 0 {
		t.Errorf("organiser told %+v", told)
	}
	mu.Unlock()
	if len(answersTo(r)) != 0 {
		t.Errorf("a held Join was answered: %v", answersTo(r))
	}
	if err := h.svc.AnswerParticipation(ctx, "club", eventID, alice, true); err != nil {
		t.Fatal(err)
	}
	if err := h.svc.AnswerParticipation(ctx, "club", eventID[strings.LastIndex(eventID, "/")+1:], bob, false); err != nil {
		t.Fatal(err)
	}
	if err := h.svc.AnswerParticipation(ctx, "club", eventID, bob, true); err == nil || !strings.Contains(err.Error(), "no Join waiting") {
		t.Errorf("answered twice: %v", err)
	}
	eventually(t, "the Accept and the Reject", func() bool {
		a := answersTo(r)
		return a[alice] == "Accept" && a[bob] == "Reject"
	})
	if _, doc, _ := getJSON(t, eventID, contentTypeActivity); doc["participantCount"] != float64(1) {
		t.Errorf("participantCount = %v", doc["participantCount"])
	}
	if code, doc, _ := getJSON(t, eventID+"/attendees", contentTypeActivity); code != 200 || doc["totalItems"] != float64(1) || doc["orderedItems"] != nil {
		t.Errorf("attendees: %d %v", code, doc)
	}

	for _, mode := range []string{store.JoinNone, store.JoinExternal} {
		r2 := newRemote(t)
		carol := r2.addActor("carol", "Person", testKey(t, 3))
		c2, ev2, _ := publishedFixture(t, h, "club_"+mode, mode)
		r2.post(h.svc.ActorURL(c2.Slug)+"/inbox", carol, map[string]any{"id": carol + "#join", "type": "Join", "actor": carol, "object": ev2}, nil)
		eventually(t, "Ignore of a Join ("+mode+")", func() bool { return answersTo(r2)[carol] == "Ignore" })
		if ps, _ := h.db.PublishedParticipants(ctx, c2.ID); len(ps) != 0 {
			t.Errorf("%s: participants recorded: %+v", mode, ps)
		}
	}
}

// TestPublishedCalendarRemove: RemoveCalendar sends each follower a
// Delete of each event and of the Group, signed with the Group's key,
// which its actor still serves until they are delivered; then the Group,
// its events and their attendees answer 410 Gone with a Tombstone, and
// the name stays taken.
func TestPublishedCalendarRemove(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) { testPublishedCalendarRemove(t, newHarnessOn(t, db, Options{}, true)) })
}

func testPublishedCalendarRemove(t *testing.T, h *harness) {
	ctx := context.Background()
	r := newRemote(t)
	alice := r.addActor("alice", "Person", testKey(t, 1))
	c, eventID, _ := publishedFixture(t, h, "club", "")
	group := h.svc.ActorURL("club")
	r.post(group+"/inbox", alice, map[string]any{"id": alice + "#follow", "type": "Follow", "actor": alice, "object": group}, nil)
	eventually(t, "follower", func() bool { fs, _ := h.db.PublishedFollowers(ctx, c.ID); return len(fs) == 1 })

	res, err := h.svc.RemoveCalendar(ctx, "club")
	if err != nil || res.Followers != 1 || res.Events != 1 {
		t.Fatalf("remove: %+v %v", res, err)
	}
	deleted := map[string]bool{}
	eventually(t, "the Deletes, signed by the Group", func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		for i, b := range r.bodies {
			var a map[string]any
			if json.Unmarshal(b, &a) != nil || a["type"] != "Delete" {
				continue
			}
			if sig := r.received[i].Header.Get("Signature"); !strings.Contains(sig, group+"#main-key") {
				t.Errorf("Delete not signed by the group: %q", sig)
			}
			switch o := a["object"].(type) {
			case string:
				deleted[o] = true
			case map[string]any:
				deleted[o["id"].(string)] = true
			}
		}
		return deleted[eventID] && deleted[group]
	})
	eventually(t, "the Group gone", func() bool {
		code, doc, _ := getJSON(t, group, contentTypeActivity)
		return code == http.StatusGone && doc["type"] == "Tombstone" && doc["formerType"] == "Group"
	})
	for _, u := range []string{eventID, eventID + "/attendees"} {
		if code, doc, _ := getJSON(t, u, contentTypeActivity); code != http.StatusGone || doc["type"] != "Tombstone" {
			t.Errorf("%s after remove: %d %v", u, code, doc)
		}
	}
	host := strings.TrimPrefix(h.srv.URL, "http://")
	if code, _, _ := getJSON(t, h.srv.URL+"/.well-known/webfinger?resource=acct:club@"+host, ""); code != http.StatusGone {
		t.Errorf("webfinger of a removed calendar: %d", code)
	}
}
