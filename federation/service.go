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

	"codeberg.org/passerelle/passerelle/bridges"
	"codeberg.org/passerelle/passerelle/federation/outbox"
	"codeberg.org/passerelle/passerelle/federation/policy"
	"codeberg.org/passerelle/passerelle/federation/signing"
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
	// Sender gives the Service its ids, URLs and Deliver (its Outbox),
	// and sends the deliveries.
	*outbox.Sender
	base     *url.URL
	db       *store.DB
	opts     Options
	events   *bridges.Events[*store.Tx]
	dialects map[string]bridges.Dialect
	joins    bridges.JoinAnswerListener[*store.Tx]
	parts    func(ctx context.Context, tx *store.Tx, p PublishedParticipation) error
	log      *slog.Logger
	now      func() time.Time

	policy   *policy.Policy
	client   *http.Client
	fetcher  *Fetcher
	verifier *signing.SignatureVerifier

	instanceMu sync.Mutex
	instance   *store.LocalActor

	// PublishedEventPage serves a published calendar's event to a
	// browser, at the Event's own id (web's page, wired in cmd; set it
	// before Mount). Nil: browsers get the JSON too.
	PublishedEventPage http.Handler

	// inbox stores what the inbox accepts, in group commits.
	inbox *groupCommit
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
	// Participations is told, in the transaction that records it, of
	// each Join or Leave of a published calendar's event (the organiser's
	// mail); nil: the log alone says it.
	Participations func(ctx context.Context, tx *store.Tx, p PublishedParticipation) error
}

// New builds the service. It does not touch the network or the database.
func New(opts Options, deps Deps) (*Service, error) {
	out, err := outbox.New(opts.PublicURL, deps.DB)
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
	out.Now = now
	s := &Service{
		base: out.Base(), db: deps.DB,
		opts: opts, events: deps.Events, dialects: deps.Dialects, joins: deps.JoinAnswers, parts: deps.Participations,
		log: log.With("component", "federation"), now: now,
		inbox: newGroupCommit(deps.DB),
	}
	s.policy = &policy.Policy{Allow: opts.Allow, Block: opts.Block, Store: deps.DB}
	s.client = deps.HTTPClient
	if s.client == nil {
		s.client = outbound.New(outbound.Options{AllowPrivateNetworks: opts.AllowPrivateNetworks, UserAgent: s.userAgent()})
	}
	s.Sender = outbox.NewSender(out, outbox.SenderOptions{
		Client: s.client, Policy: s.policy, AllowPrivateNetworks: opts.AllowPrivateNetworks,
		Refresh: func(ctx context.Context, actorURL string) (*store.RemoteActor, error) {
			ra, _, err := s.refreshActor(ctx, actorURL, "")
			return ra, err
		},
		Log: s.log, EraseCheckInterval: opts.EraseCheckInterval,
	})
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
func (s *Service) Policy() *policy.Policy { return s.policy }

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
