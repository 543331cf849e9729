package store

import (
	"context"
	"database/sql"
	"time"
)

// ApplyForTest applies one migration text as if it were version v, so a
// test can build a database as an older release left it.
func (db *DB) ApplyForTest(ctx context.Context, v int, name, sqlText string) error {
	if _, err := db.exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)`); err != nil {
		return err
	}
	return db.Tx(ctx, func(ctx context.Context, tx *Tx) error {
		if _, err := tx.tx.ExecContext(ctx, db.dialect(sqlText)); err != nil {
			return err
		}
		_, err := tx.exec(ctx, "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)", v, name, time.Now().UnixMicro())
		return err
	})
}

// The raw statements, for this package's own tests (outside it, tests use
// internal/storetest's, on DB.SQL).

func (db *DB) Exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	return db.exec(ctx, q, args...)
}

func (db *DB) Query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	return db.query(ctx, q, args...)
}

func (db *DB) QueryRow(ctx context.Context, q string, args ...any) *sql.Row {
	return db.queryRow(ctx, q, args...)
}

func (tx *Tx) Exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	return tx.exec(ctx, q, args...)
}

func (tx *Tx) QueryRow(ctx context.Context, q string, args ...any) *sql.Row {
	return tx.queryRow(ctx, q, args...)
}

// AppendLogForTest appends a statement to the transaction's change-log
// appends, as SaveEvent does.
func AppendLogForTest(ctx context.Context, tx *Tx, q string) error {
	return tx.appendLog(ctx, q)
}
