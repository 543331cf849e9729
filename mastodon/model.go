// Package mastodon cross-posts events to Mastodon-API accounts (Mastodon,
// GoToSocial, Akkoma…): a status when an event is published, an edit when
// it changes, a marker and a reply when it is cancelled, a deletion when it
// is deleted, and an optional reminder before it starts.
//
// Every post is a durable job enqueued with the event change, and posted
// exactly once: the job records that it is about to post, sends an
// Idempotency-Key, and when a previous attempt's outcome is unknown it first
// looks through the account's recent statuses for the event's link (servers
// such as GoToSocial ignore the key).
package mastodon

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"codeberg.org/passerelle/passerelle/bridges"
	"codeberg.org/passerelle/passerelle/store"
)

// AccountState says whether passerelle may post to an account.
type AccountState = store.MastodonAccountState

// An account is active until the instance refuses its token (401/403);
// then it needs `passerelle mastodon connect` again.
const (
	AccountActive    AccountState = "active"
	AccountReconnect AccountState = "needs_reconnection"
)

// Account is a connected Mastodon-API account.
type Account = store.MastodonAccount

// Trigger is an event change a route posts on.
type Trigger = store.MastodonTrigger

// The triggers of `mastodon route --on`.
const (
	OnCreate Trigger = "create"
	OnUpdate Trigger = "update"
	OnCancel Trigger = "cancel"
	OnDelete Trigger = "delete"
)

// AllTriggers is a route's default.
var AllTriggers = []Trigger{OnCreate, OnUpdate, OnCancel, OnDelete}

// ParseTriggers reads a comma-separated list such as "create,cancel".
func ParseTriggers(s string) ([]Trigger, error) {
	if strings.TrimSpace(s) == "" {
		return slices.Clone(AllTriggers), nil
	}
	var out []Trigger
	for _, f := range strings.Split(s, ",") {
		t := Trigger(strings.ToLower(strings.TrimSpace(f)))
		if !slices.Contains(AllTriggers, t) {
			return nil, fmt.Errorf("unknown trigger %q in --on (want create, update, cancel or delete)", f)
		}
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out, nil
}

// Route says that a source's events go to an account (with a visibility,
// the triggers it posts on, an optional reminder and template).
type Route = store.MastodonRoute

// PostState is where one status of an event stands on one account.
type PostState = store.MastodonPostState

// A post is pending from just before the POST until its id is recorded:
// a pending post found by a later attempt may exist on the server.
const (
	PostPending PostState = "pending"
	PostPosted  PostState = "posted"
	PostFailed  PostState = "failed"
	PostDeleted PostState = "deleted"
)

// Post kinds: the event's status, and replies in its thread.
const (
	KindStatus = "status"
	KindCancel = "cancel"
)

// Post is one status passerelle made (or is making) for an event on an
// account; Kind is KindStatus, KindCancel, "update:N" or "reminder:UNIX".
type Post = store.MastodonPost

// Store is what the package keeps in the database; *store.DB implements
// it (store/mastodon.go), a fake does in unit tests.
type Store interface {
	MastodonAccount(ctx context.Context, id int64) (*Account, error)
	MastodonAccounts(ctx context.Context) ([]Account, error)
	SaveMastodonAccount(ctx context.Context, a *Account) error
	DeleteMastodonAccount(ctx context.Context, id int64) error
	SetMastodonAccountState(ctx context.Context, id int64, state AccountState, msg string) error

	MastodonRoute(ctx context.Context, id int64) (*Route, error)
	MastodonRoutes(ctx context.Context) ([]Route, error)
	SaveMastodonRoute(ctx context.Context, r *Route) error
	DeleteMastodonRoute(ctx context.Context, id int64) error

	// MastodonPost returns bridges.ErrNotFound when there is none.
	MastodonPost(ctx context.Context, eventID, accountID int64, kind string) (*Post, error)
	SaveMastodonPost(ctx context.Context, p *Post) error
	// ClaimMastodonThread takes the (event, account) thread for a job
	// until the given time, unless another job holds it; jobs on one
	// thread then never race to post.
	ClaimMastodonThread(ctx context.Context, eventID, accountID int64, owner string, until time.Time) (bool, error)
	ReleaseMastodonThread(ctx context.Context, eventID, accountID int64, owner string) error
	// PendingMastodonPosts lists posts whose outcome is unknown.
	PendingMastodonPosts(ctx context.Context) ([]Post, error)

	// EventByID returns a stored event, deleted ones included.
	EventByID(ctx context.Context, id int64) (*bridges.StoredEvent, error)
	Enqueue(ctx context.Context, job bridges.Job, opts bridges.JobOpts) error
}

var _ Store = (*store.DB)(nil)
