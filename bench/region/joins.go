package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"codeberg.org/passerelle/passerelle/federation/signing"
)

// current is the run whose Joins the remote hosts record and answer (the
// hosts outlive runs); nil between runs.
var current atomic.Pointer[joinBook]

// joinBook is what the remote hosts saw of one run's Joins: each verified
// against the participant actor's key, fetched from passerelle as a real
// server would, then answered with a signed Accept from the group.
type joinBook struct {
	bench *bench
	mu    sync.Mutex
	seen  []seenJoin
	bad   int
	keys  map[string]*signing.PublicKey
	n     atomic.Int64
}

type seenJoin struct {
	at        time.Time
	id, actor string
}

func (j *joinBook) count() int {
	j.mu.Lock()
	defer j.mu.Unlock()
	return len(j.seen)
}

func (j *joinBook) all() []seenJoin {
	j.mu.Lock()
	defer j.mu.Unlock()
	return append([]seenJoin(nil), j.seen...)
}

func (j *joinBook) unsigned() int {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.bad
}

// serveInbox is a group's inbox on a remote host: a Join is checked and
// answered; the rest (Follows, Leaves) only acknowledged.
func serveInbox(g *group, w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	j := current.Load()
	var act struct{ ID, Type, Actor string }
	if err != nil || j == nil || json.Unmarshal(body, &act) != nil || act.Type != "Join" {
		w.WriteHeader(http.StatusAccepted)
		return
	}
	at := time.Now()
	v := &signing.SignatureVerifier{Keys: j}
	key, err := v.Verify(r.Context(), r, body)
	if err != nil || key.Owner != act.Actor {
		j.mu.Lock()
		j.bad++
		j.mu.Unlock()
		http.Error(w, fmt.Sprint("signature: ", err), http.StatusUnauthorized)
		return
	}
	j.mu.Lock()
	j.seen = append(j.seen, seenJoin{at: at, id: act.ID, actor: act.Actor})
	j.mu.Unlock()
	w.WriteHeader(http.StatusAccepted)
	go j.accept(g, act.ID, act.Actor)
}

// accept answers a Join as Mobilizon does for a free event: a signed
// Accept naming the Join, to passerelle's shared inbox.
func (j *joinBook) accept(g *group, joinID, participant string) {
	b := j.bench
	n := j.n.Add(1)
	body, _ := json.Marshal(map[string]any{
		"@context": "https://www.w3.org/ns/activitystreams",
		"id":       fmt.Sprintf("%s/accepts/%d", g.actor, time.Now().UnixNano()),
		"type":     "Accept", "actor": g.actor, "object": joinID, "to": []string{participant},
	})
	postSigned(b.client, g, b.public, b.addrs[int(n)%len(b.addrs)], body)
}

// PublicKey fetches the key of a participant actor from passerelle (from
// its first replica: public_url is no listening address here).
func (j *joinBook) PublicKey(ctx context.Context, keyID string, refresh bool) (*signing.PublicKey, error) {
	j.mu.Lock()
	k, ok := j.keys[keyID]
	j.mu.Unlock()
	if ok && !refresh {
		return k, nil
	}
	u, err := url.Parse(keyID)
	if err != nil {
		return nil, err
	}
	u.Host, u.Fragment = j.bench.addrs[0], ""
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	req.Header.Set("Accept", "application/activity+json")
	resp, err := j.bench.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var doc struct {
		PublicKey struct{ ID, Owner, PublicKeyPem string }
	}
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil || resp.StatusCode != 200 {
		return nil, fmt.Errorf("key %s: %s %v", keyID, resp.Status, err)
	}
	pub, err := signing.ParsePublicKeyPEM(doc.PublicKey.PublicKeyPem)
	if err != nil {
		return nil, err
	}
	k = &signing.PublicKey{ID: doc.PublicKey.ID, Owner: doc.PublicKey.Owner, Key: pub}
	j.mu.Lock()
	if j.keys == nil {
		j.keys = map[string]*signing.PublicKey{}
	}
	j.keys[keyID] = k
	j.mu.Unlock()
	return k, nil
}
