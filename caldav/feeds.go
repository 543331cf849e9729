package caldav

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"passerelle/ical"
)

// Feeds serves the .ics feeds: /feeds/all.ics, /feeds/<slug>.ics and
// /events/<id>.ics. Each is assembled from the stored calendar texts with
// ical.Feed; a conditional request is answered from the calendar's state
// alone, without reading a single event.
type Feeds struct {
	Store Store
	Log   *slog.Logger
	// PublicURL is passerelle's public_url, for the feeds' SOURCE.
	PublicURL string
	// Refresh is the REFRESH-INTERVAL / X-PUBLISHED-TTL clients are asked
	// to poll at; zero means one hour.
	Refresh time.Duration
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
	etag := fmt.Sprintf(`"feed-%s-%d"`, slug, st.Seq)
	if notModified(w, r, etag, st.Modified) {
		return
	}
	objs, err := f.Store.Objects(ctx, cal, time.Time{}, time.Time{}, true)
	if err != nil {
		f.fail(w, r, err, "")
		return
	}
	texts := make([][]byte, len(objs))
	for i := range objs {
		texts[i] = objs[i].Data
	}
	var b bytes.Buffer
	info := ical.FeedInfo{Name: cal.Name, Description: cal.Description, Refresh: f.Refresh}
	if f.PublicURL != "" {
		info.URL = strings.TrimSuffix(f.PublicURL, "/") + "/feeds/" + slug + ".ics"
	}
	if err := ical.Feed(&b, info, texts); err != nil {
		f.fail(w, r, err, "")
		return
	}
	serveCalendarBytes(w, r, b.Bytes(), etag, st.Modified)
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
// the client accepts it (feeds of thousands of events shrink ~10×). The
// gzip form has its own ETag, as RFC 9110 §8.8.3 wants for another
// representation.
func serveCalendarBytes(w http.ResponseWriter, r *http.Request, data []byte, etag string, modified time.Time) {
	if notModified(w, r, etag, modified) {
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/calendar; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	if len(data) > 1024 && acceptsGzip(r) {
		h.Set("Content-Encoding", "gzip")
		h.Set("ETag", strings.TrimSuffix(etag, `"`)+`-gzip"`)
		if r.Method == http.MethodHead {
			return
		}
		gz, _ := gzip.NewWriterLevel(w, gzip.BestSpeed)
		_, _ = gz.Write(data)
		_ = gz.Close()
		return
	}
	h.Set("Content-Length", strconv.Itoa(len(data)))
	if r.Method == http.MethodHead {
		return
	}
	_, _ = w.Write(data)
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
