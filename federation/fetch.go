package federation

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"codeberg.org/passerelle/passerelle/federation/signing"

	"codeberg.org/passerelle/passerelle/internal/outbound"
)

// DefaultMaxDocument bounds every fetched document (an actor, an event, a
// collection page): 1 MiB, like the inbox.
const DefaultMaxDocument = 1 << 20

// acceptActivity asks for ActivityStreams, in the two forms servers know.
const acceptActivity = `application/activity+json, application/ld+json; profile="https://www.w3.org/ns/activitystreams"`

// StatusError is a non-2xx answer to a fetch or a delivery.
type StatusError struct {
	URL        string
	StatusCode int
	// RetryAfter is the server's Retry-After, zero when absent.
	RetryAfter time.Duration
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("%s answered HTTP %d", e.URL, e.StatusCode)
}

// Fetcher makes signed GETs on behalf of the instance actor (Mobilizon and
// secure-mode servers require them) through the outbound client, after the
// domain policy.
type Fetcher struct {
	Client       *http.Client
	Policy       *Policy
	AllowPrivate bool
	// MaxBody bounds a response; zero means DefaultMaxDocument.
	MaxBody int64
	// Signer signs as the instance actor; nil sends unsigned requests.
	Signer func(ctx context.Context) (*signing.RequestSigner, error)
}

// Get fetches rawURL with the given Accept header (ActivityStreams when
// empty) and returns the body of a 2xx answer; other answers are a
// *StatusError.
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
		return nil, &StatusError{URL: rawURL, StatusCode: resp.StatusCode, RetryAfter: retryAfter(resp.Header.Get("Retry-After"), time.Now())}
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

// retryAfter reads a Retry-After header: seconds or an HTTP date.
func retryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}
