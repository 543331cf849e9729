// Package store keeps passerelle's state in one database, embedded SQLite
// (modernc.org/sqlite, no cgo) by default or PostgreSQL (pgx) for several
// replicas, behind database/sql so that one *sql.Tx carries both a state
// change and the River jobs it causes.
package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver

	"codeberg.org/passerelle/passerelle/bridges"
	"codeberg.org/passerelle/passerelle/internal/redact"
)

// Backend names.
const (
	SQLite   = "sqlite"
	Postgres = "postgres"
)

// DB is passerelle's database.
type DB struct {
	sql     *sql.DB
	backend string
	url     string
	log     *slog.Logger

	mu    sync.RWMutex
	river *river.Client[*sql.Tx]

	// stmts holds prepared statements by query text (stmtcache.go).
	stmts sync.Map
}

var _ bridges.Store[*Tx] = (*DB)(nil)

// Open connects to the database named by url: sqlite://PATH (all after
// sqlite:// is a file path, relative allowed; its folder is created) or
// postgres://…. It does not migrate: call Migrate. Only what creates or
// upgrades a database (serve, migrate) opens it this way; everything else
// uses OpenExisting.
func Open(ctx context.Context, rawURL string, log *slog.Logger) (*DB, error) {
	return open(ctx, rawURL, log, true)
}

// OpenExisting connects to a database that passerelle created and that is
// migrated to this binary's schema, and changes nothing: it creates no
// SQLite file or folder and applies no migration. A missing SQLite file, or
// a database without passerelle's schema, is ErrNoDatabase; a schema older
// than this binary's is ErrOlderSchema (run Migrate first); a newer one is
// ErrNewerSchema.
func OpenExisting(ctx context.Context, rawURL string, log *slog.Logger) (*DB, error) {
	if path, ok := strings.CutPrefix(rawURL, "sqlite://"); ok && path != "" {
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%w: %s does not exist", ErrNoDatabase, path)
		}
	}
	db, err := open(ctx, rawURL, log, false)
	if err != nil {
		return nil, err
	}
	if err := db.checkSchema(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

func open(ctx context.Context, rawURL string, log *slog.Logger, create bool) (*DB, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	db := &DB{url: rawURL, log: log}
	var err error
	switch {
	case strings.HasPrefix(rawURL, "sqlite://"):
		db.backend = SQLite
		err = db.openSQLite(strings.TrimPrefix(rawURL, "sqlite://"), create)
	case strings.HasPrefix(rawURL, "postgres://"), strings.HasPrefix(rawURL, "postgresql://"):
		db.backend = Postgres
		db.sql, err = sql.Open("pgx", rawURL)
		if err == nil {
			db.keepConns(20)
		}
	default:
		return nil, fmt.Errorf("database url %q: want sqlite://PATH or postgres://…", Redact(rawURL))
	}
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", Redact(rawURL), err)
	}
	if err := db.sql.PingContext(ctx); err != nil {
		db.sql.Close()
		var pgErr *pgconn.PgError
		if !create && errors.As(err, &pgErr) && pgErr.Code == "3D000" { // invalid_catalog_name
			return nil, fmt.Errorf("%w: the PostgreSQL database of %s does not exist", ErrNoDatabase, Redact(rawURL))
		}
		// pgx lists every address it tried on lines of their own; an
		// operator wants one line that names the database.
		return nil, fmt.Errorf("connect to database %s: %s", Redact(rawURL), oneLine(err.Error()))
	}
	if db.river, err = river.NewClient(db.driver(), &river.Config{Logger: log}); err != nil {
		db.sql.Close()
		return nil, fmt.Errorf("set up the job queue: %w", err)
	}
	return db, nil
}

func (db *DB) openSQLite(path string, create bool) error {
	if path == "" {
		return errors.New("sqlite:// needs a file path")
	}
	if dir := filepath.Dir(path); dir != "." && create {
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return fmt.Errorf("create database folder: %w", err)
		}
	}
	// WAL lets readers run beside the one writer; immediate transactions
	// take the write lock at BEGIN, so two writers queue on the busy
	// timeout instead of failing at the first write (SQLITE_BUSY).
	q := url.Values{}
	pragmas := []string{"busy_timeout(10000)", "foreign_keys(1)", "synchronous(NORMAL)"}
	if create {
		// WAL is recorded in the file; a database that passerelle made is
		// in WAL already, and one it did not make must not be written.
		pragmas = append(pragmas, "journal_mode(WAL)")
	}
	for _, p := range pragmas {
		q.Add("_pragma", p)
	}
	q.Set("_txlock", "immediate")
	if !create {
		// Without it SQLite makes an empty file when the path names none
		// (it may have gone since OpenExisting looked).
		q.Set("mode", "rw")
	}
	var err error
	db.sql, err = sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return err
	}
	// A few connections: enough for readers beside a writer, few enough
	// that writers do not spin on the lock.
	db.keepConns(4)
	return nil
}

// keepConns bounds the pool at n connections and keeps them open while
// they are used. database/sql keeps only 2 idle by default: under
// concurrent load every other connection was closed on its return and a
// new one opened for the next query (on PostgreSQL a new server process,
// its authentication and caches, and passerelle's prepared statements
// lost each time). In the region bench each replica opened new
// connections all through the inbox burst. Connections idle for some
// minutes are closed, so a quiet instance holds few.
func (db *DB) keepConns(n int) {
	db.sql.SetMaxOpenConns(n)
	db.sql.SetMaxIdleConns(n)
	db.sql.SetConnMaxIdleTime(5 * time.Minute)
}

func (db *DB) driver() riverdriver.Driver[*sql.Tx] {
	if db.backend == SQLite {
		return riversqlite.New(db.sql)
	}
	return riverdatabasesql.New(db.sql)
}

// Close closes the database.
func (db *DB) Close() error {
	db.stmts.Range(func(_, s any) bool {
		s.(*sql.Stmt).Close()
		return true
	})
	return db.sql.Close()
}

// SQL is the underlying pool, for tests that look at or bend what no
// method shows (through internal/storetest) and for pool statistics.
// passerelle's queries all live in this package, behind its methods: a
// schema change is made here alone (TestSQLStaysInStore holds the rest of
// the code to that).
func (db *DB) SQL() *sql.DB { return db.sql }

// Backend is SQLite or Postgres.
func (db *DB) Backend() string { return db.backend }

// Redact hides the password of a database URL for messages.
func Redact(raw string) string { return redact.URL(raw) }

// Rebind turns the ? placeholders of a query into PostgreSQL's $1, $2…
// (SQLite takes ? as it is). Queries here never hold a literal '?'.
func (db *DB) Rebind(q string) string {
	if db.backend != Postgres || !strings.Contains(q, "?") {
		return q
	}
	var b strings.Builder
	n := 0
	for _, r := range q {
		if r == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// jsonList passes a list as one parameter, a JSON array, which textList
// and intList unpack: a batch then costs one statement (one round trip
// on PostgreSQL) whatever its size, and one query text, prepared once.
// Strings and integers always encode, so there is no error to return.
func jsonList[T string | int64](items []T) string {
	if items == nil {
		items = []T{}
	}
	b, _ := json.Marshal(items)
	return string(b)
}

// textList is a subquery of the strings of one jsonList parameter, in a
// column k.
func (db *DB) textList() string {
	if db.backend == Postgres {
		return "SELECT jsonb_array_elements_text(CAST(? AS jsonb)) AS k"
	}
	return "SELECT value AS k FROM json_each(?)"
}

// intList is a subquery of the integers of one jsonList parameter, in a
// column k.
func (db *DB) intList() string {
	if db.backend == Postgres {
		return "SELECT CAST(jsonb_array_elements_text(CAST(? AS jsonb)) AS bigint) AS k"
	}
	return "SELECT value AS k FROM json_each(?)"
}

// exec runs a statement with ? placeholders.
func (db *DB) exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	return db.sql.ExecContext(ctx, db.Rebind(q), args...)
}

// query runs a query with ? placeholders.
func (db *DB) query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	return db.sql.QueryContext(ctx, db.Rebind(q), args...)
}

// queryRow runs a query with ? placeholders that returns at most one row.
func (db *DB) queryRow(ctx context.Context, q string, args ...any) *sql.Row {
	return db.sql.QueryRowContext(ctx, db.Rebind(q), args...)
}

// Tx is one transaction: state changes and the jobs they cause commit
// together or not at all.
type Tx struct {
	db *DB
	tx *sql.Tx
	// logs are the change-log appends a PostgreSQL transaction sends with
	// its COMMIT (see appendLog).
	logs []string
}

var _ bridges.Tx = (*Tx)(nil)

// exec runs a statement with ? placeholders in the transaction.
func (tx *Tx) exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	return tx.tx.ExecContext(ctx, tx.db.Rebind(q), args...)
}

// query runs a query with ? placeholders in the transaction.
func (tx *Tx) query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	return tx.tx.QueryContext(ctx, tx.db.Rebind(q), args...)
}

// queryRow runs a one-row query with ? placeholders in the transaction.
func (tx *Tx) queryRow(ctx context.Context, q string, args ...any) *sql.Row {
	return tx.tx.QueryRowContext(ctx, tx.db.Rebind(q), args...)
}

// Tx runs fn in a transaction, committed when fn returns nil and rolled
// back otherwise. With SQLite, fn must use tx, never db, for its reads and
// writes: the write lock is held until fn returns.
func (db *DB) Tx(ctx context.Context, fn func(ctx context.Context, tx *Tx) error) error {
	sqlTx, err := db.sql.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	tx := &Tx{db: db, tx: sqlTx}
	if err := fn(ctx, tx); err != nil {
		_ = sqlTx.Rollback()
		return err
	}
	if len(tx.logs) > 0 {
		if err := tx.commitLogs(ctx); err != nil {
			_ = sqlTx.Rollback()
			return fmt.Errorf("commit: %w", err)
		}
		return nil
	}
	if err := sqlTx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// InTx is Tx under the name bridges.Store asks for: the flows receive
// *Tx itself, so the compiler checks it has every method they use.
func (db *DB) InTx(ctx context.Context, fn func(ctx context.Context, tx *Tx) error) error {
	return db.Tx(ctx, fn)
}

func oneLine(s string) string {
	var parts []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" && !slices.Contains(parts, l) {
			parts = append(parts, l)
		}
	}
	return strings.Join(parts, " ")
}
