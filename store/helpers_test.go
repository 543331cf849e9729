package store_test

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"codeberg.org/passerelle/passerelle/internal/storetest"
	"codeberg.org/passerelle/passerelle/internal/testenv"
	"codeberg.org/passerelle/passerelle/store"
)

// emptyPostgres creates an empty database (no schema) for the test.
func emptyPostgres(t *testing.T) string {
	server := os.Getenv(storetest.PostgresEnv)
	if server == "" {
		testenv.Missing(t, storetest.PostgresEnv+" is not set")
	}
	admin, err := sql.Open("pgx", server)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	name := fmt.Sprintf("passerelle_upgrade_%d", os.Getpid())
	_, _ = admin.ExecContext(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	if _, err := admin.ExecContext(context.Background(), "CREATE DATABASE "+name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		a, err := sql.Open("pgx", server)
		if err == nil {
			_, _ = a.ExecContext(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
			a.Close()
		}
	})
	u, _ := url.Parse(server)
	u.Path = "/" + name
	return u.String()
}

// openEmpty opens an empty database (no schema) on the backend that the
// storetest.Each subtest t runs on, to build one as an older release left
// it.
func openEmpty(t *testing.T) *store.DB {
	u := "sqlite://" + filepath.Join(t.TempDir(), "old.db")
	if !strings.HasSuffix(t.Name(), "/"+store.SQLite) {
		u = emptyPostgres(t)
	}
	db, err := store.Open(context.Background(), u, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}
