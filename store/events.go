package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"codeberg.org/passerelle/passerelle/bridges"
)

const eventColumns = `id, ap_id, source_id, url, title, description_html, description_text, summary,
	start_at, end_at, timezone, status, join_mode, external_participation_url,
	max_capacity, remaining_capacity, participant_count, online, online_url,
	place_name, place_street, place_postal_code, place_locality, place_region, place_country,
	latitude, longitude, tags, category, language, banner_url, banner_alt,
	organizer_name, organizer_url, draft, public, published, updated, sequence,
	raw, calendar, etag, deleted, created_at, modified_at`

type scanner interface{ Scan(dest ...any) error }

func scanEvent(row scanner) (*bridges.StoredEvent, error) {
	var (
		e                                       bridges.StoredEvent
		sourceID, remaining                     sql.NullInt64
		lat, lon                                sql.NullFloat64
		start, end, published, updated          int64
		created, modified                       int64
		status, joinMode, tags, raw, calendar   string
		pName, pStreet, pCode, pLoc, pReg, pCty string
	)
	err := row.Scan(&e.ID, &e.APID, &sourceID, &e.URL, &e.Title, &e.DescriptionHTML, &e.DescriptionText, &e.Summary,
		&start, &end, &e.TimeZone, &status, &joinMode, &e.ExternalParticipationURL,
		&e.MaxCapacity, &remaining, &e.ParticipantCount, &e.Online, &e.OnlineURL,
		&pName, &pStreet, &pCode, &pLoc, &pReg, &pCty,
		&lat, &lon, &tags, &e.Category, &e.Language, &e.BannerURL, &e.BannerAlt,
		&e.OrganizerName, &e.OrganizerURL, &e.Draft, &e.Public, &published, &updated, &e.Sequence,
		&raw, &calendar, &e.ETag, &e.Deleted, &created, &modified)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, bridges.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("read event: %w", err)
	}
	e.SourceID = sourceID.Int64
	if remaining.Valid {
		r := int(remaining.Int64)
		e.RemainingCapacity = &r
	}
	e.Start, e.End = fromMicro(start), fromMicro(end)
	e.Published, e.Updated = fromMicro(published), fromMicro(updated)
	e.CreatedAt, e.ModifiedAt = fromMicro(created), fromMicro(modified)
	e.Status, e.JoinMode = bridges.Status(status), bridges.JoinMode(joinMode)
	p := bridges.Place{Name: pName, Street: pStreet, PostalCode: pCode, Locality: pLoc, Region: pReg, Country: pCty}
	if lat.Valid && lon.Valid {
		p.Latitude, p.Longitude = &lat.Float64, &lon.Float64
	}
	if !p.Empty() {
		e.Place = &p
	}
	if err := json.Unmarshal([]byte(tags), &e.Tags); err != nil {
		return nil, fmt.Errorf("read event %d tags: %w", e.ID, err)
	}
	if len(e.Tags) == 0 {
		e.Tags = nil
	}
	if raw != "" {
		e.Raw = []byte(raw)
	}
	e.Calendar = []byte(calendar)
	return &e, nil
}

// micro stores a time as unix microseconds, 0 for the zero time.
func micro(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

func fromMicro(us int64) time.Time {
	if us == 0 {
		return time.Time{}
	}
	return time.UnixMicro(us).UTC()
}

func nullID(id int64) sql.NullInt64 { return sql.NullInt64{Int64: id, Valid: id != 0} }

type querier interface {
	queryRow(ctx context.Context, q string, args ...any) *sql.Row
	query(ctx context.Context, q string, args ...any) (*sql.Rows, error)
}

// EventByAPID returns the event with that ActivityPub id, deleted ones
// included, or bridges.ErrNotFound.
func (tx *Tx) EventByAPID(ctx context.Context, apID string) (*bridges.StoredEvent, error) {
	// Prepared: every incoming copy of an event starts with this look-up.
	return scanEvent(tx.queryRowPrepared(ctx, "SELECT "+eventColumns+" FROM events WHERE ap_id = ?", apID))
}

// EventByAPID returns the event with that ActivityPub id, or
// bridges.ErrNotFound.
func (db *DB) EventByAPID(ctx context.Context, apID string) (*bridges.StoredEvent, error) {
	return eventWhere(ctx, db, "ap_id = ?", apID)
}

// EventByID returns the event with that id, or bridges.ErrNotFound.
func (db *DB) EventByID(ctx context.Context, id int64) (*bridges.StoredEvent, error) {
	return eventWhere(ctx, db, "id = ?", id)
}

// EventByID returns the event with that id in the transaction.
func (tx *Tx) EventByID(ctx context.Context, id int64) (*bridges.StoredEvent, error) {
	return eventWhere(ctx, tx, "id = ?", id)
}

func eventWhere(ctx context.Context, q querier, where string, arg any) (*bridges.StoredEvent, error) {
	return scanEvent(q.queryRow(ctx, "SELECT "+eventColumns+" FROM events WHERE "+where, arg))
}

// saveEventColumns are the columns SaveEvent writes, in its argument
// order; saveEventQuery upserts them by ap_id.
const saveEventColumns = `ap_id, source_id, url, title, description_html, description_text, summary,
	start_at, end_at, until_at, timezone, status, join_mode, external_participation_url,
	max_capacity, remaining_capacity, participant_count, online, online_url,
	place_name, place_street, place_postal_code, place_locality, place_region, place_country, latitude, longitude,
	tags, category, language, banner_url, banner_alt,
	organizer_name, organizer_url, draft, public, published, updated, sequence,
	raw, calendar, etag, deleted, created_at, modified_at`

var saveEventQuery = func() string {
	cols := strings.Split(saveEventColumns, ",")
	var set []string
	for _, c := range cols {
		if c = strings.TrimSpace(c); c != "ap_id" && c != "created_at" {
			set = append(set, c+" = excluded."+c)
		}
	}
	return "INSERT INTO events (" + saveEventColumns + ") VALUES (" + strings.TrimSuffix(strings.Repeat("?, ", len(cols)), ", ") +
		") ON CONFLICT (ap_id) DO UPDATE SET " + strings.Join(set, ", ") + " RETURNING id"
}()

// SaveEvent inserts or updates the event by its ActivityPub id, sets
// ev.ID, and logs the change for the public calendars' change log and, for
// an event that was stored already, for its invitees' calendars.
func (tx *Tx) SaveEvent(ctx context.Context, ev *bridges.StoredEvent) error {
	tags, err := json.Marshal(ev.Tags)
	if err != nil {
		return err
	}
	if ev.Tags == nil {
		tags = []byte("[]")
	}
	var p bridges.Place
	var lat, lon sql.NullFloat64
	if ev.Place != nil {
		p = *ev.Place
		if p.Latitude != nil && p.Longitude != nil {
			lat = sql.NullFloat64{Float64: *p.Latitude, Valid: true}
			lon = sql.NullFloat64{Float64: *p.Longitude, Valid: true}
		}
	}
	var remaining sql.NullInt64
	if ev.RemainingCapacity != nil {
		remaining = sql.NullInt64{Int64: int64(*ev.RemainingCapacity), Valid: true}
	}
	until := ev.End
	if until.IsZero() {
		until = ev.Start
	}
	kind := "changed"
	if ev.Deleted {
		kind = "deleted"
	}
	args := []any{ev.APID, nullID(ev.SourceID), ev.URL, ev.Title, ev.DescriptionHTML, ev.DescriptionText, ev.Summary,
		micro(ev.Start), micro(ev.End), micro(until), ev.TimeZone, string(ev.Status), string(ev.JoinMode), ev.ExternalParticipationURL,
		ev.MaxCapacity, remaining, ev.ParticipantCount, ev.Online, ev.OnlineURL,
		p.Name, p.Street, p.PostalCode, p.Locality, p.Region, p.Country, lat, lon,
		string(tags), ev.Category, ev.Language, ev.BannerURL, ev.BannerAlt,
		ev.OrganizerName, ev.OrganizerURL, ev.Draft, ev.Public, micro(ev.Published), micro(ev.Updated), ev.Sequence,
		string(ev.Raw), string(ev.Calendar), ev.ETag, ev.Deleted, micro(ev.CreatedAt), micro(ev.ModifiedAt)}
	id := ev.ID
	if err := tx.queryRowPrepared(ctx, saveEventQuery, args...).Scan(&ev.ID); err != nil {
		return fmt.Errorf("store event %s: %w", ev.APID, err)
	}
	if id != 0 && ev.ID != id {
		return fmt.Errorf("store event %s: it is row %d, not %d as read", ev.APID, ev.ID, id)
	}
	if err := tx.logChange(ctx, ev.SourceID, ev.ID, kind); err != nil {
		return err
	}
	if id != 0 {
		// Every invitee's calendar shows the change too.
		if err := tx.appendLog(ctx, `INSERT INTO personal_log (participant_id, event_id, at)
			SELECT participant_id, event_id, ? FROM invitations WHERE event_id = ? ORDER BY participant_id`, time.Now().UnixMicro(), ev.ID); err != nil {
			return fmt.Errorf("log change for invitees: %w", err)
		}
	}
	return nil
}

// changeLogLock serialises appends to the change logs (change_log,
// personal_log) on PostgreSQL so that sequence numbers commit in order: a
// sync that has seen sequence n must never later find an n-1 committed
// behind it.
const changeLogLock = 0x6368616e6765

// logChange records that an event changed as members of a calendar see it
// (kind "changed" or "deleted").
func (tx *Tx) logChange(ctx context.Context, sourceID, eventID int64, kind string) error {
	if err := tx.appendLog(ctx, "INSERT INTO change_log (source_id, event_id, kind, at) SELECT ?, id, ?, ? FROM events WHERE id = ?",
		nullID(sourceID), kind, time.Now().UnixMicro(), eventID); err != nil {
		return fmt.Errorf("append to change log: %w", err)
	}
	return nil
}

// appendLog runs an append to a change log, written to append nothing for
// an event or participant gone when it runs (erased in the same
// transaction: its entries would have gone with it). On SQLite, where one
// transaction writes at a time, it runs at once and commits in order. On
// PostgreSQL concurrent transactions would commit their sequence numbers
// out of order, so the appends wait for the commit, which sends them
// after taking changeLogLock, in the same query as its COMMIT (see
// commitLogs): the lock is held while the server appends and commits,
// never across a round trip to passerelle. (Taken at the append and held
// to a COMMIT sent later, it queued every replica's writes behind each
// other's round trips: in the region bench (issue 20), 86 % of the busy
// database sessions were waiting for it.)
func (tx *Tx) appendLog(ctx context.Context, q string, args ...any) error {
	if tx.db.backend != Postgres {
		_, err := tx.execPrepared(ctx, q, args...)
		return err
	}
	stmt, err := inlineArgs(q, args)
	if err != nil {
		return err
	}
	tx.logs = append(tx.logs, stmt)
	return nil
}

// commitLogs commits a PostgreSQL transaction that appended to a change
// log: one simple query (one round trip) takes the lock, appends, and
// commits. A failure rolls everything back, as a failed COMMIT does.
func (tx *Tx) commitLogs(ctx context.Context) error {
	// database/sql still holds its transaction open and ends it with its
	// own COMMIT: the query opens an empty one for it (which writes
	// nothing), rather than have the server warn in its log, at every
	// change, that no transaction is in progress.
	q := fmt.Sprintf("SELECT pg_advisory_xact_lock(%d);\n%s;\nCOMMIT;\nBEGIN", changeLogLock, strings.Join(tx.logs, ";\n"))
	if _, err := tx.tx.ExecContext(ctx, q); err != nil {
		return err
	}
	// What the transaction wrote is committed: ending database/sql's
	// transaction ends only the empty one, and its error (the context
	// ended in between, say) changes nothing stored. Returning it would
	// have the caller retry work that is done.
	_ = tx.tx.Commit()
	return nil
}

// inlineArgs writes a change-log append's values into its text, for a
// simple query (which takes no parameters): integers, NULL, and the few
// fixed words of a change's kind, quoted all the same.
func inlineArgs(q string, args []any) (string, error) {
	var b strings.Builder
	for _, a := range args {
		i := strings.IndexByte(q, '?')
		if i < 0 {
			return "", fmt.Errorf("change log: more values than placeholders in %q", q)
		}
		b.WriteString(q[:i])
		q = q[i+1:]
		switch v := a.(type) {
		case int64:
			b.WriteString(strconv.FormatInt(v, 10))
		case sql.NullInt64:
			if !v.Valid {
				b.WriteString("NULL")
			} else {
				b.WriteString(strconv.FormatInt(v.Int64, 10))
			}
		case string:
			b.WriteString("'" + strings.ReplaceAll(v, "'", "''") + "'")
		default:
			return "", fmt.Errorf("change log: value %v of type %T cannot be inlined", a, a)
		}
	}
	if strings.IndexByte(q, '?') >= 0 {
		return "", fmt.Errorf("change log: fewer values than placeholders")
	}
	b.WriteString(q)
	return b.String(), nil
}

// EventQuery selects events. The zero query is every shown event: not
// deleted, not a draft, of a followed source or of none.
type EventQuery struct {
	// SourceID restricts to one source; 0 means all.
	SourceID int64
	// From and To select events overlapping [From, To) (RFC 4791 §9.9: an
	// event without an end overlaps when it starts in the range).
	From, To time.Time
	// IncludeDeleted adds deleted events; IncludeUnfollowed adds events of
	// sources no longer followed.
	IncludeDeleted    bool
	IncludeUnfollowed bool
	// Limit bounds the answer; 0 means no bound.
	Limit int
}

// Events lists events matching q, by start time.
func (db *DB) Events(ctx context.Context, q EventQuery) ([]*bridges.StoredEvent, error) {
	var where []string
	var args []any
	where = append(where, "e.draft = ?")
	args = append(args, false)
	if !q.IncludeDeleted {
		where = append(where, "e.deleted = ?")
		args = append(args, false)
	}
	if !q.IncludeUnfollowed {
		where = append(where, "(e.source_id IS NULL OR s.state <> ?)")
		args = append(args, string(bridges.SourceUnfollowed))
	}
	if q.SourceID != 0 {
		where = append(where, "e.source_id = ?")
		args = append(args, q.SourceID)
	}
	if !q.From.IsZero() {
		// until_at is the end, or the start for events without one; an
		// event that ends exactly at From does not overlap, one that
		// starts exactly at From (and has no end) does.
		where = append(where, "(e.until_at > ? OR (e.end_at = 0 AND e.start_at >= ?))")
		args = append(args, q.From.UnixMicro(), q.From.UnixMicro())
	}
	if !q.To.IsZero() {
		where = append(where, "e.start_at < ?")
		args = append(args, q.To.UnixMicro())
	}
	query := "SELECT " + prefixed("e.", eventColumns) + " FROM events e LEFT JOIN sources s ON s.id = e.source_id WHERE " +
		strings.Join(where, " AND ") + " ORDER BY e.start_at, e.id"
	if q.Limit > 0 {
		query += fmt.Sprintf(" LIMIT %d", q.Limit)
	}
	rows, err := db.query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("list events: %w", err)
	}
	defer rows.Close()
	var out []*bridges.StoredEvent
	for rows.Next() {
		e, err := scanEvent(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

func prefixed(prefix, cols string) string {
	parts := strings.Split(cols, ",")
	for i, p := range parts {
		parts[i] = prefix + strings.TrimSpace(p)
	}
	return strings.Join(parts, ", ")
}

// Change is one entry of the change log.
type Change struct {
	Seq      int64
	SourceID int64
	EventID  int64
	Kind     string
}

// ChangesSince lists, oldest first, the changes after seq of one source's
// events (sourceID 0: all sources), at most limit of them (0: no bound).
// It reads only the log's tail, so a sync costs what changed.
func (db *DB) ChangesSince(ctx context.Context, sourceID, seq int64, limit int) ([]Change, error) {
	q := "SELECT seq, source_id, event_id, kind FROM change_log WHERE seq > ?"
	args := []any{seq}
	if sourceID != 0 {
		q += " AND source_id = ?"
		args = append(args, sourceID)
	}
	q += " ORDER BY seq"
	if limit > 0 {
		q += fmt.Sprintf(" LIMIT %d", limit)
	}
	rows, err := db.query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("read change log: %w", err)
	}
	defer rows.Close()
	var out []Change
	for rows.Next() {
		var c Change
		var src sql.NullInt64
		if err := rows.Scan(&c.Seq, &src, &c.EventID, &c.Kind); err != nil {
			return nil, err
		}
		c.SourceID = src.Int64
		out = append(out, c)
	}
	return out, rows.Err()
}

// LastChange is the newest change-log sequence for a source (0: all).
func (db *DB) LastChange(ctx context.Context, sourceID int64) (int64, error) {
	q := "SELECT MAX(seq) FROM change_log"
	var args []any
	if sourceID != 0 {
		q += " WHERE source_id = ?"
		args = append(args, sourceID)
	}
	var seq sql.NullInt64
	if err := db.queryRow(ctx, q, args...).Scan(&seq); err != nil {
		return 0, fmt.Errorf("read change log: %w", err)
	}
	return seq.Int64, nil
}
