// Package seal keeps short secrets that passerelle must send again later
// (a published calendar's source password) encrypted in the database,
// under a key derived from the instance secret. The instance secret stays
// out of the database (data_dir/secret or instance.secret), so a copy of
// the database — a backup, a leaked dump, a replica's disk — does not give
// the organisers' passwords away.
package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// prefix marks a sealed value; a value without it is a clear one stored
// before sealing existed.
const prefix = "sealed:v1:"

// Box seals and opens values for one purpose.
type Box struct {
	aead cipher.AEAD
}

// New derives a key for purpose from the instance secret. Different
// purposes get unrelated keys, so a value sealed for one cannot be opened
// as another.
func New(secret []byte, purpose string) (*Box, error) {
	if len(secret) == 0 {
		return nil, errors.New("seal: no instance secret")
	}
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("passerelle seal v1\x00" + purpose))
	block, err := aes.NewCipher(m.Sum(nil))
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Box{aead: aead}, nil
}

// IsSealed tells a sealed value from a clear one.
func IsSealed(stored string) bool { return strings.HasPrefix(stored, prefix) }

// Seal encrypts plain, bound to bind (for a source password, the URL it is
// sent to): opened with another bind it fails, so whoever can write the
// database cannot point the calendar at their own server and be sent the
// password. The empty string stays empty (no password).
func (b *Box) Seal(plain, bind string) (string, error) {
	if plain == "" {
		return "", nil
	}
	nonce := make([]byte, b.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	out := b.aead.Seal(nonce, nonce, []byte(plain), []byte(bind))
	return prefix + base64.RawURLEncoding.EncodeToString(out), nil
}

// Open decrypts a sealed value. A clear value (stored before sealing)
// is returned as it is; the caller seals it again.
func (b *Box) Open(stored, bind string) (string, error) {
	if !IsSealed(stored) {
		return stored, nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(stored, prefix))
	if err != nil || len(raw) < b.aead.NonceSize() {
		return "", errors.New("seal: the stored value is damaged")
	}
	plain, err := b.aead.Open(nil, raw[:b.aead.NonceSize()], raw[b.aead.NonceSize():], []byte(bind))
	if err != nil {
		return "", fmt.Errorf("seal: cannot open the stored password: the instance secret changed, or the URL it belongs to was edited in the database")
	}
	return string(plain), nil
}
