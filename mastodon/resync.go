package mastodon

import (
	"context"
	"fmt"
	"time"

	"codeberg.org/passerelle/passerelle/bridges"
	"codeberg.org/passerelle/passerelle/store"
)

// Resync enqueues a job for every event an account's routes concern that
// has not ended, and for every event it already has a status for (deleted
// ones too): after the account is connected again, what changed while its
// token was refused is caught up. Jobs act on the stored state, so events
// that need nothing cost one job that does nothing. It returns the number
// of jobs enqueued.
func Resync(ctx context.Context, db *store.DB, accountID int64, now time.Time) (int, error) {
	routes, err := db.MastodonRoutes(ctx)
	if err != nil {
		return 0, err
	}
	events := map[int64]bool{}
	for _, r := range routes {
		if r.AccountID != accountID {
			continue
		}
		evs, err := db.Events(ctx, store.EventQuery{SourceID: r.SourceID, From: now})
		if err != nil {
			return 0, fmt.Errorf("list events of source %d: %w", r.SourceID, err)
		}
		for _, ev := range evs {
			events[ev.ID] = true
		}
	}
	posted, err := db.MastodonPostsOfAccount(ctx, accountID)
	if err != nil {
		return 0, err
	}
	for _, p := range posted {
		events[p.EventID] = true
	}
	for id := range events {
		if err := db.Enqueue(ctx, PostArgs{EventID: id, AccountID: accountID, Change: "resync"}, bridges.JobOpts{MaxAttempts: MaxAttempts}); err != nil {
			return 0, fmt.Errorf("enqueue resync of event %d: %w", id, err)
		}
	}
	return len(events), nil
}
