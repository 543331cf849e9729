package store

import (
	"context"
	"fmt"
	"time"
)

// This file holds what the public pages keep (migration 0006): counts of
// form posts, which rate-limit the event page's invitation form across
// replicas.

// CountFormPost counts one use of bucket at now unless the bucket was used
// limit times in the hour before, and reports whether it was counted.
// Counts older than a day are dropped on the way.
func (db *DB) CountFormPost(ctx context.Context, bucket string, limit int, now time.Time) (bool, error) {
	var n int
	err := db.Tx(ctx, func(ctx context.Context, tx *Tx) error {
		if _, err := tx.exec(ctx, "DELETE FROM form_posts WHERE at < ?", now.Add(-24*time.Hour).UnixMicro()); err != nil {
			return err
		}
		if err := tx.queryRow(ctx, "SELECT COUNT(*) FROM form_posts WHERE bucket = ? AND at > ?", bucket, now.Add(-time.Hour).UnixMicro()).Scan(&n); err != nil {
			return err
		}
		if n >= limit {
			return nil
		}
		_, err := tx.exec(ctx, "INSERT INTO form_posts (bucket, at) VALUES (?, ?)", bucket, now.UnixMicro())
		return err
	})
	if err != nil {
		return false, fmt.Errorf("count form post: %w", err)
	}
	return n < limit, nil
}
