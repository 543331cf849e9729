package caldav

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"time"

	"codeberg.org/passerelle/passerelle/bridges"
	"codeberg.org/passerelle/passerelle/ical"
	"codeberg.org/passerelle/passerelle/store"
)

// DBStore is the Store on passerelle's database. Its public calendars are
// "all" and one per followed source; the queries are store's
// (store/calendars.go), and it keeps assembled feeds in calendar_feeds
// (dbfeeds.go).
type DBStore struct {
	DB *store.DB
}

var _ Store = (*DBStore)(nil)

// palette gives each source calendar a stable color, so that a client
// showing several of them tells them apart.
var palette = []string{"#1F77B4", "#FF7F0E", "#2CA02C", "#D62728", "#9467BD", "#8C564B", "#E377C2", "#17BECF", "#BCBD22", "#7F7F7F"}

func colorOf(slug string) string {
	h := fnv.New32a()
	h.Write([]byte(slug))
	return palette[h.Sum32()%uint32(len(palette))]
}

// Calendars lists the public calendars; other owners are not known here
// (personal calendars are added by the mail side).
func (d *DBStore) Calendars(ctx context.Context, owner string) ([]Calendar, error) {
	if owner != PublicOwner {
		return nil, ErrNotFound
	}
	srcs, err := d.DB.CalendarSources(ctx)
	if err != nil {
		return nil, err
	}
	cals := []Calendar{allCalendar()}
	for _, src := range srcs {
		if src.Slug == AllSlug {
			continue
		}
		cals = append(cals, sourceCalendar(src))
	}
	return cals, nil
}

func allCalendar() Calendar {
	return Calendar{Owner: PublicOwner, Slug: AllSlug, Kind: KindAll, Name: "All followed events",
		Description: "Every event of the sources this passerelle follows", Color: "#3465A4"}
}

// sourceCalendar is a source's public calendar. Its description is the
// source's summary as plain text: servers send it as HTML (Mobilizon's
// group summary is "<p>…</p>"), and calendar apps show X-WR-CALDESC and
// calendar-description as they are, tags and all.
func sourceCalendar(src store.CalendarSource) Calendar {
	c := Calendar{Owner: PublicOwner, Slug: src.Slug, Kind: KindSource, SourceID: src.ID, Name: src.Name,
		Description: ical.HTMLText(src.Summary), Color: colorOf(src.Slug)}
	if c.Name == "" {
		c.Name = c.Slug
	}
	return c
}

// Calendar returns one public calendar.
func (d *DBStore) Calendar(ctx context.Context, owner, slug string) (*Calendar, error) {
	if owner != PublicOwner {
		return nil, ErrNotFound
	}
	if slug == AllSlug {
		c := allCalendar()
		return &c, nil
	}
	src, err := d.DB.CalendarSource(ctx, slug)
	if errors.Is(err, bridges.ErrNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	c := sourceCalendar(*src)
	return &c, nil
}

// sourceOf is the source id store's calendar queries take: 0 for "all".
func sourceOf(cal *Calendar) (int64, error) {
	switch cal.Kind {
	case KindAll:
		return 0, nil
	case KindSource:
		return cal.SourceID, nil
	}
	return 0, fmt.Errorf("calendar %s/%s: kind %q is not stored here", cal.Owner, cal.Slug, cal.Kind)
}

func objectsOf(stored []store.CalendarObject) []Object {
	out := make([]Object, len(stored))
	for i, o := range stored {
		out[i] = Object{ID: o.ID, ETag: o.ETag, Modified: o.Modified, Data: o.Data}
	}
	return out
}

// Objects lists the calendar's objects overlapping [from, to), by start
// (RFC 4791 §9.9; see store.DB.CalendarObjects).
func (d *DBStore) Objects(ctx context.Context, cal *Calendar, from, to time.Time, withData bool) ([]Object, error) {
	src, err := sourceOf(cal)
	if err != nil {
		return nil, err
	}
	objs, err := d.DB.CalendarObjects(ctx, src, from, to, withData)
	if err != nil {
		return nil, fmt.Errorf("calendar %s: %w", cal.Slug, err)
	}
	return objectsOf(objs), nil
}

// WalkData hands fn each object's data in turn (see ObjectWalker).
func (d *DBStore) WalkData(ctx context.Context, cal *Calendar, fn func(data []byte) error) error {
	src, err := sourceOf(cal)
	if err != nil {
		return err
	}
	if err := d.DB.WalkCalendarData(ctx, src, fn); err != nil {
		return fmt.Errorf("calendar %s: %w", cal.Slug, err)
	}
	return nil
}

// ObjectsByID reads the named objects.
func (d *DBStore) ObjectsByID(ctx context.Context, cal *Calendar, ids []int64, withData bool) ([]Object, error) {
	src, err := sourceOf(cal)
	if err != nil {
		return nil, err
	}
	objs, err := d.DB.CalendarObjectsByID(ctx, src, ids, withData)
	if err != nil {
		return nil, fmt.Errorf("calendar %s: %w", cal.Slug, err)
	}
	return objectsOf(objs), nil
}

// Changes reads the change log after since: each event once, at its last
// change, oldest first; events no longer in the calendar are Gone.
func (d *DBStore) Changes(ctx context.Context, cal *Calendar, since int64, limit int, withData bool) ([]Change, int64, error) {
	src, err := sourceOf(cal)
	if err != nil {
		return nil, 0, err
	}
	ids, reached, err := d.DB.CalendarChanges(ctx, src, since, limit)
	if errors.Is(err, store.ErrChangeLogGone) {
		return nil, 0, ErrSyncTokenGone
	}
	if err != nil {
		return nil, 0, err
	}
	objs, err := d.ObjectsByID(ctx, cal, ids, withData)
	if err != nil {
		return nil, 0, err
	}
	byID := make(map[int64]Object, len(objs))
	for _, o := range objs {
		byID[o.ID] = o
	}
	out := make([]Change, len(ids))
	for i, id := range ids {
		o, ok := byID[id]
		if !ok {
			o.ID = id
		}
		out[i] = Change{Object: o, Gone: !ok}
	}
	return out, reached, nil
}

// State reads the calendar's last change: answering a conditional feed
// request costs one indexed row.
func (d *DBStore) State(ctx context.Context, cal *Calendar) (State, error) {
	src, err := sourceOf(cal)
	if err != nil {
		return State{}, err
	}
	seq, at, err := d.DB.CalendarState(ctx, src)
	if err != nil {
		return State{}, fmt.Errorf("calendar %s: %w", cal.Slug, err)
	}
	if seq == 0 {
		return State{}, nil
	}
	return State{Seq: seq, Modified: at}, nil
}
