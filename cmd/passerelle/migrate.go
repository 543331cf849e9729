package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"codeberg.org/passerelle/passerelle/config"
	"codeberg.org/passerelle/passerelle/store"
)

type migrateCmd struct {
	To string `name:"to" placeholder:"postgres://…" help:"Copy this SQLite instance into a new, empty PostgreSQL database (every table with its ids, the actors' keys, the jobs still to run); stop serve first."`
}

func (c migrateCmd) Run(a *app) error {
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
	if c.To == "" {
		return nil
	}
	if db.Backend() != store.SQLite {
		return usageError{fmt.Errorf("--to moves a SQLite instance to PostgreSQL; this one is on %s already", db.Backend())}
	}
	if !strings.HasPrefix(c.To, "postgres://") && !strings.HasPrefix(c.To, "postgresql://") {
		return usageError{fmt.Errorf("--to %s: want a postgres:// URL of a new, empty database", config.Redact(c.To))}
	}
	ctx, cancel := context.WithTimeout(a.ctx, 30*time.Second)
	dst, err := store.Open(ctx, c.To, a.log)
	cancel()
	if err != nil {
		return fmt.Errorf("open %s: %w", config.Redact(c.To), err)
	}
	defer dst.Close()
	if err := dst.Migrate(a.ctx); err != nil {
		return err
	}
	stats, err := db.CopyTo(a.ctx, dst)
	if err != nil {
		return err
	}
	total := 0
	for _, t := range stats.Tables {
		total += t.Rows
	}
	fmt.Fprintf(a.stdout, "copied %d rows in %d tables and %d jobs still to run into %s\n", total, len(stats.Tables), stats.Jobs, config.Redact(c.To))
	for _, t := range stats.Tables {
		if t.Rows > 0 {
			fmt.Fprintf(a.stdout, "  %-24s %d\n", t.Table, t.Rows)
		}
	}
	fmt.Fprintf(a.stdout, "Now set database.url = %q in the configuration (and the same instance.secret on every replica) and start serve.\n", config.Redact(c.To))
	return nil
}

// backupCmd copies the SQLite database while serve runs.
type backupCmd struct {
	File string `arg:"" name:"FILE" help:"Where to write the copy (a new file)."`
}

func (c backupCmd) Run(a *app) error {
	db, err := openDB(a)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := db.Backup(a.ctx, c.File); err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "backed up to %s (keep it with data_dir/secret: calendar passwords derive from it)\n", c.File)
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
