package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"codeberg.org/passerelle/passerelle/bridges"
)

// This file holds the mail RSVP storage (migration 0004): participants,
// invitations, reply tokens, the mail log, unsubscriptions and the IMAP
// bookkeeping. *Tx implements bridges.RSVPTx.

var _ bridges.RSVPTx = (*Tx)(nil)

// AddressHash is how an address is kept once its owner is gone: the
// SHA-256 of the lower-cased address.
func AddressHash(address string) string {
	sum := sha256.Sum256([]byte(strings.ToLower(strings.TrimSpace(address))))
	return hex.EncodeToString(sum[:])
}

// participantQuery reads participants; whether they unsubscribed is a
// second lookup, by the hash of the address.
func participantQuery(where string) string {
	return `SELECT p.id, p.address, p.fediverse_uri, COALESCE(p.actor_id, 0), p.display_name, p.calendar_token, p.created_at
		FROM participants p WHERE ` + where
}

func (tx *Tx) scanParticipant(ctx context.Context, row *sql.Row) (*bridges.Participant, error) {
	var p bridges.Participant
	var created int64
	err := row.Scan(&p.ID, &p.Address, &p.Fediverse, &p.ActorID, &p.DisplayName, &p.CalendarToken, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, bridges.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("read participant: %w", err)
	}
	p.CreatedAt = fromMicro(created)
	if p.Fediverse != "" {
		return &p, nil // no address, no mail to stop
	}
	p.Unsubscribed, err = tx.Unsubscribed(ctx, p.Address)
	if err != nil {
		return nil, err
	}
	return &p, nil
}

// fediverseKey is a fediverse participant's address_key: no address
// (which has no "fediverse:" prefix) can take it, and ParticipantByAddress
// never returns them.
func fediverseKey(uri string) string { return "fediverse:" + strings.TrimSpace(uri) }

// ParticipantByAddress finds a participant, matching case-insensitively.
func (tx *Tx) ParticipantByAddress(ctx context.Context, address string) (*bridges.Participant, error) {
	return tx.scanParticipant(ctx, tx.queryRow(ctx, participantQuery("p.address_key = ? AND p.fediverse_uri = ''"), strings.ToLower(strings.TrimSpace(address))))
}

// ParticipantByFediverse finds the participant of a fediverse account.
func (tx *Tx) ParticipantByFediverse(ctx context.Context, uri string) (*bridges.Participant, error) {
	return tx.scanParticipant(ctx, tx.queryRow(ctx, participantQuery("p.address_key = ? AND p.fediverse_uri <> ''"), fediverseKey(uri)))
}

// ParticipantByID finds a participant by id.
func (tx *Tx) ParticipantByID(ctx context.Context, id int64) (*bridges.Participant, error) {
	return tx.scanParticipant(ctx, tx.queryRow(ctx, participantQuery("p.id = ?"), id))
}

// ParticipantByActorID finds the participant an actor speaks for.
func (tx *Tx) ParticipantByActorID(ctx context.Context, actorID int64) (*bridges.Participant, error) {
	return tx.scanParticipant(ctx, tx.queryRow(ctx, participantQuery("p.actor_id = ?"), actorID))
}

// SaveParticipant inserts a participant (ID 0) or updates it; an
// Unsubscribed participant's address is added to the unsubscribed list.
func (tx *Tx) SaveParticipant(ctx context.Context, p *bridges.Participant) error {
	key := strings.ToLower(strings.TrimSpace(p.Address))
	if p.Fediverse != "" {
		key = fediverseKey(p.Fediverse)
	} else if strings.HasPrefix(key, "fediverse:") {
		return fmt.Errorf("save participant: %q is not a mail address", p.Address)
	}
	if p.ID == 0 {
		if p.CreatedAt.IsZero() {
			p.CreatedAt = time.Now()
		}
		err := tx.queryRow(ctx, `INSERT INTO participants (address, address_key, fediverse_uri, actor_id, display_name, calendar_token, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id`, strings.TrimSpace(p.Address), key, strings.TrimSpace(p.Fediverse), nullID(p.ActorID), p.DisplayName, p.CalendarToken, micro(p.CreatedAt)).Scan(&p.ID)
		if err != nil {
			return fmt.Errorf("insert participant: %w", err)
		}
	} else {
		// calendar_token is left alone: only PersonalCalendarToken and
		// RotateCalendarToken set it, so that a flow saving a participant
		// it read before a rotation cannot bring the old link back.
		_, err := tx.exec(ctx, `UPDATE participants SET actor_id = ?, display_name = ? WHERE id = ?`,
			nullID(p.ActorID), p.DisplayName, p.ID)
		if err != nil {
			return fmt.Errorf("update participant %d: %w", p.ID, err)
		}
	}
	if p.Unsubscribed && p.Fediverse == "" {
		return tx.Unsubscribe(ctx, p.Address)
	}
	return nil
}

// Unsubscribe records that an address wants no more mail at all.
func (tx *Tx) Unsubscribe(ctx context.Context, address string) error {
	_, err := tx.exec(ctx, `INSERT INTO mail_unsubscribed (address_hash, at) VALUES (?, ?) ON CONFLICT (address_hash) DO NOTHING`,
		AddressHash(address), micro(time.Now()))
	if err != nil {
		return fmt.Errorf("record unsubscription: %w", err)
	}
	return nil
}

// Unsubscribed reports whether an address asked for no more mail.
func (tx *Tx) Unsubscribed(ctx context.Context, address string) (bool, error) {
	var n int
	if err := tx.queryRow(ctx, `SELECT COUNT(*) FROM mail_unsubscribed WHERE address_hash = ?`, AddressHash(address)).Scan(&n); err != nil {
		return false, fmt.Errorf("read unsubscriptions: %w", err)
	}
	return n > 0, nil
}

const invitationColumns = `id, participant_id, event_id, state, join_id, thread, answered_at, created_at, updated_at`

func scanInvitation(row scanner) (*bridges.Invitation, error) {
	var inv bridges.Invitation
	var state string
	var answered, created, updated int64
	err := row.Scan(&inv.ID, &inv.ParticipantID, &inv.EventID, &state, &inv.JoinID, &inv.Thread, &answered, &created, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, bridges.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("read invitation: %w", err)
	}
	inv.State = bridges.ParticipationState(state)
	inv.AnsweredAt, inv.CreatedAt, inv.UpdatedAt = fromMicro(answered), fromMicro(created), fromMicro(updated)
	return &inv, nil
}

func (tx *Tx) invitationWhere(ctx context.Context, where string, args ...any) (*bridges.Invitation, error) {
	return scanInvitation(tx.queryRow(ctx, "SELECT "+invitationColumns+" FROM invitations WHERE "+where, args...))
}

// InvitationByTokenHash finds the invitation a reply token was sent for.
func (tx *Tx) InvitationByTokenHash(ctx context.Context, hash string) (*bridges.Invitation, error) {
	return tx.invitationWhere(ctx, "id = (SELECT invitation_id FROM invitation_tokens WHERE token_hash = ?)", hash)
}

// InvitationByMessageID finds the invitation a sent mail was about.
func (tx *Tx) InvitationByMessageID(ctx context.Context, messageID string) (*bridges.Invitation, error) {
	return tx.invitationWhere(ctx, "id = (SELECT invitation_id FROM mail_log WHERE direction = 'out' AND message_id = ?)", messageID)
}

// InvitationByJoinID finds the invitation a Join was sent for.
func (tx *Tx) InvitationByJoinID(ctx context.Context, joinID string) (*bridges.Invitation, error) {
	if joinID == "" {
		return nil, bridges.ErrNotFound
	}
	return tx.invitationWhere(ctx, "join_id = ?", joinID)
}

// InvitationByID finds an invitation by id.
func (tx *Tx) InvitationByID(ctx context.Context, id int64) (*bridges.Invitation, error) {
	return tx.invitationWhere(ctx, "id = ?", id)
}

// InvitationFor finds the invitation of a participant to an event.
// On PostgreSQL the row stays locked until the transaction ends, so that
// two answers at once (two devices syncing the same PARTSTAT) apply one
// after the other and the second finds the first's Join.
func (tx *Tx) InvitationFor(ctx context.Context, participantID, eventID int64) (*bridges.Invitation, error) {
	where := "participant_id = ? AND event_id = ?"
	if tx.db.backend == Postgres {
		where += " FOR UPDATE"
	}
	return tx.invitationWhere(ctx, where, participantID, eventID)
}

func (tx *Tx) invitations(ctx context.Context, where string, limit int, args ...any) ([]*bridges.Invitation, error) {
	q := "SELECT " + invitationColumns + " FROM invitations WHERE " + where + " ORDER BY id"
	if limit > 0 {
		q += " LIMIT " + strconv.Itoa(limit)
	}
	rows, err := tx.query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list invitations: %w", err)
	}
	defer rows.Close()
	var out []*bridges.Invitation
	for rows.Next() {
		inv, err := scanInvitation(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, inv)
	}
	return out, rows.Err()
}

// InvitationsOfEvent lists the invitations to an event with an id above
// after, by id, at most limit of them (0: all).
func (tx *Tx) InvitationsOfEvent(ctx context.Context, eventID, after int64, limit int) ([]*bridges.Invitation, error) {
	return tx.invitations(ctx, "event_id = ? AND id > ?", limit, eventID, after)
}

// InvitationsOfParticipant lists a participant's invitations.
func (tx *Tx) InvitationsOfParticipant(ctx context.Context, participantID int64) ([]*bridges.Invitation, error) {
	return tx.invitations(ctx, "participant_id = ?", 0, participantID)
}

// SaveInvitation inserts an invitation (ID 0) or updates it.
func (tx *Tx) SaveInvitation(ctx context.Context, inv *bridges.Invitation) error {
	if inv.ID == 0 {
		err := tx.queryRow(ctx, `INSERT INTO invitations (participant_id, event_id, state, join_id, thread, answered_at, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`, inv.ParticipantID, inv.EventID, string(inv.State), inv.JoinID, inv.Thread,
			micro(inv.AnsweredAt), micro(inv.CreatedAt), micro(inv.UpdatedAt)).Scan(&inv.ID)
		if err != nil {
			return fmt.Errorf("insert invitation: %w", err)
		}
		return tx.appendPersonal(ctx, inv.ParticipantID, inv.EventID)
	}
	// An event the participant deleted from their calendar (a decline)
	// comes back with any answer but no.
	_, err := tx.exec(ctx, `UPDATE invitations SET state = ?, join_id = ?, thread = ?, answered_at = ?, updated_at = ?,
			hidden = CASE WHEN ? THEN hidden ELSE FALSE END WHERE id = ?`,
		string(inv.State), inv.JoinID, inv.Thread, micro(inv.AnsweredAt), micro(inv.UpdatedAt),
		inv.State == bridges.StateDeclined || inv.State == bridges.StateLeft, inv.ID)
	if err != nil {
		return fmt.Errorf("update invitation %d: %w", inv.ID, err)
	}
	return tx.appendPersonal(ctx, inv.ParticipantID, inv.EventID)
}

// AddToken stores the hash of a reply token sent for an invitation.
func (tx *Tx) AddToken(ctx context.Context, invitationID int64, tokenHash string) error {
	_, err := tx.exec(ctx, `INSERT INTO invitation_tokens (token_hash, invitation_id, created_at) VALUES (?, ?, ?)`,
		tokenHash, invitationID, micro(time.Now()))
	if err != nil {
		return fmt.Errorf("store reply token: %w", err)
	}
	return nil
}

// FirstSeen records an incoming Message-ID and reports whether it is new.
func (tx *Tx) FirstSeen(ctx context.Context, messageID string) (bool, error) {
	res, err := tx.exec(ctx, `INSERT INTO mail_log (direction, message_id, status, at) VALUES ('in', ?, 'processed', ?)
		ON CONFLICT (direction, message_id) DO NOTHING`, messageID, micro(time.Now()))
	if err != nil {
		return false, fmt.Errorf("record incoming mail: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("record incoming mail: %w", err)
	}
	return n == 1, nil
}

// MailLogEntry is one line of the mail log.
type MailLogEntry struct {
	Direction    string `json:"direction"`
	MessageID    string `json:"message_id"`
	InvitationID int64  `json:"-"`
	Kind         string `json:"kind"`
	// Status is sent, failed (a permanent refusal), suppressed (an
	// unsubscribed address), processed or ignored.
	Status string    `json:"status"`
	Detail string    `json:"detail,omitempty"`
	At     time.Time `json:"at"`
}

// LogMail records a mail; logging the same (direction, Message-ID) again
// updates its status (a retried send that finally went out).
func (tx *Tx) LogMail(ctx context.Context, e MailLogEntry) error {
	if e.At.IsZero() {
		e.At = time.Now()
	}
	_, err := tx.exec(ctx, `INSERT INTO mail_log (direction, message_id, invitation_id, kind, status, detail, at) VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (direction, message_id) DO UPDATE SET status = excluded.status, detail = excluded.detail, at = excluded.at`,
		e.Direction, e.MessageID, nullID(e.InvitationID), e.Kind, e.Status, e.Detail, micro(e.At))
	if err != nil {
		return fmt.Errorf("log mail %s: %w", e.MessageID, err)
	}
	return nil
}

// MailLog lists the mail log of an invitation, oldest first.
func (tx *Tx) MailLog(ctx context.Context, invitationID int64) ([]MailLogEntry, error) {
	rows, err := tx.query(ctx, `SELECT direction, message_id, COALESCE(invitation_id, 0), kind, status, detail, at FROM mail_log
		WHERE invitation_id = ? ORDER BY id`, invitationID)
	if err != nil {
		return nil, fmt.Errorf("read mail log: %w", err)
	}
	defer rows.Close()
	var out []MailLogEntry
	for rows.Next() {
		var e MailLogEntry
		var at int64
		if err := rows.Scan(&e.Direction, &e.MessageID, &e.InvitationID, &e.Kind, &e.Status, &e.Detail, &at); err != nil {
			return nil, fmt.Errorf("read mail log: %w", err)
		}
		e.At = fromMicro(at)
		out = append(out, e)
	}
	return out, rows.Err()
}

// DeleteParticipant removes a participant and, by cascade, their
// invitations and tokens; the mail log keeps Message-IDs only, unlinked.
func (tx *Tx) DeleteParticipant(ctx context.Context, id int64) error {
	for _, table := range []string{"source_subscriptions", "calendar_tokens", "personal_log"} {
		if _, err := tx.exec(ctx, "DELETE FROM "+table+" WHERE participant_id = ?", id); err != nil {
			return fmt.Errorf("erase participant %d: %w", id, err)
		}
	}
	if _, err := tx.exec(ctx, `DELETE FROM invitation_tokens WHERE invitation_id IN (SELECT id FROM invitations WHERE participant_id = ?)`, id); err != nil {
		return fmt.Errorf("erase participant %d: %w", id, err)
	}
	if _, err := tx.exec(ctx, `UPDATE mail_log SET invitation_id = NULL WHERE invitation_id IN (SELECT id FROM invitations WHERE participant_id = ?)`, id); err != nil {
		return fmt.Errorf("erase participant %d: %w", id, err)
	}
	// A fediverse participant's handle goes with them; the record of the
	// direct replies sent stays, unlinked, so none is sent twice.
	if _, err := tx.exec(ctx, `DELETE FROM mastodon_answerers WHERE invitation_id IN (SELECT id FROM invitations WHERE participant_id = ?)`, id); err != nil {
		return fmt.Errorf("erase participant %d: %w", id, err)
	}
	if _, err := tx.exec(ctx, `UPDATE mastodon_directs SET invitation_id = NULL WHERE invitation_id IN (SELECT id FROM invitations WHERE participant_id = ?)`, id); err != nil {
		return fmt.Errorf("erase participant %d: %w", id, err)
	}
	if _, err := tx.exec(ctx, `DELETE FROM invitations WHERE participant_id = ?`, id); err != nil {
		return fmt.Errorf("erase participant %d: %w", id, err)
	}
	if _, err := tx.exec(ctx, `DELETE FROM participants WHERE id = ?`, id); err != nil {
		return fmt.Errorf("erase participant %d: %w", id, err)
	}
	return nil
}

// IMAPState is the watched mailbox's bookkeeping.
type IMAPState struct {
	UIDValidity uint32
	LastUID     uint32
}

// IMAPState reads the bookkeeping of a mailbox (zero when never watched).
func (db *DB) IMAPState(ctx context.Context, mailbox string) (IMAPState, error) {
	var v, u int64
	err := db.queryRow(ctx, `SELECT uid_validity, last_uid FROM imap_state WHERE mailbox = ?`, mailbox).Scan(&v, &u)
	if errors.Is(err, sql.ErrNoRows) {
		return IMAPState{}, nil
	}
	if err != nil {
		return IMAPState{}, fmt.Errorf("read IMAP state of %s: %w", mailbox, err)
	}
	return IMAPState{UIDValidity: uint32(v), LastUID: uint32(u)}, nil
}

// SaveIMAPState records the last UID processed under a UIDVALIDITY. The
// last UID only grows within one UIDVALIDITY, so a slow replica cannot move
// it back.
func (db *DB) SaveIMAPState(ctx context.Context, mailbox string, s IMAPState) error {
	_, err := db.exec(ctx, `INSERT INTO imap_state (mailbox, uid_validity, last_uid) VALUES (?, ?, ?)
		ON CONFLICT (mailbox) DO UPDATE SET
			last_uid = CASE WHEN imap_state.uid_validity = excluded.uid_validity AND imap_state.last_uid > excluded.last_uid
				THEN imap_state.last_uid ELSE excluded.last_uid END,
			uid_validity = excluded.uid_validity`, mailbox, int64(s.UIDValidity), int64(s.LastUID))
	if err != nil {
		return fmt.Errorf("save IMAP state of %s: %w", mailbox, err)
	}
	return nil
}

// AcquireLease takes or renews the lease on watching a mailbox for holder
// until now+ttl, and reports whether holder has it: only one replica
// watches at a time, and a replica that dies loses it when it expires.
func (db *DB) AcquireLease(ctx context.Context, mailbox, holder string, ttl time.Duration) (bool, error) {
	now := time.Now()
	res, err := db.exec(ctx, `INSERT INTO imap_state (mailbox, lease_holder, lease_until) VALUES (?, ?, ?)
		ON CONFLICT (mailbox) DO UPDATE SET lease_holder = excluded.lease_holder, lease_until = excluded.lease_until
		WHERE imap_state.lease_holder = excluded.lease_holder OR imap_state.lease_until < ?`,
		mailbox, holder, micro(now.Add(ttl)), micro(now))
	if err != nil {
		return false, fmt.Errorf("take the watch lease on %s: %w", mailbox, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("take the watch lease on %s: %w", mailbox, err)
	}
	return n == 1, nil
}

// ReleaseLease gives the lease up, so another replica takes over at once.
func (db *DB) ReleaseLease(ctx context.Context, mailbox, holder string) error {
	_, err := db.exec(ctx, `UPDATE imap_state SET lease_until = 0 WHERE mailbox = ? AND lease_holder = ?`, mailbox, holder)
	if err != nil {
		return fmt.Errorf("release the watch lease on %s: %w", mailbox, err)
	}
	return nil
}
