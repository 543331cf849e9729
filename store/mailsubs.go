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

// This file holds the mail side's subscriptions to sources (mail to
// local+join-SLUG@) and personal calendar tokens (migration 0004).

// SourceBySlug returns the source with that slug, or bridges.ErrNotFound.
func (tx *Tx) SourceBySlug(ctx context.Context, slug string) (*bridges.Source, error) {
	return sourceWhere(ctx, tx, "slug", slug)
}

// UpcomingPublicEvents lists the ids of a source's events that are
// public, not drafts, not deleted or cancelled, and not over at now.
func (tx *Tx) UpcomingPublicEvents(ctx context.Context, sourceID int64, now time.Time) ([]int64, error) {
	rows, err := tx.query(ctx, `SELECT id FROM events WHERE source_id = ? AND public = ? AND draft = ? AND deleted = ? AND status <> ?
		AND (until_at > ? OR (end_at = 0 AND start_at >= ?)) ORDER BY start_at, id`,
		sourceID, true, false, false, string(bridges.StatusCancelled), micro(now), micro(now))
	if err != nil {
		return nil, fmt.Errorf("list upcoming events of source %d: %w", sourceID, err)
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("list upcoming events of source %d: %w", sourceID, err)
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// Subscribe records that a participant wants every event of a source; a
// second time changes nothing.
func (tx *Tx) Subscribe(ctx context.Context, participantID, sourceID int64) error {
	_, err := tx.exec(ctx, `INSERT INTO source_subscriptions (participant_id, source_id, created_at) VALUES (?, ?, ?)
		ON CONFLICT (participant_id, source_id) DO NOTHING`, participantID, sourceID, micro(time.Now()))
	if err != nil {
		return fmt.Errorf("subscribe participant %d to source %d: %w", participantID, sourceID, err)
	}
	return nil
}

// SubscribersOf lists the addresses subscribed to a source.
func (tx *Tx) SubscribersOf(ctx context.Context, sourceID int64) ([]string, error) {
	rows, err := tx.query(ctx, `SELECT p.address FROM source_subscriptions s JOIN participants p ON p.id = s.participant_id
		WHERE s.source_id = ? ORDER BY p.id`, sourceID)
	if err != nil {
		return nil, fmt.Errorf("list subscribers of source %d: %w", sourceID, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var a string
		if err := rows.Scan(&a); err != nil {
			return nil, fmt.Errorf("list subscribers of source %d: %w", sourceID, err)
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// Subscriptions lists the slugs of the sources a participant subscribed to.
func (tx *Tx) Subscriptions(ctx context.Context, participantID int64) ([]string, error) {
	rows, err := tx.query(ctx, `SELECT src.slug FROM source_subscriptions s JOIN sources src ON src.id = s.source_id
		WHERE s.participant_id = ? ORDER BY src.slug`, participantID)
	if err != nil {
		return nil, fmt.Errorf("list subscriptions of participant %d: %w", participantID, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, fmt.Errorf("list subscriptions of participant %d: %w", participantID, err)
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// AddCalendarToken stores the hash of a personal calendar token.
func (tx *Tx) AddCalendarToken(ctx context.Context, participantID int64, tokenHash string) error {
	_, err := tx.exec(ctx, `INSERT INTO calendar_tokens (token_hash, participant_id, created_at) VALUES (?, ?, ?)`,
		tokenHash, participantID, micro(time.Now()))
	if err != nil {
		return fmt.Errorf("store calendar token: %w", err)
	}
	return nil
}

// PersonalCalendarToken returns the token of the participant's personal
// calendar, making token theirs when they have none yet: every mail links
// the same calendar, so a participant has one link to keep, not one per
// mail. Unlike reply tokens, which act for the participant and are stored
// only hashed, this read-only link is kept as it is (participants.
// calendar_token) so that the next mail can carry it again; lookups still
// go by its hash in calendar_tokens. Links minted one per mail before
// this stay valid until the participant rotates theirs.
func (tx *Tx) PersonalCalendarToken(ctx context.Context, participantID int64, token string) (string, error) {
	res, err := tx.exec(ctx, "UPDATE participants SET calendar_token = ? WHERE id = ? AND calendar_token = ''", token, participantID)
	if err != nil {
		return "", fmt.Errorf("set calendar token: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return "", fmt.Errorf("set calendar token: %w", err)
	} else if n == 0 {
		// The participant has one already (or another mail gave them
		// one first): that is the link.
		var cur string
		err := tx.queryRow(ctx, "SELECT calendar_token FROM participants WHERE id = ?", participantID).Scan(&cur)
		if errors.Is(err, sql.ErrNoRows) {
			return "", bridges.ErrNotFound
		}
		if err != nil {
			return "", fmt.Errorf("read calendar token: %w", err)
		}
		return cur, nil
	}
	if err := tx.AddCalendarToken(ctx, participantID, bridges.HashToken(token)); err != nil {
		return "", err
	}
	return token, nil
}

// RotateCalendarToken makes token the participant's only personal
// calendar token: every link sent before stops opening their calendar.
func (tx *Tx) RotateCalendarToken(ctx context.Context, participantID int64, token string) error {
	if _, err := tx.exec(ctx, "DELETE FROM calendar_tokens WHERE participant_id = ?", participantID); err != nil {
		return fmt.Errorf("rotate calendar token: %w", err)
	}
	res, err := tx.exec(ctx, "UPDATE participants SET calendar_token = ? WHERE id = ?", token, participantID)
	if err != nil {
		return fmt.Errorf("rotate calendar token: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("rotate calendar token: %w", err)
	} else if n == 0 {
		return bridges.ErrNotFound
	}
	return tx.AddCalendarToken(ctx, participantID, bridges.HashToken(token))
}

// ParticipantByCalendarToken finds whose personal calendar a token opens,
// or bridges.ErrNotFound.
func (db *DB) ParticipantByCalendarToken(ctx context.Context, tokenHash string) (int64, error) {
	var id int64
	err := db.queryRow(ctx, `SELECT participant_id FROM calendar_tokens WHERE token_hash = ?`, tokenHash).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, bridges.ErrNotFound
	}
	if err != nil {
		return 0, fmt.Errorf("read calendar token: %w", err)
	}
	return id, nil
}

// ParticipantRecord is everything passerelle holds about one address, as
// `passerelle participant export` prints it.
type ParticipantRecord struct {
	Address string `json:"address"`
	// Fediverse is the account a fediverse participant answered from.
	Fediverse    string    `json:"fediverse,omitempty"`
	DisplayName  string    `json:"display_name"`
	CreatedAt    time.Time `json:"created_at"`
	Unsubscribed bool      `json:"unsubscribed"`
	// ActorUsername is the participant's pseudonymous actor, empty when
	// none was ever needed.
	ActorUsername string             `json:"actor_username,omitempty"`
	Subscriptions []string           `json:"subscriptions"`
	Invitations   []InvitationRecord `json:"invitations"`
	// CalendarTokens and ReplyTokens count the secret links mailed to
	// them; only hashes are kept, so the links themselves cannot be shown.
	CalendarTokens int `json:"calendar_tokens"`
	ReplyTokens    int `json:"reply_tokens"`
}

// InvitationRecord is one invitation of a ParticipantRecord.
type InvitationRecord struct {
	EventID    int64          `json:"event_id"`
	EventURL   string         `json:"event_ap_id"`
	EventTitle string         `json:"event_title"`
	EventStart time.Time      `json:"event_start"`
	State      string         `json:"state"`
	JoinID     string         `json:"join_id,omitempty"`
	AnsweredAt *time.Time     `json:"answered_at,omitempty"`
	CreatedAt  time.Time      `json:"created_at"`
	UpdatedAt  time.Time      `json:"updated_at"`
	Mails      []MailLogEntry `json:"mails"`
	// Handle and Replies are a fediverse participant's: the handle their
	// direct replies mention, and those replies.
	Handle  string         `json:"handle,omitempty"`
	Replies []DirectRecord `json:"direct_replies,omitempty"`
}

// DirectRecord is one direct reply to a fediverse participant.
type DirectRecord struct {
	Notice   string `json:"notice"`
	State    string `json:"state"`
	StatusID string `json:"status_id,omitempty"`
}

// ParticipantRecord gathers everything held about an address (or a
// fediverse account, by its URI: https://…), or bridges.ErrNotFound.
func (db *DB) ParticipantRecord(ctx context.Context, address string) (*ParticipantRecord, error) {
	var rec *ParticipantRecord
	err := db.Tx(ctx, func(ctx context.Context, tx *Tx) error {
		find := tx.ParticipantByAddress
		if a := strings.TrimSpace(address); strings.HasPrefix(a, "https://") || strings.HasPrefix(a, "http://") {
			find = tx.ParticipantByFediverse
		}
		p, err := find(ctx, strings.TrimSpace(address))
		if err != nil {
			return err
		}
		rec = &ParticipantRecord{Address: p.Address, Fediverse: p.Fediverse, DisplayName: p.DisplayName, CreatedAt: p.CreatedAt.UTC(), Unsubscribed: p.Unsubscribed,
			Subscriptions: []string{}, Invitations: []InvitationRecord{}}
		if p.ActorID != 0 {
			if err := tx.queryRow(ctx, "SELECT username FROM local_actors WHERE id = ?", p.ActorID).Scan(&rec.ActorUsername); err != nil {
				return fmt.Errorf("read participant actor: %w", err)
			}
		}
		if rec.Subscriptions, err = tx.Subscriptions(ctx, p.ID); err != nil {
			return err
		}
		if rec.Subscriptions == nil {
			rec.Subscriptions = []string{}
		}
		if err := tx.queryRow(ctx, "SELECT COUNT(*) FROM calendar_tokens WHERE participant_id = ?", p.ID).Scan(&rec.CalendarTokens); err != nil {
			return fmt.Errorf("count calendar tokens: %w", err)
		}
		if err := tx.queryRow(ctx, "SELECT COUNT(*) FROM invitation_tokens t JOIN invitations i ON i.id = t.invitation_id WHERE i.participant_id = ?", p.ID).Scan(&rec.ReplyTokens); err != nil {
			return fmt.Errorf("count reply tokens: %w", err)
		}
		invs, err := tx.InvitationsOfParticipant(ctx, p.ID)
		if err != nil {
			return err
		}
		for _, inv := range invs {
			ev, err := tx.EventByID(ctx, inv.EventID)
			if err != nil {
				return err
			}
			r := InvitationRecord{EventID: ev.ID, EventURL: ev.APID, EventTitle: ev.Title, EventStart: ev.Start.UTC(), State: string(inv.State),
				JoinID: inv.JoinID, CreatedAt: inv.CreatedAt.UTC(), UpdatedAt: inv.UpdatedAt.UTC(), Mails: []MailLogEntry{}}
			if !inv.AnsweredAt.IsZero() {
				at := inv.AnsweredAt.UTC()
				r.AnsweredAt = &at
			}
			mails, err := tx.MailLog(ctx, inv.ID)
			if err != nil {
				return err
			}
			r.Mails = append(r.Mails, mails...)
			if p.Fediverse != "" {
				if err := tx.queryRow(ctx, "SELECT acct FROM mastodon_answerers WHERE invitation_id = ?", inv.ID).Scan(&r.Handle); err != nil && !errors.Is(err, sql.ErrNoRows) {
					return fmt.Errorf("read the participant's handle: %w", err)
				}
				rows, err := tx.query(ctx, "SELECT notice, state, status_id FROM mastodon_directs WHERE invitation_id = ? ORDER BY attempted_at, job_key", inv.ID)
				if err != nil {
					return fmt.Errorf("read direct replies: %w", err)
				}
				for rows.Next() {
					var d DirectRecord
					if err := rows.Scan(&d.Notice, &d.State, &d.StatusID); err != nil {
						rows.Close()
						return fmt.Errorf("read direct replies: %w", err)
					}
					r.Replies = append(r.Replies, d)
				}
				rows.Close()
				if err := rows.Err(); err != nil {
					return fmt.Errorf("read direct replies: %w", err)
				}
			}
			rec.Invitations = append(rec.Invitations, r)
		}
		return nil
	})
	return rec, err
}
