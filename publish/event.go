package publish

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"html"
	"net/url"
	"strings"
	"time"

	"github.com/microcosm-cc/bluemonday"
)

// publicAudience is ActivityStreams' Public collection: Mobilizon makes an
// event public only when it is in the object's to.
const publicAudience = "https://www.w3.org/ns/activitystreams#Public"

// eventContext names the extensions an Event uses: Mobilizon's
// (joinMode, timezone), schema.org's (eventStatus, PostalAddress) and
// iCalendar's status, which Mobilizon reads instead of eventStatus.
var eventContext = []any{
	"https://www.w3.org/ns/activitystreams",
	map[string]any{
		"ical":                     "http://www.w3.org/2002/12/cal/ical#",
		"mz":                       "https://joinmobilizon.org/ns#",
		"sc":                       "http://schema.org#",
		"joinMode":                 map[string]any{"@id": "mz:joinMode", "@type": "mz:joinModeType"},
		"timezone":                 map[string]any{"@id": "mz:timezone", "@type": "sc:Text"},
		"eventStatus":              map[string]any{"@id": "sc:eventStatus", "@type": "@id"},
		"organizers":               map[string]any{"@id": "https://w3id.org/fep/8a8e#organizers", "@type": "@id"},
		"attendees":                map[string]any{"@id": "https://w3id.org/fep/8a8e#attendees", "@type": "@id"},
		"participantCount":         map[string]any{"@id": "mz:participantCount", "@type": "sc:Integer"},
		"externalParticipationUrl": map[string]any{"@id": "mz:externalParticipationUrl", "@type": "sc:URL"},
		"PostalAddress":            "sc:PostalAddress",
		"VirtualLocation":          "sc:VirtualLocation",
		"address":                  map[string]any{"@id": "sc:address"},
		"streetAddress":            "sc:streetAddress",
		"status":                   "ical:status",
	},
}

// Key is the stable, URL-safe part of an occurrence's Event id: the same
// UID and RECURRENCE-ID always give the same id, across polls, restarts
// and replicas.
func Key(uid, recurrenceID string) string {
	sum := sha256.Sum256([]byte(uid + "\x00" + recurrenceID))
	return hex.EncodeToString(sum[:12])
}

// EventIDs are the URLs an Event document refers to, and the setting of
// its calendar that it carries.
type EventIDs struct {
	// ID is the Event's own id (under public_url). It is also its url:
	// the same address serves passerelle's page of the event to a
	// browser and the Event to an ActivityPub client, as Mobilizon does.
	ID string
	// Group is the calendar's Group actor, Followers its followers.
	Group, Followers string
	// JoinMode is the calendar's join mode (store.JoinFree…); empty
	// means free.
	JoinMode string
}

// AttendeesURL is the attendees collection of the Event with that id.
func AttendeesURL(eventID string) string { return eventID + "/attendees" }

// EventObject is the FEP-8a8e Event for an occurrence, as a JSON object.
// published and updated are left out when zero; they do not count in
// Hash. participantCount is 0 here: whoever serves or sends the Event
// sets the count of the moment (a Join changes it without an Update to
// the followers).
func EventObject(o Occurrence, ids EventIDs, published, updated time.Time) map[string]any {
	joinMode := ids.JoinMode
	switch joinMode {
	case "":
		joinMode = "free"
	case "none":
		// Mobilizon's parser (and passerelle's) knows free, restricted,
		// invite and external only; invite is its "takes no requests".
		joinMode = "invite"
	}
	obj := map[string]any{
		"@context":     eventContext,
		"id":           ids.ID,
		"type":         "Event",
		"name":         o.Summary,
		"summary":      summaryLine(o),
		"content":      contentHTML(o.Description) + organiserLink(o.URL),
		"mediaType":    "text/html",
		"startTime":    timeIn(o, o.Start),
		"endTime":      timeIn(o, o.End),
		"attributedTo": ids.Group,
		"organizers":   []string{ids.Group},
		"joinMode":     joinMode,
		"url":          ids.ID,
		"to":           []string{publicAudience},
		"cc":           []string{ids.Followers},
		"eventStatus":  eventStatus(o.Status),
		"ical:status":  o.Status,
		// Mobilizon sends both status and ical:status; it reads the
		// latter, others the former.
		"status":                        o.Status,
		"commentsEnabled":               false,
		"anonymousParticipationEnabled": false,
		"draft":                         false,
		"attendees":                     AttendeesURL(ids.ID),
		"participantCount":              0,
	}
	if joinMode == "external" {
		if u := organiserURL(o.URL); u != "" {
			// Mobilizon sends its participants there.
			obj["externalParticipationUrl"] = u
		}
	}
	if o.TZID != "" {
		obj["timezone"] = o.TZID
	}
	if loc := location(o.Location); loc != nil {
		obj["location"] = loc
		if online, ok := loc["address"].(map[string]any); ok && online["type"] == "VirtualLocation" {
			// Mobilizon takes an online address only from a Link
			// attachment with exactly this name and mediaType.
			obj["attachment"] = []any{map[string]any{"type": "Link", "href": online["url"], "mediaType": "text/html", "name": "Website"}}
			obj["isOnline"] = true
		}
	}
	if !published.IsZero() {
		obj["published"] = published.UTC().Format(time.RFC3339)
	}
	if !updated.IsZero() {
		obj["updated"] = updated.UTC().Format(time.RFC3339)
	}
	return obj
}

// organiserURL is the event's own page (URL in the calendar) when it is
// a web address, or "".
func organiserURL(s string) string {
	if s == "" {
		return ""
	}
	if u, err := url.Parse(s); err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != "" {
		return u.String()
	}
	return ""
}

// organiserLink is the organiser's own page of the event as a last
// paragraph of content. The Event's url is passerelle's page (the issue
// asks for it, and it is where the fediverse can join); the organiser's
// page is kept as a link in the text rather than as a Link attachment,
// which Mobilizon would take for the online address of the event.
func organiserLink(s string) string {
	u := organiserURL(s)
	if u == "" {
		return ""
	}
	e := html.EscapeString(u)
	return `<p><a href="` + e + `" rel="nofollow noopener">` + e + `</a></p>`
}

// Hash is what tells a changed occurrence from one that only came back
// in a new fetch: the Event as it would be sent, without its dates of
// publication.
func Hash(o Occurrence, ids EventIDs) string {
	b, _ := json.Marshal(EventObject(o, ids, time.Time{}, time.Time{}))
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func eventStatus(s string) string {
	switch s {
	case "CANCELLED":
		return "https://schema.org/EventCancelled"
	case "TENTATIVE":
		return "https://schema.org/EventPostponed"
	}
	return "https://schema.org/EventScheduled"
}

// timeIn writes a time in the event's zone with its offset (as Mobilizon
// does), or in UTC; an all-day event starts at midnight of its day.
func timeIn(o Occurrence, t time.Time) string {
	if o.TZID != "" {
		if loc, err := time.LoadLocation(o.TZID); err == nil {
			return t.In(loc).Format(time.RFC3339)
		}
	}
	return t.UTC().Format(time.RFC3339)
}

// location maps LOCATION: a URL is an online event, a Place whose
// address is a VirtualLocation (the shape Gancio's parser reads; a bare
// VirtualLocation is no Place to Mobilizon); anything else a Place whose
// name is its first part and whose address is the whole text (Mobilizon
// shows both).
func location(s string) map[string]any {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil
	}
	if u, err := url.Parse(s); err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != "" && !strings.ContainsAny(s, " \n") {
		return map[string]any{"type": "Place", "id": s, "name": u.Host,
			"address": map[string]any{"type": "VirtualLocation", "url": s}}
	}
	name, _, _ := strings.Cut(s, ",")
	return map[string]any{
		"type": "Place",
		"name": strings.TrimSpace(name),
		"address": map[string]any{
			"type":          "PostalAddress",
			"streetAddress": s,
		},
	}
}

var ugc = bluemonday.UGCPolicy()

// contentHTML turns DESCRIPTION into safe HTML: plain text (the norm in
// iCalendar) becomes paragraphs; HTML that some tools put there is
// sanitised.
func contentHTML(desc string) string {
	desc = strings.TrimSpace(desc)
	if desc == "" {
		return ""
	}
	if strings.Contains(desc, "</") || strings.Contains(desc, "<br") {
		return ugc.Sanitize(desc)
	}
	var b strings.Builder
	for _, para := range strings.Split(strings.ReplaceAll(desc, "\r\n", "\n"), "\n\n") {
		para = strings.TrimSpace(para)
		if para == "" {
			continue
		}
		b.WriteString("<p>" + strings.ReplaceAll(html.EscapeString(para), "\n", "<br>") + "</p>")
	}
	return b.String()
}

// summaryLine is what Mastodon shows of an Event (it renders it as a
// post): when and where, in one line.
func summaryLine(o Occurrence) string {
	loc := time.UTC
	if o.TZID != "" {
		if l, err := time.LoadLocation(o.TZID); err == nil {
			loc = l
		}
	}
	when := o.Start.In(loc).Format("Mon 2 Jan 2006 15:04 MST")
	if o.AllDay {
		when = o.Start.Format("Mon 2 Jan 2006")
	}
	parts := []string{o.Summary, when}
	if o.Location != "" {
		parts = append(parts, o.Location)
	}
	if o.Status == "CANCELLED" {
		parts = append([]string{"CANCELLED"}, parts...)
	}
	return strings.Join(parts, " · ")
}
