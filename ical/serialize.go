package ical

import (
	"bytes"
	"slices"
	"strings"
	"unicode/utf8"

	ics "github.com/arran4/golang-ical"
)

// maxLineOctets is RFC 5545 §3.1's limit on a content line, CRLF excluded.
const maxLineOctets = 75

// Serialize writes the calendar as RFC 5545 text: CRLF line ends, lines
// folded at 75 octets on UTF-8 boundaries, TEXT values escaped and parameter
// values quoted when they hold ':', ';' or ','.
//
// It replaces golang-ical's own Calendar.Serialize, which backslash-escapes
// parameter values (CN=Doe\, John: RFC 5545 has no escapes in parameters,
// so parsers read "Doe\" and a stray parameter) and never quotes them.
// Parameters are written in sorted order so that the same calendar always
// gives the same bytes, and therefore the same ETag.
func Serialize(cal *ics.Calendar) []byte {
	var b bytes.Buffer
	b.WriteString("BEGIN:VCALENDAR\r\n")
	for _, p := range cal.CalendarProperties {
		writeProperty(&b, &p.BaseProperty)
	}
	for _, c := range cal.Components {
		writeComponent(&b, c)
	}
	b.WriteString("END:VCALENDAR\r\n")
	return b.Bytes()
}

// SerializeComponent writes one component (a VEVENT, a VTIMEZONE…) the way
// Serialize does, for callers that assemble calendars themselves.
func SerializeComponent(c ics.Component) []byte {
	var b bytes.Buffer
	writeComponent(&b, c)
	return b.Bytes()
}

// componentName returns the component's BEGIN/END name. golang-ical keeps it
// in the Go type, not in a field, except for components it does not know.
func componentName(c ics.Component) string {
	switch c := c.(type) {
	case *ics.VEvent:
		return string(ics.ComponentVEvent)
	case *ics.VTodo:
		return string(ics.ComponentVTodo)
	case *ics.VJournal:
		return string(ics.ComponentVJournal)
	case *ics.VBusy:
		return string(ics.ComponentVFreeBusy)
	case *ics.VTimezone:
		return string(ics.ComponentVTimezone)
	case *ics.VAlarm:
		return string(ics.ComponentVAlarm)
	case *ics.Standard:
		return string(ics.ComponentStandard)
	case *ics.Daylight:
		return string(ics.ComponentDaylight)
	case *ics.GeneralComponent:
		return c.Token
	}
	return "X-UNKNOWN"
}

func writeComponent(b *bytes.Buffer, c ics.Component) {
	name := componentName(c)
	b.WriteString("BEGIN:" + name + "\r\n")
	for _, p := range c.UnknownPropertiesIANAProperties() {
		writeProperty(b, &p.BaseProperty)
	}
	for _, sub := range c.SubComponents() {
		writeComponent(b, sub)
	}
	b.WriteString("END:" + name + "\r\n")
}

func writeProperty(b *bytes.Buffer, p *ics.BaseProperty) {
	var line strings.Builder
	line.WriteString(p.IANAToken)
	keys := make([]string, 0, len(p.ICalParameters))
	for k := range p.ICalParameters {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		line.WriteByte(';')
		line.WriteString(k)
		line.WriteByte('=')
		for i, v := range p.ICalParameters[k] {
			if i > 0 {
				line.WriteByte(',')
			}
			line.WriteString(ParamValue(v))
		}
	}
	line.WriteByte(':')
	if p.GetValueType() == ics.ValueDataTypeText {
		line.WriteString(TextValue(p.Value))
	} else {
		line.WriteString(cleanControls(p.Value))
	}
	fold(b, line.String())
}

// TextValue escapes s as an RFC 5545 TEXT value: backslash, ';', ',' and
// newlines; other control characters, which TEXT cannot carry, are dropped.
func TextValue(s string) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.ReplaceAll(s, "\r", "\n")
	s = strings.Map(func(r rune) rune {
		if r == '\n' || r == '\t' || r >= 0x20 && r != 0x7f {
			return r
		}
		return -1
	}, s)
	return ics.ToText(s)
}

// ParamValue writes a parameter value: as is when it is a plain token,
// quoted when it holds ':', ';', ',' or spaces, and with RFC 6868's caret
// encoding for the double quote, caret and newline that a quoted value
// cannot hold.
func ParamValue(v string) string {
	v = strings.ReplaceAll(v, "\r\n", "\n")
	if !strings.ContainsAny(v, "\"^\n:;, \t") && v != "" {
		return cleanControls(v)
	}
	var q strings.Builder
	q.WriteByte('"')
	for _, r := range v {
		switch {
		case r == '"':
			q.WriteString("^'")
		case r == '^':
			q.WriteString("^^")
		case r == '\n' || r == '\r':
			q.WriteString("^n")
		case r < 0x20 && r != '\t' || r == 0x7f:
		default:
			q.WriteRune(r)
		}
	}
	q.WriteByte('"')
	return q.String()
}

func cleanControls(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 && r != '\t' || r == 0x7f {
			return -1
		}
		return r
	}, s)
}

// fold writes one content line, folded so that no physical line exceeds 75
// octets: continuation lines start with a space, which unfolding removes,
// and a UTF-8 sequence is never split across lines.
func fold(b *bytes.Buffer, line string) {
	limit := maxLineOctets
	for len(line) > limit {
		cut := limit
		for cut > 0 && !utf8.RuneStart(line[cut]) {
			cut--
		}
		b.WriteString(line[:cut])
		b.WriteString("\r\n ")
		line = line[cut:]
		limit = maxLineOctets - 1
	}
	b.WriteString(line)
	b.WriteString("\r\n")
}
