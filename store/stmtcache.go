package store

import (
	"context"
	"database/sql"
	"fmt"
)

// This file keeps prepared statements for the hot paths (the inbox, the
// event flow). modernc.org/sqlite parses and plans a query on every call
// that is not prepared, which costs more than running it for the wide
// event upsert and the small look-ups alike; a statement prepared once per
// connection skips that. Only fixed query texts go through here, so the
// cache stays as small as the code that uses it.

// stmt returns the statement for q (with ? placeholders), prepared on the
// database the first time and on each connection the first time it runs
// there (database/sql keeps one per connection).
func (db *DB) stmt(ctx context.Context, q string) (*sql.Stmt, error) {
	if s, ok := db.stmts.Load(q); ok {
		return s.(*sql.Stmt), nil
	}
	s, err := db.sql.PrepareContext(ctx, db.Rebind(q))
	if err != nil {
		return nil, fmt.Errorf("prepare %q: %w", q, err)
	}
	if prev, loaded := db.stmts.LoadOrStore(q, s); loaded {
		s.Close()
		return prev.(*sql.Stmt), nil
	}
	return s, nil
}

// stmt returns q prepared for the transaction (see DB.stmt). A statement
// not cached yet is prepared on the transaction's own connection, and put
// in the cache from the pool on the side: preparing on the pool here would
// wait for a free connection while this transaction holds SQLite's write
// lock, and when every other connection waits for that lock (BEGIN
// IMMEDIATE) nobody moves until one's busy timeout ends (10 s, then
// SQLITE_BUSY and a retried job).
func (tx *Tx) stmt(ctx context.Context, q string) (*sql.Stmt, error) {
	if s, ok := tx.db.stmts.Load(q); ok {
		return tx.tx.StmtContext(ctx, s.(*sql.Stmt)), nil
	}
	s, err := tx.tx.PrepareContext(ctx, tx.db.Rebind(q))
	if err != nil {
		return nil, fmt.Errorf("prepare %q: %w", q, err)
	}
	go func() { _, _ = tx.db.stmt(context.WithoutCancel(ctx), q) }()
	return s, nil
}

// queryRowPrepared is QueryRow through a prepared statement. A failure to
// prepare comes out of Scan, as QueryRow's errors do.
func (tx *Tx) queryRowPrepared(ctx context.Context, q string, args ...any) scanner {
	s, err := tx.stmt(ctx, q)
	if err != nil {
		return errRow{err}
	}
	return s.QueryRowContext(ctx, args...)
}

// execPrepared is Exec through a prepared statement.
func (tx *Tx) execPrepared(ctx context.Context, q string, args ...any) (sql.Result, error) {
	s, err := tx.stmt(ctx, q)
	if err != nil {
		return nil, err
	}
	return s.ExecContext(ctx, args...)
}

// queryRowPrepared is QueryRow through a prepared statement, outside a
// transaction.
func (db *DB) queryRowPrepared(ctx context.Context, q string, args ...any) scanner {
	s, err := db.stmt(ctx, q)
	if err != nil {
		return errRow{err}
	}
	return s.QueryRowContext(ctx, args...)
}

// execPrepared is Exec through a prepared statement, outside a
// transaction.
func (db *DB) execPrepared(ctx context.Context, q string, args ...any) (sql.Result, error) {
	s, err := db.stmt(ctx, q)
	if err != nil {
		return nil, err
	}
	return s.ExecContext(ctx, args...)
}

type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }
