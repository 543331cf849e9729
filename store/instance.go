package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"codeberg.org/passerelle/passerelle/bridges"
)

// SettingPublicURL names the public_url that the local actors were made
// under.
const SettingPublicURL = "public_url"

// InstanceSetting returns a recorded instance setting, or
// bridges.ErrNotFound.
func (db *DB) InstanceSetting(ctx context.Context, name string) (string, error) {
	var v string
	err := db.queryRow(ctx, "SELECT value FROM instance_settings WHERE name = ?", name).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", bridges.ErrNotFound
	}
	if err != nil {
		return "", fmt.Errorf("read instance setting %s: %w", name, err)
	}
	return v, nil
}

// SetInstanceSetting records an instance setting.
func (db *DB) SetInstanceSetting(ctx context.Context, name, value string) error {
	return db.Tx(ctx, func(ctx context.Context, tx *Tx) error { return tx.SetInstanceSetting(ctx, name, value) })
}

// SetInstanceSetting records an instance setting in the transaction.
func (tx *Tx) SetInstanceSetting(ctx context.Context, name, value string) error {
	_, err := tx.exec(ctx, `INSERT INTO instance_settings (name, value) VALUES (?, ?)
		ON CONFLICT (name) DO UPDATE SET value = excluded.value`, name, value)
	if err != nil {
		return fmt.Errorf("record instance setting %s: %w", name, err)
	}
	return nil
}

// CountLocalActors counts the local actors of a kind (ActorParticipant…).
func (db *DB) CountLocalActors(ctx context.Context, kind string) (int, error) {
	var n int
	if err := db.queryRow(ctx, "SELECT COUNT(*) FROM local_actors WHERE kind = ?", kind).Scan(&n); err != nil {
		return 0, fmt.Errorf("count %s actors: %w", kind, err)
	}
	return n, nil
}
