package caldav

import (
	"bufio"
	"bytes"
	"cmp"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"codeberg.org/passerelle/passerelle/ical"
)

// Feeds serves the .ics feeds: /feeds/all.ics, /feeds/<slug>.ics and
// /events/<id>.ics. A conditional request is answered from the calendar's
// state alone, without reading a single event. A feed is assembled with
// ical.Feed from the stored calendar texts once per version of the
// calendar (its last change-log sequence), then served as a copy: from
// memory, or from the database when the Store is also a FeedStore (so a
// replica that did not build it, or a restarted one, reads one row).
type Feeds struct {
	Store Store
	Log   *slog.Logger
	// PublicURL is passerelle's public_url, for the feeds' SOURCE.
	PublicURL string
	// Refresh is the REFRESH-INTERVAL / X-PUBLISHED-TTL clients are asked
	// to poll at; zero means one hour.
	Refresh time.Duration
	// CacheBytes bounds the memory kept for assembled feeds: zero means
	// DefaultFeedCacheBytes, a negative value keeps none in memory.
	CacheBytes int
	// MaxMemoryFeed is the largest feed kept in memory (and FeedStore);
	// a larger one is served from a temporary file. Zero means
	// DefaultMaxMemoryFeed.
	MaxMemoryFeed int
	// TempDir is where feeds are built and large ones kept (as files
	// already unlinked, so nothing stays behind); empty means the
	// system's temporary folder, which may be memory (tmpfs): serve
	// gives data_dir.
	TempDir string

	once     sync.Once
	cache    feedCache
	building singleflight.Group
}

func (f *Feeds) log() *slog.Logger {
	if f.Log != nil {
		return f.Log
	}
	return slog.Default()
}

// ServeFeed answers GET /feeds/{file} where file is <slug>.ics.
func (f *Feeds) ServeFeed(w http.ResponseWriter, r *http.Request) {
	slug, ok := strings.CutSuffix(r.PathValue("file"), ".ics")
	if !ok || slug == "" {
		http.Error(w, "feeds are named <calendar>.ics, e.g. /feeds/all.ics", http.StatusNotFound)
		return
	}
	ctx := r.Context()
	cal, err := f.Store.Calendar(ctx, PublicOwner, slug)
	if err != nil {
		f.fail(w, r, err, "no feed named "+slug)
		return
	}
	st, err := f.Store.State(ctx, cal)
	if err != nil {
		f.fail(w, r, err, "")
		return
	}
	info := ical.FeedInfo{Name: cal.Name, Description: cal.Description, Refresh: f.Refresh}
	if f.PublicURL != "" {
		info.URL = strings.TrimSuffix(f.PublicURL, "/") + "/feeds/" + slug + ".ics"
	}
	version := strconv.FormatInt(st.Seq, 10) + "-" + infoDigest(info)
	etag := `"feed-` + slug + "-" + version + `"`
	if notModified(w, r, etag, st.Modified) {
		return
	}
	feed, err := f.assembled(ctx, cal, st.Seq, version, info)
	if err != nil {
		f.fail(w, r, err, "")
		return
	}
	serveRepresentations(w, r, feed.representation(), etag, st.Modified)
	// A feed on disk is closed when unreferenced: not while it is sent.
	runtime.KeepAlive(feed)
}

// assembled returns cal's feed at version: from memory, else from the
// FeedStore, else built (once, however many requests ask at the same time).
func (f *Feeds) assembled(ctx context.Context, cal *Calendar, seq int64, version string, info ical.FeedInfo) (*AssembledFeed, error) {
	f.once.Do(func() {
		f.cache.max = f.CacheBytes
		if f.cache.max == 0 {
			f.cache.max = DefaultFeedCacheBytes
		}
	})
	key := cal.Owner + "/" + cal.Slug
	if feed := f.cache.get(key, version); feed != nil {
		return feed, nil
	}
	v, err, _ := f.building.Do(key+"@"+version, func() (any, error) {
		// Others may be waiting on this build: it is not cancelled when
		// the client that started it leaves.
		ctx := context.WithoutCancel(ctx)
		if feed := f.cache.get(key, version); feed != nil {
			return feed, nil // built by the flight this one queued behind
		}
		fs, keeps := f.Store.(FeedStore)
		if keeps {
			feed, err := fs.StoredFeed(ctx, cal, version)
			if err == nil {
				f.cache.put(key, feed)
				return feed, nil
			}
			if !errors.Is(err, ErrNotFound) {
				return nil, err
			}
		}
		feed, err := f.build(ctx, cal, seq, version, info)
		if err != nil {
			return nil, err
		}
		if keeps && feed.onDisk == nil {
			// A feed that could not be kept is still served: the next
			// request builds it again. (One on disk is each replica's
			// own: a row of hundreds of megabytes would cost every
			// replica that memory to read it.)
			if err := fs.SaveFeed(ctx, cal, feed); err != nil {
				f.log().Warn("keep assembled feed", "calendar", key, "err", err)
			}
		}
		f.cache.put(key, feed)
		return feed, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*AssembledFeed), nil
}

// build assembles the feed from the stored calendar texts and compresses
// it once, for every client that asks for gzip until the next change.
// Both forms are written to a temporary file as the texts are read, so a
// feed of 200,000 events costs the process no more memory than one of
// ten; a feed under MaxMemoryFeed is then read back and kept in memory
// (and in the FeedStore), a larger one stays on disk.
func (f *Feeds) build(ctx context.Context, cal *Calendar, seq int64, version string, info ical.FeedInfo) (*AssembledFeed, error) {
	events, err := anonymousFile(f.TempDir)
	if err != nil {
		return nil, err
	}
	defer events.Close()
	ev := bufio.NewWriterSize(events, 256<<10)
	fb := ical.NewFeedBuilder(ev)
	if err := f.walk(ctx, cal, fb.Add); err != nil {
		return nil, err
	}
	if err := ev.Flush(); err != nil {
		return nil, fmt.Errorf("build feed %s: %w", cal.Slug, err)
	}
	if _, err := events.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	disk, err := newDiskFeed(f.TempDir)
	if err != nil {
		return nil, err
	}
	if err := disk.write(func(w io.Writer) error { return fb.WriteTo(w, info, bufio.NewReaderSize(events, 256<<10)) }); err != nil {
		disk.close()
		return nil, fmt.Errorf("build feed %s: %w", cal.Slug, err)
	}
	feed := &AssembledFeed{Version: version, Seq: seq}
	if disk.plainLen > int64(cmp.Or(f.MaxMemoryFeed, DefaultMaxMemoryFeed)) {
		feed.onDisk = disk
		// The files go when the feed is no longer referenced: by the
		// cache, by a request still sending it.
		runtime.AddCleanup(feed, func(d *diskFeed) { d.close() }, disk)
		return feed, nil
	}
	defer disk.close()
	if feed.Body, err = disk.read(false); err == nil {
		feed.Gzipped, err = disk.read(true)
	}
	if err != nil {
		return nil, fmt.Errorf("build feed %s: %w", cal.Slug, err)
	}
	return feed, nil
}

// walk hands fn each object's data: streamed where the store can, else
// from the list of objects.
func (f *Feeds) walk(ctx context.Context, cal *Calendar, fn func([]byte) error) error {
	if w, ok := f.Store.(ObjectWalker); ok {
		return w.WalkData(ctx, cal, fn)
	}
	objs, err := f.Store.Objects(ctx, cal, time.Time{}, time.Time{}, true)
	if err != nil {
		return err
	}
	for _, o := range objs {
		if err := fn(o.Data); err != nil {
			return err
		}
	}
	return nil
}

// infoDigest names the feed's own properties in its version, so that a
// renamed source or another public_url gives another feed and ETag.
func infoDigest(info ical.FeedInfo) string {
	h := fnv.New64a()
	for _, s := range []string{info.Name, info.Description, info.URL, info.Color, info.Refresh.String()} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return strconv.FormatUint(h.Sum64(), 36)
}

// ServeEvent answers GET /events/{id}.ics: one public event as a calendar,
// for "add to calendar" links. It returns false, having written nothing,
// when name is not <id>.ics, so the caller can serve the event's page.
func (f *Feeds) ServeEvent(w http.ResponseWriter, r *http.Request, name string) bool {
	digits, ok := strings.CutSuffix(name, ".ics")
	if !ok {
		return false
	}
	id, err := strconv.ParseInt(digits, 10, 64)
	if err != nil || id <= 0 {
		http.Error(w, fmt.Sprintf("%q is not an event number", digits), http.StatusNotFound)
		return true
	}
	ctx := r.Context()
	cal, err := f.Store.Calendar(ctx, PublicOwner, AllSlug)
	if err != nil {
		f.fail(w, r, err, "")
		return true
	}
	objs, err := f.Store.ObjectsByID(ctx, cal, []int64{id}, true)
	if err != nil {
		f.fail(w, r, err, "")
		return true
	}
	if len(objs) == 0 {
		http.Error(w, fmt.Sprintf("no public event %d", id), http.StatusNotFound)
		return true
	}
	serveCalendarBytes(w, r, objs[0].Data, objs[0].ETag, objs[0].Modified)
	return true
}

func (f *Feeds) fail(w http.ResponseWriter, r *http.Request, err error, notFound string) {
	if errors.Is(err, ErrNotFound) && notFound != "" {
		http.Error(w, notFound, http.StatusNotFound)
		return
	}
	f.log().Error("serve feed", "path", r.URL.Path, "err", err)
	http.Error(w, "internal server error", http.StatusInternalServerError)
}

// notModified answers a conditional GET with 304 when the client's copy is
// current: If-None-Match wins over If-Modified-Since (RFC 9110 §13.2.2).
func notModified(w http.ResponseWriter, r *http.Request, etag string, modified time.Time) bool {
	w.Header().Set("ETag", etag)
	if !modified.IsZero() {
		w.Header().Set("Last-Modified", modified.UTC().Format(http.TimeFormat))
	}
	w.Header().Set("Vary", "Accept-Encoding")
	if inm := r.Header.Get("If-None-Match"); inm != "" {
		for _, t := range strings.Split(inm, ",") {
			t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
			if t == "*" || t == etag || t == strings.TrimSuffix(etag, `"`)+`-gzip"` {
				w.WriteHeader(http.StatusNotModified)
				return true
			}
		}
		return false
	}
	if ims := r.Header.Get("If-Modified-Since"); ims != "" && !modified.IsZero() {
		if t, err := http.ParseTime(ims); err == nil && !modified.Truncate(time.Second).After(t) {
			w.WriteHeader(http.StatusNotModified)
			return true
		}
	}
	return false
}

// serveCalendarBytes writes stored calendar text with its validators,
// answering conditional requests with 304 and compressing with gzip when
// the client accepts it.
func serveCalendarBytes(w http.ResponseWriter, r *http.Request, data []byte, etag string, modified time.Time) {
	serveRepresentations(w, r, inMemory(data, nil), etag, modified)
}

// serveRepresentations writes data, or its gzip form when the client
// accepts it (feeds of thousands of events shrink ~10×): gzipped when
// given, compressed now otherwise. The gzip form has its own ETag, as RFC
// 9110 §8.8.3 wants for another representation.
func serveRepresentations(w http.ResponseWriter, r *http.Request, body representation, etag string, modified time.Time) {
	if notModified(w, r, etag, modified) {
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/calendar; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	plain := io.NewSectionReader(body.plain, 0, body.plainLen)
	if body.plainLen > 1024 && acceptsGzip(r) {
		h.Set("Content-Encoding", "gzip")
		h.Set("ETag", strings.TrimSuffix(etag, `"`)+`-gzip"`)
		if body.gz != nil {
			h.Set("Content-Length", strconv.FormatInt(body.gzLen, 10))
		}
		if r.Method == http.MethodHead {
			return
		}
		if body.gz != nil {
			_, _ = io.Copy(w, io.NewSectionReader(body.gz, 0, body.gzLen))
			return
		}
		gz, _ := gzip.NewWriterLevel(w, gzip.BestSpeed)
		_, _ = io.Copy(gz, plain)
		_ = gz.Close()
		return
	}
	h.Set("Content-Length", strconv.FormatInt(body.plainLen, 10))
	if r.Method == http.MethodHead {
		return
	}
	_, _ = io.Copy(w, plain)
}

// representation is a body to send and, when gz is not nil, its gzip
// form: in memory or in a file.
type representation struct {
	plain, gz       io.ReaderAt
	plainLen, gzLen int64
}

// inMemory is the representation of bytes; gzipped may be nil (then it is
// compressed as it is sent).
func inMemory(data, gzipped []byte) representation {
	rep := representation{plain: bytes.NewReader(data), plainLen: int64(len(data))}
	if gzipped != nil {
		rep.gz, rep.gzLen = bytes.NewReader(gzipped), int64(len(gzipped))
	}
	return rep
}

func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if !strings.EqualFold(strings.TrimSpace(name), "gzip") {
			continue
		}
		if q, ok := strings.CutPrefix(strings.TrimSpace(params), "q="); ok {
			v, err := strconv.ParseFloat(q, 64)
			return err == nil && v > 0
		}
		return true
	}
	return false
}
