package signing

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
)

// keyBits is the RSA size of every key passerelle makes: what Mobilizon,
// Mastodon and Fedify use and expect.
const keyBits = 2048

// GenerateKeyPEM makes a fresh RSA-2048 key pair for a local actor: the
// private key as PKCS#8 and the public key as PKIX ("BEGIN PUBLIC KEY"),
// the form every ActivityPub server reads.
func GenerateKeyPEM() (privatePEM, publicPEM string, err error) {
	key, err := rsa.GenerateKey(rand.Reader, keyBits)
	if err != nil {
		return "", "", fmt.Errorf("generate RSA key: %w", err)
	}
	priv, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return "", "", fmt.Errorf("encode private key: %w", err)
	}
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return "", "", fmt.Errorf("encode public key: %w", err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: priv})),
		string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub})), nil
}

// ParsePublicKeyPEM reads an RSA public key as actors publish it:
// PKIX/SPKI ("BEGIN PUBLIC KEY", Mastodon, Fedify, passerelle) or PKCS#1
// ("BEGIN RSA PUBLIC KEY", Mobilizon's local actors). go-fed/httpsig takes
// parsed keys only, so this is the parsing it lacks.
func ParsePublicKeyPEM(s string) (*rsa.PublicKey, error) {
	block, _ := pem.Decode([]byte(s))
	if block == nil {
		return nil, errors.New("public key: no PEM block found")
	}
	switch block.Type {
	case "RSA PUBLIC KEY":
		k, err := x509.ParsePKCS1PublicKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("public key: PKCS#1: %w", err)
		}
		return k, nil
	case "PUBLIC KEY":
		k, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			// Some servers label a PKCS#1 body "PUBLIC KEY".
			if k1, err1 := x509.ParsePKCS1PublicKey(block.Bytes); err1 == nil {
				return k1, nil
			}
			return nil, fmt.Errorf("public key: PKIX: %w", err)
		}
		rk, ok := k.(*rsa.PublicKey)
		if !ok {
			return nil, fmt.Errorf("public key: %T is not RSA (only RSA keys are supported)", k)
		}
		return rk, nil
	}
	return nil, fmt.Errorf("public key: unexpected PEM block %q (want PUBLIC KEY or RSA PUBLIC KEY)", block.Type)
}

// ParsePrivateKeyPEM reads an RSA private key, PKCS#8 or PKCS#1.
func ParsePrivateKeyPEM(s string) (*rsa.PrivateKey, error) {
	block, _ := pem.Decode([]byte(s))
	if block == nil {
		return nil, errors.New("private key: no PEM block found")
	}
	switch block.Type {
	case "RSA PRIVATE KEY":
		k, err := x509.ParsePKCS1PrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("private key: PKCS#1: %w", err)
		}
		return k, nil
	case "PRIVATE KEY":
		k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("private key: PKCS#8: %w", err)
		}
		rk, ok := k.(*rsa.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("private key: %T is not RSA", k)
		}
		return rk, nil
	}
	return nil, fmt.Errorf("private key: unexpected PEM block %q", block.Type)
}
