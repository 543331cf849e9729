package federation

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"passerelle/store"
)

// ErrBlocked is returned for a domain the admin chose not to federate with.
var ErrBlocked = errors.New("domain is blocked by federation policy")

// BlockList is the admin's runtime list of blocked domains (passerelle
// block / unblock), kept in the store.
type BlockList interface {
	DomainBlocked(ctx context.Context, domain string) (bool, error)
}

// Policy decides whom passerelle federates with: federation.allow (when
// not empty, only those domains), federation.block, and the store's list.
// A rule for a domain covers its subdomains.
type Policy struct {
	Allow []string
	Block []string
	Store BlockList
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
		// Check the host and each parent domain, so blocking example.org
		// also blocks events.example.org.
		for d := host; d != ""; {
			blocked, err := p.Store.DomainBlocked(ctx, d)
			if err != nil {
				return fmt.Errorf("check block list for %s: %w", host, err)
			}
			if blocked {
				return fmt.Errorf("%s: %w", host, ErrBlocked)
			}
			_, rest, ok := strings.Cut(d, ".")
			if !ok || !strings.Contains(rest, ".") {
				break
			}
			d = rest
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
