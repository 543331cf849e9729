package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"
)

// This file holds the copies an admin makes: a backup of a running SQLite
// database, and the move of an instance from SQLite to PostgreSQL.

// Backup writes a consistent copy of a SQLite database to path while it
// is in use (VACUUM INTO: one read transaction, writers go on). path must
// not exist. PostgreSQL is backed up with pg_dump.
func (db *DB) Backup(ctx context.Context, path string) error {
	if db.backend != SQLite {
		return errors.New("backup copies SQLite databases; back up PostgreSQL with pg_dump (e.g. pg_dump -Fc -f passerelle.dump DBNAME)")
	}
	if _, err := os.Stat(path); err == nil {
		return fmt.Errorf("%s exists already: choose a new file name (a backup never overwrites)", path)
	}
	if _, err := db.exec(ctx, "VACUUM INTO ?", path); err != nil {
		return fmt.Errorf("back up to %s: %w", path, err)
	}
	return nil
}

// CopyStats is what CopyTo carried, table by table, in copy order.
type CopyStats struct {
	Tables []TableCount
	// Jobs are the unfinished jobs carried (finished ones are history
	// and stay behind).
	Jobs int
}

// TableCount is the rows of one table.
type TableCount struct {
	Table string
	Rows  int
}

// CopyTo copies every row of this SQLite database into dst, an empty
// PostgreSQL database at the same schema version, with the same ids (so
// that the actors' keys, URLs and every reference stay what followers and
// participants know), then moves the id sequences past them, and carries
// the unfinished jobs. It refuses a dst that holds any row already.
func (db *DB) CopyTo(ctx context.Context, dst *DB) (*CopyStats, error) {
	if db.backend != SQLite || dst.backend != Postgres {
		return nil, errors.New("copy goes from SQLite to PostgreSQL")
	}
	from, err := db.SchemaVersion(ctx)
	if err != nil {
		return nil, err
	}
	to, err := dst.SchemaVersion(ctx)
	if err != nil {
		return nil, err
	}
	if from != to {
		return nil, fmt.Errorf("the SQLite database is at schema %d and the PostgreSQL one at %d: run passerelle migrate on both with this version first", from, to)
	}
	tables, err := db.copyTables(ctx)
	if err != nil {
		return nil, err
	}
	for _, t := range tables {
		var n int
		if err := dst.queryRow(ctx, "SELECT COUNT(*) FROM "+t).Scan(&n); err != nil {
			return nil, fmt.Errorf("the PostgreSQL database lacks table %s: %w", t, err)
		}
		if n > 0 {
			return nil, fmt.Errorf("the PostgreSQL database is not empty (%s holds %d rows): give a new, empty database", t, n)
		}
	}
	stats := &CopyStats{}
	err = dst.Tx(ctx, func(ctx context.Context, tx *Tx) error {
		for _, t := range tables {
			n, err := db.copyTable(ctx, tx, t)
			if err != nil {
				return fmt.Errorf("copy %s: %w", t, err)
			}
			stats.Tables = append(stats.Tables, TableCount{Table: t, Rows: n})
			types, err := tx.columnTypes(ctx, t)
			if err != nil {
				return err
			}
			if _, hasID := types["id"]; !hasID {
				continue
			}
			if err := tx.moveSequence(ctx, t); err != nil {
				return err
			}
		}
		n, err := db.copyJobs(ctx, tx)
		stats.Jobs = n
		return err
	})
	if err != nil {
		return nil, err
	}
	return stats, nil
}

// copyTables lists passerelle's tables in creation order, which is an
// order where every table comes after those it references. River's tables
// are not among them (their jobs are carried by copyJobs) nor the schema
// bookkeeping (dst has its own).
func (db *DB) copyTables(ctx context.Context) ([]string, error) {
	rows, err := db.query(ctx, `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'river_%'
		AND name NOT LIKE 'sqlite_%' AND name <> 'schema_migrations' ORDER BY rowid`)
	if err != nil {
		return nil, fmt.Errorf("list tables: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var t string
		if err := rows.Scan(&t); err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// copyTable copies one table's rows, converting what SQLite keeps
// differently: booleans are integers there, and text may come as bytes.
func (db *DB) copyTable(ctx context.Context, tx *Tx, table string) (int, error) {
	types, err := tx.columnTypes(ctx, table)
	if err != nil {
		return 0, err
	}
	rows, err := db.query(ctx, "SELECT * FROM "+table)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return 0, err
	}
	for _, c := range cols {
		if _, ok := types[c]; !ok {
			return 0, fmt.Errorf("column %s.%s is missing on PostgreSQL", table, c)
		}
	}
	insert := "INSERT INTO " + table + " (" + strings.Join(cols, ", ") + ") VALUES (" + strings.TrimSuffix(strings.Repeat("?, ", len(cols)), ", ") + ")"
	n := 0
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return n, err
		}
		args := make([]any, len(cols))
		for i, c := range cols {
			args[i] = convert(vals[i], types[c])
		}
		if _, err := tx.exec(ctx, insert, args...); err != nil {
			return n, err
		}
		n++
	}
	return n, rows.Err()
}

// convert turns a value read from SQLite into one PostgreSQL's column
// takes.
func convert(v any, pgType string) any {
	switch pgType {
	case "boolean":
		switch b := v.(type) {
		case int64:
			return b != 0
		case bool:
			return b
		}
	case "bytea":
		if s, ok := v.(string); ok {
			return []byte(s)
		}
	case "text":
		if b, ok := v.([]byte); ok {
			return string(b)
		}
	}
	return v
}

// columnTypes reads a PostgreSQL table's column types.
func (tx *Tx) columnTypes(ctx context.Context, table string) (map[string]string, error) {
	rows, err := tx.query(ctx, "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = ?", table)
	if err != nil {
		return nil, fmt.Errorf("read columns of %s: %w", table, err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var name, typ string
		if err := rows.Scan(&name, &typ); err != nil {
			return nil, err
		}
		out[name] = typ
	}
	return out, rows.Err()
}

// moveSequence sets an identity column's sequence past the copied ids, so
// that the next row PostgreSQL numbers does not collide with one.
func (tx *Tx) moveSequence(ctx context.Context, table string) error {
	var seq sql.NullString
	if err := tx.queryRow(ctx, "SELECT pg_get_serial_sequence(?, 'id')", table).Scan(&seq); err != nil {
		return fmt.Errorf("find the id sequence of %s: %w", table, err)
	}
	if !seq.Valid {
		return nil
	}
	if _, err := tx.exec(ctx, "SELECT setval(?::regclass, GREATEST((SELECT COALESCE(MAX(id), 0) FROM "+table+"), 1))", seq.String); err != nil {
		return fmt.Errorf("move the id sequence of %s: %w", table, err)
	}
	return nil
}

// copyJobs carries the jobs still to run (waiting, scheduled, to be
// retried, or running when the copy started, which run again): their kind,
// arguments, attempts left and time. Finished jobs are history and stay.
func (db *DB) copyJobs(ctx context.Context, tx *Tx) (int, error) {
	rows, err := db.query(ctx, `SELECT args, kind, max_attempts, priority, queue, scheduled_at FROM river_job
		WHERE state IN ('available', 'scheduled', 'retryable', 'running', 'pending') ORDER BY id`)
	if err != nil {
		return 0, fmt.Errorf("read jobs: %w", err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var args []byte
		var kind, queue string
		var maxAttempts, priority int
		var scheduled any
		if err := rows.Scan(&args, &kind, &maxAttempts, &priority, &queue, &scheduled); err != nil {
			return n, err
		}
		at := riverTime(scheduled)
		if at.IsZero() {
			at = time.Now()
		}
		state := "available"
		if at.After(time.Now()) {
			state = "scheduled"
		}
		if _, err := tx.exec(ctx, `INSERT INTO river_job (args, kind, max_attempts, priority, queue, scheduled_at, state, metadata, tags)
			VALUES (?::jsonb, ?, ?, ?, ?, ?, ?::river_job_state, '{}'::jsonb, '{}')`, string(args), kind, maxAttempts, priority, queue, at, state); err != nil {
			return n, fmt.Errorf("carry a %s job: %w", kind, err)
		}
		n++
	}
	return n, rows.Err()
}
