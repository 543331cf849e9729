package web

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"hash/fnv"
	"html"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"codeberg.org/passerelle/passerelle/bridges"
	"codeberg.org/passerelle/passerelle/ical"
	"codeberg.org/passerelle/passerelle/store"
)

// The Atom feeds (RFC 4287) of upcoming events, for feed readers and for
// the fediverse's crawlers (NodeInfo lists "atom1.0" among the outbound
// services): /feeds/all.atom and /feeds/<slug>.atom, beside the .ics feeds
// of the same names. Written with encoding/xml: the format is small and
// fixed, and the structs below are all it takes; a feed library would be a
// dependency for the same few elements.

const atomNS = "http://www.w3.org/2005/Atom"

type atomFeed struct {
	XMLName   xml.Name     `xml:"feed"`
	NS        string       `xml:"xmlns,attr"`
	ID        string       `xml:"id"`
	Title     atomText     `xml:"title"`
	Subtitle  *atomText    `xml:"subtitle,omitempty"`
	Updated   string       `xml:"updated"`
	Links     []atomLink   `xml:"link"`
	Author    atomPerson   `xml:"author"`
	Generator atomGen      `xml:"generator"`
	Entries   []*atomEntry `xml:"entry"`
}

type atomText struct {
	Type string `xml:"type,attr"`
	Body string `xml:",chardata"`
}

type atomLink struct {
	Rel   string `xml:"rel,attr"`
	Type  string `xml:"type,attr,omitempty"`
	Href  string `xml:"href,attr"`
	Title string `xml:"title,attr,omitempty"`
}

type atomPerson struct {
	Name string `xml:"name"`
	URI  string `xml:"uri,omitempty"`
}

type atomGen struct {
	Version string `xml:"version,attr,omitempty"`
	Name    string `xml:",chardata"`
}

type atomCategory struct {
	Term string `xml:"term,attr"`
}

type atomEntry struct {
	ID         string         `xml:"id"`
	Title      atomText       `xml:"title"`
	Updated    string         `xml:"updated"`
	Published  string         `xml:"published,omitempty"`
	Links      []atomLink     `xml:"link"`
	Author     atomPerson     `xml:"author"`
	Categories []atomCategory `xml:"category"`
	Summary    atomText       `xml:"summary"`
	Content    atomText       `xml:"content"`
}

// ServeAtom answers GET /feeds/{file} where file is all.atom or
// <slug>.atom (caldav's feed handler hands over the names it does not
// serve): the next upcoming public events, as many as a list page shows.
// An unknown or unfollowed source is a 404.
func (p *Pages) ServeAtom(w http.ResponseWriter, r *http.Request) {
	slug, ok := strings.CutSuffix(r.PathValue("file"), ".atom")
	if !ok || slug == "" {
		http.Error(w, "feeds are named <source>.atom, e.g. /feeds/all.atom", http.StatusNotFound)
		return
	}
	l := pickLang(r)
	srcs, err := p.DB.Sources(r.Context())
	if err != nil {
		p.fail(w, r, err)
		return
	}
	sources := map[int64]*bridges.Source{}
	var since time.Time
	for _, s := range srcs {
		sources[s.ID] = s
		if s.State == bridges.SourceFollowed && s.CreatedAt.After(since) {
			since = s.CreatedAt
		}
	}
	site := p.Site
	if site == "" {
		site = "passerelle"
	}
	self := p.PublicURL + "/feeds/" + url.PathEscape(slug) + ".atom"
	f := &atomFeed{NS: atomNS, ID: self, Author: atomPerson{Name: site, URI: p.PublicURL + "/"},
		Generator: atomGen{Name: "passerelle", Version: p.Version}}
	q := store.EventQuery{From: p.now(), Limit: maxListed}
	if slug == "all" {
		f.Title = atomText{Type: "text", Body: site + " — " + l.T("upcoming")}
		if p.Description != "" {
			f.Subtitle = &atomText{Type: "text", Body: p.Description}
		}
		f.Links = append(f.Links, atomLink{Rel: "alternate", Type: "text/html", Href: p.PublicURL + "/"})
	} else {
		s, err := p.DB.SourceBySlug(r.Context(), slug)
		if errors.Is(err, bridges.ErrNotFound) || (err == nil && s.State != bridges.SourceFollowed) {
			http.Error(w, "no feed named "+slug+".atom", http.StatusNotFound)
			return
		}
		if err != nil {
			p.fail(w, r, err)
			return
		}
		q.SourceID = s.ID
		since = s.CreatedAt
		f.Title = atomText{Type: "text", Body: sourceName(s)}
		if t := ical.HTMLText(s.Summary); t != "" {
			f.Subtitle = &atomText{Type: "text", Body: t}
		}
		f.Links = append(f.Links, atomLink{Rel: "alternate", Type: "text/html", Href: p.PublicURL + "/sources/" + url.PathEscape(s.Slug)})
	}
	f.Links = append(f.Links, atomLink{Rel: "self", Type: "application/atom+xml", Href: self})

	evs, err := p.DB.Events(r.Context(), q)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	var latest time.Time
	for _, e := range evs {
		if !e.Public {
			continue
		}
		entry, updated := p.atomEntry(r.Context(), l, e, sources[e.SourceID])
		f.Entries = append(f.Entries, entry)
		if updated.After(latest) {
			latest = updated
		}
	}
	// updated is required: the newest entry's, else when the source (for
	// all.atom, the latest source) was followed, so that an unchanged feed
	// keeps its validators.
	switch {
	case !latest.IsZero():
	case !since.IsZero():
		latest = since
	default:
		latest = time.Unix(0, 0)
	}
	f.Updated = atomTime(latest)

	var b bytes.Buffer
	b.WriteString(xml.Header)
	enc := xml.NewEncoder(&b)
	enc.Indent("", " ")
	if err := enc.Encode(f); err != nil {
		p.fail(w, r, err)
		return
	}
	b.WriteString("\n")
	h := fnv.New64a()
	h.Write(b.Bytes())
	etag := `"atom-` + strconv.FormatUint(h.Sum64(), 36) + `"`
	w.Header().Set("ETag", etag)
	w.Header().Set("Cache-Control", "no-cache")
	if inm := r.Header.Get("If-None-Match"); inm != "" && strings.Contains(inm, etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.Header().Set("Content-Type", "application/atom+xml; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(b.Len()))
	if r.Method == http.MethodHead {
		return
	}
	_, _ = w.Write(b.Bytes())
}

// atomEntry is one event as an entry, with its updated time: the source's
// own last change, else its publication, else when passerelle last stored
// it. Its id is the event's ActivityPub id, which is stable and globally
// unique (the iCalendar UID is the same); its link is passerelle's page.
func (p *Pages) atomEntry(ctx context.Context, l *lang, e *bridges.StoredEvent, src *bridges.Source) (*atomEntry, time.Time) {
	updated := e.Updated
	for _, t := range []time.Time{e.Published, e.ModifiedAt, e.CreatedAt} {
		if !updated.IsZero() {
			break
		}
		updated = t
	}
	title := e.Title
	switch e.Status {
	case bridges.StatusCancelled:
		title = l.T("cancelled") + ": " + title
	case bridges.StatusTentative:
		title = l.T("tentative") + ": " + title
	}
	page := p.PublicURL + "/events/" + strconv.FormatInt(e.ID, 10)
	en := &atomEntry{ID: e.APID, Title: atomText{Type: "text", Body: title}, Updated: atomTime(updated),
		Links: []atomLink{{Rel: "alternate", Type: "text/html", Href: page}}}
	if !e.Published.IsZero() {
		en.Published = atomTime(e.Published)
	}
	if orig := e.URL; orig != "" && orig != page {
		en.Links = append(en.Links, atomLink{Rel: "related", Type: "text/html", Href: orig, Title: l.T("original")})
	}
	en.Links = append(en.Links, atomLink{Rel: "enclosure", Type: "text/calendar", Href: page + ".ics"})
	switch {
	case src != nil:
		en.Author = atomPerson{Name: sourceName(src), URI: src.ActorURL}
	case e.OrganizerName != "":
		en.Author = atomPerson{Name: e.OrganizerName, URI: e.OrganizerURL}
	default:
		en.Author = atomPerson{Name: "passerelle"}
	}
	seen := map[string]bool{}
	for _, c := range append([]string{e.Category}, e.Tags...) {
		c = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(c), "#"))
		if c != "" && !seen[strings.ToLower(c)] {
			seen[strings.ToLower(c)] = true
			en.Categories = append(en.Categories, atomCategory{Term: c})
		}
	}
	when, place := when(l, e), where(l, &e.Event)
	en.Summary = atomText{Type: "text", Body: joinNonEmpty(" · ", when, place)}
	var c strings.Builder
	c.WriteString("<p><strong>" + html.EscapeString(l.T("when")) + "</strong> " + html.EscapeString(when) + "</p>")
	if place != "" {
		c.WriteString("<p><strong>" + html.EscapeString(l.T("where")) + "</strong> " + html.EscapeString(place) + "</p>")
	}
	// Feed readers load images too: passerelle's copies, absolute.
	links := p.images(ctx, &e.Event)
	for u, l := range links {
		links[u] = p.PublicURL + l
	}
	c.WriteString(p.description(&e.Event, links))
	en.Content = atomText{Type: "html", Body: c.String()}
	return en, updated
}

func atomTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }
