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

// This file holds the calendar accounts (migration 0013): each
// participant's calendar password (its hash and generation), their
// calendar's change log, and what they did to their copy of an event.

// appendPersonal logs a change to one invitation in its participant's
// calendar log, numbered in commit order as change_log's entries are (see
// appendLog).
func (tx *Tx) appendPersonal(ctx context.Context, participantID, eventID int64) error {
	if err := tx.appendLog(ctx, `INSERT INTO personal_log (participant_id, event_id, at)
		SELECT p.id, e.id, ? FROM participants p, events e WHERE p.id = ? AND e.id = ?`,
		time.Now().UnixMicro(), participantID, eventID); err != nil {
		return fmt.Errorf("log personal calendar change: %w", err)
	}
	return nil
}

// CalendarPasswordGen returns the generation of the participant's calendar
// password, giving them generation 1 (stored as hashOf(1)) when they have
// none yet.
func (tx *Tx) CalendarPasswordGen(ctx context.Context, participantID int64, hashOf func(gen int64) string) (int64, error) {
	res, err := tx.exec(ctx, "UPDATE participants SET calendar_password_gen = 1, calendar_password_hash = ? WHERE id = ? AND calendar_password_gen = 0",
		hashOf(1), participantID)
	if err != nil {
		return 0, fmt.Errorf("set calendar password: %w", err)
	}
	if n, err := res.RowsAffected(); err == nil && n == 1 {
		return 1, nil
	}
	var gen int64
	err = tx.queryRow(ctx, "SELECT calendar_password_gen FROM participants WHERE id = ?", participantID).Scan(&gen)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, bridges.ErrNotFound
	}
	if err != nil {
		return 0, fmt.Errorf("read calendar password: %w", err)
	}
	return gen, nil
}

// RotateCalendarPassword moves the participant to the next password
// generation, stored as hashOf(gen): the old password stops working.
func (tx *Tx) RotateCalendarPassword(ctx context.Context, participantID int64, hashOf func(gen int64) string) (int64, error) {
	var gen int64
	err := tx.queryRow(ctx, "SELECT calendar_password_gen FROM participants WHERE id = ?", participantID).Scan(&gen)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, bridges.ErrNotFound
	}
	if err != nil {
		return 0, fmt.Errorf("read calendar password: %w", err)
	}
	gen++
	if _, err := tx.exec(ctx, "UPDATE participants SET calendar_password_gen = ?, calendar_password_hash = ? WHERE id = ?",
		gen, hashOf(gen), participantID); err != nil {
		return 0, fmt.Errorf("rotate calendar password: %w", err)
	}
	return gen, nil
}

// CalendarLogin reads what signing in as address checks: the participant
// and their password's hash ("" when they have none). An unknown address
// is bridges.ErrNotFound.
func (db *DB) CalendarLogin(ctx context.Context, address string) (participantID int64, hash string, err error) {
	// A fediverse participant has no calendar account: their key is no
	// address.
	err = db.queryRow(ctx, "SELECT id, calendar_password_hash FROM participants WHERE address_key = ? AND fediverse_uri = ''",
		strings.ToLower(strings.TrimSpace(address))).Scan(&participantID, &hash)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, "", bridges.ErrNotFound
	}
	if err != nil {
		return 0, "", fmt.Errorf("read calendar login: %w", err)
	}
	return participantID, hash, nil
}

// SetAttendeeExtras keeps what a participant added to their copy of an
// event (alarms, X- properties), for them alone.
func (db *DB) SetAttendeeExtras(ctx context.Context, participantID, eventID int64, extras string) error {
	return db.Tx(ctx, func(ctx context.Context, tx *Tx) error {
		res, err := tx.exec(ctx, "UPDATE invitations SET attendee_extras = ? WHERE participant_id = ? AND event_id = ? AND attendee_extras <> ?",
			extras, participantID, eventID, extras)
		if err != nil {
			return fmt.Errorf("keep attendee's additions: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return err
		}
		return tx.appendPersonal(ctx, participantID, eventID)
	})
}

// HideInvitation takes an event out of the participant's calendar (they
// deleted it there); an answer other than no brings it back.
func (db *DB) HideInvitation(ctx context.Context, participantID, eventID int64) error {
	return db.Tx(ctx, func(ctx context.Context, tx *Tx) error {
		res, err := tx.exec(ctx, "UPDATE invitations SET hidden = TRUE WHERE participant_id = ? AND event_id = ? AND NOT hidden", participantID, eventID)
		if err != nil {
			return fmt.Errorf("hide invitation: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return err
		}
		return tx.appendPersonal(ctx, participantID, eventID)
	})
}

// RecentFormPosts counts the uses of bucket since a time (the failed
// sign-ins a calendar account allows, per address and per client).
func (db *DB) RecentFormPosts(ctx context.Context, bucket string, since time.Time) (int, error) {
	var n int
	if err := db.queryRow(ctx, "SELECT COUNT(*) FROM form_posts WHERE bucket = ? AND at > ?", bucket, since.UnixMicro()).Scan(&n); err != nil {
		return 0, fmt.Errorf("count form posts: %w", err)
	}
	return n, nil
}
