package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"codeberg.org/passerelle/passerelle/store"
)

type migrateCmd struct{}

func (migrateCmd) Run(a *app) error {
	db, err := migrateDB(a)
	if err != nil {
		return err
	}
	defer db.Close()
	v, err := db.SchemaVersion(a.ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "database schema at version %d\n", v)
	return nil
}

// migrateDB connects to the configured database, creating it (SQLite: the
// file and its folder) when missing, and brings its schema up to date.
// Only serve and migrate do: an admin who runs a command from the wrong
// folder must not get a new, empty database that hides theirs.
func migrateDB(a *app) (*store.DB, error) {
	ctx, cancel := context.WithTimeout(a.ctx, 30*time.Second)
	defer cancel()
	db, err := store.Open(ctx, a.cfg.DatabaseURL(), a.log)
	if err != nil {
		return nil, err
	}
	if err := db.Migrate(a.ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// openDB connects to the configured database for every command other than
// serve and migrate: the database must exist and be migrated to this
// passerelle's schema, and nothing is created or migrated. A missing or
// outdated database is a configuration error that says what to do.
func openDB(a *app) (*store.DB, error) {
	ctx, cancel := context.WithTimeout(a.ctx, 30*time.Second)
	defer cancel()
	db, err := store.OpenExisting(ctx, a.cfg.DatabaseURL(), a.log)
	switch {
	case errors.Is(err, store.ErrNoDatabase):
		return nil, usageError{fmt.Errorf("no passerelle database at %s; run from the folder of your passerelle.toml or pass --config / --database-url%s (a new instance: `passerelle migrate` or `passerelle serve` creates it)",
			databaseWhere(a.cfg.DatabaseURL()), a.configNote())}
	case errors.Is(err, store.ErrOlderSchema):
		return nil, usageError{fmt.Errorf("the database at %s was made by an older passerelle: %w; run `passerelle migrate` (or start `passerelle serve`) to upgrade it first",
			databaseWhere(a.cfg.DatabaseURL()), err)}
	}
	return db, err
}

// databaseWhere names a database for a message: a SQLite file by its
// absolute path (the folder a command runs from matters), any other by its
// URL without the password.
func databaseWhere(u string) string {
	if path, ok := strings.CutPrefix(u, "sqlite://"); ok {
		if abs, err := filepath.Abs(path); err == nil {
			return abs
		}
		return path
	}
	return store.Redact(u)
}
