package mail

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"codeberg.org/passerelle/passerelle/store"
)

// Watcher watches the mailbox of mail.imap and hands each new mail to the
// Receiver. It waits with IDLE when the server offers it and polls
// otherwise; it reconnects with backoff when the connection drops, and
// restarts IDLE periodically because some servers and NATs silently drop
// idle connections. UIDVALIDITY and the last UID processed are kept in
// the database, so nothing is processed twice or skipped across restarts;
// a lease in the database lets one replica at a time watch.
type Watcher struct {
	DB       *store.DB
	Receiver *Receiver
	// Holder names this replica in the lease.
	Holder string
	// IdleRestart is how long one IDLE lasts before it is renewed, and
	// Poll how often a server without IDLE is asked; 0 means 4 minutes
	// and 30 seconds.
	IdleRestart time.Duration
	Poll        time.Duration
	// LeaseTTL is how long the lease lasts unless renewed; 0 means 1 minute.
	LeaseTTL time.Duration
	// ProcessedFolder is where processed mail is moved (mail.processed_folder);
	// empty leaves it in the mailbox, flagged \Seen.
	ProcessedFolder string
	// TLS overrides the client TLS configuration (tests).
	TLS *tls.Config
	Log *slog.Logger

	scheme, addr, user, password, mailbox string
}

// NewWatcher is the watcher of mail.imap (imap:// or
// imaps://user:pass@host[:port]/MAILBOX) with the settings of w (DB and
// Receiver are required).
func NewWatcher(rawURL string, settings Watcher) (*Watcher, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("mail.imap: %w", err)
	}
	w := &settings
	w.scheme, w.addr, w.mailbox = u.Scheme, u.Host, strings.TrimPrefix(u.Path, "/")
	switch u.Scheme {
	case "imap":
		if u.Port() == "" {
			w.addr = net.JoinHostPort(u.Hostname(), "143")
		}
	case "imaps":
		if u.Port() == "" {
			w.addr = net.JoinHostPort(u.Hostname(), "993")
		}
	default:
		return nil, fmt.Errorf("mail.imap: scheme %q: want imap:// or imaps://", u.Scheme)
	}
	if u.User == nil {
		return nil, fmt.Errorf("mail.imap: no user:password@ in the URL")
	}
	w.user = u.User.Username()
	w.password, _ = u.User.Password()
	if w.mailbox == "" {
		w.mailbox = "INBOX"
	}
	return w, nil
}

func (w *Watcher) log() *slog.Logger {
	if w.Log != nil {
		return w.Log
	}
	return slog.New(slog.DiscardHandler)
}

func orDefault(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// Run watches until ctx ends. Errors are logged and retried with backoff
// (1 s doubling up to 1 min); Run returns only ctx's error.
func (w *Watcher) Run(ctx context.Context) error {
	backoff := time.Second
	ttl := orDefault(w.LeaseTTL, time.Minute)
	for {
		ok, err := w.DB.AcquireLease(ctx, w.mailbox, w.Holder, ttl)
		switch {
		case err != nil:
			w.log().Warn("mail watcher cannot reach the database", "err", err)
		case !ok:
			// Another replica watches; look again before its lease ends.
			backoff = time.Second
			if !sleep(ctx, ttl/3) {
				return ctx.Err()
			}
			continue
		default:
			start := time.Now()
			err = w.session(ctx)
			if ctx.Err() != nil {
				_ = w.DB.ReleaseLease(context.WithoutCancel(ctx), w.mailbox, w.Holder)
				return ctx.Err()
			}
			if time.Since(start) > time.Minute {
				backoff = time.Second
			}
			w.log().Warn("mail watcher disconnected; reconnecting", "err", err, "in", backoff)
		}
		if !sleep(ctx, backoff) {
			return ctx.Err()
		}
		backoff = min(backoff*2, time.Minute)
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// Check logs in and selects the mailbox: `check-config --connect`.
func (w *Watcher) Check(ctx context.Context) error {
	c, err := w.dial(ctx, nil)
	if err != nil {
		return err
	}
	defer c.Close()
	if _, err := c.Select(w.mailbox, &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
		return fmt.Errorf("select %s: %w", w.mailbox, err)
	}
	return c.Logout().Wait()
}

func (w *Watcher) dial(ctx context.Context, h *imapclient.UnilateralDataHandler) (*imapclient.Client, error) {
	opts := &imapclient.Options{UnilateralDataHandler: h, Dialer: &net.Dialer{Timeout: 30 * time.Second}, TLSConfig: w.TLS}
	var c *imapclient.Client
	var err error
	if w.scheme == "imaps" {
		c, err = imapclient.DialTLS(w.addr, opts)
	} else {
		c, err = imapclient.DialInsecure(w.addr, opts)
	}
	if err != nil {
		return nil, fmt.Errorf("connect to IMAP %s: %w", w.addr, err)
	}
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	if err := c.Login(w.user, w.password).Wait(); err != nil {
		c.Close()
		return nil, fmt.Errorf("log in to IMAP %s as %s: %w", w.addr, w.user, err)
	}
	return c, nil
}

// session is one connection: catch up, then wait for news, until the
// connection fails, the lease is lost or ctx ends.
func (w *Watcher) session(ctx context.Context) error {
	news := make(chan struct{}, 1)
	c, err := w.dial(ctx, &imapclient.UnilateralDataHandler{
		Mailbox: func(d *imapclient.UnilateralDataMailbox) {
			if d.NumMessages != nil {
				select {
				case news <- struct{}{}:
				default:
				}
			}
		},
	})
	if err != nil {
		return err
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	sel, err := c.Select(w.mailbox, nil).Wait()
	if err != nil {
		return fmt.Errorf("select %s: %w", w.mailbox, err)
	}
	st, err := w.DB.IMAPState(ctx, w.mailbox)
	if err != nil {
		return err
	}
	if st.UIDValidity != sel.UIDValidity {
		// A new mailbox, or one rebuilt under us: UIDs mean nothing any
		// more. Everything is looked at again; Message-IDs already seen
		// are not processed twice.
		if st.UIDValidity != 0 {
			w.log().Warn("mailbox UIDVALIDITY changed; rescanning it", "mailbox", w.mailbox, "old", st.UIDValidity, "new", sel.UIDValidity)
		}
		st = store.IMAPState{UIDValidity: sel.UIDValidity}
		if err := w.DB.SaveIMAPState(ctx, w.mailbox, st); err != nil {
			return err
		}
	}
	idle := c.Caps().Has(imap.CapIdle)
	ttl := orDefault(w.LeaseTTL, time.Minute)
	for {
		if ok, err := w.DB.AcquireLease(ctx, w.mailbox, w.Holder, ttl); err != nil || !ok {
			return fmt.Errorf("lost the watch lease (err %v)", err)
		}
		if st, err = w.catchUp(ctx, c, st); err != nil {
			return err
		}
		wait := orDefault(w.Poll, 30*time.Second)
		if idle {
			wait = min(orDefault(w.IdleRestart, 4*time.Minute), ttl/2)
		}
		if !idle {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-c.Closed():
				return errors.New("IMAP connection closed")
			case <-time.After(wait):
			}
			if err := c.Noop().Wait(); err != nil {
				return fmt.Errorf("IMAP NOOP: %w", err)
			}
			continue
		}
		cmd, err := c.Idle()
		if err != nil {
			return fmt.Errorf("IMAP IDLE: %w", err)
		}
		select {
		case <-ctx.Done():
		case <-c.Closed():
		case <-news:
		case <-time.After(wait):
		}
		if err := cmd.Close(); err != nil {
			return fmt.Errorf("end IMAP IDLE: %w", err)
		}
		if err := cmd.Wait(); err != nil {
			return fmt.Errorf("IMAP IDLE: %w", err)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
}

// catchUp processes every message above the last UID, in UID order, and
// records each UID once its mail is processed (or deliberately ignored).
func (w *Watcher) catchUp(ctx context.Context, c *imapclient.Client, st store.IMAPState) (store.IMAPState, error) {
	var set imap.UIDSet
	set.AddRange(imap.UID(st.LastUID+1), 0)
	sizes, err := c.Fetch(set, &imap.FetchOptions{UID: true, RFC822Size: true}).Collect()
	if err != nil {
		return st, fmt.Errorf("list new mail: %w", err)
	}
	max := w.Receiver.MaxSize
	if max <= 0 {
		max = DefaultMaxSize
	}
	for _, m := range sizes {
		// "n:*" always names the last message, even below n.
		if uint32(m.UID) <= st.LastUID {
			continue
		}
		if m.RFC822Size > max {
			w.log().Info("incoming mail ignored", "reason", "too large", "uid", m.UID, "size", m.RFC822Size)
		} else if err := w.process(ctx, c, m.UID); err != nil {
			return st, err
		}
		st.LastUID = uint32(m.UID)
		if err := w.DB.SaveIMAPState(ctx, w.mailbox, st); err != nil {
			return st, err
		}
	}
	return st, nil
}

func (w *Watcher) process(ctx context.Context, c *imapclient.Client, uid imap.UID) error {
	section := &imap.FetchItemBodySection{Peek: true}
	msgs, err := c.Fetch(imap.UIDSetNum(uid), &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{section}}).Collect()
	if err != nil {
		return fmt.Errorf("fetch mail %d: %w", uid, err)
	}
	if len(msgs) == 0 {
		return nil // expunged meanwhile
	}
	body := msgs[0].FindBodySection(section)
	out, err := w.Receiver.Receive(ctx, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("process mail %d: %w", uid, err)
	}
	w.log().Debug("mail processed", "uid", uid, "invitation", out.InvitationID, "answer", out.Answer, "ignored", out.Ignored)
	// Processed mail is flagged \Seen, so a person looking at the
	// mailbox sees what passerelle has read.
	if err := c.Store(imap.UIDSetNum(uid), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagSeen}}, nil).Close(); err != nil {
		return fmt.Errorf("flag mail %d seen: %w", uid, err)
	}
	if w.ProcessedFolder == "" {
		return nil
	}
	// A crash between processing and moving leaves the mail here, to be
	// read again: its Message-ID makes that second reading a no-op.
	_, err = c.Move(imap.UIDSetNum(uid), w.ProcessedFolder).Wait()
	if err != nil {
		// The folder may not exist yet (NO [TRYCREATE]): create it, once.
		if cerr := c.Create(w.ProcessedFolder, nil).Wait(); cerr != nil {
			return fmt.Errorf("move mail %d to %s: %w (creating the folder: %v)", uid, w.ProcessedFolder, err, cerr)
		}
		if _, err := c.Move(imap.UIDSetNum(uid), w.ProcessedFolder).Wait(); err != nil {
			return fmt.Errorf("move mail %d to %s: %w", uid, w.ProcessedFolder, err)
		}
	}
	return nil
}
