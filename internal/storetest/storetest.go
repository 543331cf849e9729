// Package storetest gives tests a migrated throwaway database: SQLite in a
// temporary folder, or a fresh PostgreSQL database on the server named by
// PASSERELLE_TEST_POSTGRES. Each backend is migrated once per test binary
// into a template that every test copies, because migrating (River's
// schema included) in every test is slow, under -race especially.
package storetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"codeberg.org/passerelle/passerelle/bridges"
	"codeberg.org/passerelle/passerelle/internal/testenv"
	"codeberg.org/passerelle/passerelle/store"
)

// PostgresEnv names the variable holding a PostgreSQL server URL for tests
// (postgres://root@127.0.0.1:5432/test?sslmode=disable in CI).
const PostgresEnv = "PASSERELLE_TEST_POSTGRES"

// New returns a migrated SQLite database for the test, closed at its end.
func New(t testing.TB) *store.DB {
	t.Helper()
	return open(t, SQLiteURL(t))
}

// Each runs f once per backend: SQLite, then PostgreSQL (skipped, or failed
// under PASSERELLE_REQUIRE_ALL, when PASSERELLE_TEST_POSTGRES is unset).
func Each(t *testing.T, f func(t *testing.T, db *store.DB)) {
	t.Helper()
	t.Run(store.SQLite, func(t *testing.T) { f(t, New(t)) })
	t.Run(store.Postgres, func(t *testing.T) { f(t, NewPostgres(t)) })
}

// EachReplicas is Each with n pools (*store.DB) open on one database, as n
// replicas of serve would have: SQLite, then PostgreSQL (skipped, or failed
// under PASSERELLE_REQUIRE_ALL, when PASSERELLE_TEST_POSTGRES is unset).
// Several processes on one SQLite file are not a deployment passerelle
// offers, but the pools share state only through the database there too.
func EachReplicas(t *testing.T, n int, f func(t *testing.T, dbs []*store.DB)) {
	t.Helper()
	replicas := func(t *testing.T, u string) []*store.DB {
		dbs := make([]*store.DB, n)
		for i := range dbs {
			dbs[i] = open(t, u)
		}
		return dbs
	}
	t.Run(store.SQLite, func(t *testing.T) { f(t, replicas(t, SQLiteURL(t))) })
	t.Run(store.Postgres, func(t *testing.T) { f(t, replicas(t, PostgresURL(t))) })
}

// NewPostgres returns a migrated fresh PostgreSQL database for the test,
// dropped at its end.
func NewPostgres(t testing.TB) *store.DB {
	t.Helper()
	return open(t, PostgresURL(t))
}

// URL returns the URL of a migrated database of the test's own on backend
// (store.SQLite or store.Postgres), for tests that run the real binary
// against it.
func URL(t testing.TB, backend string) string {
	t.Helper()
	if backend == store.Postgres {
		return PostgresURL(t)
	}
	return SQLiteURL(t)
}

// Open opens the database at u (see URL) for the test, closed at its end,
// so that a test can set up what the binary then reads.
func Open(t testing.TB, u string) *store.DB { t.Helper(); return open(t, u) }

// SaveSources stores sources (setting their ids), as follows that were
// accepted would have.
func SaveSources(t testing.TB, db *store.DB, sources ...*bridges.Source) {
	t.Helper()
	err := db.Tx(context.Background(), func(ctx context.Context, tx *store.Tx) error {
		for _, s := range sources {
			if s.CreatedAt.IsZero() {
				s.CreatedAt = time.Now()
			}
			if err := tx.SaveSource(ctx, s); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func open(t testing.TB, u string) *store.DB {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	db, err := store.Open(ctx, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

var (
	sqliteOnce     sync.Once
	sqliteTemplate string
	sqliteErr      error
)

// SQLiteURL returns the URL of a migrated SQLite file of the test's own,
// for tests that run the real binary against it.
func SQLiteURL(t testing.TB) string {
	t.Helper()
	sqliteOnce.Do(func() {
		dir, err := os.MkdirTemp("", "passerelle-storetest-")
		if err != nil {
			sqliteErr = err
			return
		}
		sqliteTemplate = filepath.Join(dir, "template.db")
		sqliteErr = migrate("sqlite://" + sqliteTemplate)
	})
	if sqliteErr != nil {
		t.Fatalf("migrate the SQLite template: %v", sqliteErr)
	}
	path := filepath.Join(t.TempDir(), "passerelle.db")
	if err := copyFile(sqliteTemplate, path); err != nil {
		t.Fatal(err)
	}
	return "sqlite://" + path
}

var (
	pgOnce     sync.Once
	pgTemplate string
	pgErr      error
)

// PostgresURL creates a migrated database of the test's own on the server
// named by PASSERELLE_TEST_POSTGRES, dropped at the end of the test, and
// returns its URL.
func PostgresURL(t testing.TB) string {
	t.Helper()
	server := os.Getenv(PostgresEnv)
	if server == "" {
		testenv.Missing(t, PostgresEnv+" is not set (a PostgreSQL server URL such as postgres://root@127.0.0.1:5432/test?sslmode=disable)")
	}
	admin, err := sql.Open("pgx", server)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	ctx := context.Background()
	pgOnce.Do(func() {
		pgTemplate = "passerelle_tmpl_" + randomName()
		if _, pgErr = admin.ExecContext(ctx, "CREATE DATABASE "+pgTemplate); pgErr != nil {
			return
		}
		pgErr = migrate(withDatabase(server, pgTemplate))
	})
	if pgErr != nil {
		t.Fatalf("migrate the PostgreSQL template on %s: %v", store.Redact(server), pgErr)
	}
	name := "passerelle_test_" + randomName()
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name+" TEMPLATE "+pgTemplate); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() {
		admin, err := sql.Open("pgx", server)
		if err != nil {
			return
		}
		defer admin.Close()
		_, _ = admin.ExecContext(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	})
	return withDatabase(server, name)
}

// EmptyPostgresURL creates an empty database (no schema at all) of the
// test's own on the server named by PASSERELLE_TEST_POSTGRES, dropped at
// the end of the test, and returns its URL: what a new deployment or an
// older release starts from.
func EmptyPostgresURL(t testing.TB) string {
	t.Helper()
	server := os.Getenv(PostgresEnv)
	if server == "" {
		testenv.Missing(t, PostgresEnv+" is not set (a PostgreSQL server URL such as postgres://root@127.0.0.1:5432/test?sslmode=disable)")
	}
	admin, err := sql.Open("pgx", server)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	name := "passerelle_empty_" + randomName()
	if _, err := admin.ExecContext(context.Background(), "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create empty test database: %v", err)
	}
	t.Cleanup(func() {
		admin, err := sql.Open("pgx", server)
		if err != nil {
			return
		}
		defer admin.Close()
		_, _ = admin.ExecContext(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	})
	return withDatabase(server, name)
}

func migrate(u string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	db, err := store.Open(ctx, u, nil)
	if err != nil {
		return err
	}
	defer db.Close()
	return db.Migrate(ctx)
}

func withDatabase(server, name string) string {
	u, err := url.Parse(server)
	if err != nil {
		return server
	}
	u.Path = "/" + name
	return u.String()
}

func randomName() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return strings.ToLower(hex.EncodeToString(b))
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(to)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// StartJobs runs the job workers of jobs on db for the rest of the test
// (polling every 20 ms unless jobs says otherwise) and stops them at its
// end, waiting up to 5 s for running jobs.
func StartJobs(t testing.TB, db *store.DB, jobs store.Jobs) {
	t.Helper()
	if jobs.PollInterval == 0 {
		jobs.PollInterval = 20 * time.Millisecond
	}
	stop, err := db.StartJobs(context.Background(), jobs)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = stop(ctx)
	})
}

// The statements below are for tests that look at or bend state no store
// method shows (rows of a table, a date set back). passerelle's own queries
// live in store, behind its methods.

// QueryRow runs a one-row query with ? placeholders on db.
func QueryRow(db *store.DB, q string, args ...any) *sql.Row {
	return db.SQL().QueryRowContext(context.Background(), db.Rebind(q), args...)
}

// Query runs a query with ? placeholders on db.
func Query(db *store.DB, q string, args ...any) (*sql.Rows, error) {
	return db.SQL().QueryContext(context.Background(), db.Rebind(q), args...)
}

// Exec runs a statement with ? placeholders on db.
func Exec(db *store.DB, q string, args ...any) (sql.Result, error) {
	return db.SQL().ExecContext(context.Background(), db.Rebind(q), args...)
}
