package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"codeberg.org/passerelle/passerelle/bridges"
)

// Kinds of local actor.
const (
	ActorInstance    = "instance"
	ActorParticipant = "participant"
)

// LocalActor is an actor passerelle speaks as, with its key pair.
type LocalActor struct {
	ID            int64
	Kind          string
	Username      string
	DisplayName   string
	PrivateKeyPEM string
	PublicKeyPEM  string
	CreatedAt     time.Time
}

const actorColumns = "id, kind, username, display_name, private_key_pem, public_key_pem, created_at"

func scanActor(row scanner) (*LocalActor, error) {
	var a LocalActor
	var created int64
	err := row.Scan(&a.ID, &a.Kind, &a.Username, &a.DisplayName, &a.PrivateKeyPEM, &a.PublicKeyPEM, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, bridges.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("read local actor: %w", err)
	}
	a.CreatedAt = fromMicro(created)
	return &a, nil
}

// LocalActorByUsername returns the local actor with that username, or
// bridges.ErrNotFound.
func (db *DB) LocalActorByUsername(ctx context.Context, username string) (*LocalActor, error) {
	return scanActor(db.queryRow(ctx, "SELECT "+actorColumns+" FROM local_actors WHERE username = ?", username))
}

// LocalActorByUsername returns the local actor with that username in the
// transaction, or bridges.ErrNotFound.
func (tx *Tx) LocalActorByUsername(ctx context.Context, username string) (*LocalActor, error) {
	return scanActor(tx.queryRow(ctx, "SELECT "+actorColumns+" FROM local_actors WHERE username = ?", username))
}

// CreateLocalActor inserts a local actor and sets a.ID. A username already
// taken is an error: callers that may race (two replicas creating the
// instance actor at first start) read it back with LocalActorByUsername.
func (tx *Tx) CreateLocalActor(ctx context.Context, a *LocalActor) error {
	if a.CreatedAt.IsZero() {
		a.CreatedAt = time.Now()
	}
	err := tx.queryRow(ctx, `INSERT INTO local_actors (kind, username, display_name, private_key_pem, public_key_pem, created_at)
		VALUES (?, ?, ?, ?, ?, ?) RETURNING id`, a.Kind, a.Username, a.DisplayName, a.PrivateKeyPEM, a.PublicKeyPEM, micro(a.CreatedAt)).Scan(&a.ID)
	if err != nil {
		return fmt.Errorf("create local actor %s: %w", a.Username, err)
	}
	return nil
}

// LocalActorUsername returns the username of the local actor with that id
// in the transaction, or bridges.ErrNotFound.
func (tx *Tx) LocalActorUsername(ctx context.Context, id int64) (string, error) {
	var username string
	err := tx.queryRow(ctx, "SELECT username FROM local_actors WHERE id = ?", id).Scan(&username)
	if errors.Is(err, sql.ErrNoRows) {
		return "", bridges.ErrNotFound
	}
	if err != nil {
		return "", fmt.Errorf("read local actor %d: %w", id, err)
	}
	return username, nil
}

// SetLocalActorDisplayName renames a local actor.
func (tx *Tx) SetLocalActorDisplayName(ctx context.Context, id int64, name string) error {
	if _, err := tx.exec(ctx, "UPDATE local_actors SET display_name = ? WHERE id = ?", name, id); err != nil {
		return fmt.Errorf("rename local actor %d: %w", id, err)
	}
	return nil
}
