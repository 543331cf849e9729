package web

import (
	"cmp"
	"encoding/json"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"time"

	"codeberg.org/passerelle/passerelle/bridges"
	"codeberg.org/passerelle/passerelle/store"
)

// This file is the page of a published calendar's event (issue 19): the
// Event's id, /actors/SLUG/events/KEY, answers a browser with it (the
// federation side hands browsers over, as Mobilizon serves its events),
// and the Event's url is that address. The page is built from the Event
// document as it was last sent to the fediverse, so it shows exactly
// what followers see, and it sanitises that document's HTML again.

type publishedPage struct {
	page
	Gone                      bool
	Name, When, Where, Online string
	Calendar, Handle          string
	Count                     int
	Description               template.HTML
	Cancelled, Tentative      bool
	JoinText, External        string
	CanJoin                   bool
	Address                   string
}

// publishedEvent is what the page reads of a stored Event document.
type publishedEvent struct {
	Name      string `json:"name"`
	StartTime string `json:"startTime"`
	EndTime   string `json:"endTime"`
	Timezone  string `json:"timezone"`
	Content   string `json:"content"`
	Status    string `json:"ical:status"`
	JoinMode  string `json:"joinMode"`
	External  string `json:"externalParticipationUrl"`
	Location  *struct {
		Name    string `json:"name"`
		Address struct {
			Type   string `json:"type"`
			Street string `json:"streetAddress"`
			URL    string `json:"url"`
		} `json:"address"`
	} `json:"location"`
}

// ServePublishedEvent serves the page of a published event: 404 for an
// unknown one, 410 for a deleted event or one of a removed calendar.
func (p *Pages) ServePublishedEvent(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	username, key := r.PathValue("username"), r.PathValue("key")
	a, err := p.DB.LocalActorByUsername(ctx, username)
	if errors.Is(err, bridges.ErrNotFound) || (err == nil && a.Kind != store.ActorCalendar && a.Kind != store.ActorCalendarRemoved) {
		p.notFound(w, r)
		return
	}
	if err != nil {
		p.fail(w, r, err)
		return
	}
	if a.Kind == store.ActorCalendarRemoved {
		p.gone(w, r)
		return
	}
	c, err := p.DB.PublishedCalendar(ctx, username)
	if errors.Is(err, bridges.ErrNotFound) {
		p.notFound(w, r)
		return
	}
	if err != nil {
		p.fail(w, r, err)
		return
	}
	e, err := p.DB.PublishedEventByKey(ctx, c.ID, key)
	if errors.Is(err, bridges.ErrNotFound) {
		p.notFound(w, r)
		return
	}
	if err != nil {
		p.fail(w, r, err)
		return
	}
	if e.State == store.PublishedDeleted {
		p.gone(w, r)
		return
	}
	var ev publishedEvent
	if err := json.Unmarshal(e.Object, &ev); err != nil {
		p.fail(w, r, err)
		return
	}
	n, err := p.DB.PublishedParticipantCount(ctx, e.ID)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	l := pickLang(r)
	host := p.PublicURL
	if u, err := url.Parse(p.PublicURL); err == nil && u.Host != "" {
		host = u.Host
	}
	d := publishedPage{page: p.base(r, ev.Name), Name: ev.Name, Count: n,
		Calendar: cmp.Or(c.Title, c.Slug), Handle: "@" + c.Slug + "@" + host,
		Cancelled: ev.Status == "CANCELLED", Tentative: ev.Status == "TENTATIVE",
		Address: p.PublicURL + r.URL.EscapedPath(),
		// Stored HTML is never trusted: sanitised again, images left
		// out (passerelle caches no image of a published calendar).
		Description: template.HTML(withoutImages(sanitize(ev.Content))),
	}
	d.When = publishedWhen(l, ev)
	if loc := ev.Location; loc != nil {
		if loc.Address.Type == "VirtualLocation" {
			d.Online = safeLink(loc.Address.URL)
		} else {
			d.Where = cmp.Or(loc.Address.Street, loc.Name)
		}
	}
	switch ev.JoinMode {
	case "restricted":
		d.JoinText, d.CanJoin = l.T("pub.join.restricted"), true
	case "external":
		d.JoinText, d.External = l.T("pub.join.external"), safeLink(ev.External)
	case "invite":
		d.JoinText = l.T("pub.join.none")
	default:
		d.JoinText, d.CanJoin = l.T("pub.join.free"), true
	}
	if d.Cancelled {
		d.CanJoin = false
	}
	p.render(w, r, "published", http.StatusOK, d)
}

func (p *Pages) gone(w http.ResponseWriter, r *http.Request) {
	d := publishedPage{page: p.base(r, pickLang(r).T("pub.gone")), Gone: true}
	p.render(w, r, "published", http.StatusGone, d)
}

// publishedWhen is the event's date and time in its own zone (the
// timezone the Event names, else the offset it was written with).
func publishedWhen(l *lang, ev publishedEvent) string {
	start, err := time.Parse(time.RFC3339, ev.StartTime)
	if err != nil {
		return ev.StartTime
	}
	zone := ev.Timezone
	if loc, err := time.LoadLocation(ev.Timezone); err == nil && ev.Timezone != "" {
		start = start.In(loc)
	} else {
		zone = "UTC" + start.Format("-07:00")
	}
	s := l.Day(start) + ", " + l.Clock(start)
	if end, err := time.Parse(time.RFC3339, ev.EndTime); err == nil && end.After(start) {
		end = end.In(start.Location())
		if end.YearDay() == start.YearDay() && end.Year() == start.Year() {
			s += " – " + l.Clock(end)
		} else {
			s += " – " + l.Day(end) + ", " + l.Clock(end)
		}
	}
	return s + " (" + zone + ")"
}

// safeLink keeps a web address, and nothing else (no javascript:).
func safeLink(s string) string {
	u, err := url.Parse(strings.TrimSpace(s))
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return ""
	}
	return u.String()
}
