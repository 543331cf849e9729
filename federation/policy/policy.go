package policy

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	"codeberg.org/passerelle/passerelle/store"
)

// ErrBlocked is returned for a domain the admin chose not to federate with.
var ErrBlocked = errors.New("domain is blocked by federation policy")

// BlockList is the admin's runtime list of blocked domains (passerelle
// block / unblock), kept in the store.
type BlockList interface {
	BlockedDomains(ctx context.Context) ([]string, error)
}

// blockListTTL is how long a copy of the store's block list is used: a
// `passerelle block` reaches every replica within that time, and the inbox
// does not query the database for it on every request.
const blockListTTL = 5 * time.Second

// Policy decides whom passerelle federates with: federation.allow (when
// not empty, only those domains), federation.block, and the store's list.
// A rule for a domain covers its subdomains.
type Policy struct {
	Allow []string
	Block []string
	Store BlockList

	mu       sync.Mutex
	stored   []string
	loadedAt time.Time
}

func (p *Policy) storedBlocks(ctx context.Context) ([]string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.loadedAt.IsZero() || time.Since(p.loadedAt) > blockListTTL {
		list, err := p.Store.BlockedDomains(ctx)
		if err != nil {
			return nil, err
		}
		p.stored, p.loadedAt = list, time.Now()
	}
	return p.stored, nil
}

func matchDomain(host, rule string) bool {
	rule = store.NormalizeDomain(rule)
	return rule != "" && (host == rule || strings.HasSuffix(host, "."+rule))
}

// CheckHost returns ErrBlocked (wrapped, naming the host) when passerelle
// must not talk with host.
func (p *Policy) CheckHost(ctx context.Context, host string) error {
	if p == nil {
		return nil
	}
	host = store.NormalizeDomain(host)
	if host == "" {
		return fmt.Errorf("empty host: %w", ErrBlocked)
	}
	for _, b := range p.Block {
		if matchDomain(host, b) {
			return fmt.Errorf("%s: %w", host, ErrBlocked)
		}
	}
	if len(p.Allow) > 0 {
		allowed := false
		for _, a := range p.Allow {
			if matchDomain(host, a) {
				allowed = true
				break
			}
		}
		if !allowed {
			return fmt.Errorf("%s is not in federation.allow: %w", host, ErrBlocked)
		}
	}
	if p.Store != nil {
		list, err := p.storedBlocks(ctx)
		if err != nil {
			return fmt.Errorf("check block list for %s: %w", host, err)
		}
		for _, b := range list {
			if matchDomain(host, b) {
				return fmt.Errorf("%s: %w", host, ErrBlocked)
			}
		}
	}
	return nil
}

// CheckURL is CheckHost for a URL.
func (p *Policy) CheckURL(ctx context.Context, raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("parse URL %q: %w", raw, err)
	}
	return p.CheckHost(ctx, u.Host)
}
