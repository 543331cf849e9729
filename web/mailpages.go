package web

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"net/http"

	"codeberg.org/passerelle/passerelle/bridges"
	"codeberg.org/passerelle/passerelle/internal/metrics"
	"codeberg.org/passerelle/passerelle/store"
)

// Responder is the RSVP flow as the pages that mails link to use it
// (*bridges.RSVP[*store.Tx]): a mail's token names one invitation.
type Responder interface {
	ByToken(ctx context.Context, token string) (*bridges.TokenInvitation, error)
	AnswerByToken(ctx context.Context, token string, a bridges.Answer) (bridges.Outcome, error)
	UnsubscribeByToken(ctx context.Context, token string) error
	RotateCalendarByToken(ctx context.Context, token string) (string, error)
	ReplaceCalendarPasswordByToken(ctx context.Context, token string) (bridges.CalendarAccount, error)
}

var _ Responder = (*bridges.RSVP[*store.Tx])(nil)

// MailPages serves the pages the links in passerelle's mails open:
// /rsvp/{token} (answer yes, maybe or no on the web) and
// /mail/unsubscribe/{token} (stop all mail, also RFC 8058 one-click).
// Opening a link never changes anything — mail scanners open links before
// people do — only the pages' buttons, which POST, do.
type MailPages struct {
	// Pages gives the layout, the languages and the event's details; its
	// Mount must have run.
	Pages *Pages
	RSVP  Responder
}

// Mount registers the pages.
func (m *MailPages) Mount(mux *http.ServeMux) error {
	if m.Pages == nil || m.Pages.tmpl == nil {
		return errors.New("mount mail pages: mount the public pages first")
	}
	for _, name := range []string{"rsvp", "unsubscribe", "badlink"} {
		t, err := template.ParseFS(templateFS, "templates/layout.html", "templates/"+name+".html")
		if err != nil {
			return fmt.Errorf("parse page %s: %w", name, err)
		}
		m.Pages.tmpl[name] = t
	}
	// Same CSRF rule as the answer form. RFC 8058's one-click POST comes
	// from the mail provider's servers, which send neither Origin nor
	// Sec-Fetch-Site, so it passes.
	csrf := http.NewCrossOriginProtection()
	mux.Handle("GET /rsvp/{token}", http.HandlerFunc(m.rsvp))
	mux.Handle("POST /rsvp/{token}", csrf.Handler(http.HandlerFunc(m.answer)))
	mux.Handle("POST /rsvp/{token}/calendar", csrf.Handler(http.HandlerFunc(m.rotateCalendar)))
	mux.Handle("POST /rsvp/{token}/calendar-password", csrf.Handler(http.HandlerFunc(m.replacePassword)))
	mux.Handle("GET /mail/unsubscribe/{token}", http.HandlerFunc(m.unsubscribePage))
	mux.Handle("POST /mail/unsubscribe/{token}", csrf.Handler(http.HandlerFunc(m.unsubscribe)))
	return nil
}

// render adds to the public pages' headers what token pages need: never
// cached (the state changes), never indexed.
func (m *MailPages) render(w http.ResponseWriter, r *http.Request, name string, status int, data any) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Robots-Tag", "noindex, nofollow")
	m.Pages.render(w, r, name, status, data)
}

// lookup reads what the token opens, or answers with the "not valid"
// page (404) or an error, returning nil.
func (m *MailPages) lookup(w http.ResponseWriter, r *http.Request) *bridges.TokenInvitation {
	ti, err := m.RSVP.ByToken(r.Context(), r.PathValue("token"))
	if errors.Is(err, bridges.ErrNotFound) {
		l := pickLang(r)
		m.render(w, r, "badlink", http.StatusNotFound, m.Pages.base(r, l.T("badlink.title")))
		return nil
	}
	if err != nil {
		m.Pages.fail(w, r, err)
		return nil
	}
	return ti
}

type rsvpPage struct {
	eventPage
	Token, StateText string
	// Closed says why the event takes no answers; empty when it does.
	Closed string
	// WatchURL is where a live to watch is streamed: there is nothing to
	// answer, so the page links there instead of offering the buttons.
	WatchURL     string
	Done         bool
	Unsubscribed bool
	// CalendarURL is the participant's personal calendar feed; empty
	// before a mail linked to one. CalendarRotated says it was just made.
	CalendarURL     string
	CalendarRotated bool
	// Account is the calendar account with its new password, shown once,
	// right after the participant replaced it; DAVURL is its server.
	Account *bridges.CalendarAccount
	DAVURL  string
}

func (m *MailPages) rsvpData(r *http.Request, ti *bridges.TokenInvitation, done bool) rsvpPage {
	d := rsvpPage{eventPage: m.Pages.eventData(r, ti.Event), Token: r.PathValue("token"), Done: done, Unsubscribed: ti.Unsubscribed}
	d.Title = ti.Event.Title + " — " + d.L.T("rsvp.title")
	d.StateText = d.L.T("state." + string(ti.Invitation.State))
	if ti.CalendarToken != "" {
		d.CalendarURL = m.Pages.PublicURL + "/feeds/personal/" + ti.CalendarToken + ".ics"
	}
	d.ExternalURL = ""
	if ti.Invitation.State == bridges.StateExternal {
		d.ExternalURL = ti.Event.ExternalParticipationURL
		if d.ExternalURL == "" {
			d.ExternalURL = ti.Event.URL
		}
	}
	if ti.Event.WatchOnly() {
		d.WatchURL = ti.Event.OnlineURL
		d.ExternalURL = "" // the same link, given once below
	}
	switch {
	case ti.Event.Deleted || ti.Event.Status == bridges.StatusCancelled:
		d.Closed = d.L.T("rsvp.cancelled")
	case ti.Event.Over(m.Pages.now()):
		d.Closed = d.L.T("rsvp.over")
	}
	return d
}

func (m *MailPages) rsvp(w http.ResponseWriter, r *http.Request) {
	ti := m.lookup(w, r)
	if ti == nil {
		return
	}
	m.render(w, r, "rsvp", http.StatusOK, m.rsvpData(r, ti, false))
}

// answers maps the buttons' values to answers.
var answers = map[string]bridges.Answer{"yes": bridges.AnswerAccepted, "no": bridges.AnswerDeclined, "maybe": bridges.AnswerTentative}

func (m *MailPages) answer(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
	a, ok := answers[r.PostFormValue("answer")]
	ti := m.lookup(w, r)
	if ti == nil {
		return
	}
	if !ok {
		m.render(w, r, "rsvp", http.StatusBadRequest, m.rsvpData(r, ti, false))
		return
	}
	out, err := m.RSVP.AnswerByToken(r.Context(), r.PathValue("token"), a)
	if err != nil {
		m.Pages.fail(w, r, err)
		return
	}
	if out.Ignored == "" {
		metrics.Answers.WithLabelValues("web", string(out.Answer)).Inc()
	}
	// Read again: the page says where the participation stands now.
	if ti = m.lookup(w, r); ti == nil {
		return
	}
	status := http.StatusOK
	if out.Ignored != "" {
		status = http.StatusConflict
	}
	m.render(w, r, "rsvp", status, m.rsvpData(r, ti, out.Ignored == ""))
}

// rotateCalendar takes the page's "new calendar address" button: the
// participant's personal calendar gets a new secret link, shown on the
// page (and carried by every later mail), and the old ones stop working.
func (m *MailPages) rotateCalendar(w http.ResponseWriter, r *http.Request) {
	if _, err := m.RSVP.RotateCalendarByToken(r.Context(), r.PathValue("token")); err != nil && !errors.Is(err, bridges.ErrNotFound) {
		m.Pages.fail(w, r, err)
		return
	}
	ti := m.lookup(w, r)
	if ti == nil {
		return
	}
	d := m.rsvpData(r, ti, false)
	d.CalendarRotated = true
	m.render(w, r, "rsvp", http.StatusOK, d)
}

// replacePassword takes the page's "new calendar password" button: the
// participant's calendar account gets a new password, shown on the page
// this once (and carried by every later mail); the old one stops working.
func (m *MailPages) replacePassword(w http.ResponseWriter, r *http.Request) {
	acct, err := m.RSVP.ReplaceCalendarPasswordByToken(r.Context(), r.PathValue("token"))
	if err != nil && !errors.Is(err, bridges.ErrNotFound) {
		m.Pages.fail(w, r, err)
		return
	}
	ti := m.lookup(w, r)
	if ti == nil {
		return
	}
	d := m.rsvpData(r, ti, false)
	d.Account, d.DAVURL = &acct, m.Pages.PublicURL+"/dav/"
	w.Header().Set("Cache-Control", "no-store")
	m.render(w, r, "rsvp", http.StatusOK, d)
}

type unsubscribePage struct {
	page
	Token         string
	Done, Already bool
}

func (m *MailPages) unsubscribePage(w http.ResponseWriter, r *http.Request) {
	ti := m.lookup(w, r)
	if ti == nil {
		return
	}
	l := pickLang(r)
	m.render(w, r, "unsubscribe", http.StatusOK, unsubscribePage{page: m.Pages.base(r, l.T("unsub.title")),
		Token: r.PathValue("token"), Already: ti.Unsubscribed})
}

// unsubscribe takes the page's button and RFC 8058's one-click POST
// (List-Unsubscribe=One-Click) alike: both stop all mail to the address.
func (m *MailPages) unsubscribe(w http.ResponseWriter, r *http.Request) {
	err := m.RSVP.UnsubscribeByToken(r.Context(), r.PathValue("token"))
	if errors.Is(err, bridges.ErrNotFound) {
		l := pickLang(r)
		m.render(w, r, "badlink", http.StatusNotFound, m.Pages.base(r, l.T("badlink.title")))
		return
	}
	if err != nil {
		m.Pages.fail(w, r, err)
		return
	}
	l := pickLang(r)
	m.render(w, r, "unsubscribe", http.StatusOK, unsubscribePage{page: m.Pages.base(r, l.T("unsub.title")),
		Token: r.PathValue("token"), Done: true})
}
