package mastodon

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"html"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	gomasto "github.com/mattn/go-mastodon"
	"github.com/riverqueue/river"

	"codeberg.org/passerelle/passerelle/bridges"
	"codeberg.org/passerelle/passerelle/internal/metrics"
)

// claimTTL bounds how long a job holds an (event, account) thread; every
// job finishes well within it (jobTimeout), so a thread held by a crashed
// process is free again after it.
const (
	claimTTL   = 30 * time.Second
	jobTimeout = 25 * time.Second
	// reconcileWindow is how many recent statuses are searched for one
	// whose outcome is unknown.
	reconcileWindow = 40
	// clockSkew allows for the instance's clock being behind ours.
	clockSkew = 2 * time.Minute
)

// MaxAttempts bounds the retries of a Mastodon job: with River's backoff
// (attempt⁴ seconds) an instance down for about a day is waited for, then
// the job gives up, its errors kept in the queue.
const MaxAttempts = 12

// PostArgs is the job that brings an event's statuses on one account in
// line with the event: post, edit, mark cancelled, delete.
type PostArgs struct {
	EventID   int64  `json:"event_id"`
	AccountID int64  `json:"account_id"`
	Change    string `json:"change"`
	// Version is the event's Sequence when the job was enqueued (for logs
	// and the Idempotency-Key; the job acts on the event as it is then).
	Version int `json:"version"`
}

// Kind names the job for River.
func (PostArgs) Kind() string { return "mastodon_post" }

// ReminderArgs is the job that posts a reminder before an event starts.
type ReminderArgs struct {
	EventID   int64 `json:"event_id"`
	AccountID int64 `json:"account_id"`
	// Start is the start (Unix seconds) the reminder was planned for: a
	// rescheduled event has a new reminder job and this one does nothing.
	Start int64 `json:"start"`
}

// Kind names the job for River.
func (ReminderArgs) Kind() string { return "mastodon_reminder" }

// Poster carries event changes to Mastodon accounts; its workers run the
// jobs the Listener enqueues.
type Poster struct {
	store Store
	hc    *http.Client
	log   *slog.Logger
	// Now is the clock.
	Now func() time.Time
	// MediaPoll is the wait between checks of a processing banner.
	MediaPoll time.Duration
	// Images gives the banner's bytes from passerelle's media cache
	// (media.Cache), which fetched and checked it once for every use;
	// nil: the banner is downloaded here.
	Images Images
	owner  string

	mu        sync.Mutex
	limits    map[string]cachedLimits
	templates map[string]*Template
}

type cachedLimits struct {
	Limits
	at time.Time
}

// NewPoster returns a poster over the store; hc is the outbound client
// (it must respect federation.allow_private_networks).
func NewPoster(store Store, hc *http.Client, log *slog.Logger) *Poster {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	if log == nil {
		log = slog.Default()
	}
	return &Poster{
		store: store, hc: hc, log: log, Now: time.Now, MediaPoll: time.Second,
		owner:  hex.EncodeToString(b),
		limits: map[string]cachedLimits{}, templates: map[string]*Template{},
	}
}

// Register adds the poster's workers.
func (p *Poster) Register(workers *river.Workers) {
	river.AddWorker(workers, &postWorker{p: p})
	river.AddWorker(workers, &reminderWorker{p: p})
}

type postWorker struct {
	river.WorkerDefaults[PostArgs]
	p *Poster
}

func (w *postWorker) Timeout(*river.Job[PostArgs]) time.Duration { return jobTimeout }

func (w *postWorker) Work(ctx context.Context, job *river.Job[PostArgs]) error {
	return w.p.Sync(ctx, job.Args)
}

type reminderWorker struct {
	river.WorkerDefaults[ReminderArgs]
	p *Poster
}

func (w *reminderWorker) Timeout(*river.Job[ReminderArgs]) time.Duration { return jobTimeout }

func (w *reminderWorker) Work(ctx context.Context, job *river.Job[ReminderArgs]) error {
	return w.p.Remind(ctx, job.Args)
}

// Recover enqueues a job for every post whose outcome is unknown (the
// process stopped between sending it and recording its id), so that it is
// reconciled soon rather than when its stuck job is rescued. serve calls it
// at start.
func (p *Poster) Recover(ctx context.Context) error {
	posts, err := p.store.PendingMastodonPosts(ctx)
	if err != nil {
		return fmt.Errorf("list pending Mastodon posts: %w", err)
	}
	for _, post := range posts {
		if err := p.store.Enqueue(ctx, PostArgs{EventID: post.EventID, AccountID: post.AccountID, Change: "recover", Version: post.Version}, bridges.JobOpts{MaxAttempts: MaxAttempts}); err != nil {
			return fmt.Errorf("enqueue recovery of event %d on account %d: %w", post.EventID, post.AccountID, err)
		}
	}
	if len(posts) > 0 {
		p.log.Info("mastodon: reconciling posts interrupted by a stop", "count", len(posts))
	}
	return nil
}

// thread is one event on one account while a job works on it.
type thread struct {
	acct  *Account
	route *Route
	ev    *bridges.StoredEvent
	c     *Client
	lim   Limits
	tmpl  *Template
}

// open loads and claims the thread, or says why the job has nothing to do
// (ok false) or must wait (a snooze error).
func (p *Poster) open(ctx context.Context, eventID, accountID int64) (*thread, bool, error) {
	acct, err := p.store.MastodonAccount(ctx, accountID)
	if errors.Is(err, bridges.ErrNotFound) {
		return nil, false, nil // disconnected since
	}
	if err != nil {
		return nil, false, err
	}
	if acct.State != AccountActive {
		p.log.Warn("mastodon: account needs reconnection, not posting", "account", acct.Acct)
		return nil, false, nil
	}
	// Claim first, then read: the event is read as it is once no other
	// job works on this thread, so the last job acts on the last version.
	ok, err := p.store.ClaimMastodonThread(ctx, eventID, accountID, p.owner, p.Now().Add(claimTTL))
	if err != nil {
		return nil, false, err
	}
	if !ok {
		return nil, false, river.JobSnooze(5 * time.Second)
	}
	t := &thread{acct: acct}
	t.ev, err = p.store.EventByID(ctx, eventID)
	if err != nil {
		p.releaseIDs(eventID, accountID)
		if errors.Is(err, bridges.ErrNotFound) {
			return nil, false, nil
		}
		return nil, false, err
	}
	routes, err := p.store.MastodonRoutes(ctx)
	if err != nil {
		p.release(t)
		return nil, false, err
	}
	for i := range routes {
		if routes[i].AccountID == accountID && routes[i].SourceID == t.ev.SourceID {
			t.route = &routes[i]
		}
	}
	if t.route == nil {
		p.release(t)
		return nil, false, nil // unrouted since
	}
	t.c = NewClient(p.hc, acct.Instance, acct.Token)
	t.c.MediaPoll = p.MediaPoll
	if t.tmpl, err = p.template(t.route.Template); err != nil {
		p.release(t)
		return nil, false, river.JobCancel(fmt.Errorf("route %d: %w", t.route.ID, err))
	}
	return t, true, nil
}

func (p *Poster) release(t *thread) { p.releaseIDs(t.ev.ID, t.acct.ID) }

func (p *Poster) releaseIDs(eventID, accountID int64) {
	// A fresh context: the job's may be done, and the claim must go.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := p.store.ReleaseMastodonThread(ctx, eventID, accountID, p.owner); err != nil {
		p.log.Warn("mastodon: release thread", "event", eventID, "account", accountID, "err", err)
	}
}

func (p *Poster) template(text string) (*Template, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if t, ok := p.templates[text]; ok {
		return t, nil
	}
	t, err := ParseTemplate(text)
	if err != nil {
		return nil, err
	}
	p.templates[text] = t
	return t, nil
}

func (p *Poster) instanceLimits(ctx context.Context, t *thread) (Limits, error) {
	p.mu.Lock()
	cl, ok := p.limits[t.acct.Instance]
	p.mu.Unlock()
	if ok && p.Now().Sub(cl.at) < time.Hour {
		return cl.Limits, nil
	}
	l, err := t.c.Limits(ctx)
	if err != nil {
		return l, err
	}
	p.mu.Lock()
	p.limits[t.acct.Instance] = cachedLimits{l, p.Now()}
	p.mu.Unlock()
	return l, nil
}

// ValidateRoutes parses every route's template, so a broken one stops serve
// at start with the route named rather than failing each job.
func (p *Poster) ValidateRoutes(ctx context.Context) error {
	routes, err := p.store.MastodonRoutes(ctx)
	if err != nil {
		return fmt.Errorf("list Mastodon routes: %w", err)
	}
	for _, r := range routes {
		if _, err := p.template(r.Template); err != nil {
			return fmt.Errorf("Mastodon route %d (source %d → account %d): %w", r.ID, r.SourceID, r.AccountID, err)
		}
	}
	return nil
}

// Sync brings the event's statuses on the account in line with the event.
// It decides from the stored state, not from the change that caused the
// job, so a job that runs late or twice does the right thing.
func (p *Poster) Sync(ctx context.Context, args PostArgs) error {
	t, ok, err := p.open(ctx, args.EventID, args.AccountID)
	if !ok {
		return err
	}
	defer p.release(t)
	return p.jobError(ctx, t, p.sync(ctx, t))
}

func (p *Poster) sync(ctx context.Context, t *thread) error {
	ev, r := t.ev, t.route
	root, err := p.post(ctx, t, KindStatus)
	if err != nil {
		return err
	}
	if root != nil && root.State == PostPending {
		// Settle an unknown outcome first: the event may have been
		// cancelled or deleted since, and a status that exists must be
		// marked or removed, not forgotten.
		found, err := p.reconcile(ctx, t, root, "")
		if err != nil {
			return fmt.Errorf("reconcile event %s on %s: %w", ev.APID, t.acct.Acct, err)
		}
		if found != nil {
			if err := p.adopt(ctx, t, root, found); err != nil {
				return err
			}
		}
	}
	if ev.Deleted {
		if root == nil || root.State != PostPosted || !r.Posts(OnDelete) {
			return nil
		}
		if err := t.c.Delete(ctx, root.StatusID); err != nil {
			return fmt.Errorf("delete status %s: %w", root.StatusID, err)
		}
		root.State = PostDeleted
		p.log.Info("mastodon: status deleted", "event", ev.APID, "account", t.acct.Acct, "status", root.StatusID)
		return p.store.SaveMastodonPost(ctx, root)
	}
	if !ev.Public || ev.Draft {
		return nil
	}
	if t.lim, err = p.instanceLimits(ctx, t); err != nil {
		return err
	}
	switch {
	case root == nil || root.State == PostPending || (root.State == PostFailed && root.Version < ev.Sequence):
		if ev.Status == bridges.StatusCancelled || ev.Over(p.Now()) || !r.Posts(OnCreate) {
			return nil // never announce what will not happen
		}
		_, err := p.publishStatus(ctx, t, root)
		return err
	case root.State == PostPosted && root.Version < ev.Sequence:
		if ev.Status == bridges.StatusCancelled {
			if !r.Posts(OnCancel) {
				return nil
			}
			return p.cancel(ctx, t, root)
		}
		if !r.Posts(OnUpdate) {
			return nil
		}
		return p.update(ctx, t, root)
	}
	return nil
}

// post returns the stored post of that kind, nil when there is none.
func (p *Poster) post(ctx context.Context, t *thread, kind string) (*Post, error) {
	post, err := p.store.MastodonPost(ctx, t.ev.ID, t.acct.ID, kind)
	if errors.Is(err, bridges.ErrNotFound) {
		return nil, nil
	}
	return post, err
}

// publishStatus posts the event's own status, with its banner.
func (p *Poster) publishStatus(ctx context.Context, t *thread, root *Post) (*Post, error) {
	text, err := t.tmpl.Compose(&t.ev.Event, t.lim)
	if err != nil {
		return nil, p.reject(ctx, t, KindStatus, root, err)
	}
	if root == nil {
		root = &Post{EventID: t.ev.ID, AccountID: t.acct.ID, Kind: KindStatus}
	}
	if root.MediaID == "" && root.State != PostPending && t.ev.BannerURL != "" {
		root.MediaID = p.uploadBanner(ctx, t)
	}
	toot := &gomasto.Toot{Status: text, Visibility: visibility(t.route), Language: langTag(t.ev.Language)}
	if root.MediaID != "" {
		toot.MediaIDs = []gomasto.ID{gomasto.ID(root.MediaID)}
	}
	return p.publish(ctx, t, root, "", toot)
}

// Images is passerelle's media cache, as the poster uses it.
type Images interface {
	Image(ctx context.Context, url string) (body []byte, contentType string, err error)
}

// uploadBanner uploads the event's image; an image that cannot be fetched
// or uploaded leaves the status text-only rather than unposted.
func (p *Poster) uploadBanner(ctx context.Context, t *thread) string {
	var data []byte
	var err error
	if p.Images != nil {
		data, _, err = p.Images.Image(ctx, t.ev.BannerURL)
	} else {
		data, err = t.c.FetchBanner(ctx, t.ev.BannerURL)
	}
	if err == nil {
		alt := t.ev.BannerAlt
		if alt == "" {
			alt = t.ev.Title
		}
		var id string
		if id, err = t.c.Upload(ctx, data, alt); err == nil {
			return id
		}
	}
	p.log.Warn("mastodon: posting without the banner", "event", t.ev.APID, "account", t.acct.Acct, "err", err)
	return ""
}

// publish creates a status exactly once. Before posting it records the
// attempt (pending); a pending post met again had an unknown outcome, so
// the account's recent statuses are searched for it first.
func (p *Poster) publish(ctx context.Context, t *thread, post *Post, parent string, toot *gomasto.Toot) (*Post, error) {
	if post.State == PostPosted {
		return post, nil
	}
	if post.State == PostPending {
		found, err := p.reconcile(ctx, t, post, parent)
		if err != nil {
			return nil, fmt.Errorf("reconcile event %s on %s: %w", t.ev.APID, t.acct.Acct, err)
		}
		if found != nil {
			return post, p.adopt(ctx, t, post, found)
		}
	} else {
		post.Version = t.ev.Sequence
	}
	post.State, post.AttemptedAt, post.Error = PostPending, p.Now(), ""
	if err := p.store.SaveMastodonPost(ctx, post); err != nil {
		return nil, err
	}
	toot.InReplyToID = gomasto.ID(parent)
	st, err := t.c.Post(ctx, toot, idempotencyKey(t.ev, t.acct, post.Kind, post.Version))
	if err != nil {
		if Classify(err) == Rejected {
			return nil, p.reject(ctx, t, post.Kind, post, err)
		}
		return nil, fmt.Errorf("post %s of %s to %s: %w", post.Kind, t.ev.APID, t.acct.Acct, err)
	}
	post.StatusID, post.State = string(st.ID), PostPosted
	metrics.MastodonPosts.WithLabelValues("posted").Inc()
	p.log.Info("mastodon: status posted", "event", t.ev.APID, "account", t.acct.Acct, "status", st.ID, "kind", post.Kind)
	return post, p.store.SaveMastodonPost(ctx, post)
}

// reject records the server's (or the template's) refusal on the post: a
// new version of the event may try again, this one will not.
func (p *Poster) reject(ctx context.Context, t *thread, kind string, post *Post, cause error) error {
	if post == nil {
		post = &Post{EventID: t.ev.ID, AccountID: t.acct.ID, Kind: kind, Version: t.ev.Sequence}
	}
	post.State, post.Error = PostFailed, cause.Error()
	metrics.MastodonPosts.WithLabelValues("failed").Inc()
	if err := p.store.SaveMastodonPost(ctx, post); err != nil {
		return err
	}
	return river.JobCancel(fmt.Errorf("%s of %s refused by %s: %w", kind, t.ev.APID, t.acct.Acct, cause))
}

// adopt records a status found by reconcile as the post's.
func (p *Poster) adopt(ctx context.Context, t *thread, post *Post, found *gomasto.Status) error {
	post.StatusID, post.State, post.Error = string(found.ID), PostPosted, ""
	p.log.Info("mastodon: adopted a status posted before a stop", "event", t.ev.APID, "account", t.acct.Acct, "status", found.ID, "kind", post.Kind)
	return p.store.SaveMastodonPost(ctx, post)
}

// reconcile looks for a status made by an attempt whose answer was lost:
// one created since the attempt, in the same thread, showing the link.
func (p *Poster) reconcile(ctx context.Context, t *thread, post *Post, parent string) (*gomasto.Status, error) {
	recent, err := t.c.Recent(ctx, t.acct.RemoteID, reconcileWindow)
	if err != nil {
		return nil, err
	}
	link := t.ev.URL
	if link == "" {
		link = t.ev.APID
	}
	// The event's own status shows the link too: a reminder posted as a
	// new status must not take it for itself.
	var rootID string
	if post.Kind != KindStatus {
		if root, err := p.post(ctx, t, KindStatus); err != nil {
			return nil, err
		} else if root != nil {
			rootID = root.StatusID
		}
	}
	var found *gomasto.Status
	for _, st := range recent {
		if st.CreatedAt.Before(post.AttemptedAt.Add(-clockSkew)) || (rootID != "" && string(st.ID) == rootID) {
			continue
		}
		reply := ""
		if st.InReplyToID != nil {
			reply = fmt.Sprint(st.InReplyToID)
		}
		if reply == parent && strings.Contains(html.UnescapeString(st.Content), link) {
			found = st // the list is newest first: keep the oldest match
		}
	}
	return found, nil
}

// edit changes the event's status in place, keeping its banner.
func (p *Poster) edit(ctx context.Context, t *thread, root *Post) error {
	text, err := t.tmpl.Compose(&t.ev.Event, t.lim)
	if err != nil {
		return p.refused(ctx, t, root, err)
	}
	toot := &gomasto.Toot{Status: text, Language: langTag(t.ev.Language)}
	if root.MediaID != "" {
		toot.MediaIDs = []gomasto.ID{gomasto.ID(root.MediaID)}
	}
	_, err = t.c.Edit(ctx, root.StatusID, toot)
	return err
}

func (p *Poster) update(ctx context.Context, t *thread, root *Post) error {
	err := p.edit(ctx, t, root)
	if err != nil && Classify(err) == NotFound {
		// The server cannot edit (or lost the status): say it in the thread.
		reply := &Post{EventID: t.ev.ID, AccountID: t.acct.ID, Kind: "update:" + strconv.Itoa(t.ev.Sequence)}
		if old, perr := p.post(ctx, t, reply.Kind); perr != nil {
			return perr
		} else if old != nil {
			reply = old
		}
		l := labels[baseLang(t.ev.Language)]
		if _, err = p.publish(ctx, t, reply, root.StatusID, p.replyToot(t, l.Updated)); err != nil {
			return err
		}
	} else if err != nil {
		if Classify(err) == Rejected {
			return p.refused(ctx, t, root, err)
		}
		return fmt.Errorf("edit status %s: %w", root.StatusID, err)
	}
	root.Version, root.Error = t.ev.Sequence, ""
	p.log.Info("mastodon: status updated", "event", t.ev.APID, "account", t.acct.Acct, "status", root.StatusID, "version", root.Version)
	return p.store.SaveMastodonPost(ctx, root)
}

// cancel marks the status cancelled and replies once in its thread, so
// that followers who saw the first post are told.
func (p *Poster) cancel(ctx context.Context, t *thread, root *Post) error {
	if err := p.edit(ctx, t, root); err != nil && Classify(err) != NotFound {
		if Classify(err) == Rejected {
			return p.refused(ctx, t, root, err)
		}
		return fmt.Errorf("mark status %s cancelled: %w", root.StatusID, err)
	}
	reply, err := p.post(ctx, t, KindCancel)
	if err != nil {
		return err
	}
	if reply == nil {
		reply = &Post{EventID: t.ev.ID, AccountID: t.acct.ID, Kind: KindCancel}
	}
	l := labels[baseLang(t.ev.Language)]
	if _, err := p.publish(ctx, t, reply, root.StatusID, p.replyToot(t, l.CancelReply)); err != nil {
		return err
	}
	root.Version = t.ev.Sequence
	p.log.Info("mastodon: status marked cancelled", "event", t.ev.APID, "account", t.acct.Acct, "status", root.StatusID)
	return p.store.SaveMastodonPost(ctx, root)
}

func (p *Poster) replyToot(t *thread, intro string) *gomasto.Toot {
	return &gomasto.Toot{Status: replyText(&t.ev.Event, intro, t.lim), Visibility: visibility(t.route), Language: langTag(t.ev.Language)}
}

// visibility is always sent: servers differ in their default (GoToSocial
// makes statuses unlisted).
func visibility(r *Route) string {
	if r.Visibility == "" {
		return "public"
	}
	return r.Visibility
}

// refused records the server's refusal of an edit on the status it was
// about, which stays posted, and gives up on the job.
func (p *Poster) refused(ctx context.Context, t *thread, root *Post, cause error) error {
	root.Error = cause.Error()
	if err := p.store.SaveMastodonPost(ctx, root); err != nil {
		return err
	}
	return river.JobCancel(fmt.Errorf("edit of status %s refused by %s: %w", root.StatusID, t.acct.Acct, cause))
}

// Remind posts the reminder reply, once, if the event still starts when
// the reminder was planned for.
func (p *Poster) Remind(ctx context.Context, args ReminderArgs) error {
	t, ok, err := p.open(ctx, args.EventID, args.AccountID)
	if !ok {
		return err
	}
	defer p.release(t)
	ev := t.ev
	if ev.Deleted || !ev.Public || ev.Draft || ev.Status == bridges.StatusCancelled || ev.Start.Unix() != args.Start || t.route.Reminder <= 0 {
		return nil
	}
	root, err := p.post(ctx, t, KindStatus)
	if err != nil || root == nil || root.State != PostPosted {
		return err
	}
	if t.lim, err = p.instanceLimits(ctx, t); err != nil {
		return p.jobError(ctx, t, err)
	}
	kind := "reminder:" + strconv.FormatInt(args.Start, 10)
	reply, err := p.post(ctx, t, kind)
	if err != nil {
		return err
	}
	if reply == nil {
		reply = &Post{EventID: ev.ID, AccountID: t.acct.ID, Kind: kind}
	}
	parent := root.StatusID
	if t.route.ReminderAs == "status" {
		parent = "" // a new status, for followers who missed the first
	}
	_, err = p.publish(ctx, t, reply, parent, p.replyToot(t, labels[baseLang(ev.Language)].Reminder))
	return p.jobError(ctx, t, err)
}

// jobError turns a failure into what River should do with the job: wait
// for a rate limit's reset (without holding a worker), stop posting to an
// account whose token was refused, give up on content the server refused,
// or retry with backoff.
func (p *Poster) jobError(ctx context.Context, t *thread, err error) error {
	if err == nil {
		return nil
	}
	var cancel *river.JobCancelError
	if errors.As(err, &cancel) {
		p.log.Error("mastodon: giving up", "event", t.ev.APID, "account", t.acct.Acct, "err", err)
		return err
	}
	switch Classify(err) {
	case RateLimited:
		var rl *RateLimitedError
		errors.As(err, &rl)
		wait := max(rl.Reset.Sub(p.Now()), time.Second)
		p.log.Warn("mastodon: rate limited, job rescheduled", "account", t.acct.Acct, "until", rl.Reset)
		return river.JobSnooze(wait)
	case Unauthorized:
		metrics.MastodonPosts.WithLabelValues("reconnect").Inc()
		p.log.Error("mastodon: account refused our token; reconnect it with `passerelle mastodon connect`", "account", t.acct.Acct, "err", err)
		if serr := p.store.SetMastodonAccountState(ctx, t.acct.ID, AccountReconnect, err.Error()); serr != nil {
			return serr
		}
		return river.JobCancel(err)
	case Rejected:
		p.log.Error("mastodon: refused by the server", "event", t.ev.APID, "account", t.acct.Acct, "err", err)
		return river.JobCancel(err)
	}
	return err
}

// idempotencyKey is the same for every attempt at one post of one version
// of an event on one account.
func idempotencyKey(ev *bridges.StoredEvent, acct *Account, kind string, version int) string {
	sum := sha256.Sum256([]byte(ev.APID + "\x00" + strconv.FormatInt(acct.ID, 10) + "\x00" + kind + "\x00" + strconv.Itoa(version)))
	return "passerelle-" + hex.EncodeToString(sum[:16])
}

// langTag is the status language: ISO 639 only, as Mastodon wants.
func langTag(tag string) string {
	base, _, _ := strings.Cut(strings.ToLower(strings.TrimSpace(tag)), "-")
	base, _, _ = strings.Cut(base, "_")
	if len(base) < 2 || len(base) > 3 {
		return ""
	}
	return base
}
