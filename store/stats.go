package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// This file holds what an admin reads of passerelle as a whole: the
// counts Prometheus scrapes and `passerelle status` shows, and the
// deliveries the admin may retry or discard.

// Stats are counts of the whole instance, read in a few indexed queries.
type Stats struct {
	// SourcesByState counts followed sources (following, pending…).
	SourcesByState map[string]int
	// Events are the stored events, not deleted.
	Events int
	// Participants are the people passerelle knows by mail or fediverse
	// account.
	Participants int
	// DeliveriesPending is the outgoing queue; OldestPending its oldest
	// delivery's creation (zero when empty).
	DeliveriesPending int
	OldestPending     time.Time
	// MailsByStatus counts the outgoing mail log (sent, failed,
	// suppressed).
	MailsByStatus map[string]int
}

// ReadStats reads Stats.
func (db *DB) ReadStats(ctx context.Context) (*Stats, error) {
	s := &Stats{SourcesByState: map[string]int{}, MailsByStatus: map[string]int{}}
	rows, err := db.query(ctx, "SELECT state, COUNT(*) FROM sources GROUP BY state")
	if err != nil {
		return nil, fmt.Errorf("count sources: %w", err)
	}
	for rows.Next() {
		var state string
		var n int
		if err := rows.Scan(&state, &n); err != nil {
			rows.Close()
			return nil, err
		}
		s.SourcesByState[state] = n
	}
	rows.Close()
	if err := db.queryRow(ctx, "SELECT COUNT(*) FROM events WHERE NOT deleted").Scan(&s.Events); err != nil {
		return nil, fmt.Errorf("count events: %w", err)
	}
	if err := db.queryRow(ctx, "SELECT COUNT(*) FROM participants").Scan(&s.Participants); err != nil {
		return nil, fmt.Errorf("count participants: %w", err)
	}
	var oldest sql.NullInt64
	if err := db.queryRow(ctx, "SELECT COUNT(*), MIN(created_at) FROM deliveries WHERE state = 'pending'").Scan(&s.DeliveriesPending, &oldest); err != nil {
		return nil, fmt.Errorf("count deliveries: %w", err)
	}
	if oldest.Valid {
		s.OldestPending = time.UnixMicro(oldest.Int64).UTC()
	}
	rows, err = db.query(ctx, "SELECT status, COUNT(*) FROM mail_log WHERE direction = 'out' GROUP BY status")
	if err != nil {
		return nil, fmt.Errorf("count mails: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var status string
		var n int
		if err := rows.Scan(&status, &n); err != nil {
			return nil, err
		}
		s.MailsByStatus[status] = n
	}
	return s, rows.Err()
}

// FailingHost is a host whose deliveries are retrying or were given up,
// as `passerelle status` lists them.
type FailingHost struct {
	Host string `json:"host"`
	// Retrying deliveries have failed at least once and will be tried
	// again; Failed were given up.
	Retrying int `json:"retrying"`
	Failed   int `json:"failed"`
	// Attempts is the most attempts of a retrying delivery.
	Attempts  int       `json:"attempts"`
	LastError string    `json:"last_error"`
	LastTry   time.Time `json:"last_try"`
}

// hostOf is the host of an inbox URL in SQL, for grouping: what is between
// "://" and the next "/".
func hostOf(inbox string) string {
	h := inbox
	if i := strings.Index(h, "://"); i >= 0 {
		h = h[i+3:]
	}
	if i := strings.IndexByte(h, '/'); i >= 0 {
		h = h[:i]
	}
	return h
}

// FailingHosts lists the hosts with deliveries that failed: retrying
// (pending after an attempt) or given up in the last week, most recent
// first.
func (db *DB) FailingHosts(ctx context.Context, now time.Time) ([]FailingHost, error) {
	rows, err := db.query(ctx, `SELECT inbox, recipient, state, attempts, last_error, updated_at FROM deliveries
		WHERE (state = 'pending' AND attempts > 0) OR (state = 'failed' AND updated_at > ?) ORDER BY updated_at DESC`,
		now.Add(-7*24*time.Hour).UnixMicro())
	if err != nil {
		return nil, fmt.Errorf("list failing deliveries: %w", err)
	}
	defer rows.Close()
	byHost := map[string]*FailingHost{}
	var order []string
	for rows.Next() {
		var inbox, recipient, state, lastErr string
		var at int64
		var attempts int
		if err := rows.Scan(&inbox, &recipient, &state, &attempts, &lastErr, &at); err != nil {
			return nil, err
		}
		u := inbox
		if u == "" {
			u = recipient
		}
		h := hostOf(u)
		fh := byHost[h]
		if fh == nil {
			fh = &FailingHost{Host: h, LastError: lastErr, LastTry: time.UnixMicro(at).UTC()}
			byHost[h] = fh
			order = append(order, h)
		}
		if state == "failed" {
			fh.Failed++
		} else {
			fh.Retrying++
			fh.Attempts = max(fh.Attempts, attempts)
		}
	}
	out := make([]FailingHost, 0, len(order))
	for _, h := range order {
		out = append(out, *byHost[h])
	}
	return out, rows.Err()
}

// hostDeliveries selects the deliveries to a host in a state; tried
// restricts pending ones to those that failed at least once (a delivery
// never tried has its job waiting already).
func (db *DB) hostDeliveries(ctx context.Context, host string, tried bool, states ...string) ([]int64, error) {
	q := "SELECT id, inbox, recipient FROM deliveries WHERE state IN (" + strings.TrimSuffix(strings.Repeat("?,", len(states)), ",") + ")"
	if tried {
		q += " AND (state <> 'pending' OR attempts > 0)"
	}
	args := make([]any, len(states))
	for i, s := range states {
		args[i] = s
	}
	rows, err := db.query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list deliveries: %w", err)
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		var inbox, recipient string
		if err := rows.Scan(&id, &inbox, &recipient); err != nil {
			return nil, err
		}
		u := inbox
		if u == "" {
			u = recipient
		}
		if strings.EqualFold(hostOf(u), host) {
			ids = append(ids, id)
		}
	}
	return ids, rows.Err()
}

// RetryHost makes every failed or retrying delivery to host pending with
// no attempt counted, and enqueues a job for each with enqueue (in the
// same transaction), which runs at once. A retrying delivery's own job
// still comes back at its time and finds it sent: the host gets at most
// one more copy, which ActivityPub servers drop by its id. It returns how
// many.
func (db *DB) RetryHost(ctx context.Context, host string, enqueue func(ctx context.Context, tx *Tx, deliveryID int64) error) (int, error) {
	ids, err := db.hostDeliveries(ctx, host, true, "pending", "failed")
	if err != nil || len(ids) == 0 {
		return 0, err
	}
	err = db.Tx(ctx, func(ctx context.Context, tx *Tx) error {
		for _, id := range ids {
			if _, err := tx.exec(ctx, "UPDATE deliveries SET state = 'pending', attempts = 0, updated_at = ? WHERE id = ?", time.Now().UnixMicro(), id); err != nil {
				return err
			}
			if err := enqueue(ctx, tx, id); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("retry deliveries to %s: %w", host, err)
	}
	return len(ids), nil
}

// DiscardHost gives up every pending delivery to host (recorded as
// failed, "discarded by the admin"); their jobs then find nothing to do.
func (db *DB) DiscardHost(ctx context.Context, host string) (int, error) {
	ids, err := db.hostDeliveries(ctx, host, false, "pending")
	if err != nil || len(ids) == 0 {
		return 0, err
	}
	err = db.Tx(ctx, func(ctx context.Context, tx *Tx) error {
		for _, id := range ids {
			if _, err := tx.exec(ctx, "UPDATE deliveries SET state = 'failed', last_error = 'discarded by the admin', updated_at = ? WHERE id = ?",
				time.Now().UnixMicro(), id); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("discard deliveries to %s: %w", host, err)
	}
	return len(ids), nil
}

// Replica is a serve process that ran on this database.
type Replica struct {
	Holder  string    `json:"holder"`
	Version string    `json:"version"`
	Started time.Time `json:"started"`
	Seen    time.Time `json:"seen"`
}

// SeenReplica records that a serve process is alive.
func (db *DB) SeenReplica(ctx context.Context, r Replica) error {
	_, err := db.exec(ctx, `INSERT INTO replicas (holder, version, started_at, seen_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (holder) DO UPDATE SET version = excluded.version, started_at = excluded.started_at, seen_at = excluded.seen_at`,
		r.Holder, r.Version, r.Started.UnixMicro(), r.Seen.UnixMicro())
	if err != nil {
		return fmt.Errorf("record replica: %w", err)
	}
	return nil
}

// Replicas lists the serve processes seen since a time, the latest first.
func (db *DB) Replicas(ctx context.Context, since time.Time) ([]Replica, error) {
	rows, err := db.query(ctx, "SELECT holder, version, started_at, seen_at FROM replicas WHERE seen_at > ? ORDER BY seen_at DESC", since.UnixMicro())
	if err != nil {
		return nil, fmt.Errorf("list replicas: %w", err)
	}
	defer rows.Close()
	var out []Replica
	for rows.Next() {
		var r Replica
		var started, seen int64
		if err := rows.Scan(&r.Holder, &r.Version, &started, &seen); err != nil {
			return nil, err
		}
		r.Started, r.Seen = time.UnixMicro(started).UTC(), time.UnixMicro(seen).UTC()
		out = append(out, r)
	}
	return out, rows.Err()
}

// Queue is what waits in the job queue of one kind.
type Queue struct {
	// Waiting jobs have not run yet or wait for their next attempt;
	// Deferred are those that failed at least once.
	Waiting  int       `json:"waiting"`
	Deferred int       `json:"deferred"`
	Oldest   time.Time `json:"oldest,omitzero"`
}

// riverTime reads a River timestamp, which SQLite gives as text.
func riverTime(v any) time.Time {
	switch t := v.(type) {
	case time.Time:
		return t.UTC()
	case string:
		return parseRiverTime(t)
	case []byte:
		return parseRiverTime(string(t))
	}
	return time.Time{}
}

func parseRiverTime(s string) time.Time {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02 15:04:05.999999999-07:00", "2006-01-02 15:04:05.999999999", "2006-01-02T15:04:05.999999999"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC()
		}
	}
	return time.Time{}
}

// QueueOf reads the queue of one kind of job.
func (db *DB) QueueOf(ctx context.Context, kind string) (Queue, error) {
	var q Queue
	rows, err := db.query(ctx, `SELECT attempt, created_at FROM river_job WHERE kind = ? AND state IN ('available', 'scheduled', 'retryable', 'running', 'pending')`, kind)
	if err != nil {
		return q, fmt.Errorf("read %s queue: %w", kind, err)
	}
	defer rows.Close()
	for rows.Next() {
		var attempt int
		var created any
		if err := rows.Scan(&attempt, &created); err != nil {
			return q, err
		}
		q.Waiting++
		if attempt > 0 {
			q.Deferred++
		}
		if t := riverTime(created); !t.IsZero() && (q.Oldest.IsZero() || t.Before(q.Oldest)) {
			q.Oldest = t
		}
	}
	return q, rows.Err()
}

// JobIssue is a job that needs the admin's eye: discarded (it failed
// every attempt) or stuck (running far past any job's limit).
type JobIssue struct {
	ID    int64     `json:"id"`
	Kind  string    `json:"kind"`
	State string    `json:"state"`
	At    time.Time `json:"at"`
	// Error is the last attempt's error.
	Error string `json:"error,omitempty"`
}

// JobIssues lists the jobs discarded since a time and those running since
// before stuckBefore, the newest first (at most 50).
func (db *DB) JobIssues(ctx context.Context, since, stuckBefore time.Time) ([]JobIssue, error) {
	// River keeps the attempts' errors as a JSON list on SQLite and as an
	// array of jsonb on PostgreSQL: read the last one either way.
	lastErr := "errors"
	if db.backend == Postgres {
		lastErr = "errors[cardinality(errors)]::text"
	}
	rows, err := db.query(ctx, `SELECT id, kind, state, attempted_at, finalized_at, `+lastErr+` FROM river_job
		WHERE state IN ('discarded', 'running') ORDER BY id DESC LIMIT 500`)
	if err != nil {
		return nil, fmt.Errorf("list job issues: %w", err)
	}
	defer rows.Close()
	var out []JobIssue
	for rows.Next() {
		var j JobIssue
		var attempted, finalized, errs any
		if err := rows.Scan(&j.ID, &j.Kind, &j.State, &attempted, &finalized, &errs); err != nil {
			return nil, err
		}
		switch j.State {
		case "discarded":
			j.At = riverTime(finalized)
			if j.At.Before(since) {
				continue
			}
		case "running":
			j.At = riverTime(attempted)
			if j.At.IsZero() || !j.At.Before(stuckBefore) {
				continue
			}
		}
		j.Error = lastJobError(errs)
		out = append(out, j)
		if len(out) == 50 {
			break
		}
	}
	return out, rows.Err()
}

// lastJobError reads the last error River recorded for a job: a JSON list
// of attempts, or the last attempt itself.
func lastJobError(v any) string {
	var raw []byte
	switch t := v.(type) {
	case []byte:
		raw = t
	case string:
		raw = []byte(t)
	default:
		return ""
	}
	type attempt struct {
		Error string `json:"error"`
	}
	var one attempt
	if json.Unmarshal(raw, &one) == nil {
		return one.Error
	}
	var attempts []attempt
	if json.Unmarshal(raw, &attempts) != nil || len(attempts) == 0 {
		return ""
	}
	return attempts[len(attempts)-1].Error
}

// QueueDepths reads the three queues' depths in one statement: deliveries
// pending, mail jobs not yet done, and activities accepted but not yet
// processed.
func (db *DB) QueueDepths(ctx context.Context) (deliveries, mails, inbox int, err error) {
	err = db.queryRow(ctx, `SELECT (SELECT COUNT(*) FROM deliveries WHERE state = 'pending'),
	(SELECT COUNT(*) FROM river_job WHERE kind = 'mail_send' AND state IN ('available', 'scheduled', 'retryable', 'running', 'pending')),
	(SELECT COUNT(*) FROM inbox_pending)`).Scan(&deliveries, &mails, &inbox)
	if err != nil {
		err = fmt.Errorf("read queue depths: %w", err)
	}
	return
}

// Size is the space the data takes: pg_database_size on PostgreSQL; on
// SQLite the pages in use (not the file and its WAL: the WAL is rewritten
// in place, not shrunk, so its size is its largest burst between two
// checkpoints, not what the data takes).
func (db *DB) Size(ctx context.Context) (int64, error) {
	var n int64
	var err error
	if db.backend == Postgres {
		err = db.queryRow(ctx, "SELECT pg_database_size(current_database())").Scan(&n)
	} else {
		err = db.queryRow(ctx, "SELECT ((SELECT page_count FROM pragma_page_count()) - (SELECT freelist_count FROM pragma_freelist_count())) * (SELECT page_size FROM pragma_page_size())").Scan(&n)
	}
	if err != nil {
		return 0, fmt.Errorf("read the database's size: %w", err)
	}
	return n, nil
}
