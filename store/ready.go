package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// ErrMigrating is returned by Ready while the schema is behind this
// passerelle's migrations or another process holds the migration lock.
var ErrMigrating = errors.New("database migrations are running")

// latestMigration is the newest embedded migration's version; the
// embedded files never change while the process runs.
var latestMigration = sync.OnceValues(func() (int, error) {
	ms, err := Migrations()
	if err != nil {
		return 0, err
	}
	return ms[len(ms)-1].Version, nil
})

// Ready says whether this replica can serve: the database answers, its
// schema is the one this passerelle knows, and no migration is under way.
// It reads only the tiny schema_migrations table and, on PostgreSQL,
// pg_locks, so that it never waits on the application's tables. The caller
// bounds it with ctx.
func (db *DB) Ready(ctx context.Context) error {
	if err := db.sql.PingContext(ctx); err != nil {
		return fmt.Errorf("ping database: %s", oneLine(err.Error()))
	}
	latest, err := latestMigration()
	if err != nil {
		return err
	}
	current, err := db.SchemaVersion(ctx)
	if err != nil {
		return err
	}
	switch {
	case current > latest:
		return fmt.Errorf("%w (schema version %d, this passerelle knows up to %d)", ErrNewerSchema, current, latest)
	case current < latest:
		return fmt.Errorf("%w (schema version %d of %d)", ErrMigrating, current, latest)
	}
	if db.backend == Postgres {
		// A bigint advisory key shows in pg_locks as its high and low
		// halves with objsubid 1.
		var held bool
		err := db.queryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted
			AND classid = ?::bigint::oid AND objid = ?::bigint::oid AND objsubid = 1)`,
			int64(migrationLock>>32), int64(migrationLock&0xffffffff)).Scan(&held)
		if err != nil {
			return fmt.Errorf("look for a running migration: %w", err)
		}
		if held {
			return fmt.Errorf("%w (another process holds the migration lock)", ErrMigrating)
		}
	}
	return nil
}
