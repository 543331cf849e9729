// Package outbound is passerelle's one client for requests to other
// servers: ActivityPub fetches and deliveries, Mastodon API calls. It
// refuses loopback, private and other internal addresses at dial time,
// after DNS, unless a deployment allows private networks (tests, closed
// networks), so that no remote document can make passerelle probe its own
// network.
package outbound

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"syscall"
	"time"
)

// ErrPrivateAddress is returned when a request would reach a loopback,
// private, link-local or otherwise internal address and private networks
// are not allowed: a remote document must never make passerelle probe its
// own network.
var ErrPrivateAddress = errors.New("refusing to connect to a private, loopback or link-local address (set federation.allow_private_networks to allow it)")

// Options tune the client.
type Options struct {
	// AllowPrivateNetworks lets requests reach internal addresses and use
	// plain http (tests, private deployments).
	AllowPrivateNetworks bool
	// Timeout bounds a whole request; zero means 30 seconds.
	Timeout time.Duration
	// UserAgent is sent with every request.
	UserAgent string
}

// New returns the outbound client: every ActivityPub fetch and delivery
// and every Mastodon API call goes through one. Addresses are checked at dial time, after
// DNS resolution, so a name that resolves to 127.0.0.1 is caught too (the
// GoToSocial way); redirects are followed at most five times, each one
// dialled through the same check.
func New(opts Options) *http.Client {
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	dialer := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	if !opts.AllowPrivateNetworks {
		dialer.Control = func(network, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil {
				return fmt.Errorf("dial %s: %w", address, err)
			}
			if !PublicAddress(ap.Addr()) {
				return fmt.Errorf("dial %s: %w", address, ErrPrivateAddress)
			}
			return nil
		}
	}
	transport := &http.Transport{
		Proxy:                 nil,
		DialContext:           dialer.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          100,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: timeout,
		ExpectContinueTimeout: time.Second,
	}
	return &http.Client{
		Transport: &userAgentTransport{next: transport, ua: opts.UserAgent},
		Timeout:   timeout,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 5 {
				return errors.New("stopped after 5 redirects")
			}
			if req.URL.Scheme != "https" && !opts.AllowPrivateNetworks {
				return fmt.Errorf("redirect to %s: only https is allowed", req.URL)
			}
			return nil
		},
	}
}

type userAgentTransport struct {
	next http.RoundTripper
	ua   string
}

func (t *userAgentTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if t.ua != "" && r.Header.Get("User-Agent") == "" {
		r = r.Clone(r.Context())
		r.Header.Set("User-Agent", t.ua)
	}
	return t.next.RoundTrip(r)
}

// reserved are ranges that are not the public internet beyond what
// netip's predicates know: CGNAT, benchmarking, documentation, 6to4 relay,
// NAT64 and the IPv4 "this network" and reserved blocks.
var reserved = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("192.0.2.0/24"),
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("198.51.100.0/24"),
	netip.MustParsePrefix("203.0.113.0/24"),
	netip.MustParsePrefix("240.0.0.0/4"),
	netip.MustParsePrefix("64:ff9b::/96"),
	netip.MustParsePrefix("2001:db8::/32"),
}

// PublicAddress reports whether a is a public unicast address that the
// outbound client may reach without the private-networks flag.
func PublicAddress(a netip.Addr) bool {
	a = a.Unmap()
	if !a.IsValid() || a.IsLoopback() || a.IsPrivate() || a.IsLinkLocalUnicast() ||
		a.IsLinkLocalMulticast() || a.IsInterfaceLocalMulticast() || a.IsMulticast() || a.IsUnspecified() {
		return false
	}
	for _, p := range reserved {
		if p.Contains(a) {
			return false
		}
	}
	return true
}

// CheckURL refuses URLs the outbound client must never be pointed at:
// anything but https (plain http only with private networks allowed), no
// host, or credentials in the URL.
func CheckURL(raw string, allowPrivate bool) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("parse URL %q: %w", raw, err)
	}
	switch {
	case u.Scheme != "https" && !(u.Scheme == "http" && allowPrivate):
		return nil, fmt.Errorf("URL %q: only https URLs are allowed (plain http needs federation.allow_private_networks)", raw)
	case u.Host == "" || u.Hostname() == "":
		return nil, fmt.Errorf("URL %q has no host", raw)
	case u.User != nil:
		return nil, fmt.Errorf("URL %q must not carry credentials", raw)
	}
	return u, nil
}

// ReadLimited reads at most limit bytes of body, failing when there are
// more: a remote server cannot make passerelle buffer without bound.
func ReadLimited(body io.Reader, limit int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(body, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("response larger than %d bytes", limit)
	}
	return b, nil
}
