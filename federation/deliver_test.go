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
	"codeberg.org/passerelle/passerelle/internal/storetest"
	"codeberg.org/passerelle/passerelle/store"
)

// TestFollowDeliveredSigned follows a remote actor and checks, as the
// remote would, that the Follow arrives signed by passerelle's instance
// actor with a key read unsigned from passerelle's actor document.
func TestFollowDeliveredSigned(t *testing.T) {
	h := newHarness(t, Options{})
	r := newRemote(t)
	group := r.addActor("grp", "Group", testKey(t, 0))
	ctx := context.Background()
	res, err := h.svc.Resolve(ctx, group)
	if err != nil {
		t.Fatal(err)
	}
	src, err := h.svc.Follow(ctx, res)
	if err != nil {
		t.Fatal(err)
	}
	if src.State != bridges.SourcePending || src.Slug != "grp" {
		t.Errorf("source %+v", src)
	}
	eventually(t, "the Follow delivered", func() bool { return len(r.posts()) == 1 })
	r.mu.Lock()
	req, body := r.received[0], r.bodies[0]
	r.mu.Unlock()
	if req.URL.Path != "/inbox" {
		t.Errorf("delivered to %s, want the shared inbox", req.URL.Path)
	}
	var follow map[string]any
	json.Unmarshal(body, &follow)
	if follow["type"] != "Follow" || follow["object"] != group || follow["id"] != src.FollowID {
		t.Errorf("Follow = %s", body)
	}
	// Verify with a key fetched without a signature, as Mobilizon does.
	v := &signing.SignatureVerifier{Keys: unsignedKeys{}}
	key, err := v.Verify(ctx, req, body)
	if err != nil {
		t.Fatalf("the remote cannot verify passerelle's Follow: %v", err)
	}
	if key.Owner != h.svc.ActorURL("passerelle") {
		t.Errorf("signed by %s", key.Owner)
	}

	if err := h.svc.Unfollow(ctx, src); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the Undo delivered", func() bool { return len(r.posts()) == 2 })
	if b := r.posts()[1]; !strings.Contains(string(b), `"type":"Undo"`) || !strings.Contains(string(b), src.FollowID) {
		t.Errorf("Undo = %s", b)
	}
}

// unsignedKeys fetches keys with a plain GET.
type unsignedKeys struct{}

func (unsignedKeys) PublicKey(ctx context.Context, keyID string, _ bool) (*signing.PublicKey, error) {
	resp, err := http.Get(stripFragment(keyID))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var d actorDoc
	if err := json.NewDecoder(resp.Body).Decode(&d); err != nil {
		return nil, err
	}
	k := d.keys()[0]
	pk, err := signing.ParsePublicKeyPEM(k.PublicKeyPem)
	if err != nil {
		return nil, err
	}
	return &signing.PublicKey{ID: k.ID, Owner: k.Owner, Key: pk}, nil
}

func TestDeliveryOutcomes(t *testing.T) {
	h := newHarnessJobs(t, Options{}, false)
	r := newRemote(t)
	r.setDoc("/gone", nil, http.StatusGone)
	r.setDoc("/busy", nil, http.StatusServiceUnavailable)
	r.setDoc("/bad", nil, http.StatusBadRequest)
	ctx := context.Background()
	inst, err := h.svc.InstanceActor(ctx)
	if err != nil {
		t.Fatal(err)
	}
	deliver := func(path string) int64 {
		act := []byte(`{"id":"` + h.svc.URL("/test/"+randomID()) + `","type":"Follow"}`)
		err := h.db.Tx(ctx, func(ctx context.Context, tx *store.Tx) error {
			return h.svc.Deliver(ctx, tx, inst.ID, outbox.Recipient{Inbox: r.url(path)}, act)
		})
		if err != nil {
			t.Fatal(err)
		}
		ds, err := h.db.DeliveriesOf(ctx, strings.Split(strings.Split(string(act), `"id":"`)[1], `"`)[0])
		if err != nil || len(ds) != 1 {
			t.Fatalf("deliveries: %v %v", ds, err)
		}
		return ds[0].ID
	}
	for _, tc := range []struct {
		path      string
		state     string
		minRetry  time.Duration
		wantRetry bool
	}{
		{"/inbox", store.DeliveryDelivered, 0, false},
		{"/gone", store.DeliveryGone, 0, false},
		{"/bad", store.DeliveryFailed, 0, false},
		{"/busy", store.DeliveryPending, 90 * time.Second, true},
	} {
		id := deliver(tc.path)
		retry, err := h.svc.RunDelivery(ctx, id)
		if err != nil {
			t.Fatalf("%s: %v", tc.path, err)
		}
		d, _ := h.db.DeliveryByID(ctx, id)
		if d.State != tc.state || d.Attempts != 1 {
			t.Errorf("%s: state %s after %d attempts, want %s after 1", tc.path, d.State, d.Attempts, tc.state)
		}
		if tc.wantRetry != (retry > 0) || retry < tc.minRetry {
			t.Errorf("%s: retry in %s, want ≥ %s (Retry-After: 90)", tc.path, retry, tc.minRetry)
		}
		if tc.wantRetry && d.LastError == "" {
			t.Errorf("%s: no error recorded", tc.path)
		}
	}
	// The recipient actor itself is gone (410): stop, do not retry.
	r.setDoc("/@deleted", map[string]any{"type": "Tombstone"}, http.StatusGone)
	goneActor := []byte(`{"id":"` + h.svc.URL("/test/"+randomID()) + `","type":"Follow"}`)
	if err := h.db.Tx(ctx, func(ctx context.Context, tx *store.Tx) error {
		return h.svc.Deliver(ctx, tx, inst.ID, outbox.Recipient{Actor: r.url("/@deleted")}, goneActor)
	}); err != nil {
		t.Fatal(err)
	}
	var goneID int64
	storetest.QueryRow(h.db, `SELECT MAX(id) FROM deliveries`).Scan(&goneID)
	if retry, err := h.svc.RunDelivery(ctx, goneID); err != nil || retry != 0 {
		t.Fatalf("delivery to a gone actor: retry %s, %v", retry, err)
	}
	if d, _ := h.db.DeliveryByID(ctx, goneID); d.State != store.DeliveryGone {
		t.Errorf("delivery to a gone actor: state %s, want gone", d.State)
	}

	// Blocked after enqueueing: never contacted.
	h.svc.policy.Block = []string{"127.0.0.1"}
	before := len(r.posts())
	id := deliver("/inbox")
	if _, err := h.svc.RunDelivery(ctx, id); err != nil {
		t.Fatal(err)
	}
	if d, _ := h.db.DeliveryByID(ctx, id); d.State != store.DeliveryFailed || len(r.posts()) != before {
		t.Errorf("delivery to a blocked domain: state %s, posts %d→%d", d.State, before, len(r.posts()))
	}
}

func TestLocalActorDocuments(t *testing.T) {
	h := newHarnessJobs(t, Options{InstanceActor: "bridge", Version: "1.2.3", NodeName: "Vélo à Lyon"}, false)
	get := func(path, accept string) (*http.Response, map[string]any) {
		req, _ := http.NewRequest("GET", h.srv.URL+path, nil)
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		json.NewDecoder(resp.Body).Decode(&m)
		return resp, m
	}
	actor := h.svc.ActorURL("bridge")
	for _, accept := range []string{contentTypeActivity, contentTypeLD} {
		resp, doc := get("/actors/bridge", accept)
		if resp.StatusCode != 200 || doc["type"] != "Application" || doc["id"] != actor {
			t.Fatalf("actor (%s): %d %v", accept, resp.StatusCode, doc)
		}
		wantCT := "application/activity+json"
		if accept == contentTypeLD {
			wantCT = contentTypeLD
		}
		if ct := resp.Header.Get("Content-Type"); ct != wantCT {
			t.Errorf("Accept %s: Content-Type %q", accept, ct)
		}
		pk := doc["publicKey"].(map[string]any)
		if _, err := signing.ParsePublicKeyPEM(pk["publicKeyPem"].(string)); err != nil || pk["owner"] != actor || pk["id"] != actor+"#main-key" {
			t.Errorf("publicKey %v: %v", pk, err)
		}
		if doc["endpoints"].(map[string]any)["sharedInbox"] != h.srv.URL+"/inbox" || doc["inbox"] != actor+"/inbox" || doc["followers"] != actor+"/followers" {
			t.Errorf("inboxes: %v", doc)
		}
	}
	if resp, _ := get("/actors/bridge", "text/html"); resp.Request.URL.Path != "/" {
		t.Errorf("a browser was not sent to the home page: %s", resp.Request.URL)
	}
	host := strings.TrimPrefix(h.srv.URL, "http://")
	for _, res := range []string{"acct:bridge@" + host, "bridge@" + host, actor} {
		resp, jrd := get("/.well-known/webfinger?resource="+res, "")
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/jrd+json" || jrd["subject"] != "acct:bridge@"+host {
			t.Errorf("webfinger %s: %d %v", res, resp.StatusCode, jrd)
		}
	}
	if resp, _ := get("/.well-known/webfinger?resource=acct:nobody@"+host, ""); resp.StatusCode != 404 {
		t.Errorf("webfinger of an unknown actor: %d", resp.StatusCode)
	}
	_, links := get("/.well-known/nodeinfo", "")
	if !strings.Contains(mustString(links), "/nodeinfo/2.1") {
		t.Errorf("nodeinfo links %v", links)
	}
	_, ni := get("/nodeinfo/2.1", "")
	if ni["version"] != "2.1" || ni["software"].(map[string]any)["name"] != "passerelle" || ni["software"].(map[string]any)["version"] != "1.2.3" ||
		ni["metadata"].(map[string]any)["nodeName"] != "Vélo à Lyon" {
		t.Errorf("nodeinfo %v", ni)
	}
	resp, _ := get("/.well-known/host-meta", "")
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/xrd+xml") {
		t.Errorf("host-meta Content-Type %q", resp.Header.Get("Content-Type"))
	}
	if resp, _ := get("/actors/nobody", ""); resp.StatusCode != 404 {
		t.Errorf("unknown actor: %d", resp.StatusCode)
	}
}

func mustString(v any) string { return string(mustJSON(v)) }
