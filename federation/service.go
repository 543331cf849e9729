package federation

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"codeberg.org/passerelle/passerelle/federation/signing"

	"codeberg.org/passerelle/passerelle/bridges"
	"codeberg.org/passerelle/passerelle/internal/outbound"
	"codeberg.org/passerelle/passerelle/store"
)

// Options configure the federation service (config's federation section).
type Options struct {
	// PublicURL is passerelle's base URL (public_url).
	PublicURL string
	// InstanceActor is the instance actor's preferredUsername.
	InstanceActor string
	// Allow and Block are federation.allow and federation.block.
	Allow, Block []string
	// AllowPrivateNetworks is federation.allow_private_networks.
	AllowPrivateNetworks bool
	// DateWindow bounds a signed request's Date; zero means ±12 h.
	DateWindow time.Duration
	// Version is passerelle's version, shown in NodeInfo.
	Version string
	// NodeName is instance.name, NodeInfo's metadata.nodeName (what
	// fediverse directories show); empty means public_url's host.
	NodeName string
	// EraseCheckInterval is the first wait between checks of whether an
	// erased participant's deliveries are done; zero means 30 s (tests
	// shorten it).
	EraseCheckInterval time.Duration
}

// Service is passerelle's ActivityPub side: it serves the local actors and
// the inbox, and sends, fetches and follows.
type Service struct {
	// Outbox gives the Service its ids, URLs and Deliver.
	*Outbox
	opts     Options
	events   *bridges.Events[*store.Tx]
	dialects map[string]bridges.Dialect
	joins    bridges.JoinAnswerListener[*store.Tx]
	log      *slog.Logger
	now      func() time.Time

	policy   *Policy
	client   *http.Client
	fetcher  *Fetcher
	verifier *signing.SignatureVerifier

	instanceMu sync.Mutex
	instance   *store.LocalActor

	// The inbox's group commit (see commitInbox).
	inboxOnce  sync.Once
	inboxQueue chan *inboxEntry
	// inboxArriving counts inbox requests being read and verified, which
	// the committer may wait for (see inboxCommitDelay).
	inboxArriving atomic.Int64
	// inboxWake tells the committer that a request it may be waiting for
	// was refused.
	inboxWake chan struct{}
	// inboxCommits counts the committer's transactions, for the benchmark
	// to report how many activities each carried.
	inboxCommits atomic.Int64
	// inboxPruned is when (unix µs) an inbox job of this process last
	// pruned the replay guard.
	inboxPruned atomic.Int64
}

// Deps are the service's collaborators, wired in cmd/passerelle.
type Deps struct {
	DB *store.DB
	// Events stores incoming events (the core flow).
	Events *bridges.Events[*store.Tx]
	// Dialects by software name: mobilizon, gancio, peertube, generic;
	// "generic" is used for software without a dialect of its own.
	Dialects map[string]bridges.Dialect
	// JoinAnswers is told of Accept/Reject of passerelle's Joins; nil
	// drops them (with a log line).
	JoinAnswers bridges.JoinAnswerListener[*store.Tx]
	Log         *slog.Logger
	Now         func() time.Time
	// HTTPClient replaces the outbound client (tests); nil builds one.
	HTTPClient *http.Client
}

// New builds the service. It does not touch the network or the database.
func New(opts Options, deps Deps) (*Service, error) {
	out, err := NewOutbox(opts.PublicURL, deps.DB)
	if err != nil {
		return nil, err
	}
	if opts.InstanceActor == "" {
		opts.InstanceActor = "passerelle"
	}
	now := deps.Now
	if now == nil {
		now = time.Now
	}
	log := deps.Log
	if log == nil {
		log = slog.Default()
	}
	out.now = now
	s := &Service{
		Outbox: out,
		opts:   opts, events: deps.Events, dialects: deps.Dialects, joins: deps.JoinAnswers,
		log: log.With("component", "federation"), now: now,
		inboxQueue: make(chan *inboxEntry, inboxBatchMax), inboxWake: make(chan struct{}, 1),
	}
	s.policy = &Policy{Allow: opts.Allow, Block: opts.Block, Store: deps.DB}
	s.client = deps.HTTPClient
	if s.client == nil {
		s.client = outbound.New(outbound.Options{AllowPrivateNetworks: opts.AllowPrivateNetworks, UserAgent: s.userAgent()})
	}
	s.fetcher = &Fetcher{Client: s.client, Policy: s.policy, AllowPrivate: opts.AllowPrivateNetworks, Signer: s.instanceSigner}
	s.verifier = &signing.SignatureVerifier{Keys: newKeyCache(s), Window: opts.DateWindow, Now: now, Host: signing.CanonicalHost(s.base), Log: s.log}
	return s, nil
}

func (s *Service) userAgent() string {
	v := s.opts.Version
	if v == "" {
		v = "dev"
	}
	return "passerelle/" + v + " (+" + s.base.String() + ")"
}

// Policy returns the domain policy.
func (s *Service) Policy() *Policy { return s.policy }

// Outbox mints passerelle's ids and records outgoing activities as
// deliveries in the caller's transaction, which the delivery jobs sign and
// send. It speaks for mail participants too (bridges.Participator and
// Forgetter: Join, Leave, Forget), and needs nothing but public_url and the
// database, so the RSVP flow, which the Service tells of answers to its
// Joins, is built complete before the Service. Service embeds one.
type Outbox struct {
	base *url.URL
	db   *store.DB
	now  func() time.Time
}

// NewOutbox builds the outbox for public_url on db.
func NewOutbox(publicURL string, db *store.DB) (*Outbox, error) {
	base, err := url.Parse(strings.TrimSuffix(publicURL, "/"))
	if err != nil || base.Scheme == "" || base.Host == "" {
		return nil, fmt.Errorf("public_url %q is not an absolute URL (want e.g. https://events.example.org)", publicURL)
	}
	return &Outbox{base: base, db: db, now: time.Now}, nil
}

// URL builds an absolute URL under public_url.
func (s *Outbox) URL(path string) string { return s.base.String() + path }

// ActorURL is the id of the local actor with that username.
func (s *Outbox) ActorURL(username string) string {
	return s.URL("/actors/" + url.PathEscape(username))
}

// Start creates the instance actor (and its key) when it does not exist.
func (s *Service) Start(ctx context.Context) error {
	_, err := s.InstanceActor(ctx)
	return err
}

// InstanceActor returns the instance actor, creating it on first use.
func (s *Service) InstanceActor(ctx context.Context) (*store.LocalActor, error) {
	s.instanceMu.Lock()
	defer s.instanceMu.Unlock()
	if s.instance != nil {
		return s.instance, nil
	}
	a, err := s.ensureInstanceActor(ctx)
	if err != nil {
		return nil, err
	}
	s.instance = a
	return a, nil
}

// ensureInstanceActor loads the instance actor or creates it with a fresh
// key. Two replicas starting at once both try the insert; the loser reads
// the winner's row.
func (s *Service) ensureInstanceActor(ctx context.Context) (*store.LocalActor, error) {
	name := s.opts.InstanceActor
	a, err := s.db.LocalActorByUsername(ctx, name)
	if err == nil {
		if a.Kind != store.ActorInstance {
			return nil, fmt.Errorf("instance actor name %q is taken by a %s actor: choose another federation.actor_name", name, a.Kind)
		}
		return a, nil
	}
	if !errors.Is(err, bridges.ErrNotFound) {
		return nil, fmt.Errorf("load instance actor: %w", err)
	}
	priv, pub, err := signing.GenerateKeyPEM()
	if err != nil {
		return nil, err
	}
	a = &store.LocalActor{Kind: store.ActorInstance, Username: name, DisplayName: "passerelle", PrivateKeyPEM: priv, PublicKeyPEM: pub, CreatedAt: s.now()}
	err = s.db.Tx(ctx, func(ctx context.Context, tx *store.Tx) error {
		if err := tx.CreateLocalActor(ctx, a); err != nil {
			return err
		}
		return tx.SetInstanceSetting(ctx, store.SettingPublicURL, s.URL(""))
	})
	if err != nil {
		if a2, err2 := s.db.LocalActorByUsername(ctx, name); err2 == nil {
			return a2, nil
		}
		return nil, fmt.Errorf("create instance actor: %w", err)
	}
	s.log.Info("instance actor created", "actor", s.ActorURL(name))
	return a, nil
}

// SignerFor returns a request signer for a local actor.
func (s *Service) SignerFor(a *store.LocalActor) (*signing.RequestSigner, error) {
	key, err := signing.ParsePrivateKeyPEM(a.PrivateKeyPEM)
	if err != nil {
		return nil, fmt.Errorf("key of local actor %s: %w", a.Username, err)
	}
	return &signing.RequestSigner{KeyID: s.ActorURL(a.Username) + "#main-key", Key: key, Now: s.now}, nil
}

func (s *Service) instanceSigner(ctx context.Context) (*signing.RequestSigner, error) {
	a, err := s.InstanceActor(ctx)
	if err != nil {
		return nil, err
	}
	return s.SignerFor(a)
}

// isLocal reports whether an id was minted under public_url.
func (s *Service) isLocal(id string) bool {
	return strings.HasPrefix(id, s.base.String()+"/")
}
