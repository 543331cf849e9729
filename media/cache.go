package media

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"golang.org/x/net/html"

	"codeberg.org/passerelle/passerelle/bridges"
	"codeberg.org/passerelle/passerelle/store"
)

// Cache is the database's store of fetched images, as the pages, mails
// and Mastodon posts use it.
type Cache struct {
	DB *store.DB
	// Base goes before /media/<hash> in the links Links returns: empty
	// for pages (same origin), public_url for mails.
	Base string
	// Fetcher fetches an image Image needs and does not have; nil: Image
	// uses the cache only.
	Fetcher *Fetcher
	Log     *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Links returns, for each remote URL whose image is cached, its link on
// passerelle. A URL not in the map is not cached (yet, or ever): the
// caller leaves its image out rather than pointing at the remote server.
func (c *Cache) Links(ctx context.Context, urls ...string) (map[string]string, error) {
	hashes := make([]string, 0, len(urls))
	for _, u := range urls {
		hashes = append(hashes, Key(u))
	}
	cached, err := c.DB.CachedMedia(ctx, hashes)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, u := range urls {
		if cached[Key(u)] {
			out[u] = c.Base + Path(u)
		}
	}
	return out, nil
}

// Image returns the bytes and type of a remote image: the cached copy, or,
// when there is none and the cache has a Fetcher, one fetched (and
// checked) now and kept. Jobs use it (the Mastodon banner upload), never a
// page.
func (c *Cache) Image(ctx context.Context, rawURL string) ([]byte, string, error) {
	m, err := c.DB.Media(ctx, Key(rawURL))
	if err == nil {
		return m.Body, m.ContentType, nil
	}
	if !errors.Is(err, bridges.ErrNotFound) || c.Fetcher == nil {
		return nil, "", err
	}
	img, err := c.Fetcher.Fetch(ctx, rawURL)
	if err != nil {
		return nil, "", err
	}
	if err := c.save(ctx, img); err != nil {
		return nil, "", err
	}
	return img.Body, img.Type, nil
}

func (c *Cache) save(ctx context.Context, img *Image) error {
	now := time.Now
	if c.Now != nil {
		now = c.Now
	}
	return c.DB.SaveMedia(ctx, &store.Media{Hash: Key(img.URL), URL: img.URL, ContentType: img.Type, Body: img.Body, FetchedAt: now()})
}

var hashPattern = regexp.MustCompile(`^[0-9a-f]{64}$`)

// ServeHTTP answers GET /media/{hash}. The bytes under a hash never
// change (the hash names the URL, and an image is fetched once), so
// browsers and proxies may keep them for a year. The type is the one
// Sniff found in the bytes, and nosniff stops a browser from guessing
// another; the response's own CSP keeps an image opened on its own from
// running anything.
func (c *Cache) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hash := r.PathValue("hash")
	if !hashPattern.MatchString(hash) {
		http.NotFound(w, r)
		return
	}
	m, err := c.DB.Media(r.Context(), hash)
	if errors.Is(err, bridges.ErrNotFound) {
		http.NotFound(w, r)
		return
	}
	if err != nil {
		c.log().Error("serve image", "hash", hash, "err", err)
		http.Error(w, "temporarily unavailable", http.StatusServiceUnavailable)
		return
	}
	h := w.Header()
	h.Set("Content-Type", m.ContentType)
	h.Set("Content-Length", strconv.Itoa(len(m.Body)))
	h.Set("Cache-Control", "public, max-age=31536000, immutable")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'; sandbox")
	h.Set("ETag", `"`+hash+`"`)
	if r.Method == http.MethodHead {
		return
	}
	w.Write(m.Body)
}

func (c *Cache) log() *slog.Logger {
	if c.Log != nil {
		return c.Log
	}
	return slog.Default()
}

// maxImagesPerEvent bounds the images fetched for one event: a
// description with thousands of <img> must not fill the queue.
const maxImagesPerEvent = 20

// EventImages lists the remote images an event shows: its banner, then
// the images of its description, each once, http(s) only.
func EventImages(ev *bridges.Event) []string {
	var out []string
	seen := map[string]bool{}
	add := func(u string) {
		u = strings.TrimSpace(u)
		if (strings.HasPrefix(u, "https://") || strings.HasPrefix(u, "http://")) && !seen[u] && len(out) < maxImagesPerEvent {
			seen[u] = true
			out = append(out, u)
		}
	}
	add(ev.BannerURL)
	for _, u := range imageSources(ev.DescriptionHTML) {
		add(u)
	}
	return out
}

// imageSources returns the src of every <img> in an HTML fragment.
func imageSources(fragment string) []string {
	if !strings.Contains(fragment, "<img") && !strings.Contains(fragment, "<IMG") {
		return nil
	}
	var out []string
	z := html.NewTokenizer(strings.NewReader(fragment))
	for {
		switch z.Next() {
		case html.ErrorToken:
			return out
		case html.StartTagToken, html.SelfClosingTagToken:
			name, attrs := z.TagName()
			if string(name) != "img" {
				continue
			}
			for attrs {
				var k, v []byte
				k, v, attrs = z.TagAttr()
				if string(k) == "src" {
					out = append(out, string(v))
				}
			}
		}
	}
}

// RewriteImages returns the HTML fragment with each <img> pointing at its
// passerelle link (links, from Links), and the images that have none
// dropped: nothing in the result loads from another server.
func RewriteImages(fragment string, links map[string]string) (string, error) {
	return rewrite(fragment, func(src string) (string, bool) {
		l, ok := links[src]
		return l, ok
	})
}

// LinkImages returns the HTML fragment with each http(s) <img> pointing at
// base+Path(src), cached or not, and the others dropped: for text
// rendered before the images are fetched (calendars).
func LinkImages(fragment, base string) (string, error) {
	return rewrite(fragment, func(src string) (string, bool) {
		if strings.HasPrefix(src, "https://") || strings.HasPrefix(src, "http://") {
			return base + Path(src), true
		}
		return "", false
	})
}

func rewrite(fragment string, link func(src string) (string, bool)) (string, error) {
	if !strings.Contains(fragment, "<img") && !strings.Contains(fragment, "<IMG") {
		return fragment, nil
	}
	var b strings.Builder
	z := html.NewTokenizer(strings.NewReader(fragment))
	for {
		tt := z.Next()
		switch tt {
		case html.ErrorToken:
			if err := z.Err(); err != nil && err != io.EOF {
				return "", fmt.Errorf("rewrite images: %w", err)
			}
			return b.String(), nil
		case html.StartTagToken, html.SelfClosingTagToken:
			tok := z.Token()
			if tok.Data != "img" {
				b.WriteString(tok.String())
				continue
			}
			keep := false
			attrs := tok.Attr[:0]
			for _, a := range tok.Attr {
				switch a.Key {
				case "src":
					if l, ok := link(strings.TrimSpace(a.Val)); ok {
						a.Val, keep = l, true
					}
				case "srcset":
					continue // other remote copies
				}
				attrs = append(attrs, a)
			}
			tok.Attr = attrs
			if keep {
				b.WriteString(tok.String())
			}
		default:
			b.Write(z.Raw())
		}
	}
}
