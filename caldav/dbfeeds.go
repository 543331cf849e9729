package caldav

import (
	"context"
	"errors"

	"codeberg.org/passerelle/passerelle/bridges"
	"codeberg.org/passerelle/passerelle/store"
)

var _ FeedStore = (*DBStore)(nil)

// StoredFeed reads the feed kept for cal when it was built at version.
func (d *DBStore) StoredFeed(ctx context.Context, cal *Calendar, version string) (*AssembledFeed, error) {
	kept, err := d.DB.KeptFeed(ctx, cal.Owner, cal.Slug, version)
	if errors.Is(err, bridges.ErrNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	return &AssembledFeed{Seq: kept.Seq, Version: kept.Version, Body: kept.Body, Gzipped: kept.Gzipped}, nil
}

// SaveFeed keeps feed (one per calendar), unless a feed built at a later
// sequence is kept already.
func (d *DBStore) SaveFeed(ctx context.Context, cal *Calendar, feed *AssembledFeed) error {
	return d.DB.KeepFeed(ctx, cal.Owner, cal.Slug, &store.KeptFeed{Seq: feed.Seq, Version: feed.Version, Body: feed.Body, Gzipped: feed.Gzipped})
}
