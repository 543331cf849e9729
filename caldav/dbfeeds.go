package caldav

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

var _ FeedStore = (*DBStore)(nil)

// StoredFeed reads the feed kept for cal in calendar_feeds, when it was
// built at version.
func (d *DBStore) StoredFeed(ctx context.Context, cal *Calendar, version string) (*AssembledFeed, error) {
	feed := &AssembledFeed{Version: version}
	err := d.DB.QueryRow(ctx, "SELECT seq, body, body_gzip FROM calendar_feeds WHERE owner = ? AND slug = ? AND version = ?",
		cal.Owner, cal.Slug, version).Scan(&feed.Seq, &feed.Body, &feed.Gzipped)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("read kept feed %s/%s: %w", cal.Owner, cal.Slug, err)
	}
	return feed, nil
}

// SaveFeed keeps feed in calendar_feeds (one row per calendar), unless the
// row holds a feed built at a later sequence.
func (d *DBStore) SaveFeed(ctx context.Context, cal *Calendar, feed *AssembledFeed) error {
	_, err := d.DB.Exec(ctx, `INSERT INTO calendar_feeds (owner, slug, seq, version, body, body_gzip, built_at) VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (owner, slug) DO UPDATE SET seq = excluded.seq, version = excluded.version, body = excluded.body,
			body_gzip = excluded.body_gzip, built_at = excluded.built_at
		WHERE calendar_feeds.seq <= excluded.seq`,
		cal.Owner, cal.Slug, feed.Seq, feed.Version, feed.Body, feed.Gzipped, time.Now().UnixMicro())
	if err != nil {
		return fmt.Errorf("keep feed %s/%s: %w", cal.Owner, cal.Slug, err)
	}
	return nil
}
