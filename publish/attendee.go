package publish

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	goical "github.com/emersion/go-ical"
	"github.com/riverqueue/river"

	"codeberg.org/passerelle/passerelle/bridges"
	"codeberg.org/passerelle/passerelle/ical"
	"codeberg.org/passerelle/passerelle/internal/outbound"
	"codeberg.org/passerelle/passerelle/store"
)

// This file writes participations back to the organiser's CalDAV
// calendar (publish --write-attendees): a Join of a published event adds
// the participant as an ATTENDEE of the event there, a Leave removes it.

// AttendeeJob brings the ATTENDEE of one participant of one published
// event in line with the participation as stored now: the job does not
// say "add" or "remove", so a Join and a Leave whose jobs run out of
// order, or twice, still leave the calendar right.
type AttendeeJob struct {
	Slug  string `json:"slug"`
	Key   string `json:"key"`
	Actor string `json:"actor"`
}

// Kind implements bridges.Job.
func (AttendeeJob) Kind() string { return "publish.attendee" }

// AttendeeJobOpts: a calendar server that is down gets retried for a
// while (River's backoff), then the write is given up (logged).
var AttendeeJobOpts = bridges.JobOpts{MaxAttempts: 10}

type attendeeWorker struct {
	river.WorkerDefaults[AttendeeJob]
	p *Publisher
}

func (w *attendeeWorker) Work(ctx context.Context, job *river.Job[AttendeeJob]) error {
	err := w.p.WriteAttendee(ctx, job.Args)
	if errors.Is(err, bridges.ErrNotFound) {
		// The calendar or event is gone: nothing left to write to.
		w.p.log().Info("published calendar: attendee not written", "calendar", job.Args.Slug, "participant", job.Args.Actor, "err", err)
		return nil
	}
	return err
}

func (w *attendeeWorker) Timeout(*river.Job[AttendeeJob]) time.Duration { return 25 * time.Second }

// maxWriteAttempts bounds the GET-modify-PUT rounds of one write when
// the organiser's calendar keeps changing under it (412 on If-Match).
const maxWriteAttempts = 4

// errPrecondition is a PUT refused because the resource changed (412).
var errPrecondition = errors.New("the resource changed since it was read (412)")

// WriteAttendee brings the participant's ATTENDEE on the event in the
// organiser's calendar in line with the participation: present while the
// actor participates, absent otherwise. Nothing is written for a
// calendar published without --write-attendees. The resource is read
// fresh, changed and PUT back with If-Match on its ETag; a 412 (the
// organiser changed it meanwhile) starts again from a new read.
func (p *Publisher) WriteAttendee(ctx context.Context, j AttendeeJob) error {
	c, err := p.calendar(ctx, j.Slug)
	if err != nil {
		return err
	}
	if !c.WriteAttendees || c.Kind != store.KindCalDAV {
		return nil
	}
	e, err := p.DB.PublishedEventByKey(ctx, c.ID, j.Key)
	if err != nil {
		return err
	}
	want, err := p.DB.IsPublishedParticipant(ctx, e.ID, j.Actor)
	if err != nil {
		return err
	}
	res, err := p.DB.PublishedResourceByUID(ctx, c.ID, e.UID)
	if err != nil {
		return err
	}
	cn := j.Actor
	if a, err := p.DB.RemoteActor(ctx, j.Actor); err == nil {
		cn = actorName(a)
	}
	d, err := p.Fetch.dav(c)
	if err != nil {
		return err
	}
	for attempt := 1; ; attempt++ {
		data, etag, err := d.get(ctx, res.Href)
		if err != nil {
			return err
		}
		cal, err := goical.NewDecoder(bytes.NewReader(data)).Decode()
		if err != nil {
			return fmt.Errorf("read %s: %w", res.Href, err)
		}
		changed, err := setAttendee(cal.Component, e.UID, e.RecurrenceID, j.Actor, cn, want)
		if err != nil || !changed {
			return err
		}
		err = d.put(ctx, res.Href, encodeCalendar(cal.Component), etag)
		if errors.Is(err, errPrecondition) && attempt < maxWriteAttempts {
			continue
		}
		if err == nil {
			p.log().Info("published calendar: attendee written to the CalDAV calendar", "calendar", c.Slug, "event", e.UID,
				"recurrence", e.RecurrenceID, "participant", j.Actor, "present", want)
		}
		return err
	}
}

// actorName is the ATTENDEE's CN: the actor's display name, else its
// @user@host handle.
func actorName(a *store.RemoteActor) string {
	if n := strings.TrimSpace(a.Name); n != "" {
		return n
	}
	if u, err := url.Parse(a.ID); err == nil && a.Username != "" {
		return "@" + a.Username + "@" + u.Host
	}
	return a.ID
}

// attendeeParam marks the ATTENDEEs passerelle writes, with the actor
// they stand for.
const attendeeParam = "X-PASSERELLE-ACTOR"

// setAttendee adds (want) or removes the actor's ATTENDEE on the VEVENT
// of uid and occID (the occurrence's RECURRENCE-ID as Parse writes it,
// empty for a non-recurring event) and reports whether the calendar changed. An occurrence of a
// series without its own VEVENT gets one (RFC 5545 §3.8.4.4): a copy of
// the master's properties without its recurrence rules, with
// RECURRENCE-ID and DTSTART at the occurrence, so the ATTENDEE is on
// that occurrence alone.
//
// The ATTENDEE's value is the actor's URL: a participant from the
// fediverse has no calendar address passerelle knows, and an https URI is
// a valid CAL-ADDRESS (a URI, RFC 5545 §3.3.3) that Radicale, Nextcloud
// and Thunderbird keep and show (by its CN). SCHEDULE-AGENT=CLIENT tells
// a scheduling server (Nextcloud, RFC 6638) not to try and invite it.
func setAttendee(cal *goical.Component, uid, occID, actor, cn string, want bool) (bool, error) {
	var master, target *goical.Component
	for _, c := range cal.Children {
		if c.Name != goical.CompEvent || propValue(c, goical.PropUID) != uid {
			continue
		}
		rid := c.Props.Get(goical.PropRecurrenceID)
		if rid == nil {
			master = c
			if occID == "" {
				target = c
			}
			continue
		}
		t, allDay, err := propTime(convProp(rid))
		if err == nil && recurrenceID(t, allDay) == occID {
			target = c
		}
	}
	if target == nil {
		if master == nil {
			return false, fmt.Errorf("no VEVENT %s in the resource: %w", uid, bridges.ErrNotFound)
		}
		if !want {
			return false, nil
		}
		var err error
		if target, err = override(master, occID); err != nil {
			return false, err
		}
		cal.Children = append(cal.Children, target)
	}
	var kept []goical.Prop
	found := 0
	for _, a := range target.Props[goical.PropAttendee] {
		if a.Params.Get(attendeeParam) == actor || strings.EqualFold(strings.TrimSpace(a.Value), actor) {
			found++
			continue
		}
		kept = append(kept, a)
	}
	if want && found == 1 {
		// Written already (a job run twice): nothing to change.
		return false, nil
	}
	if want {
		a := goical.NewProp(goical.PropAttendee)
		a.Value = actor
		a.Params.Set("CN", cn)
		a.Params.Set("PARTSTAT", "ACCEPTED")
		a.Params.Set("CUTYPE", "INDIVIDUAL")
		a.Params.Set("ROLE", "REQ-PARTICIPANT")
		a.Params.Set("SCHEDULE-AGENT", "CLIENT")
		a.Params.Set(attendeeParam, actor)
		kept = append(kept, *a)
	}
	if len(kept) == 0 {
		delete(target.Props, goical.PropAttendee)
	} else {
		target.Props[goical.PropAttendee] = kept
	}
	changed := want || found > 0
	return changed, nil
}

func propValue(c *goical.Component, name string) string {
	if p := c.Props.Get(name); p != nil {
		return strings.TrimSpace(p.Value)
	}
	return ""
}

// convProp turns a go-ical property into passerelle's, to read its time
// the way Parse does (zone names included).
func convProp(p *goical.Prop) ical.Prop {
	params := make(map[string][]string, len(p.Params))
	for k, v := range p.Params {
		params[strings.ToUpper(k)] = v
	}
	return ical.Prop{Name: strings.ToUpper(p.Name), Params: params, Value: p.Value}
}

// override makes the VEVENT of one occurrence of master, whose
// recurrenceID is as Parse writes it (UTC, or a date for an all-day
// series).
func override(master *goical.Component, recurrenceID string) (*goical.Component, error) {
	ds := master.Props.Get(goical.PropDateTimeStart)
	if ds == nil {
		return nil, errors.New("the series has no DTSTART")
	}
	start, allDay, err := propTime(convProp(ds))
	if err != nil {
		return nil, err
	}
	var at time.Time
	if allDay {
		at, err = time.ParseInLocation("20060102", recurrenceID, time.UTC)
	} else {
		at, err = time.Parse("20060102T150405Z", recurrenceID)
	}
	if err != nil {
		return nil, fmt.Errorf("recurrence id %q: %w", recurrenceID, err)
	}
	ov := goical.NewComponent(goical.CompEvent)
	for name, ps := range master.Props {
		switch name {
		case goical.PropRecurrenceRule, goical.PropRecurrenceDates, goical.PropExceptionDates, "EXRULE":
			continue
		}
		ov.Props[name] = append([]goical.Prop(nil), ps...)
	}
	// The occurrence's own times, each written as the master's is (same
	// TZID, or UTC, or a date), so that RECURRENCE-ID names the series'
	// instance.
	timeLike := func(name string, like *goical.Prop, t time.Time) (goical.Prop, error) {
		p := goical.Prop{Name: name, Params: goical.Params{}}
		for k, v := range like.Params {
			p.Params[k] = append([]string(nil), v...)
		}
		lt, _, err := propTime(convProp(like))
		if err != nil {
			return p, err
		}
		switch {
		case allDay:
			p.Value = t.Format("20060102")
		case strings.HasSuffix(like.Value, "Z"):
			p.Value = t.UTC().Format("20060102T150405Z")
		default:
			p.Value = t.In(lt.Location()).Format("20060102T150405")
		}
		return p, nil
	}
	rid, err := timeLike(goical.PropRecurrenceID, ds, at)
	if err != nil {
		return nil, err
	}
	dtstart, err := timeLike(goical.PropDateTimeStart, ds, at)
	if err != nil {
		return nil, err
	}
	ov.Props[goical.PropRecurrenceID] = []goical.Prop{rid}
	ov.Props[goical.PropDateTimeStart] = []goical.Prop{dtstart}
	if de := master.Props.Get(goical.PropDateTimeEnd); de != nil {
		end, _, err := propTime(convProp(de))
		if err != nil {
			return nil, err
		}
		p, err := timeLike(goical.PropDateTimeEnd, de, at.Add(end.Sub(start)))
		if err != nil {
			return nil, err
		}
		ov.Props[goical.PropDateTimeEnd] = []goical.Prop{p}
	}
	return ov, nil
}

// get reads one resource with its ETag.
func (d *davClient) get(ctx context.Context, href string) ([]byte, string, error) {
	u := d.col.ResolveReference(&url.URL{Path: href})
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, "", err
	}
	req.Header.Set("Accept", "text/calendar")
	resp, err := d.http.Do(req)
	if err != nil {
		return nil, "", fmt.Errorf("GET %s: %w", u, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		if resp.StatusCode == http.StatusNotFound {
			return nil, "", fmt.Errorf("GET %s: the event's resource is gone: %w", u, bridges.ErrNotFound)
		}
		return nil, "", &outbound.StatusError{URL: u.String(), StatusCode: resp.StatusCode}
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, "", fmt.Errorf("GET %s: %w", u, err)
	}
	etag := resp.Header.Get("ETag")
	if etag == "" {
		return nil, "", fmt.Errorf("GET %s: no ETag, so no safe way to write it back (If-Match)", u)
	}
	return body, etag, nil
}

// put writes one resource back if it is still the one read (If-Match).
func (d *davClient) put(ctx context.Context, href string, data []byte, etag string) error {
	u := d.col.ResolveReference(&url.URL{Path: href})
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, u.String(), bytes.NewReader(data))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "text/calendar; charset=utf-8")
	req.Header.Set("If-Match", etag)
	resp, err := d.http.Do(req)
	if err != nil {
		return fmt.Errorf("PUT %s: %w", u, err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusPreconditionFailed:
		return errPrecondition
	case resp.StatusCode/100 != 2:
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("PUT %s: status %d (is the calendar writable with these credentials?) %s", u, resp.StatusCode, strings.TrimSpace(string(b)))
	}
	return nil
}
