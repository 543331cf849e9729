package main

import (
	"context"
	"fmt"
	"time"

	"codeberg.org/passerelle/passerelle/store"
)

type migrateCmd struct{}

func (migrateCmd) Run(a *app) error {
	db, err := openDB(a, true)
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

// openDB connects to the configured database and, when migrate is set,
// brings its schema up to date; every command that touches the database
// goes through here.
func openDB(a *app, migrate bool) (*store.DB, error) {
	ctx, cancel := context.WithTimeout(a.ctx, 30*time.Second)
	defer cancel()
	db, err := store.Open(ctx, a.cfg.DatabaseURL(), a.log)
	if err != nil {
		return nil, err
	}
	if migrate {
		if err := db.Migrate(a.ctx); err != nil {
			db.Close()
			return nil, err
		}
	}
	return db, nil
}
