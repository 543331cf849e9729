package federation

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"codeberg.org/passerelle/passerelle/internal/outbound"
	"codeberg.org/passerelle/passerelle/internal/storetest"
)

// TestResolvePrivateAddressNamed: following an instance on a private
// address, with private networks not allowed, says the address was
// refused, not that no instance actor was found.
func TestResolvePrivateAddressNamed(t *testing.T) {
	db := storetest.New(t)
	svc, err := New(Options{PublicURL: "https://passerelle.example"}, Deps{DB: db, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := svc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	for _, input := range []string{"https://127.0.0.1:5432", "https://localhost:5432/", "https://[::1]:5432"} {
		_, err := svc.Resolve(ctx, input)
		if !errors.Is(err, outbound.ErrPrivateAddress) {
			t.Errorf("resolve %s: %v, want ErrPrivateAddress", input, err)
			continue
		}
		if !strings.Contains(err.Error(), "federation.allow_private_networks") || strings.Contains(err.Error(), "found no instance actor") {
			t.Errorf("resolve %s: %q", input, err)
		}
	}
}
