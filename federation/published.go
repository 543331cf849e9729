package federation

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"codeberg.org/passerelle/passerelle/bridges"
	"codeberg.org/passerelle/passerelle/federation/outbox"
	"codeberg.org/passerelle/passerelle/store"
)

// This file serves published calendars (issue 19): each is a Group actor
// (kind calendar) whose outbox holds a Create of each upcoming event,
// whose Events answer at /actors/SLUG/events/KEY (410 and a Tombstone
// once deleted), and which accepts Follows and Joins by itself. The
// publish package fetches the calendars and stores the Event documents;
// this side only serves what is stored.

// groupFields adds a published calendar's own fields to its actor
// document.
func (s *Service) groupFields(ctx context.Context, a *store.LocalActor, doc map[string]any) {
	doc["type"] = "Group"
	doc["manuallyApprovesFollowers"] = false
	doc["discoverable"] = true
	if c, err := s.db.PublishedCalendar(ctx, a.Username); err == nil {
		doc["manuallyApprovesFollowers"] = c.Approve
		if c.Title != "" {
			doc["name"] = c.Title
		}
		if c.Summary != "" {
			doc["summary"] = "<p>" + escapeText(c.Summary) + "</p>"
		}
	}
}

func escapeText(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;").Replace(s)
}

// publishedCalendar returns the calendar of a local actor, or nil when
// the actor is none.
func (s *Service) publishedCalendar(ctx context.Context, a *store.LocalActor) (*store.PublishedCalendar, error) {
	if a.Kind != store.ActorCalendar {
		return nil, nil
	}
	return s.db.PublishedCalendar(ctx, a.Username)
}

// serveOutbox serves a calendar's outbox: a Create of each event not
// deleted, oldest first, so that a new follower (Mobilizon reads it) sees
// the upcoming events. Other actors publish nothing.
func (s *Service) serveOutbox(w http.ResponseWriter, r *http.Request) {
	a := s.lookupActor(w, r)
	if a == nil {
		return
	}
	c, err := s.publishedCalendar(r.Context(), a)
	if err != nil {
		s.log.Error("load published calendar", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	if c == nil {
		s.serveEmptyCollection(w, r)
		return
	}
	evs, err := s.db.VisiblePublishedEvents(r.Context(), c.ID)
	if err != nil {
		s.log.Error("list published events", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	group := s.ActorURL(a.Username)
	items := make([]any, 0, len(evs))
	for _, e := range evs {
		var obj map[string]any
		if json.Unmarshal(e.Object, &obj) != nil {
			continue
		}
		delete(obj, "@context")
		items = append(items, eventCreate(group, obj))
	}
	writeJSON(w, r, contentTypeActivity, http.StatusOK, map[string]any{
		"@context":     asContext[0],
		"id":           s.URL(r.URL.Path),
		"type":         "OrderedCollection",
		"totalItems":   len(items),
		"orderedItems": items,
	})
}

// eventCreate is the Group's Create of a stored Event (its @context taken
// out), addressed as the Event is: what the outbox lists and a new
// follower is sent.
func eventCreate(group string, obj map[string]any) map[string]any {
	return map[string]any{
		"id": objectID(obj) + "/activity", "type": "Create", "actor": group,
		"published": obj["published"], "to": obj["to"], "cc": obj["cc"], "object": obj,
	}
}

// serveFollowers serves a calendar's follower count (not who they are).
func (s *Service) serveFollowers(w http.ResponseWriter, r *http.Request) {
	a := s.lookupActor(w, r)
	if a == nil {
		return
	}
	c, err := s.publishedCalendar(r.Context(), a)
	if err != nil || c == nil {
		s.serveEmptyCollection(w, r)
		return
	}
	fs, err := s.db.PublishedFollowers(r.Context(), c.ID)
	if err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	n := 0
	for _, f := range fs {
		if f.State != store.FollowerPending {
			n++
		}
	}
	writeJSON(w, r, contentTypeActivity, http.StatusOK, map[string]any{
		"@context":   asContext[0],
		"id":         s.URL(r.URL.Path),
		"type":       "OrderedCollection",
		"totalItems": n,
	})
}

// publicAudience is ActivityStreams' Public collection.
const publicAudience = "https://www.w3.org/ns/activitystreams#Public"

// requestedPublishedEvent finds the published event a request's path
// names ({username}, {key}), or answers it: 410 with a Tombstone of
// formerType for a removed calendar, 404, or 500.
func (s *Service) requestedPublishedEvent(w http.ResponseWriter, r *http.Request, formerType string) (*store.LocalActor, *store.PublishedEvent) {
	a := s.lookupActor(w, r)
	if a == nil {
		return nil, nil
	}
	if a.Kind == store.ActorCalendarRemoved {
		s.servePublishedGone(w, r, a, formerType)
		return nil, nil
	}
	c, err := s.publishedCalendar(r.Context(), a)
	if err != nil || c == nil {
		http.Error(w, "no such event", http.StatusNotFound)
		return nil, nil
	}
	e, err := s.db.PublishedEventByKey(r.Context(), c.ID, r.PathValue("key"))
	if errors.Is(err, bridges.ErrNotFound) {
		http.Error(w, "no such event", http.StatusNotFound)
		return nil, nil
	}
	if err != nil {
		s.log.Error("load published event", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return nil, nil
	}
	return a, e
}

// servePublishedEvent serves one Event of a calendar, with its
// participantCount of the moment; a deleted one, or any of a removed
// calendar, answers 410 Gone with a Tombstone (Mobilizon refetches an
// object on Delete). The Event's id is also its url: a browser (Accept
// text/html) gets passerelle's page of the event from PublishedEventPage
// at the same address, as Mobilizon serves its events.
func (s *Service) servePublishedEvent(w http.ResponseWriter, r *http.Request) {
	if !wantsActivity(r) && s.PublishedEventPage != nil {
		s.PublishedEventPage.ServeHTTP(w, r)
		return
	}
	_, e := s.requestedPublishedEvent(w, r, "Event")
	if e == nil {
		return
	}
	status := http.StatusOK
	body := e.Object
	if e.State == store.PublishedDeleted {
		status = http.StatusGone
	} else if n, err := s.db.PublishedParticipantCount(r.Context(), e.ID); err == nil {
		var obj map[string]any
		if json.Unmarshal(e.Object, &obj) == nil {
			obj["participantCount"] = n
			if b, err := json.Marshal(obj); err == nil {
				body = b
			}
		}
	}
	w.Header().Set("Content-Type", contentTypeActivity)
	w.Header().Set("Vary", "Accept")
	w.WriteHeader(status)
	w.Write(body)
}

func objectID(obj map[string]any) string {
	id, _ := obj["id"].(string)
	return id
}

// publishedTarget finds the calendar (and its actor) of a local Group id.
func (s *Service) publishedTarget(ctx context.Context, id string) (*store.PublishedCalendar, *store.LocalActor, error) {
	prefix := s.URL("/actors/")
	if !strings.HasPrefix(id, prefix) {
		return nil, nil, skipf("%s is not a local actor", id)
	}
	username, err := url.PathUnescape(strings.TrimPrefix(id, prefix))
	if err != nil || strings.Contains(username, "/") {
		return nil, nil, skipf("%s is not a local actor", id)
	}
	a, err := s.db.LocalActorByUsername(ctx, username)
	if errors.Is(err, bridges.ErrNotFound) {
		return nil, nil, skipf("no local actor %s", username)
	}
	if err != nil {
		return nil, nil, err
	}
	c, err := s.publishedCalendar(ctx, a)
	if errors.Is(err, bridges.ErrNotFound) || (err == nil && c == nil) {
		return nil, nil, skipf("%s is not a published calendar: passerelle's other actors take no followers", id)
	}
	if err != nil {
		return nil, nil, err
	}
	return c, a, nil
}

// processFollow accepts a Follow of a published calendar: the follower is
// stored and an Accept sent, in one transaction.
func (s *Service) processFollow(ctx context.Context, act *Activity, actor string) error {
	c, _, err := s.publishedTarget(ctx, ref(act.Object))
	if err != nil {
		return err
	}
	ra, err := s.db.RemoteActor(ctx, actor)
	if err != nil || (ra.Inbox == "" && ra.SharedInbox == "") {
		if ra, _, err = s.refreshActor(ctx, actor, ""); err != nil {
			return err
		}
	}
	group := s.ActorURL(c.Slug)
	accept, err := json.Marshal(map[string]any{
		"@context": asContext[0], "id": s.NewActivityID("accepts"), "type": "Accept", "actor": group,
		"object": map[string]any{"id": act.ID, "type": "Follow", "actor": actor, "object": group},
		"to":     []string{actor},
	})
	if err != nil {
		return err
	}
	held := false
	err = s.db.Tx(ctx, func(ctx context.Context, tx *store.Tx) error {
		before, err := tx.PublishedFollowers(ctx, c.ID)
		if err != nil {
			return err
		}
		state := store.FollowerAccepted
		for _, f := range before {
			if f.Actor == actor {
				state = f.State
			}
		}
		known := state == store.FollowerAccepted && len(before) > 0 && followerIn(before, actor)
		if c.Approve && !known {
			// --approve: held until `passerelle publish approve`.
			held = true
			return tx.AddPublishedFollower(ctx, c.ID, store.PublishedFollower{Actor: actor, Inbox: ra.Inbox, SharedInbox: ra.SharedInbox,
				FollowID: act.ID, State: store.FollowerPending, CreatedAt: s.now()})
		}
		if err := tx.AddPublishedFollower(ctx, c.ID, store.PublishedFollower{Actor: actor, Inbox: ra.Inbox, SharedInbox: ra.SharedInbox, FollowID: act.ID, CreatedAt: s.now()}); err != nil {
			return err
		}
		to := outbox.Recipient{Actor: actor, Inbox: ra.Inbox}
		if err := s.Deliver(ctx, tx, c.ActorID, to, accept); err != nil {
			return err
		}
		if known {
			// Followed again: it has the events already.
			return nil
		}
		return s.sendUpcoming(ctx, tx, c, to)
	})
	switch {
	case err != nil:
	case held:
		s.log.Info("follow of a published calendar held for approval (passerelle publish approve)", "calendar", c.Slug, "follower", actor)
	default:
		s.log.Info("published calendar followed", "calendar", c.Slug, "follower", actor)
	}
	return err
}

func followerIn(fs []store.PublishedFollower, actor string) bool {
	for _, f := range fs {
		if f.Actor == actor {
			return true
		}
	}
	return false
}

// AnswerFollow answers a follow of a published calendar held by
// --approve: accepted, the follower gets the Accept and the upcoming
// events; rejected, a Reject and it is forgotten.
func (s *Service) AnswerFollow(ctx context.Context, slug, actor string, accept bool) error {
	c, err := s.db.PublishedCalendar(ctx, slug)
	if err != nil {
		return err
	}
	group := s.ActorURL(slug)
	return s.db.Tx(ctx, func(ctx context.Context, tx *store.Tx) error {
		fs, err := tx.PublishedFollowers(ctx, c.ID)
		if err != nil {
			return err
		}
		var f *store.PublishedFollower
		for i := range fs {
			if fs[i].Actor == actor {
				f = &fs[i]
			}
		}
		if f == nil || f.State != store.FollowerPending {
			return fmt.Errorf("%s has no follow of %s waiting for an answer: %w", actor, slug, bridges.ErrNotFound)
		}
		typ := "Accept"
		if !accept {
			typ = "Reject"
		}
		body, err := json.Marshal(map[string]any{
			"@context": asContext[0], "id": s.NewActivityID(strings.ToLower(typ) + "s"), "type": typ, "actor": group,
			"object": map[string]any{"id": f.FollowID, "type": "Follow", "actor": actor, "object": group},
			"to":     []string{actor},
		})
		if err != nil {
			return err
		}
		to := outbox.Recipient{Actor: actor, Inbox: f.Inbox}
		if err := s.Deliver(ctx, tx, c.ActorID, to, body); err != nil {
			return err
		}
		if !accept {
			_, err := tx.RemovePublishedFollower(ctx, c.ID, actor)
			return err
		}
		f.State = store.FollowerAccepted
		if err := tx.AddPublishedFollower(ctx, c.ID, *f); err != nil {
			return err
		}
		return s.sendUpcoming(ctx, tx, c, to)
	})
}

// maxBackfill bounds the Creates a new follower is sent.
const maxBackfill = 200

// sendUpcoming sends a new follower a Create of each upcoming event (at
// most maxBackfill, soonest first): Mobilizon shows a follower only what
// it is sent after following, and reads no outbox. The Create's id is
// the one the outbox shows.
func (s *Service) sendUpcoming(ctx context.Context, tx *store.Tx, c *store.PublishedCalendar, to outbox.Recipient) error {
	evs, err := tx.PublishedEvents(ctx, c.ID)
	if err != nil {
		return err
	}
	group := s.ActorURL(c.Slug)
	since := s.now().Add(-24 * time.Hour)
	n := 0
	for _, e := range evs {
		if e.State == store.PublishedDeleted || e.StartsAt.Before(since) {
			continue
		}
		if n++; n > maxBackfill {
			break
		}
		var obj map[string]any
		if json.Unmarshal(e.Object, &obj) != nil {
			continue
		}
		// The count of the moment, as a GET of the Event gives it.
		if obj["participantCount"], err = tx.PublishedParticipantCount(ctx, e.ID); err != nil {
			return err
		}
		ctxDoc := obj["@context"]
		delete(obj, "@context")
		// Addressed to the follower too: it goes to the follower's own
		// inbox, and Mobilizon's personal inbox answers 500 to an
		// activity that does not name its owner (FORMAT.md §inbox), so
		// the delivery would be retried until it gave up.
		cc, _ := obj["cc"].([]any)
		create := eventCreate(group, obj)
		create["@context"], create["cc"] = ctxDoc, append(append([]any(nil), cc...), to.Actor)
		body, err := json.Marshal(create)
		if err != nil {
			return err
		}
		if err := s.Deliver(ctx, tx, c.ActorID, to, body); err != nil {
			return err
		}
	}
	return nil
}

// processUndo handles Undo{Follow} of a published calendar and
// Undo{Join} of one of its events; every other Undo is skipped.
func (s *Service) processUndo(ctx context.Context, act *Activity, actor string) error {
	inner := embedded(act.Object)
	if inner == nil {
		return skipf("Undo of %s: passerelle keeps no record of it", ref(act.Object))
	}
	if ref(inner.Actor) != "" && ref(inner.Actor) != actor {
		return skipf("Undo of someone else's %v", inner.types())
	}
	switch {
	case inner.is("Follow"):
		c, _, err := s.publishedTarget(ctx, ref(inner.Object))
		if err != nil {
			return err
		}
		return s.db.Tx(ctx, func(ctx context.Context, tx *store.Tx) error {
			gone, err := tx.RemovePublishedFollower(ctx, c.ID, actor)
			if gone {
				s.log.Info("published calendar unfollowed", "calendar", c.Slug, "follower", actor)
			}
			return err
		})
	case inner.is("Join"):
		return s.processLeave(ctx, ref(inner.Object), actor)
	}
	return skipf("Undo of %v", inner.types())
}

// publishedEventOf finds the published event an Event id names.
func (s *Service) publishedEventOf(ctx context.Context, id string) (*store.PublishedCalendar, *store.PublishedEvent, error) {
	group, key, ok := strings.Cut(id, "/events/")
	if !ok || key == "" || strings.Contains(key, "/") {
		return nil, nil, skipf("%s is not a published event", id)
	}
	c, _, err := s.publishedTarget(ctx, group)
	if err != nil {
		return nil, nil, err
	}
	e, err := s.db.PublishedEventByKey(ctx, c.ID, key)
	if errors.Is(err, bridges.ErrNotFound) {
		return nil, nil, skipf("no published event %s", id)
	}
	return c, e, err
}

// PublishedParticipation is a Join or Leave of a published event, as the
// organiser is told of it.
type PublishedParticipation struct {
	Calendar    *store.PublishedCalendar
	Event       *store.PublishedEvent
	Name        string
	URL         string
	Start       string
	Participant string
	Joined      bool
	// Pending is a Join held for the organiser's answer (joinMode
	// restricted), or the Leave of one that was still held.
	Pending bool
	// Approved is the organiser's own acceptance of a held Join
	// (publish approve): they need no mail about it, but the calendar
	// gets its ATTENDEE.
	Approved bool
	// Count is the event's accepted participants after the change.
	Count int
}

// participation tells the Participations hook, in tx, of p (its
// Calendar, Event, Participant, Joined, Pending, Approved): the event's
// name, address, start and count are filled in here.
func (s *Service) participation(ctx context.Context, tx *store.Tx, p PublishedParticipation) error {
	var obj struct {
		Name      string `json:"name"`
		URL       string `json:"url"`
		ID        string `json:"id"`
		StartTime string `json:"startTime"`
	}
	_ = json.Unmarshal(p.Event.Object, &obj)
	n, err := tx.PublishedParticipantCount(ctx, p.Event.ID)
	if err != nil {
		return err
	}
	s.log.Info("participation in a published event", "calendar", p.Calendar.Slug, "event", p.Event.UID, "participant", p.Participant,
		"joined", p.Joined, "pending", p.Pending, "approved", p.Approved, "participants", n)
	if s.parts == nil {
		return nil
	}
	p.Name, p.URL, p.Start, p.Count = obj.Name, firstNonEmpty(obj.URL, obj.ID), obj.StartTime, n
	return s.parts(ctx, tx, p)
}

// joinAnswer is the Group's answer to a Join of one of its events.
func (s *Service) joinAnswer(group, typ, joinID, actor, event string) ([]byte, error) {
	return json.Marshal(map[string]any{
		"@context": asContext[0], "id": s.NewActivityID(strings.ToLower(typ) + "s"), "type": typ, "actor": group,
		"object": map[string]any{"id": joinID, "type": "Join", "actor": actor, "object": event},
		"to":     []string{actor},
	})
}

// processJoin answers a Join of a published event by its calendar's join
// mode: free, the participant is recorded and an Accept sent from the
// Group; restricted, the participant is recorded pending and nothing is
// sent until the organiser answers (AnswerParticipation); external or
// none, an Ignore is sent and nothing recorded — FEP-8a8e has a Join of
// an event that takes no participations here ignored rather than
// rejected: the event is not refused to anyone, it is joined elsewhere
// (external) or not at all (none). A Join of a cancelled or deleted
// event is rejected.
func (s *Service) processJoin(ctx context.Context, act *Activity, actor string) error {
	c, e, err := s.publishedEventOf(ctx, ref(act.Object))
	if err != nil {
		return err
	}
	group := s.ActorURL(c.Slug)
	event := ref(act.Object)
	answer := ""
	switch {
	case e.State != store.PublishedLive:
		answer = "Reject"
	case c.JoinMode == store.JoinNone || c.JoinMode == store.JoinExternal:
		answer = "Ignore"
	}
	return s.db.Tx(ctx, func(ctx context.Context, tx *store.Tx) error {
		if answer == "" {
			state := store.ParticipantAccepted
			if c.JoinMode == store.JoinRestricted {
				state = store.ParticipantPending
			}
			added, err := tx.AddPublishedParticipant(ctx, e.ID, actor, act.ID, state, s.now())
			if err != nil {
				return err
			}
			if added {
				if err := s.participation(ctx, tx, PublishedParticipation{Calendar: c, Event: e, Participant: actor, Joined: true, Pending: state == store.ParticipantPending}); err != nil {
					return err
				}
			}
			// A Join sent again gets the answer its participation has:
			// an Accept once accepted, nothing while it is held.
			p, err := tx.PublishedParticipant(ctx, e.ID, actor)
			if err != nil {
				return err
			}
			if p.State != store.ParticipantAccepted {
				s.log.Info("join of a published event held for the organiser (passerelle publish approve … --event)", "calendar", c.Slug, "event", event, "participant", actor)
				return nil
			}
			answer = "Accept"
		}
		if answer == "Ignore" {
			s.log.Info("join of a published event ignored: its calendar takes no participations here", "calendar", c.Slug, "join_mode", c.JoinMode, "participant", actor)
		}
		body, err := s.joinAnswer(group, answer, act.ID, actor, event)
		if err != nil {
			return err
		}
		return s.Deliver(ctx, tx, c.ActorID, outbox.Recipient{Actor: actor}, body)
	})
}

// ErrNoPendingJoin is AnswerParticipation's error when there is no held
// Join to answer.
var ErrNoPendingJoin = errors.New("no Join waiting for an answer")

// AnswerParticipation answers a Join held by a restricted calendar:
// accepted, the participant counts and gets the Accept; refused, it gets
// a Reject and is forgotten. event is the Event's id or its key (the
// last part of the id).
func (s *Service) AnswerParticipation(ctx context.Context, slug, event, actor string, accept bool) error {
	c, err := s.db.PublishedCalendar(ctx, slug)
	if err != nil {
		return err
	}
	key := event
	if i := strings.LastIndex(event, "/events/"); i >= 0 {
		key = event[i+len("/events/"):]
	}
	e, err := s.db.PublishedEventByKey(ctx, c.ID, key)
	if errors.Is(err, bridges.ErrNotFound) {
		return fmt.Errorf("%s has no event %s (`passerelle publish participants %s` lists them): %w", slug, event, slug, bridges.ErrNotFound)
	}
	if err != nil {
		return err
	}
	group := s.ActorURL(slug)
	return s.db.Tx(ctx, func(ctx context.Context, tx *store.Tx) error {
		p, err := tx.PublishedParticipant(ctx, e.ID, actor)
		if errors.Is(err, bridges.ErrNotFound) || (err == nil && p.State != store.ParticipantPending) {
			return fmt.Errorf("%s has %w for event %s of %s: %w", actor, ErrNoPendingJoin, key, slug, bridges.ErrNotFound)
		}
		if err != nil {
			return err
		}
		typ := "Accept"
		if accept {
			if _, err := tx.AcceptPublishedParticipant(ctx, e.ID, actor); err != nil {
				return err
			}
			if err := s.participation(ctx, tx, PublishedParticipation{Calendar: c, Event: e, Participant: actor, Joined: true, Approved: true}); err != nil {
				return err
			}
		} else {
			typ = "Reject"
			if _, _, err := tx.RemovePublishedParticipant(ctx, e.ID, actor); err != nil {
				return err
			}
		}
		body, err := s.joinAnswer(group, typ, p.JoinID, actor, EventIDOf(group, key))
		if err != nil {
			return err
		}
		return s.Deliver(ctx, tx, c.ActorID, outbox.Recipient{Actor: actor}, body)
	})
}

// EventIDOf is the id of a published event of the Group group.
func EventIDOf(group, key string) string { return group + "/events/" + url.PathEscape(key) }

// processLeave undoes a participation in a published event (or withdraws
// a Join still held).
func (s *Service) processLeave(ctx context.Context, eventID, actor string) error {
	c, e, err := s.publishedEventOf(ctx, eventID)
	if err != nil {
		return err
	}
	return s.db.Tx(ctx, func(ctx context.Context, tx *store.Tx) error {
		gone, accepted, err := tx.RemovePublishedParticipant(ctx, e.ID, actor)
		if err != nil || !gone {
			return err
		}
		return s.participation(ctx, tx, PublishedParticipation{Calendar: c, Event: e, Participant: actor, Pending: !accepted})
	})
}

// serveAttendees serves an event's attendees collection (FEP-8a8e): its
// count of accepted participants, not who they are. The participants are
// fediverse accounts that joined from their own server, which shows them
// as it chooses; Mobilizon shows a count to the public, and so does
// passerelle here, as for the calendar's followers.
func (s *Service) serveAttendees(w http.ResponseWriter, r *http.Request) {
	a, e := s.requestedPublishedEvent(w, r, "OrderedCollection")
	if e == nil {
		return
	}
	if e.State == store.PublishedDeleted {
		s.servePublishedGone(w, r, a, "OrderedCollection")
		return
	}
	n, err := s.db.PublishedParticipantCount(r.Context(), e.ID)
	if err != nil {
		s.log.Error("count participants", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	writeJSON(w, r, contentTypeActivity, http.StatusOK, map[string]any{
		"@context":   asContext[0],
		"id":         s.URL(r.URL.Path),
		"type":       "OrderedCollection",
		"totalItems": n,
	})
}

// servePublishedGone answers 410 Gone with a Tombstone for the document
// at the request's URL, of a removed calendar (or a deleted event's
// collection).
func (s *Service) servePublishedGone(w http.ResponseWriter, r *http.Request, a *store.LocalActor, formerType string) {
	deleted, err := s.db.ErasedActor(r.Context(), a.Username)
	if err != nil {
		deleted = s.now()
	}
	writeJSON(w, r, contentTypeActivity, http.StatusGone, map[string]any{
		"@context":   asContext[0],
		"id":         s.URL(r.URL.EscapedPath()),
		"type":       "Tombstone",
		"formerType": formerType,
		"deleted":    deleted.UTC().Format(time.RFC3339),
	})
}

// serveRemovedGroup serves the actor of a removed calendar. While
// deliveries it signed are still on their way (the Deletes publish remove
// sent its followers), it still answers with its Group document and key:
// the followers' servers fetch that key to check the Deletes, and a
// Fedify or Mastodon server that had not kept it would otherwise refuse
// them. Once they are delivered or given up, it is 410 Gone with a
// Tombstone.
func (s *Service) serveRemovedGroup(w http.ResponseWriter, r *http.Request, a *store.LocalActor) {
	n, err := s.db.PendingDeliveriesFrom(r.Context(), a.ID)
	if err != nil {
		s.log.Error("count pending deliveries", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	if n == 0 {
		s.servePublishedGone(w, r, a, "Group")
		return
	}
	doc := s.actorDocument(a)
	doc["type"] = "Group"
	writeJSON(w, r, contentTypeActivity, http.StatusOK, doc)
}

// RemoveResult is what RemoveCalendar sent.
type RemoveResult struct {
	Followers, Events int
}

// RemoveCalendar stops publishing a calendar and tells its followers, in
// the transaction that removes it: a Delete of each event not yet deleted
// and a Delete of the Group, signed by the Group (its actor stays,
// retired, with its key: store.DeletePublishedCalendar). Afterwards the
// Group and its events answer 410 Gone.
func (s *Service) RemoveCalendar(ctx context.Context, slug string) (RemoveResult, error) {
	var res RemoveResult
	c, err := s.db.PublishedCalendar(ctx, slug)
	if err != nil {
		return res, err
	}
	group := s.ActorURL(slug)
	err = s.db.Tx(ctx, func(ctx context.Context, tx *store.Tx) error {
		res = RemoveResult{}
		// Locked: a poll running now finishes first, or finds nothing.
		c, err := tx.LockPublishedCalendar(ctx, c.ID)
		if err != nil {
			return err
		}
		fs, err := tx.PublishedFollowers(ctx, c.ID)
		if err != nil {
			return err
		}
		var to []outbox.Recipient
		seen := map[string]bool{}
		for _, f := range fs {
			if f.State == store.FollowerPending {
				continue
			}
			res.Followers++
			r := outbox.Recipient{Actor: f.Actor, Inbox: firstNonEmpty(f.SharedInbox, f.Inbox)}
			// Followers on one server share its inbox: one copy.
			if r.Inbox != "" && seen[r.Inbox] {
				continue
			}
			seen[r.Inbox] = true
			to = append(to, r)
		}
		evs, err := tx.PublishedEvents(ctx, c.ID)
		if err != nil {
			return err
		}
		now := s.now().UTC().Format(time.RFC3339)
		var bodies [][]byte
		for _, e := range evs {
			if e.State == store.PublishedDeleted {
				continue
			}
			res.Events++
			id := EventIDOf(group, e.Key)
			b, err := json.Marshal(map[string]any{
				"@context": asContext[0], "id": s.NewActivityID("deletes"), "type": "Delete", "actor": group,
				"object": map[string]any{"id": id, "type": "Tombstone", "formerType": "Event", "deleted": now},
				"to":     []string{publicAudience}, "cc": []string{group + "/followers"},
			})
			if err != nil {
				return err
			}
			bodies = append(bodies, b)
		}
		b, err := json.Marshal(map[string]any{
			"@context": asContext[0], "id": s.NewActivityID("deletes"), "type": "Delete", "actor": group, "object": group,
			"to": []string{publicAudience}, "cc": []string{group + "/followers"},
		})
		if err != nil {
			return err
		}
		bodies = append(bodies, b)
		for _, r := range to {
			for _, b := range bodies {
				if err := s.Deliver(ctx, tx, c.ActorID, r, b); err != nil {
					return err
				}
			}
		}
		return tx.DeletePublishedCalendar(ctx, c)
	})
	if err == nil {
		s.log.Info("published calendar removed, its followers told", "calendar", slug, "followers", res.Followers, "events", res.Events)
	}
	return res, err
}
