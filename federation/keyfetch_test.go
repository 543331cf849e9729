package federation

import (
	"bytes"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"

	"codeberg.org/passerelle/passerelle/federation/signing"
)

// postSignedAs posts a Create from actor, signed with keyID by a key
// nobody publishes, and returns the answer's status and Retry-After.
func postSignedAs(t *testing.T, inbox, actor, keyID string) (int, string) {
	t.Helper()
	body, err := json.Marshal(map[string]any{"id": actor + "/c/1", "type": "Create", "actor": actor, "object": actor + "/e/1"})
	if err != nil {
		t.Error(err)
		return 0, ""
	}
	req, _ := http.NewRequest(http.MethodPost, inbox, bytes.NewReader(body))
	req.Header.Set("Content-Type", contentTypeActivity)
	if err := (&signing.RequestSigner{KeyID: keyID, Key: testKey(t, 3)}).Sign(req, body); err != nil {
		t.Error(err)
		return 0, ""
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Error(err)
		return 0, ""
	}
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("Retry-After")
}

// TestBadKeyIDFetchedOnce: 50 requests naming one keyId whose actor does
// not exist, half of them at once, make one outbound GET (they made 50):
// concurrent ones share the fetch, later ones get the remembered failure.
func TestBadKeyIDFetchedOnce(t *testing.T) {
	h := newHarness(t, Options{})
	var gets atomic.Int32
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gets.Add(1)
		http.NotFound(w, r)
	}))
	t.Cleanup(origin.Close)
	actor := origin.URL + "/@ghost"
	inbox := h.srv.URL + "/inbox"
	var wg sync.WaitGroup
	for range 25 {
		wg.Go(func() {
			if code, _ := postSignedAs(t, inbox, actor, actor+"#main-key"); code != http.StatusUnauthorized {
				t.Errorf("HTTP %d, want 401", code)
			}
		})
	}
	wg.Wait()
	for range 25 {
		if code, _ := postSignedAs(t, inbox, actor, actor+"#main-key"); code != http.StatusUnauthorized {
			t.Errorf("HTTP %d, want 401", code)
		}
	}
	if n := gets.Load(); n != 1 {
		t.Errorf("%d GETs of the key, want 1", n)
	}
}

// TestKeyFetchTarpit: requests naming keys on a server that accepts
// connections and never answers hold at most maxKeyFetches outbound
// connections; the requests beyond are refused at once with a 503 and
// Retry-After, not queued.
func TestKeyFetchTarpit(t *testing.T) {
	h := newHarness(t, Options{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	held := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(conns)
	}
	release := func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	}
	t.Cleanup(release)

	const requests = 3 * maxKeyFetches
	inbox := h.srv.URL + "/inbox"
	var refused atomic.Int32
	var wg sync.WaitGroup
	for i := range requests {
		actor := "http://" + ln.Addr().String() + "/@a" + string(rune('a'+i%26)) + string(rune('a'+i/26))
		wg.Go(func() {
			code, retry := postSignedAs(t, inbox, actor, actor+"#main-key")
			if code == http.StatusServiceUnavailable && retry != "" {
				refused.Add(1)
			}
		})
	}
	eventually(t, "the requests beyond the cap refused", func() bool {
		return refused.Load() == requests-maxKeyFetches && held() == maxKeyFetches
	})
	if n := held(); n != maxKeyFetches {
		t.Errorf("%d connections to the tarpit, want %d", n, maxKeyFetches)
	}
	release()
	wg.Wait()
	if n := refused.Load(); n != requests-maxKeyFetches {
		t.Errorf("%d requests refused with 503, want %d", n, requests-maxKeyFetches)
	}
}
