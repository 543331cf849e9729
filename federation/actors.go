package federation

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"codeberg.org/passerelle/passerelle/bridges"
	"codeberg.org/passerelle/passerelle/store"
)

// Content types of ActivityStreams documents.
const (
	contentTypeActivity = "application/activity+json"
	contentTypeLD       = `application/ld+json; profile="https://www.w3.org/ns/activitystreams"`
)

var asContext = []any{"https://www.w3.org/ns/activitystreams", "https://w3id.org/security/v1"}

// Mount registers the ActivityPub routes on mux: the actors, the inboxes
// and the well-known discovery documents.
func (s *Service) Mount(mux *http.ServeMux) {
	mux.HandleFunc("GET /actors/{username}", s.serveActor)
	mux.HandleFunc("GET /actors/{username}/outbox", s.serveOutbox)
	mux.HandleFunc("GET /actors/{username}/followers", s.serveFollowers)
	mux.HandleFunc("GET /actors/{username}/events/{key}", s.servePublishedEvent)
	mux.HandleFunc("GET /actors/{username}/events/{key}/attendees", s.serveAttendees)
	mux.HandleFunc("GET /actors/{username}/following", s.serveEmptyCollection)
	mux.HandleFunc("POST /actors/{username}/inbox", s.serveInbox)
	mux.HandleFunc("POST /inbox", s.serveInbox)
	mux.HandleFunc("GET /.well-known/webfinger", s.serveWebFinger)
	mux.HandleFunc("GET /.well-known/nodeinfo", s.serveNodeInfoLinks)
	mux.HandleFunc("GET /nodeinfo/2.1", s.serveNodeInfo)
	mux.HandleFunc("GET /.well-known/host-meta", s.serveHostMeta)
}

// wantsActivity reports whether the client asked for ActivityStreams; a
// browser (text/html first) is sent to the home page instead.
func wantsActivity(r *http.Request) bool {
	accept := r.Header.Get("Accept")
	if accept == "" {
		return true
	}
	if strings.Contains(accept, "application/activity+json") || strings.Contains(accept, "application/ld+json") {
		return true
	}
	return !strings.Contains(accept, "text/html")
}

func writeJSON(w http.ResponseWriter, r *http.Request, contentType string, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "encode document", http.StatusInternalServerError)
		return
	}
	if contentType == contentTypeActivity && strings.Contains(r.Header.Get("Accept"), "application/ld+json") && !strings.Contains(r.Header.Get("Accept"), "application/activity+json") {
		contentType = contentTypeLD
	}
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Vary", "Accept")
	w.WriteHeader(status)
	w.Write(b)
}

// actorDocument is the JSON of a local actor: the instance actor is an
// Application, participants are Persons (and published calendars Groups,
// see groupFields). Nothing about a participant but
// their chosen display name and random username is published: never an
// email address.
func (s *Service) actorDocument(a *store.LocalActor) map[string]any {
	id := s.ActorURL(a.Username)
	typ := "Person"
	if a.Kind == store.ActorInstance {
		typ = "Application"
	}
	return map[string]any{
		"@context":                  asContext,
		"id":                        id,
		"type":                      typ,
		"preferredUsername":         a.Username,
		"name":                      a.DisplayName,
		"url":                       id,
		"inbox":                     id + "/inbox",
		"outbox":                    id + "/outbox",
		"followers":                 id + "/followers",
		"following":                 id + "/following",
		"manuallyApprovesFollowers": true,
		"discoverable":              false,
		"endpoints":                 map[string]any{"sharedInbox": s.URL("/inbox")},
		"publicKey": map[string]any{
			"id":           id + "#main-key",
			"owner":        id,
			"publicKeyPem": a.PublicKeyPEM,
		},
	}
}

func (s *Service) lookupActor(w http.ResponseWriter, r *http.Request) *store.LocalActor {
	username := r.PathValue("username")
	a, err := s.db.LocalActorByUsername(r.Context(), username)
	if errors.Is(err, bridges.ErrNotFound) {
		if !s.erasedActor(w, r, username) {
			http.Error(w, "no such actor", http.StatusNotFound)
		}
		return nil
	}
	if err != nil {
		s.log.Error("load local actor", "username", username, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return nil
	}
	return a
}

// serveActor answers unsigned GETs too: Mobilizon fetches keys without
// signing, and refusing it would make every signature check fail there.
func (s *Service) serveActor(w http.ResponseWriter, r *http.Request) {
	a := s.lookupActor(w, r)
	if a == nil {
		return
	}
	if !wantsActivity(r) {
		http.Redirect(w, r, s.URL("/"), http.StatusSeeOther)
		return
	}
	if a.Kind == store.ActorCalendarRemoved {
		s.serveRemovedGroup(w, r, a)
		return
	}
	doc := s.actorDocument(a)
	if a.Kind == store.ActorCalendar {
		s.groupFields(r.Context(), a, doc)
	}
	writeJSON(w, r, contentTypeActivity, http.StatusOK, doc)
}

// serveEmptyCollection serves outbox, followers and following: passerelle
// publishes nothing and keeps its social graph to itself.
func (s *Service) serveEmptyCollection(w http.ResponseWriter, r *http.Request) {
	if s.lookupActor(w, r) == nil {
		return
	}
	writeJSON(w, r, contentTypeActivity, http.StatusOK, map[string]any{
		"@context":     asContext[0],
		"id":           s.URL(r.URL.Path),
		"type":         "OrderedCollection",
		"totalItems":   0,
		"orderedItems": []any{},
	})
}

// serveWebFinger resolves acct:user@host (or user@host, or an actor URL)
// for a local actor.
func (s *Service) serveWebFinger(w http.ResponseWriter, r *http.Request) {
	res := r.URL.Query().Get("resource")
	if res == "" {
		http.Error(w, "missing resource parameter (want acct:user@host)", http.StatusBadRequest)
		return
	}
	var username string
	switch {
	case strings.HasPrefix(res, s.URL("/actors/")):
		username = strings.TrimPrefix(res, s.URL("/actors/"))
	default:
		acct := strings.TrimPrefix(strings.TrimPrefix(res, "acct:"), "@")
		user, host, ok := strings.Cut(acct, "@")
		if !ok || !strings.EqualFold(host, s.base.Host) {
			http.Error(w, "unknown resource", http.StatusNotFound)
			return
		}
		username = user
	}
	a, err := s.db.LocalActorByUsername(r.Context(), username)
	if err != nil {
		http.Error(w, "unknown resource", http.StatusNotFound)
		return
	}
	if a.Kind == store.ActorCalendarRemoved {
		http.Error(w, "this calendar is no longer published", http.StatusGone)
		return
	}
	id := s.ActorURL(a.Username)
	w.Header().Set("Access-Control-Allow-Origin", "*")
	writeJSON(w, r, "application/jrd+json", http.StatusOK, map[string]any{
		"subject": "acct:" + a.Username + "@" + s.base.Host,
		"aliases": []string{id},
		"links": []map[string]string{
			{"rel": "self", "type": contentTypeActivity, "href": id},
		},
	})
}

func (s *Service) serveNodeInfoLinks(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, r, "application/json", http.StatusOK, map[string]any{
		"links": []map[string]string{
			{"rel": "http://nodeinfo.diaspora.software/ns/schema/2.1", "href": s.URL("/nodeinfo/2.1")},
		},
	})
}

func (s *Service) serveNodeInfo(w http.ResponseWriter, r *http.Request) {
	version := s.opts.Version
	if version == "" {
		version = "dev"
	}
	nodeName := s.opts.NodeName
	if nodeName == "" {
		nodeName = s.base.Host
	}
	writeJSON(w, r, `application/json; profile="http://nodeinfo.diaspora.software/ns/schema/2.1#"`, http.StatusOK, map[string]any{
		"version": "2.1",
		"software": map[string]any{
			"name":    "passerelle",
			"version": version,
		},
		"protocols":         []string{"activitypub"},
		"services":          map[string]any{"inbound": []string{}, "outbound": []string{"atom1.0"}},
		"openRegistrations": false,
		"usage":             s.nodeInfoUsage(r),
		"metadata":          map[string]any{"nodeName": nodeName},
	})
}

// nodeInfoUsage counts the published calendars as users (each is a Group
// people follow) and their events as posts; passerelle's own actors do
// not count.
func (s *Service) nodeInfoUsage(r *http.Request) map[string]any {
	cals, evs, err := s.db.PublishedTotals(r.Context())
	if err != nil {
		s.log.Warn("count published calendars for NodeInfo", "err", err)
		return map[string]any{"users": map[string]any{}}
	}
	return map[string]any{"users": map[string]any{"total": cals}, "localPosts": evs}
}

func (s *Service) serveHostMeta(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/xrd+xml; charset=utf-8")
	fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?>
<XRD xmlns="http://docs.oasis-open.org/ns/xri/xrd-1.0">
  <Link rel="lrdd" type="application/jrd+json" template="%s/.well-known/webfinger?resource={uri}"/>
</XRD>
`, s.base.String())
}

// erasedActor answers for a username that no longer names an actor: 410
// Gone with a Tombstone when it was an erased participant's. It reports
// whether it answered.
func (s *Service) erasedActor(w http.ResponseWriter, r *http.Request, username string) bool {
	deleted, err := s.db.ErasedActor(r.Context(), username)
	if errors.Is(err, bridges.ErrNotFound) {
		return false
	}
	if err != nil {
		s.log.Error("look up erased actor", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return true
	}
	writeJSON(w, r, contentTypeActivity, http.StatusGone, map[string]any{
		"@context":   asContext[0],
		"id":         s.ActorURL(username),
		"type":       "Tombstone",
		"formerType": "Person",
		"deleted":    deleted.UTC().Format(time.RFC3339),
	})
	return true
}
