package signing

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/go-fed/httpsig"
)

// The draft-cavage-http-signatures-12 appendix C test key and its
// published signature for the "All Headers Test" (C.3).
const specPublicKeyPEM = `-----BEGIN PUBLIC KEY-----
MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDCFENGw33yGihy92pDjZQhl0C3
6rPJj+CvfSC8+q28hxA161QFNUd13wuCTUcq0Qd2qsBe/2hFyc2DCJJg0h1L78+6
Z4UMR7EOcpfdUE9Hf3m/hs+FUR45uBJeDK1HSFHD8bHKD6kv8FPGfJTotc+2xjJw
oYi+1hqp1fIekaxsyQIDAQAB
-----END PUBLIC KEY-----`

const (
	specBody      = `{"hello": "world"}`
	specDate      = "Sun, 05 Jan 2014 21:31:40 GMT"
	specSignature = `keyId="Test",algorithm="rsa-sha256",headers="(request-target) host date content-type digest content-length",signature="vSdrb+dS3EceC9bcwHSo4MlyKS59iFIrhgYkz8+oVLEEzmYZZvRs8rgOp+63LEM3v+MFHB32NfpB2bEKBIvB1q52LaEUHFv120V01IL+TAD48XaERZFukWgHoBTLMhYS2Gb51gWxpeIq8knRmPnYePbF5MOkR0Zkly4zKH7s1dE="`
)

type mapKeys map[string]*PublicKey

func (m mapKeys) PublicKey(_ context.Context, keyID string, _ bool) (*PublicKey, error) {
	if k, ok := m[keyID]; ok {
		return k, nil
	}
	return nil, errors.New("unknown key")
}

// rotatingKeys serves an old key until asked to refresh.
type rotatingKeys struct {
	old, fresh *PublicKey
	refreshed  int
}

func (r *rotatingKeys) PublicKey(_ context.Context, _ string, refresh bool) (*PublicKey, error) {
	if refresh {
		r.refreshed++
		return r.fresh, nil
	}
	return r.old, nil
}

func specRequest(t *testing.T) *http.Request {
	t.Helper()
	r, err := http.NewRequest("POST", "http://example.com/foo?param=value&pet=dog", strings.NewReader(specBody))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(specBody))
	r.Header.Set("Date", specDate)
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("Content-Length", "18")
	r.Header.Set("Digest", "SHA-256="+base64.StdEncoding.EncodeToString(sum[:]))
	r.Header.Set("Signature", specSignature)
	return r
}

func TestVerifySpecVectorPKIXAndPKCS1(t *testing.T) {
	pkix, err := ParsePublicKeyPEM(specPublicKeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	// The same key in Mobilizon's PKCS#1 form must verify the same vector.
	pkcs1PEM := string(pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(pkix)}))
	pkcs1, err := ParsePublicKeyPEM(pkcs1PEM)
	if err != nil {
		t.Fatal(err)
	}
	specTime, _ := http.ParseTime(specDate)
	for name, key := range map[string]*rsa.PublicKey{"pkix": pkix, "pkcs1": pkcs1} {
		t.Run(name, func(t *testing.T) {
			v := &SignatureVerifier{Keys: mapKeys{"Test": {ID: "Test", Owner: "https://example.com/actor", Key: key}}, Now: func() time.Time { return specTime.Add(time.Minute) }}
			got, err := v.Verify(context.Background(), specRequest(t), []byte(specBody))
			if err != nil {
				t.Fatalf("spec vector C.3 refused: %v", err)
			}
			if got.Owner != "https://example.com/actor" {
				t.Errorf("owner = %q", got.Owner)
			}
		})
	}
}

func TestParseMobilizonPKCS1Key(t *testing.T) {
	raw, err := os.ReadFile("testdata/person-actor-mobilizon.org-2019.json")
	if err != nil {
		t.Fatal(err)
	}
	var actor struct {
		PublicKey struct {
			ID, Owner, PublicKeyPem string
		} `json:"publicKey"`
	}
	if err := json.Unmarshal(raw, &actor); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(actor.PublicKey.PublicKeyPem, "BEGIN RSA PUBLIC KEY") {
		t.Fatalf("fixture is expected to hold a PKCS#1 key, got %q", actor.PublicKey.PublicKeyPem[:40])
	}
	k, err := ParsePublicKeyPEM(actor.PublicKey.PublicKeyPem)
	if err != nil {
		t.Fatalf("Mobilizon PKCS#1 key: %v", err)
	}
	if k.N.BitLen() != 2048 || k.E != 65537 {
		t.Errorf("key is %d bits, e=%d; want 2048, 65537", k.N.BitLen(), k.E)
	}
}

func TestParseKeyErrors(t *testing.T) {
	for name, in := range map[string]string{
		"empty":     "",
		"garbage":   "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
		"wrongtype": "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
	} {
		if _, err := ParsePublicKeyPEM(in); err == nil {
			t.Errorf("%s: parsed without error", name)
		}
	}
}

func newTestKey(t testing.TB) (*rsa.PrivateKey, string) {
	t.Helper()
	privPEM, _, err := GenerateKeyPEM()
	if err != nil {
		t.Fatal(err)
	}
	k, err := ParsePrivateKeyPEM(privPEM)
	if err != nil {
		t.Fatal(err)
	}
	return k, privPEM
}

// signedPost builds a request as a peer would send it to our inbox.
func signedPost(t testing.TB, key *rsa.PrivateKey, keyID, target string, body []byte, now time.Time) *http.Request {
	t.Helper()
	r, err := http.NewRequest("POST", target, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	r.Header.Set("Content-Type", "application/activity+json")
	s := &RequestSigner{KeyID: keyID, Key: key, Now: func() time.Time { return now }}
	if err := s.Sign(r, body); err != nil {
		t.Fatal(err)
	}
	// What the server sees: the Host header is in r.Host.
	return r
}

func TestSignVerifyRoundTrip(t *testing.T) {
	key, _ := newTestKey(t)
	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	now := time.Date(2025, 4, 10, 20, 10, 35, 0, time.UTC)
	keyID := "https://mobilizon.test/@alice#main-key"
	good := &PublicKey{ID: keyID, Owner: "https://mobilizon.test/@alice", Key: &key.PublicKey}
	body := []byte(`{"type":"Create"}`)

	tests := []struct {
		name    string
		mutate  func(r *http.Request)
		keys    KeyResolver
		now     time.Time
		wantErr string
	}{
		{name: "valid", keys: mapKeys{keyID: good}, now: now},
		{name: "unsigned", keys: mapKeys{keyID: good}, now: now, mutate: func(r *http.Request) { r.Header.Del("Signature") }, wantErr: "not signed"},
		{name: "wrong digest", keys: mapKeys{keyID: good}, now: now, mutate: func(r *http.Request) {
			r.Header.Set("Digest", "SHA-256=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=")
		}, wantErr: "Digest does not match"},
		{name: "stale date", keys: mapKeys{keyID: good}, now: now.Add(13 * time.Hour), wantErr: "outside the accepted window"},
		{name: "future date", keys: mapKeys{keyID: good}, now: now.Add(-13 * time.Hour), wantErr: "outside the accepted window"},
		{name: "tampered path", keys: mapKeys{keyID: good}, now: now, mutate: func(r *http.Request) { r.URL.Path = "/other" }, wantErr: "does not verify"},
		{name: "wrong key", keys: mapKeys{keyID: {ID: keyID, Owner: good.Owner, Key: &other.PublicKey}}, now: now, wantErr: "does not verify"},
		{name: "no digest signed", keys: mapKeys{keyID: good}, now: now, mutate: func(r *http.Request) {
			r.Header.Set("Signature", strings.Replace(r.Header.Get("Signature"), " digest", "", 1))
		}, wantErr: "digest is not among"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := signedPost(t, key, keyID, "http://127.0.0.1:8080/inbox", body, now)
			if tc.mutate != nil {
				tc.mutate(r)
			}
			v := &SignatureVerifier{Keys: tc.keys, Now: func() time.Time { return tc.now }}
			got, err := v.Verify(context.Background(), r, body)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if got.Owner != good.Owner {
					t.Errorf("owner %q", got.Owner)
				}
				return
			}
			var se *SignatureError
			if err == nil || !errors.As(err, &se) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want a SignatureError containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestSignHostAndHeaders(t *testing.T) {
	key, _ := newTestKey(t)
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct{ url, host string }{
		{"https://mobilizon.test/inbox", "mobilizon.test"},
		{"https://mobilizon.test:443/inbox", "mobilizon.test"},
		{"http://127.0.0.2:8081/inbox", "127.0.0.2:8081"},
		{"http://[::1]:80/inbox", "[::1]"},
	} {
		r := signedPost(t, key, "k", tc.url, []byte("{}"), now)
		if r.Host != tc.host {
			t.Errorf("%s: Host %q, want %q", tc.url, r.Host, tc.host)
		}
		sig := r.Header.Get("Signature")
		if !strings.Contains(sig, `headers="(request-target) host date digest"`) || !strings.Contains(sig, `algorithm="rsa-sha256"`) {
			t.Errorf("%s: Signature %q", tc.url, sig)
		}
		if !strings.HasPrefix(r.Header.Get("Digest"), "SHA-256=") {
			t.Errorf("%s: Digest %q", tc.url, r.Header.Get("Digest"))
		}
	}
	get, _ := http.NewRequest("GET", "https://mobilizon.test/@group", nil)
	if err := (&RequestSigner{KeyID: "k", Key: key}).Sign(get, nil); err != nil {
		t.Fatal(err)
	}
	if sig := get.Header.Get("Signature"); !strings.Contains(sig, `headers="(request-target) host date"`) || get.Header.Get("Digest") != "" {
		t.Errorf("GET signature %q digest %q", sig, get.Header.Get("Digest"))
	}
}

func TestVerifyRefetchesRotatedKey(t *testing.T) {
	oldKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	newKey, _ := newTestKey(t)
	now := time.Now()
	r := signedPost(t, newKey, "kid", "http://127.0.0.1/inbox", []byte("{}"), now)
	keys := &rotatingKeys{old: &PublicKey{ID: "kid", Owner: "o", Key: &oldKey.PublicKey}, fresh: &PublicKey{ID: "kid", Owner: "o", Key: &newKey.PublicKey}}
	if _, err := (&SignatureVerifier{Keys: keys}).Verify(context.Background(), r, []byte("{}")); err != nil {
		t.Fatalf("rotated key not refetched: %v", err)
	}
	if keys.refreshed != 1 {
		t.Errorf("refreshed %d times, want 1", keys.refreshed)
	}
}

// TestVerifyHS2019CreatedExpires checks the signing string passerelle
// rebuilds against go-fed/httpsig's signer in the forms this test vector
// and Fedify do not use: hs2019 with (created) and (expires), the
// Authorization header, a header sent twice, and a query string.
func TestVerifyHS2019CreatedExpires(t *testing.T) {
	key, _ := newTestKey(t)
	keyID := "https://mobilizon.test/@alice#main-key"
	good := &PublicKey{ID: keyID, Owner: "https://mobilizon.test/@alice", Key: &key.PublicKey}
	body := []byte(`{"type":"Create"}`)
	sign := func(t *testing.T, scheme httpsig.SignatureScheme, expiresIn int64) *http.Request {
		r := httptest.NewRequest(http.MethodPost, "http://mobilizon.test/inbox?x=1", bytes.NewReader(body))
		r.Header.Set("Date", time.Now().UTC().Format(http.TimeFormat))
		r.Header.Add("X-Trace", "a")
		r.Header.Add("X-Trace", "b")
		headers := []string{httpsig.RequestTarget, "host", "date", "digest", "x-trace"}
		if expiresIn > 0 {
			headers = append(headers, "(created)", "(expires)")
		}
		signer, _, err := httpsig.NewSigner([]httpsig.Algorithm{httpsig.RSA_SHA256}, httpsig.DigestSha256, headers, scheme, expiresIn)
		if err != nil {
			t.Fatal(err)
		}
		r.Header.Set("Host", r.Host)
		if err := signer.SignRequest(key, keyID, r, body); err != nil {
			t.Fatal(err)
		}
		r.Header.Del("Host")
		return r
	}
	v := &SignatureVerifier{Keys: mapKeys{keyID: good}}
	for name, r := range map[string]*http.Request{
		"Signature, created and expires": sign(t, httpsig.Signature, 300),
		"Authorization":                  sign(t, httpsig.Authorization, 0),
	} {
		t.Run(name, func(t *testing.T) {
			if got, err := v.Verify(context.Background(), r, body); err != nil || got.Owner != good.Owner {
				t.Fatalf("refused: %v", err)
			}
			r.Header.Set("X-Trace", "a")
			if _, err := v.Verify(context.Background(), r, body); err == nil || !strings.Contains(err.Error(), "does not verify") {
				t.Fatalf("a changed signed header verified: %v", err)
			}
		})
	}
	t.Run("expired", func(t *testing.T) {
		r := sign(t, httpsig.Signature, 300)
		late := &SignatureVerifier{Keys: mapKeys{keyID: good}, Now: func() time.Time { return time.Now().Add(time.Hour) }}
		if _, err := late.Verify(context.Background(), r, body); err == nil || !strings.Contains(err.Error(), "expired") {
			t.Fatalf("an expired signature: %v", err)
		}
	})
}

// TestVerifyBehindAProxy (issue 14, point 2): nginx with its default
// settings forwards its upstream's Host (127.0.0.1:8080); the sender signed
// public_url's host. The signature is checked against public_url's host, a
// proxy that rewrites Host is named once at WARN with the fix, and a
// signature made for another name of this server is refused saying so.
func TestVerifyBehindAProxy(t *testing.T) {
	key, _ := newTestKey(t)
	now := time.Date(2025, 4, 10, 20, 10, 35, 0, time.UTC)
	keyID := "https://mobilizon.test/@alice#main-key"
	keys := mapKeys{keyID: {ID: keyID, Owner: "https://mobilizon.test/@alice", Key: &key.PublicKey}}
	body := []byte(`{"type":"Create"}`)
	var logs strings.Builder
	v := &SignatureVerifier{Keys: keys, Now: func() time.Time { return now }, Host: "events.example.org",
		Log: slog.New(slog.NewTextHandler(&logs, nil))}

	for i := range 2 {
		r := signedPost(t, key, keyID, "https://events.example.org/inbox", body, now)
		r.Host = "127.0.0.1:8080" // what the proxy forwarded
		if _, err := v.Verify(context.Background(), r, body); err != nil {
			t.Fatalf("request %d through a proxy that rewrites Host: %v", i, err)
		}
	}
	if n := strings.Count(logs.String(), "your reverse proxy rewrites Host"); n != 1 || !strings.Contains(logs.String(), "level=WARN") ||
		!strings.Contains(logs.String(), "proxy_set_header Host $host") || !strings.Contains(logs.String(), "arrived_host=127.0.0.1:8080") {
		t.Errorf("the rewrite was logged %d times (want once, at WARN, with the fix):\n%s", n, logs.String())
	}

	logs.Reset()
	r := signedPost(t, key, keyID, "https://old-name.example.org/inbox", body, now)
	_, err := v.Verify(context.Background(), r, body)
	var se *SignatureError
	if !errors.As(err, &se) || !strings.Contains(err.Error(), "signed for host old-name.example.org, but this server is events.example.org (public_url)") {
		t.Errorf("a signature for another name: %v", err)
	}
	if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "set public_url to the address other servers use") {
		t.Errorf("the host mismatch was not explained at WARN:\n%s", logs.String())
	}

	// Without a configured host (unit use), the request's own Host counts.
	r = signedPost(t, key, keyID, "http://127.0.0.1:8080/inbox", body, now)
	if _, err := (&SignatureVerifier{Keys: keys, Now: func() time.Time { return now }}).Verify(context.Background(), r, body); err != nil {
		t.Errorf("no Host configured: %v", err)
	}
}
