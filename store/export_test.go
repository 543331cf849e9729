package store

import (
	"context"
	"time"
)

// ApplyForTest applies one migration text as if it were version v, so a
// test can build a database as an older release left it.
func (db *DB) ApplyForTest(ctx context.Context, v int, name, sqlText string) error {
	if _, err := db.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)`); err != nil {
		return err
	}
	return db.Tx(ctx, func(ctx context.Context, tx *Tx) error {
		if _, err := tx.tx.ExecContext(ctx, db.dialect(sqlText)); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)", v, name, time.Now().UnixMicro())
		return err
	})
}
