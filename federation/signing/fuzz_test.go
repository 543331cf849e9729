package signing

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"codeberg.org/passerelle/passerelle/internal/fuzzbound"
)

// FuzzSignatureHeaders fuzzes what a sender controls in a signed inbox
// POST: the Signature and Authorization headers, Digest and Date, over the
// draft-cavage spec's own signed request (seeded as it verifies). Beyond
// bounded time and memory: a request is accepted only with the known key,
// with (request-target), host, date and digest signed, and with a Digest
// that is the body's; every refusal that is the request's fault is a
// *SignatureError (a 401 naming the reason), the only other error being
// the key lookup's.
func FuzzSignatureHeaders(f *testing.F) {
	sum := sha256.Sum256([]byte(specBody))
	digest := "SHA-256=" + base64.StdEncoding.EncodeToString(sum[:])
	f.Add(specSignature, "", digest, specDate)
	f.Add("", "Signature "+specSignature, digest, specDate)
	f.Add(strings.Replace(specSignature, "rsa-sha256", "hs2019", 1), "", digest+",SHA-512=AAAA", specDate)
	f.Add(`keyId="Test",headers="(request-target) (created) (expires) host date digest",created=1388957500,expires=1388957600,signature="AAAA"`, "", digest, specDate)
	f.Add(`keyId="Test",signature="not base64!"`, "Signature keyId=\"x\"", "MD5=abc", "yesterday")
	f.Add(`,,=,"=",keyId=,headers="",`, "Signature ", "SHA-256=", "")

	pkix, err := ParsePublicKeyPEM(specPublicKeyPEM)
	if err != nil {
		f.Fatal(err)
	}
	keys := mapKeys{"Test": {ID: "Test", Owner: "https://example.com/actor", Key: pkix}}
	specTime, _ := http.ParseTime(specDate)
	v := &SignatureVerifier{Keys: keys, Now: func() time.Time { return specTime.Add(time.Minute) }}

	f.Fuzz(func(t *testing.T, signature, authorization, digestHeader, date string) {
		r, err := http.NewRequest("POST", "http://example.com/foo?param=value&pet=dog", strings.NewReader(specBody))
		if err != nil {
			t.Fatal(err)
		}
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set("Content-Length", "18")
		for name, value := range map[string]string{"Signature": signature, "Authorization": authorization, "Digest": digestHeader, "Date": date} {
			if value != "" {
				r.Header.Set(name, value)
			}
		}
		n := len(signature) + len(authorization) + len(digestHeader) + len(date)
		var key *PublicKey
		var verr error
		fuzzbound.Check(t, n, fuzzbound.Limits{Base: 1 << 20, PerByte: 64}, func() {
			key, verr = v.Verify(context.Background(), r, []byte(specBody))
		})
		if verr != nil {
			var se *SignatureError
			if !errors.As(verr, &se) && !strings.Contains(verr.Error(), "unknown key") {
				t.Fatalf("refusal is neither a SignatureError nor the key lookup's: %v", verr)
			}
			return
		}
		params := signatureParams(r)
		signed := strings.Fields(strings.ToLower(params["headers"]))
		for _, h := range []string{"(request-target)", "host", "date", "digest"} {
			if !slices.Contains(signed, h) {
				t.Fatalf("accepted a signature that does not cover %s: %q", h, params["headers"])
			}
		}
		if key == nil || key.ID != "Test" || params["keyId"] != "Test" {
			t.Fatalf("accepted with key %+v for keyId %q", key, params["keyId"])
		}
		if checkDigest(r.Header.Values("Digest"), []byte(specBody)) != nil {
			t.Fatalf("accepted with a Digest that is not the body's: %q", digestHeader)
		}
	})
}
