package mastodon

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	gomasto "github.com/mattn/go-mastodon"
)

// callTimeout bounds every request to an instance.
const callTimeout = 10 * time.Second

// RateLimitedError is returned instead of waiting when an instance answers
// 429: go-mastodon would sleep (up to an hour) inside the worker, so the
// transport turns the answer into this error and the job is rescheduled.
type RateLimitedError struct {
	// Reset is when the instance says the limit resets.
	Reset time.Time
}

func (e *RateLimitedError) Error() string {
	return "rate limited until " + e.Reset.UTC().Format(time.RFC3339)
}

type idemKey struct{}

// withIdempotencyKey makes the POST made with ctx carry that key.
func withIdempotencyKey(ctx context.Context, key string) context.Context {
	return context.WithValue(ctx, idemKey{}, key)
}

// transport adds what go-mastodon does not: an Idempotency-Key on POSTs,
// a User-Agent, and 429 answers turned into errors.
type transport struct {
	base http.RoundTripper
	now  func() time.Time
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if key, ok := req.Context().Value(idemKey{}).(string); ok && req.Method == http.MethodPost {
		req = req.Clone(req.Context())
		req.Header.Set("Idempotency-Key", key)
	}
	if req.Header.Get("User-Agent") == "" {
		req = req.Clone(req.Context())
		req.Header.Set("User-Agent", "passerelle (+https://codeberg.org/passerelle)")
	}
	resp, err := t.base.RoundTrip(req)
	if err != nil || resp.StatusCode != http.StatusTooManyRequests {
		return resp, err
	}
	resp.Body.Close()
	return nil, &RateLimitedError{Reset: resetTime(resp.Header, t.now())}
}

// resetTime reads when a rate limit ends: X-RateLimit-Reset (an ISO 8601
// time on Mastodon, sometimes Unix seconds or seconds to wait elsewhere),
// else Retry-After, else a minute from now.
func resetTime(h http.Header, now time.Time) time.Time {
	v := strings.TrimSpace(h.Get("X-RateLimit-Reset"))
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.000Z07:00"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t
		}
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n > 1e9 {
			return time.Unix(n, 0)
		}
		return now.Add(time.Duration(n) * time.Second)
	}
	if ra := h.Get("Retry-After"); ra != "" {
		if n, err := strconv.Atoi(ra); err == nil {
			return now.Add(time.Duration(n) * time.Second)
		}
		if t, err := http.ParseTime(ra); err == nil {
			return t
		}
	}
	return now.Add(time.Minute)
}

// Client is one account on one instance.
type Client struct {
	api    *gomasto.Client
	hc     *http.Client
	server string
	// MediaPoll is the wait between checks of a processing upload.
	MediaPoll time.Duration
	// MediaWait bounds the wait for an upload to be processed.
	MediaWait time.Duration
}

// NewClient returns a client for the instance at server using token. hc is
// the outbound client (cmd passes the one that enforces
// federation.allow_private_networks); its transport is wrapped, not changed.
func NewClient(hc *http.Client, server, token string) *Client {
	wrapped := wrapHTTP(hc)
	api := gomasto.NewClient(&gomasto.Config{Server: server, AccessToken: token})
	api.Client = *wrapped
	api.UserAgent = "passerelle"
	return &Client{api: api, hc: wrapped, server: strings.TrimRight(server, "/"), MediaPoll: time.Second, MediaWait: 10 * time.Second}
}

func wrapHTTP(hc *http.Client) *http.Client {
	if hc == nil {
		hc = &http.Client{}
	}
	base := hc.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	c := *hc
	c.Transport = &transport{base: base, now: time.Now}
	if c.Timeout == 0 {
		c.Timeout = callTimeout
	}
	return &c
}

// ErrorKind sorts what went wrong with a call, so the job knows what to do.
type ErrorKind int

// What a failed call means for the job that made it.
const (
	// Temporary: 5xx, network, timeouts: retry with backoff.
	Temporary ErrorKind = iota
	// RateLimited: reschedule at the reset.
	RateLimited
	// Unauthorized: 401/403: the account must be connected again.
	Unauthorized
	// Rejected: 422/400 and other 4xx: the server refused this content;
	// retrying would not help.
	Rejected
	// NotFound: 404: the status (or the feature) is not there.
	NotFound
)

// Classify says what an error from a Client call means.
func Classify(err error) ErrorKind {
	var rl *RateLimitedError
	var api *gomasto.APIError
	switch {
	case errors.As(err, &rl):
		return RateLimited
	case errors.As(err, &api):
		switch {
		case api.StatusCode == http.StatusUnauthorized || api.StatusCode == http.StatusForbidden:
			return Unauthorized
		case api.StatusCode == http.StatusNotFound || api.StatusCode == http.StatusMethodNotAllowed:
			return NotFound
		case api.StatusCode == http.StatusTooManyRequests:
			return RateLimited
		case api.StatusCode >= 500, api.StatusCode == http.StatusRequestTimeout:
			return Temporary
		case api.StatusCode >= 400:
			return Rejected
		}
	}
	return Temporary
}

// Limits reads the instance's status limits from /api/v2/instance; a
// server without it (older Mastodon, Pleroma, Akkoma) is asked
// /api/v1/instance, which has the same configuration block on Mastodon
// and max_toot_chars on Pleroma and Akkoma. What neither says is
// Mastodon's default.
func (c *Client) Limits(ctx context.Context) (Limits, error) {
	doc, err := c.instanceDoc(ctx, "/api/v2/instance")
	if err == nil && doc == nil {
		doc, err = c.instanceDoc(ctx, "/api/v1/instance")
	}
	if err != nil || doc == nil {
		return DefaultLimits, err
	}
	l := DefaultLimits
	if n := doc.Configuration.Statuses.MaxCharacters; n > 0 {
		l.MaxCharacters = n
	} else if doc.MaxTootChars > 0 {
		l.MaxCharacters = doc.MaxTootChars
	}
	if n := doc.Configuration.Statuses.ReservedPerURL; n > 0 {
		l.ReservedPerURL = n
	}
	return l, nil
}

type instanceDoc struct {
	Configuration struct {
		Statuses struct {
			MaxCharacters  int `json:"max_characters"`
			ReservedPerURL int `json:"characters_reserved_per_url"`
		} `json:"statuses"`
	} `json:"configuration"`
	MaxTootChars int `json:"max_toot_chars"`
}

// instanceDoc fetches an instance document; nil without error when the
// server has no such endpoint (404).
func (c *Client) instanceDoc(ctx context.Context, path string) (*instanceDoc, error) {
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.server+path, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch instance limits: %w", err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return nil, nil
	case resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("fetch instance limits (%s): %w", path, &gomasto.APIError{StatusCode: resp.StatusCode})
	}
	var doc instanceDoc
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&doc); err != nil {
		return nil, fmt.Errorf("read instance limits (%s): %w", path, err)
	}
	return &doc, nil
}

// Me returns the account the token belongs to (verify_credentials).
func (c *Client) Me(ctx context.Context) (*gomasto.Account, error) {
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	return c.api.GetAccountCurrentUser(ctx)
}

// Post creates a status; key is its Idempotency-Key.
func (c *Client) Post(ctx context.Context, toot *gomasto.Toot, key string) (*gomasto.Status, error) {
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	return c.api.PostStatus(withIdempotencyKey(ctx, key), toot)
}

// Edit replaces a status's text (PUT /api/v1/statuses/:id).
func (c *Client) Edit(ctx context.Context, id string, toot *gomasto.Toot) (*gomasto.Status, error) {
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	return c.api.UpdateStatus(ctx, toot, gomasto.ID(id))
}

// Delete removes a status; one already gone is not an error.
func (c *Client) Delete(ctx context.Context, id string) error {
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	err := c.api.DeleteStatus(ctx, gomasto.ID(id))
	if err != nil && Classify(err) == NotFound {
		return nil
	}
	return err
}

// Recent returns the account's latest statuses, newest first, replies
// included, at most n.
func (c *Client) Recent(ctx context.Context, accountID string, n int) ([]*gomasto.Status, error) {
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	var out []*gomasto.Status
	pg := &gomasto.Pagination{Limit: int64(min(n, 40))}
	for len(out) < n {
		page, err := c.api.GetAccountStatuses(ctx, gomasto.ID(accountID), pg)
		if err != nil {
			return nil, err
		}
		out = append(out, page...)
		if len(page) == 0 || pg.MaxID == "" {
			break
		}
	}
	return out, nil
}

// maxBanner bounds a downloaded banner; instances refuse bigger images.
const maxBanner = 16 << 20

// FetchBanner downloads an event's image.
func (c *Client) FetchBanner(ctx context.Context, u string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	parsed, err := url.Parse(u)
	if err != nil || (parsed.Scheme != "https" && parsed.Scheme != "http") {
		return nil, fmt.Errorf("banner %q is not an http(s) URL", u)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch banner %s: %w", u, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetch banner %s: %s", u, resp.Status)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBanner+1))
	if err != nil {
		return nil, fmt.Errorf("fetch banner %s: %w", u, err)
	}
	if len(data) > maxBanner {
		return nil, fmt.Errorf("banner %s is larger than %d bytes", u, maxBanner)
	}
	if ct := http.DetectContentType(data); !strings.HasPrefix(ct, "image/") {
		return nil, fmt.Errorf("banner %s is %s, not an image", u, ct)
	}
	return data, nil
}

// Upload sends an image with its alt text and waits, bounded, until the
// instance has processed it: POST /api/v2/media answers 200 when done
// (GoToSocial, small files) or 202 with a null url (Mastodon), after which
// GET /api/v1/media/:id answers 206 until ready.
func (c *Client) Upload(ctx context.Context, data []byte, alt string) (string, error) {
	uctx, cancel := context.WithTimeout(ctx, 2*callTimeout)
	att, err := c.api.UploadMediaFromMedia(uctx, &gomasto.Media{File: bytes.NewReader(data), Description: alt})
	cancel()
	if err != nil {
		return "", fmt.Errorf("upload banner: %w", err)
	}
	if att.URL != "" {
		return string(att.ID), nil
	}
	deadline := time.Now().Add(c.MediaWait)
	for {
		pctx, cancel := context.WithTimeout(ctx, callTimeout)
		err := c.api.GetMediaStatus(pctx, att)
		cancel()
		var api *gomasto.APIError
		switch {
		case err == nil:
			return string(att.ID), nil
		case errors.As(err, &api) && api.StatusCode == http.StatusPartialContent:
		default:
			return "", fmt.Errorf("check banner upload %s: %w", att.ID, err)
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("banner upload %s still processing after %s", att.ID, c.MediaWait)
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(c.MediaPoll):
		}
	}
}
