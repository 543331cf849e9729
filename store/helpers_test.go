package store_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"codeberg.org/passerelle/passerelle/internal/storetest"
	"codeberg.org/passerelle/passerelle/store"
)

// openEmpty opens an empty database (no schema) on the backend that the
// storetest.Each subtest t runs on, to build one as an older release left
// it.
func openEmpty(t *testing.T) *store.DB {
	u := "sqlite://" + filepath.Join(t.TempDir(), "old.db")
	if !strings.HasSuffix(t.Name(), "/"+store.SQLite) {
		u = storetest.EmptyPostgresURL(t)
	}
	db, err := store.Open(context.Background(), u, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}
