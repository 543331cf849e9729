package publish

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"codeberg.org/passerelle/passerelle/internal/outbound"
	"codeberg.org/passerelle/passerelle/store"
)

// Fetcher reads published calendars through the outbound client, so the
// SSRF rules of federation hold for them too: a feed URL or a redirect
// that leads to a private address is refused at dial time.
type Fetcher struct {
	// Client is the outbound (SSRF-safe) client.
	Client *http.Client
	// AllowPrivate is federation.allow_private_networks (plain http too).
	AllowPrivate bool
}

// Fetched is one answer to a poll.
type Fetched struct {
	// NotModified: the validators matched, nothing changed.
	NotModified        bool
	Body               []byte
	ETag, LastModified string
}

// FeedURL turns a webcal:// or webcals:// link into the https URL it
// stands for; other URLs are returned as they are.
func FeedURL(raw string) string {
	raw = strings.TrimSpace(raw)
	for _, p := range []string{"webcals://", "webcal://"} {
		if len(raw) > len(p) && strings.EqualFold(raw[:len(p)], p) {
			return "https://" + raw[len(p):]
		}
	}
	return raw
}

// Fetch GETs the calendar (a feed), conditionally on the last good
// fetch's validators. A CalDAV collection is read the CalDAV way instead
// (see caldav.go).
func (f *Fetcher) Fetch(ctx context.Context, c *store.PublishedCalendar) (*Fetched, error) {
	u, err := outbound.CheckURL(FeedURL(c.URL), f.AllowPrivate)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "text/calendar, */*;q=0.5")
	if c.ETag != "" {
		req.Header.Set("If-None-Match", c.ETag)
	}
	if c.LastModified != "" {
		req.Header.Set("If-Modified-Since", c.LastModified)
	}
	if c.Username != "" || c.Password != "" {
		// net/http drops the header on a redirect to another host.
		req.SetBasicAuth(c.Username, c.Password)
	}
	resp, err := f.Client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch %s: %w", u, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotModified {
		return &Fetched{NotModified: true, ETag: c.ETag, LastModified: c.LastModified}, nil
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, &outbound.StatusError{URL: u.String(), StatusCode: resp.StatusCode}
	}
	if resp.ContentLength > MaxCalendarBytes {
		return nil, fmt.Errorf("fetch %s: the calendar is %d bytes, more than the %d MiB allowed", u, resp.ContentLength, MaxCalendarBytes>>20)
	}
	body, err := outbound.ReadLimited(resp.Body, MaxCalendarBytes)
	if err != nil {
		return nil, fmt.Errorf("fetch %s: %w (the limit is %d MiB)", u, err, MaxCalendarBytes>>20)
	}
	return &Fetched{Body: body, ETag: resp.Header.Get("ETag"), LastModified: resp.Header.Get("Last-Modified")}, nil
}

// Probe reads the calendar once, the way its polls will, and stores
// nothing: a CalDAV calendar collection whole (calendar-query), anything
// else by GET. It sets c.Kind to what the URL was found to be.
func (f *Fetcher) Probe(ctx context.Context, c *store.PublishedCalendar) ([]byte, error) {
	d, err := f.dav(c)
	if err != nil {
		return nil, err
	}
	_, err = d.state(ctx)
	switch {
	case err == nil:
		rs, err := d.query(ctx)
		if err != nil {
			return nil, err
		}
		byHref := make(map[string]store.PublishedResource, len(rs))
		for _, r := range rs {
			byHref[r.Href] = r
		}
		c.Kind = store.KindCalDAV
		return assemble(byHref)
	case !errors.Is(err, errNotCalDAV):
		return nil, err
	}
	fe, err := f.Fetch(ctx, c)
	if err != nil {
		return nil, err
	}
	c.Kind = store.KindFeed
	return fe.Body, nil
}
