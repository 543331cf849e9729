package federation

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"passerelle/bridges"
)

const sourceCols = `id, slug, actor_url, handle, software, name, summary, inbox, shared_inbox, outbox, events_url, follow_id, state, last_activity, created_at`

func scanSource(row interface{ Scan(...any) error }) (*bridges.Source, error) {
	var src bridges.Source
	var last, created int64
	var state string
	err := row.Scan(&src.ID, &src.Slug, &src.ActorURL, &src.Handle, &src.Software, &src.Name, &src.Summary,
		&src.Inbox, &src.SharedInbox, &src.Outbox, &src.EventsURL, &src.FollowID, &state, &last, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, bridges.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("read source: %w", err)
	}
	src.State = bridges.SourceState(state)
	if last != 0 {
		src.LastActivity = time.UnixMicro(last)
	}
	src.CreatedAt = time.UnixMicro(created)
	return &src, nil
}

// SourceByActor returns the source whose actor is actorURL.
func (s *Store) SourceByActor(ctx context.Context, q Querier, actorURL string) (*bridges.Source, error) {
	return scanSource(q.QueryRow(ctx, `SELECT `+sourceCols+` FROM sources WHERE actor_url = ?`, actorURL))
}

// SourceByFollowID returns the source passerelle sent that Follow to.
func (s *Store) SourceByFollowID(ctx context.Context, q Querier, followID string) (*bridges.Source, error) {
	return scanSource(q.QueryRow(ctx, `SELECT `+sourceCols+` FROM sources WHERE follow_id = ?`, followID))
}

// FindSource finds a source by what a user types: its handle
// (@user@host[:port], with or without the leading @), its actor URL or its
// slug.
func (s *Store) FindSource(ctx context.Context, name string) (*bridges.Source, error) {
	h := "@" + strings.TrimPrefix(name, "@")
	src, err := scanSource(s.DB.QueryRow(ctx, `SELECT `+sourceCols+` FROM sources WHERE slug = ? OR actor_url = ? OR handle = ? ORDER BY id LIMIT 1`, name, name, h))
	if errors.Is(err, bridges.ErrNotFound) {
		return nil, fmt.Errorf("no source named %q (want a handle @user@host, an actor URL or a slug; `passerelle sources` lists them): %w", name, bridges.ErrNotFound)
	}
	return src, err
}

// Sources lists every source, oldest first.
func (s *Store) Sources(ctx context.Context) ([]bridges.Source, error) {
	rows, err := s.DB.Query(ctx, `SELECT `+sourceCols+` FROM sources ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("list sources: %w", err)
	}
	defer rows.Close()
	var out []bridges.Source
	for rows.Next() {
		src, err := scanSource(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *src)
	}
	return out, rows.Err()
}

// SourceEventCount counts a source's stored, not deleted events.
func (s *Store) SourceEventCount(ctx context.Context, sourceID int64) (int, error) {
	var n int
	err := s.DB.QueryRow(ctx, `SELECT COUNT(*) FROM events WHERE source_id = ? AND deleted = ?`, sourceID, false).Scan(&n)
	return n, err
}

// SaveSource inserts a source (src.ID == 0, setting it) or updates it.
func (s *Store) SaveSource(ctx context.Context, q Querier, src *bridges.Source) error {
	if src.CreatedAt.IsZero() {
		src.CreatedAt = s.now()
	}
	var last int64
	if !src.LastActivity.IsZero() {
		last = src.LastActivity.UnixMicro()
	}
	if src.ID == 0 {
		err := q.QueryRow(ctx, `INSERT INTO sources (slug, actor_url, handle, software, name, summary, inbox, shared_inbox, outbox, events_url, follow_id, state, last_activity, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
			src.Slug, src.ActorURL, src.Handle, src.Software, src.Name, src.Summary, src.Inbox, src.SharedInbox, src.Outbox,
			src.EventsURL, src.FollowID, string(src.State), last, src.CreatedAt.UnixMicro()).Scan(&src.ID)
		if err != nil {
			return fmt.Errorf("save source %s: %w", src.ActorURL, err)
		}
		return nil
	}
	_, err := q.Exec(ctx, `UPDATE sources SET slug = ?, handle = ?, software = ?, name = ?, summary = ?, inbox = ?, shared_inbox = ?, outbox = ?,
		events_url = ?, follow_id = ?, state = ?, last_activity = ? WHERE id = ?`,
		src.Slug, src.Handle, src.Software, src.Name, src.Summary, src.Inbox, src.SharedInbox, src.Outbox,
		src.EventsURL, src.FollowID, string(src.State), last, src.ID)
	if err != nil {
		return fmt.Errorf("update source %s: %w", src.Slug, err)
	}
	return nil
}

// SetSourceState records an answer to a Follow.
func (s *Store) SetSourceState(ctx context.Context, q Querier, id int64, state bridges.SourceState) error {
	_, err := q.Exec(ctx, `UPDATE sources SET state = ?, last_activity = ? WHERE id = ?`, string(state), s.now().UnixMicro(), id)
	if err != nil {
		return fmt.Errorf("set source %d %s: %w", id, state, err)
	}
	return nil
}

// TouchSource records the time of a source's last activity.
func (s *Store) TouchSource(ctx context.Context, id int64) error {
	_, err := s.DB.Exec(ctx, `UPDATE sources SET last_activity = ? WHERE id = ?`, s.now().UnixMicro(), id)
	return err
}

// SlugTaken reports whether a slug is in use.
func (s *Store) SlugTaken(ctx context.Context, q Querier, slug string) (bool, error) {
	var n int
	err := q.QueryRow(ctx, `SELECT COUNT(*) FROM sources WHERE slug = ?`, slug).Scan(&n)
	return n > 0, err
}
