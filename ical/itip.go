package ical

import (
	"bytes"
	"fmt"
	"slices"
	"strconv"
	"strings"

	ics "github.com/arran4/golang-ical"

	"codeberg.org/passerelle/passerelle/bridges"
)

// ITIPMessage is an iTIP message (RFC 5546) as read from a mail: the
// METHOD written inside the calendar and its events. Clients disagree with
// themselves (Google's MIME parameter says REPLY where the body says
// COUNTER), so the METHOD inside the calendar is the one to trust.
type ITIPMessage struct {
	// Method is the upper-cased METHOD property, empty when the calendar
	// has none (iCal 3 sends REPLY attachments without it).
	Method string
	Events []ITIPEvent
}

// ITIPEvent is one VEVENT of an iTIP message, reduced to what scheduling
// needs.
type ITIPEvent struct {
	UID          string
	RecurrenceID string
	Sequence     int
	// Organizer is the ORGANIZER address without "mailto:", empty when
	// the client left it out (Outlook and Exchange replies often do).
	Organizer string
	// Attendees are the VEVENT's own ATTENDEE lines only: a VALARM's
	// ATTENDEE (Google puts the organiser there) is who gets reminded, not
	// who answers.
	Attendees []ITIPAttendee
	Comment   string
}

// ITIPAttendee is one ATTENDEE line.
type ITIPAttendee struct {
	// Address is the calendar address without "mailto:" (any case).
	Address string
	Name    string
	// PartStat is the upper-cased PARTSTAT ("ACCEPTED", "DECLINED",
	// "TENTATIVE", "NEEDS-ACTION"…), empty when absent.
	PartStat string
}

// ParseITIP reads an iCalendar object carrying an iTIP message. It accepts
// what real clients send: LF or CRLF lines, properties in odd places,
// VTIMEZONE after VEVENT, lower-case "mailto:".
func ParseITIP(data []byte) (*ITIPMessage, error) {
	// Some clients (BlackBerry, old Lotus) end the calendar with blank
	// lines or NULs; golang-ical stops cleanly at END:VCALENDAR only.
	data = bytes.TrimRight(data, "\x00\r\n\t ")
	if !bytes.Contains(bytes.ToUpper(data[:min(len(data), 512)]), []byte("BEGIN:VCALENDAR")) {
		return nil, fmt.Errorf("parse iTIP calendar: no BEGIN:VCALENDAR in the first 512 bytes")
	}
	cal, err := ics.ParseCalendarWithOptions(bytes.NewReader(sanitizeNames(data)), ics.WithUnknownPropertyHandler(ics.AcceptUnknownPropertyHandler))
	if err != nil {
		return nil, fmt.Errorf("parse iTIP calendar: %w", err)
	}
	msg := &ITIPMessage{}
	for _, p := range cal.CalendarProperties {
		if strings.EqualFold(p.IANAToken, "METHOD") {
			msg.Method = strings.ToUpper(strings.TrimSpace(p.Value))
		}
	}
	for _, ev := range cal.Events() {
		msg.Events = append(msg.Events, itipEvent(ev))
	}
	if len(msg.Events) == 0 {
		return nil, fmt.Errorf("parse iTIP calendar: no VEVENT")
	}
	return msg, nil
}

// itipEvent reads the properties scheduling needs. golang-ical has already
// unescaped TEXT values (UID, COMMENT) as it parsed them: unescaping them
// again would turn a UID's "\\n" into a newline, and it would no longer be
// the UID that was sent.
func itipEvent(ev *ics.VEvent) ITIPEvent {
	var out ITIPEvent
	for _, p := range ev.Properties {
		switch strings.ToUpper(p.IANAToken) {
		case "UID":
			out.UID = strings.TrimSpace(p.Value)
		case "RECURRENCE-ID":
			out.RecurrenceID = strings.TrimSpace(p.Value)
		case "SEQUENCE":
			out.Sequence, _ = strconv.Atoi(strings.TrimSpace(p.Value))
		case "ORGANIZER":
			out.Organizer = CalAddress(p.Value)
		case "COMMENT":
			out.Comment = p.Value
		case "ATTENDEE":
			out.Attendees = append(out.Attendees, ITIPAttendee{
				Address:  CalAddress(p.Value),
				Name:     firstParam(&p.BaseProperty, "CN"),
				PartStat: strings.ToUpper(firstParam(&p.BaseProperty, "PARTSTAT")),
			})
		}
	}
	return out
}

// CalAddress turns a calendar user address ("mailto:a@b", "MAILTO:a@b")
// into a mail address; other URIs are returned as they are.
func CalAddress(v string) string {
	v = strings.TrimSpace(v)
	if len(v) >= 7 && strings.EqualFold(v[:7], "mailto:") {
		v = v[7:]
	}
	return strings.TrimSpace(v)
}

// firstParam returns a parameter's first value, whatever the case of its name.
func firstParam(p *ics.BaseProperty, name string) string {
	for k, vs := range p.ICalParameters {
		if strings.EqualFold(k, name) && len(vs) > 0 {
			return strings.Trim(vs[0], `"`)
		}
	}
	return ""
}

// sanitizeNames rewrites property names golang-ical's tokenizer rejects
// (Entourage writes X-ENTOURAGE_UUID with an underscore) so that one
// vendor extension does not lose the whole reply; only the name changes.
func sanitizeNames(data []byte) []byte {
	lines := bytes.SplitAfter(data, []byte("\n"))
	changed := false
	for i, l := range lines {
		if len(l) == 0 || l[0] == ' ' || l[0] == '\t' {
			continue
		}
		end := bytes.IndexAny(l, ":;")
		if end < 0 {
			continue
		}
		// The line is copied once, at its first bad character: a copy
		// per bad character made a long name cost its length squared.
		copied := false
		for j := 0; j < end; j++ {
			c := l[j]
			if !(c == '-' || c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z') {
				if !copied {
					l = slices.Clone(l)
					lines[i] = l
					copied, changed = true, true
				}
				l[j] = '-'
			}
		}
	}
	if !changed {
		return data
	}
	return bytes.Join(lines, nil)
}

// Invitee is the one attendee an iTIP message built by ITIP is for.
type Invitee struct {
	// Organizer is the address replies go to (the tokenised reply address)
	// and OrganizerName its CN (the group's name); raw values, quoted by
	// Serialize.
	Organizer     string
	OrganizerName string
	Attendee      string
	AttendeeName  string
	// PartStat is the attendee's PARTSTAT: NEEDS-ACTION in an invitation,
	// ACCEPTED or TENTATIVE in a confirmation.
	PartStat string
	// Comment is a COMMENT for the attendee (Attending: why their answer
	// is not confirmed yet).
	Comment string
	// Extras are content lines the attendee added to their own copy
	// (alarms, X- properties), written before END:VEVENT (Attending).
	Extras string
}

// ITIP renders the event as an iTIP PUBLISH, REQUEST or CANCEL for one
// recipient (RFC 5546 §3.2.1, §3.2.2 and §3.2.5), from the same calendar
// the Renderer stores: same UID, SEQUENCE and VTIMEZONE, with METHOD,
// ORGANIZER and (except in a PUBLISH) the ATTENDEE added. A CANCEL also
// says STATUS:CANCELLED.
//
// PUBLISH is for events with nobody to answer (a live stream to watch):
// RFC 5546 §1.4 gives it "no interactivity between the publisher and any
// other Calendar User", and its §3.2.1 table requires the ORGANIZER and
// forbids ATTENDEE, so there is no RSVP=TRUE for a client to act on and
// calendar apps offer "add" instead of Accept/Decline. The ORGANIZER is
// still the tokenised reply address: a client that answers anyway reaches
// passerelle's mailbox, not a stranger.
func (r *Renderer) ITIP(ev *bridges.Event, method string, to Invitee) ([]byte, error) {
	method = strings.ToUpper(method)
	if method != "PUBLISH" && method != "REQUEST" && method != "CANCEL" {
		return nil, fmt.Errorf("render iTIP for %s: method %q (want PUBLISH, REQUEST or CANCEL)", ev.APID, method)
	}
	if to.Organizer == "" || to.Attendee == "" {
		return nil, fmt.Errorf("render iTIP for %s: organizer and attendee addresses are required", ev.APID)
	}
	cal, vev, err := r.Calendar(ev)
	if err != nil {
		return nil, err
	}
	cal.SetMethod(ics.Method(method))
	var orgParams []ics.PropertyParameter
	if n := strings.TrimSpace(to.OrganizerName); n != "" {
		orgParams = append(orgParams, ics.WithCN(n))
	}
	vev.SetProperty(ics.ComponentPropertyOrganizer, "mailto:"+to.Organizer, orgParams...)
	if method == "PUBLISH" {
		return Serialize(cal), nil
	}
	partstat := to.PartStat
	if partstat == "" {
		partstat = "NEEDS-ACTION"
	}
	params := []ics.PropertyParameter{
		ics.CalendarUserTypeIndividual,
		ics.ParticipationRoleReqParticipant,
		ics.ParticipationStatus(strings.ToUpper(partstat)),
	}
	if method == "REQUEST" {
		// golang-ical's WithRSVP writes "true"; RFC 5545 spells TRUE.
		params = append(params, &ics.KeyValues{Key: string(ics.ParameterRsvp), Value: []string{"TRUE"}})
	}
	if n := strings.TrimSpace(to.AttendeeName); n != "" {
		params = append(params, ics.WithCN(n))
	}
	vev.AddProperty(ics.ComponentPropertyAttendee, "mailto:"+to.Attendee, params...)
	if method == "CANCEL" {
		vev.SetProperty(ics.ComponentPropertyStatus, string(ics.ObjectStatusCancelled))
	}
	return Serialize(cal), nil
}

// Attending renders the event as a calendar object for one attendee's own
// calendar (a personal CalDAV calendar or feed): no METHOD, the same UID,
// SEQUENCE and VTIMEZONE as every other copy, with ORGANIZER and the
// attendee's ATTENDEE line carrying their PARTSTAT.
func (r *Renderer) Attending(ev *bridges.Event, to Invitee) ([]byte, error) {
	if to.Organizer == "" || to.Attendee == "" {
		return nil, fmt.Errorf("render %s for an attendee: organizer and attendee addresses are required", ev.APID)
	}
	cal, vev, err := r.Calendar(ev)
	if err != nil {
		return nil, err
	}
	var orgParams []ics.PropertyParameter
	if n := strings.TrimSpace(to.OrganizerName); n != "" {
		orgParams = append(orgParams, ics.WithCN(n))
	}
	vev.SetProperty(ics.ComponentPropertyOrganizer, "mailto:"+to.Organizer, orgParams...)
	partstat := to.PartStat
	if partstat == "" {
		partstat = "NEEDS-ACTION"
	}
	// RSVP=TRUE: the attendee's calendar app offers Accept, Maybe and
	// Decline, and the server (passerelle) schedules the answer.
	vev.AddProperty(ics.ComponentPropertyAttendee, "mailto:"+to.Attendee,
		ics.CalendarUserTypeIndividual, ics.ParticipationRoleReqParticipant, ics.ParticipationStatus(strings.ToUpper(partstat)),
		&ics.KeyValues{Key: string(ics.ParameterRsvp), Value: []string{"TRUE"}})
	if to.Comment != "" {
		vev.AddProperty(ics.ComponentPropertyComment, to.Comment)
	}
	out := Serialize(cal)
	if to.Extras == "" {
		return out, nil
	}
	end := bytes.LastIndex(out, []byte("END:VEVENT\r\n"))
	if end < 0 {
		return out, nil
	}
	return append(append(append([]byte{}, out[:end]...), to.Extras...), out[end:]...), nil
}
