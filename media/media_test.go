package media

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"codeberg.org/passerelle/passerelle/federation/policy"
	"codeberg.org/passerelle/passerelle/internal/outbound"
)

// Images of each accepted type, small.
func samplePNG(t testing.TB, w, h int) []byte {
	var b bytes.Buffer
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	img.Set(0, 0, color.NRGBA{R: 200, A: 255})
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// pngHeader is a PNG signature and IHDR chunk declaring w×h pixels and
// nothing else: a decompression bomb's header costs 33 bytes.
func pngHeader(w, h uint32) []byte {
	var ihdr bytes.Buffer
	ihdr.WriteString("IHDR")
	binary.Write(&ihdr, binary.BigEndian, w)
	binary.Write(&ihdr, binary.BigEndian, h)
	ihdr.Write([]byte{8, 6, 0, 0, 0})
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	binary.Write(&b, binary.BigEndian, uint32(13))
	b.Write(ihdr.Bytes())
	binary.Write(&b, binary.BigEndian, crc32.ChecksumIEEE(ihdr.Bytes()))
	return b.Bytes()
}

func webpVP8X(w, h int) []byte {
	b := []byte("RIFF\x00\x00\x00\x00WEBPVP8X\x0a\x00\x00\x00\x00\x00\x00\x00")
	w, h = w-1, h-1
	return append(b, byte(w), byte(w>>8), byte(w>>16), byte(h), byte(h>>8), byte(h>>16))
}

func avif(w, h uint32) []byte {
	var b bytes.Buffer
	b.Write([]byte{0, 0, 0, 0x1c})
	b.WriteString("ftypavif\x00\x00\x00\x00avifmif1miaf")
	b.Write([]byte{0, 0, 0, 0x14})
	b.WriteString("ispe\x00\x00\x00\x00")
	binary.Write(&b, binary.BigEndian, w)
	binary.Write(&b, binary.BigEndian, h)
	return b.Bytes()
}

func TestSniff(t *testing.T) {
	var jpg, gf bytes.Buffer
	jpeg.Encode(&jpg, image.NewRGBA(image.Rect(0, 0, 40, 30)), nil)
	gif.Encode(&gf, image.NewPaletted(image.Rect(0, 0, 4, 4), color.Palette{color.Black, color.White}), nil)
	for _, c := range []struct {
		name string
		body []byte
		want string // "" means refused
	}{
		{"png", samplePNG(t, 12, 8), "image/png"},
		{"jpeg", jpg.Bytes(), "image/jpeg"},
		{"gif", gf.Bytes(), "image/gif"},
		{"webp", webpVP8X(1200, 600), "image/webp"},
		{"avif", avif(1200, 600), "image/avif"},
		{"svg", []byte(`<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>`), ""},
		{"html", []byte("<!DOCTYPE html><script>alert(1)</script>"), ""},
		{"empty", nil, ""},
		{"png bomb 20000x20000", pngHeader(20000, 20000), ""},
		{"png too wide", pngHeader(10001, 10), ""},
		{"png over 50 megapixels", pngHeader(8000, 7000), ""},
		{"png at the limits", pngHeader(10000, 5000), "image/png"},
		{"webp bomb", webpVP8X(16000, 16000), ""},
		{"avif bomb", avif(20000, 20000), ""},
		{"avif with no size", avif(0, 0), ""},
		{"truncated webp", []byte("RIFF\x00\x00\x00\x00WEBPVP8 "), ""},
	} {
		got, err := Sniff(c.body)
		if c.want == "" {
			if err == nil || !errors.Is(err, ErrRefused) {
				t.Errorf("%s: Sniff = %q, %v; want ErrRefused", c.name, got, err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%s: Sniff = %q, %v; want %s", c.name, got, err, c.want)
		}
	}
}

// imageServer answers each path with a body and a Content-Type that
// claims an image whatever the body is.
func imageServer(t *testing.T, bodies map[string][]byte) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/huge.png" {
			w.Header().Set("Content-Type", "image/png")
			// A PNG that goes on for a gigabyte, with no length.
			w.Write(samplePNG(t, 2, 2))
			zero := make([]byte, 64<<10)
			for i := 0; i < (1<<30)/len(zero); i++ {
				if _, err := w.Write(zero); err != nil {
					return
				}
			}
			return
		}
		b, ok := bodies[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "image/png")
		w.Write(b)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestFetch(t *testing.T) {
	srv := imageServer(t, map[string][]byte{
		"/banner.png": samplePNG(t, 30, 20),
		"/evil.png":   []byte(`<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>`),
		"/page.png":   []byte("<html><body>hi</body></html>"),
		"/bomb.png":   pngHeader(20000, 20000),
	})
	f := &Fetcher{Client: outbound.New(outbound.Options{AllowPrivateNetworks: true, Timeout: 10 * time.Second}), AllowPrivate: true}
	ctx := context.Background()
	img, err := f.Fetch(ctx, srv.URL+"/banner.png")
	if err != nil || img.Type != "image/png" || len(img.Body) == 0 {
		t.Fatalf("Fetch banner = %+v, %v", img, err)
	}
	for _, p := range []string{"/evil.png", "/page.png", "/bomb.png", "/huge.png", "/gone.png"} {
		start := time.Now()
		_, err := f.Fetch(ctx, srv.URL+p)
		if !errors.Is(err, ErrRefused) {
			t.Errorf("Fetch %s: %v, want ErrRefused", p, err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("Fetch %s took %s", p, d)
		}
		t.Logf("%s: %v", p, err)
	}
}

func TestFetchRefusesBlockedDomain(t *testing.T) {
	hit := false
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hit = true }))
	defer srv.Close()
	f := &Fetcher{Client: outbound.New(outbound.Options{AllowPrivateNetworks: true}), AllowPrivate: true,
		Policy: &policy.Policy{Block: []string{"127.0.0.1"}}}
	_, err := f.Fetch(context.Background(), srv.URL+"/banner.png")
	if !errors.Is(err, ErrRefused) || hit {
		t.Fatalf("blocked domain: err %v, fetched %v", err, hit)
	}
	// A redirect to a blocked domain is refused too.
	f.Policy = &policy.Policy{Block: []string{"blocked.test"}}
	redirect := httptest.NewServer(http.RedirectHandler("http://blocked.test/banner.png", http.StatusFound))
	defer redirect.Close()
	if _, err := f.Fetch(context.Background(), redirect.URL); !errors.Is(err, ErrRefused) {
		t.Fatalf("redirect to a blocked domain: %v", err)
	}
}

// publicFront answers for a public host that the test cannot reach,
// and passes every other request to the real outbound transport.
type publicFront struct {
	host     string
	location string
	next     http.RoundTripper
}

func (p publicFront) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Host != p.host {
		return p.next.RoundTrip(r)
	}
	return &http.Response{StatusCode: http.StatusFound, Header: http.Header{"Location": {p.location}},
		Body: io.NopCloser(strings.NewReader("")), Request: r}, nil
}

func TestFetchRefusesRedirectToPrivateAddress(t *testing.T) {
	hit := false
	inside := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hit = true
		w.Write(samplePNG(t, 2, 2))
	}))
	defer inside.Close()
	client := outbound.New(outbound.Options{Timeout: 5 * time.Second})
	client.Transport = publicFront{host: "media.example", location: inside.URL + "/banner.png", next: client.Transport}
	f := &Fetcher{Client: client}
	_, err := f.Fetch(context.Background(), "https://media.example/banner.png")
	if !errors.Is(err, ErrRefused) || !errors.Is(err, outbound.ErrPrivateAddress) && !strings.Contains(err.Error(), "private") || hit {
		t.Fatalf("redirect to %s: err %v, reached %v", inside.URL, err, hit)
	}
	t.Log(err)
}
