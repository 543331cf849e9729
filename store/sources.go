package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"codeberg.org/passerelle/passerelle/bridges"
)

const sourceColumns = `id, slug, actor_url, handle, software, name, summary, inbox, shared_inbox,
	outbox, events_url, follow_id, state, last_activity, created_at`

func scanSource(row scanner) (*bridges.Source, error) {
	var s bridges.Source
	var state string
	var last, created int64
	err := row.Scan(&s.ID, &s.Slug, &s.ActorURL, &s.Handle, &s.Software, &s.Name, &s.Summary, &s.Inbox, &s.SharedInbox,
		&s.Outbox, &s.EventsURL, &s.FollowID, &state, &last, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, bridges.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("read source: %w", err)
	}
	s.State = bridges.SourceState(state)
	s.LastActivity, s.CreatedAt = fromMicro(last), fromMicro(created)
	return &s, nil
}

// SaveSource inserts the source (ID 0) or updates it by ID; it sets s.ID.
func (tx *Tx) SaveSource(ctx context.Context, s *bridges.Source) error {
	args := []any{s.Slug, s.ActorURL, s.Handle, s.Software, s.Name, s.Summary, s.Inbox, s.SharedInbox,
		s.Outbox, s.EventsURL, s.FollowID, string(s.State), micro(s.LastActivity)}
	if s.ID == 0 {
		err := tx.queryRow(ctx, `INSERT INTO sources (slug, actor_url, handle, software, name, summary, inbox, shared_inbox,
			outbox, events_url, follow_id, state, last_activity, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`, append(args, micro(s.CreatedAt))...).Scan(&s.ID)
		if err != nil {
			return fmt.Errorf("add source %s: %w", s.ActorURL, err)
		}
		return nil
	}
	_, err := tx.exec(ctx, `UPDATE sources SET slug = ?, actor_url = ?, handle = ?, software = ?, name = ?, summary = ?,
		inbox = ?, shared_inbox = ?, outbox = ?, events_url = ?, follow_id = ?, state = ?, last_activity = ? WHERE id = ?`,
		append(args, s.ID)...)
	if err != nil {
		return fmt.Errorf("update source %s: %w", s.ActorURL, err)
	}
	return nil
}

// SourceWhere finds one source by a column (id, slug, actor_url, handle or
// follow_id), or bridges.ErrNotFound.
func (tx *Tx) SourceWhere(ctx context.Context, column string, value any) (*bridges.Source, error) {
	return sourceWhere(ctx, tx, column, value)
}

// SourceWhere finds one source by a column (id, slug, actor_url, handle or
// follow_id), or bridges.ErrNotFound.
func (db *DB) SourceWhere(ctx context.Context, column string, value any) (*bridges.Source, error) {
	if column == "actor_url" {
		// Prepared: the inbox looks up the source of every incoming event.
		return scanSource(db.queryRowPrepared(ctx, "SELECT "+sourceColumns+" FROM sources WHERE actor_url = ?", value))
	}
	return sourceWhere(ctx, db, column, value)
}

func sourceWhere(ctx context.Context, q querier, column string, value any) (*bridges.Source, error) {
	switch column {
	case "id", "slug", "actor_url", "handle", "follow_id":
	default:
		return nil, fmt.Errorf("sources have no lookup column %q", column)
	}
	return scanSource(q.queryRow(ctx, "SELECT "+sourceColumns+" FROM sources WHERE "+column+" = ?", value))
}

// handlePattern is a WebFinger handle as users type it: @user@host[:port],
// the leading @ optional.
var handlePattern = regexp.MustCompile(`^@?([^@/\s]+)@([^@/\s]+)$`)

// FindSource finds a source by what a user types in a command: its slug,
// its actor URL or its handle (@user@host[:port], the leading @ optional),
// as the CLI contract names a SOURCE.
func (db *DB) FindSource(ctx context.Context, name string) (*bridges.Source, error) {
	name = strings.TrimSpace(name)
	tries := []struct{ col, val string }{{"slug", name}, {"actor_url", name}}
	if handlePattern.MatchString(name) {
		tries = append(tries, struct{ col, val string }{"handle", "@" + strings.TrimPrefix(name, "@")})
	}
	for _, t := range tries {
		src, err := db.SourceWhere(ctx, t.col, t.val)
		if err == nil {
			return src, nil
		}
		if !errors.Is(err, bridges.ErrNotFound) {
			return nil, err
		}
	}
	return nil, fmt.Errorf("no source named %q (give its handle @user@host, its actor URL or its slug; `passerelle sources` lists them): %w", name, bridges.ErrNotFound)
}

// SourceBySlug returns the source with that slug, or bridges.ErrNotFound.
func (db *DB) SourceBySlug(ctx context.Context, slug string) (*bridges.Source, error) {
	return db.SourceWhere(ctx, "slug", slug)
}

// Sources lists every source, by slug.
func (db *DB) Sources(ctx context.Context) ([]*bridges.Source, error) {
	rows, err := db.query(ctx, "SELECT "+sourceColumns+" FROM sources ORDER BY slug")
	if err != nil {
		return nil, fmt.Errorf("list sources: %w", err)
	}
	defer rows.Close()
	var out []*bridges.Source
	for rows.Next() {
		s, err := scanSource(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// Counts are the figures the home page and `sources` show.
type Counts struct {
	Sources int
	Events  int
}

// Counts counts followed sources and shown events.
func (db *DB) Counts(ctx context.Context) (Counts, error) {
	var c Counts
	err := db.queryRow(ctx, "SELECT COUNT(*) FROM sources WHERE state = ?", string(bridges.SourceFollowed)).Scan(&c.Sources)
	if err == nil {
		err = db.queryRow(ctx, "SELECT COUNT(*) FROM events WHERE deleted = ? AND draft = ?", false, false).Scan(&c.Events)
	}
	if err != nil {
		return c, fmt.Errorf("count: %w", err)
	}
	return c, nil
}
