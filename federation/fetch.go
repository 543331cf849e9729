package federation

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"codeberg.org/passerelle/passerelle/federation/policy"
	"codeberg.org/passerelle/passerelle/federation/signing"
	"codeberg.org/passerelle/passerelle/internal/outbound"
)

// DefaultMaxDocument bounds every fetched document (an actor, an event, a
// collection page): 1 MiB, like the inbox.
const DefaultMaxDocument = 1 << 20

// acceptActivity asks for ActivityStreams, in the two forms servers know.
const acceptActivity = `application/activity+json, application/ld+json; profile="https://www.w3.org/ns/activitystreams"`

// Fetcher makes signed GETs on behalf of the instance actor (Mobilizon and
// secure-mode servers require them) through the outbound client, after the
// domain policy.
type Fetcher struct {
	Client       *http.Client
	Policy       *policy.Policy
	AllowPrivate bool
	// MaxBody bounds a response; zero means DefaultMaxDocument.
	MaxBody int64
	// Signer signs as the instance actor; nil sends unsigned requests.
	Signer func(ctx context.Context) (*signing.RequestSigner, error)
}

// Get fetches rawURL with the given Accept header (ActivityStreams when
// empty) and returns the body of a 2xx answer; other answers are a
// *outbound.StatusError.
func (f *Fetcher) Get(ctx context.Context, rawURL, accept string) ([]byte, error) {
	u, err := outbound.CheckURL(rawURL, f.AllowPrivate)
	if err != nil {
		return nil, err
	}
	if err := f.Policy.CheckHost(ctx, u.Host); err != nil {
		return nil, fmt.Errorf("fetch %s: %w", rawURL, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("fetch %s: %w", rawURL, err)
	}
	if accept == "" {
		accept = acceptActivity
	}
	req.Header.Set("Accept", accept)
	if f.Signer != nil {
		s, err := f.Signer(ctx)
		if err != nil {
			return nil, fmt.Errorf("fetch %s: signer: %w", rawURL, err)
		}
		if err := s.Sign(req, nil); err != nil {
			return nil, err
		}
	}
	resp, err := f.Client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch %s: %w", rawURL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, &outbound.StatusError{URL: rawURL, StatusCode: resp.StatusCode, RetryAfter: outbound.RetryAfter(resp.Header.Get("Retry-After"), time.Now())}
	}
	limit := f.MaxBody
	if limit <= 0 {
		limit = DefaultMaxDocument
	}
	body, err := outbound.ReadLimited(resp.Body, limit)
	if err != nil {
		return nil, fmt.Errorf("fetch %s: %w", rawURL, err)
	}
	return body, nil
}
