package publish

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"sort"
	"strings"
	"time"

	"codeberg.org/passerelle/passerelle/federation/outbox"
	"codeberg.org/passerelle/passerelle/ical"
	"codeberg.org/passerelle/passerelle/internal/seal"
	"codeberg.org/passerelle/passerelle/store"
)

// Publisher polls published calendars and tells their followers what
// changed.
type Publisher struct {
	DB    *store.DB
	Out   *outbox.Outbox
	Fetch *Fetcher
	Log   *slog.Logger
	// Passwords seals the sources' passwords in the database (see
	// SealPassword); nil leaves them as stored (tests without a secret).
	Passwords *seal.Box
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Result is what one poll did.
type Result struct {
	NotModified                          bool
	Events                               int
	Created, Updated, Cancelled, Deleted int
	Problems                             []Problem
}

func (r Result) String() string {
	if r.NotModified {
		return "not modified since the last fetch"
	}
	s := fmt.Sprintf("%d events: %d new, %d updated, %d cancelled, %d deleted", r.Events, r.Created, r.Updated, r.Cancelled, r.Deleted)
	if len(r.Problems) > 0 {
		s += fmt.Sprintf("; %d left out (see publish list)", len(r.Problems))
	}
	return s
}

func (p *Publisher) now() time.Time {
	if p.Now != nil {
		return p.Now()
	}
	return time.Now()
}

func (p *Publisher) log() *slog.Logger {
	if p.Log != nil {
		return p.Log
	}
	return slog.Default()
}

// IDs of a calendar's documents.
func (p *Publisher) groupURL(slug string) string { return p.Out.ActorURL(slug) }

// EventURL is the id of the Event with that key.
func EventURL(groupURL, key string) string { return groupURL + "/events/" + url.PathEscape(key) }

func (p *Publisher) ids(c *store.PublishedCalendar, key string) EventIDs {
	g := p.groupURL(c.Slug)
	return EventIDs{ID: EventURL(g, key), Group: g, Followers: g + "/followers", JoinMode: c.JoinMode}
}

// ErrEmpty is the refusal of a calendar that came back without any event
// while events are published: see Poll.
var ErrEmpty = errors.New("the calendar came back without any event: the events already published are kept (no mass Delete on an empty fetch)")

// Poll fetches a calendar and, when it changed, sends its followers the
// difference. The rule that keeps a calendar's followers safe from a
// source's bad day: a fetch that fails, answers an error, is not
// iCalendar, is too big, or comes back with no event at all changes
// nothing — the last good state stays published and the reason is
// recorded (publish list shows it). Only an event missing from a good,
// non-empty fetch is deleted, and an event that has already ended more
// than a week ago is never deleted for being missing (feeds drop their
// past).
func (p *Publisher) Poll(ctx context.Context, slug string) (Result, error) {
	c, err := p.DB.PublishedCalendar(ctx, slug)
	if err != nil {
		return Result{}, err
	}
	var res Result
	if err = p.openPassword(c); err == nil {
		res, err = p.poll(ctx, c)
	}
	if err != nil {
		p.log().Warn("published calendar: poll refused, last good state kept", "calendar", slug, "err", err)
		if rerr := p.DB.RecordPublishedError(ctx, c.ID, err.Error(), p.now()); rerr != nil {
			return res, errors.Join(err, rerr)
		}
		return res, err
	}
	p.log().Info("published calendar polled", "calendar", slug, "result", res.String())
	return res, nil
}

// SealPassword turns a source password into what the database keeps:
// sealed under the instance secret and bound to the calendar's URL and
// user.
func (p *Publisher) SealPassword(c *store.PublishedCalendar, plain string) (string, error) {
	if p.Passwords == nil {
		return plain, nil
	}
	return p.Passwords.Seal(plain, passwordBinding(c))
}

func passwordBinding(c *store.PublishedCalendar) string { return c.URL + "\x00" + c.Username }

// calendar loads a published calendar with its source password opened,
// ready for requests to the source.
func (p *Publisher) calendar(ctx context.Context, slug string) (*store.PublishedCalendar, error) {
	c, err := p.DB.PublishedCalendar(ctx, slug)
	if err != nil {
		return nil, err
	}
	if err := p.openPassword(c); err != nil {
		return nil, fmt.Errorf("published calendar %s: %w", slug, err)
	}
	return c, nil
}

// openPassword opens the source password of a calendar loaded from the
// database, ready to fetch.
func (p *Publisher) openPassword(c *store.PublishedCalendar) error {
	if p.Passwords == nil {
		return nil
	}
	var err error
	c.Password, err = p.Passwords.Open(c.Password, passwordBinding(c))
	return err
}

// SealStoredPasswords seals the passwords stored in clear by versions
// before sealing; serve runs it at start.
func (p *Publisher) SealStoredPasswords(ctx context.Context) error {
	if p.Passwords == nil {
		return nil
	}
	cals, err := p.DB.PublishedCalendars(ctx)
	if err != nil {
		return err
	}
	for _, c := range cals {
		if c.Password == "" || seal.IsSealed(c.Password) {
			continue
		}
		sealed, err := p.SealPassword(c, c.Password)
		if err != nil {
			return err
		}
		if err := p.DB.SetPublishedPassword(ctx, c.ID, sealed); err != nil {
			return err
		}
		p.log().Info("published calendar: source password sealed under the instance secret", "calendar", c.Slug)
	}
	return nil
}

func (p *Publisher) poll(ctx context.Context, c *store.PublishedCalendar) (Result, error) {
	if c.Kind != store.KindFeed {
		// A CalDAV collection is polled the CalDAV way; the first poll
		// finds out what the URL is, and it is remembered.
		d, err := p.Fetch.dav(c)
		if err != nil {
			return Result{}, err
		}
		st, err := d.state(ctx)
		switch {
		case err == nil:
			return p.pollDAV(ctx, c, d, st)
		case errors.Is(err, errNotCalDAV) && c.Kind == "":
			// A feed: this poll's GET records it, and PROPFIND is
			// not sent again.
		case errors.Is(err, errNotCalDAV):
			return Result{}, fmt.Errorf("%s no longer answers as a CalDAV calendar collection (PROPFIND): the last good state stays published", c.URL)
		default:
			return Result{}, err
		}
	}
	f, err := p.Fetch.Fetch(ctx, c)
	if err != nil {
		return Result{}, err
	}
	now := p.now()
	if f.NotModified {
		return p.notModified(ctx, c, store.KindFeed, f.ETag, f.LastModified, now)
	}
	occs, res, err := parseChecked(f.Body, now)
	if err != nil {
		return res, err
	}
	err = p.DB.Tx(ctx, func(ctx context.Context, tx *store.Tx) error {
		res.Created, res.Updated, res.Cancelled, res.Deleted = 0, 0, 0, 0
		c, err := tx.LockPublishedCalendar(ctx, c.ID)
		if err != nil {
			return err
		}
		if err := p.apply(ctx, tx, c, occs, now, &res); err != nil {
			return err
		}
		if c.Kind == "" {
			if err := tx.RecordPublishedSync(ctx, c.ID, store.KindFeed, "", ""); err != nil {
				return err
			}
		}
		return tx.RecordPublishedPoll(ctx, c.ID, true, f.ETag, f.LastModified, problemText(res.Problems), now)
	})
	return res, err
}

// notModified records a poll that found the calendar (of that kind)
// unchanged.
func (p *Publisher) notModified(ctx context.Context, c *store.PublishedCalendar, kind, etag, lastModified string, now time.Time) (Result, error) {
	// The calendar is the last good one: its note (VEVENTs left out)
	// stays, an error of a poll since then goes.
	note := c.LastError
	if !c.LastPoll.Equal(c.LastOK) {
		note = ""
	}
	err := p.DB.Tx(ctx, func(ctx context.Context, tx *store.Tx) error {
		if c.Kind == "" {
			// A feed published before CalDAV polling was known
			// (migration 0018) and unchanged since: PROPFIND once.
			if err := tx.RecordPublishedSync(ctx, c.ID, kind, "", ""); err != nil {
				return err
			}
		}
		return tx.RecordPublishedPoll(ctx, c.ID, true, etag, lastModified, note, now)
	})
	return Result{NotModified: true}, err
}

// parseChecked parses a whole calendar and refuses one that publishes no
// event (see Poll).
func parseChecked(body []byte, now time.Time) ([]Occurrence, Result, error) {
	occs, problems, err := Parse(body, now)
	if err != nil {
		return nil, Result{Problems: problems}, err
	}
	res := Result{Events: len(occs), Problems: problems}
	if len(occs) == 0 {
		if len(problems) > 0 {
			return nil, res, fmt.Errorf("no event of the calendar can be published: %s", problemText(problems))
		}
		return nil, res, ErrEmpty
	}
	return occs, res, nil
}

// pollDAV polls a CalDAV collection whose sync-token and ctag st holds.
// Unchanged (the token, or the ctag of a server without tokens, is the
// stored one): nothing more is read. Changed: a sync-collection from the
// stored token names the changed and removed resources and a
// calendar-multiget reads the changed ones; without a stored token, or
// with one the server refuses, a calendar-query reads them all. The
// calendar is then the stored resources with these changes, and goes
// through the same Parse and apply as a feed: one path decides Create,
// Update and Delete. The resources and the token are stored in the
// transaction that records what was sent, so a refused poll (an empty
// calendar, say) leaves both as they were and the next poll reads the
// same changes again.
func (p *Publisher) pollDAV(ctx context.Context, c *store.PublishedCalendar, d *davClient, st *collectionState) (Result, error) {
	now := p.now()
	known := c.Kind == store.KindCalDAV && !c.LastOK.IsZero()
	if known && ((st.SyncToken != "" && st.SyncToken == c.SyncToken) || (st.SyncToken == "" && st.CTag != "" && st.CTag == c.CTag)) {
		return p.notModified(ctx, c, store.KindCalDAV, "", "", now)
	}
	var fetched []store.PublishedResource
	var removed []string
	token, full := st.SyncToken, true
	if known && c.SyncToken != "" && st.SyncToken != "" {
		ch, err := d.syncCollection(ctx, c.SyncToken)
		switch {
		case errors.Is(err, errTokenRefused):
			p.log().Info("published calendar: the server refused the stored sync-token; reading the whole calendar", "calendar", c.Slug)
		case err != nil:
			return Result{}, err
		default:
			if fetched, err = d.multiget(ctx, ch.Changed); err != nil {
				return Result{}, err
			}
			full, removed = false, ch.Removed
			if ch.Token != "" {
				token = ch.Token
			}
		}
	}
	if full {
		var err error
		if fetched, err = d.query(ctx); err != nil {
			return Result{}, err
		}
	}
	var res Result
	err := p.DB.Tx(ctx, func(ctx context.Context, tx *store.Tx) error {
		locked, err := tx.LockPublishedCalendar(ctx, c.ID)
		if err != nil {
			return err
		}
		if locked.SyncToken != c.SyncToken || locked.CTag != c.CTag || locked.Kind != c.Kind {
			// Another poll (another replica) got there first: what was
			// read here is relative to a state it has moved on from.
			res = Result{NotModified: true}
			return nil
		}
		byHref := map[string]store.PublishedResource{}
		if !full {
			stored, err := tx.PublishedResources(ctx, c.ID)
			if err != nil {
				return err
			}
			for _, r := range stored {
				byHref[r.Href] = r
			}
		}
		for _, h := range removed {
			delete(byHref, h)
		}
		for _, r := range fetched {
			byHref[r.Href] = r
		}
		body, err := assemble(byHref)
		if err != nil {
			return err
		}
		occs, r, err := parseChecked(body, now)
		res = r
		if err != nil {
			return err
		}
		if err := p.apply(ctx, tx, locked, occs, now, &res); err != nil {
			return err
		}
		if full {
			removed = nil
		}
		if err := tx.DeletePublishedResources(ctx, c.ID, removed); err != nil {
			return err
		}
		for _, r := range fetched {
			if err := tx.PutPublishedResource(ctx, c.ID, r); err != nil {
				return err
			}
		}
		if err := tx.RecordPublishedSync(ctx, c.ID, store.KindCalDAV, token, st.CTag); err != nil {
			return err
		}
		return tx.RecordPublishedPoll(ctx, c.ID, true, "", "", problemText(res.Problems), now)
	})
	p.log().Debug("published calendar: CalDAV requests", "calendar", c.Slug, "requests", d.requests)
	return res, err
}

// assemble makes one calendar of the resources (their VEVENTs, and one
// VTIMEZONE per TZID), in href order.
func assemble(byHref map[string]store.PublishedResource) ([]byte, error) {
	hrefs := make([]string, 0, len(byHref))
	for h := range byHref {
		hrefs = append(hrefs, h)
	}
	sort.Strings(hrefs)
	cals := make([][]byte, 0, len(hrefs))
	for _, h := range hrefs {
		cals = append(cals, byHref[h].Data)
	}
	var b bytes.Buffer
	if err := ical.Feed(&b, ical.FeedInfo{}, cals); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func problemText(ps []Problem) string {
	if len(ps) == 0 {
		return ""
	}
	parts := make([]string, 0, len(ps))
	for i, p := range ps {
		if i == 5 {
			parts = append(parts, fmt.Sprintf("and %d more", len(ps)-5))
			break
		}
		parts = append(parts, p.String())
	}
	return fmt.Sprintf("%d VEVENT(s) left out: %s", len(ps), strings.Join(parts, "; "))
}

// apply diffs the occurrences against the stored events and records, in
// tx, the new state with the activities it causes: the transaction that
// stores a change is the one that queues its deliveries, so a change is
// sent once, whatever crashes.
func (p *Publisher) apply(ctx context.Context, tx *store.Tx, c *store.PublishedCalendar, occs []Occurrence, now time.Time, res *Result) error {
	stored, err := tx.PublishedEvents(ctx, c.ID)
	if err != nil {
		return err
	}
	followers, err := tx.PublishedFollowers(ctx, c.ID)
	if err != nil {
		return err
	}
	byKey := make(map[string]*store.PublishedEvent, len(stored))
	for _, e := range stored {
		byKey[e.Key] = e
	}
	seen := make(map[string]bool, len(occs))
	for _, o := range occs {
		key := Key(o.UID, o.RecurrenceID)
		if seen[key] {
			continue
		}
		seen[key] = true
		ids := p.ids(c, key)
		hash := Hash(o, ids)
		state := store.PublishedLive
		if o.Status == "CANCELLED" {
			state = store.PublishedCancelled
		}
		old := byKey[key]
		kind := "Create"
		e := &store.PublishedEvent{CalendarID: c.ID, UID: o.UID, RecurrenceID: o.RecurrenceID, Key: key, CreatedAt: now}
		switch {
		case old == nil:
			res.Created++
		case old.State == store.PublishedDeleted:
			// Back after it vanished: followers deleted it, so it is
			// created again.
			e = old
			res.Created++
		case old.Hash == hash:
			continue
		default:
			e = old
			kind = "Update"
			if state == store.PublishedCancelled && old.State != store.PublishedCancelled {
				res.Cancelled++
			} else {
				res.Updated++
			}
		}
		published := e.CreatedAt
		if published.IsZero() {
			published = now
		}
		var updated time.Time
		if kind == "Update" {
			updated = now
		}
		obj := EventObject(o, ids, published, updated)
		body, err := json.Marshal(obj)
		if err != nil {
			return err
		}
		e.Hash, e.State, e.Object, e.StartsAt, e.UpdatedAt = hash, state, body, o.Start, now
		if e.ID != 0 {
			// What is sent carries the count of the moment; what is
			// stored the 0 that serving replaces.
			if obj["participantCount"], err = tx.PublishedParticipantCount(ctx, e.ID); err != nil {
				return err
			}
		}
		if err := tx.PutPublishedEvent(ctx, e); err != nil {
			return err
		}
		if err := p.send(ctx, tx, c, followers, kind, obj); err != nil {
			return err
		}
	}
	for _, old := range stored {
		if seen[old.Key] || old.State == store.PublishedDeleted {
			continue
		}
		if old.StartsAt.Before(now.Add(-pastWindow)) {
			// Past events stay: feeds drop their history.
			continue
		}
		ids := p.ids(c, old.Key)
		tomb := map[string]any{"id": ids.ID, "type": "Tombstone", "formerType": "Event", "deleted": now.UTC().Format(time.RFC3339)}
		body, _ := json.Marshal(tomb)
		old.State, old.Object, old.UpdatedAt = store.PublishedDeleted, body, now
		if err := tx.PutPublishedEvent(ctx, old); err != nil {
			return err
		}
		if err := p.send(ctx, tx, c, followers, "Delete", tomb); err != nil {
			return err
		}
		res.Deleted++
	}
	return nil
}

// Activity wraps an object in an activity of the calendar's Group.
func Activity(id, kind, group string, object map[string]any) map[string]any {
	act := map[string]any{
		"@context": eventContext,
		"id":       id,
		"type":     kind,
		"actor":    group,
		"to":       []string{publicAudience},
		"cc":       []string{group + "/followers"},
	}
	obj := make(map[string]any, len(object))
	for k, v := range object {
		if k != "@context" {
			obj[k] = v
		}
	}
	act["object"] = obj
	if p, ok := object["published"]; ok && kind == "Create" {
		act["published"] = p
	}
	return act
}

// send queues one activity of the Group to every follower, in tx.
func (p *Publisher) send(ctx context.Context, tx *store.Tx, c *store.PublishedCalendar, followers []store.PublishedFollower, kind string, obj map[string]any) error {
	if len(followers) == 0 {
		return nil
	}
	act := Activity(p.Out.NewActivityID(strings.ToLower(kind)+"s"), kind, p.groupURL(c.Slug), obj)
	body, err := json.Marshal(act)
	if err != nil {
		return err
	}
	sent := map[string]bool{}
	for _, f := range followers {
		if f.State == store.FollowerPending {
			// Held (--approve): nothing until the admin accepts it.
			continue
		}
		to := outbox.Recipient{Actor: f.Actor, Inbox: f.SharedInbox}
		if to.Inbox == "" {
			to.Inbox = f.Inbox
		}
		// Followers on one server share its inbox: one copy is enough.
		if to.Inbox != "" && sent[to.Inbox] {
			continue
		}
		sent[to.Inbox] = true
		if err := p.Out.Deliver(ctx, tx, c.ActorID, to, body); err != nil {
			return err
		}
	}
	return nil
}
