package store

import (
	"context"
	"database/sql"
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
	Retrying  int       `json:"retrying"`
	Failed    int       `json:"failed"`
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
	rows, err := db.query(ctx, `SELECT inbox, recipient, state, last_error, updated_at FROM deliveries
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
		if err := rows.Scan(&inbox, &recipient, &state, &lastErr, &at); err != nil {
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
		}
	}
	out := make([]FailingHost, 0, len(order))
	for _, h := range order {
		out = append(out, *byHost[h])
	}
	return out, rows.Err()
}

// hostDeliveries selects the deliveries to a host in a state.
func (db *DB) hostDeliveries(ctx context.Context, host string, states ...string) ([]int64, error) {
	q := "SELECT id, inbox, recipient FROM deliveries WHERE state IN (" + strings.TrimSuffix(strings.Repeat("?,", len(states)), ",") + ")"
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
// same transaction). It returns how many.
func (db *DB) RetryHost(ctx context.Context, host string, enqueue func(ctx context.Context, tx *Tx, deliveryID int64) error) (int, error) {
	ids, err := db.hostDeliveries(ctx, host, "pending", "failed")
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
	ids, err := db.hostDeliveries(ctx, host, "pending")
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
