package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"codeberg.org/passerelle/passerelle/bridges"
)

// MastodonAccountState says whether passerelle may post to an account.
type MastodonAccountState string

// MastodonAccount is a connected Mastodon-API account (package mastodon
// names it mastodon.Account).
type MastodonAccount struct {
	ID int64 `json:"id"`
	// Instance is the server's base URL (https://mastodon.example).
	Instance string `json:"instance"`
	// Acct is @user@host.
	Acct string `json:"acct"`
	// RemoteID is the account's id on its instance.
	RemoteID     string               `json:"remote_id"`
	ClientID     string               `json:"-"`
	ClientSecret string               `json:"-"`
	Token        string               `json:"-"`
	State        MastodonAccountState `json:"state"`
	LastError    string               `json:"last_error,omitempty"`
	// Scopes are the OAuth scopes the token was granted (space
	// separated); empty for an account connected before passerelle
	// recorded them.
	Scopes    string    `json:"scopes"`
	CreatedAt time.Time `json:"created_at"`
}

// MastodonTrigger is an event change a route posts on.
type MastodonTrigger string

// MastodonRoute says that a source's events go to an account.
type MastodonRoute struct {
	ID        int64 `json:"id"`
	SourceID  int64 `json:"source_id"`
	AccountID int64 `json:"account_id"`
	// Visibility is public or unlisted.
	Visibility string            `json:"visibility"`
	On         []MastodonTrigger `json:"on"`
	// Reminder, when set, posts a reminder that long before the start.
	Reminder time.Duration `json:"reminder,omitempty"`
	// ReminderAs is "reply" (in the event's thread, the default) or
	// "status" (a new status, seen by followers who missed the first).
	ReminderAs string `json:"reminder_as,omitempty"`
	// Template replaces the default status template when set.
	Template string `json:"template,omitempty"`
}

// Posts reports whether the route posts on t.
func (r *MastodonRoute) Posts(t MastodonTrigger) bool { return slices.Contains(r.On, t) }

// MastodonPostState is where one status of an event stands on an account.
type MastodonPostState string

// MastodonPost is one status passerelle made, or is making, for an event on
// an account: the event's own ("status") or a reply in its thread.
type MastodonPost struct {
	EventID   int64
	AccountID int64
	Kind      string
	StatusID  string
	// Version is the event's Sequence the status shows.
	Version int
	State   MastodonPostState
	MediaID string
	// AttemptedAt is when the last POST started.
	AttemptedAt time.Time
	Error       string
}

const mastodonAccountColumns = `id, instance, acct, remote_id, client_id, client_secret, token, state, last_error, scopes, created_at`

func scanMastodonAccount(row scanner) (*MastodonAccount, error) {
	var a MastodonAccount
	var created int64
	err := row.Scan(&a.ID, &a.Instance, &a.Acct, &a.RemoteID, &a.ClientID, &a.ClientSecret, &a.Token, &a.State, &a.LastError, &a.Scopes, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, bridges.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("read Mastodon account: %w", err)
	}
	a.CreatedAt = fromMicro(created)
	return &a, nil
}

// MastodonAccount returns an account by id, or bridges.ErrNotFound.
func (db *DB) MastodonAccount(ctx context.Context, id int64) (*MastodonAccount, error) {
	return scanMastodonAccount(db.queryRow(ctx, "SELECT "+mastodonAccountColumns+" FROM mastodon_accounts WHERE id = ?", id))
}

// MastodonAccounts lists the accounts by handle.
func (db *DB) MastodonAccounts(ctx context.Context) ([]MastodonAccount, error) {
	rows, err := db.query(ctx, "SELECT "+mastodonAccountColumns+" FROM mastodon_accounts ORDER BY acct")
	if err != nil {
		return nil, fmt.Errorf("list Mastodon accounts: %w", err)
	}
	defer rows.Close()
	var out []MastodonAccount
	for rows.Next() {
		a, err := scanMastodonAccount(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *a)
	}
	return out, rows.Err()
}

// SaveMastodonAccount adds the account, or replaces the credentials of the
// one with the same handle (connecting again); it sets a.ID.
func (db *DB) SaveMastodonAccount(ctx context.Context, a *MastodonAccount) error {
	if a.CreatedAt.IsZero() {
		a.CreatedAt = time.Now()
	}
	err := db.queryRow(ctx, `INSERT INTO mastodon_accounts (instance, acct, remote_id, client_id, client_secret, token, state, last_error, scopes, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (acct) DO UPDATE SET instance = excluded.instance, remote_id = excluded.remote_id,
			client_id = excluded.client_id, client_secret = excluded.client_secret, token = excluded.token,
			state = excluded.state, last_error = excluded.last_error, scopes = excluded.scopes
		RETURNING id`,
		a.Instance, a.Acct, a.RemoteID, a.ClientID, a.ClientSecret, a.Token, string(a.State), a.LastError, a.Scopes, micro(a.CreatedAt)).Scan(&a.ID)
	if err != nil {
		return fmt.Errorf("save Mastodon account %s: %w", a.Acct, err)
	}
	return nil
}

// DeleteMastodonAccount removes an account with its routes and the record
// of its statuses (which stay on the instance).
func (db *DB) DeleteMastodonAccount(ctx context.Context, id int64) error {
	if _, err := db.exec(ctx, "DELETE FROM mastodon_accounts WHERE id = ?", id); err != nil {
		return fmt.Errorf("delete Mastodon account %d: %w", id, err)
	}
	return nil
}

// SetMastodonAccountState records whether an account may be posted to.
func (db *DB) SetMastodonAccountState(ctx context.Context, id int64, state MastodonAccountState, msg string) error {
	if _, err := db.exec(ctx, "UPDATE mastodon_accounts SET state = ?, last_error = ? WHERE id = ?", string(state), msg, id); err != nil {
		return fmt.Errorf("set state of Mastodon account %d: %w", id, err)
	}
	return nil
}

const mastodonRouteColumns = `id, source_id, account_id, visibility, triggers, reminder_seconds, reminder_as, template`

func scanMastodonRoute(row scanner) (*MastodonRoute, error) {
	var r MastodonRoute
	var triggers string
	var reminder int64
	err := row.Scan(&r.ID, &r.SourceID, &r.AccountID, &r.Visibility, &triggers, &reminder, &r.ReminderAs, &r.Template)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, bridges.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("read Mastodon route: %w", err)
	}
	for _, t := range strings.Split(triggers, ",") {
		if t != "" {
			r.On = append(r.On, MastodonTrigger(t))
		}
	}
	r.Reminder = time.Duration(reminder) * time.Second
	return &r, nil
}

func mastodonRoutes(ctx context.Context, q querier, where string, args ...any) ([]MastodonRoute, error) {
	rows, err := q.query(ctx, "SELECT "+mastodonRouteColumns+" FROM mastodon_routes "+where+" ORDER BY id", args...)
	if err != nil {
		return nil, fmt.Errorf("list Mastodon routes: %w", err)
	}
	defer rows.Close()
	var out []MastodonRoute
	for rows.Next() {
		r, err := scanMastodonRoute(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *r)
	}
	return out, rows.Err()
}

// MastodonRoute returns a route by id, or bridges.ErrNotFound.
func (db *DB) MastodonRoute(ctx context.Context, id int64) (*MastodonRoute, error) {
	return scanMastodonRoute(db.queryRow(ctx, "SELECT "+mastodonRouteColumns+" FROM mastodon_routes WHERE id = ?", id))
}

// MastodonRoutes lists every route.
func (db *DB) MastodonRoutes(ctx context.Context) ([]MastodonRoute, error) {
	return mastodonRoutes(ctx, db, "")
}

// MastodonRoutesForSource lists the routes of a source, in the transaction
// that stores one of its events' changes.
func (tx *Tx) MastodonRoutesForSource(ctx context.Context, sourceID int64) ([]MastodonRoute, error) {
	return mastodonRoutes(ctx, tx, "WHERE source_id = ?", sourceID)
}

// SaveMastodonRoute adds the route, or replaces the one between the same
// source and account; it sets r.ID.
func (db *DB) SaveMastodonRoute(ctx context.Context, r *MastodonRoute) error {
	triggers := make([]string, len(r.On))
	for i, t := range r.On {
		triggers[i] = string(t)
	}
	if r.ReminderAs == "" {
		r.ReminderAs = "reply"
	}
	err := db.queryRow(ctx, `INSERT INTO mastodon_routes (source_id, account_id, visibility, triggers, reminder_seconds, reminder_as, template)
		VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (source_id, account_id) DO UPDATE SET visibility = excluded.visibility, triggers = excluded.triggers,
			reminder_seconds = excluded.reminder_seconds, reminder_as = excluded.reminder_as, template = excluded.template
		RETURNING id`,
		r.SourceID, r.AccountID, r.Visibility, strings.Join(triggers, ","), int64(r.Reminder/time.Second), r.ReminderAs, r.Template).Scan(&r.ID)
	if err != nil {
		return fmt.Errorf("save Mastodon route: %w", err)
	}
	return nil
}

// DeleteMastodonRoute removes a route.
func (db *DB) DeleteMastodonRoute(ctx context.Context, id int64) error {
	if _, err := db.exec(ctx, "DELETE FROM mastodon_routes WHERE id = ?", id); err != nil {
		return fmt.Errorf("delete Mastodon route %d: %w", id, err)
	}
	return nil
}

const mastodonPostColumns = `event_id, account_id, kind, status_id, version, state, media_id, attempted_at, error`

func scanMastodonPost(row scanner) (*MastodonPost, error) {
	var p MastodonPost
	var attempted int64
	err := row.Scan(&p.EventID, &p.AccountID, &p.Kind, &p.StatusID, &p.Version, &p.State, &p.MediaID, &attempted, &p.Error)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, bridges.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("read Mastodon post: %w", err)
	}
	p.AttemptedAt = fromMicro(attempted)
	return &p, nil
}

// MastodonPost returns the post of that kind, or bridges.ErrNotFound.
func (db *DB) MastodonPost(ctx context.Context, eventID, accountID int64, kind string) (*MastodonPost, error) {
	return scanMastodonPost(db.queryRow(ctx, "SELECT "+mastodonPostColumns+" FROM mastodon_posts WHERE event_id = ? AND account_id = ? AND kind = ?", eventID, accountID, kind))
}

// SaveMastodonPost records a post, replacing the one of the same kind.
func (db *DB) SaveMastodonPost(ctx context.Context, p *MastodonPost) error {
	_, err := db.exec(ctx, `INSERT INTO mastodon_posts (event_id, account_id, kind, status_id, version, state, media_id, attempted_at, error, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (event_id, account_id, kind) DO UPDATE SET status_id = excluded.status_id, version = excluded.version,
			state = excluded.state, media_id = excluded.media_id, attempted_at = excluded.attempted_at,
			error = excluded.error, updated_at = excluded.updated_at`,
		p.EventID, p.AccountID, p.Kind, p.StatusID, p.Version, string(p.State), p.MediaID, micro(p.AttemptedAt), p.Error, micro(time.Now()))
	if err != nil {
		return fmt.Errorf("record Mastodon %s of event %d: %w", p.Kind, p.EventID, err)
	}
	return nil
}

// MastodonPostsOf lists the posts of an event, for commands and tests.
func (db *DB) MastodonPostsOf(ctx context.Context, eventID int64) ([]MastodonPost, error) {
	return mastodonPosts(ctx, db, "WHERE event_id = ?", eventID)
}

// MastodonPostsOfAccount lists the statuses of one account's event
// threads (kind "status"), whatever their state.
func (db *DB) MastodonPostsOfAccount(ctx context.Context, accountID int64) ([]MastodonPost, error) {
	return mastodonPosts(ctx, db, "WHERE account_id = ? AND kind = ?", accountID, "status")
}

// PendingMastodonPosts lists posts whose outcome is unknown.
func (db *DB) PendingMastodonPosts(ctx context.Context) ([]MastodonPost, error) {
	return mastodonPosts(ctx, db, "WHERE state = ?", "pending")
}

func mastodonPosts(ctx context.Context, q querier, where string, args ...any) ([]MastodonPost, error) {
	rows, err := q.query(ctx, "SELECT "+mastodonPostColumns+" FROM mastodon_posts "+where+" ORDER BY event_id, account_id, kind", args...)
	if err != nil {
		return nil, fmt.Errorf("list Mastodon posts: %w", err)
	}
	defer rows.Close()
	var out []MastodonPost
	for rows.Next() {
		p, err := scanMastodonPost(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *p)
	}
	return out, rows.Err()
}

// ClaimMastodonThread takes the (event, account) thread for owner until the
// given time, unless another owner holds an unexpired claim.
func (db *DB) ClaimMastodonThread(ctx context.Context, eventID, accountID int64, owner string, until time.Time) (bool, error) {
	res, err := db.exec(ctx, `INSERT INTO mastodon_claims (event_id, account_id, owner, until_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (event_id, account_id) DO UPDATE SET owner = excluded.owner, until_at = excluded.until_at
		WHERE mastodon_claims.owner = excluded.owner OR mastodon_claims.until_at < ?`,
		eventID, accountID, owner, micro(until), micro(time.Now()))
	if err != nil {
		return false, fmt.Errorf("claim Mastodon thread of event %d: %w", eventID, err)
	}
	n, err := res.RowsAffected()
	return n > 0, err
}

// ReleaseMastodonThread ends owner's claim.
func (db *DB) ReleaseMastodonThread(ctx context.Context, eventID, accountID int64, owner string) error {
	if _, err := db.exec(ctx, "DELETE FROM mastodon_claims WHERE event_id = ? AND account_id = ? AND owner = ?", eventID, accountID, owner); err != nil {
		return fmt.Errorf("release Mastodon thread of event %d: %w", eventID, err)
	}
	return nil
}
