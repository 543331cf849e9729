package media

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"codeberg.org/passerelle/passerelle/internal/outbound"
)

// Key is the cache key of a remote image: the hex SHA-256 of its URL.
// It is the URL's and not the content's because every place that links
// an image (the calendar text rendered when an event is stored, before
// any fetch; pages; mails) can then compute its passerelle address from
// the event alone, with no lookup and no wait. The same bytes under two
// URLs are kept twice, which banners rarely are.
func Key(rawURL string) string {
	sum := sha256.Sum256([]byte(rawURL))
	return hex.EncodeToString(sum[:])
}

// Path is the path passerelle serves a remote image at.
func Path(rawURL string) string { return "/media/" + Key(rawURL) }

// HostPolicy is the federation policy (federation/policy.Policy): a
// blocked domain is not fetched from, even for an image.
type HostPolicy interface {
	CheckURL(ctx context.Context, raw string) error
}

// Fetcher downloads remote images through the outbound client.
type Fetcher struct {
	// Client is outbound.New's client: it refuses private addresses at
	// dial time, redirects included.
	Client *http.Client
	// Policy refuses blocked domains, for the first URL and every
	// redirect; nil allows every domain.
	Policy HostPolicy
	// AllowPrivate is federation.allow_private_networks (plain http).
	AllowPrivate bool
}

// Image is a fetched image that passed Sniff.
type Image struct {
	URL, Type string
	Body      []byte
}

// Fetch downloads one image and checks it. Errors that another try would
// not change wrap ErrRefused.
func (f *Fetcher) Fetch(ctx context.Context, rawURL string) (*Image, error) {
	if _, err := outbound.CheckURL(rawURL, f.AllowPrivate); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrRefused, err)
	}
	if err := f.checkPolicy(ctx, rawURL); err != nil {
		return nil, err
	}
	client := *f.Client
	next := client.CheckRedirect
	client.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if next != nil {
			if err := next(req, via); err != nil {
				return err
			}
		}
		return f.checkPolicy(req.Context(), req.URL.String())
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrRefused, err)
	}
	req.Header.Set("Accept", strings.Join(Types, ", "))
	resp, err := client.Do(req)
	if err != nil {
		if errors.Is(err, outbound.ErrPrivateAddress) {
			return nil, fmt.Errorf("%w: fetch %s: %v", ErrRefused, rawURL, err)
		}
		return nil, fmt.Errorf("fetch image %s: %w", rawURL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		err := &outbound.StatusError{URL: rawURL, StatusCode: resp.StatusCode}
		if resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusGone {
			return nil, fmt.Errorf("%w: %v", ErrRefused, err)
		}
		return nil, err
	}
	if resp.ContentLength > MaxBytes {
		return nil, fmt.Errorf("%w: %s is %d bytes, more than %d", ErrRefused, rawURL, resp.ContentLength, MaxBytes)
	}
	// Read one byte past the cap to tell "exactly MaxBytes" from more;
	// a server that sent no length (or lied) is cut off there.
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read image %s: %w", rawURL, err)
	}
	if len(body) > MaxBytes {
		return nil, fmt.Errorf("%w: %s is larger than %d bytes", ErrRefused, rawURL, MaxBytes)
	}
	typ, err := Sniff(body)
	if err != nil {
		return nil, fmt.Errorf("image %s (served as %q): %w", rawURL, resp.Header.Get("Content-Type"), err)
	}
	return &Image{URL: rawURL, Type: typ, Body: body}, nil
}

func (f *Fetcher) checkPolicy(ctx context.Context, raw string) error {
	if f.Policy == nil {
		return nil
	}
	if err := f.Policy.CheckURL(ctx, raw); err != nil {
		return fmt.Errorf("%w: %v", ErrRefused, err)
	}
	return nil
}
