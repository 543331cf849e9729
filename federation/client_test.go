package federation

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"codeberg.org/passerelle/passerelle/federation/policy"
	"codeberg.org/passerelle/passerelle/federation/signing"
	"codeberg.org/passerelle/passerelle/internal/outbound"
)

func TestFetcherRefusesPlainHTTP(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("{}")) }))
	defer srv.Close()
	strict := outbound.New(outbound.Options{Timeout: 5 * time.Second})
	f := &Fetcher{Client: strict}
	if _, err := f.Get(context.Background(), srv.URL, ""); err == nil || !strings.Contains(err.Error(), "only https") {
		t.Errorf("plain http fetch without the flag: %v", err)
	}
}

func TestFetcherLimitsAndStatus(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/big":
			w.Write([]byte(strings.Repeat("x", 2048)))
		case "/gone":
			w.WriteHeader(http.StatusGone)
		case "/slow":
			w.Header().Set("Retry-After", "120")
			w.WriteHeader(http.StatusTooManyRequests)
		default:
			if r.Header.Get("Signature") == "" {
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			w.Write([]byte(`{"ok":true}`))
		}
	}))
	defer srv.Close()
	key := testKey(t, 0)
	f := &Fetcher{
		Client: outbound.New(outbound.Options{AllowPrivateNetworks: true}), AllowPrivate: true, MaxBody: 1024,
		Signer: func(context.Context) (*signing.RequestSigner, error) {
			return &signing.RequestSigner{KeyID: "k", Key: key}, nil
		},
	}
	ctx := context.Background()
	if b, err := f.Get(ctx, srv.URL+"/ok", ""); err != nil || string(b) != `{"ok":true}` {
		t.Errorf("signed fetch: %q %v", b, err)
	}
	if _, err := f.Get(ctx, srv.URL+"/big", ""); err == nil || !strings.Contains(err.Error(), "larger than 1024") {
		t.Errorf("oversized body: %v", err)
	}
	var se *outbound.StatusError
	if _, err := f.Get(ctx, srv.URL+"/gone", ""); !errors.As(err, &se) || se.StatusCode != 410 {
		t.Errorf("410: %v", err)
	}
	if _, err := f.Get(ctx, srv.URL+"/slow", ""); !errors.As(err, &se) || se.RetryAfter != 2*time.Minute {
		t.Errorf("429 Retry-After: %v", err)
	}
}

// TestFetchBlocked: the fetcher asks the domain policy before any request.
func TestFetchBlocked(t *testing.T) {
	ctx := context.Background()
	p := &policy.Policy{Block: []string{"bad.example"}}
	f := &Fetcher{Client: outbound.New(outbound.Options{}), Policy: p}
	if _, err := f.Get(ctx, "https://bad.example/x", ""); !errors.Is(err, policy.ErrBlocked) {
		t.Errorf("fetch of a blocked domain: %v", err)
	}
}
