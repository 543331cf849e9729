package federation

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"

	"github.com/google/uuid"

	"codeberg.org/passerelle/passerelle/bridges"
	"codeberg.org/passerelle/passerelle/federation/outbox"
	"codeberg.org/passerelle/passerelle/internal/outbound"
	"codeberg.org/passerelle/passerelle/store"
)

func randomID() string { return uuid.NewString() }

// Resolved is a remote actor found from what a user typed.
type Resolved struct {
	ActorURL string
	Handle   string
	Software string
	Actor    *actorDoc
}

// Notice says what to expect of a Follow, given whom it goes to.
func (r *Resolved) Notice() string {
	switch {
	case r.Actor.Type == "Person" && r.Software == "mobilizon":
		return "Mobilizon drops follows of persons without answering: follow the person's group instead"
	case r.Actor.Type == "Application" && r.Software == "mobilizon":
		return "a Mobilizon instance actor needs an admin's approval: the follow stays pending until then"
	case r.Actor.ManuallyApprovesFollowers:
		return "this actor approves followers by hand: the follow stays pending until then"
	}
	return ""
}

var handleRE = regexp.MustCompile(`^@?([^@/\s]+)@([^@/\s]+)$`)

// baseURLs are where a host's well-known documents may be: https, and
// plain http too when private networks are allowed (tests over loopback).
func (s *Service) baseURLs(host string) []string {
	if s.opts.AllowPrivateNetworks {
		return []string{"https://" + host, "http://" + host}
	}
	return []string{"https://" + host}
}

// Resolve finds the actor behind "@user@host[:port]", an actor URL, or a
// bare instance URL (its instance actor: Gancio's relay, Mobilizon's
// /relay), and the software the host runs.
func (s *Service) Resolve(ctx context.Context, input string) (*Resolved, error) {
	input = strings.TrimSpace(input)
	var actorURL, handle, base string
	if m := handleRE.FindStringSubmatch(input); m != nil {
		handle = "@" + m[1] + "@" + m[2]
		var err error
		actorURL, base, err = s.webfinger(ctx, m[2], "acct:"+m[1]+"@"+m[2])
		if err != nil {
			return nil, fmt.Errorf("resolve %s: %w", handle, err)
		}
	} else {
		u, err := outbound.CheckURL(input, s.opts.AllowPrivateNetworks)
		if err != nil {
			return nil, fmt.Errorf("%q is neither a handle (@user@host) nor a usable URL: %w", input, err)
		}
		base = u.Scheme + "://" + u.Host
		if u.Path == "" || u.Path == "/" {
			actorURL, err = s.instanceActorOf(ctx, base)
			if err != nil {
				return nil, fmt.Errorf("resolve instance %s: %w", base, err)
			}
		} else {
			actorURL = u.String()
		}
	}
	d, _, err := s.fetchActor(ctx, actorURL)
	if err != nil {
		return nil, fmt.Errorf("fetch actor: %w", err)
	}
	if d.Inbox == "" {
		return nil, fmt.Errorf("%s is not an ActivityPub actor (it has no inbox)", actorURL)
	}
	if handle == "" && d.PreferredUsername != "" {
		u, _ := url.Parse(d.ID)
		handle = "@" + d.PreferredUsername + "@" + u.Host
	}
	return &Resolved{ActorURL: d.ID, Handle: handle, Software: s.detectSoftware(ctx, base), Actor: d}, nil
}

// webfinger looks up an acct: resource and returns the actor URL and the
// base URL that answered.
func (s *Service) webfinger(ctx context.Context, host, resource string) (string, string, error) {
	var lastErr error
	for _, base := range s.baseURLs(host) {
		body, err := s.fetcher.Get(ctx, base+"/.well-known/webfinger?resource="+url.QueryEscape(resource), "application/jrd+json, application/json")
		if err != nil {
			lastErr = err
			continue
		}
		var jrd struct {
			Links []struct{ Rel, Type, Href string } `json:"links"`
		}
		if err := json.Unmarshal(body, &jrd); err != nil {
			return "", "", fmt.Errorf("WebFinger answer from %s is not JSON: %w", host, err)
		}
		for _, l := range jrd.Links {
			if l.Rel == "self" && (strings.Contains(l.Type, "activity+json") || strings.Contains(l.Type, "ld+json")) && l.Href != "" {
				return l.Href, base, nil
			}
		}
		return "", "", fmt.Errorf("WebFinger on %s names no ActivityPub actor for %s", host, resource)
	}
	return "", "", fmt.Errorf("WebFinger on %s: %w", host, lastErr)
}

// instanceActorOf finds the actor that speaks for a whole instance: the
// NodeInfo link to an Application (PeerTube, recent Gancio), else the
// relay actor (Gancio's "relay" by WebFinger, Mobilizon's /relay).
func (s *Service) instanceActorOf(ctx context.Context, base string) (string, error) {
	// Every way is tried; when one was refused because the host is a
	// private address, that is what the user must hear, not that no
	// actor was found.
	var refused error
	note := func(err error) {
		if refused == nil && errors.Is(err, outbound.ErrPrivateAddress) {
			refused = err
		}
	}
	body, err := s.fetcher.Get(ctx, base+"/.well-known/nodeinfo", "application/json")
	if err == nil {
		var links struct {
			Links []struct{ Rel, Href string } `json:"links"`
		}
		if json.Unmarshal(body, &links) == nil {
			for _, l := range links.Links {
				if l.Rel == "https://www.w3.org/ns/activitystreams#Application" && l.Href != "" {
					return l.Href, nil
				}
			}
		}
	}
	note(err)
	u, _ := url.Parse(base)
	for _, name := range []string{"relay", "gancio"} {
		a, _, err := s.webfinger(ctx, u.Host, "acct:"+name+"@"+u.Host)
		if err == nil {
			return a, nil
		}
		note(err)
	}
	_, _, err = s.fetchActor(ctx, base+"/relay")
	if err == nil {
		return base + "/relay", nil
	}
	note(err)
	if refused != nil {
		return "", refused
	}
	return "", errors.New("found no instance actor (tried NodeInfo, WebFinger relay@ and gancio@, /relay): give the actor's URL or handle")
}

// detectSoftware reads NodeInfo's software name: mobilizon, gancio,
// peertube, or generic for anything else (and when NodeInfo is missing).
func (s *Service) detectSoftware(ctx context.Context, base string) string {
	body, err := s.fetcher.Get(ctx, base+"/.well-known/nodeinfo", "application/json")
	if err != nil {
		return "generic"
	}
	var links struct {
		Links []struct{ Rel, Href string } `json:"links"`
	}
	if json.Unmarshal(body, &links) != nil {
		return "generic"
	}
	for _, l := range links.Links {
		if !strings.HasPrefix(l.Rel, "http://nodeinfo.diaspora.software/ns/schema/2.") {
			continue
		}
		body, err := s.fetcher.Get(ctx, l.Href, "application/json")
		if err != nil {
			continue
		}
		var ni struct {
			Software struct{ Name string } `json:"software"`
		}
		if json.Unmarshal(body, &ni) != nil {
			continue
		}
		switch name := strings.ToLower(ni.Software.Name); name {
		case "mobilizon", "gancio", "peertube":
			return name
		}
		return "generic"
	}
	return "generic"
}

var slugClean = regexp.MustCompile(`[^a-z0-9]+`)

// Follow records the source as pending and enqueues a Follow from the
// instance actor. Following a refused or unfollowed source again sends a
// fresh Follow; a followed or pending source keeps its state and its
// Follow, which is sent again.
func (s *Service) Follow(ctx context.Context, r *Resolved) (*bridges.Source, error) {
	inst, err := s.InstanceActor(ctx)
	if err != nil {
		return nil, err
	}
	var src *bridges.Source
	err = s.db.Tx(ctx, func(ctx context.Context, tx *store.Tx) error {
		old, err := tx.SourceWhere(ctx, "actor_url", r.ActorURL)
		switch {
		case errors.Is(err, bridges.ErrNotFound):
			src = &bridges.Source{ActorURL: r.ActorURL}
			if src.Slug, err = s.freeSlug(ctx, tx, r); err != nil {
				return err
			}
		case err != nil:
			return err
		default:
			src = old
		}
		d := r.Actor
		src.Handle, src.Software, src.Name, src.Summary = r.Handle, r.Software, d.Name, d.Summary
		src.Inbox, src.SharedInbox, src.Outbox, src.EventsURL = d.Inbox, d.Endpoints.SharedInbox, d.Outbox, d.eventsURL()
		if src.Name == "" {
			src.Name = d.PreferredUsername
		}
		// A source followed or pending keeps its Follow: the same Follow
		// is sent again (a server that lost it takes it anew; Mobilizon
		// answers nothing to a Follow it already has), and an Accept that
		// comes later names the id it first got. A new id would leave the
		// source pending for good. A Follow made under another public_url
		// is from an actor that is no more: that one is replaced.
		if again := s.isLocal(src.FollowID) && (src.State == bridges.SourceFollowed || src.State == bridges.SourcePending); !again {
			src.FollowID = s.NewActivityID("follows")
			src.State = bridges.SourcePending
		}
		follow, err := followActivity(src.FollowID, s.ActorURL(inst.Username), r.ActorURL)
		if err != nil {
			return err
		}
		if src.CreatedAt.IsZero() {
			src.CreatedAt = s.now()
		}
		if err := tx.SaveSource(ctx, src); err != nil {
			return err
		}
		return s.Deliver(ctx, tx, inst.ID, outbox.Recipient{Actor: r.ActorURL, Inbox: firstNonEmpty(d.Endpoints.SharedInbox, d.Inbox)}, follow)
	})
	if err != nil {
		return nil, fmt.Errorf("follow %s: %w", r.ActorURL, err)
	}
	s.log.Info("follow sent", "source", src.Slug, "actor", r.ActorURL, "software", r.Software)
	return src, nil
}

// Unfollow sends Undo{Follow} and marks the source unfollowed: its events
// stay stored, marked by the source's state, and leave the calendars.
func (s *Service) Unfollow(ctx context.Context, src *bridges.Source) error {
	inst, err := s.InstanceActor(ctx)
	if err != nil {
		return err
	}
	undo, err := undoFollowActivity(s.NewActivityID("undos"), s.ActorURL(inst.Username), src.FollowID, src.ActorURL)
	if err != nil {
		return err
	}
	return s.db.Tx(ctx, func(ctx context.Context, tx *store.Tx) error {
		if err := tx.SetSourceState(ctx, src.ID, bridges.SourceUnfollowed); err != nil {
			return err
		}
		return s.Deliver(ctx, tx, inst.ID, outbox.Recipient{Actor: src.ActorURL, Inbox: firstNonEmpty(src.SharedInbox, src.Inbox)}, undo)
	})
}

func (s *Service) freeSlug(ctx context.Context, tx *store.Tx, r *Resolved) (string, error) {
	base := slugClean.ReplaceAllString(strings.ToLower(r.Actor.PreferredUsername), "-")
	base = strings.Trim(base, "-")
	if base == "" {
		base = "source"
	}
	for i := 1; i < 100; i++ {
		slug := base
		if i > 1 {
			slug = fmt.Sprintf("%s-%d", base, i)
		}
		_, err := tx.SourceWhere(ctx, "slug", slug)
		if errors.Is(err, bridges.ErrNotFound) {
			return slug, nil
		}
		if err != nil {
			return "", err
		}
	}
	return "", fmt.Errorf("no free slug for %s", r.ActorURL)
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

// FindSource finds a source by what a user types (handle, actor URL or
// slug); see store.DB.FindSource.
func (s *Service) FindSource(ctx context.Context, name string) (*bridges.Source, error) {
	return s.db.FindSource(ctx, name)
}
