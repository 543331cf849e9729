package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// This file keeps the re-fetch schedule of answered events (migration
// 0007): see federation/participants_refetch.go for why and when.

// RefetchState is where the re-fetch of one event stands.
type RefetchState struct {
	EventID int64
	// ETag and LastModified are the validators of the last 200, sent
	// back as If-None-Match and If-Modified-Since.
	ETag, LastModified string
	// NextAt is when the next re-fetch is due; CheckedAt the last one.
	NextAt, CheckedAt time.Time
	// LastStatus is the HTTP status of the last re-fetch (0: none yet).
	LastStatus int
}

// RefetchState loads an event's re-fetch state; an event never re-fetched
// has a zero state (with its EventID).
func (db *DB) RefetchState(ctx context.Context, eventID int64) (RefetchState, error) {
	st := RefetchState{EventID: eventID}
	var next, checked int64
	err := db.queryRow(ctx, `SELECT etag, last_modified, next_at, checked_at, last_status FROM event_refetch WHERE event_id = ?`, eventID).
		Scan(&st.ETag, &st.LastModified, &next, &checked, &st.LastStatus)
	if errors.Is(err, sql.ErrNoRows) {
		return st, nil
	}
	if err != nil {
		return st, fmt.Errorf("load re-fetch state of event %d: %w", eventID, err)
	}
	st.NextAt, st.CheckedAt = fromMicro(next), fromMicro(checked)
	return st, nil
}

// RecordRefetch records a re-fetch's answer (its validators, status and
// time), keeping the schedule, which only the sweep sets.
func (tx *Tx) RecordRefetch(ctx context.Context, st RefetchState) error {
	_, err := tx.exec(ctx, `INSERT INTO event_refetch (event_id, etag, last_modified, checked_at, last_status)
		VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (event_id) DO UPDATE SET etag = excluded.etag, last_modified = excluded.last_modified,
			checked_at = excluded.checked_at, last_status = excluded.last_status`,
		st.EventID, st.ETag, st.LastModified, micro(st.CheckedAt), st.LastStatus)
	if err != nil {
		return fmt.Errorf("record re-fetch of event %d: %w", st.EventID, err)
	}
	return nil
}

// ScheduleRefetch sets only when an event's next re-fetch is due, keeping
// its validators.
func (tx *Tx) ScheduleRefetch(ctx context.Context, eventID int64, at time.Time) error {
	_, err := tx.exec(ctx, `INSERT INTO event_refetch (event_id, next_at) VALUES (?, ?)
		ON CONFLICT (event_id) DO UPDATE SET next_at = excluded.next_at`, eventID, micro(at))
	if err != nil {
		return fmt.Errorf("schedule re-fetch of event %d: %w", eventID, err)
	}
	return nil
}

// ClaimRefetch moves an event's next re-fetch from due (at or before now)
// to next, and says whether it did: of two sweeps that both found the
// event due, only the one that claims it enqueues the re-fetch.
func (tx *Tx) ClaimRefetch(ctx context.Context, eventID int64, now, next time.Time) (bool, error) {
	res, err := tx.exec(ctx, `INSERT INTO event_refetch (event_id, next_at) VALUES (?, ?)
		ON CONFLICT (event_id) DO UPDATE SET next_at = excluded.next_at WHERE event_refetch.next_at <= ?`, eventID, micro(next), micro(now))
	if err != nil {
		return false, fmt.Errorf("schedule re-fetch of event %d: %w", eventID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("schedule re-fetch of event %d: %w", eventID, err)
	}
	return n > 0, nil
}

// DueRefetch is an answered event whose re-fetch is due.
type DueRefetch struct {
	EventID int64
	APID    string
	Start   time.Time
}

// DueRefetches lists, soonest event first, the events someone answered
// (and still takes part in or hears about: not declined, left or
// refused), not deleted, cancelled or over, whose next re-fetch is due at
// now (or that were never scheduled).
func (db *DB) DueRefetches(ctx context.Context, now time.Time, limit int) ([]DueRefetch, error) {
	rows, err := db.query(ctx, `SELECT e.id, e.ap_id, e.start_at FROM events e
		LEFT JOIN event_refetch r ON r.event_id = e.id
		WHERE e.deleted = FALSE AND e.status <> 'cancelled' AND e.until_at > ?
		  AND COALESCE(r.next_at, 0) <= ?
		  AND EXISTS (SELECT 1 FROM invitations i WHERE i.event_id = e.id AND i.answered_at > 0
		              AND i.state NOT IN ('declined', 'left', 'rejected'))
		ORDER BY e.start_at LIMIT ?`, micro(now), micro(now), limit)
	if err != nil {
		return nil, fmt.Errorf("list due re-fetches: %w", err)
	}
	defer rows.Close()
	var out []DueRefetch
	for rows.Next() {
		var d DueRefetch
		var start int64
		if err := rows.Scan(&d.EventID, &d.APID, &start); err != nil {
			return nil, fmt.Errorf("list due re-fetches: %w", err)
		}
		d.Start = fromMicro(start)
		out = append(out, d)
	}
	return out, rows.Err()
}
