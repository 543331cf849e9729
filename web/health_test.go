package web

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"codeberg.org/passerelle/passerelle/internal/storetest"
	"codeberg.org/passerelle/passerelle/store"
)

func probe(t *testing.T, h http.Handler, path string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
	return rec.Code, rec.Body.String()
}

// exhaustPool takes every connection of db's pool until the test ends, as
// writers under load do.
func exhaustPool(t *testing.T, db *store.DB) {
	t.Helper()
	for range db.SQL().Stats().MaxOpenConnections {
		c, err := db.SQL().Conn(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
	}
}

// TestHealthNeverWaitsOnTheDatabase: /healthz answers 200 while every
// connection of the pool is busy (it used to count events and answer 503
// after 2 s), and /readyz answers 503 within its bound instead of queueing
// behind the writers.
func TestHealthNeverWaitsOnTheDatabase(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ready := Ready(db, slog.New(slog.DiscardHandler))
		if code, body := probe(t, ready, "/readyz"); code != 200 {
			t.Fatalf("/readyz on an idle database = %d %q", code, body)
		}
		exhaustPool(t, db)
		if code, body := probe(t, Health(), "/healthz"); code != 200 || body != "ok\n" {
			t.Errorf("/healthz with the pool busy = %d %q, want 200", code, body)
		}
		code, body := probe(t, ready, "/readyz")
		if code != http.StatusServiceUnavailable || !strings.Contains(body, "did not answer within 1s") {
			t.Errorf("/readyz with the pool busy = %d %q, want 503 naming the timeout", code, body)
		}
	})
}

// TestReadyWhileMigrating: /readyz answers 503 while the schema is behind
// this passerelle's migrations and, on PostgreSQL, while another replica
// holds the migration lock; 200 again once they are done.
func TestReadyWhileMigrating(t *testing.T) {
	storetest.EachReplicas(t, 2, func(t *testing.T, dbs []*store.DB) {
		ctx := context.Background()
		ready := Ready(dbs[0], slog.New(slog.DiscardHandler))
		ms, err := store.Migrations()
		if err != nil {
			t.Fatal(err)
		}
		last := ms[len(ms)-1]
		var appliedAt int64
		if err := storetest.QueryRow(dbs[1], "SELECT applied_at FROM schema_migrations WHERE version = ?", last.Version).Scan(&appliedAt); err != nil {
			t.Fatal(err)
		}
		if _, err := storetest.Exec(dbs[1], "DELETE FROM schema_migrations WHERE version = ?", last.Version); err != nil {
			t.Fatal(err)
		}
		if code, body := probe(t, ready, "/readyz"); code != http.StatusServiceUnavailable || body != "not ready: database migrations are running\n" {
			t.Errorf("/readyz with migration %d pending = %d %q", last.Version, code, body)
		}
		if _, err := storetest.Exec(dbs[1], "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)", last.Version, last.Name, appliedAt); err != nil {
			t.Fatal(err)
		}
		if dbs[1].Backend() == store.Postgres {
			conn, err := dbs[1].SQL().Conn(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			// The same key as store.Migrate's advisory lock.
			if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock($1)", int64(0x7061737365726c)); err != nil {
				t.Fatal(err)
			}
			if code, body := probe(t, ready, "/readyz"); code != http.StatusServiceUnavailable || body != "not ready: database migrations are running\n" {
				t.Errorf("/readyz with the migration lock held = %d %q", code, body)
			}
			if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_unlock($1)", int64(0x7061737365726c)); err != nil {
				t.Fatal(err)
			}
		}
		if code, body := probe(t, ready, "/readyz"); code != 200 {
			t.Errorf("/readyz after the migrations = %d %q", code, body)
		}
	})
}

// TestReadyDatabaseGone: /readyz answers 503 once the database is away.
func TestReadyDatabaseGone(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		db.Close()
		if code, body := probe(t, Ready(db, slog.New(slog.DiscardHandler)), "/readyz"); code != http.StatusServiceUnavailable || body != "not ready: database unavailable\n" {
			t.Errorf("/readyz with the database closed = %d %q", code, body)
		}
	})
}

// TestNoSniff: every response carries X-Content-Type-Options: nosniff,
// errors included.
func TestNoSniff(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /feed.ics", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/calendar")
		w.Write([]byte("BEGIN:VCALENDAR\r\n"))
	})
	h := NoSniff(mux)
	for _, path := range []string{"/feed.ics", "/missing"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		if got := rec.Header().Get("X-Content-Type-Options"); got != "nosniff" {
			t.Errorf("%s: X-Content-Type-Options %q", path, got)
		}
	}
}
