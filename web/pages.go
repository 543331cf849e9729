package web

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net"
	"net/http"
	"net/mail"
	"net/url"
	"strconv"
	"strings"
	"time"

	"codeberg.org/passerelle/passerelle/bridges"
	"codeberg.org/passerelle/passerelle/media"
	"codeberg.org/passerelle/passerelle/store"
)

//go:embed templates/*.html
var templateFS embed.FS

// Inviter sends one invitation to one event to one address, through the
// same code path as every invitation passerelle sends (the mail package).
type Inviter interface {
	InviteToEvent(ctx context.Context, eventID int64, address string) error
}

// Pages serves the public pages: /, /sources/{slug}, /events/{id} and the
// "answer by email" form. They work without JavaScript, load nothing from
// elsewhere, and stay well under 50 KB.
type Pages struct {
	DB *store.DB
	// Site and Description are the instance's name and description.
	Site, Description, Version string
	// PublicURL is public_url, for the addresses the pages show.
	PublicURL string
	// JoinAddress gives the mail address that subscribes to all of a
	// source's events ("rsvp+join-slug@example.org"); nil: not shown.
	JoinAddress func(slug string) string
	// Inviter sends invitations; nil hides the form (mail not configured).
	Inviter Inviter
	Log     *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Media gives the passerelle links of the remote images that are
	// cached (media.Cache); nil: pages show no remote image at all.
	Media MediaLinks

	tmpl map[string]*template.Template
}

// MediaLinks gives, for the remote image URLs that passerelle has
// fetched and keeps, their link on passerelle (/media/<hash>). A page
// shows only those: the visitor's browser never reaches the events'
// servers, and an image not fetched (yet, or refused) is left out rather
// than shown broken.
type MediaLinks interface {
	Links(ctx context.Context, urls ...string) (map[string]string, error)
}

// images returns the links of the event's cached images; on a database
// error the page is shown without them.
func (p *Pages) images(ctx context.Context, e *bridges.Event) map[string]string {
	if p.Media == nil {
		return nil
	}
	links, err := p.Media.Links(ctx, media.EventImages(e)...)
	if err != nil {
		p.log().Warn("page without its images", "event", e.APID, "err", err)
		return nil
	}
	return links
}

// description is the event's HTML for display: sanitised, each image
// pointing at passerelle's copy or dropped.
func (p *Pages) description(e *bridges.Event, links map[string]string) string {
	out, err := media.RewriteImages(sanitize(e.DescriptionHTML), links)
	if err != nil {
		p.log().Warn("description shown as text", "event", e.APID, "err", err)
		return template.HTMLEscapeString(e.DescriptionText)
	}
	return out
}

// maxListed bounds the events a list page shows, which keeps pages small.
const maxListed = 60

// Mount registers the pages. The event page is returned rather than
// mounted, because /events/{name} is shared with the .ics handler (see
// caldav.MountOptions.EventPage).
func (p *Pages) Mount(mux *http.ServeMux) (eventPage http.Handler, err error) {
	if err := p.parse(); err != nil {
		return nil, err
	}
	// Cross-origin POSTs are refused (Sec-Fetch-Site / Origin), which is
	// the CSRF protection: no state changes on GET, none from elsewhere.
	csrf := http.NewCrossOriginProtection()
	mux.Handle("GET /{$}", http.HandlerFunc(p.home))
	mux.Handle("GET /sources/{slug}", http.HandlerFunc(p.source))
	mux.Handle("POST /events/{id}/answer", csrf.Handler(http.HandlerFunc(p.answer)))
	return http.HandlerFunc(p.event), nil
}

func (p *Pages) parse() error {
	p.tmpl = map[string]*template.Template{}
	for _, page := range []string{"home", "source", "event", "sent", "notfound", "published"} {
		t, err := template.ParseFS(templateFS, "templates/layout.html", "templates/days.html", "templates/"+page+".html")
		if err != nil {
			return fmt.Errorf("parse page %s: %w", page, err)
		}
		p.tmpl[page] = t
	}
	return nil
}

func (p *Pages) now() time.Time {
	if p.Now != nil {
		return p.Now()
	}
	return time.Now()
}

func (p *Pages) log() *slog.Logger {
	if p.Log != nil {
		return p.Log
	}
	return slog.Default()
}

// page is what every template gets.
type page struct {
	L                  *lang
	Site, Version      string
	Title, Description string
	Days               []day
	Sources            []*bridges.Source
	// Pending tells an empty home page that a follow awaits its answer.
	Pending bool
	// Feeds are the Atom feeds a feed reader finds in the page's head.
	Feeds []feedLink
}

type feedLink struct{ Title, Href string }

type day struct {
	Label  string
	Events []listedEvent
}

type listedEvent struct {
	ID          int64
	Time, Title string
	// Meta is where it happens and its source, as much as is known.
	Meta                 string
	Cancelled, Tentative bool
}

func (p *Pages) base(r *http.Request, title string) page {
	l := pickLang(r)
	site := p.Site
	if site == "" {
		site = "passerelle"
	}
	return page{L: l, Site: p.Site, Version: p.Version, Title: title, Description: p.Description,
		Feeds: []feedLink{{Title: site + " — " + l.T("upcoming"), Href: p.PublicURL + "/feeds/all.atom"}}}
}

func (p *Pages) render(w http.ResponseWriter, r *http.Request, name string, status int, data any) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Language", pickLang(r).Code)
	w.Header().Set("Vary", "Accept-Language, Accept")
	// No external requests: images, banners included, are passerelle's
	// copies under /media/ (see the media package).
	w.Header().Set("Content-Security-Policy", "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
	w.Header().Set("Referrer-Policy", "no-referrer")
	w.WriteHeader(status)
	if err := p.tmpl[name].ExecuteTemplate(w, "layout", data); err != nil {
		p.log().Error("render page", "page", name, "err", err)
	}
}

func (p *Pages) notFound(w http.ResponseWriter, r *http.Request) {
	p.render(w, r, "notfound", http.StatusNotFound, p.base(r, pickLang(r).T("notfound")))
}

func (p *Pages) fail(w http.ResponseWriter, r *http.Request, err error) {
	p.log().Error("page", "path", r.URL.Path, "err", err)
	http.Error(w, "temporarily unavailable", http.StatusServiceUnavailable)
}

func (p *Pages) home(w http.ResponseWriter, r *http.Request) {
	data := p.base(r, p.Site)
	srcs, err := p.DB.Sources(r.Context())
	if err != nil {
		p.fail(w, r, err)
		return
	}
	names := map[int64]string{}
	for _, s := range srcs {
		names[s.ID] = sourceName(s)
		switch s.State {
		case bridges.SourceFollowed:
			data.Sources = append(data.Sources, s)
		case bridges.SourcePending:
			data.Pending = true
		}
	}
	evs, err := p.DB.Events(r.Context(), store.EventQuery{From: p.now(), Limit: maxListed})
	if err != nil {
		p.fail(w, r, err)
		return
	}
	data.Days = p.days(data.L, evs, names)
	p.render(w, r, "home", http.StatusOK, data)
}

func sourceName(s *bridges.Source) string {
	if s.Name != "" {
		return s.Name
	}
	return s.Slug
}

// days groups events by their date where they happen, in order.
func (p *Pages) days(l *lang, evs []*bridges.StoredEvent, sources map[int64]string) []day {
	var out []day
	for _, e := range evs {
		if !e.Public {
			continue
		}
		start := e.Start.In(e.Location())
		label := l.Day(start)
		if len(out) == 0 || out[len(out)-1].Label != label {
			out = append(out, day{Label: label})
		}
		d := &out[len(out)-1]
		d.Events = append(d.Events, listedEvent{
			ID: e.ID, Time: l.Clock(start), Title: e.Title, Meta: joinNonEmpty(" · ", where(l, &e.Event), sources[e.SourceID]),
			Cancelled: e.Status == bridges.StatusCancelled, Tentative: e.Status == bridges.StatusTentative,
		})
	}
	return out
}

func joinNonEmpty(sep string, parts ...string) string {
	var kept []string
	for _, p := range parts {
		if p != "" {
			kept = append(kept, p)
		}
	}
	return strings.Join(kept, sep)
}

func where(l *lang, e *bridges.Event) string {
	addr := e.Place.Address()
	switch {
	case e.Online && addr != "":
		return addr + " · " + l.T("online")
	case e.Online:
		return l.T("online")
	}
	return addr
}

type sourcePage struct {
	page
	Source             *bridges.Source
	Summary            template.HTML
	Webcal             template.URL
	FeedURL, CalDAVURL string
	JoinAddress        string
	JoinMailto         template.URL
}

func (p *Pages) source(w http.ResponseWriter, r *http.Request) {
	slug := r.PathValue("slug")
	s, err := p.DB.SourceBySlug(r.Context(), slug)
	if errors.Is(err, bridges.ErrNotFound) || (err == nil && s.State != bridges.SourceFollowed) {
		p.notFound(w, r)
		return
	}
	if err != nil {
		p.fail(w, r, err)
		return
	}
	feed := p.PublicURL + "/feeds/" + url.PathEscape(s.Slug) + ".ics"
	switch negotiate(r) {
	case "calendar":
		http.Redirect(w, r, "/feeds/"+url.PathEscape(s.Slug)+".ics", http.StatusSeeOther)
		return
	case "activity":
		http.Redirect(w, r, s.ActorURL, http.StatusSeeOther)
		return
	}
	data := sourcePage{page: p.base(r, sourceName(s)), Source: s, FeedURL: feed,
		Webcal:    template.URL(webcal(feed)),
		CalDAVURL: p.PublicURL + "/dav/calendars/public/" + url.PathEscape(s.Slug) + "/",
		Summary:   template.HTML(withoutImages(sanitize(s.Summary))),
	}
	data.Feeds = append([]feedLink{{Title: sourceName(s), Href: p.PublicURL + "/feeds/" + url.PathEscape(s.Slug) + ".atom"}}, data.Feeds...)
	if s.Name == "" {
		data.Source = &bridges.Source{}
		*data.Source = *s
		data.Source.Name = s.Slug
	}
	if p.JoinAddress != nil {
		data.JoinAddress = p.JoinAddress(s.Slug)
		data.JoinMailto = template.URL("mailto:" + url.PathEscape(data.JoinAddress))
	}
	evs, err := p.DB.Events(r.Context(), store.EventQuery{SourceID: s.ID, From: p.now(), Limit: maxListed})
	if err != nil {
		p.fail(w, r, err)
		return
	}
	data.Days = p.days(data.L, evs, nil)
	p.render(w, r, "source", http.StatusOK, data)
}

// negotiate reads Accept for the non-HTML forms a page also has.
func negotiate(r *http.Request) string {
	accept := r.Header.Get("Accept")
	switch {
	case strings.Contains(accept, "text/calendar"):
		return "calendar"
	case strings.Contains(accept, "application/activity+json"), strings.Contains(accept, "application/ld+json"):
		return "activity"
	}
	return "html"
}

func webcal(feed string) string {
	if rest, ok := strings.CutPrefix(feed, "https://"); ok {
		return "webcal://" + rest
	}
	return "webcal://" + strings.TrimPrefix(feed, "http://")
}

type eventPage struct {
	page
	Event                         *bridges.StoredEvent
	When, Where, MapURL, Capacity string
	JoinText, ExternalURL         string
	Description                   template.HTML
	// Banner is the banner's link on passerelle; empty until it is
	// fetched, or when it was refused: the page then has no banner.
	Banner                          string
	Webcal                          template.URL
	GoogleURL, OutlookURL           string
	Cancelled, Tentative, CanAnswer bool
	FormEmail, FormError            string
}

func (p *Pages) loadEvent(w http.ResponseWriter, r *http.Request, idText string) *bridges.StoredEvent {
	id, err := strconv.ParseInt(idText, 10, 64)
	if err != nil || id <= 0 {
		p.notFound(w, r)
		return nil
	}
	e, err := p.DB.EventByID(r.Context(), id)
	if errors.Is(err, bridges.ErrNotFound) || (err == nil && (e.Deleted || e.Draft)) {
		p.notFound(w, r)
		return nil
	}
	if err != nil {
		p.fail(w, r, err)
		return nil
	}
	return e
}

func (p *Pages) event(w http.ResponseWriter, r *http.Request) {
	e := p.loadEvent(w, r, r.PathValue("name"))
	if e == nil {
		return
	}
	switch negotiate(r) {
	case "calendar":
		w.Header().Set("Content-Type", "text/calendar; charset=utf-8")
		w.Header().Set("ETag", e.ETag)
		w.Write(e.Calendar)
		return
	case "activity":
		http.Redirect(w, r, e.APID, http.StatusSeeOther)
		return
	}
	p.render(w, r, "event", http.StatusOK, p.eventData(r, e))
}

func (p *Pages) eventData(r *http.Request, e *bridges.StoredEvent) eventPage {
	l := pickLang(r)
	d := eventPage{page: p.base(r, e.Title), Event: e,
		Cancelled: e.Status == bridges.StatusCancelled, Tentative: e.Status == bridges.StatusTentative,
		Where: where(l, &e.Event),
	}
	links := p.images(r.Context(), &e.Event)
	d.Banner = links[e.BannerURL]
	d.Description = template.HTML(p.description(&e.Event, links))
	d.When = when(l, e)
	if e.Place != nil && e.Place.Latitude != nil && e.Place.Longitude != nil {
		lat, lon := strconv.FormatFloat(*e.Place.Latitude, 'f', 5, 64), strconv.FormatFloat(*e.Place.Longitude, 'f', 5, 64)
		d.MapURL = "https://www.openstreetmap.org/?mlat=" + lat + "&mlon=" + lon + "#map=17/" + lat + "/" + lon
	}
	switch {
	case e.MaxCapacity == 0:
		d.Capacity = l.T("capacity.none")
	case e.RemainingCapacity != nil && *e.RemainingCapacity <= 0:
		d.Capacity = l.T("capacity.full")
	case e.RemainingCapacity != nil:
		d.Capacity = l.T("capacity.left", *e.RemainingCapacity, e.MaxCapacity)
	default:
		d.Capacity = strconv.Itoa(e.MaxCapacity)
	}
	d.JoinText = l.T("join." + string(e.JoinMode))
	if e.WatchOnly() {
		d.JoinText = l.T("join.watch")
	}
	if e.JoinMode == bridges.JoinExternal {
		d.ExternalURL = e.ExternalParticipationURL
		if d.ExternalURL == "" {
			d.ExternalURL = e.URL
		}
	}
	ics := p.PublicURL + "/events/" + strconv.FormatInt(e.ID, 10) + ".ics"
	// webcal: is the scheme calendar apps register for subscriptions;
	// html/template does not know it, and the URL is built from our own
	// public_url and a number, so it is safe to mark.
	d.Webcal = template.URL(webcal(ics))
	d.GoogleURL, d.OutlookURL = googleURL(e), outlookURL(e)
	d.CanAnswer = p.Inviter != nil && e.Public && !d.Cancelled && !e.Over(p.now()) &&
		(e.JoinMode == bridges.JoinFree || e.JoinMode == bridges.JoinRestricted)
	return d
}

// when is an event's date and time where it happens, with its end and its
// zone: "Saturday 28 November 2026, 14:00 – 18:00 (Europe/Paris)".
func when(l *lang, e *bridges.StoredEvent) string {
	loc := e.Location()
	start := e.Start.In(loc)
	s := l.Day(start) + ", " + l.Clock(start)
	if !e.End.IsZero() {
		end := e.End.In(loc)
		if end.YearDay() == start.YearDay() && end.Year() == start.Year() {
			s += " – " + l.Clock(end)
		} else {
			s += " – " + l.Day(end) + ", " + l.Clock(end)
		}
	}
	return s + " (" + zoneName(e) + ")"
}

func zoneName(e *bridges.StoredEvent) string {
	if e.TimeZone != "" {
		return e.TimeZone
	}
	return "UTC"
}

// end is the event's end for calendar links: its own, or an hour after
// the start (web calendars need one).
func end(e *bridges.StoredEvent) time.Time {
	if e.End.IsZero() {
		return e.Start.Add(time.Hour)
	}
	return e.End
}

func googleURL(e *bridges.StoredEvent) string {
	const f = "20060102T150405Z"
	q := url.Values{}
	q.Set("action", "TEMPLATE")
	q.Set("text", e.Title)
	q.Set("dates", e.Start.UTC().Format(f)+"/"+end(e).UTC().Format(f))
	q.Set("details", linkedText(e))
	q.Set("location", e.Place.Address())
	return "https://calendar.google.com/calendar/render?" + q.Encode()
}

func outlookURL(e *bridges.StoredEvent) string {
	const f = "2006-01-02T15:04:05Z"
	q := url.Values{}
	q.Set("path", "/calendar/action/compose")
	q.Set("rru", "addevent")
	q.Set("subject", e.Title)
	q.Set("startdt", e.Start.UTC().Format(f))
	q.Set("enddt", end(e).UTC().Format(f))
	q.Set("body", linkedText(e))
	q.Set("location", e.Place.Address())
	return "https://outlook.live.com/calendar/0/deeplink/compose?" + q.Encode()
}

// linkedText is the description for web calendars' links: a link first
// (the text may be cut by the URL's length), then the text, bounded.
func linkedText(e *bridges.StoredEvent) string {
	link := e.URL
	if link == "" {
		link = e.APID
	}
	text := link + "\n\n" + e.DescriptionText
	if len(text) > 1000 {
		cut := 1000
		for cut > 0 && (text[cut]&0xC0) == 0x80 {
			cut--
		}
		text = text[:cut] + "…"
	}
	return text
}

// Limits on the answer form, per hour: a person asks for a few
// invitations, not hundreds; a client behind one address for a family or
// an office may ask for more.
const (
	perAddressPerHour = 5
	perClientPerHour  = 20
)

func (p *Pages) answer(w http.ResponseWriter, r *http.Request) {
	e := p.loadEvent(w, r, r.PathValue("id"))
	if e == nil {
		return
	}
	d := p.eventData(r, e)
	if !d.CanAnswer {
		p.render(w, r, "event", http.StatusConflict, d)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
	addr, err := mail.ParseAddress(strings.TrimSpace(r.PostFormValue("email")))
	if err != nil || !strings.Contains(addr.Address, "@") || strings.ContainsAny(addr.Address, " <>") {
		d.FormEmail, d.FormError = r.PostFormValue("email"), d.L.T("error.email")
		p.render(w, r, "event", http.StatusBadRequest, d)
		return
	}
	d.FormEmail = addr.Address
	client, _, _ := net.SplitHostPort(r.RemoteAddr)
	ok, err := p.allow(r.Context(), "address:"+strings.ToLower(addr.Address), perAddressPerHour)
	if err == nil && ok {
		ok, err = p.allow(r.Context(), "client:"+client, perClientPerHour)
	}
	if err != nil {
		p.fail(w, r, err)
		return
	}
	if !ok {
		d.FormError = d.L.T("error.slow")
		w.Header().Set("Retry-After", "3600")
		p.render(w, r, "event", http.StatusTooManyRequests, d)
		return
	}
	if err := p.Inviter.InviteToEvent(r.Context(), e.ID, addr.Address); err != nil {
		p.log().Error("invite from the event page", "event", e.ID, "err", err)
		d.FormError = d.L.T("error.mail")
		p.render(w, r, "event", http.StatusServiceUnavailable, d)
		return
	}
	p.render(w, r, "sent", http.StatusOK, d)
}

// allow counts one use of bucket and reports whether it stays within
// limit per hour. Counts live in the database, so every replica sees them.
func (p *Pages) allow(ctx context.Context, bucket string, limit int) (bool, error) {
	return p.DB.CountFormPost(ctx, bucket, limit, p.now())
}
