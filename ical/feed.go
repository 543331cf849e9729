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
// calendars carry. It is a FeedBuilder whose events wait in memory; a
// feed too large for that is built with a FeedBuilder over a file.
func Feed(w io.Writer, info FeedInfo, calendars [][]byte) error {
	var events bytes.Buffer
	fb := NewFeedBuilder(&events)
	for _, cal := range calendars {
		if err := fb.Add(cal); err != nil {
			return err
		}
	}
	return fb.WriteTo(w, info, &events)
}

// FeedBuilder assembles a feed one stored calendar at a time, so that
// building it needs memory for its time zones only, whatever the number
// of events: each VEVENT goes to the events writer as it comes (a
// temporary file for a large feed), and WriteTo writes the VCALENDAR, the
// merged VTIMEZONEs (they must come first for some clients), then the
// events read back.
//
// It works on the bytes, without parsing: a feed is a database read and a
// copy, never a re-render. That relies on what Serialize guarantees: CRLF
// line ends and component delimiters alone on their lines (a folded
// continuation starts with a space, so it can never look like one).
type FeedBuilder struct {
	events    io.Writer
	zones     map[string]*zoneParts
	zoneOrder []string
	added     int
}

// NewFeedBuilder writes the events to events.
func NewFeedBuilder(events io.Writer) *FeedBuilder {
	return &FeedBuilder{events: events, zones: map[string]*zoneParts{}}
}

// Add takes one stored calendar. cal may be reused by the caller once Add
// returns (a database driver's buffer): what is kept is copied.
func (fb *FeedBuilder) Add(cal []byte) error {
	ci := fb.added
	fb.added++
	for pos := 0; pos < len(cal); {
		line, next := nextLine(cal, pos)
		switch {
		case bytes.Equal(line, beginVEvent):
			end := endOf(cal, next, endVEvent)
			if end < 0 {
				return fmt.Errorf("build feed: calendar %d has an unterminated VEVENT", ci)
			}
			if _, err := fb.events.Write(cal[pos:end]); err != nil {
				return fmt.Errorf("write feed: %w", err)
			}
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
			z := fb.zones[tzid]
			if z == nil {
				z = &zoneParts{head: bytes.Clone(parts.head), seen: map[string]bool{}}
				fb.zones[tzid] = z
				fb.zoneOrder = append(fb.zoneOrder, tzid)
			}
			for _, o := range parts.observances {
				if !z.seen[string(o.dtstart)] {
					z.seen[string(o.dtstart)] = true
					z.observances = append(z.observances, observance{dtstart: bytes.Clone(o.dtstart), text: bytes.Clone(o.text)})
				}
			}
			next = end
		}
		pos = next
	}
	return nil
}

// WriteTo writes the feed: its head, the time zones, then the events
// read from events (what the events writer was given).
func (fb *FeedBuilder) WriteTo(w io.Writer, info FeedInfo, events io.Reader) error {
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

	slices.Sort(fb.zoneOrder)
	for _, tzid := range fb.zoneOrder {
		b.Reset()
		z := fb.zones[tzid]
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
	if _, err := io.Copy(w, events); err != nil {
		return fmt.Errorf("write feed: %w", err)
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
