package caldav

import (
	"context"
	"errors"
	"time"

	"codeberg.org/passerelle/passerelle/bridges"
)

// PublicOwner owns the calendars everyone may read without credentials:
// one per followed source and one with every followed event.
const PublicOwner = "public"

// AllSlug names the calendar (and feed) with every followed event.
const AllSlug = "all"

// CalendarKind says which events a calendar holds. The store decides what
// each kind means; the server only passes the calendar back.
type CalendarKind string

// The kinds of calendar. A personal calendar (the events one email
// participant takes part in) is one more kind, owned by a secret token:
// the server serves it like the others under /dav/calendars/<owner>/.
const (
	KindAll      CalendarKind = "all"
	KindSource   CalendarKind = "source"
	KindPersonal CalendarKind = "personal"
)

// Calendar is one calendar collection.
type Calendar struct {
	// Owner is the principal the calendar belongs to: PublicOwner, or a
	// participant's secret token for personal calendars.
	Owner string
	// Slug is the calendar's path segment and feed name.
	Slug        string
	Kind        CalendarKind
	SourceID    int64
	Name        string
	Description string
	// Color is a CSS #RRGGBB color shown by Apple Calendar and others.
	Color string
}

// Object is one calendar object resource: an event as stored, rendered.
type Object struct {
	// ID is the event's id; the object's href is <calendar>/<ID>.ics.
	ID   int64
	ETag string
	// ScheduleTag is set for the events of a participant's calendar: it
	// changes only with the organiser's version (RFC 6638 §3.2.10).
	ScheduleTag string
	Modified    time.Time
	// Data is the rendered VCALENDAR, nil when the caller did not ask for it.
	Data []byte
}

// Change is one entry of a calendar's changes since a sync token: the
// object, or Gone when it was deleted or left the calendar.
type Change struct {
	Object
	Gone bool
}

// State is what validates a calendar's contents as a whole: Seq (the last
// change-log sequence that touched it) is the CTag, the sync token and the
// feed's ETag; Modified is when that change happened.
type State struct {
	Seq      int64
	Modified time.Time
}

// Store is what the CalDAV server and the feeds read. Every read is
// answered from stored, already rendered calendar text.
type Store interface {
	// Calendars lists the calendars an owner has, ErrNotFound for an
	// unknown owner.
	Calendars(ctx context.Context, owner string) ([]Calendar, error)
	// Calendar returns one calendar, or ErrNotFound.
	Calendar(ctx context.Context, owner, slug string) (*Calendar, error)
	// Objects returns the calendar's objects that overlap [from, to) as
	// RFC 4791 §9.9 says (an event without end is an instant; one that
	// starts exactly at from is included); zero bounds are open.
	Objects(ctx context.Context, cal *Calendar, from, to time.Time, withData bool) ([]Object, error)
	// ObjectsByID returns the calendar's objects with those ids, leaving
	// out the ones that are not (or no longer) in it.
	ObjectsByID(ctx context.Context, cal *Calendar, ids []int64, withData bool) ([]Object, error)
	// Changes returns what changed in the calendar after sequence since,
	// at most limit entries in sequence order, and the sequence reached.
	// It returns ErrSyncTokenGone when since is older than the change log
	// keeps or newer than the log has.
	Changes(ctx context.Context, cal *Calendar, since int64, limit int, withData bool) ([]Change, int64, error)
	// State returns the calendar's validator.
	State(ctx context.Context, cal *Calendar) (State, error)
}

// ErrNotFound is returned for an unknown owner, calendar or object.
var ErrNotFound = bridges.ErrNotFound

// ErrSyncTokenGone is returned by Store.Changes for a sync token that no
// longer (or never did) name a point of the change log.
var ErrSyncTokenGone = errors.New("sync token is no longer valid")
