package policy

import (
	"context"
	"errors"
	"testing"
)

type fakeBlocks []string

func (f fakeBlocks) BlockedDomains(context.Context) ([]string, error) { return f, nil }

func TestPolicy(t *testing.T) {
	ctx := context.Background()
	p := &Policy{Block: []string{"Bad.Example"}, Store: fakeBlocks{"spam.test"}}
	for host, blocked := range map[string]bool{
		"bad.example": true, "events.bad.example:8443": true, "notbad.example": false,
		"spam.test": true, "a.spam.test": true, "good.test": false,
	} {
		err := p.CheckHost(ctx, host)
		if got := errors.Is(err, ErrBlocked); got != blocked {
			t.Errorf("CheckHost(%s) = %v, want blocked=%v", host, err, blocked)
		}
	}
	allow := &Policy{Allow: []string{"mobilizon.test"}}
	if err := allow.CheckHost(ctx, "groups.mobilizon.test"); err != nil {
		t.Errorf("allowed subdomain refused: %v", err)
	}
	if err := allow.CheckHost(ctx, "other.test"); !errors.Is(err, ErrBlocked) {
		t.Errorf("host outside federation.allow: %v", err)
	}
}
