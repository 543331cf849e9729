package signing

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-fed/httpsig"
)

// DefaultDateWindow is how far a signed request's Date may be from our
// clock: Mobilizon's ±12 hours, generous for peers with drifting clocks
// and still useless to a replay of an old capture.
const DefaultDateWindow = 12 * time.Hour

// RequestSigner signs outgoing requests as one local actor (draft-cavage
// HTTP Signatures, rsa-sha256), which is what Mobilizon, Mastodon in
// secure mode, Gancio and Fedify all check.
type RequestSigner struct {
	// KeyID is the actor's key id ("<actor>#main-key").
	KeyID string
	Key   *rsa.PrivateKey
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Sign sets Host, Date (and for a body, Digest) and the Signature header
// on r. A GET signs "(request-target) host date", a request with a body
// also "digest". body must be the exact bytes that will be sent.
func (s *RequestSigner) Sign(r *http.Request, body []byte) error {
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	host := CanonicalHost(r.URL)
	r.Host = host
	r.Header.Set("Host", host)
	r.Header.Set("Date", now().UTC().Format(http.TimeFormat))
	headers := []string{httpsig.RequestTarget, "host", "date"}
	var digestBody []byte
	if body != nil || r.Method == http.MethodPost {
		headers = append(headers, "digest")
		digestBody = body
		if digestBody == nil {
			digestBody = []byte{}
		}
		r.Header.Del("Digest")
	}
	signer, _, err := httpsig.NewSigner([]httpsig.Algorithm{httpsig.RSA_SHA256}, httpsig.DigestSha256, headers, httpsig.Signature, 0)
	if err != nil {
		return fmt.Errorf("prepare signer: %w", err)
	}
	if err := signer.SignRequest(s.Key, s.KeyID, r, digestBody); err != nil {
		return fmt.Errorf("sign %s %s: %w", r.Method, r.URL, err)
	}
	// go-fed/httpsig names every RSA signature "hs2019"; peers such as
	// older Pleroma and Gancio want the explicit rsa-sha256 the issue and
	// the fediverse use. The parameter is not part of the signed string.
	r.Header.Set("Signature", strings.Replace(r.Header.Get("Signature"), `algorithm="hs2019"`, `algorithm="rsa-sha256"`, 1))
	// go-fed/httpsig sends Host only in the signature string; the transport
	// uses r.Host, which is the same value.
	r.Header.Del("Host")
	return nil
}

// CanonicalHost is the Host header value for u: the port only when it is
// not the scheme's default, as both sides of a signature must agree.
func CanonicalHost(u *url.URL) string {
	host, port := u.Hostname(), u.Port()
	if port == "" || (u.Scheme == "https" && port == "443") || (u.Scheme == "http" && port == "80") {
		if strings.Contains(host, ":") {
			return "[" + host + "]"
		}
		return host
	}
	return net.JoinHostPort(host, port)
}

// PublicKey is a remote actor's key as its actor document publishes it.
type PublicKey struct {
	// ID is the key id, Owner the actor that owns it.
	ID    string
	Owner string
	Key   *rsa.PublicKey
}

// KeyResolver finds the public key a signature names. refresh asks it to
// bypass its cache (the key may have been rotated).
type KeyResolver interface {
	PublicKey(ctx context.Context, keyID string, refresh bool) (*PublicKey, error)
}

// SignatureError says why a request's signature is refused; its text is
// short enough to be the body of the 401 answer.
type SignatureError struct{ Reason string }

func (e *SignatureError) Error() string { return "signature refused: " + e.Reason }

func sigErr(format string, args ...any) error {
	return &SignatureError{Reason: fmt.Sprintf(format, args...)}
}

// SignatureVerifier checks incoming signed requests.
type SignatureVerifier struct {
	Keys KeyResolver
	// Window bounds |Date - now|; zero means DefaultDateWindow.
	Window time.Duration
	Now    func() time.Time
	// Host is public_url's host (canonicalHost), which senders sign: the
	// signed host is checked against it, not against the Host a reverse
	// proxy forwards (nginx sends its upstream's unless told otherwise).
	// Empty: the request's own Host.
	Host string
	// Log hears of proxies that rewrite Host and of senders that sign
	// another host; nil: slog's default.
	Log *slog.Logger

	rewriteOnce sync.Once
}

// Verify checks r's draft-cavage signature over body and returns the
// signing key (whose Owner the caller compares with the activity's actor).
// It requires (request-target), host and date to be signed, and digest
// when there is a body; checks the Digest against the body and the Date
// against the window; and refetches the key once when verification fails,
// in case it was rotated. Errors that are the request's fault are
// *SignatureError.
func (v *SignatureVerifier) Verify(ctx context.Context, r *http.Request, body []byte) (*PublicKey, error) {
	return v.verify(ctx, r, body, signatureParams(r))
}

// KeyID is the keyId the request's signature names, or "" when it has
// none: it tells the inbox the sender's host before the body is read.
func KeyID(r *http.Request) string {
	return signatureParams(r)["keyId"]
}

// signatureParams parses the request's Signature header, or else an
// Authorization: Signature one; nil when it has neither.
func signatureParams(r *http.Request) map[string]string {
	if params := parseSignatureParams(r.Header.Get("Signature")); params != nil {
		return params
	}
	if a, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Signature "); ok {
		return parseSignatureParams(a)
	}
	return nil
}

// verify is Verify with the Signature parameters already parsed.
func (v *SignatureVerifier) verify(ctx context.Context, r *http.Request, body []byte, params map[string]string) (*PublicKey, error) {
	now := time.Now
	if v.Now != nil {
		now = v.Now
	}
	window := v.Window
	if window <= 0 {
		window = DefaultDateWindow
	}
	if params == nil {
		return nil, sigErr("request is not signed (no Signature header)")
	}
	signed := strings.Fields(strings.ToLower(params["headers"]))
	if len(signed) == 0 {
		signed = []string{"date"}
	}
	for _, h := range []string{"(request-target)", "host", "date"} {
		if !slices.Contains(signed, h) {
			return nil, sigErr("%s is not among the signed headers", h)
		}
	}
	if len(body) > 0 && !slices.Contains(signed, "digest") {
		return nil, sigErr("digest is not among the signed headers")
	}
	date, err := http.ParseTime(r.Header.Get("Date"))
	if err != nil {
		return nil, sigErr("missing or malformed Date header")
	}
	if d := now().Sub(date); d > window || d < -window {
		return nil, sigErr("Date %s is outside the accepted window of ±%s", r.Header.Get("Date"), window)
	}
	if slices.Contains(signed, "digest") || r.Header.Get("Digest") != "" {
		if err := checkDigest(r.Header.Values("Digest"), body); err != nil {
			return nil, err
		}
	}
	hash := crypto.SHA256
	switch a := strings.ToLower(params["algorithm"]); a {
	case "", "rsa-sha256", "hs2019":
	case "rsa-sha512":
		hash = crypto.SHA512
	default:
		return nil, sigErr("unsupported signature algorithm %q (want rsa-sha256 or hs2019)", a)
	}
	keyID := params["keyId"]
	if keyID == "" {
		return nil, sigErr("Signature has no keyId")
	}
	sig, err := base64.StdEncoding.DecodeString(params["signature"])
	if err != nil || len(sig) == 0 {
		return nil, sigErr("malformed Signature header: the signature is not base64")
	}
	arrived := requestHost(r)
	host := v.Host
	if host == "" {
		host = arrived
	}
	digestFor := func(host string) ([]byte, error) {
		toSign, err := signingString(r, signed, params, now(), host)
		if err != nil {
			return nil, err
		}
		h := hash.New()
		h.Write([]byte(toSign))
		return h.Sum(nil), nil
	}
	digest, err := digestFor(host)
	if err != nil {
		return nil, err
	}
	key, err := v.Keys.PublicKey(ctx, keyID, false)
	if err != nil {
		return nil, fmt.Errorf("signature key %s: %w", keyID, err)
	}
	if rsa.VerifyPKCS1v15(key.Key, hash, digest, sig) == nil {
		if arrived != host {
			v.rewriteOnce.Do(func() {
				v.log().Warn("requests arrive with another Host than public_url's: your reverse proxy rewrites Host. Signatures are checked against public_url's host, so federation works, but keep the Host header (nginx: proxy_set_header Host $host; Caddy keeps it)",
					"arrived_host", arrived, "public_url_host", host)
			})
		}
		return key, nil
	}
	if arrived != host {
		// Signed for the host the request reached, not public_url's: the
		// sender knows this passerelle under another name.
		if other, err := digestFor(arrived); err == nil && rsa.VerifyPKCS1v15(key.Key, hash, other, sig) == nil {
			v.log().Warn("a signature was made for the host requests arrive with, not public_url's: set public_url to the address other servers use",
				"signed_host", arrived, "public_url_host", host, "key", keyID)
			return nil, sigErr("signed for host %s, but this server is %s (public_url)", arrived, host)
		}
	}
	key, err = v.Keys.PublicKey(ctx, keyID, true)
	if err != nil {
		return nil, fmt.Errorf("signature key %s (refetched): %w", keyID, err)
	}
	if err := rsa.VerifyPKCS1v15(key.Key, hash, digest, sig); err != nil {
		return nil, sigErr("signature does not verify with key %s", keyID)
	}
	return key, nil
}

func (v *SignatureVerifier) log() *slog.Logger {
	if v.Log != nil {
		return v.Log
	}
	return slog.Default()
}

// requestHost is the Host a request arrived with (Go moves it out of the
// header map into r.Host).
func requestHost(r *http.Request) string {
	host := r.Host
	if hv := r.Header.Values("Host"); len(hv) > 0 {
		host = hv[0]
	}
	return strings.TrimSpace(host)
}

// signingString rebuilds what the sender signed (draft-cavage-http-
// signatures-12 §2.3): each signed header as "name: value", multiple
// values joined by ", ", lines joined by "\n"; (request-target) is the
// lower-cased method and the path with its query, as go-fed/httpsig,
// Mastodon and Fedify build it; (created) and (expires) come from the
// Signature parameters, checked against the clock with 10 s of slack.
func signingString(r *http.Request, signed []string, params map[string]string, now time.Time, host string) (string, error) {
	var b strings.Builder
	b.Grow(256)
	for i, h := range signed {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(h)
		b.WriteString(": ")
		switch h {
		case "(request-target)":
			b.WriteString(strings.ToLower(r.Method))
			b.WriteByte(' ')
			b.WriteString(r.URL.Path)
			if r.URL.RawQuery != "" {
				b.WriteByte('?')
				b.WriteString(r.URL.RawQuery)
			}
		case "(created)", "(expires)":
			name := strings.Trim(h, "()")
			t, err := strconv.ParseInt(params[name], 10, 64)
			if err != nil {
				return "", sigErr("%s is signed but the %s parameter is missing or malformed", h, name)
			}
			if name == "created" && t > now.Unix()+10 {
				return "", sigErr("the signature was created in the future")
			}
			if name == "expires" && now.Unix()-t > 10 {
				return "", sigErr("the signature expired")
			}
			b.WriteString(params[name])
		case "host":
			if host == "" {
				return "", sigErr("signed header host is missing")
			}
			b.WriteString(host)
		default:
			values := r.Header.Values(h)
			if len(values) == 0 {
				return "", sigErr("signed header %s is missing", h)
			}
			for j, v := range values {
				if j > 0 {
					b.WriteString(", ")
				}
				b.WriteString(strings.TrimSpace(v))
			}
		}
	}
	return b.String(), nil
}

// parseSignatureParams splits `keyId="…",headers="…"` into a map; nil
// when s is empty.
func parseSignatureParams(s string) map[string]string {
	if strings.TrimSpace(s) == "" {
		return nil
	}
	out := make(map[string]string, 5)
	for part := range strings.SplitSeq(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			continue
		}
		out[k] = strings.Trim(v, `"`)
	}
	return out
}

// checkDigest compares the Digest header (RFC 3230: "SHA-256=base64", maybe
// several, comma separated) with the body; at least one known algorithm
// must be present and all known ones must match.
func checkDigest(values []string, body []byte) error {
	matched := false
	for _, v := range values {
		for d := range strings.SplitSeq(v, ",") {
			algo, sum, ok := strings.Cut(strings.TrimSpace(d), "=")
			if !ok {
				continue
			}
			var want []byte
			switch strings.ToUpper(algo) {
			case "SHA-256":
				s := sha256.Sum256(body)
				want = s[:]
			case "SHA-512":
				s := sha512.Sum512(body)
				want = s[:]
			default:
				continue
			}
			got, err := base64.StdEncoding.DecodeString(sum)
			if err != nil || string(got) != string(want) {
				return sigErr("Digest does not match the body")
			}
			matched = true
		}
	}
	if !matched {
		return sigErr("missing Digest header (want SHA-256=…)")
	}
	return nil
}
