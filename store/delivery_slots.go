package store

import (
	"context"
	"crypto/rand"
	"fmt"
	"time"
)

// AcquireDeliverySlot leases one of host's limit delivery slots until the
// given time and returns the lease's token, or ok false when every slot is
// held by an unexpired lease. Replicas share the slots, so at most limit
// deliveries to one host are in flight across all of them; a lease left by
// a replica that died is taken over once it expires.
//
// One short transaction tries the slots in order, each with one upsert
// that only overwrites an expired lease: on SQLite the transaction holds
// the write lock; on PostgreSQL two acquirers racing for a slot queue on
// its row (or its unique key) and the second sees the first's lease, and
// as both take slots in the same order they cannot deadlock.
func (db *DB) AcquireDeliverySlot(ctx context.Context, host string, limit int, until time.Time) (token string, ok bool, err error) {
	token = rand.Text()
	now := micro(time.Now())
	err = db.Tx(ctx, func(ctx context.Context, tx *Tx) error {
		for slot := range limit {
			res, err := tx.exec(ctx, `INSERT INTO delivery_slots (host, slot, token, expires_at) VALUES (?, ?, ?, ?)
				ON CONFLICT (host, slot) DO UPDATE SET token = excluded.token, expires_at = excluded.expires_at
				WHERE delivery_slots.expires_at <= ?`,
				host, slot, token, micro(until), now)
			if err != nil {
				return err
			}
			n, err := res.RowsAffected()
			if err != nil {
				return err
			}
			if n > 0 {
				ok = true
				return nil
			}
		}
		return nil
	})
	if err != nil {
		return "", false, fmt.Errorf("take a delivery slot for %s: %w", host, err)
	}
	if !ok {
		return "", false, nil
	}
	return token, true, nil
}

// ReleaseDeliverySlot ends the lease with that token. A lease that expired
// and was taken over has another token, so a late release leaves the new
// holder's slot alone.
func (db *DB) ReleaseDeliverySlot(ctx context.Context, host, token string) error {
	if _, err := db.exec(ctx, `DELETE FROM delivery_slots WHERE host = ? AND token = ?`, host, token); err != nil {
		return fmt.Errorf("release a delivery slot for %s: %w", host, err)
	}
	return nil
}
