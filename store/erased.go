package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"codeberg.org/passerelle/passerelle/bridges"
)

// This file (migration 0008) ends an erased participant's actor: its row
// and key are removed once nothing signed with the key is still to be
// sent, and a tombstone of its username stays so that its URL answers
// 410 Gone.

// PendingDeliveriesFrom counts the deliveries from a local actor still
// waiting or retrying.
func (db *DB) PendingDeliveriesFrom(ctx context.Context, actorID int64) (int, error) {
	var n int
	if err := db.queryRow(ctx, "SELECT COUNT(*) FROM deliveries WHERE actor_id = ? AND state = ?", actorID, DeliveryPending).Scan(&n); err != nil {
		return 0, fmt.Errorf("count pending deliveries of actor %d: %w", actorID, err)
	}
	return n, nil
}

// RemoveParticipantActor deletes a participant's actor row (and so its
// key), marks its deliveries still pending as failed (they can no longer
// be signed) and records its tombstone. It reports whether there was such
// an actor: the instance actor is never removed.
func (tx *Tx) RemoveParticipantActor(ctx context.Context, actorID int64, now time.Time) (bool, error) {
	var username string
	var created int64
	err := tx.queryRow(ctx, "SELECT username, created_at FROM local_actors WHERE id = ? AND kind = ?", actorID, ActorParticipant).Scan(&username, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("load participant actor %d: %w", actorID, err)
	}
	steps := []struct {
		q    string
		args []any
	}{
		{`INSERT INTO erased_actors (username, created_at, deleted_at) VALUES (?, ?, ?)`, []any{username, created, micro(now)}},
		{`UPDATE deliveries SET state = ?, last_error = ?, updated_at = ? WHERE actor_id = ? AND state = ?`,
			[]any{DeliveryFailed, "sender actor erased", micro(now), actorID, DeliveryPending}},
		{`UPDATE participants SET actor_id = NULL WHERE actor_id = ?`, []any{actorID}},
		{`DELETE FROM local_actors WHERE id = ?`, []any{actorID}},
	}
	for _, s := range steps {
		if _, err := tx.exec(ctx, s.q, s.args...); err != nil {
			return false, fmt.Errorf("remove participant actor %d: %w", actorID, err)
		}
	}
	return true, nil
}

// ErasedActor returns when the actor with that username was removed, or
// bridges.ErrNotFound when no actor of that name was erased.
func (db *DB) ErasedActor(ctx context.Context, username string) (time.Time, error) {
	var deleted int64
	err := db.queryRow(ctx, "SELECT deleted_at FROM erased_actors WHERE username = ?", username).Scan(&deleted)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, bridges.ErrNotFound
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("look up erased actor %s: %w", username, err)
	}
	return fromMicro(deleted), nil
}
