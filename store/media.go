package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"codeberg.org/passerelle/passerelle/bridges"
)

// Media is one cached remote image.
type Media struct {
	// Hash is the key: the hex SHA-256 of URL (media.Key).
	Hash, URL, ContentType string
	Body                   []byte
	FetchedAt              time.Time
}

// LinkedMedia is one image an event uses.
type LinkedMedia struct{ Hash, URL string }

// SetEventMedia replaces the images an event uses and returns those of
// them not cached yet, for the caller to have them fetched.
func (tx *Tx) SetEventMedia(ctx context.Context, eventID int64, media []LinkedMedia) (missing []LinkedMedia, err error) {
	if _, err := tx.exec(ctx, `DELETE FROM event_media WHERE event_id = ?`, eventID); err != nil {
		return nil, fmt.Errorf("forget images of event %d: %w", eventID, err)
	}
	for _, m := range media {
		if _, err := tx.exec(ctx, `INSERT INTO event_media (event_id, hash, url) VALUES (?, ?, ?) ON CONFLICT (event_id, hash) DO NOTHING`,
			eventID, m.Hash, m.URL); err != nil {
			return nil, fmt.Errorf("link image %s to event %d: %w", m.URL, eventID, err)
		}
		var n int
		if err := tx.queryRow(ctx, `SELECT COUNT(*) FROM media WHERE hash = ?`, m.Hash).Scan(&n); err != nil {
			return nil, fmt.Errorf("look up image %s: %w", m.URL, err)
		}
		if n == 0 {
			missing = append(missing, m)
		}
	}
	return missing, nil
}

// SaveMedia stores a fetched image (again, when it was fetched before).
func (db *DB) SaveMedia(ctx context.Context, m *Media) error {
	_, err := db.exec(ctx, `INSERT INTO media (hash, url, content_type, body, fetched_at) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (hash) DO UPDATE SET content_type = excluded.content_type, body = excluded.body, fetched_at = excluded.fetched_at`,
		m.Hash, m.URL, m.ContentType, m.Body, micro(m.FetchedAt))
	if err != nil {
		return fmt.Errorf("store image %s: %w", m.URL, err)
	}
	return nil
}

// Media returns a cached image, or bridges.ErrNotFound.
func (db *DB) Media(ctx context.Context, hash string) (*Media, error) {
	m := &Media{Hash: hash}
	var at int64
	err := db.queryRow(ctx, `SELECT url, content_type, body, fetched_at FROM media WHERE hash = ?`, hash).
		Scan(&m.URL, &m.ContentType, &m.Body, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, bridges.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("read image %s: %w", hash, err)
	}
	m.FetchedAt = fromMicro(at)
	return m, nil
}

// CachedMedia tells which of the hashes are cached, without reading their
// bytes: a page asks it for its banner and images before linking them.
func (db *DB) CachedMedia(ctx context.Context, hashes []string) (map[string]bool, error) {
	out := map[string]bool{}
	if len(hashes) == 0 {
		return out, nil
	}
	args := make([]any, len(hashes))
	for i, h := range hashes {
		args[i] = h
	}
	rows, err := db.query(ctx, `SELECT hash FROM media WHERE hash IN (?`+strings.Repeat(", ?", len(hashes)-1)+`)`, args...)
	if err != nil {
		return nil, fmt.Errorf("look up images: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var h string
		if err := rows.Scan(&h); err != nil {
			return nil, err
		}
		out[h] = true
	}
	return out, rows.Err()
}

// ExpireMedia forgets which images deleted events and events over before
// overBefore used, then removes the cached images no event uses any more.
// It returns how many images it removed.
func (db *DB) ExpireMedia(ctx context.Context, overBefore time.Time) (int64, error) {
	var n int64
	err := db.Tx(ctx, func(ctx context.Context, tx *Tx) error {
		if _, err := tx.exec(ctx, `DELETE FROM event_media WHERE event_id IN
			(SELECT id FROM events WHERE deleted OR until_at < ?)`, micro(overBefore)); err != nil {
			return fmt.Errorf("unlink images of past events: %w", err)
		}
		res, err := tx.exec(ctx, `DELETE FROM media WHERE NOT EXISTS (SELECT 1 FROM event_media WHERE event_media.hash = media.hash)`)
		if err != nil {
			return fmt.Errorf("remove unused images: %w", err)
		}
		n, err = res.RowsAffected()
		return err
	})
	return n, err
}

// EventsWithoutMedia returns up to limit events, live or over after
// overAfter, that show images (a banner, an <img> in the description) and
// have none linked: those stored before passerelle kept images, whose
// images the periodic sweep links and has fetched. Only the fields the
// media listener reads are filled.
func (db *DB) EventsWithoutMedia(ctx context.Context, overAfter time.Time, limit int) ([]*bridges.StoredEvent, error) {
	rows, err := db.query(ctx, `SELECT id, ap_id, banner_url, description_html FROM events
		WHERE NOT deleted AND until_at >= ? AND (banner_url LIKE 'http%' OR description_html LIKE '%<img%http%')
		AND NOT EXISTS (SELECT 1 FROM event_media WHERE event_media.event_id = events.id)
		ORDER BY id LIMIT ?`, micro(overAfter), limit)
	if err != nil {
		return nil, fmt.Errorf("list events whose images are not linked: %w", err)
	}
	defer rows.Close()
	var out []*bridges.StoredEvent
	for rows.Next() {
		ev := &bridges.StoredEvent{}
		if err := rows.Scan(&ev.ID, &ev.APID, &ev.BannerURL, &ev.DescriptionHTML); err != nil {
			return nil, err
		}
		out = append(out, ev)
	}
	return out, rows.Err()
}
