package ical

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"time"

	ics "github.com/arran4/golang-ical"
)

// Component is one parsed iCalendar component with its properties and
// sub-components, in the order written: what a CalDAV calendar-query
// filter looks at (RFC 4791 §9.7).
type Component struct {
	// Name is upper-case: VCALENDAR, VEVENT, VALARM, VTIMEZONE…
	Name     string
	Props    []Prop
	Children []*Component
}

// Prop is one property line.
type Prop struct {
	// Name is upper-case.
	Name string
	// Params are keyed by upper-case name.
	Params map[string][]string
	// Value is as written, with TEXT escapes (\, \; \n) still in.
	Value string
}

// Text is the value with TEXT escapes undone.
func (p Prop) Text() string { return ics.FromText(p.Value) }

// ParseObject reads a calendar object resource (one VCALENDAR).
func ParseObject(data []byte) (*Component, error) {
	cal, err := ics.ParseCalendarWithOptions(bytes.NewReader(sanitizeNames(data)), ics.WithUnknownPropertyHandler(ics.AcceptUnknownPropertyHandler))
	if err != nil {
		return nil, fmt.Errorf("parse calendar: %w", err)
	}
	root := &Component{Name: "VCALENDAR"}
	for _, p := range cal.CalendarProperties {
		root.Props = append(root.Props, prop(p.BaseProperty))
	}
	for _, c := range cal.Components {
		root.Children = append(root.Children, component(c))
	}
	return root, nil
}

func prop(p ics.BaseProperty) Prop {
	params := make(map[string][]string, len(p.ICalParameters))
	for k, v := range p.ICalParameters {
		params[strings.ToUpper(k)] = v
	}
	return Prop{Name: strings.ToUpper(p.IANAToken), Params: params, Value: p.Value}
}

func component(c ics.Component) *Component {
	out := &Component{Name: nameOf(c)}
	for _, p := range c.UnknownPropertiesIANAProperties() {
		out.Props = append(out.Props, prop(p.BaseProperty))
	}
	for _, sub := range c.SubComponents() {
		out.Children = append(out.Children, component(sub))
	}
	return out
}

func nameOf(c ics.Component) string {
	switch c := c.(type) {
	case *ics.VEvent:
		return "VEVENT"
	case *ics.VTodo:
		return "VTODO"
	case *ics.VJournal:
		return "VJOURNAL"
	case *ics.VBusy:
		return "VFREEBUSY"
	case *ics.VTimezone:
		return "VTIMEZONE"
	case *ics.VAlarm:
		return "VALARM"
	case *ics.Standard:
		return "STANDARD"
	case *ics.Daylight:
		return "DAYLIGHT"
	case *ics.GeneralComponent:
		return strings.ToUpper(c.Token)
	}
	return ""
}

// Prop lists the properties with that (upper-case) name.
func (c *Component) Prop(name string) []Prop {
	var out []Prop
	for _, p := range c.Props {
		if p.Name == name {
			out = append(out, p)
		}
	}
	return out
}

// Time reads a DATE or DATE-TIME value: UTC, local to its TZID, or
// floating (read as UTC, the zone CalDAV's time-ranges are in). A DATE is
// its day's start; allDay says so.
func (p Prop) Time() (t time.Time, allDay bool, err error) {
	v := strings.TrimSpace(p.Value)
	loc := time.UTC
	if tz := p.Params["TZID"]; len(tz) == 1 {
		if l, err := time.LoadLocation(strings.Trim(tz[0], `"`)); err == nil {
			loc = l
		}
	}
	switch {
	case len(v) == 8:
		t, err = time.ParseInLocation("20060102", v, loc)
		return t, true, err
	case strings.HasSuffix(v, "Z"):
		t, err = time.Parse("20060102T150405Z", v)
	default:
		t, err = time.ParseInLocation("20060102T150405", v, loc)
	}
	if err != nil {
		return time.Time{}, false, fmt.Errorf("%s: %q is not a date-time", p.Name, v)
	}
	return t, false, nil
}

// Span is when a VEVENT takes place, as RFC 4791 §9.9 reads it for a
// time-range: from DTSTART to DTEND, or DTSTART plus DURATION, or one day
// for a DATE without either; an instant (end equal to start) otherwise.
func (c *Component) Span() (start, end time.Time, err error) {
	ds := c.Prop("DTSTART")
	if len(ds) == 0 {
		return time.Time{}, time.Time{}, fmt.Errorf("%s without DTSTART", c.Name)
	}
	start, allDay, err := ds[0].Time()
	if err != nil {
		return time.Time{}, time.Time{}, err
	}
	if de := c.Prop("DTEND"); len(de) > 0 {
		end, _, err = de[0].Time()
		return start, end, err
	}
	if du := c.Prop("DURATION"); len(du) > 0 {
		d, err := parseDuration(du[0].Value)
		if err != nil {
			return time.Time{}, time.Time{}, err
		}
		return start, start.Add(d), nil
	}
	if allDay {
		return start, start.AddDate(0, 0, 1), nil
	}
	return start, start, nil
}

// parseDuration reads an RFC 5545 DURATION such as PT1H30M, P1D or -P1W.
// A day is 24 hours here, which is what a time-range compares.
func parseDuration(s string) (time.Duration, error) {
	v := strings.TrimSpace(s)
	neg := strings.HasPrefix(v, "-")
	v = strings.TrimLeft(v, "+-")
	if !strings.HasPrefix(v, "P") || len(v) < 3 {
		return 0, fmt.Errorf("DURATION %q is not a duration like PT1H", s)
	}
	var d time.Duration
	inTime := false
	num := 0
	digits := false
	for _, r := range v[1:] {
		switch {
		case r >= '0' && r <= '9':
			if num > 1<<20 {
				return 0, fmt.Errorf("DURATION %q is too long", s)
			}
			num, digits = num*10+int(r-'0'), true
			continue
		case r == 'T' && !inTime && !digits:
			inTime = true
			continue
		}
		unit := map[rune]time.Duration{'W': 7 * 24 * time.Hour, 'D': 24 * time.Hour}
		if inTime {
			unit = map[rune]time.Duration{'H': time.Hour, 'M': time.Minute, 'S': time.Second}
		}
		u, ok := unit[r]
		if !ok || !digits {
			return 0, fmt.Errorf("DURATION %q is not a duration like PT1H", s)
		}
		d += time.Duration(num) * u
		num, digits = 0, false
	}
	if digits {
		return 0, fmt.Errorf("DURATION %q is not a duration like PT1H", s)
	}
	if neg {
		d = -d
	}
	return d, nil
}

// Lines writes the component back as folded content lines, BEGIN to END:
// how what an attendee added to their copy of an event (an alarm) is kept.
// Values are written as they were read (TEXT escapes still in).
func (c *Component) Lines() string {
	var b bytes.Buffer
	c.write(&b)
	return b.String()
}

func (c *Component) write(b *bytes.Buffer) {
	fold(b, "BEGIN:"+c.Name)
	for _, p := range c.Props {
		b.WriteString(p.Line())
	}
	for _, ch := range c.Children {
		ch.write(b)
	}
	fold(b, "END:"+c.Name)
}

// Line writes the property as one folded content line, its parameters in
// name order.
func (p Prop) Line() string {
	var line strings.Builder
	line.WriteString(p.Name)
	names := make([]string, 0, len(p.Params))
	for k := range p.Params {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		line.WriteString(";" + k + "=")
		for i, v := range p.Params[k] {
			if i > 0 {
				line.WriteByte(',')
			}
			line.WriteString(ParamValue(v))
		}
	}
	line.WriteString(":" + cleanControls(p.Value))
	var b bytes.Buffer
	fold(&b, line.String())
	return b.String()
}
