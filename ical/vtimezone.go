package ical

import (
	"fmt"
	"time"

	ics "github.com/arran4/golang-ical"
)

// localFormat is an RFC 5545 DATE-TIME in local ("floating") form, as
// VTIMEZONE observances and TZID-qualified times are written.
const localFormat = "20060102T150405"

// Timezone builds the VTIMEZONE for loc from Go's time zone database,
// covering every calendar year from from's to to's (inclusive), which RFC
// 5545 §3.6.5 asks of a generator: one observance per transition in those
// years, plus the observance already in effect on January 1st of the first
// year. Observances are written with explicit DTSTARTs rather than RRULEs:
// Go does not expose the rules, only the transitions, and explicit
// transitions are exact even where the rules changed.
//
// Covering whole years makes the component depend only on the zone and
// the years, so two events of the same year share byte-identical
// observances; Feed merges observances by their start.
//
// An event whose end is more than a year after its start (a remote
// organiser's typo, or a hostile 9999) gets its first and last years
// only: the observances a reader needs to resolve DTSTART and DTEND, not
// one pair per year in between.
func Timezone(loc *time.Location, from, to time.Time) *ics.VTimezone {
	if to.Before(from) {
		from, to = to, from
	}
	tz := ics.NewTimezone(loc.String())
	tz.AddProperty(ics.ComponentProperty("X-LIC-LOCATION"), loc.String())
	first, last := from.In(loc).Year(), to.In(loc).Year()
	if last-first <= 1 {
		addYears(tz, loc, first, last)
	} else {
		addYears(tz, loc, first, first)
		addYears(tz, loc, last, last)
	}
	return tz
}

// addYears adds the observances of loc from January 1st of year first to
// the end of year last: the one in effect on that January 1st, then one
// per transition.
func addYears(tz *ics.VTimezone, loc *time.Location, first, last int) {
	begin := time.Date(first, time.January, 1, 0, 0, 0, 0, loc)
	end := time.Date(last+1, time.January, 1, 0, 0, 0, 0, loc)

	start, next := begin.ZoneBounds()
	if start.IsZero() && next.IsZero() {
		// A zone without transitions (UTC, Etc/GMT-3, or a zone whose
		// last transition is before Go's data starts): one observance.
		addObservance(tz, begin, time.Date(1970, time.January, 1, 0, 0, 0, 0, time.UTC), offsetOf(begin))
		return
	}
	if start.IsZero() {
		start = time.Date(1970, time.January, 1, 0, 0, 0, 0, loc)
	}
	for t := start; t.Before(end); {
		before := offsetOf(t.Add(-time.Second))
		addObservance(tz, t, t, before)
		t = nextTransition(t, end)
		if t.IsZero() {
			break
		}
	}
}

// nextTransition returns the first instant after t at which loc's zone
// (offset, name or summer time) changes, or the zero time if there is
// none before end.
//
// It does not trust t.ZoneBounds alone: past the last transition of its
// table, Go computes bounds from the zone's rule, and in leap years it
// gives 31 December 00:00 UTC as both the start of a search and its end
// (Europe/Paris from 2040, America/New_York in 2040 and 2044): walking
// those bounds never ends. Where the bound does not move past t, the
// change is found by steps of a day, then bisected to the second.
func nextTransition(t, end time.Time) time.Time {
	_, next := t.ZoneBounds()
	if next.IsZero() {
		return time.Time{}
	}
	for next.After(t) {
		if next.Before(end) && sameZone(next, t) {
			// A bound where nothing changes (Go's rule-based bounds
			// stop at the end of each year): look past it.
			from := next
			_, next = from.ZoneBounds()
			if next.IsZero() {
				return time.Time{}
			}
			if !next.After(from) {
				t = from
				break
			}
			continue
		}
		return next
	}
	// Step a day at a time until the zone differs, then bisect.
	const day = 24 * time.Hour
	lo := t
	for hi := t.Add(day); lo.Before(end); hi = hi.Add(day) {
		if !sameZone(hi, t) {
			for hi.Sub(lo) > time.Second {
				mid := lo.Add(hi.Sub(lo) / 2).Truncate(time.Second)
				if mid.Equal(lo) {
					break
				}
				if sameZone(mid, t) {
					lo = mid
				} else {
					hi = mid
				}
			}
			return hi
		}
		lo = hi
	}
	return time.Time{}
}

// sameZone reports whether a and b are in the same zone of their location:
// the same offset, abbreviation and summer time.
func sameZone(a, b time.Time) bool {
	an, ao := a.Zone()
	bn, bo := b.Zone()
	return an == bn && ao == bo && a.IsDST() == b.IsDST()
}

// addObservance adds a STANDARD or DAYLIGHT observance that starts at the
// instant at (its DTSTART is written in the offset in force just before it,
// as RFC 5545 requires) and describes the zone as at is.
func addObservance(tz *ics.VTimezone, at, dtstart time.Time, offsetFrom int) {
	name, offsetTo := at.Zone()
	local := dtstart.UTC().Add(time.Duration(offsetFrom) * time.Second)
	var cb *ics.ComponentBase
	if at.IsDST() {
		d := &ics.Daylight{}
		tz.Components = append(tz.Components, d)
		cb = &d.ComponentBase
	} else {
		s := &ics.Standard{}
		tz.Components = append(tz.Components, s)
		cb = &s.ComponentBase
	}
	cb.AddProperty(ics.ComponentPropertyDtStart, local.Format(localFormat))
	cb.AddProperty(ics.ComponentProperty(ics.PropertyTzoffsetfrom), utcOffset(offsetFrom))
	cb.AddProperty(ics.ComponentProperty(ics.PropertyTzoffsetto), utcOffset(offsetTo))
	if name != "" && !isNumericName(name) {
		cb.AddProperty(ics.ComponentProperty(ics.PropertyTzname), name)
	}
}

func offsetOf(t time.Time) int {
	_, off := t.Zone()
	return off
}

// isNumericName reports whether a zone abbreviation is only an offset
// ("+03", "-0430"): Go's database uses those where a zone has no name, and
// a TZNAME that repeats the offset tells a reader nothing.
func isNumericName(name string) bool {
	return len(name) > 0 && (name[0] == '+' || name[0] == '-')
}

// utcOffset formats seconds east of UTC as an RFC 5545 UTC-OFFSET
// (+HHMM, or +HHMMSS when the offset has seconds, as some historical ones do).
func utcOffset(sec int) string {
	sign := '+'
	if sec < 0 {
		sign = '-'
		sec = -sec
	}
	h, m, s := sec/3600, sec/60%60, sec%60
	if s != 0 {
		return fmt.Sprintf("%c%02d%02d%02d", sign, h, m, s)
	}
	return fmt.Sprintf("%c%02d%02d", sign, h, m)
}
