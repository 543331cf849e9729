package caldav

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"hash/fnv"
	"net/http"
	"strconv"
	"strings"
	"time"

	"codeberg.org/passerelle/passerelle/bridges"
	"codeberg.org/passerelle/passerelle/ical"
	"codeberg.org/passerelle/passerelle/store"
)

// PersonalSlug names the one calendar a participant has: under their
// secret token (read-only) and under their calendar account (where they
// answer).
const PersonalSlug = "personal"

// AccountOwner is the owner segment of the signed-in participant's
// principal and calendars (/dav/principals/account/,
// /dav/calendars/account/personal/): the same path for everyone, so that
// nothing in a URL says who it is; the credentials say.
const AccountOwner = "account"

type participantKey struct{}

// WithParticipant is ctx for a request signed in as the participant.
func WithParticipant(ctx context.Context, participantID int64) context.Context {
	return context.WithValue(ctx, participantKey{}, participantID)
}

// SignedIn returns the participant a request signed in as.
func SignedIn(ctx context.Context) (int64, bool) {
	id, ok := ctx.Value(participantKey{}).(int64)
	return id, ok && id > 0
}

// PersonalStore serves each participant's calendar: every event they were
// invited to (by a subscription to a source, an invitation or their own
// answer), with their PARTSTAT, and what they added to their copy. Its
// owner is a secret token mailed to them (only its hash is stored), or
// AccountOwner for a request signed in to their calendar account. Objects
// are rendered per request (a personal calendar holds a handful of
// events); sync tokens are positions in the participant's calendar log
// (personal_log), which records both answers and event changes.
type PersonalStore struct {
	DB       *store.DB
	Renderer *ical.Renderer
	// Organizer is the plain reply address, the ORGANIZER of each object.
	Organizer string
}

var _ Store = (*PersonalStore)(nil)

func (p *PersonalStore) participant(ctx context.Context, owner string) (int64, error) {
	if owner == AccountOwner {
		if id, ok := SignedIn(ctx); ok {
			return id, nil
		}
		return 0, ErrNotFound
	}
	sum := sha256.Sum256([]byte(owner))
	return p.DB.ParticipantByCalendarToken(ctx, hex.EncodeToString(sum[:]))
}

// Calendars lists the one personal calendar of its owner.
func (p *PersonalStore) Calendars(ctx context.Context, owner string) ([]Calendar, error) {
	c, err := p.Calendar(ctx, owner, PersonalSlug)
	if err != nil {
		return nil, err
	}
	return []Calendar{*c}, nil
}

// Calendar returns the personal calendar of its owner.
func (p *PersonalStore) Calendar(ctx context.Context, owner, slug string) (*Calendar, error) {
	if slug != PersonalSlug {
		return nil, ErrNotFound
	}
	id, err := p.participant(ctx, owner)
	if err != nil {
		return nil, err
	}
	return &Calendar{Owner: owner, Slug: PersonalSlug, Kind: KindPersonal, SourceID: id, Name: "My events",
		Description: "The events you are invited to, with your answer", Color: "#2CA02C"}, nil
}

// partstat maps where a participation stands to the attendee's PARTSTAT,
// and says why when it is not what they answered yet: ACCEPTED only once
// the Join stands (confirmed, or delivered and unanswered past the wait),
// TENTATIVE while the organisers' server or the organisers decide.
func partstat(s bridges.ParticipationState) (string, string) {
	switch s {
	case bridges.StateTentative:
		return "TENTATIVE", ""
	case bridges.StateJoining:
		return "TENTATIVE", "Your yes was sent; waiting for the organisers' server to confirm it."
	case bridges.StatePending:
		return "TENTATIVE", "Your yes was sent; the organisers approve each participant and have not decided yet."
	case bridges.StateDeclined, bridges.StateLeft:
		return "DECLINED", ""
	case bridges.StateRejected:
		return "DECLINED", "The organisers did not accept your participation."
	case bridges.StateFull:
		return "DECLINED", "The event is full: your participation could not be sent."
	case bridges.StateInvited:
		return "NEEDS-ACTION", ""
	case bridges.StateExternal:
		return "NEEDS-ACTION", "Registration is on the organisers' own site."
	}
	return "ACCEPTED", ""
}

// render is one event as its attendee's copy, with its ETag and Schedule-
// Tag. The Schedule-Tag changes only with the organiser's version of the
// event (RFC 6638 §3.2.10): the attendee's own answer or alarms do not
// change it, so a client that answers can use If-Schedule-Tag-Match.
func (p *PersonalStore) render(m store.Invited, withData bool) (Object, error) {
	ps, comment := partstat(m.State)
	h := fnv.New64a()
	h.Write([]byte(m.Event.ETag + "/" + ps + "/" + comment + "/" + m.Extras))
	st := fnv.New64a()
	st.Write([]byte(m.Event.ETag))
	o := Object{ID: m.Event.ID, ETag: `"` + strconv.FormatUint(h.Sum64(), 36) + `"`, ScheduleTag: `"s` + strconv.FormatUint(st.Sum64(), 36) + `"`,
		Modified: m.Changed}
	if withData {
		data, err := p.Renderer.Attending(&m.Event.Event, ical.Invitee{Organizer: p.Organizer, OrganizerName: m.Event.OrganizerName,
			Attendee: m.Address, PartStat: ps, Comment: comment, Extras: m.Extras})
		if err != nil {
			return Object{}, err
		}
		o.Data = data
	}
	return o, nil
}

// shown reports whether the event is in the calendar.
func shown(m store.Invited) bool { return !m.Event.Deleted && !m.Hidden }

func (p *PersonalStore) filter(ctx context.Context, cal *Calendar, ids []int64, keep func(store.Invited) bool, withData bool) ([]Object, error) {
	ms, err := p.DB.InvitedEvents(ctx, cal.SourceID, ids)
	if err != nil {
		return nil, err
	}
	var out []Object
	for _, m := range ms {
		if !shown(m) || !keep(m) {
			continue
		}
		o, err := p.render(m, withData)
		if err != nil {
			return nil, err
		}
		out = append(out, o)
	}
	return out, nil
}

// Objects lists the calendar's events overlapping [from, to).
func (p *PersonalStore) Objects(ctx context.Context, cal *Calendar, from, to time.Time, withData bool) ([]Object, error) {
	return p.filter(ctx, cal, nil, func(m store.Invited) bool {
		end := m.Event.End
		if end.IsZero() {
			end = m.Event.Start
		}
		return (from.IsZero() || end.After(from) || (m.Event.End.IsZero() && !m.Event.Start.Before(from))) && (to.IsZero() || m.Event.Start.Before(to))
	}, withData)
}

// ObjectsByID returns the calendar's named events.
func (p *PersonalStore) ObjectsByID(ctx context.Context, cal *Calendar, ids []int64, withData bool) ([]Object, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	return p.filter(ctx, cal, ids, func(store.Invited) bool { return true }, withData)
}

// Changes lists the events whose answer or content changed after since (a
// position in the participant's calendar log); deleted events, and events
// they took out of their calendar, are Gone. A position the log never
// reached is ErrSyncTokenGone. limit is not applied: a personal calendar
// is small.
func (p *PersonalStore) Changes(ctx context.Context, cal *Calendar, since int64, limit int, withData bool) ([]Change, int64, error) {
	ids, reached, err := p.DB.PersonalChanges(ctx, cal.SourceID, since)
	if errors.Is(err, store.ErrChangeLogGone) {
		return nil, 0, ErrSyncTokenGone
	}
	if err != nil || len(ids) == 0 {
		return nil, reached, err
	}
	ms, err := p.DB.InvitedEvents(ctx, cal.SourceID, ids)
	if err != nil {
		return nil, 0, err
	}
	byID := make(map[int64]store.Invited, len(ms))
	for _, m := range ms {
		byID[m.Event.ID] = m
	}
	out := make([]Change, 0, len(ids))
	for _, id := range ids {
		m, ok := byID[id]
		if !ok || !shown(m) {
			out = append(out, Change{Object: Object{ID: id}, Gone: true})
			continue
		}
		o, err := p.render(m, withData)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, Change{Object: o})
	}
	return out, reached, nil
}

// State is the calendar log's last position.
func (p *PersonalStore) State(ctx context.Context, cal *Calendar) (State, error) {
	seq, at, err := p.DB.PersonalState(ctx, cal.SourceID)
	if err != nil {
		return State{}, err
	}
	return State{Seq: seq, Modified: at}, nil
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
