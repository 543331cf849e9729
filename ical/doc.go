// Package ical is passerelle's one iCalendar renderer: it turns a
// bridges.Event into a VCALENDAR holding one VEVENT and the VTIMEZONE its
// times need, and assembles stored calendars into .ics feeds.
//
// It is built on github.com/arran4/golang-ical for the data model
// (ics.Calendar, ics.VEvent, properties and parameters) and adds what that
// library lacks:
//
//   - VTIMEZONE generation from Go's time zone database (Timezone), which
//     RFC 5545 requires for every TZID an object uses;
//   - a serializer (Serialize) that quotes parameter values instead of
//     backslash-escaping them (golang-ical writes CN=Doe\, John, which no
//     parser reads back as "Doe, John"; RFC 5545 §3.2 wants CN="Doe, John"),
//     encodes the characters a quoted value cannot hold per RFC 6868, and
//     folds lines at 75 octets without splitting a UTF-8 sequence;
//   - feeds (Feed) assembled byte by byte from the stored calendar texts,
//     so serving a feed never re-renders an event.
//
// Other packages reuse the builder: EventCalendar (or Renderer.Calendar)
// returns the calendar and its VEVENT before serialization, so iTIP
// messages (itip.go) add METHOD, ORGANIZER and ATTENDEE lines to exactly
// what calendars and feeds show, then call Serialize.
package ical
