// Package web serves passerelle's public HTML pages and the HTTP basics
// every replica answers: the liveness and readiness checks, security
// headers and request logging.
package web

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"codeberg.org/passerelle/passerelle/store"
)

// Health is the liveness check: it answers 200 as long as the process
// serves HTTP. It touches no database, so that a busy writer or a large
// events table never makes a live replica look dead; Ready says whether
// the replica should get traffic.
func Health() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		w.Write([]byte("ok\n"))
	})
}

// ReadyTimeout bounds the readiness probe's database check.
const ReadyTimeout = time.Second

// Ready is the readiness check: 200 when the database answers within
// ReadyTimeout with the schema this passerelle knows, 503 while it is
// unreachable or being migrated, so that a proxy sends no traffic then.
func Ready(db interface {
	Ready(ctx context.Context) error
}, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), ReadyTimeout)
		defer cancel()
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		if err := db.Ready(ctx); err != nil {
			log.Warn("not ready", "err", err)
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte("not ready: " + readyReason(ctx, err) + "\n"))
			return
		}
		w.Write([]byte("ok\n"))
	})
}

// readyReason is the probe's answer: what is wrong, without the
// database's address.
func readyReason(ctx context.Context, err error) string {
	switch {
	case errors.Is(err, store.ErrMigrating):
		return "database migrations are running"
	case errors.Is(err, store.ErrNewerSchema):
		return "the database was migrated by a newer passerelle"
	case ctx.Err() != nil:
		return "database did not answer within " + ReadyTimeout.String()
	}
	return "database unavailable"
}

// NoSniff forbids browsers to guess a response's type from its content
// (X-Content-Type-Options: nosniff): a remote event's text served as
// text/calendar or JSON must never be run as HTML or script. It is set on
// every response, pages, feeds, actor documents and errors alike.
func NoSniff(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		h.ServeHTTP(w, r)
	})
}

type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int
}

func (s *statusWriter) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	n, err := s.ResponseWriter.Write(b)
	s.bytes += n
	return n, err
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// Logged logs every request with its status, size and duration.
func Logged(h http.Handler, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		h.ServeHTTP(sw, r)
		log.LogAttrs(r.Context(), slog.LevelInfo, "http",
			slog.String("method", r.Method), slog.String("path", r.URL.Path),
			slog.Int("status", sw.status), slog.Int("bytes", sw.bytes),
			slog.Duration("duration", time.Since(start)))
	})
}
