// Package publish publishes a community's existing calendar (an .ics or
// webcal:// feed, or a CalDAV calendar collection, see caldav.go) as a
// followable ActivityPub Group (issue 19): it fetches and
// parses the calendar, maps each VEVENT occurrence to an FEP-8a8e Event
// and sends its followers Create, Update and Delete when the calendar
// changes. federation serves the Group, its collections and the Events
// from what this package stores.
package publish

import (
	"bytes"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/teambition/rrule-go"

	"codeberg.org/passerelle/passerelle/ical"
)

// Limits of what a calendar may hold.
const (
	// MaxCalendarBytes bounds a fetched calendar: a bigger one is refused.
	MaxCalendarBytes = 10 << 20
	// MaxOccurrences bounds the events one calendar publishes: a calendar
	// with more is refused rather than published in part.
	MaxOccurrences = 5000
	// Horizon is how far ahead recurring events are expanded.
	Horizon = 90 * 24 * time.Hour
	// pastWindow is how far back recurring occurrences are kept: a
	// follower may still want last week's.
	pastWindow = 7 * 24 * time.Hour
	// maxRecurrenceSteps bounds the dates of one series walked through
	// (from its DTSTART) to reach the window: a daily series of thirty
	// years is 11,000.
	maxRecurrenceSteps = 20000
)

// Occurrence is one event to publish: a VEVENT, or one occurrence of a
// recurring one, keyed by UID and RECURRENCE-ID.
type Occurrence struct {
	UID string
	// RecurrenceID is empty for a non-recurring event, else the
	// occurrence's original start in UTC (20060102T150405Z) or its date
	// (20060102) for an all-day series.
	RecurrenceID string
	Start, End   time.Time
	AllDay       bool
	// TZID is the IANA zone of DTSTART, empty for UTC or floating times.
	TZID        string
	Summary     string
	Description string
	Location    string
	URL         string
	// Status is CONFIRMED, TENTATIVE or CANCELLED.
	Status   string
	Sequence int
	Updated  time.Time
	Created  time.Time
}

// Problem is a VEVENT left out of a calendar, and why.
type Problem struct {
	UID    string
	Reason string
}

func (p Problem) String() string {
	if p.UID == "" {
		return p.Reason
	}
	return p.UID + ": " + p.Reason
}

// ErrNotCalendar is returned for a document that is not iCalendar.
var ErrNotCalendar = errors.New("not an iCalendar document (want text/calendar starting with BEGIN:VCALENDAR)")

// Parse reads a calendar into the occurrences to publish, sorted by start
// then UID. Recurring events are expanded from a week before now to
// Horizon after it; an overridden occurrence (a VEVENT with RECURRENCE-ID)
// replaces the series'. VEVENTs that cannot be published (no UID, no or a
// bad DTSTART, an unknown TZID, a bad RRULE) are left out and listed as
// problems; the rest is still published.
func Parse(data []byte, now time.Time) ([]Occurrence, []Problem, error) {
	trimmed := bytes.TrimLeft(data, "\ufeff \t\r\n")
	if !bytes.HasPrefix(bytes.ToUpper(trimmed[:min(len(trimmed), 15)]), []byte("BEGIN:VCALENDAR")) {
		return nil, nil, ErrNotCalendar
	}
	root, err := ical.ParseObject(trimmed)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrNotCalendar, err)
	}
	var problems []Problem
	masters := map[string]*ical.Component{}
	overrides := map[string][]*ical.Component{}
	var order []string
	for _, c := range root.Children {
		if c.Name != "VEVENT" {
			continue
		}
		uid := text(c, "UID")
		if uid == "" {
			problems = append(problems, Problem{Reason: fmt.Sprintf("VEVENT %q has no UID", text(c, "SUMMARY"))})
			continue
		}
		if len(c.Prop("RECURRENCE-ID")) > 0 {
			overrides[uid] = append(overrides[uid], c)
			continue
		}
		if _, dup := masters[uid]; dup {
			problems = append(problems, Problem{UID: uid, Reason: "two VEVENTs with this UID: the first is published"})
			continue
		}
		masters[uid] = c
		order = append(order, uid)
	}
	for uid := range overrides {
		if _, ok := masters[uid]; !ok {
			order = append(order, uid)
		}
	}
	var out []Occurrence
	for _, uid := range order {
		occs, err := expand(masters[uid], overrides[uid], now)
		if err != nil {
			problems = append(problems, Problem{UID: uid, Reason: err.Error()})
			continue
		}
		out = append(out, occs...)
		if len(out) > MaxOccurrences {
			return nil, problems, fmt.Errorf("the calendar has more than %d events within %d days: refused rather than published in part", MaxOccurrences, int(Horizon.Hours()/24))
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Start.Equal(out[j].Start) {
			return out[i].Start.Before(out[j].Start)
		}
		if out[i].UID != out[j].UID {
			return out[i].UID < out[j].UID
		}
		return out[i].RecurrenceID < out[j].RecurrenceID
	})
	return out, problems, nil
}

// expand turns a series (master may be nil: only overrides were sent) into
// its occurrences.
func expand(master *ical.Component, overrides []*ical.Component, now time.Time) ([]Occurrence, error) {
	byRID := map[string]Occurrence{}
	for _, o := range overrides {
		occ, err := occurrence(o)
		if err != nil {
			return nil, err
		}
		t, allDay, err := propTime(o.Prop("RECURRENCE-ID")[0])
		if err != nil {
			return nil, err
		}
		occ.RecurrenceID = recurrenceID(t, allDay)
		byRID[occ.RecurrenceID] = occ
	}
	if master == nil {
		return sortedValues(byRID), nil
	}
	base, err := occurrence(master)
	if err != nil {
		return nil, err
	}
	rules := master.Prop("RRULE")
	if len(rules) == 0 {
		return append([]Occurrence{base}, sortedValues(byRID)...), nil
	}
	loc := base.Start.Location()
	lines := []string{"DTSTART:" + base.Start.UTC().Format("20060102T150405Z")}
	if base.TZID != "" {
		lines[0] = "DTSTART;TZID=" + base.TZID + ":" + base.Start.Format("20060102T150405")
	}
	for _, r := range rules {
		lines = append(lines, "RRULE:"+r.Value)
	}
	for _, name := range []string{"RDATE", "EXDATE"} {
		for _, p := range master.Prop(name) {
			for _, v := range strings.Split(p.Value, ",") {
				t, _, err := propTime(ical.Prop{Name: name, Params: p.Params, Value: v})
				if err != nil {
					return nil, err
				}
				lines = append(lines, name+":"+t.UTC().Format("20060102T150405Z"))
			}
		}
	}
	set, err := rrule.StrSliceToRRuleSetInLoc(lines, loc)
	if err != nil {
		return nil, fmt.Errorf("RRULE: %v", err)
	}
	length := base.End.Sub(base.Start)
	from, to := now.Add(-pastWindow), now.Add(Horizon)
	next := set.Iterator()
	for steps := 0; ; steps++ {
		// Bounded walk: a series that started long ago, or one every
		// second, cannot make a poll compute millions of dates.
		if steps > maxRecurrenceSteps {
			return nil, fmt.Errorf("RRULE: more than %d dates before %s: too dense or too old a series", maxRecurrenceSteps, to.Format("2006-01-02"))
		}
		t, ok := next()
		if !ok || t.After(to) {
			break
		}
		if t.Before(from) {
			continue
		}
		t = t.In(loc)
		rid := recurrenceID(t, base.AllDay)
		if _, ok := byRID[rid]; ok {
			continue
		}
		occ := base
		occ.Start, occ.End, occ.RecurrenceID = t, t.Add(length), rid
		byRID[rid] = occ
		if len(byRID) > MaxOccurrences {
			return nil, fmt.Errorf("more than %d occurrences", MaxOccurrences)
		}
	}
	return sortedValues(byRID), nil
}

func sortedValues(m map[string]Occurrence) []Occurrence {
	out := make([]Occurrence, 0, len(m))
	for _, o := range m {
		out = append(out, o)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].RecurrenceID < out[j].RecurrenceID })
	return out
}

func recurrenceID(t time.Time, allDay bool) string {
	if allDay {
		return t.Format("20060102")
	}
	return t.UTC().Format("20060102T150405Z")
}

// occurrence reads one VEVENT's own properties.
func occurrence(c *ical.Component) (Occurrence, error) {
	o := Occurrence{UID: text(c, "UID"), Summary: text(c, "SUMMARY"), Description: text(c, "DESCRIPTION"),
		Location: text(c, "LOCATION"), URL: strings.TrimSpace(text(c, "URL")), Status: strings.ToUpper(text(c, "STATUS"))}
	ds := c.Prop("DTSTART")
	if len(ds) == 0 {
		return o, errors.New("VEVENT without DTSTART")
	}
	var err error
	if o.Start, o.AllDay, err = propTime(ds[0]); err != nil {
		return o, err
	}
	if tz := ds[0].Params["TZID"]; len(tz) == 1 && !strings.HasSuffix(ds[0].Value, "Z") {
		o.TZID, _ = zoneName(tz[0])
	}
	switch {
	case len(c.Prop("DTEND")) > 0:
		if o.End, _, err = propTime(c.Prop("DTEND")[0]); err != nil {
			return o, err
		}
	case len(c.Prop("DURATION")) > 0 || o.AllDay:
		if _, o.End, err = c.Span(); err != nil {
			return o, err
		}
	default:
		o.End = o.Start
	}
	if o.End.Before(o.Start) {
		return o, errors.New("DTEND before DTSTART")
	}
	if o.Status != "CANCELLED" && o.Status != "TENTATIVE" {
		o.Status = "CONFIRMED"
	}
	if s := c.Prop("SEQUENCE"); len(s) > 0 {
		o.Sequence, _ = strconv.Atoi(strings.TrimSpace(s[0].Value))
	}
	if p := c.Prop("LAST-MODIFIED"); len(p) > 0 {
		o.Updated, _, _ = propTime(p[0])
	}
	if p := c.Prop("CREATED"); len(p) > 0 {
		o.Created, _, _ = propTime(p[0])
	}
	if o.Summary == "" {
		o.Summary = "(untitled event)"
	}
	return o, nil
}

// propTime is ical.Prop.Time that reads Windows and prefixed zone names
// (see zoneName) and refuses a TZID it does not know, rather than read the
// time as UTC and publish it hours off. A custom VTIMEZONE's rules are
// not read.
func propTime(p ical.Prop) (time.Time, bool, error) {
	if tz := p.Params["TZID"]; len(tz) == 1 {
		name, ok := zoneName(tz[0])
		if !ok {
			return time.Time{}, false, fmt.Errorf("%s has an unknown TZID %q (want an IANA zone such as Europe/Paris)", p.Name, tz[0])
		}
		params := make(map[string][]string, len(p.Params))
		for k, v := range p.Params {
			params[k] = v
		}
		params["TZID"] = []string{name}
		p.Params = params
	}
	return p.Time()
}

func text(c *ical.Component, name string) string {
	if ps := c.Prop(name); len(ps) > 0 {
		return strings.TrimSpace(ps[0].Text())
	}
	return ""
}
