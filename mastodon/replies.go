package mastodon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	gomasto "github.com/mattn/go-mastodon"

	"codeberg.org/passerelle/passerelle/bridges"
	"codeberg.org/passerelle/passerelle/internal/metrics"
	"codeberg.org/passerelle/passerelle/store"
)

// ScopeNotifications is the scope reading replies needs; accounts
// connected before passerelle asked for it must be connected again.
const ScopeNotifications = "read:notifications"

// HasScope reports whether a token granted scopes (space separated)
// covers scope: itself, or its top level ("read" covers "read:…").
func HasScope(scopes, scope string) bool {
	top, _, _ := strings.Cut(scope, ":")
	for _, s := range strings.Fields(scopes) {
		if s == scope || s == top {
			return true
		}
	}
	return false
}

// Replies reads the replies under the events' statuses on every connected
// account and turns the answers among them ("going", "not going") into
// participations, through the same RSVP flow as mail answers. It polls
// each account's mention notifications from a stored cursor; a lease lets
// one replica read each account, and errors back off. Where the server
// streams notifications (Mastodon), the replica that holds an account
// follows its stream and reads at once when one comes.
type Replies struct {
	DB   *store.DB
	RSVP *bridges.RSVP[*store.Tx]
	// HTTP is the outbound client (federation.allow_private_networks).
	HTTP *http.Client
	// Allowed returns an error for a host passerelle must not talk with
	// (the federation policy: federation.block and `passerelle block`);
	// replies from there are ignored. Nil allows every host.
	Allowed func(ctx context.Context, host string) error
	// Holder names this replica in the leases.
	Holder string
	// Interval is the wait between reads of an account (30s when zero).
	Interval time.Duration
	Log      *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time

	warned sync.Map // account id → told to reconnect for the scope

	wake     chan int64 // accounts whose stream announced a notification
	mu       sync.Mutex
	streams  map[int64]context.CancelFunc // the streams followed
	noStream map[int64]time.Time          // when to try an account's stream again
}

// maxPagesPerRead bounds one read of an account: a burst of mentions is
// read over several rounds rather than holding the lease for long.
const maxPagesPerRead = 10

// leaseMin bounds the lease on an account from below: it must outlast
// one read (maxPagesPerRead calls of at most callTimeout each), or a
// second replica could start reading beside a slow first.
const leaseMin = 3 * time.Minute

// maxReplyFailures is how many reads in a row a reply may fail before it
// is skipped.
const maxReplyFailures = 5

// maxBackoff bounds the wait after failed reads.
const maxBackoff = 30 * time.Minute

func (r *Replies) interval() time.Duration {
	if r.Interval > 0 {
		return r.Interval
	}
	return 30 * time.Second
}

func (r *Replies) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

func (r *Replies) log() *slog.Logger {
	if r.Log != nil {
		return r.Log
	}
	return slog.New(slog.DiscardHandler)
}

// Run reads every account each interval, and an account at once when
// its stream announces a notification, until ctx ends.
func (r *Replies) Run(ctx context.Context) error {
	r.mu.Lock()
	r.wake = make(chan int64, 64)
	r.mu.Unlock()
	t := time.NewTicker(r.interval())
	defer t.Stop()
	readAll := func() {
		if err := r.ReadAll(ctx); err != nil && ctx.Err() == nil {
			r.log().Warn("mastodon: reading replies", "err", err)
		}
	}
	readAll()
	for {
		select {
		case <-ctx.Done():
			r.release()
			return nil
		case <-t.C:
			readAll()
		case id := <-r.wake:
			a, err := r.DB.MastodonAccount(ctx, id)
			if err == nil {
				err = r.readAccount(ctx, a)
			}
			if err != nil && !errors.Is(err, bridges.ErrNotFound) && ctx.Err() == nil {
				r.log().Warn("mastodon: reading replies", "err", err)
			}
		}
	}
}

// follow follows an account's notification stream while this replica
// reads it (only under Run), unless the server offers none: a broken
// stream is opened again at the next poll, a server without one is asked
// again an hour later.
func (r *Replies) follow(ctx context.Context, a *Account) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.wake == nil || r.streams[a.ID] != nil || r.now().Before(r.noStream[a.ID]) {
		return
	}
	if r.streams == nil {
		r.streams, r.noStream = map[int64]context.CancelFunc{}, map[int64]time.Time{}
	}
	sctx, cancel := context.WithCancel(ctx)
	r.streams[a.ID] = cancel
	id, acct, c := a.ID, a.Acct, NewClient(r.HTTP, a.Instance, a.Token)
	go func() {
		err := c.StreamMentions(sctx, func() {
			select {
			case r.wake <- id:
			default: // a read is already due
			}
		})
		r.mu.Lock()
		defer r.mu.Unlock()
		delete(r.streams, id)
		cancel()
		switch {
		case errors.Is(err, ErrNoStreaming):
			r.noStream[id] = r.now().Add(time.Hour)
			r.log().Debug("mastodon: no notification stream, polling", "account", acct, "err", err)
		case sctx.Err() == nil:
			// Opened again after the next poll, not at once.
			r.noStream[id] = r.now().Add(r.interval())
			r.log().Debug("mastodon: notification stream ended", "account", acct, "err", err)
		}
	}()
}

// unfollow stops following an account's stream (another replica reads it).
func (r *Replies) unfollow(id int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if cancel := r.streams[id]; cancel != nil {
		cancel()
	}
}

// release gives up this replica's leases as it stops, so another takes
// the accounts over at once rather than when the leases run out.
func (r *Replies) release() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	accounts, err := r.DB.MastodonAccounts(ctx)
	if err != nil {
		return
	}
	for _, a := range accounts {
		if err := r.DB.ReleaseMastodonMentions(ctx, a.ID, r.Holder); err != nil {
			r.log().Warn("mastodon: release the replies lease", "account", a.Acct, "err", err)
		}
	}
}

// ReadAll reads the new mentions of every active account whose lease this
// replica holds and whose backoff is over.
func (r *Replies) ReadAll(ctx context.Context) error {
	accounts, err := r.DB.MastodonAccounts(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for i := range accounts {
		if err := r.readAccount(ctx, &accounts[i]); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// readAccount reads an account if it may be read (active, with the scope)
// and this replica holds or takes its lease, then follows its stream.
func (r *Replies) readAccount(ctx context.Context, a *Account) error {
	if a.State != AccountActive {
		r.unfollow(a.ID)
		return nil
	}
	if !HasScope(a.Scopes, ScopeNotifications) {
		if _, told := r.warned.LoadOrStore(a.ID, true); !told {
			r.log().Warn("mastodon: replies to this account's posts are not read: it was connected before passerelle asked for read:notifications; run `passerelle mastodon connect` again", "account", a.Acct)
		}
		return nil
	}
	ok, err := r.DB.LeaseMastodonMentions(ctx, a.ID, r.Holder, max(3*r.interval(), leaseMin))
	if err != nil {
		return err
	}
	if !ok {
		r.unfollow(a.ID) // another replica reads it
		return nil
	}
	err = r.Read(ctx, a)
	r.follow(ctx, a)
	return err
}

// Read reads one account's new mentions, unless its backoff is not over,
// and records the cursor and the backoff.
func (r *Replies) Read(ctx context.Context, a *Account) error {
	m, err := r.DB.MastodonMentions(ctx, a.ID)
	if err != nil {
		return err
	}
	if r.now().Before(m.NextAt) {
		return nil
	}
	c := NewClient(r.HTTP, a.Instance, a.Token)
	readErr := r.read(ctx, a, c, &m)
	if readErr == nil {
		m.Failures, m.NextAt, m.LastError = 0, time.Time{}, ""
		return r.DB.SaveMastodonMentions(ctx, m)
	}
	if ctx.Err() != nil {
		return readErr
	}
	m.Failures++
	m.LastError = readErr.Error()
	wait := min(r.interval()<<min(m.Failures, 10), maxBackoff)
	var rl *RateLimitedError
	switch {
	case errors.As(readErr, &rl):
		wait = max(rl.Reset.Sub(r.now()), time.Second)
	case isForbidden(readErr):
		// A token without read:notifications (its grant changed on the
		// server): posting still works, so the account stays active.
		wait = maxBackoff
		r.log().Warn("mastodon: the instance refuses to show this account's notifications; run `passerelle mastodon connect` again to grant read:notifications", "account", a.Acct)
	case Classify(readErr) == Unauthorized:
		r.log().Error("mastodon: account refused our token; reconnect it with `passerelle mastodon connect`", "account", a.Acct, "err", readErr)
		if err := r.DB.SetMastodonAccountState(ctx, a.ID, AccountReconnect, readErr.Error()); err != nil {
			return err
		}
	default:
		r.log().Warn("mastodon: reading replies failed, backing off", "account", a.Acct, "failures", m.Failures, "wait", wait, "err", readErr)
	}
	m.NextAt = r.now().Add(wait)
	if err := r.DB.SaveMastodonMentions(ctx, m); err != nil {
		return err
	}
	return nil
}

func isForbidden(err error) bool {
	var api *gomasto.APIError
	return errors.As(err, &api) && api.StatusCode == http.StatusForbidden
}

// read pages through the mentions after the cursor, handling each and
// saving the cursor after each page: a reply read again after a stop
// between the two is recognised (mastodon_replies_seen).
func (r *Replies) read(ctx context.Context, a *Account, c *Client, m *store.MastodonMentions) error {
	if m.Cursor == "" {
		return r.readFirst(ctx, a, c, m)
	}
	for range maxPagesPerRead {
		page, err := c.Mentions(ctx, m.Cursor, "")
		if err != nil {
			return err
		}
		if err := r.handlePage(ctx, a, page, m); err != nil {
			return err
		}
		if len(page) < mentionsPage {
			return nil
		}
	}
	return nil
}

// readFirst reads an account never read, which has no cursor to page
// forward from: it pages back from the newest mention, at most
// maxPagesPerRead pages (older replies are left unread), then handles
// them oldest first.
func (r *Replies) readFirst(ctx context.Context, a *Account, c *Client, m *store.MastodonMentions) error {
	var all []Notification
	maxID := ""
	for range maxPagesPerRead {
		page, err := c.Mentions(ctx, "", maxID)
		if err != nil {
			return err
		}
		all = append(page, all...)
		if len(page) < mentionsPage {
			break
		}
		maxID = page[0].ID
	}
	return r.handlePage(ctx, a, all, m)
}

// handlePage handles mentions sorted oldest first, moving the cursor past
// each, and saves the cursor.
func (r *Replies) handlePage(ctx context.Context, a *Account, page []Notification, m *store.MastodonMentions) error {
	for _, n := range page {
		if err := r.handle(ctx, a, n); err != nil {
			if m.Failures < maxReplyFailures || ctx.Err() != nil {
				return err
			}
			// The same reply failed read after read (an event the flow
			// cannot join, say): it must not stop every reply after it.
			r.log().Error("mastodon: giving up on a reply that fails every time", "account", a.Acct, "notification", n.ID, "err", err)
		}
		if compareIDs(n.ID, m.Cursor) > 0 {
			m.Cursor = n.ID
		}
	}
	return r.DB.SaveMastodonMentions(ctx, *m)
}

// author is who replied: the key of their participant (the account's
// URI) and their handle, user@host.
type author struct {
	URI  string
	Acct string
}

// answerer names the author of a mention; a local account's acct has no
// host, the instance's is added.
func answerer(acc RemoteAccount, instance string) (author, bool) {
	acct := strings.TrimPrefix(strings.TrimSpace(acc.Acct), "@")
	if acct == "" || strings.ContainsAny(acct, " \t\r\n") {
		return author{}, false
	}
	if !strings.Contains(acct, "@") {
		u, err := url.Parse(instance)
		if err != nil || u.Host == "" {
			return author{}, false
		}
		acct += "@" + u.Host
	}
	uri := acc.URI
	if uri == "" {
		uri = acc.URL
	}
	if u, err := url.Parse(uri); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return author{}, false
	}
	return author{URI: uri, Acct: acct}, true
}

// handle acts on one mention: an answer in a reply to an event's own
// status (not to its cancellation or a reminder, and not by the account
// itself) from a host passerelle talks with.
func (r *Replies) handle(ctx context.Context, a *Account, n Notification) error {
	st := n.Status
	if n.Type != "mention" || st == nil || st.InReplyToID == "" || st.Account.ID == a.RemoteID {
		return nil
	}
	eventID, err := r.DB.EventOfMastodonStatus(ctx, a.ID, st.InReplyToID)
	if errors.Is(err, bridges.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	who, ok := answerer(st.Account, a.Instance)
	if !ok {
		r.log().Info("mastodon: reply from an account without a usable id ignored", "account", a.Acct, "status", st.ID)
		return nil
	}
	if r.Allowed != nil {
		_, host, _ := strings.Cut(who.Acct, "@")
		u, _ := url.Parse(who.URI)
		for _, h := range []string{host, u.Host} {
			if err := r.Allowed(ctx, h); err != nil {
				r.log().Info("mastodon: reply from a blocked domain ignored", "account", a.Acct, "status", st.ID, "err", err)
				return nil
			}
		}
	}
	answer := bridges.TextAnswer(AnswerText(st.Content))
	if answer == "" {
		return nil // a conversation under the post, not an answer
	}
	var out bridges.Outcome
	err = r.DB.InTx(ctx, func(ctx context.Context, tx *store.Tx) error {
		first, err := tx.MastodonReplySeen(ctx, a.ID, st.ID, st.EditedAt)
		if err != nil || !first {
			out = bridges.Outcome{Ignored: "reply already read"}
			return err
		}
		out, err = r.RSVP.AnswerFromFediverse(ctx, tx, bridges.FediverseAnswer{Account: who.URI, EventID: eventID, Answer: answer})
		if err != nil || out.InvitationID == 0 || out.Ignored != "" {
			// Direct replies answer the reply that changed something,
			// not the last of a flood.
			return err
		}
		return tx.SaveMastodonAnswerer(ctx, store.MastodonAnswerer{InvitationID: out.InvitationID, AccountID: a.ID, Acct: who.Acct, StatusID: st.ID})
	})
	if err != nil {
		return fmt.Errorf("answer of status %s: %w", st.ID, err)
	}
	if out.Ignored != "" {
		r.log().Info("mastodon: reply read, nothing to do", "account", a.Acct, "status", st.ID, "event", eventID, "answer", answer, "reason", out.Ignored)
	} else {
		metrics.Answers.WithLabelValues("fediverse", string(answer)).Inc()
		r.log().Info("mastodon: reply applied", "account", a.Acct, "status", st.ID, "event", eventID, "invitation", out.InvitationID, "answer", answer)
	}
	return nil
}
