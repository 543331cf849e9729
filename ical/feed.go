package ical

import (
	"bytes"
	"fmt"
	"io"
	"slices"
	"strconv"
	"time"
)

// FeedInfo describes an .ics feed: the calendar-level properties that
// subscribing clients read.
type FeedInfo struct {
	// Name and Description become X-WR-CALNAME / NAME and X-WR-CALDESC /
	// DESCRIPTION (the de-facto and the RFC 7986 forms, for old and new
	// clients).
	Name        string
	Description string
	// URL is where the feed lives (RFC 7986 SOURCE), when known.
	URL string
	// Refresh is how often clients should poll (REFRESH-INTERVAL and
	// X-PUBLISHED-TTL); zero means one hour.
	Refresh time.Duration
	// Color is an RFC 7986 COLOR (a CSS3 color name), optional.
	Color string
}

// Feed writes one VCALENDAR that holds every VEVENT of the given stored
// calendars (each as RenderEvent produced it), in order, preceded by one
// VTIMEZONE per TZID whose observances are the union of those the
// calendars carry.
//
// It works on the bytes, without parsing: a feed request is a database read
// and a copy, never a re-render. That relies on what Serialize guarantees:
// CRLF line ends and component delimiters alone on their lines (a folded
// continuation starts with a space, so it can never look like one).
func Feed(w io.Writer, info FeedInfo, calendars [][]byte) error {
	zones := map[string]*zoneParts{}
	var zoneOrder []string
	type span struct{ cal, from, to int }
	events := make([]span, 0, len(calendars))

	for ci, cal := range calendars {
		for pos := 0; pos < len(cal); {
			line, next := nextLine(cal, pos)
			switch {
			case bytes.Equal(line, beginVEvent):
				end := endOf(cal, next, endVEvent)
				if end < 0 {
					return fmt.Errorf("build feed: calendar %d has an unterminated VEVENT", ci)
				}
				events = append(events, span{ci, pos, end})
				next = end
			case bytes.Equal(line, beginVTimezone):
				end := endOf(cal, next, endVTimezone)
				if end < 0 {
					return fmt.Errorf("build feed: calendar %d has an unterminated VTIMEZONE", ci)
				}
				tzid, parts := splitTimezone(cal[next:end])
				if tzid == "" {
					return fmt.Errorf("build feed: calendar %d has a VTIMEZONE without TZID", ci)
				}
				z := zones[tzid]
				if z == nil {
					z = &zoneParts{head: parts.head, seen: map[string]bool{}}
					zones[tzid] = z
					zoneOrder = append(zoneOrder, tzid)
				}
				for _, o := range parts.observances {
					if !z.seen[string(o.dtstart)] {
						z.seen[string(o.dtstart)] = true
						z.observances = append(z.observances, o)
					}
				}
				next = end
			}
			pos = next
		}
	}

	var b bytes.Buffer
	b.WriteString("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:" + ProdID + "\r\nCALSCALE:GREGORIAN\r\nMETHOD:PUBLISH\r\n")
	if info.Name != "" {
		fold(&b, "X-WR-CALNAME:"+TextValue(info.Name))
		fold(&b, "NAME:"+TextValue(info.Name))
	}
	if info.Description != "" {
		fold(&b, "X-WR-CALDESC:"+TextValue(info.Description))
		fold(&b, "DESCRIPTION:"+TextValue(info.Description))
	}
	if info.URL != "" {
		fold(&b, "SOURCE;VALUE=URI:"+cleanControls(info.URL))
	}
	if info.Color != "" {
		fold(&b, "COLOR:"+TextValue(info.Color))
	}
	refresh := Duration(info.Refresh)
	if info.Refresh <= 0 {
		refresh = "PT1H"
	}
	b.WriteString("REFRESH-INTERVAL;VALUE=DURATION:" + refresh + "\r\nX-PUBLISHED-TTL:" + refresh + "\r\n")
	if _, err := w.Write(b.Bytes()); err != nil {
		return fmt.Errorf("write feed: %w", err)
	}

	slices.Sort(zoneOrder)
	for _, tzid := range zoneOrder {
		b.Reset()
		z := zones[tzid]
		slices.SortStableFunc(z.observances, func(a, b observance) int { return bytes.Compare(a.dtstart, b.dtstart) })
		b.Write(beginVTimezone)
		b.WriteString("\r\n")
		b.Write(z.head)
		for _, o := range z.observances {
			b.Write(o.text)
		}
		b.Write(endVTimezone)
		b.WriteString("\r\n")
		if _, err := w.Write(b.Bytes()); err != nil {
			return fmt.Errorf("write feed: %w", err)
		}
	}
	for _, e := range events {
		if _, err := w.Write(calendars[e.cal][e.from:e.to]); err != nil {
			return fmt.Errorf("write feed: %w", err)
		}
	}
	if _, err := io.WriteString(w, "END:VCALENDAR\r\n"); err != nil {
		return fmt.Errorf("write feed: %w", err)
	}
	return nil
}

// Duration formats d as an RFC 5545 DURATION (P1D, PT1H, PT1H30M, PT45S).
func Duration(d time.Duration) string {
	if d <= 0 {
		return "PT0S"
	}
	if d%(24*time.Hour) == 0 {
		return "P" + strconv.FormatInt(int64(d/(24*time.Hour)), 10) + "D"
	}
	s := "PT"
	if h := d / time.Hour; h > 0 {
		s += strconv.FormatInt(int64(h), 10) + "H"
	}
	if m := d % time.Hour / time.Minute; m > 0 {
		s += strconv.FormatInt(int64(m), 10) + "M"
	}
	if sec := d % time.Minute / time.Second; sec > 0 {
		s += strconv.FormatInt(int64(sec), 10) + "S"
	}
	return s
}

var (
	beginVEvent    = []byte("BEGIN:VEVENT")
	endVEvent      = []byte("END:VEVENT")
	beginVTimezone = []byte("BEGIN:VTIMEZONE")
	endVTimezone   = []byte("END:VTIMEZONE")
)

type zoneParts struct {
	head        []byte
	observances []observance
	seen        map[string]bool
}

type observance struct {
	dtstart []byte
	text    []byte
}

// nextLine returns the content of the physical line at pos (without its
// line end) and where the following line starts.
func nextLine(b []byte, pos int) ([]byte, int) {
	i := bytes.IndexByte(b[pos:], '\n')
	if i < 0 {
		return b[pos:], len(b)
	}
	line := b[pos : pos+i]
	return bytes.TrimSuffix(line, []byte{'\r'}), pos + i + 1
}

// endOf returns the offset just past the line equal to end, searching from
// pos, or -1.
func endOf(b []byte, pos int, end []byte) int {
	for pos < len(b) {
		line, next := nextLine(b, pos)
		if bytes.Equal(line, end) {
			return next
		}
		pos = next
	}
	return -1
}

// splitTimezone splits a VTIMEZONE's body (after its BEGIN line, up to and
// including its END line) into its own properties and its observances.
func splitTimezone(body []byte) (string, zoneParts) {
	var tzid string
	var parts zoneParts
	var head bytes.Buffer
	for pos := 0; pos < len(body); {
		line, next := nextLine(body, pos)
		switch {
		case bytes.Equal(line, endVTimezone):
		case bytes.HasPrefix(line, []byte("BEGIN:")):
			end := endOf(body, next, append([]byte("END:"), line[len("BEGIN:"):]...))
			if end < 0 {
				end = len(body)
			}
			o := observance{text: body[pos:end]}
			for p := next; p < end; {
				l, n := nextLine(body, p)
				if bytes.HasPrefix(l, []byte("DTSTART")) {
					if i := bytes.IndexByte(l, ':'); i >= 0 {
						o.dtstart = l[i+1:]
					}
				}
				p = n
			}
			parts.observances = append(parts.observances, o)
			next = end
		default:
			if bytes.HasPrefix(line, []byte("TZID:")) {
				tzid = string(line[len("TZID:"):])
			}
			head.Write(body[pos:next])
		}
		pos = next
	}
	parts.head = head.Bytes()
	return tzid, parts
}
