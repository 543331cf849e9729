package ical

import (
	"fmt"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"

	ics "github.com/arran4/golang-ical"

	"codeberg.org/passerelle/passerelle/bridges"
	"codeberg.org/passerelle/passerelle/bridges/astext"
)

// ProdID is the PRODID passerelle writes in every calendar it produces.
const ProdID = "-//passerelle//passerelle//EN"

const utcFormat = "20060102T150405Z"

// Renderer renders events to calendar text; it implements bridges.Renderer.
// The zero value is ready to use.
type Renderer struct {
	// Now stamps events that carry neither an updated nor a published time
	// (DTSTAMP must be set); nil means time.Now. Events that have either
	// render to the same bytes every time, so their ETag is stable.
	Now func() time.Time
	// MediaURL maps a remote image to passerelle's copy of it
	// (<public_url>/media/<hash>, see the media package), so that calendar
	// apps load nothing from the events' servers; nil keeps the remote
	// URL. The link is computed from the URL alone, since the calendar is
	// rendered when the event is stored, before the image is fetched: it
	// answers 404 until then, and for good if the image is refused.
	MediaURL func(remote string) string
	// MediaHTML rewrites the images of the HTML description
	// (X-ALT-DESC) the same way and drops the others; nil keeps them.
	MediaHTML func(html string) string
}

var _ bridges.Renderer = (*Renderer)(nil)

// RenderEvent renders the event as a VCALENDAR with its VTIMEZONE and one
// VEVENT, as stored with the event and served by CalDAV and the feeds.
func (r *Renderer) RenderEvent(ev *bridges.Event) ([]byte, error) {
	cal, _, err := r.Calendar(ev)
	if err != nil {
		return nil, err
	}
	return Serialize(cal), nil
}

// EventCalendar builds the calendar of one event with a zero Renderer; see
// Renderer.Calendar.
func EventCalendar(ev *bridges.Event) (*ics.Calendar, *ics.VEvent, error) {
	var r Renderer
	return r.Calendar(ev)
}

// Calendar builds, without serializing it, the VCALENDAR of one event:
// VERSION, PRODID and CALSCALE; the VTIMEZONE of the event's zone covering
// the years of its start and end (none when the event is in UTC); and the
// VEVENT, returned too so that callers can add to it before calling
// Serialize.
//
// The VEVENT carries, in this order: UID (the ActivityPub id, which is
// globally unique and stable, unlike Mobilizon's bare uuid), DTSTAMP,
// CREATED, LAST-MODIFIED, SEQUENCE, DTSTART and DTEND (with TZID, or in UTC
// when the source gave no zone), SUMMARY, DESCRIPTION (plain text),
// X-ALT-DESC;FMTTYPE=text/html, LOCATION (place name and address), GEO,
// X-APPLE-STRUCTURED-LOCATION, CONFERENCE (online events), URL, STATUS,
// CATEGORIES (one line per category), ORGANIZER with CN, IMAGE (RFC 7986)
// and ATTACH (banner; IMAGE only with MediaURL).
//
// The calendar has no METHOD: RFC 4791 forbids it in CalDAV objects. iTIP
// callers set METHOD on the calendar (cal.SetMethod), replace ORGANIZER
// (vev.SetOrganizer, which replaces the actor URL by their mail address) and
// add ATTENDEEs (vev.AddAttendee); parameters they add are quoted correctly
// by Serialize, so they must pass raw values (ics.WithCN("Doe, John")),
// never pre-escaped ones.
func (r *Renderer) Calendar(ev *bridges.Event) (*ics.Calendar, *ics.VEvent, error) {
	if ev == nil {
		return nil, nil, fmt.Errorf("render event: no event")
	}
	if ev.APID == "" {
		return nil, nil, fmt.Errorf("render event %d: it has no ActivityPub id to make a UID from", ev.ID)
	}
	if ev.Start.IsZero() {
		return nil, nil, fmt.Errorf("render event %s: it has no start time", ev.APID)
	}
	loc := time.UTC
	if ev.TimeZone != "" {
		l, err := bridges.LoadLocation(ev.TimeZone)
		if err != nil {
			return nil, nil, fmt.Errorf("render event %s: time zone %q: %w", ev.APID, ev.TimeZone, err)
		}
		loc = l
	}

	cal := ics.NewCalendarFor("passerelle")
	cal.SetProductId(ProdID)
	cal.SetCalscale("GREGORIAN")
	if loc != time.UTC {
		end := ev.End
		if end.IsZero() {
			end = ev.Start
		}
		cal.AddVTimezone(Timezone(loc, ev.Start, end))
	}

	vev := ics.NewEvent(ev.APID)
	cal.AddVEvent(vev)

	stamp := ev.Updated
	if stamp.IsZero() {
		stamp = ev.Published
	}
	if stamp.IsZero() {
		stamp = r.now()
	}
	vev.SetProperty(ics.ComponentPropertyDtstamp, stamp.UTC().Format(utcFormat))
	if !ev.Published.IsZero() {
		vev.SetProperty(ics.ComponentPropertyCreated, ev.Published.UTC().Format(utcFormat))
	}
	vev.SetProperty(ics.ComponentPropertyLastModified, stamp.UTC().Format(utcFormat))
	vev.SetProperty(ics.ComponentPropertySequence, strconv.Itoa(ev.Sequence))

	setTime(vev, ics.ComponentPropertyDtStart, ev.Start, loc)
	if !ev.End.IsZero() {
		setTime(vev, ics.ComponentPropertyDtEnd, ev.End, loc)
	}

	vev.SetProperty(ics.ComponentPropertySummary, strings.TrimSpace(ev.Title))
	if desc := description(ev); desc != "" {
		vev.SetProperty(ics.ComponentPropertyDescription, desc)
	}
	h := strings.TrimSpace(ev.DescriptionHTML)
	if h != "" && r != nil && r.MediaHTML != nil {
		h = r.MediaHTML(h)
	}
	if h != "" {
		vev.SetProperty(ics.ComponentProperty("X-ALT-DESC"), h, ics.WithFmtType("text/html"))
	}

	place := ev.Place
	loc1 := place.Address()
	if loc1 == "" && ev.Online && ev.OnlineURL != "" {
		loc1 = ev.OnlineURL
	}
	if loc1 != "" {
		vev.SetProperty(ics.ComponentPropertyLocation, loc1)
	}
	if place != nil && place.Latitude != nil && place.Longitude != nil {
		lat, lon := coord(*place.Latitude), coord(*place.Longitude)
		vev.SetProperty(ics.ComponentPropertyGeo, lat+";"+lon)
		// Apple Calendar shows a map only from this property; its title
		// and address parameters are where param quoting matters most.
		params := []ics.PropertyParameter{ics.WithValue("URI"), param("X-APPLE-RADIUS", "100")}
		if place.Name != "" {
			params = append(params, param("X-TITLE", place.Name))
		}
		if a := place.Address(); a != "" {
			params = append(params, param("X-ADDRESS", a))
		}
		vev.SetProperty(ics.ComponentProperty("X-APPLE-STRUCTURED-LOCATION"), "geo:"+lat+","+lon, params...)
	}
	if ev.Online && ev.OnlineURL != "" {
		vev.SetProperty(ics.ComponentProperty("CONFERENCE"), ev.OnlineURL, ics.WithValue("URI"))
	}

	page := ev.URL
	if page == "" {
		page = ev.APID
	}
	vev.SetProperty(ics.ComponentPropertyUrl, page, ics.WithValue("URI"))
	vev.SetProperty(ics.ComponentPropertyStatus, string(status(ev.Status)))

	seen := map[string]bool{}
	for _, c := range append([]string{ev.Category}, ev.Tags...) {
		c = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(c), "#"))
		if c == "" || seen[strings.ToLower(c)] {
			continue
		}
		seen[strings.ToLower(c)] = true
		vev.AddProperty(ics.ComponentPropertyCategories, c)
	}

	if ev.OrganizerURL != "" {
		var params []ics.PropertyParameter
		if n := strings.TrimSpace(ev.OrganizerName); n != "" {
			params = append(params, ics.WithCN(n))
		}
		vev.SetProperty(ics.ComponentPropertyOrganizer, ev.OrganizerURL, params...)
	}
	if ev.BannerURL != "" && r != nil && r.MediaURL != nil {
		// Through passerelle: the type is known only once fetched, and
		// FMTTYPE is optional. IMAGE (RFC 7986) is the property made for
		// an event's picture; ATTACH stays for clients that know only it.
		u := r.MediaURL(ev.BannerURL)
		vev.AddProperty(ics.ComponentProperty("IMAGE"), u, ics.WithValue("URI"))
		vev.AddProperty(ics.ComponentPropertyAttach, u)
	} else if ev.BannerURL != "" {
		var params []ics.PropertyParameter
		if t := imageType(ev.BannerURL); t != "" {
			params = append(params, ics.WithFmtType(t))
		}
		vev.AddProperty(ics.ComponentPropertyAttach, ev.BannerURL, params...)
	}
	return cal, vev, nil
}

func (r *Renderer) now() time.Time {
	if r != nil && r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// setTime writes a DATE-TIME in the event's zone with its TZID, or in UTC.
func setTime(vev *ics.VEvent, prop ics.ComponentProperty, t time.Time, loc *time.Location) {
	if loc == time.UTC {
		vev.SetProperty(prop, t.UTC().Format(utcFormat))
		return
	}
	vev.SetProperty(prop, t.In(loc).Format(localFormat), ics.WithTZID(loc.String()))
}

func status(s bridges.Status) ics.ObjectStatus {
	switch s {
	case bridges.StatusTentative:
		return ics.ObjectStatusTentative
	case bridges.StatusCancelled:
		return ics.ObjectStatusCancelled
	}
	return ics.ObjectStatusConfirmed
}

func param(key, value string) ics.PropertyParameter {
	return &ics.KeyValues{Key: key, Value: []string{value}}
}

func coord(f float64) string {
	return strconv.FormatFloat(f, 'f', 6, 64)
}

// description is the event's plain-text description: the dialect's text
// when it gave one, else text extracted from the HTML, else the summary.
func description(ev *bridges.Event) string {
	if t := strings.TrimSpace(ev.DescriptionText); t != "" {
		return t
	}
	if h := strings.TrimSpace(ev.DescriptionHTML); h != "" {
		if t := HTMLText(h); t != "" {
			return t
		}
	}
	return HTMLText(strings.TrimSpace(ev.Summary))
}

// HTMLText turns a description that may be HTML (a source's summary, an
// event's content) into the plain text a DESCRIPTION or an X-WR-CALDESC
// shows: astext.Text's rendering, the one every dialect's plain text gets,
// so a calendar never shows tags. Text without markup is kept as it is,
// with its line breaks.
func HTMLText(s string) string {
	if !astext.LooksLikeHTML(s) {
		_, text := astext.FromPlain(s)
		return text
	}
	_, text := astext.FromHTML(s)
	return text
}

// imageType guesses the banner's media type from its file extension, for
// ATTACH's FMTTYPE; it is left out when the URL does not say. A fixed table
// rather than mime.TypeByExtension, whose answers depend on the machine's
// /etc/mime.types, so the same event renders to the same bytes everywhere.
func imageType(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return ""
	}
	return imageTypes[strings.ToLower(path.Ext(p.Path))]
}

var imageTypes = map[string]string{
	".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png", ".gif": "image/gif",
	".webp": "image/webp", ".avif": "image/avif", ".svg": "image/svg+xml",
}
