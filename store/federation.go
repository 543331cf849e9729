package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"codeberg.org/passerelle/passerelle/bridges"
)

// This file holds the federation package's storage (migrations 0002 and
// 0009): the remote actor cache, the inbox queue and replay guard, the
// domain block list and the delivery records, plus the few source and
// actor queries federation needs beyond the core's.

// LocalActorByID returns the local actor with that row id.
func (db *DB) LocalActorByID(ctx context.Context, id int64) (*LocalActor, error) {
	return scanActor(db.queryRow(ctx, "SELECT "+actorColumns+" FROM local_actors WHERE id = ?", id))
}

// RemoteActor is what passerelle caches of a remote actor document: the key
// it verifies signatures with and the inboxes it delivers to.
type RemoteActor struct {
	ID           string
	KeyID        string
	PublicKeyPEM string
	Type         string
	Username     string
	Name         string
	Inbox        string
	SharedInbox  string
	Outbox       string
	FetchedAt    time.Time
}

const remoteActorColumns = `id, key_id, public_key_pem, type, username, name, inbox, shared_inbox, outbox, fetched_at`

func scanRemoteActor(row scanner) (*RemoteActor, error) {
	var a RemoteActor
	var fetched int64
	err := row.Scan(&a.ID, &a.KeyID, &a.PublicKeyPEM, &a.Type, &a.Username, &a.Name, &a.Inbox, &a.SharedInbox, &a.Outbox, &fetched)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, bridges.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("read remote actor: %w", err)
	}
	a.FetchedAt = fromMicro(fetched)
	return &a, nil
}

// RemoteActorByKeyID returns the cached actor owning keyID, or
// bridges.ErrNotFound.
func (db *DB) RemoteActorByKeyID(ctx context.Context, keyID string) (*RemoteActor, error) {
	return scanRemoteActor(db.queryRow(ctx, "SELECT "+remoteActorColumns+" FROM remote_actors WHERE key_id = ? ORDER BY fetched_at DESC LIMIT 1", keyID))
}

// RemoteActor returns the cached actor with that id, or bridges.ErrNotFound.
func (db *DB) RemoteActor(ctx context.Context, id string) (*RemoteActor, error) {
	// Prepared: incoming events name their organiser, looked up here.
	return scanRemoteActor(db.queryRowPrepared(ctx, "SELECT "+remoteActorColumns+" FROM remote_actors WHERE id = ?", id))
}

// SaveRemoteActor caches a (re)fetched actor document.
func (db *DB) SaveRemoteActor(ctx context.Context, a *RemoteActor) error {
	_, err := db.exec(ctx, `INSERT INTO remote_actors (`+remoteActorColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET key_id = excluded.key_id, public_key_pem = excluded.public_key_pem, type = excluded.type,
		username = excluded.username, name = excluded.name, inbox = excluded.inbox, shared_inbox = excluded.shared_inbox,
		outbox = excluded.outbox, fetched_at = excluded.fetched_at`,
		a.ID, a.KeyID, a.PublicKeyPEM, a.Type, a.Username, a.Name, a.Inbox, a.SharedInbox, a.Outbox, micro(a.FetchedAt))
	if err != nil {
		return fmt.Errorf("cache actor %s: %w", a.ID, err)
	}
	return nil
}

// NewInboxActivity is a verified activity as the inbox received it.
type NewInboxActivity struct {
	Signer string
	Body   []byte
}

// AddInboxActivities records verified incoming activities for the job
// jobID (see Tx.WaitingJob), as they came: replays included, which the job
// drops (see InboxDedupeKey). See migration 0009.
func (tx *Tx) AddInboxActivities(ctx context.Context, jobID int64, acts []NewInboxActivity) error {
	// One multi-row insert for up to 16 rows (a batch of concurrent
	// requests rarely has more), from at most sixteen prepared texts, where
	// one statement text per batch size beyond would be parsed and planned
	// again each time.
	for len(acts) > 0 {
		n := min(len(acts), len(inboxInserts))
		s, err := tx.stmt(ctx, inboxInserts[n-1])
		if err != nil {
			return fmt.Errorf("record activities: %w", err)
		}
		args := make([]any, 0, 3*n)
		for _, a := range acts[:n] {
			args = append(args, jobID, a.Signer, a.Body)
		}
		if _, err := s.ExecContext(ctx, args...); err != nil {
			return fmt.Errorf("record %d activities: %w", n, err)
		}
		acts = acts[n:]
	}
	return nil
}

// inboxInserts holds the insert of n rows into inbox_pending at index n-1.
var inboxInserts = func() (qs [16]string) {
	for i := range qs {
		rows := strings.TrimSuffix(strings.Repeat("(?, ?, ?), ", i+1), ", ")
		qs[i] = `INSERT INTO inbox_pending (job_id, signer, body) VALUES ` + rows
	}
	return qs
}()

// InboxActivity is a received activity waiting to be processed.
type InboxActivity struct {
	ID     int64
	Signer string
	Body   []byte
}

// PendingInboxActivities loads the activities recorded for the job jobID
// that are not processed yet, in the order received.
func (db *DB) PendingInboxActivities(ctx context.Context, jobID int64) ([]InboxActivity, error) {
	rows, err := db.query(ctx, `SELECT id, signer, body FROM inbox_pending WHERE job_id = ? ORDER BY id`, jobID)
	if err != nil {
		return nil, fmt.Errorf("load inbox activities of job %d: %w", jobID, err)
	}
	defer rows.Close()
	var out []InboxActivity
	for rows.Next() {
		var a InboxActivity
		if err := rows.Scan(&a.ID, &a.Signer, &a.Body); err != nil {
			return nil, fmt.Errorf("load inbox activities of job %d: %w", jobID, err)
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("load inbox activities of job %d: %w", jobID, err)
	}
	return out, nil
}

// InboxDedupeKey names an activity for the replay guard: its id plus a
// digest of its body, as Mobilizon reuses one id for a Create and all its
// Updates (the id alone would lose updates) while a replay is the same
// document.
func InboxDedupeKey(activityID string, body []byte) string {
	sum := sha256.Sum256(body)
	return activityID + " " + hex.EncodeToString(sum[:16])
}

// SeenInboxActivities returns which of keys (see InboxDedupeKey) name
// activities already processed.
func (db *DB) SeenInboxActivities(ctx context.Context, keys []string) (map[string]bool, error) {
	seen := map[string]bool{}
	if len(keys) == 0 {
		return seen, nil
	}
	stmt, err := db.stmt(ctx, `SELECT dedupe_key FROM inbox_seen WHERE dedupe_key IN (`+db.textList()+`)`)
	if err != nil {
		return nil, fmt.Errorf("look up processed activities: %w", err)
	}
	rows, err := stmt.QueryContext(ctx, jsonList(keys))
	if err != nil {
		return nil, fmt.Errorf("look up processed activities: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			return nil, fmt.Errorf("look up processed activities: %w", err)
		}
		seen[k] = true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("look up processed activities: %w", err)
	}
	return seen, nil
}

// InboxActivitiesDone records, in one transaction, that the pending rows
// ids are dealt with (processed, or dropped as replays): they are deleted
// and keys, those of the activities processed, join the replay guard, seen
// at now. With keep > 0, guard keys older than keep are pruned on the way,
// a bounded number at a time. Each list goes in one statement, whatever
// the batch's size.
func (db *DB) InboxActivitiesDone(ctx context.Context, ids []int64, keys []string, now time.Time, keep time.Duration) error {
	if len(ids) == 0 && len(keys) == 0 {
		return nil
	}
	return db.Tx(ctx, func(ctx context.Context, tx *Tx) error {
		// WHERE true: SQLite reads ON CONFLICT after a bare SELECT … FROM
		// as a join's ON.
		if len(keys) > 0 {
			if _, err := tx.execPrepared(ctx, `INSERT INTO inbox_seen (dedupe_key, seen_at) SELECT k, CAST(? AS BIGINT) FROM (`+db.textList()+`) AS l WHERE true
				ON CONFLICT (dedupe_key) DO NOTHING`, micro(now), jsonList(keys)); err != nil {
				return fmt.Errorf("record processed activities: %w", err)
			}
		}
		if len(ids) > 0 {
			if _, err := tx.execPrepared(ctx, `DELETE FROM inbox_pending WHERE id IN (`+db.intList()+`)`, jsonList(ids)); err != nil {
				return fmt.Errorf("remove processed inbox activities: %w", err)
			}
		}
		if keep <= 0 {
			return nil
		}
		if _, err := tx.execPrepared(ctx, `DELETE FROM inbox_seen WHERE dedupe_key IN
			(SELECT dedupe_key FROM inbox_seen WHERE seen_at < ? LIMIT 1000)`, micro(now.Add(-keep))); err != nil {
			return fmt.Errorf("prune the replay guard: %w", err)
		}
		return nil
	})
}

// NormalizeDomain lower-cases a domain and drops a port, brackets and a
// trailing dot, so "Mobilizon.Example.:443" and "mobilizon.example" match.
func NormalizeDomain(d string) string {
	d = strings.ToLower(strings.TrimSpace(d))
	if i := strings.LastIndexByte(d, ':'); i >= 0 && !strings.Contains(d[i:], "]") && strings.Count(d, ":") == 1 {
		d = d[:i]
	}
	return strings.Trim(strings.TrimSuffix(d, "."), "[]")
}

// DomainBlocked reports whether the block list holds exactly domain.
func (db *DB) DomainBlocked(ctx context.Context, domain string) (bool, error) {
	var n int
	if err := db.queryRow(ctx, `SELECT COUNT(*) FROM blocked_domains WHERE domain = ?`, NormalizeDomain(domain)).Scan(&n); err != nil {
		return false, fmt.Errorf("look up blocked domain %s: %w", domain, err)
	}
	return n > 0, nil
}

// BlockDomain adds domain (and so its subdomains) to the block list.
func (db *DB) BlockDomain(ctx context.Context, domain string) error {
	d := NormalizeDomain(domain)
	if d == "" || strings.ContainsAny(d, "/ @:") || !strings.Contains(d, ".") && d != "localhost" {
		return fmt.Errorf("%q is not a domain name (want e.g. mobilizon.example)", domain)
	}
	_, err := db.exec(ctx, `INSERT INTO blocked_domains (domain, created_at) VALUES (?, ?) ON CONFLICT (domain) DO NOTHING`, d, micro(time.Now()))
	if err != nil {
		return fmt.Errorf("block %s: %w", d, err)
	}
	return nil
}

// UnblockDomain removes domain from the block list and reports whether it
// was there.
func (db *DB) UnblockDomain(ctx context.Context, domain string) (bool, error) {
	res, err := db.exec(ctx, `DELETE FROM blocked_domains WHERE domain = ?`, NormalizeDomain(domain))
	if err != nil {
		return false, fmt.Errorf("unblock %s: %w", domain, err)
	}
	n, err := res.RowsAffected()
	return n > 0, err
}

// BlockedDomains lists the block list.
func (db *DB) BlockedDomains(ctx context.Context) ([]string, error) {
	rows, err := db.query(ctx, `SELECT domain FROM blocked_domains ORDER BY domain`)
	if err != nil {
		return nil, fmt.Errorf("list blocked domains: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var d string
		if err := rows.Scan(&d); err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// Delivery is one activity to send to one inbox: the job names the row,
// the row keeps the outcome.
type Delivery struct {
	ID      int64
	ActorID int64
	// Recipient is the actor delivered to; Inbox, when set, is used as is
	// (otherwise it is looked up at send time and recorded).
	Recipient  string
	Inbox      string
	ActivityID string
	Activity   []byte
	State      string
	Attempts   int
	LastError  string
}

// Delivery states.
const (
	DeliveryPending   = "pending"
	DeliveryDelivered = "delivered"
	DeliveryGone      = "gone"
	DeliveryFailed    = "failed"
)

const deliveryColumns = `id, actor_id, recipient, inbox, activity_id, activity, state, attempts, last_error`

func scanDelivery(row scanner) (*Delivery, error) {
	var d Delivery
	err := row.Scan(&d.ID, &d.ActorID, &d.Recipient, &d.Inbox, &d.ActivityID, &d.Activity, &d.State, &d.Attempts, &d.LastError)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, bridges.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("read delivery: %w", err)
	}
	return &d, nil
}

// InsertDelivery records a pending delivery and sets d.ID.
func (tx *Tx) InsertDelivery(ctx context.Context, d *Delivery) error {
	now := micro(time.Now())
	err := tx.queryRow(ctx, `INSERT INTO deliveries (actor_id, recipient, inbox, activity_id, activity, state, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		d.ActorID, d.Recipient, d.Inbox, d.ActivityID, d.Activity, DeliveryPending, now, now).Scan(&d.ID)
	if err != nil {
		return fmt.Errorf("record delivery of %s: %w", d.ActivityID, err)
	}
	return nil
}

// DeliveryByID loads a delivery, or bridges.ErrNotFound.
func (db *DB) DeliveryByID(ctx context.Context, id int64) (*Delivery, error) {
	return scanDelivery(db.queryRow(ctx, "SELECT "+deliveryColumns+" FROM deliveries WHERE id = ?", id))
}

// DeliveriesOf lists the deliveries of one activity.
func (db *DB) DeliveriesOf(ctx context.Context, activityID string) ([]*Delivery, error) {
	rows, err := db.query(ctx, "SELECT "+deliveryColumns+" FROM deliveries WHERE activity_id = ? ORDER BY id", activityID)
	if err != nil {
		return nil, fmt.Errorf("list deliveries of %s: %w", activityID, err)
	}
	defer rows.Close()
	var out []*Delivery
	for rows.Next() {
		d, err := scanDelivery(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// RecordDeliveryAttempt counts an attempt and records its outcome.
func (db *DB) RecordDeliveryAttempt(ctx context.Context, id int64, state, inbox, lastErr string) error {
	_, err := db.exec(ctx, `UPDATE deliveries SET state = ?, inbox = ?, attempts = attempts + 1, last_error = ?, updated_at = ? WHERE id = ?`,
		state, inbox, lastErr, micro(time.Now()), id)
	if err != nil {
		return fmt.Errorf("record delivery %d: %w", id, err)
	}
	return nil
}

// SetSourceState records where following a source stands.
func (tx *Tx) SetSourceState(ctx context.Context, id int64, state bridges.SourceState) error {
	_, err := tx.exec(ctx, `UPDATE sources SET state = ?, last_activity = ? WHERE id = ?`, string(state), micro(time.Now()), id)
	if err != nil {
		return fmt.Errorf("set source %d %s: %w", id, state, err)
	}
	return nil
}

// TouchSource records the time of a source's last activity.
func (db *DB) TouchSource(ctx context.Context, id int64) error {
	_, err := db.execPrepared(ctx, `UPDATE sources SET last_activity = ? WHERE id = ?`, micro(time.Now()), id)
	if err != nil {
		return fmt.Errorf("touch source %d: %w", id, err)
	}
	return nil
}

// SourceFetched records that passerelle read the source's events itself
// without an error.
func (db *DB) SourceFetched(ctx context.Context, id int64, at time.Time) error {
	if _, err := db.exec(ctx, `UPDATE sources SET last_fetch = ? WHERE id = ?`, micro(at), id); err != nil {
		return fmt.Errorf("record fetch of source %d: %w", id, err)
	}
	return nil
}

// SourceFetches reads when each source was last fetched, by source id.
func (db *DB) SourceFetches(ctx context.Context) (map[int64]time.Time, error) {
	rows, err := db.query(ctx, `SELECT id, last_fetch FROM sources WHERE last_fetch <> 0`)
	if err != nil {
		return nil, fmt.Errorf("read source fetches: %w", err)
	}
	defer rows.Close()
	out := map[int64]time.Time{}
	for rows.Next() {
		var id, at int64
		if err := rows.Scan(&id, &at); err != nil {
			return nil, err
		}
		out[id] = fromMicro(at)
	}
	return out, rows.Err()
}

// SourceEventCount counts a source's stored events that are not deleted.
func (db *DB) SourceEventCount(ctx context.Context, sourceID int64) (int, error) {
	var n int
	err := db.queryRow(ctx, `SELECT COUNT(*) FROM events WHERE source_id = ? AND deleted = ?`, sourceID, false).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count events of source %d: %w", sourceID, err)
	}
	return n, nil
}

// MoveInboxActivity gives the pending activity rowID a job of its own,
// enqueued with opts: an activity that failed in its batch is retried
// alone, so that it holds up nothing else.
func (db *DB) MoveInboxActivity(ctx context.Context, rowID int64, job bridges.Job, opts bridges.JobOpts) (jobID int64, err error) {
	err = db.Tx(ctx, func(ctx context.Context, tx *Tx) error {
		if jobID, err = tx.EnqueueID(ctx, job, opts); err != nil {
			return err
		}
		_, err := tx.exec(ctx, `UPDATE inbox_pending SET job_id = ? WHERE id = ?`, jobID, rowID)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("move inbox activity %d to a job of its own: %w", rowID, err)
	}
	return jobID, nil
}

// RejectedActivity is an incoming activity the inbox gave up on.
type RejectedActivity struct {
	ActivityID string
	Signer     string
	Body       []byte
	Reason     string
	RejectedAt time.Time
}

// RejectInboxActivity moves the pending activity rowID to inbox_rejected
// with the reason (migration 0012).
func (db *DB) RejectInboxActivity(ctx context.Context, rowID int64, activityID, reason string, now time.Time) error {
	err := db.Tx(ctx, func(ctx context.Context, tx *Tx) error {
		if _, err := tx.exec(ctx, `INSERT INTO inbox_rejected (activity_id, signer, body, reason, rejected_at)
			SELECT ?, signer, body, ?, ? FROM inbox_pending WHERE id = ?`, activityID, reason, micro(now), rowID); err != nil {
			return err
		}
		_, err := tx.exec(ctx, `DELETE FROM inbox_pending WHERE id = ?`, rowID)
		return err
	})
	if err != nil {
		return fmt.Errorf("reject inbox activity %d: %w", rowID, err)
	}
	return nil
}

// RejectedInboxActivities lists the newest rejected activities, at most
// limit, and how many there are in all.
func (db *DB) RejectedInboxActivities(ctx context.Context, limit int) ([]RejectedActivity, int, error) {
	var total int
	if err := db.queryRow(ctx, `SELECT COUNT(*) FROM inbox_rejected`).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("count rejected activities: %w", err)
	}
	rows, err := db.query(ctx, `SELECT activity_id, signer, body, reason, rejected_at FROM inbox_rejected ORDER BY id DESC LIMIT ?`, limit)
	if err != nil {
		return nil, 0, fmt.Errorf("list rejected activities: %w", err)
	}
	defer rows.Close()
	var out []RejectedActivity
	for rows.Next() {
		var r RejectedActivity
		var at int64
		if err := rows.Scan(&r.ActivityID, &r.Signer, &r.Body, &r.Reason, &at); err != nil {
			return nil, 0, fmt.Errorf("list rejected activities: %w", err)
		}
		r.RejectedAt = fromMicro(at)
		out = append(out, r)
	}
	return out, total, rows.Err()
}
