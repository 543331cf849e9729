package outbound

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestPublicAddress(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1": false, "127.0.0.2": false, "10.1.2.3": false, "172.16.0.1": false,
		"192.168.1.1": false, "169.254.169.254": false, "0.0.0.0": false, "100.64.0.1": false,
		"::1": false, "fe80::1": false, "fc00::1": false, "::ffff:127.0.0.1": false, "::ffff:10.0.0.1": false,
		"93.184.216.34": true, "2606:4700::6810:85e5": true,
	} {
		if got := PublicAddress(netip.MustParseAddr(addr)); got != want {
			t.Errorf("PublicAddress(%s) = %v, want %v", addr, got, want)
		}
	}
}

func TestClientRefusesPrivateAddressesAtDial(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("{}")) }))
	defer srv.Close()
	port := srv.URL[strings.LastIndex(srv.URL, ":"):]

	strict := New(Options{Timeout: 5 * time.Second})
	// "localhost" is resolved by DNS first; the dial-time check sees 127.0.0.1.
	for _, u := range []string{srv.URL, "http://localhost" + port} {
		_, err := strict.Get(u)
		if !errors.Is(err, ErrPrivateAddress) {
			t.Errorf("GET %s without the allow flag: err = %v, want ErrPrivateAddress", u, err)
		}
	}
	open := New(Options{AllowPrivateNetworks: true, Timeout: 5 * time.Second})
	resp, err := open.Get(srv.URL)
	if err != nil {
		t.Fatalf("with allow_private_networks: %v", err)
	}
	resp.Body.Close()
}
