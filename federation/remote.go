package federation

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"codeberg.org/passerelle/passerelle/bridges"
	"codeberg.org/passerelle/passerelle/federation/signing"
	"codeberg.org/passerelle/passerelle/store"
)

// keyRefreshMin is the least time between two fetches of one key, so
// that a stream of badly signed requests cannot make passerelle hammer a
// server (or be used to).
const keyRefreshMin = time.Minute

// actorDoc is the part of an actor document passerelle reads. Documents
// are read as plain JSON: every server we bridge uses the compacted
// ActivityStreams terms, and FORMAT.md notes no JSON-LD processing is
// needed.
type actorDoc struct {
	ID                string          `json:"id"`
	Type              string          `json:"type"`
	PreferredUsername string          `json:"preferredUsername"`
	Name              string          `json:"name"`
	Summary           string          `json:"summary"`
	Inbox             string          `json:"inbox"`
	Outbox            string          `json:"outbox"`
	Followers         string          `json:"followers"`
	Events            json.RawMessage `json:"events"`
	Endpoints         struct {
		SharedInbox string `json:"sharedInbox"`
	} `json:"endpoints"`
	PublicKey                 json.RawMessage `json:"publicKey"`
	ManuallyApprovesFollowers bool            `json:"manuallyApprovesFollowers"`
	// A key document (keyId pointing at a Key object) has these.
	Owner        string `json:"owner"`
	PublicKeyPem string `json:"publicKeyPem"`
}

type keyDoc struct {
	ID           string `json:"id"`
	Owner        string `json:"owner"`
	PublicKeyPem string `json:"publicKeyPem"`
}

// keys lists the actor's published keys (publicKey may be one or many).
func (d *actorDoc) keys() []keyDoc {
	if len(d.PublicKey) == 0 {
		return nil
	}
	var one keyDoc
	if json.Unmarshal(d.PublicKey, &one) == nil && one.PublicKeyPem != "" {
		return []keyDoc{one}
	}
	var many []keyDoc
	_ = json.Unmarshal(d.PublicKey, &many)
	return many
}

// eventsURL is Mobilizon's group events collection, when published.
func (d *actorDoc) eventsURL() string {
	var s string
	if json.Unmarshal(d.Events, &s) == nil {
		return s
	}
	return ""
}

func stripFragment(id string) string {
	if i := strings.IndexByte(id, '#'); i >= 0 {
		return id[:i]
	}
	return id
}

func sameHost(a, b string) bool {
	ua, err1 := url.Parse(a)
	ub, err2 := url.Parse(b)
	return err1 == nil && err2 == nil && ua.Host != "" && strings.EqualFold(ua.Host, ub.Host)
}

// fetchActor GETs an actor document (signed) and checks it is what it
// claims: its id is the URL it was fetched from (or on the same host,
// after a redirect).
func (s *Service) fetchActor(ctx context.Context, actorURL string) (*actorDoc, []byte, error) {
	body, err := s.fetcher.Get(ctx, actorURL, "")
	if err != nil {
		return nil, nil, err
	}
	var d actorDoc
	if err := json.Unmarshal(body, &d); err != nil {
		return nil, nil, fmt.Errorf("actor %s: not a JSON document: %w", actorURL, err)
	}
	if d.ID == "" || !sameHost(d.ID, actorURL) {
		return nil, nil, fmt.Errorf("actor %s: document id %q is not on the host it was fetched from", actorURL, d.ID)
	}
	return &d, body, nil
}

// refreshActor fetches an actor and caches its key and inboxes.
func (s *Service) refreshActor(ctx context.Context, actorURL, wantKeyID string) (*store.RemoteActor, *actorDoc, error) {
	d, _, err := s.fetchActor(ctx, actorURL)
	if err != nil {
		return nil, nil, err
	}
	// A keyId may name a standalone Key document: follow it to its owner.
	if d.PublicKeyPem != "" && d.Owner != "" && d.Owner != d.ID {
		if !sameHost(d.Owner, d.ID) {
			return nil, nil, fmt.Errorf("key %s: owner %s is on another host", d.ID, d.Owner)
		}
		od, _, err := s.fetchActor(ctx, d.Owner)
		if err != nil {
			return nil, nil, fmt.Errorf("key %s owner: %w", d.ID, err)
		}
		od.PublicKey, _ = json.Marshal(keyDoc{ID: d.ID, Owner: d.Owner, PublicKeyPem: d.PublicKeyPem})
		d = od
	}
	var key *keyDoc
	for _, k := range d.keys() {
		if wantKeyID == "" || k.ID == wantKeyID {
			key = &k
			break
		}
	}
	if key == nil {
		return nil, nil, fmt.Errorf("actor %s does not publish key %s", d.ID, wantKeyID)
	}
	if key.Owner != "" && key.Owner != d.ID {
		return nil, nil, fmt.Errorf("key %s is owned by %s, not by actor %s", key.ID, key.Owner, d.ID)
	}
	if _, err := signing.ParsePublicKeyPEM(key.PublicKeyPem); err != nil {
		return nil, nil, fmt.Errorf("actor %s: %w", d.ID, err)
	}
	ra := &store.RemoteActor{
		ID: d.ID, KeyID: key.ID, PublicKeyPEM: key.PublicKeyPem, Type: d.Type, Username: d.PreferredUsername,
		Name: d.Name, Inbox: d.Inbox, SharedInbox: d.Endpoints.SharedInbox, Outbox: d.Outbox, FetchedAt: s.now(),
	}
	if err := s.db.SaveRemoteActor(ctx, ra); err != nil {
		return nil, nil, err
	}
	return ra, d, nil
}

// keyMemoryTTL is how long a parsed key is kept in memory before the
// remote_actors table is read again (where another replica may have
// stored a rotated key).
const keyMemoryTTL = 5 * time.Minute

// Bounds on fetching signature keys, so that requests naming unknown or
// unreachable keys cannot make passerelle fetch per request or hold
// connections without limit (issue 13: 50 requests with one bad keyId made
// 50 GETs; 300 pointing at a tarpit held 600 descriptors for 30 s).
const (
	// keyFailTTL is how long a failed fetch of a keyId is answered from
	// memory: the same as keyRefreshMin, the least time between two
	// fetches of one key.
	keyFailTTL = keyRefreshMin
	// maxFailedKeys bounds the failures remembered.
	maxFailedKeys = 10000
	// maxKeyFetches bounds the key fetches running at once in a process;
	// requests beyond it are refused with ErrKeyFetchBusy.
	maxKeyFetches = 16
	// keyFetchTimeout bounds one key fetch, the key document and its
	// owner's together.
	keyFetchTimeout = 10 * time.Second
)

// ErrKeyFetchBusy is returned when as many signature keys as allowed are
// being fetched already: the request should be retried later.
var ErrKeyFetchBusy = errors.New("too many signature keys being fetched at once")

// keyCache resolves signature keys: parsed keys in memory, then the
// remote_actors table, then a signed fetch (as the instance actor).
// Failures are remembered per keyId for keyFailTTL, concurrent requests
// for one keyId share one fetch, and at most maxKeyFetches run at once.
// All of it is per process: a replica that has not seen a bad keyId
// fetches it once itself, which is the same bound per replica.
type keyCache struct {
	s       *Service
	mu      sync.Mutex
	memory  map[string]cachedKey
	failed  map[string]failedKey
	flights singleflight.Group
	fetches chan struct{}
}

func newKeyCache(s *Service) *keyCache {
	return &keyCache{s: s, memory: map[string]cachedKey{}, failed: map[string]failedKey{}, fetches: make(chan struct{}, maxKeyFetches)}
}

type cachedKey struct {
	key *signing.PublicKey
	at  time.Time
}

type failedKey struct {
	err   error
	until time.Time
}

func (k *keyCache) PublicKey(ctx context.Context, keyID string, refresh bool) (*signing.PublicKey, error) {
	k.mu.Lock()
	c, ok := k.memory[keyID]
	f, failed := k.failed[keyID]
	k.mu.Unlock()
	if !refresh && ok && time.Since(c.at) < keyMemoryTTL {
		return c.key, nil
	}
	if failed && time.Now().Before(f.until) {
		return nil, fmt.Errorf("%w (failed within the last %s, not fetched again)", f.err, keyFailTTL)
	}
	flight := keyID
	if refresh {
		flight = "refresh " + keyID
	}
	// The fetch runs for every caller waiting on it: one caller giving up
	// must not fail the others, so it has its own deadline.
	ch := k.flights.DoChan(flight, func() (any, error) {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), keyFetchTimeout)
		defer cancel()
		return k.load(ctx, keyID, refresh)
	})
	var res singleflight.Result
	select {
	case res = <-ch:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if res.Err != nil {
		return nil, res.Err
	}
	key := res.Val.(*signing.PublicKey)
	k.mu.Lock()
	if len(k.memory) > 10000 {
		k.memory = map[string]cachedKey{}
	}
	k.memory[keyID] = cachedKey{key: key, at: time.Now()}
	k.mu.Unlock()
	return key, nil
}

// remember records a failed fetch of keyID.
func (k *keyCache) remember(keyID string, err error) {
	now := time.Now()
	k.mu.Lock()
	defer k.mu.Unlock()
	if len(k.failed) >= maxFailedKeys {
		for id, f := range k.failed {
			if now.After(f.until) {
				delete(k.failed, id)
			}
		}
	}
	if len(k.failed) >= maxFailedKeys {
		// Map order is random: an arbitrary failure goes.
		for id := range k.failed {
			delete(k.failed, id)
			break
		}
	}
	k.failed[keyID] = failedKey{err: err, until: now.Add(keyFailTTL)}
}

func (k *keyCache) load(ctx context.Context, keyID string, refresh bool) (*signing.PublicKey, error) {
	s := k.s
	if err := s.policy.CheckURL(ctx, keyID); err != nil {
		return nil, err
	}
	ra, err := s.db.RemoteActorByKeyID(ctx, keyID)
	switch {
	case err == nil && (!refresh || s.now().Sub(ra.FetchedAt) < keyRefreshMin):
	case err == nil || errors.Is(err, bridges.ErrNotFound):
		select {
		case k.fetches <- struct{}{}:
		default:
			return nil, ErrKeyFetchBusy
		}
		ra, _, err = s.refreshActor(ctx, stripFragment(keyID), keyID)
		<-k.fetches
		if err != nil {
			k.remember(keyID, err)
			return nil, err
		}
	default:
		return nil, err
	}
	pk, err := signing.ParsePublicKeyPEM(ra.PublicKeyPEM)
	if err != nil {
		return nil, err
	}
	return &signing.PublicKey{ID: ra.KeyID, Owner: ra.ID, Key: pk}, nil
}
