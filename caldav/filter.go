package caldav

import (
	"net/http"
	"strings"
	"time"

	webdav "github.com/emersion/go-webdav/caldav"

	"codeberg.org/passerelle/passerelle/ical"
)

// The filters of a calendar-query (RFC 4791 §9.7), in go-webdav's model,
// matched on the ical package's parse of the stored object. The VEVENT
// time-range clients send is answered by the store's index before this
// (report.go); what is left here are property, parameter and text filters
// and the rarer nested ones.

// matchComp reports whether comp matches a comp-filter of its own name.
func matchComp(f webdav.CompFilter, comp *ical.Component) (bool, error) {
	if comp.Name != f.Name {
		return f.IsNotDefined, nil
	}
	if f.IsNotDefined {
		return false, nil
	}
	if !f.Start.IsZero() || !f.End.IsZero() {
		ok, err := compInRange(f.Start, f.End, comp)
		if err != nil || !ok {
			return false, err
		}
	}
	for _, sub := range f.Comps {
		ok, err := matchChildren(sub, comp)
		if err != nil || !ok {
			return false, err
		}
	}
	for _, pf := range f.Props {
		ok, err := matchProp(pf, comp)
		if err != nil || !ok {
			return false, err
		}
	}
	return true, nil
}

// matchChildren: a comp-filter on a sub-component holds when one child of
// that name matches it, or, with is-not-defined, when none has that name.
func matchChildren(f webdav.CompFilter, comp *ical.Component) (bool, error) {
	named := false
	for _, c := range comp.Children {
		if c.Name != f.Name {
			continue
		}
		named = true
		if f.IsNotDefined {
			return false, nil
		}
		ok, err := matchComp(f, c)
		if err != nil || ok {
			return ok, err
		}
	}
	return !named && f.IsNotDefined, nil
}

// compInRange applies a time-range to a component (RFC 4791 §9.9). Only
// events have a span here; a time-range on another kind (a VALARM's
// trigger, a VTODO) matches nothing, as passerelle stores only events.
func compInRange(from, to time.Time, comp *ical.Component) (bool, error) {
	if comp.Name != "VEVENT" {
		return false, nil
	}
	start, end, err := comp.Span()
	if err != nil {
		return false, errorf(http.StatusBadRequest, "apply time-range: %v", err)
	}
	return overlaps(from, to, start, end), nil
}

// overlaps is §9.9's test: a span overlaps [from, to) when it starts
// before to and ends after from; an instant overlaps when it is at or
// after from. Zero bounds are open.
func overlaps(from, to, start, end time.Time) bool {
	if !to.IsZero() && !start.Before(to) {
		return false
	}
	if from.IsZero() {
		return true
	}
	if end.After(start) {
		return end.After(from)
	}
	return !start.Before(from)
}

// matchProp: a prop-filter holds when one property of that name passes
// its parameter, time and text tests, or, with is-not-defined, when the
// component has none.
func matchProp(f webdav.PropFilter, comp *ical.Component) (bool, error) {
	props := comp.Prop(f.Name)
	if f.IsNotDefined {
		return len(props) == 0, nil
	}
	for _, p := range props {
		ok, err := propMatches(f, p)
		if err != nil || ok {
			return ok, err
		}
	}
	return false, nil
}

func propMatches(f webdav.PropFilter, p ical.Prop) (bool, error) {
	for _, pf := range f.ParamFilter {
		if !matchParam(pf, p) {
			return false, nil
		}
	}
	if !f.Start.IsZero() || !f.End.IsZero() {
		t, _, err := p.Time()
		if err != nil {
			return false, nil // not a date: outside any range
		}
		return overlaps(f.Start, f.End, t, t), nil
	}
	if f.TextMatch != nil {
		return textMatches(*f.TextMatch, p.Text()), nil
	}
	return true, nil
}

func matchParam(f webdav.ParamFilter, p ical.Prop) bool {
	values := p.Params[f.Name]
	if f.IsNotDefined {
		return len(values) == 0
	}
	if len(values) == 0 {
		return false
	}
	if f.TextMatch == nil {
		return true
	}
	for _, v := range values {
		if textMatches(*f.TextMatch, v) {
			return true
		}
	}
	return false
}

// textMatches applies a text-match with the default collation,
// i;ascii-casemap (RFC 4791 §9.7.5): a substring test that ignores the
// case of ASCII letters.
func textMatches(t webdav.TextMatch, value string) bool {
	found := strings.Contains(asciiLower(value), asciiLower(t.Text))
	return found != t.NegateCondition
}

func asciiLower(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'A' && r <= 'Z' {
			return r + ('a' - 'A')
		}
		return r
	}, s)
}
