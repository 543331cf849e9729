package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"codeberg.org/passerelle/passerelle/bridges"
)

// This file holds the storage of published calendars (migrations 0017 and 0018,
// issue 19): a community's calendar published as a Group actor, its
// followers, its events as last sent and their participants.

// ActorCalendar is the kind of the local actor (a Group) of a published
// calendar.
const ActorCalendar = "calendar"

// Join modes of a published calendar's events (FEP-8a8e's joinMode).
const (
	JoinFree       = "free"
	JoinRestricted = "restricted"
	JoinExternal   = "external"
	JoinNone       = "none"
)

// JoinModes lists the join modes a calendar may have, for the CLI.
var JoinModes = []string{JoinFree, JoinRestricted, JoinExternal, JoinNone}

// SetPublishedJoinMode changes how a calendar's events take participants.
// The fetch's validators are forgotten, so that the next poll reads the
// calendar whole and sends each event again with its new joinMode, even
// when the calendar itself did not change.
func (tx *Tx) SetPublishedJoinMode(ctx context.Context, id int64, mode string) error {
	if _, err := tx.exec(ctx, "UPDATE published_calendars SET join_mode = ?, etag = '', last_modified = '' WHERE id = ?", mode, id); err != nil {
		return fmt.Errorf("set join mode of published calendar %d: %w", id, err)
	}
	return nil
}

// States of a published event.
const (
	PublishedLive      = "live"
	PublishedCancelled = "cancelled"
	PublishedDeleted   = "deleted"
)

// PublishedCalendar is one calendar passerelle publishes.
type PublishedCalendar struct {
	ID       int64
	Slug     string
	ActorID  int64
	URL      string
	Username string
	Password string
	Title    string
	Summary  string
	Contact  string
	// Approve holds new followers pending (publish --approve).
	Approve bool
	// JoinMode is how its events take participants: JoinFree,
	// JoinRestricted, JoinExternal or JoinNone (migration 0019).
	JoinMode string
	// ETag and LastModified are the validators of the last good fetch.
	ETag         string
	LastModified string
	// Kind is what the URL was found to be: KindFeed, KindCalDAV, or
	// empty before the first poll tells.
	Kind string
	// SyncToken and CTag are the CalDAV collection's as of the last good
	// poll (either may be empty: a server offers one, both or none).
	SyncToken string
	CTag      string
	// WriteAttendees writes Joins back to the CalDAV calendar as
	// ATTENDEEs (publish --write-attendees).
	WriteAttendees bool
	// LastError is why the last poll was refused; empty after a good one.
	LastError string
	LastPoll  time.Time
	LastOK    time.Time
	CreatedAt time.Time
}

// Kinds of a published calendar's URL.
const (
	KindFeed   = "feed"
	KindCalDAV = "caldav"
)

const pubCalColumns = "id, slug, actor_id, url, username, password, title, summary, contact, approve, etag, last_modified, kind, sync_token, ctag, write_attendees, last_error, last_poll, last_ok, created_at, join_mode"

func scanPubCal(row scanner) (*PublishedCalendar, error) {
	var c PublishedCalendar
	var poll, ok, created int64
	err := row.Scan(&c.ID, &c.Slug, &c.ActorID, &c.URL, &c.Username, &c.Password, &c.Title, &c.Summary, &c.Contact, &c.Approve,
		&c.ETag, &c.LastModified, &c.Kind, &c.SyncToken, &c.CTag, &c.WriteAttendees, &c.LastError, &poll, &ok, &created, &c.JoinMode)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, bridges.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("read published calendar: %w", err)
	}
	c.LastPoll, c.LastOK, c.CreatedAt = fromMicro(poll), fromMicro(ok), fromMicro(created)
	return &c, nil
}

// CreatePublishedCalendar creates the calendar's Group actor and the
// calendar, and sets c.ID and c.ActorID. A slug already taken (by a
// calendar or any local actor) is an error.
func (tx *Tx) CreatePublishedCalendar(ctx context.Context, c *PublishedCalendar, actor *LocalActor) error {
	actor.Kind = ActorCalendar
	actor.Username = c.Slug
	if err := tx.CreateLocalActor(ctx, actor); err != nil {
		return err
	}
	if c.CreatedAt.IsZero() {
		c.CreatedAt = time.Now()
	}
	c.ActorID = actor.ID
	if c.JoinMode == "" {
		c.JoinMode = JoinFree
	}
	err := tx.queryRow(ctx, `INSERT INTO published_calendars (slug, actor_id, url, username, password, title, summary, contact, approve, kind, write_attendees, created_at, join_mode)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		c.Slug, c.ActorID, c.URL, c.Username, c.Password, c.Title, c.Summary, c.Contact, c.Approve, c.Kind, c.WriteAttendees, micro(c.CreatedAt), c.JoinMode).Scan(&c.ID)
	if err != nil {
		return fmt.Errorf("create published calendar %s: %w", c.Slug, err)
	}
	return nil
}

// PublishedCalendar returns the calendar with that slug, or
// bridges.ErrNotFound.
func (db *DB) PublishedCalendar(ctx context.Context, slug string) (*PublishedCalendar, error) {
	return scanPubCal(db.queryRow(ctx, "SELECT "+pubCalColumns+" FROM published_calendars WHERE slug = ?", slug))
}

// PublishedCalendar returns the calendar with that slug in the
// transaction, or bridges.ErrNotFound.
func (tx *Tx) PublishedCalendar(ctx context.Context, slug string) (*PublishedCalendar, error) {
	return scanPubCal(tx.queryRow(ctx, "SELECT "+pubCalColumns+" FROM published_calendars WHERE slug = ?", slug))
}

// PublishedCalendars lists every published calendar by slug.
func (db *DB) PublishedCalendars(ctx context.Context) ([]*PublishedCalendar, error) {
	rows, err := db.query(ctx, "SELECT "+pubCalColumns+" FROM published_calendars ORDER BY slug")
	if err != nil {
		return nil, fmt.Errorf("list published calendars: %w", err)
	}
	defer rows.Close()
	var out []*PublishedCalendar
	for rows.Next() {
		c, err := scanPubCal(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// RecordPublishedPoll records the outcome of a poll. A good one (ok)
// stores the fetch's validators and note (the VEVENTs left out, if any);
// a refused one only its reason, the last good state staying as it was.
func (tx *Tx) RecordPublishedPoll(ctx context.Context, id int64, ok bool, etag, lastModified, note string, at time.Time) error {
	var err error
	if !ok {
		_, err = tx.exec(ctx, "UPDATE published_calendars SET last_error = ?, last_poll = ? WHERE id = ?", note, micro(at), id)
	} else {
		_, err = tx.exec(ctx, "UPDATE published_calendars SET etag = ?, last_modified = ?, last_error = ?, last_poll = ?, last_ok = ? WHERE id = ?",
			etag, lastModified, note, micro(at), micro(at), id)
	}
	if err != nil {
		return fmt.Errorf("record poll of published calendar %d: %w", id, err)
	}
	return nil
}

// SetPublishedPassword replaces a calendar's stored password (sealed by
// the caller: the store never sees the key).
func (db *DB) SetPublishedPassword(ctx context.Context, id int64, stored string) error {
	return db.Tx(ctx, func(ctx context.Context, tx *Tx) error {
		if _, err := tx.exec(ctx, "UPDATE published_calendars SET password = ? WHERE id = ?", stored, id); err != nil {
			return fmt.Errorf("store the password of published calendar %d: %w", id, err)
		}
		return nil
	})
}

// RecordPublishedError records a refused poll outside a transaction.
func (db *DB) RecordPublishedError(ctx context.Context, id int64, errMsg string, at time.Time) error {
	return db.Tx(ctx, func(ctx context.Context, tx *Tx) error {
		return tx.RecordPublishedPoll(ctx, id, false, "", "", errMsg, at)
	})
}

// LockPublishedCalendar reads the calendar by id and holds it until the
// transaction ends, so that two replicas polling it at once diff one
// after the other and the second finds nothing left to send. (SQLite's
// transactions are immediate: the write lock does it.)
func (tx *Tx) LockPublishedCalendar(ctx context.Context, id int64) (*PublishedCalendar, error) {
	q := "SELECT " + pubCalColumns + " FROM published_calendars WHERE id = ?"
	if tx.db.backend == Postgres {
		q += " FOR UPDATE"
	}
	return scanPubCal(tx.queryRow(ctx, q, id))
}

// ActorCalendarRemoved is the kind of a removed calendar's Group actor.
const ActorCalendarRemoved = ActorCalendar + "-removed"

// DeletePublishedCalendar removes the calendar, its events, followers and
// participants. Its Group actor stays, retired (kind
// ActorCalendarRemoved), under its own name and with its key: the
// Deletes queued before (publish remove) are signed with that key and
// its followers' servers fetch it to check them; then the actor answers
// 410 Gone. The name stays taken, as Mastodon reserves a deleted
// account's: a new actor under the same id would carry another key,
// which servers that knew the old one refuse. The removal's date is
// kept in erased_actors, for the Tombstone.
func (tx *Tx) DeletePublishedCalendar(ctx context.Context, c *PublishedCalendar) error {
	if _, err := tx.exec(ctx, "DELETE FROM published_calendars WHERE id = ?", c.ID); err != nil {
		return fmt.Errorf("remove published calendar %s: %w", c.Slug, err)
	}
	if _, err := tx.exec(ctx, "UPDATE local_actors SET kind = ? WHERE id = ?", ActorCalendarRemoved, c.ActorID); err != nil {
		return fmt.Errorf("retire the actor of %s: %w", c.Slug, err)
	}
	now := micro(time.Now())
	_, err := tx.exec(ctx, `INSERT INTO erased_actors (username, created_at, deleted_at) VALUES (?, ?, ?)
		ON CONFLICT (username) DO UPDATE SET deleted_at = excluded.deleted_at`, c.Slug, micro(c.CreatedAt), now)
	if err != nil {
		return fmt.Errorf("record the removal of %s: %w", c.Slug, err)
	}
	return nil
}

// States of a follower of a published calendar.
const (
	FollowerAccepted = "accepted"
	FollowerPending  = "pending"
)

// PublishedFollower is one follower of a published calendar.
type PublishedFollower struct {
	Actor       string
	Inbox       string
	SharedInbox string
	FollowID    string
	// State is accepted or pending (held by --approve); empty means
	// accepted.
	State     string
	CreatedAt time.Time
}

// AddPublishedFollower records (or refreshes) a follower.
func (tx *Tx) AddPublishedFollower(ctx context.Context, calendarID int64, f PublishedFollower) error {
	if f.CreatedAt.IsZero() {
		f.CreatedAt = time.Now()
	}
	if f.State == "" {
		f.State = FollowerAccepted
	}
	_, err := tx.exec(ctx, `INSERT INTO published_followers (calendar_id, actor, inbox, shared_inbox, follow_id, state, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (calendar_id, actor) DO UPDATE SET inbox = excluded.inbox, shared_inbox = excluded.shared_inbox,
			follow_id = excluded.follow_id, state = excluded.state`,
		calendarID, f.Actor, f.Inbox, f.SharedInbox, f.FollowID, f.State, micro(f.CreatedAt))
	if err != nil {
		return fmt.Errorf("add follower %s: %w", f.Actor, err)
	}
	return nil
}

// RemovePublishedFollower removes a follower; it reports whether there
// was one.
func (tx *Tx) RemovePublishedFollower(ctx context.Context, calendarID int64, actor string) (bool, error) {
	res, err := tx.exec(ctx, "DELETE FROM published_followers WHERE calendar_id = ? AND actor = ?", calendarID, actor)
	if err != nil {
		return false, fmt.Errorf("remove follower %s: %w", actor, err)
	}
	n, _ := res.RowsAffected()
	return n > 0, nil
}

func publishedFollowers(ctx context.Context, q querier, calendarID int64) ([]PublishedFollower, error) {
	rows, err := q.query(ctx, "SELECT actor, inbox, shared_inbox, follow_id, state, created_at FROM published_followers WHERE calendar_id = ? ORDER BY created_at, actor", calendarID)
	if err != nil {
		return nil, fmt.Errorf("list followers: %w", err)
	}
	defer rows.Close()
	var out []PublishedFollower
	for rows.Next() {
		var f PublishedFollower
		var created int64
		if err := rows.Scan(&f.Actor, &f.Inbox, &f.SharedInbox, &f.FollowID, &f.State, &created); err != nil {
			return nil, err
		}
		f.CreatedAt = fromMicro(created)
		out = append(out, f)
	}
	return out, rows.Err()
}

// PublishedFollowers lists a calendar's followers, pending ones too (see
// PublishedFollower.State).
func (db *DB) PublishedFollowers(ctx context.Context, calendarID int64) ([]PublishedFollower, error) {
	return publishedFollowers(ctx, db, calendarID)
}

// PublishedFollowers lists a calendar's followers in the transaction.
func (tx *Tx) PublishedFollowers(ctx context.Context, calendarID int64) ([]PublishedFollower, error) {
	return publishedFollowers(ctx, tx, calendarID)
}

// PublishedEvent is one event of a published calendar as last sent.
type PublishedEvent struct {
	ID           int64
	CalendarID   int64
	UID          string
	RecurrenceID string
	Key          string
	Hash         string
	State        string
	// Object is the Event's JSON document.
	Object    []byte
	StartsAt  time.Time
	CreatedAt time.Time
	UpdatedAt time.Time
}

const pubEventColumns = "id, calendar_id, uid, recurrence_id, ev_key, hash, state, object, starts_at, created_at, updated_at"

func scanPubEvent(row scanner) (*PublishedEvent, error) {
	var e PublishedEvent
	var obj string
	var starts, created, updated int64
	err := row.Scan(&e.ID, &e.CalendarID, &e.UID, &e.RecurrenceID, &e.Key, &e.Hash, &e.State, &obj, &starts, &created, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, bridges.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("read published event: %w", err)
	}
	e.Object = []byte(obj)
	e.StartsAt, e.CreatedAt, e.UpdatedAt = fromMicro(starts), fromMicro(created), fromMicro(updated)
	return &e, nil
}

func publishedEvents(ctx context.Context, q querier, calendarID int64, liveOnly bool) ([]*PublishedEvent, error) {
	where := "calendar_id = ?"
	if liveOnly {
		where += " AND state <> '" + PublishedDeleted + "'"
	}
	rows, err := q.query(ctx, "SELECT "+pubEventColumns+" FROM published_events WHERE "+where+" ORDER BY starts_at, id", calendarID)
	if err != nil {
		return nil, fmt.Errorf("list published events: %w", err)
	}
	defer rows.Close()
	var out []*PublishedEvent
	for rows.Next() {
		e, err := scanPubEvent(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// PublishedEvents lists every event of a calendar, deleted ones included,
// in the transaction: what a poll diffs against.
func (tx *Tx) PublishedEvents(ctx context.Context, calendarID int64) ([]*PublishedEvent, error) {
	return publishedEvents(ctx, tx, calendarID, false)
}

// VisiblePublishedEvents lists a calendar's events that are not deleted
// (cancelled ones included): its outbox.
func (db *DB) VisiblePublishedEvents(ctx context.Context, calendarID int64) ([]*PublishedEvent, error) {
	return publishedEvents(ctx, db, calendarID, true)
}

// PublishedEventByKey returns one event of a calendar, deleted ones
// included, or bridges.ErrNotFound.
func (db *DB) PublishedEventByKey(ctx context.Context, calendarID int64, key string) (*PublishedEvent, error) {
	return scanPubEvent(db.queryRow(ctx, "SELECT "+pubEventColumns+" FROM published_events WHERE calendar_id = ? AND ev_key = ?", calendarID, key))
}

// PublishedEventByKey is the transaction's PublishedEventByKey.
func (tx *Tx) PublishedEventByKey(ctx context.Context, calendarID int64, key string) (*PublishedEvent, error) {
	return scanPubEvent(tx.queryRow(ctx, "SELECT "+pubEventColumns+" FROM published_events WHERE calendar_id = ? AND ev_key = ?", calendarID, key))
}

// PutPublishedEvent inserts the event (e.ID zero) or updates its hash,
// state, object and start.
func (tx *Tx) PutPublishedEvent(ctx context.Context, e *PublishedEvent) error {
	now := time.Now()
	if e.UpdatedAt.IsZero() {
		e.UpdatedAt = now
	}
	if e.ID == 0 {
		if e.CreatedAt.IsZero() {
			e.CreatedAt = now
		}
		err := tx.queryRow(ctx, `INSERT INTO published_events (calendar_id, uid, recurrence_id, ev_key, hash, state, object, starts_at, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
			e.CalendarID, e.UID, e.RecurrenceID, e.Key, e.Hash, e.State, string(e.Object), micro(e.StartsAt), micro(e.CreatedAt), micro(e.UpdatedAt)).Scan(&e.ID)
		if err != nil {
			return fmt.Errorf("insert published event %s: %w", e.UID, err)
		}
		return nil
	}
	_, err := tx.exec(ctx, "UPDATE published_events SET hash = ?, state = ?, object = ?, starts_at = ?, updated_at = ? WHERE id = ?",
		e.Hash, e.State, string(e.Object), micro(e.StartsAt), micro(e.UpdatedAt), e.ID)
	if err != nil {
		return fmt.Errorf("update published event %s: %w", e.UID, err)
	}
	return nil
}

// States of a participant of a published event.
const (
	ParticipantAccepted = "accepted"
	ParticipantPending  = "pending"
)

// PublishedParticipant is one Join of a published event.
type PublishedParticipant struct {
	EventID int64
	// EventKey is the event's key (the last part of its id).
	EventKey  string
	Actor     string
	JoinID    string
	State     string
	CreatedAt time.Time
}

// AddPublishedParticipant records a Join of a published event, accepted
// or pending (state); it reports whether the participant is new. A
// participant already recorded keeps its state.
func (tx *Tx) AddPublishedParticipant(ctx context.Context, eventID int64, actor, joinID, state string, at time.Time) (bool, error) {
	if state == "" {
		state = ParticipantAccepted
	}
	res, err := tx.exec(ctx, `INSERT INTO published_participants (event_id, actor, join_id, created_at, state) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (event_id, actor) DO NOTHING`, eventID, actor, joinID, micro(at), state)
	if err != nil {
		return false, fmt.Errorf("add participant %s: %w", actor, err)
	}
	n, _ := res.RowsAffected()
	return n > 0, nil
}

// AcceptPublishedParticipant turns a pending participant into an
// accepted one; it reports whether there was a pending one.
func (tx *Tx) AcceptPublishedParticipant(ctx context.Context, eventID int64, actor string) (bool, error) {
	res, err := tx.exec(ctx, "UPDATE published_participants SET state = ? WHERE event_id = ? AND actor = ? AND state = ?",
		ParticipantAccepted, eventID, actor, ParticipantPending)
	if err != nil {
		return false, fmt.Errorf("accept participant %s: %w", actor, err)
	}
	n, _ := res.RowsAffected()
	return n > 0, nil
}

// IsPublishedParticipant reports whether the actor participates in the
// event now: accepted, not held for the organiser's approval.
func (db *DB) IsPublishedParticipant(ctx context.Context, eventID int64, actor string) (bool, error) {
	var n int
	err := db.queryRow(ctx, "SELECT COUNT(*) FROM published_participants WHERE event_id = ? AND actor = ? AND state = ?", eventID, actor, ParticipantAccepted).Scan(&n)
	return n > 0, err
}

// PublishedParticipant returns one participant of an event, or
// bridges.ErrNotFound.
func (tx *Tx) PublishedParticipant(ctx context.Context, eventID int64, actor string) (*PublishedParticipant, error) {
	var p PublishedParticipant
	var created int64
	err := tx.queryRow(ctx, `SELECT p.event_id, e.ev_key, p.actor, p.join_id, p.state, p.created_at FROM published_participants p
		JOIN published_events e ON e.id = p.event_id WHERE p.event_id = ? AND p.actor = ?`, eventID, actor).
		Scan(&p.EventID, &p.EventKey, &p.Actor, &p.JoinID, &p.State, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, bridges.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("read participant %s: %w", actor, err)
	}
	p.CreatedAt = fromMicro(created)
	return &p, nil
}

// PublishedParticipants lists the participants of a calendar's events,
// pending ones too, by event start then arrival.
func (db *DB) PublishedParticipants(ctx context.Context, calendarID int64) ([]PublishedParticipant, error) {
	rows, err := db.query(ctx, `SELECT p.event_id, e.ev_key, p.actor, p.join_id, p.state, p.created_at FROM published_participants p
		JOIN published_events e ON e.id = p.event_id WHERE e.calendar_id = ? ORDER BY e.starts_at, e.id, p.created_at, p.actor`, calendarID)
	if err != nil {
		return nil, fmt.Errorf("list participants: %w", err)
	}
	defer rows.Close()
	var out []PublishedParticipant
	for rows.Next() {
		var p PublishedParticipant
		var created int64
		if err := rows.Scan(&p.EventID, &p.EventKey, &p.Actor, &p.JoinID, &p.State, &created); err != nil {
			return nil, err
		}
		p.CreatedAt = fromMicro(created)
		out = append(out, p)
	}
	return out, rows.Err()
}

// RemovePublishedParticipant undoes a Join (or refuses a pending one); it
// reports whether there was one and whether it was accepted.
func (tx *Tx) RemovePublishedParticipant(ctx context.Context, eventID int64, actor string) (gone, wasAccepted bool, err error) {
	var state string
	err = tx.queryRow(ctx, "DELETE FROM published_participants WHERE event_id = ? AND actor = ? RETURNING state", eventID, actor).Scan(&state)
	if errors.Is(err, sql.ErrNoRows) {
		return false, false, nil
	}
	if err != nil {
		return false, false, fmt.Errorf("remove participant %s: %w", actor, err)
	}
	return true, state == ParticipantAccepted, nil
}

const countAccepted = "SELECT COUNT(*) FROM published_participants WHERE event_id = ? AND state = '" + ParticipantAccepted + "'"

// PublishedParticipantCount counts an event's accepted participants
// (Mobilizon's participantCount counts no pending ones either).
func (db *DB) PublishedParticipantCount(ctx context.Context, eventID int64) (int, error) {
	var n int
	err := db.queryRow(ctx, countAccepted, eventID).Scan(&n)
	return n, err
}

// PublishedParticipantCount is the transaction's PublishedParticipantCount.
func (tx *Tx) PublishedParticipantCount(ctx context.Context, eventID int64) (int, error) {
	var n int
	err := tx.queryRow(ctx, countAccepted, eventID).Scan(&n)
	return n, err
}

// PublishedCounts counts a calendar's visible events and followers, for
// publish list.
func (db *DB) PublishedCounts(ctx context.Context, calendarID int64) (events, followers int, err error) {
	err = db.queryRow(ctx, `SELECT
		(SELECT COUNT(*) FROM published_events WHERE calendar_id = ? AND state <> 'deleted'),
		(SELECT COUNT(*) FROM published_followers WHERE calendar_id = ? AND state = 'accepted')`, calendarID, calendarID).Scan(&events, &followers)
	return events, followers, err
}

// PublishedTotals counts the published calendars and their events not
// deleted, for NodeInfo's usage.
func (db *DB) PublishedTotals(ctx context.Context) (calendars, events int, err error) {
	err = db.queryRow(ctx, `SELECT (SELECT COUNT(*) FROM published_calendars),
		(SELECT COUNT(*) FROM published_events WHERE state <> 'deleted')`).Scan(&calendars, &events)
	return calendars, events, err
}

// RecordPublishedSync stores what a good poll found the calendar to be
// (kind) and, for a CalDAV collection, its sync-token and ctag: the next
// poll compares them to the collection's.
func (tx *Tx) RecordPublishedSync(ctx context.Context, id int64, kind, syncToken, ctag string) error {
	if _, err := tx.exec(ctx, "UPDATE published_calendars SET kind = ?, sync_token = ?, ctag = ? WHERE id = ?", kind, syncToken, ctag, id); err != nil {
		return fmt.Errorf("record sync state of published calendar %d: %w", id, err)
	}
	return nil
}

// PublishedResource is one calendar object resource of a CalDAV calendar
// as last read.
type PublishedResource struct {
	Href string
	ETag string
	// UID is that of the resource's VEVENTs.
	UID  string
	Data []byte
}

func publishedResources(ctx context.Context, q querier, where string, args ...any) ([]PublishedResource, error) {
	rows, err := q.query(ctx, "SELECT href, etag, uid, data FROM published_resources WHERE "+where+" ORDER BY href", args...)
	if err != nil {
		return nil, fmt.Errorf("list calendar resources: %w", err)
	}
	defer rows.Close()
	var out []PublishedResource
	for rows.Next() {
		var r PublishedResource
		var data string
		if err := rows.Scan(&r.Href, &r.ETag, &r.UID, &data); err != nil {
			return nil, err
		}
		r.Data = []byte(data)
		out = append(out, r)
	}
	return out, rows.Err()
}

// PublishedResources lists a CalDAV calendar's stored resources, by href.
func (tx *Tx) PublishedResources(ctx context.Context, calendarID int64) ([]PublishedResource, error) {
	return publishedResources(ctx, tx, "calendar_id = ?", calendarID)
}

// PublishedResourceByUID returns the stored resource that holds the
// VEVENTs of that UID, or bridges.ErrNotFound.
func (db *DB) PublishedResourceByUID(ctx context.Context, calendarID int64, uid string) (*PublishedResource, error) {
	rs, err := publishedResources(ctx, db, "calendar_id = ? AND uid = ?", calendarID, uid)
	if err != nil {
		return nil, err
	}
	if len(rs) == 0 {
		return nil, fmt.Errorf("no resource of calendar %d holds UID %s: %w", calendarID, uid, bridges.ErrNotFound)
	}
	return &rs[0], nil
}

// PutPublishedResource stores (or replaces) one resource.
func (tx *Tx) PutPublishedResource(ctx context.Context, calendarID int64, r PublishedResource) error {
	_, err := tx.exec(ctx, `INSERT INTO published_resources (calendar_id, href, etag, uid, data) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (calendar_id, href) DO UPDATE SET etag = excluded.etag, uid = excluded.uid, data = excluded.data`,
		calendarID, r.Href, r.ETag, r.UID, string(r.Data))
	if err != nil {
		return fmt.Errorf("store calendar resource %s: %w", r.Href, err)
	}
	return nil
}

// DeletePublishedResources removes the resources with those hrefs, or
// every resource of the calendar when hrefs is nil.
func (tx *Tx) DeletePublishedResources(ctx context.Context, calendarID int64, hrefs []string) error {
	if hrefs == nil {
		_, err := tx.exec(ctx, "DELETE FROM published_resources WHERE calendar_id = ?", calendarID)
		return err
	}
	for _, h := range hrefs {
		if _, err := tx.exec(ctx, "DELETE FROM published_resources WHERE calendar_id = ? AND href = ?", calendarID, h); err != nil {
			return fmt.Errorf("remove calendar resource %s: %w", h, err)
		}
	}
	return nil
}
