package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"codeberg.org/passerelle/passerelle/bridges"
)

// This file holds what the CalDAV server and the .ics feeds read: the
// public calendars ("all" and one per followed source), their objects (the
// rendered text stored with each event), the change log that sync tokens
// count in, the assembled feeds kept in calendar_feeds, and the answered
// events of a mail participant's personal calendar. Every query uses the
// indexes on (start_at, until_at), (until_at - start_at),
// (source_id, start_at) and (source_id, seq).

// CalendarSource is a followed source as its public calendar shows it.
type CalendarSource struct {
	ID      int64
	Slug    string
	Name    string
	Summary string
}

// CalendarSources lists the sources that have a public calendar: every
// source not unfollowed or refused, by slug.
func (db *DB) CalendarSources(ctx context.Context) ([]CalendarSource, error) {
	rows, err := db.query(ctx, "SELECT id, slug, name, summary FROM sources WHERE state <> ? AND state <> ? ORDER BY slug",
		string(bridges.SourceUnfollowed), string(bridges.SourceRefused))
	if err != nil {
		return nil, fmt.Errorf("list calendars: %w", err)
	}
	defer rows.Close()
	var out []CalendarSource
	for rows.Next() {
		var c CalendarSource
		if err := rows.Scan(&c.ID, &c.Slug, &c.Name, &c.Summary); err != nil {
			return nil, fmt.Errorf("list calendars: %w", err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// CalendarSource returns the source whose public calendar has that slug,
// or bridges.ErrNotFound.
func (db *DB) CalendarSource(ctx context.Context, slug string) (*CalendarSource, error) {
	var c CalendarSource
	err := db.queryRow(ctx, "SELECT id, slug, name, summary FROM sources WHERE slug = ? AND state <> ? AND state <> ?",
		slug, string(bridges.SourceUnfollowed), string(bridges.SourceRefused)).Scan(&c.ID, &c.Slug, &c.Name, &c.Summary)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, bridges.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("read calendar %s: %w", slug, err)
	}
	return &c, nil
}

// CalendarObject is one event as a calendar serves it.
type CalendarObject struct {
	ID       int64
	ETag     string
	Modified time.Time
	// Data is the rendered VCALENDAR, nil unless asked for.
	Data []byte
}

// memberWhere selects the events a public calendar shows: stored, not
// deleted, not drafts, public, of a source still followed.
const memberWhere = `e.deleted = ? AND e.draft = ? AND e.public = ? AND s.state <> ? AND s.state <> ?`

// calendarScope is the WHERE clause of a public calendar: every followed
// source's events (sourceID 0, "all") or one source's.
func calendarScope(sourceID int64) (string, []any) {
	args := []any{false, false, true, string(bridges.SourceUnfollowed), string(bridges.SourceRefused)}
	if sourceID == 0 {
		return memberWhere, args
	}
	return memberWhere + " AND e.source_id = ?", append(args, sourceID)
}

// calendarObjects reads the objects of a public calendar matching extra,
// in the given order.
func (db *DB) calendarObjects(ctx context.Context, sourceID int64, extra string, extraArgs []any, order string, withData bool) ([]CalendarObject, error) {
	where, args := calendarScope(sourceID)
	cols := "e.id, e.etag, e.modified_at"
	if withData {
		cols += ", e.calendar"
	}
	q := "SELECT " + cols + " FROM events e JOIN sources s ON s.id = e.source_id WHERE " + where + extra + " ORDER BY " + order
	rows, err := db.query(ctx, q, append(args, extraArgs...)...)
	if err != nil {
		return nil, fmt.Errorf("read calendar: %w", err)
	}
	defer rows.Close()
	var out []CalendarObject
	for rows.Next() {
		var o CalendarObject
		var mod int64
		var data sql.RawBytes
		dst := []any{&o.ID, &o.ETag, &mod}
		if withData {
			dst = append(dst, &data)
		}
		if err := rows.Scan(dst...); err != nil {
			return nil, fmt.Errorf("read calendar: %w", err)
		}
		o.Modified = time.UnixMicro(mod).UTC()
		if withData {
			o.Data = append([]byte(nil), data...)
		}
		out = append(out, o)
	}
	return out, rows.Err()
}

// WalkCalendarData hands fn the rendered VCALENDAR of each event of a
// public calendar (sourceID 0: "all"), by id, one row at a time, for a
// feed of any size built in bounded memory. data is the driver's buffer:
// valid only until fn returns.
func (db *DB) WalkCalendarData(ctx context.Context, sourceID int64, fn func(data []byte) error) error {
	where, args := calendarScope(sourceID)
	rows, err := db.query(ctx, "SELECT e.calendar FROM events e JOIN sources s ON s.id = e.source_id WHERE "+where+" ORDER BY e.id", args...)
	if err != nil {
		return fmt.Errorf("read calendar: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var data sql.RawBytes
		if err := rows.Scan(&data); err != nil {
			return fmt.Errorf("read calendar: %w", err)
		}
		if err := fn(data); err != nil {
			return err
		}
	}
	return rows.Err()
}

// longestSpan is the longest until_at - start_at of any stored event, read
// from the events_span index in one step. An event overlapping a range
// that starts at from cannot start before from minus it, which bounds the
// time-range scan of events_range from below.
const longestSpan = "COALESCE((SELECT MAX(until_at - start_at) FROM events), 0)"

// CalendarObjects lists a public calendar's objects (sourceID 0: "all")
// overlapping [from, to), by start, as RFC 4791 §9.9 says: until_at is the
// end, or the start of an event without one, so an event overlaps when it
// starts before to and ends after from, or is an instant at from (an event
// ending exactly at from does not overlap). A zero bound is open.
//
// The range is answered by a subquery that uses only start_at and
// until_at, so that it is a bounded scan of the covering events_range
// index (see longestSpan) on both databases, and only overlapping rows are
// read; written as one flat WHERE, SQLite would pick events_start or
// events_source_start and read every row from the bound on, which one long
// event makes many. An open listing reads the table in its own (id) order.
func (db *DB) CalendarObjects(ctx context.Context, sourceID int64, from, to time.Time, withData bool) ([]CalendarObject, error) {
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
		return db.calendarObjects(ctx, sourceID, "", nil, "e.id", withData)
	}
	extra := " AND e.id IN (SELECT id FROM events WHERE " + strings.Join(conds, " AND ") + ")"
	return db.calendarObjects(ctx, sourceID, extra, args, "e.start_at, e.id", withData)
}

// CalendarObjectsByID reads the named objects of a public calendar, by id,
// in chunks that stay under every driver's bound on parameters. Ids that
// are not in the calendar are left out.
func (db *DB) CalendarObjectsByID(ctx context.Context, sourceID int64, ids []int64, withData bool) ([]CalendarObject, error) {
	var out []CalendarObject
	for len(ids) > 0 {
		n := min(len(ids), 500)
		args := make([]any, n)
		for i, id := range ids[:n] {
			args[i] = id
		}
		objs, err := db.calendarObjects(ctx, sourceID, " AND e.id IN ("+strings.TrimSuffix(strings.Repeat("?,", n), ",")+")", args, "e.id", withData)
		if err != nil {
			return nil, err
		}
		out = append(out, objs...)
		ids = ids[n:]
	}
	return out, nil
}

// ErrChangeLogGone is a sync position the change log cannot answer from:
// older than what pruning kept, or never issued (past its newest entry).
var ErrChangeLogGone = errors.New("position outside the change log")

// CalendarChanges reads the change log after since for a public calendar
// (sourceID 0: every source): each event once, at its last change, oldest
// first, at most limit of them (0: no bound), and the position reached.
func (db *DB) CalendarChanges(ctx context.Context, sourceID, since int64, limit int) (ids []int64, reached int64, err error) {
	var lo, hi sql.NullInt64
	// Two subqueries, not MIN and MAX in one: SQLite answers a lone MIN
	// or MAX from the index in one step, but both together by a scan.
	if err := db.queryRow(ctx, "SELECT (SELECT MIN(seq) FROM change_log), (SELECT MAX(seq) FROM change_log)").Scan(&lo, &hi); err != nil {
		return nil, 0, fmt.Errorf("read change log bounds: %w", err)
	}
	// The log keeps everything from lo on; a position before lo-1 may have
	// missed pruned changes, and one past hi was never issued.
	if since > hi.Int64 || (lo.Valid && since < lo.Int64-1) {
		return nil, 0, ErrChangeLogGone
	}
	q := "SELECT event_id, MAX(seq) AS last FROM change_log WHERE seq > ?"
	args := []any{since}
	if sourceID != 0 {
		q += " AND source_id = ?"
		args = append(args, sourceID)
	}
	q += " GROUP BY event_id ORDER BY last"
	if limit > 0 {
		q += fmt.Sprintf(" LIMIT %d", limit)
	}
	rows, err := db.query(ctx, q, args...)
	if err != nil {
		return nil, 0, fmt.Errorf("read change log: %w", err)
	}
	defer rows.Close()
	reached = since
	for rows.Next() {
		var id, seq int64
		if err := rows.Scan(&id, &seq); err != nil {
			return nil, 0, fmt.Errorf("read change log: %w", err)
		}
		ids = append(ids, id)
		reached = max(reached, seq)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("read change log: %w", err)
	}
	return ids, reached, nil
}

// CalendarState reads a public calendar's last change (sourceID 0: every
// source's) from the change log's index: answering a conditional feed
// request costs one indexed row. An empty log gives zeros.
func (db *DB) CalendarState(ctx context.Context, sourceID int64) (seq int64, at time.Time, err error) {
	q := "SELECT seq, at FROM change_log ORDER BY seq DESC LIMIT 1"
	var args []any
	if sourceID != 0 {
		q = "SELECT seq, at FROM change_log WHERE source_id = ? ORDER BY seq DESC LIMIT 1"
		args = append(args, sourceID)
	}
	var us int64
	err = db.queryRow(ctx, q, args...).Scan(&seq, &us)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, time.Time{}, nil
	}
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("read calendar state: %w", err)
	}
	return seq, time.UnixMicro(us).UTC(), nil
}

// KeptFeed is an assembled .ics feed kept in calendar_feeds.
type KeptFeed struct {
	Seq     int64
	Version string
	Body    []byte
	Gzipped []byte
}

// KeptFeed reads the feed kept for a calendar (owner, slug) when it was
// built at version, or bridges.ErrNotFound.
func (db *DB) KeptFeed(ctx context.Context, owner, slug, version string) (*KeptFeed, error) {
	feed := &KeptFeed{Version: version}
	err := db.queryRow(ctx, "SELECT seq, body, body_gzip FROM calendar_feeds WHERE owner = ? AND slug = ? AND version = ?",
		owner, slug, version).Scan(&feed.Seq, &feed.Body, &feed.Gzipped)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, bridges.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("read kept feed %s/%s: %w", owner, slug, err)
	}
	return feed, nil
}

// KeepFeed keeps a calendar's feed (one row per calendar), unless the row
// holds a feed built at a later sequence.
func (db *DB) KeepFeed(ctx context.Context, owner, slug string, feed *KeptFeed) error {
	_, err := db.exec(ctx, `INSERT INTO calendar_feeds (owner, slug, seq, version, body, body_gzip, built_at) VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (owner, slug) DO UPDATE SET seq = excluded.seq, version = excluded.version, body = excluded.body,
			body_gzip = excluded.body_gzip, built_at = excluded.built_at
		WHERE calendar_feeds.seq <= excluded.seq`,
		owner, slug, feed.Seq, feed.Version, feed.Body, feed.Gzipped, time.Now().UnixMicro())
	if err != nil {
		return fmt.Errorf("keep feed %s/%s: %w", owner, slug, err)
	}
	return nil
}

// Invited is one event of a participant's calendar: an event they were
// invited to (by a subscription, an invitation or their own answer), with
// where their participation stands and what they added to their copy.
type Invited struct {
	Event *bridges.StoredEvent
	State bridges.ParticipationState
	// Address is the participant's address, as the calendar names them.
	Address string
	// Hidden is set when they deleted the event from their calendar.
	Hidden bool
	// Extras are the lines they added to their copy (alarms, X-
	// properties), kept for them alone.
	Extras string
	// Seq is the calendar's change-log position of the last change to
	// the event or the answer.
	Seq int64
	// Changed is when that was.
	Changed time.Time
}

// InvitedEvents lists a participant's calendar, by event id, in one query:
// every invitation with its event (deleted and hidden ones included, so
// that sync can report them gone). ids, when not empty, restricts it to
// those events.
func (db *DB) InvitedEvents(ctx context.Context, participantID int64, ids []int64) ([]Invited, error) {
	q := "SELECT " + prefixed("e.", eventColumns) + `, i.state, pa.address, i.hidden, i.attendee_extras,
			COALESCE((SELECT MAX(l.seq) FROM personal_log l WHERE l.participant_id = i.participant_id AND l.event_id = i.event_id), 0),
			i.updated_at
		FROM invitations i JOIN participants pa ON pa.id = i.participant_id JOIN events e ON e.id = i.event_id
		WHERE i.participant_id = ?`
	args := []any{participantID}
	if len(ids) > 0 {
		q += " AND i.event_id IN (" + strings.TrimSuffix(strings.Repeat("?,", len(ids)), ",") + ")"
		for _, id := range ids {
			args = append(args, id)
		}
	}
	rows, err := db.query(ctx, q+" ORDER BY i.event_id", args...)
	if err != nil {
		return nil, fmt.Errorf("read personal calendar: %w", err)
	}
	defer rows.Close()
	var out []Invited
	for rows.Next() {
		var a Invited
		var state string
		var updated int64
		ev, err := scanEvent(rowWith{rows, []any{&state, &a.Address, &a.Hidden, &a.Extras, &a.Seq, &updated}})
		if err != nil {
			return nil, fmt.Errorf("read personal calendar: %w", err)
		}
		a.Event, a.State = ev, bridges.ParticipationState(state)
		a.Changed = time.UnixMicro(max(updated, ev.ModifiedAt.UnixMicro())).UTC()
		out = append(out, a)
	}
	return out, rows.Err()
}

// PersonalChanges reads a participant's calendar log after since: each
// event once, at its last change, oldest first, and the position reached.
// A position past the participant's last entry was never issued:
// ErrChangeLogGone.
func (db *DB) PersonalChanges(ctx context.Context, participantID, since int64) (ids []int64, reached int64, err error) {
	last, _, err := db.PersonalState(ctx, participantID)
	if err != nil {
		return nil, 0, err
	}
	if since > last || since < 0 {
		return nil, 0, ErrChangeLogGone
	}
	rows, err := db.query(ctx, `SELECT event_id, MAX(seq) AS last FROM personal_log WHERE participant_id = ? AND seq > ?
		GROUP BY event_id ORDER BY last`, participantID, since)
	if err != nil {
		return nil, 0, fmt.Errorf("read personal calendar log: %w", err)
	}
	defer rows.Close()
	reached = since
	for rows.Next() {
		var id, seq int64
		if err := rows.Scan(&id, &seq); err != nil {
			return nil, 0, fmt.Errorf("read personal calendar log: %w", err)
		}
		ids = append(ids, id)
		reached = max(reached, seq)
	}
	return ids, reached, rows.Err()
}

// PersonalState is a participant's calendar's last log position and when
// it was written (zeros for an empty calendar).
func (db *DB) PersonalState(ctx context.Context, participantID int64) (seq int64, at time.Time, err error) {
	var us int64
	err = db.queryRow(ctx, "SELECT seq, at FROM personal_log WHERE participant_id = ? ORDER BY seq DESC LIMIT 1", participantID).Scan(&seq, &us)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, time.Time{}, nil
	}
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("read personal calendar state: %w", err)
	}
	return seq, time.UnixMicro(us).UTC(), nil
}

// rowWith scans an event's columns followed by more columns of the same
// row into extra.
type rowWith struct {
	row   scanner
	extra []any
}

func (r rowWith) Scan(dest ...any) error { return r.row.Scan(append(dest, r.extra...)...) }

// ParticipantCreatedAt is when a participant's row was made.
func (db *DB) ParticipantCreatedAt(ctx context.Context, id int64) (time.Time, error) {
	var us int64
	err := db.queryRow(ctx, "SELECT created_at FROM participants WHERE id = ?", id).Scan(&us)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, bridges.ErrNotFound
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("read participant %d: %w", id, err)
	}
	return time.UnixMicro(us).UTC(), nil
}
