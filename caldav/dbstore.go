package caldav

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"hash/fnv"
	"strings"
	"time"

	"codeberg.org/passerelle/passerelle/bridges"
	"codeberg.org/passerelle/passerelle/store"
)

// DBStore is the Store on passerelle's database. Its public calendars are
// "all" and one per followed source; every query reads the rendered text
// stored with each event and the change log, through the indexes on
// (start_at, until_at), (until_at - start_at), (source_id, start_at) and
// (source_id, seq); it keeps assembled feeds in calendar_feeds (dbfeeds.go).
type DBStore struct {
	DB *store.DB
}

var _ Store = (*DBStore)(nil)

// memberWhere selects the events a public calendar shows: stored, not
// deleted, not drafts, public, of a source still followed.
const memberWhere = `e.deleted = ? AND e.draft = ? AND e.public = ? AND s.state <> ? AND s.state <> ?`

func memberArgs() []any {
	return []any{false, false, true, string(bridges.SourceUnfollowed), string(bridges.SourceRefused)}
}

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
	cals := []Calendar{allCalendar()}
	rows, err := d.DB.Query(ctx, "SELECT id, slug, name, summary FROM sources WHERE state <> ? AND state <> ? ORDER BY slug",
		string(bridges.SourceUnfollowed), string(bridges.SourceRefused))
	if err != nil {
		return nil, fmt.Errorf("list calendars: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var c Calendar
		if err := rows.Scan(&c.SourceID, &c.Slug, &c.Name, &c.Description); err != nil {
			return nil, fmt.Errorf("list calendars: %w", err)
		}
		if c.Slug == AllSlug {
			continue
		}
		cals = append(cals, sourceCalendar(c))
	}
	return cals, rows.Err()
}

func allCalendar() Calendar {
	return Calendar{Owner: PublicOwner, Slug: AllSlug, Kind: KindAll, Name: "All followed events",
		Description: "Every event of the sources this passerelle follows", Color: "#3465A4"}
}

func sourceCalendar(c Calendar) Calendar {
	c.Owner, c.Kind, c.Color = PublicOwner, KindSource, colorOf(c.Slug)
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
	var c Calendar
	err := d.DB.QueryRow(ctx, "SELECT id, slug, name, summary FROM sources WHERE slug = ? AND state <> ? AND state <> ?",
		slug, string(bridges.SourceUnfollowed), string(bridges.SourceRefused)).Scan(&c.SourceID, &c.Slug, &c.Name, &c.Description)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("read calendar %s: %w", slug, err)
	}
	c = sourceCalendar(c)
	return &c, nil
}

func (d *DBStore) scope(cal *Calendar) (string, []any, error) {
	where, args := memberWhere, memberArgs()
	switch cal.Kind {
	case KindAll:
	case KindSource:
		where += " AND e.source_id = ?"
		args = append(args, cal.SourceID)
	default:
		return "", nil, fmt.Errorf("calendar %s/%s: kind %q is not stored here", cal.Owner, cal.Slug, cal.Kind)
	}
	return where, args, nil
}

// objects reads the calendar's objects matching extra, in the given order.
func (d *DBStore) objects(ctx context.Context, cal *Calendar, extra string, extraArgs []any, order string, withData bool) ([]Object, error) {
	where, args, err := d.scope(cal)
	if err != nil {
		return nil, err
	}
	cols := "e.id, e.etag, e.modified_at"
	if withData {
		cols += ", e.calendar"
	}
	q := "SELECT " + cols + " FROM events e JOIN sources s ON s.id = e.source_id WHERE " + where + extra + " ORDER BY " + order
	rows, err := d.DB.Query(ctx, q, append(args, extraArgs...)...)
	if err != nil {
		return nil, fmt.Errorf("read calendar %s: %w", cal.Slug, err)
	}
	defer rows.Close()
	var out []Object
	for rows.Next() {
		var o Object
		var mod int64
		var data sql.RawBytes
		dst := []any{&o.ID, &o.ETag, &mod}
		if withData {
			dst = append(dst, &data)
		}
		if err := rows.Scan(dst...); err != nil {
			return nil, fmt.Errorf("read calendar %s: %w", cal.Slug, err)
		}
		o.Modified = time.UnixMicro(mod).UTC()
		if withData {
			o.Data = append([]byte(nil), data...)
		}
		out = append(out, o)
	}
	return out, rows.Err()
}

// longestSpan is the longest until_at - start_at of any stored event, read
// from the events_span index in one step. An event overlapping a range
// that starts at from cannot start before from minus it, which bounds the
// time-range scan of events_range from below.
const longestSpan = "COALESCE((SELECT MAX(until_at - start_at) FROM events), 0)"

// Objects lists the calendar's objects overlapping [from, to), by start,
// as RFC 4791 §9.9 says: until_at is the end, or the start of an event
// without one, so an event overlaps when it starts before to and ends
// after from, or is an instant at from (an event ending exactly at from
// does not overlap).
//
// The range is answered by a subquery that uses only start_at and
// until_at, so that it is a bounded scan of the covering events_range
// index (see longestSpan) on both databases, and only overlapping rows are
// read; written as one flat WHERE, SQLite would pick events_start or
// events_source_start and read every row from the bound on, which one long
// event makes many. An open listing reads the table in its own (id) order.
func (d *DBStore) Objects(ctx context.Context, cal *Calendar, from, to time.Time, withData bool) ([]Object, error) {
	var conds []string
	var args []any
	if !from.IsZero() {
		conds = append(conds, "start_at >= ? - "+longestSpan, "(until_at > ? OR start_at = ?)")
		args = append(args, from.UnixMicro(), from.UnixMicro(), from.UnixMicro())
	}
	if !to.IsZero() {
		conds = append(conds, "start_at < ?")
		args = append(args, to.UnixMicro())
	}
	if len(conds) == 0 {
		return d.objects(ctx, cal, "", nil, "e.id", withData)
	}
	extra := " AND e.id IN (SELECT id FROM events WHERE " + strings.Join(conds, " AND ") + ")"
	return d.objects(ctx, cal, extra, args, "e.start_at, e.id", withData)
}

// ObjectsByID reads the named objects, in chunks that stay under every
// driver's bound on parameters.
func (d *DBStore) ObjectsByID(ctx context.Context, cal *Calendar, ids []int64, withData bool) ([]Object, error) {
	var out []Object
	for len(ids) > 0 {
		n := min(len(ids), 500)
		args := make([]any, n)
		for i, id := range ids[:n] {
			args[i] = id
		}
		objs, err := d.objects(ctx, cal, " AND e.id IN ("+strings.TrimSuffix(strings.Repeat("?,", n), ",")+")", args, "e.id", withData)
		if err != nil {
			return nil, err
		}
		out = append(out, objs...)
		ids = ids[n:]
	}
	return out, nil
}

// Changes reads the change log after since: each event once, at its last
// change, oldest first; events no longer in the calendar are Gone.
func (d *DBStore) Changes(ctx context.Context, cal *Calendar, since int64, limit int, withData bool) ([]Change, int64, error) {
	var lo, hi sql.NullInt64
	// Two subqueries, not MIN and MAX in one: SQLite answers a lone MIN
	// or MAX from the index in one step, but both together by a scan.
	if err := d.DB.QueryRow(ctx, "SELECT (SELECT MIN(seq) FROM change_log), (SELECT MAX(seq) FROM change_log)").Scan(&lo, &hi); err != nil {
		return nil, 0, fmt.Errorf("read change log bounds: %w", err)
	}
	// The log keeps everything from lo on; a token before lo-1 may have
	// missed pruned changes, and a token past hi was never issued.
	if since > hi.Int64 || (lo.Valid && since < lo.Int64-1) {
		return nil, 0, ErrSyncTokenGone
	}
	q := "SELECT event_id, MAX(seq) AS last FROM change_log WHERE seq > ?"
	args := []any{since}
	if cal.Kind == KindSource {
		q += " AND source_id = ?"
		args = append(args, cal.SourceID)
	}
	q += " GROUP BY event_id ORDER BY last"
	if limit > 0 {
		q += fmt.Sprintf(" LIMIT %d", limit)
	}
	rows, err := d.DB.Query(ctx, q, args...)
	if err != nil {
		return nil, 0, fmt.Errorf("read change log: %w", err)
	}
	var ids []int64
	reached := since
	for rows.Next() {
		var id, seq int64
		if err := rows.Scan(&id, &seq); err != nil {
			rows.Close()
			return nil, 0, fmt.Errorf("read change log: %w", err)
		}
		ids = append(ids, id)
		reached = max(reached, seq)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("read change log: %w", err)
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

// State reads the calendar's last change from the change log's index:
// answering a conditional feed request costs one indexed row.
func (d *DBStore) State(ctx context.Context, cal *Calendar) (State, error) {
	q := "SELECT seq, at FROM change_log ORDER BY seq DESC LIMIT 1"
	var args []any
	if cal.Kind == KindSource {
		q = "SELECT seq, at FROM change_log WHERE source_id = ? ORDER BY seq DESC LIMIT 1"
		args = append(args, cal.SourceID)
	}
	var seq, at int64
	err := d.DB.QueryRow(ctx, q, args...).Scan(&seq, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return State{}, nil
	}
	if err != nil {
		return State{}, fmt.Errorf("read calendar %s state: %w", cal.Slug, err)
	}
	return State{Seq: seq, Modified: time.UnixMicro(at).UTC()}, nil
}
