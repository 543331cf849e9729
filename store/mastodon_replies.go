package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"codeberg.org/passerelle/passerelle/bridges"
)

// This file holds what reading replies under cross-posted events needs
// (migration 0014): each account's mentions cursor, lease and backoff, the
// replies already read, where fediverse participants hear back, and the
// direct replies sent to them.

// MastodonMentions is where the reading of one account's mentions stands.
type MastodonMentions struct {
	AccountID int64
	// Cursor is the id of the newest notification read; empty before the
	// first read.
	Cursor string
	// Failures counts the reads that failed in a row; NextAt is when the
	// next may be tried (backoff), zero for at once.
	Failures  int
	NextAt    time.Time
	LastError string
}

// MastodonMentions reads an account's mentions bookkeeping (zero when
// never read).
func (db *DB) MastodonMentions(ctx context.Context, accountID int64) (MastodonMentions, error) {
	m := MastodonMentions{AccountID: accountID}
	var next int64
	err := db.queryRow(ctx, `SELECT cursor, failures, next_at, last_error FROM mastodon_mentions WHERE account_id = ?`, accountID).
		Scan(&m.Cursor, &m.Failures, &next, &m.LastError)
	if errors.Is(err, sql.ErrNoRows) {
		return m, nil
	}
	if err != nil {
		return m, fmt.Errorf("read mentions state of Mastodon account %d: %w", accountID, err)
	}
	m.NextAt = fromMicro(next)
	return m, nil
}

// SaveMastodonMentions records the cursor and the backoff of an account's
// mentions (the lease is left alone).
func (db *DB) SaveMastodonMentions(ctx context.Context, m MastodonMentions) error {
	_, err := db.exec(ctx, `INSERT INTO mastodon_mentions (account_id, cursor, failures, next_at, last_error) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (account_id) DO UPDATE SET cursor = excluded.cursor, failures = excluded.failures,
			next_at = excluded.next_at, last_error = excluded.last_error`,
		m.AccountID, m.Cursor, m.Failures, micro(m.NextAt), m.LastError)
	if err != nil {
		return fmt.Errorf("save mentions state of Mastodon account %d: %w", m.AccountID, err)
	}
	return nil
}

// LeaseMastodonMentions takes or renews the lease on reading an account's
// mentions for holder until now+ttl, and reports whether holder has it:
// one replica reads each account, and one that dies loses it on expiry.
func (db *DB) LeaseMastodonMentions(ctx context.Context, accountID int64, holder string, ttl time.Duration) (bool, error) {
	now := time.Now()
	res, err := db.exec(ctx, `INSERT INTO mastodon_mentions (account_id, lease_holder, lease_until) VALUES (?, ?, ?)
		ON CONFLICT (account_id) DO UPDATE SET lease_holder = excluded.lease_holder, lease_until = excluded.lease_until
		WHERE mastodon_mentions.lease_holder = excluded.lease_holder OR mastodon_mentions.lease_until < ?`,
		accountID, holder, micro(now.Add(ttl)), micro(now))
	if err != nil {
		return false, fmt.Errorf("take the mentions lease of Mastodon account %d: %w", accountID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("take the mentions lease of Mastodon account %d: %w", accountID, err)
	}
	return n == 1, nil
}

// ReleaseMastodonMentions gives the lease up, so another replica takes
// over at once.
func (db *DB) ReleaseMastodonMentions(ctx context.Context, accountID int64, holder string) error {
	_, err := db.exec(ctx, `UPDATE mastodon_mentions SET lease_until = 0 WHERE account_id = ? AND lease_holder = ?`, accountID, holder)
	if err != nil {
		return fmt.Errorf("release the mentions lease of Mastodon account %d: %w", accountID, err)
	}
	return nil
}

// EventOfMastodonStatus finds the event whose own status (kind "status",
// still posted) an account posted with that id: replies to it may answer
// the event. Replies in its thread (cancellation, reminders) and deleted
// statuses answer nothing: bridges.ErrNotFound.
func (db *DB) EventOfMastodonStatus(ctx context.Context, accountID int64, statusID string) (int64, error) {
	var id int64
	err := db.queryRow(ctx, `SELECT event_id FROM mastodon_posts WHERE account_id = ? AND status_id = ? AND kind = 'status' AND state = 'posted'`,
		accountID, statusID).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, bridges.ErrNotFound
	}
	if err != nil {
		return 0, fmt.Errorf("find the event of Mastodon status %s: %w", statusID, err)
	}
	return id, nil
}

// MastodonReplySeen records a reply read (by status id and edit time) and
// reports whether it is new: a reply read twice is acted on once.
func (tx *Tx) MastodonReplySeen(ctx context.Context, accountID int64, statusID, editedAt string) (bool, error) {
	res, err := tx.exec(ctx, `INSERT INTO mastodon_replies_seen (account_id, status_id, edited_at, at) VALUES (?, ?, ?, ?)
		ON CONFLICT (account_id, status_id, edited_at) DO NOTHING`, accountID, statusID, editedAt, micro(time.Now()))
	if err != nil {
		return false, fmt.Errorf("record reply %s: %w", statusID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("record reply %s: %w", statusID, err)
	}
	return n == 1, nil
}

// MastodonAnswerer is where a fediverse participant hears back about an
// invitation: the community account, their handle, their last answer.
type MastodonAnswerer struct {
	InvitationID int64
	AccountID    int64
	// Acct is the participant's handle, user@host.
	Acct string
	// StatusID is their last answer, which direct replies answer.
	StatusID string
}

// SaveMastodonAnswerer records (or moves) where a participant hears back.
func (tx *Tx) SaveMastodonAnswerer(ctx context.Context, a MastodonAnswerer) error {
	_, err := tx.exec(ctx, `INSERT INTO mastodon_answerers (invitation_id, account_id, acct, status_id, updated_at) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (invitation_id) DO UPDATE SET account_id = excluded.account_id, acct = excluded.acct,
			status_id = excluded.status_id, updated_at = excluded.updated_at`,
		a.InvitationID, a.AccountID, a.Acct, a.StatusID, micro(time.Now()))
	if err != nil {
		return fmt.Errorf("record where invitation %d is answered: %w", a.InvitationID, err)
	}
	return nil
}

// MastodonAnswerer returns where the participant of an invitation hears
// back, or bridges.ErrNotFound.
func (db *DB) MastodonAnswerer(ctx context.Context, invitationID int64) (*MastodonAnswerer, error) {
	a := MastodonAnswerer{InvitationID: invitationID}
	err := db.queryRow(ctx, `SELECT account_id, acct, status_id FROM mastodon_answerers WHERE invitation_id = ?`, invitationID).
		Scan(&a.AccountID, &a.Acct, &a.StatusID)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, bridges.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("read where invitation %d is answered: %w", invitationID, err)
	}
	return &a, nil
}

// MastodonDirect is one direct reply to a participant: pending from just
// before the POST until its id is recorded, then posted.
type MastodonDirect struct {
	// Key is the notice's job key: one direct reply per key.
	Key          string
	InvitationID int64
	Notice       string
	State        MastodonPostState
	StatusID     string
	AttemptedAt  time.Time
	Error        string
}

// MastodonDirect returns the direct reply of a key, or bridges.ErrNotFound.
func (db *DB) MastodonDirect(ctx context.Context, key string) (*MastodonDirect, error) {
	d := MastodonDirect{Key: key}
	var inv sql.NullInt64
	var attempted int64
	err := db.queryRow(ctx, `SELECT invitation_id, notice, state, status_id, attempted_at, error FROM mastodon_directs WHERE job_key = ?`, key).
		Scan(&inv, &d.Notice, &d.State, &d.StatusID, &attempted, &d.Error)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, bridges.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("read direct reply %s: %w", key, err)
	}
	d.InvitationID, d.AttemptedAt = inv.Int64, fromMicro(attempted)
	return &d, nil
}

// SaveMastodonDirect records a direct reply.
func (db *DB) SaveMastodonDirect(ctx context.Context, d *MastodonDirect) error {
	_, err := db.exec(ctx, `INSERT INTO mastodon_directs (job_key, invitation_id, notice, state, status_id, attempted_at, error) VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (job_key) DO UPDATE SET state = excluded.state, status_id = excluded.status_id,
			attempted_at = excluded.attempted_at, error = excluded.error`,
		d.Key, nullID(d.InvitationID), d.Notice, string(d.State), d.StatusID, micro(d.AttemptedAt), d.Error)
	if err != nil {
		return fmt.Errorf("record direct reply %s: %w", d.Key, err)
	}
	return nil
}

// MastodonDirectsOf lists the direct replies about an invitation, oldest
// attempt first.
func (db *DB) MastodonDirectsOf(ctx context.Context, invitationID int64) ([]MastodonDirect, error) {
	rows, err := db.query(ctx, `SELECT job_key, notice, state, status_id, attempted_at, error FROM mastodon_directs
		WHERE invitation_id = ? ORDER BY attempted_at, job_key`, invitationID)
	if err != nil {
		return nil, fmt.Errorf("list direct replies of invitation %d: %w", invitationID, err)
	}
	defer rows.Close()
	var out []MastodonDirect
	for rows.Next() {
		d := MastodonDirect{InvitationID: invitationID}
		var attempted int64
		if err := rows.Scan(&d.Key, &d.Notice, &d.State, &d.StatusID, &attempted, &d.Error); err != nil {
			return nil, fmt.Errorf("list direct replies of invitation %d: %w", invitationID, err)
		}
		d.AttemptedAt = fromMicro(attempted)
		out = append(out, d)
	}
	return out, rows.Err()
}

// ParticipationCounts counts invitations by channel ("mail" or
// "fediverse": where the participant answered from) and state, for the
// admin's status.
func (db *DB) ParticipationCounts(ctx context.Context) (map[string]map[string]int, error) {
	rows, err := db.query(ctx, `SELECT CASE WHEN p.fediverse_uri <> '' THEN 'fediverse' ELSE 'mail' END AS channel, i.state, COUNT(*)
		FROM invitations i JOIN participants p ON p.id = i.participant_id GROUP BY channel, i.state`)
	if err != nil {
		return nil, fmt.Errorf("count participations: %w", err)
	}
	defer rows.Close()
	out := map[string]map[string]int{}
	for rows.Next() {
		var channel, state string
		var n int
		if err := rows.Scan(&channel, &state, &n); err != nil {
			return nil, fmt.Errorf("count participations: %w", err)
		}
		if out[channel] == nil {
			out[channel] = map[string]int{}
		}
		out[channel][state] = n
	}
	return out, rows.Err()
}
