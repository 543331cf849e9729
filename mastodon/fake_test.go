package mastodon

import (
	"context"
	"slices"
	"sync"
	"time"

	"codeberg.org/passerelle/passerelle/bridges"
)

// memStore is an in-memory Store for unit tests; store/mastodon.go is the
// real one, tested against both databases in package store.
type memStore struct {
	mu       sync.Mutex
	accounts map[int64]*Account
	routes   map[int64]*Route
	posts    map[[2]int64]map[string]*Post
	claims   map[[2]int64]claim
	events   map[int64]*bridges.StoredEvent
	jobs     []bridges.Job
	nextID   int64
}

type claim struct {
	owner string
	until time.Time
}

func newMemStore() *memStore {
	return &memStore{accounts: map[int64]*Account{}, routes: map[int64]*Route{}, posts: map[[2]int64]map[string]*Post{},
		claims: map[[2]int64]claim{}, events: map[int64]*bridges.StoredEvent{}}
}

func (m *memStore) MastodonAccount(ctx context.Context, id int64) (*Account, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	a, ok := m.accounts[id]
	if !ok {
		return nil, bridges.ErrNotFound
	}
	c := *a
	return &c, nil
}

func (m *memStore) MastodonAccounts(ctx context.Context) ([]Account, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Account
	for _, a := range m.accounts {
		out = append(out, *a)
	}
	return out, nil
}

func (m *memStore) SaveMastodonAccount(ctx context.Context, a *Account) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if a.ID == 0 {
		m.nextID++
		a.ID = m.nextID
	}
	c := *a
	m.accounts[a.ID] = &c
	return nil
}

func (m *memStore) DeleteMastodonAccount(ctx context.Context, id int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.accounts, id)
	return nil
}

func (m *memStore) SetMastodonAccountState(ctx context.Context, id int64, state AccountState, msg string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if a, ok := m.accounts[id]; ok {
		a.State, a.LastError = state, msg
	}
	return nil
}

func (m *memStore) MastodonRoute(ctx context.Context, id int64) (*Route, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.routes[id]
	if !ok {
		return nil, bridges.ErrNotFound
	}
	c := *r
	return &c, nil
}

func (m *memStore) MastodonRoutes(ctx context.Context) ([]Route, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Route
	for _, r := range m.routes {
		out = append(out, *r)
	}
	return out, nil
}

func (m *memStore) SaveMastodonRoute(ctx context.Context, r *Route) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if r.ID == 0 {
		m.nextID++
		r.ID = m.nextID
	}
	c := *r
	m.routes[r.ID] = &c
	return nil
}

func (m *memStore) DeleteMastodonRoute(ctx context.Context, id int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.routes, id)
	return nil
}

func (m *memStore) MastodonPost(ctx context.Context, eventID, accountID int64, kind string) (*Post, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p, ok := m.posts[[2]int64{eventID, accountID}][kind]
	if !ok {
		return nil, bridges.ErrNotFound
	}
	c := *p
	return &c, nil
}

func (m *memStore) SaveMastodonPost(ctx context.Context, p *Post) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := [2]int64{p.EventID, p.AccountID}
	if m.posts[k] == nil {
		m.posts[k] = map[string]*Post{}
	}
	c := *p
	m.posts[k][p.Kind] = &c
	return nil
}

func (m *memStore) ClaimMastodonThread(ctx context.Context, eventID, accountID int64, owner string, until time.Time) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := [2]int64{eventID, accountID}
	if c, ok := m.claims[k]; ok && c.owner != owner && time.Now().Before(c.until) {
		return false, nil
	}
	m.claims[k] = claim{owner, until}
	return true, nil
}

func (m *memStore) ReleaseMastodonThread(ctx context.Context, eventID, accountID int64, owner string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := [2]int64{eventID, accountID}
	if m.claims[k].owner == owner {
		delete(m.claims, k)
	}
	return nil
}

func (m *memStore) PendingMastodonPosts(ctx context.Context) ([]Post, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Post
	for _, ps := range m.posts {
		for _, p := range ps {
			if p.State == PostPending {
				out = append(out, *p)
			}
		}
	}
	return out, nil
}

func (m *memStore) EventByID(ctx context.Context, id int64) (*bridges.StoredEvent, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.events[id]
	if !ok {
		return nil, bridges.ErrNotFound
	}
	c := *e
	c.Tags = slices.Clone(e.Tags)
	return &c, nil
}

func (m *memStore) Enqueue(ctx context.Context, job bridges.Job, opts bridges.JobOpts) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.jobs = append(m.jobs, job)
	return nil
}

func (m *memStore) putEvent(ev *bridges.StoredEvent) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := *ev
	m.events[ev.ID] = &c
}

func (m *memStore) post(eventID, accountID int64, kind string) *Post {
	p, _ := m.MastodonPost(context.Background(), eventID, accountID, kind)
	return p
}

// memTx is a transaction over memStore, for the listener.
type memTx struct {
	m    *memStore
	jobs []bridges.Job
	runs []time.Time
}

func (t *memTx) EventByAPID(ctx context.Context, apID string) (*bridges.StoredEvent, error) {
	return nil, bridges.ErrNotFound
}
func (t *memTx) SaveEvent(ctx context.Context, ev *bridges.StoredEvent) error { return nil }
func (t *memTx) Enqueue(ctx context.Context, job bridges.Job, opts bridges.JobOpts) error {
	t.jobs = append(t.jobs, job)
	t.runs = append(t.runs, opts.RunAt)
	return nil
}
func (t *memTx) MastodonRoutesForSource(ctx context.Context, sourceID int64) ([]Route, error) {
	rs, _ := t.m.MastodonRoutes(ctx)
	var out []Route
	for _, r := range rs {
		if r.SourceID == sourceID {
			out = append(out, r)
		}
	}
	return out, nil
}
