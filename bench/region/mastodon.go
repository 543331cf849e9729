package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"sync"
	"time"

	"codeberg.org/passerelle/passerelle/internal/mastodontest"
	"codeberg.org/passerelle/passerelle/mastodon"
	"codeberg.org/passerelle/passerelle/store"
)

// mastoSide is the optional Mastodon side (-mastodon N): the in-process
// Mastodon API server the tests use (internal/mastodontest), one account
// connected to it, and routes that cross-post the events of the first N
// groups there, each status checked against the Create it comes from.
type mastoSide struct {
	srv  *mastodontest.Server
	http *http.Server
	mu   sync.Mutex
	// posted holds, by burst activity, when each status naming its
	// event was created.
	posted map[int][]time.Time
}

// burstTitle finds a burst event's number in a status: its title is
// "Atelier N" (see inboxPhase).
var burstTitle = regexp.MustCompile(`Atelier (\d+)\b`)

// startMastodon starts the server on its own loopback address and
// connects an account with routes from the sources sourceIDs to it.
func startMastodon(ctx context.Context, db *store.DB, sourceIDs []int64) (*mastoSide, error) {
	ln, err := net.Listen("tcp", "127.0.0.5:0")
	if err != nil {
		return nil, err
	}
	m := &mastoSide{srv: mastodontest.NewUnstarted(mastodontest.Options{}), posted: map[int][]time.Time{}}
	m.srv.URL = "http://" + ln.Addr().String()
	m.srv.OnCreate(func(st mastodontest.Status) {
		sub := burstTitle.FindStringSubmatch(st.Text)
		if sub == nil {
			return
		}
		n, _ := strconv.Atoi(sub[1])
		m.mu.Lock()
		m.posted[n] = append(m.posted[n], time.Now())
		m.mu.Unlock()
	})
	m.http = &http.Server{Handler: m.srv.Handler()}
	go m.http.Serve(ln)
	acct := &store.MastodonAccount{Instance: m.srv.URL, Acct: m.srv.Acct(), RemoteID: mastodontest.AccountID,
		Token: m.srv.Token(), State: mastodon.AccountActive, Scopes: "read write"}
	if err := db.SaveMastodonAccount(ctx, acct); err != nil {
		m.close()
		return nil, fmt.Errorf("connect the Mastodon account: %w", err)
	}
	for _, id := range sourceIDs {
		r := &store.MastodonRoute{SourceID: id, AccountID: acct.ID, Visibility: "public", On: mastodon.AllTriggers}
		if err := db.SaveMastodonRoute(ctx, r); err != nil {
			m.close()
			return nil, fmt.Errorf("route source %d to Mastodon: %w", id, err)
		}
	}
	return m, nil
}

func (m *mastoSide) close() { m.http.Close() }

// mastoResult is what the Mastodon side saw of the burst.
type mastoResult struct {
	// routed is how many accepted Creates were of routed groups; posted
	// how many of them got a status, twice how many got more than one.
	routed, posted, twice int
	lagP50, lagP99        time.Duration
}

// wait waits until every routed Create in want has its status, or until
// deadline, then counts.
func (m *mastoSide) wait(want map[int]time.Time, deadline time.Time) mastoResult {
	for {
		m.mu.Lock()
		got := 0
		for n := range want {
			if len(m.posted[n]) > 0 {
				got++
			}
		}
		m.mu.Unlock()
		if got == len(want) || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	r := mastoResult{routed: len(want)}
	var lags []time.Duration
	for n, accepted := range want {
		ts := m.posted[n]
		if len(ts) == 0 {
			continue
		}
		r.posted++
		if len(ts) > 1 {
			r.twice++
		}
		lags = append(lags, ts[0].Sub(accepted))
	}
	r.lagP50, r.lagP99 = percentile(lags, 50), percentile(lags, 99)
	return r
}
