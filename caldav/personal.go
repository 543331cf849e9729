package caldav

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash/fnv"
	"net/http"
	"strconv"
	"strings"
	"time"

	"codeberg.org/passerelle/passerelle/bridges"
	"codeberg.org/passerelle/passerelle/ical"
	"codeberg.org/passerelle/passerelle/store"
)

// personalTokenSkew is how far before a participant's creation a personal
// sync token may still have been issued, by a replica whose clock is
// behind.
const personalTokenSkew = 24 * time.Hour

// PersonalSlug names the one calendar a participant's token opens.
const PersonalSlug = "personal"

// PersonalStore serves personal calendars: owner is a secret token mailed
// to a participant (only its hash is stored), and the calendar holds the
// events they answered, each with their PARTSTAT. Objects are rendered per
// request (a personal calendar holds a handful of events); the sync token
// is the time of the last change to the calendar's events or answers, in
// microseconds.
type PersonalStore struct {
	DB       *store.DB
	Renderer *ical.Renderer
	// Organizer is the plain reply address, the ORGANIZER of each object.
	Organizer string
}

var _ Store = (*PersonalStore)(nil)

func (p *PersonalStore) participant(ctx context.Context, owner string) (int64, error) {
	sum := sha256.Sum256([]byte(owner))
	return p.DB.ParticipantByCalendarToken(ctx, hex.EncodeToString(sum[:]))
}

// Calendars lists the one personal calendar of a token's owner.
func (p *PersonalStore) Calendars(ctx context.Context, owner string) ([]Calendar, error) {
	c, err := p.Calendar(ctx, owner, PersonalSlug)
	if err != nil {
		return nil, err
	}
	return []Calendar{*c}, nil
}

// Calendar returns the personal calendar of a token's owner.
func (p *PersonalStore) Calendar(ctx context.Context, owner, slug string) (*Calendar, error) {
	if slug != PersonalSlug {
		return nil, ErrNotFound
	}
	id, err := p.participant(ctx, owner)
	if err != nil {
		return nil, err
	}
	return &Calendar{Owner: owner, Slug: PersonalSlug, Kind: KindPersonal, SourceID: id, Name: "My events",
		Description: "The events you answered, with your answer", Color: "#2CA02C"}, nil
}

// partstats maps where a participation stands to the attendee's PARTSTAT.
func partstat(s bridges.ParticipationState) string {
	switch s {
	case bridges.StateTentative:
		return "TENTATIVE"
	case bridges.StateDeclined, bridges.StateLeft, bridges.StateRejected, bridges.StateFull:
		return "DECLINED"
	case bridges.StateInvited, bridges.StateExternal:
		return "NEEDS-ACTION"
	}
	return "ACCEPTED"
}

type member struct {
	ev      *bridges.StoredEvent
	state   bridges.ParticipationState
	address string
	changed int64
}

// members reads the answered invitations of the calendar's participant
// (cal.SourceID holds the participant's id for personal calendars), with
// their events, in one query.
func (p *PersonalStore) members(ctx context.Context, cal *Calendar) ([]member, error) {
	answered, err := p.DB.AnsweredEvents(ctx, cal.SourceID)
	if err != nil {
		return nil, err
	}
	out := make([]member, len(answered))
	for i, a := range answered {
		out[i] = member{ev: a.Event, state: a.State, address: a.Address,
			changed: max(a.AnswerChanged.UnixMicro(), a.Event.ModifiedAt.UnixMicro())}
	}
	return out, nil
}

func (p *PersonalStore) object(m member, withData bool) (Object, error) {
	h := fnv.New64a()
	h.Write([]byte(m.ev.ETag + "/" + partstat(m.state)))
	o := Object{ID: m.ev.ID, ETag: `"` + strconv.FormatUint(h.Sum64(), 36) + `"`, Modified: time.UnixMicro(m.changed).UTC()}
	if withData {
		data, err := p.Renderer.Attending(&m.ev.Event, ical.Invitee{Organizer: p.Organizer, OrganizerName: m.ev.OrganizerName,
			Attendee: m.address, PartStat: partstat(m.state)})
		if err != nil {
			return Object{}, err
		}
		o.Data = data
	}
	return o, nil
}

func (p *PersonalStore) filter(ctx context.Context, cal *Calendar, keep func(member) bool, withData bool) ([]Object, error) {
	ms, err := p.members(ctx, cal)
	if err != nil {
		return nil, err
	}
	var out []Object
	for _, m := range ms {
		if m.ev.Deleted || !keep(m) {
			continue
		}
		o, err := p.object(m, withData)
		if err != nil {
			return nil, err
		}
		out = append(out, o)
	}
	return out, nil
}

// Objects lists the answered events overlapping [from, to).
func (p *PersonalStore) Objects(ctx context.Context, cal *Calendar, from, to time.Time, withData bool) ([]Object, error) {
	return p.filter(ctx, cal, func(m member) bool {
		end := m.ev.End
		if end.IsZero() {
			end = m.ev.Start
		}
		return (from.IsZero() || end.After(from) || (m.ev.End.IsZero() && !m.ev.Start.Before(from))) && (to.IsZero() || m.ev.Start.Before(to))
	}, withData)
}

// ObjectsByID returns the named answered events.
func (p *PersonalStore) ObjectsByID(ctx context.Context, cal *Calendar, ids []int64, withData bool) ([]Object, error) {
	want := map[int64]bool{}
	for _, id := range ids {
		want[id] = true
	}
	return p.filter(ctx, cal, func(m member) bool { return want[m.ev.ID] }, withData)
}

// Changes lists the events whose answer or content changed after since (a
// time in microseconds); deleted events are Gone. A token this calendar
// never issued is ErrSyncTokenGone: one after its last change (from the
// future), or one from well before the participant existed (every token
// issued is 0, for an empty calendar, or the time of an answer or a
// change since then; the margin covers replicas whose clocks differ).
func (p *PersonalStore) Changes(ctx context.Context, cal *Calendar, since int64, limit int, withData bool) ([]Change, int64, error) {
	ms, err := p.members(ctx, cal)
	if err != nil {
		return nil, 0, err
	}
	createdAt, err := p.DB.ParticipantCreatedAt(ctx, cal.SourceID)
	if err != nil {
		return nil, 0, fmt.Errorf("read personal calendar: %w", err)
	}
	created, last := createdAt.UnixMicro(), int64(0)
	for _, m := range ms {
		last = max(last, m.changed)
	}
	if since > last || (since != 0 && since < created-personalTokenSkew.Microseconds()) {
		return nil, 0, ErrSyncTokenGone
	}
	reached := since
	var out []Change
	for _, m := range ms {
		if m.changed <= since {
			continue
		}
		reached = max(reached, m.changed)
		if m.ev.Deleted {
			out = append(out, Change{Object: Object{ID: m.ev.ID}, Gone: true})
			continue
		}
		o, err := p.object(m, withData)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, Change{Object: o})
	}
	return out, reached, nil
}

// State is the time of the last change to an answer or an answered event.
func (p *PersonalStore) State(ctx context.Context, cal *Calendar) (State, error) {
	ms, err := p.members(ctx, cal)
	if err != nil {
		return State{}, err
	}
	var last int64
	for _, m := range ms {
		last = max(last, m.changed)
	}
	return State{Seq: last, Modified: time.UnixMicro(last).UTC()}, nil
}

// Owners routes each owner to its store: PublicOwner to the public
// calendars, every other owner (a secret token) to the personal ones.
type Owners struct {
	Public   Store
	Personal Store
}

var _ Store = (*Owners)(nil)

func (o *Owners) by(owner string) Store {
	if owner == PublicOwner || o.Personal == nil {
		return o.Public
	}
	return o.Personal
}

func (o *Owners) byCal(cal *Calendar) Store {
	if cal.Kind == KindPersonal {
		return o.Personal
	}
	return o.Public
}

// Calendars lists an owner's calendars.
func (o *Owners) Calendars(ctx context.Context, owner string) ([]Calendar, error) {
	return o.by(owner).Calendars(ctx, owner)
}

// Calendar returns one calendar of an owner.
func (o *Owners) Calendar(ctx context.Context, owner, slug string) (*Calendar, error) {
	return o.by(owner).Calendar(ctx, owner, slug)
}

// Objects lists a calendar's objects.
func (o *Owners) Objects(ctx context.Context, cal *Calendar, from, to time.Time, withData bool) ([]Object, error) {
	return o.byCal(cal).Objects(ctx, cal, from, to, withData)
}

// ObjectsByID returns a calendar's named objects.
func (o *Owners) ObjectsByID(ctx context.Context, cal *Calendar, ids []int64, withData bool) ([]Object, error) {
	return o.byCal(cal).ObjectsByID(ctx, cal, ids, withData)
}

// Changes lists a calendar's changes.
func (o *Owners) Changes(ctx context.Context, cal *Calendar, since int64, limit int, withData bool) ([]Change, int64, error) {
	return o.byCal(cal).Changes(ctx, cal, since, limit, withData)
}

// State returns a calendar's validator.
func (o *Owners) State(ctx context.Context, cal *Calendar) (State, error) {
	return o.byCal(cal).State(ctx, cal)
}

// ServePersonalFeed answers GET /feeds/personal/{token}.ics: the personal
// calendar as one .ics feed, for apps that only subscribe.
func (p *PersonalStore) ServePersonalFeed(w http.ResponseWriter, r *http.Request) {
	token, ok := strings.CutSuffix(r.PathValue("file"), ".ics")
	cal, err := p.Calendar(r.Context(), token, PersonalSlug)
	if !ok || err != nil {
		http.Error(w, "no such calendar", http.StatusNotFound)
		return
	}
	st, err := p.State(r.Context(), cal)
	if err != nil {
		http.Error(w, "internal server error", http.StatusInternalServerError)
		return
	}
	objs, err := p.Objects(r.Context(), cal, time.Time{}, time.Time{}, true)
	if err != nil {
		http.Error(w, "internal server error", http.StatusInternalServerError)
		return
	}
	texts := make([][]byte, len(objs))
	for i := range objs {
		texts[i] = objs[i].Data
	}
	var b strings.Builder
	if err := ical.Feed(&b, ical.FeedInfo{Name: cal.Name, Description: cal.Description}, texts); err != nil {
		http.Error(w, "internal server error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Cache-Control", "private, no-cache")
	w.Header().Set("X-Robots-Tag", "noindex")
	serveCalendarBytes(w, r, []byte(b.String()), `"personal-`+strconv.FormatInt(st.Seq, 36)+`"`, st.Modified)
}
