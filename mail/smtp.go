package mail

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"sync"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// SMTP sends mail through the relay of mail.smtp: smtp:// (plain, for a
// local relay), smtp+starttls:// or smtps:// (implicit TLS), with optional
// user:pass@ for AUTH PLAIN.
type SMTP struct {
	addr     string
	scheme   string
	user     string
	password string
	// TLS is the client TLS configuration; nil means the system roots and
	// the URL's host name.
	TLS *tls.Config
	// Timeout bounds each connection: dial, commands, and the whole
	// submission. Zero means 1 minute.
	Timeout time.Duration
	// HelloName is the EHLO name; empty means "localhost".
	HelloName string
}

// ParseSMTP reads a mail.smtp URL.
func ParseSMTP(raw string) (*SMTP, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("mail.smtp: %w", err)
	}
	s := &SMTP{scheme: u.Scheme, addr: u.Host}
	switch u.Scheme {
	case "smtp", "smtp+starttls":
		if u.Port() == "" {
			s.addr = net.JoinHostPort(u.Hostname(), map[string]string{"smtp": "25", "smtp+starttls": "587"}[u.Scheme])
		}
	case "smtps":
		if u.Port() == "" {
			s.addr = net.JoinHostPort(u.Hostname(), "465")
		}
	default:
		return nil, fmt.Errorf("mail.smtp: scheme %q: want smtp://, smtp+starttls:// or smtps://", u.Scheme)
	}
	if u.Hostname() == "" {
		return nil, fmt.Errorf("mail.smtp: no host in the URL")
	}
	if u.User != nil {
		s.user = u.User.Username()
		s.password, _ = u.User.Password()
	}
	return s, nil
}

// Addr is host:port of the relay.
func (s *SMTP) Addr() string { return s.addr }

// PermanentError is an SMTP refusal (5xx) that no retry will change.
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return "permanent SMTP failure: " + e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }

// smtpError turns a 5xx reply into a PermanentError; anything else (4xx,
// network trouble, timeouts) stays a temporary error, worth a retry.
func smtpError(err error) error {
	var se *smtp.SMTPError
	if errors.As(err, &se) && se.Code >= 500 && se.Code < 600 {
		return &PermanentError{Err: err}
	}
	return err
}

func (s *SMTP) timeout() time.Duration {
	if s.Timeout > 0 {
		return s.Timeout
	}
	return time.Minute
}

// connect opens a session, with TLS and authentication as the URL says.
func (s *SMTP) connect(ctx context.Context) (*smtp.Client, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout())
	defer cancel()
	host, _, _ := net.SplitHostPort(s.addr)
	tlsConf := s.TLS
	if tlsConf == nil {
		tlsConf = &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
	}
	var conn net.Conn
	var err error
	if s.scheme == "smtps" {
		conn, err = (&tls.Dialer{Config: tlsConf}).DialContext(ctx, "tcp", s.addr)
	} else {
		conn, err = (&net.Dialer{}).DialContext(ctx, "tcp", s.addr)
	}
	if err != nil {
		return nil, fmt.Errorf("connect to SMTP %s: %w", s.addr, err)
	}
	var c *smtp.Client
	if s.scheme == "smtp+starttls" {
		c, err = smtp.NewClientStartTLS(conn, tlsConf)
		if err != nil {
			conn.Close()
			return nil, fmt.Errorf("STARTTLS with %s: %w", s.addr, smtpError(err))
		}
	} else {
		c = smtp.NewClient(conn)
	}
	c.CommandTimeout = s.timeout()
	c.SubmissionTimeout = s.timeout()
	name := s.HelloName
	if name == "" {
		name = "localhost"
	}
	if err := c.Hello(name); err != nil {
		c.Close()
		return nil, fmt.Errorf("EHLO to %s: %w", s.addr, smtpError(err))
	}
	if s.user != "" {
		if err := c.Auth(sasl.NewPlainClient("", s.user, s.password)); err != nil {
			c.Close()
			return nil, fmt.Errorf("authenticate to SMTP %s as %s: %w", s.addr, s.user, smtpError(err))
		}
	}
	return c, nil
}

// Check opens a session and closes it: `check-config --connect`.
func (s *SMTP) Check(ctx context.Context) error {
	c, err := s.connect(ctx)
	if err != nil {
		return err
	}
	return c.Quit()
}

// Send submits one message. A 5xx refusal comes back as a
// *PermanentError; other errors are temporary.
func (s *SMTP) Send(ctx context.Context, from string, to []string, msg io.Reader) error {
	c, err := s.connect(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	if err := c.SendMail(from, to, msg); err != nil {
		return fmt.Errorf("send mail via %s: %w", s.addr, smtpError(err))
	}
	if err := c.Quit(); err != nil {
		// The message was accepted at the end of DATA; a failed QUIT
		// loses nothing.
		return nil
	}
	return nil
}

// RateLimit spaces out sends in this process: at most one per Interval.
// Relays throttle or blacklist bursts; invitations to a whole list can
// wait a few seconds.
type RateLimit struct {
	Interval time.Duration
	mu       sync.Mutex
	next     time.Time
}

// Wait blocks until the next send may go, or ctx ends.
func (r *RateLimit) Wait(ctx context.Context) error {
	if r == nil || r.Interval <= 0 {
		return nil
	}
	r.mu.Lock()
	now := time.Now()
	at := r.next
	if at.Before(now) {
		at = now
	}
	r.next = at.Add(r.Interval)
	r.mu.Unlock()
	t := time.NewTimer(time.Until(at))
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
