package federation

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"passerelle/bridges"
)

// Querier runs SQL with `?` placeholders (store.DB and store.Tx rebind them
// for PostgreSQL).
type Querier interface {
	Exec(ctx context.Context, q string, args ...any) (sql.Result, error)
	Query(ctx context.Context, q string, args ...any) (*sql.Rows, error)
	QueryRow(ctx context.Context, q string, args ...any) *sql.Row
}

// DB is what federation needs of the store: plain queries, and
// transactions whose Tx also runs queries and enqueues jobs (store.DB).
type DB interface {
	Querier
	bridges.Store
}

// Store keeps federation's state in the tables of migration 0002 and in
// the core's sources and local_actors tables. Its methods that take a
// Querier run inside whatever transaction the caller holds.
type Store struct {
	DB  DB
	Now func() time.Time
}

func (s *Store) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// InTx runs fn in one transaction; q runs queries in it and tx enqueues.
func (s *Store) InTx(ctx context.Context, fn func(ctx context.Context, q Querier, tx bridges.Tx) error) error {
	return s.DB.InTx(ctx, func(ctx context.Context, tx bridges.Tx) error {
		q, ok := tx.(Querier)
		if !ok {
			return fmt.Errorf("store transaction %T cannot run queries", tx)
		}
		return fn(ctx, q, tx)
	})
}

// LocalActor is an actor passerelle speaks as (a row of local_actors).
type LocalActor struct {
	ID          int64
	Kind        string // ActorInstance or ActorParticipant
	Username    string
	DisplayName string
	PrivateKey  string
	PublicKey   string
	CreatedAt   time.Time
}

// The kinds of local actor.
const (
	ActorInstance    = "instance"
	ActorParticipant = "participant"
)

const localActorCols = `id, kind, username, display_name, private_key_pem, public_key_pem, created_at`

func scanLocalActor(row interface{ Scan(...any) error }) (*LocalActor, error) {
	var a LocalActor
	var created int64
	if err := row.Scan(&a.ID, &a.Kind, &a.Username, &a.DisplayName, &a.PrivateKey, &a.PublicKey, &created); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, bridges.ErrNotFound
		}
		return nil, err
	}
	a.CreatedAt = time.UnixMicro(created)
	return &a, nil
}

// LocalActorByUsername returns the local actor with that username.
func (s *Store) LocalActorByUsername(ctx context.Context, username string) (*LocalActor, error) {
	return scanLocalActor(s.DB.QueryRow(ctx, `SELECT `+localActorCols+` FROM local_actors WHERE username = ?`, username))
}

// LocalActorByID returns the local actor with that row id.
func (s *Store) LocalActorByID(ctx context.Context, id int64) (*LocalActor, error) {
	return scanLocalActor(s.DB.QueryRow(ctx, `SELECT `+localActorCols+` FROM local_actors WHERE id = ?`, id))
}

// EnsureInstanceActor returns the instance actor, creating it with a fresh
// key on first start. Two replicas starting at once both try the insert;
// the loser reads the winner's row.
func (s *Store) EnsureInstanceActor(ctx context.Context, username string) (*LocalActor, error) {
	a, err := s.LocalActorByUsername(ctx, username)
	if err == nil {
		if a.Kind != ActorInstance {
			return nil, fmt.Errorf("instance actor name %q is taken by a %s actor: choose another federation.instance_actor", username, a.Kind)
		}
		return a, nil
	}
	if !errors.Is(err, bridges.ErrNotFound) {
		return nil, fmt.Errorf("load instance actor: %w", err)
	}
	priv, pub, err := GenerateKeyPEM()
	if err != nil {
		return nil, err
	}
	_, err = s.DB.Exec(ctx, `INSERT INTO local_actors (kind, username, display_name, private_key_pem, public_key_pem, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
		ActorInstance, username, "passerelle", priv, pub, s.now().UnixMicro())
	if err != nil {
		if a, err2 := s.LocalActorByUsername(ctx, username); err2 == nil {
			return a, nil
		}
		return nil, fmt.Errorf("create instance actor: %w", err)
	}
	return s.LocalActorByUsername(ctx, username)
}

// RemoteActor is what passerelle caches of a remote actor document.
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

const remoteActorCols = `id, key_id, public_key_pem, type, username, name, inbox, shared_inbox, outbox, fetched_at`

func scanRemoteActor(row interface{ Scan(...any) error }) (*RemoteActor, error) {
	var a RemoteActor
	var fetched int64
	if err := row.Scan(&a.ID, &a.KeyID, &a.PublicKeyPEM, &a.Type, &a.Username, &a.Name, &a.Inbox, &a.SharedInbox, &a.Outbox, &fetched); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, bridges.ErrNotFound
		}
		return nil, err
	}
	a.FetchedAt = time.UnixMicro(fetched)
	return &a, nil
}

// RemoteActorByKeyID returns the cached actor owning keyID.
func (s *Store) RemoteActorByKeyID(ctx context.Context, keyID string) (*RemoteActor, error) {
	return scanRemoteActor(s.DB.QueryRow(ctx, `SELECT `+remoteActorCols+` FROM remote_actors WHERE key_id = ? ORDER BY fetched_at DESC LIMIT 1`, keyID))
}

// RemoteActor returns the cached actor with that id.
func (s *Store) RemoteActor(ctx context.Context, id string) (*RemoteActor, error) {
	return scanRemoteActor(s.DB.QueryRow(ctx, `SELECT `+remoteActorCols+` FROM remote_actors WHERE id = ?`, id))
}

// SaveRemoteActor caches a (re)fetched actor document.
func (s *Store) SaveRemoteActor(ctx context.Context, a *RemoteActor) error {
	_, err := s.DB.Exec(ctx, `INSERT INTO remote_actors (`+remoteActorCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET key_id = excluded.key_id, public_key_pem = excluded.public_key_pem, type = excluded.type,
		username = excluded.username, name = excluded.name, inbox = excluded.inbox, shared_inbox = excluded.shared_inbox,
		outbox = excluded.outbox, fetched_at = excluded.fetched_at`,
		a.ID, a.KeyID, a.PublicKeyPEM, a.Type, a.Username, a.Name, a.Inbox, a.SharedInbox, a.Outbox, a.FetchedAt.UnixMicro())
	if err != nil {
		return fmt.Errorf("cache actor %s: %w", a.ID, err)
	}
	return nil
}

// SeeActivity records an incoming activity document and reports whether
// it is new. The key is the id plus the body's digest (see migration 0002).
func (s *Store) SeeActivity(ctx context.Context, q Querier, id string, body []byte) (bool, error) {
	sum := sha256.Sum256(body)
	key := id + " " + hex.EncodeToString(sum[:16])
	res, err := q.Exec(ctx, `INSERT INTO seen_activities (key, seen_at) VALUES (?, ?) ON CONFLICT (key) DO NOTHING`, key, s.now().UnixMicro())
	if err != nil {
		return false, fmt.Errorf("record activity %s: %w", id, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("record activity %s: %w", id, err)
	}
	return n == 1, nil
}

// DomainBlocked implements BlockList.
func (s *Store) DomainBlocked(ctx context.Context, domain string) (bool, error) {
	var n int
	if err := s.DB.QueryRow(ctx, `SELECT COUNT(*) FROM blocked_domains WHERE domain = ?`, NormalizeDomain(domain)).Scan(&n); err != nil {
		return false, fmt.Errorf("look up blocked domain %s: %w", domain, err)
	}
	return n > 0, nil
}

// BlockDomain adds domain (and so its subdomains) to the block list.
func (s *Store) BlockDomain(ctx context.Context, domain string) error {
	d := NormalizeDomain(domain)
	if d == "" || strings.ContainsAny(d, "/ @") {
		return fmt.Errorf("%q is not a domain name (want e.g. mobilizon.example)", domain)
	}
	_, err := s.DB.Exec(ctx, `INSERT INTO blocked_domains (domain, created_at) VALUES (?, ?) ON CONFLICT (domain) DO NOTHING`, d, s.now().UnixMicro())
	if err != nil {
		return fmt.Errorf("block %s: %w", d, err)
	}
	return nil
}

// UnblockDomain removes domain from the block list; it reports whether it
// was there.
func (s *Store) UnblockDomain(ctx context.Context, domain string) (bool, error) {
	res, err := s.DB.Exec(ctx, `DELETE FROM blocked_domains WHERE domain = ?`, NormalizeDomain(domain))
	if err != nil {
		return false, fmt.Errorf("unblock %s: %w", domain, err)
	}
	n, _ := res.RowsAffected()
	return n > 0, nil
}

// BlockedDomains lists the block list.
func (s *Store) BlockedDomains(ctx context.Context) ([]string, error) {
	rows, err := s.DB.Query(ctx, `SELECT domain FROM blocked_domains ORDER BY domain`)
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

// Delivery is one activity to send to one inbox, as a durable record: the
// job names the row, the row keeps the outcome.
type Delivery struct {
	ID      int64
	ActorID int64
	// Recipient is the actor delivered to; Inbox, when set, overrides the
	// inbox its document names.
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

// insertDelivery records a delivery in the caller's transaction.
func (s *Store) insertDelivery(ctx context.Context, q Querier, d *Delivery) error {
	now := s.now().UnixMicro()
	err := q.QueryRow(ctx, `INSERT INTO deliveries (actor_id, recipient, inbox, activity_id, activity, state, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		d.ActorID, d.Recipient, d.Inbox, d.ActivityID, d.Activity, DeliveryPending, now, now).Scan(&d.ID)
	if err != nil {
		return fmt.Errorf("record delivery of %s to %s: %w", d.ActivityID, d.Inbox, err)
	}
	return nil
}

// DeliveryByID loads a delivery.
func (s *Store) DeliveryByID(ctx context.Context, id int64) (*Delivery, error) {
	var d Delivery
	err := s.DB.QueryRow(ctx, `SELECT id, actor_id, recipient, inbox, activity_id, activity, state, attempts, last_error FROM deliveries WHERE id = ?`, id).
		Scan(&d.ID, &d.ActorID, &d.Recipient, &d.Inbox, &d.ActivityID, &d.Activity, &d.State, &d.Attempts, &d.LastError)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, bridges.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("load delivery %d: %w", id, err)
	}
	return &d, nil
}

// DeliveriesOf lists the deliveries of one activity (for tests and the CLI).
func (s *Store) DeliveriesOf(ctx context.Context, activityID string) ([]Delivery, error) {
	rows, err := s.DB.Query(ctx, `SELECT id, actor_id, recipient, inbox, activity_id, state, attempts, last_error FROM deliveries WHERE activity_id = ? ORDER BY id`, activityID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Delivery
	for rows.Next() {
		var d Delivery
		if err := rows.Scan(&d.ID, &d.ActorID, &d.Recipient, &d.Inbox, &d.ActivityID, &d.State, &d.Attempts, &d.LastError); err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// recordAttempt records an attempt's outcome.
func (s *Store) recordAttempt(ctx context.Context, id int64, state, inbox, lastErr string) error {
	_, err := s.DB.Exec(ctx, `UPDATE deliveries SET state = ?, inbox = ?, attempts = attempts + 1, last_error = ?, updated_at = ? WHERE id = ?`,
		state, inbox, lastErr, s.now().UnixMicro(), id)
	if err != nil {
		return fmt.Errorf("record delivery %d: %w", id, err)
	}
	return nil
}
