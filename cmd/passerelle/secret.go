package main

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"codeberg.org/passerelle/passerelle/bridges"
)

// instanceSecret is what derives the participants' calendar passwords:
// instance.secret, or else the file data_dir/secret, made (32 random bytes,
// mode 0600) the first time. It is kept out of the database on purpose:
// the database holds only the passwords' hashes, so reading it (a backup,
// a leak) does not give anyone's calendar password.
func instanceSecret(a *app) ([]byte, error) {
	if s := a.cfg.Instance.Secret; s != "" {
		return []byte(s), nil
	}
	path := filepath.Join(a.cfg.DataDir, "secret")
	b, err := os.ReadFile(path)
	if err == nil {
		s := strings.TrimSpace(string(b))
		if len(s) < bridges.MinSecretLen {
			return nil, fmt.Errorf("%s holds %d characters; want at least %d (delete it to have a new one made, which changes every calendar password)", path, len(s), bridges.MinSecretLen)
		}
		return []byte(s), nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("read the instance secret: %w", err)
	}
	if err := os.MkdirAll(a.cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("make data_dir for the instance secret: %w", err)
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return nil, err
	}
	secret := hex.EncodeToString(raw)
	// O_EXCL: two commands starting at once make one secret, and the
	// second reads the first's.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return instanceSecret(a)
	}
	if err != nil {
		return nil, fmt.Errorf("make the instance secret: %w (or set instance.secret)", err)
	}
	if _, err := f.WriteString(secret + "\n"); err != nil {
		f.Close()
		return nil, fmt.Errorf("write the instance secret: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("write the instance secret: %w", err)
	}
	a.log.Info("instance secret made; calendar passwords derive from it (replicas on other machines need the same: see instance.secret)", "file", path)
	return []byte(secret), nil
}
