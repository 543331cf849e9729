package store_test

import (
	"context"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"codeberg.org/passerelle/passerelle/internal/storetest"
	"codeberg.org/passerelle/passerelle/store"
)

// TestOpenExistingChangesNothing: commands other than serve and migrate
// open the database with OpenExisting, which must neither create a SQLite
// file (or its folder) nor migrate, and must tell a missing database from
// an outdated one.
func TestOpenExistingChangesNothing(t *testing.T) {
	ctx := context.Background()
	t.Run(store.SQLite, func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "elsewhere", "passerelle-data")
		_, err := store.OpenExisting(ctx, "sqlite://"+filepath.Join(dir, "passerelle.db"), nil)
		if !errors.Is(err, store.ErrNoDatabase) {
			t.Errorf("missing file: %v, want ErrNoDatabase", err)
		}
		if _, err := os.Stat(filepath.Dir(dir)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("OpenExisting created the folder: %v", err)
		}
		empty := filepath.Join(t.TempDir(), "empty.db")
		if err := os.WriteFile(empty, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := store.OpenExisting(ctx, "sqlite://"+empty, nil); !errors.Is(err, store.ErrNoDatabase) {
			t.Errorf("empty file: %v, want ErrNoDatabase", err)
		}
		if fi, _ := os.Stat(empty); fi.Size() != 0 {
			t.Errorf("OpenExisting wrote %d bytes into an empty file", fi.Size())
		}
		checkOutdated(t, storetest.SQLiteURL(t))
	})
	t.Run(store.Postgres, func(t *testing.T) {
		u := storetest.PostgresURL(t)
		pu, _ := url.Parse(u)
		pu.Path = "/passerelle_never_created"
		if _, err := store.OpenExisting(ctx, pu.String(), nil); !errors.Is(err, store.ErrNoDatabase) {
			t.Errorf("database that does not exist: %v, want ErrNoDatabase", err)
		}
		blank := storetest.EmptyPostgresURL(t)
		if _, err := store.OpenExisting(ctx, blank, nil); !errors.Is(err, store.ErrNoDatabase) {
			t.Errorf("database without passerelle's schema: %v, want ErrNoDatabase", err)
		}
		db, err := store.Open(ctx, blank, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		var n int
		if err := db.QueryRow(ctx, "SELECT COUNT(*) FROM pg_catalog.pg_tables WHERE schemaname = 'public'").Scan(&n); err != nil || n != 0 {
			t.Errorf("OpenExisting created %d tables (%v)", n, err)
		}
		checkOutdated(t, u)
	})
}

// checkOutdated: a migrated database opens; once its last migration is
// forgotten it is ErrOlderSchema and stays so (nothing migrated it).
func checkOutdated(t *testing.T, u string) {
	ctx := context.Background()
	db, err := store.OpenExisting(ctx, u, nil)
	if err != nil {
		t.Fatalf("migrated database: %v", err)
	}
	if _, err := db.Exec(ctx, "DELETE FROM schema_migrations WHERE version = (SELECT MAX(version) FROM schema_migrations)"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	for range 2 {
		_, err := store.OpenExisting(ctx, u, nil)
		if !errors.Is(err, store.ErrOlderSchema) || !strings.Contains(err.Error(), "schema version") {
			t.Errorf("older schema: %v, want ErrOlderSchema naming the versions", err)
		}
	}
}
