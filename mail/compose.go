package mail

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	htmltemplate "html/template"
	"io"
	netmail "net/mail"
	"strings"
	"text/template"
	"time"

	"github.com/emersion/go-message"
	gomail "github.com/emersion/go-message/mail"

	"codeberg.org/passerelle/passerelle/bridges"
)

// Kind is what a mail tells its reader.
type Kind string

// The mails passerelle sends. Invitations, updates and cancellations carry
// an iTIP calendar (REQUEST or CANCEL); confirmations say what became of an
// answer, some with a calendar that updates the reader's copy.
const (
	KindInvitation  Kind = "invitation"  // REQUEST, PARTSTAT=NEEDS-ACTION: the opt-in
	KindUpdate      Kind = "update"      // REQUEST, SEQUENCE+1 after a material change
	KindCancel      Kind = "cancel"      // CANCEL: the event was cancelled or deleted
	KindJoined      Kind = "joined"      // the home server accepted the Join: "you're in"
	KindPending     Kind = "pending"     // restricted event: waiting for the organisers
	KindUnconfirmed Kind = "unconfirmed" // delivered, but the home server said nothing
	KindRejected    Kind = "rejected"    // the organisers refused the participation
	KindFull        Kind = "full"        // no places left: no Join was sent
	KindExternal    Kind = "external"    // registration happens on another site
	KindMaybe       Kind = "maybe"       // TENTATIVE: noted, no Join
	KindLeft        Kind = "left"        // declined after joining: Leave sent
)

// Method is the iTIP method of the calendar a kind of mail carries, empty
// when it carries none. Outgoing.Method refines it for the event at hand.
func (k Kind) Method() string {
	switch k {
	case KindInvitation, KindUpdate, KindJoined, KindMaybe:
		return "REQUEST"
	case KindCancel, KindRejected, KindLeft:
		return "CANCEL"
	}
	return ""
}

// Method is the iTIP method of this mail's calendar: the kind's, except
// that a live to watch (see bridges.Event.WatchOnly) is published, not requested. RFC
// 5546 §1.4: PUBLISH has "no interactivity", REQUEST "require[s] the
// receiver to respond"; there is nothing to answer about a stream anyone
// may watch, so its mails carry METHOD:PUBLISH without ATTENDEE or RSVP,
// and calendar apps show "add to calendar" instead of Accept/Decline. A
// later PUBLISH with the same UID and a higher SEQUENCE updates the copy;
// a cancellation stays a CANCEL (§3.2.5 applies to published events too).
// Whoever answers anyway reaches the tokenised ORGANIZER, and bridges.RSVP
// treats the answer as for any external event: nothing is sent to the
// home server, the reply gets the "watch online" mail.
func (o *Outgoing) Method() string {
	m := o.Kind.Method()
	if m == "REQUEST" && o.Event != nil && o.Event.WatchOnly() {
		return "PUBLISH"
	}
	return m
}

// Outgoing is one mail to one participant, before it is written out.
type Outgoing struct {
	Kind  Kind
	Event *bridges.Event
	// From is mail.from ("Passerelle <events@example.org>").
	From string
	// To is the participant's address.
	To string
	// ReplyTo is the tokenised reply address (local+r-TOKEN@domain), also
	// the calendar's ORGANIZER.
	ReplyTo string
	// Calendar is the iTIP calendar (ical.Request / ical.Cancel), nil
	// for kinds that carry none.
	Calendar []byte
	// MessageID is this mail's id (without angle brackets); Thread is the
	// id of the first invitation for the same event, which every later
	// mail about it refers to so that mail clients thread them.
	MessageID string
	Thread    string
	// UnsubscribeURL is the one-click (RFC 8058) URL that ends all mail
	// to this address; its GET shows a page, its POST unsubscribes.
	UnsubscribeURL string
	// PageURL is the event's page on passerelle, with the answer buttons.
	PageURL string
	// BannerURL is the banner's copy on passerelle
	// (<public_url>/media/<hash>), empty while it is not fetched: the HTML
	// part shows it then, and never loads the event's server.
	BannerURL string
	// CalendarURL is the participant's personal calendar feed (the events
	// they are invited to); its CalDAV form is
	// /dav/calendars/<token>/personal/.
	CalendarURL string
	// Account is the participant's calendar account and DAVURL its
	// server (public_url/dav/): with it, their calendar app shows their
	// invitations and answers them. Nil in mails that carry no links.
	Account *bridges.CalendarAccount
	DAVURL  string
	Date    time.Time
}

// text is what each kind of mail says, in plain words; the same text
// feeds the text/plain and the text/html parts.
var texts = map[Kind]struct{ subject, lead string }{
	KindInvitation:  {"Invitation: {{.Title}}", "You are invited to {{.Title}}, organised by {{.Organizer}}. Answer with your calendar's Accept, Maybe or Decline buttons, or reply to this mail with \"yes\", \"no\" or \"maybe\" on the first line."},
	KindUpdate:      {"Updated: {{.Title}}", "{{.Title}} has changed; your calendar copy is updated with this mail."},
	KindCancel:      {"Cancelled: {{.Title}}", "{{.Title}} has been cancelled by its organisers."},
	KindJoined:      {"Confirmed: {{.Title}}", "You're in: the organisers of {{.Title}} confirmed your participation."},
	KindPending:     {"Awaiting approval: {{.Title}}", "Your answer to {{.Title}} was sent; the organisers approve each participant, and you will get another mail once they have decided."},
	KindUnconfirmed: {"Answer delivered: {{.Title}}", "Your answer to {{.Title}} was delivered to the organisers' server, which did not confirm it. You will get another mail if it does."},
	KindRejected:    {"Not confirmed: {{.Title}}", "The organisers of {{.Title}} did not accept your participation."},
	KindFull:        {"Full: {{.Title}}", "{{.Title}} has no places left, so your participation could not be sent."},
	KindExternal:    {"Register on the organisers' site: {{.Title}}", "{{.Title}} takes registrations on its organisers' own site: {{.ExternalURL}}"},
	KindMaybe:       {"Noted as maybe: {{.Title}}", "Your \"maybe\" for {{.Title}} is noted. Nothing was sent to the organisers; answer yes when you know."},
	KindLeft:        {"You left: {{.Title}}", "You no longer take part in {{.Title}}; the organisers were told."},
}

// liveTexts are what the mails about a live to watch say, in the live's
// language: no answer is asked for, the watch page is the one link that
// matters. Kinds missing here cannot happen for a live (nothing is ever
// joined) and fall back to texts.
var liveTexts = map[string]map[Kind]struct{ subject, lead string }{
	"en": {
		KindInvitation: {"Live stream: {{.Title}}", "{{.Title}}, by {{.Organizer}}, is streamed live. There is nothing to answer: watch it online when it starts."},
		KindUpdate:     {"Updated live stream: {{.Title}}", "The live stream {{.Title}} has changed; this mail carries the new details for your calendar."},
		KindCancel:     {"Cancelled live stream: {{.Title}}", "The live stream {{.Title}} has been cancelled by its organisers."},
		KindExternal:   {"Watch online: {{.Title}}", "There is nothing to register for: {{.Title}} is streamed live, watch it online when it starts."},
		KindMaybe:      {"Watch online: {{.Title}}", "There is nothing to answer: {{.Title}} is streamed live, watch it online when it starts."},
	},
	"fr": {
		KindInvitation: {"En direct : {{.Title}}", "« {{.Title}} », par {{.Organizer}}, est diffusé en direct. Il n'y a rien à répondre : regardez-le en ligne dès qu'il commence."},
		KindUpdate:     {"Direct modifié : {{.Title}}", "Le direct « {{.Title}} » a changé ; ce message en porte les nouvelles informations pour votre agenda."},
		KindCancel:     {"Direct annulé : {{.Title}}", "Le direct « {{.Title}} » a été annulé par ses organisateurs."},
		KindExternal:   {"À regarder en ligne : {{.Title}}", "Il n'y a pas d'inscription : « {{.Title}} » est diffusé en direct, regardez-le en ligne dès qu'il commence."},
		KindMaybe:      {"À regarder en ligne : {{.Title}}", "Il n'y a rien à répondre : « {{.Title}} » est diffusé en direct, regardez-le en ligne dès qu'il commence."},
	},
}

// labels are the fixed words around the lead. Only mails about lives are
// localised so far (to the live's language); every other mail is English.
type labels struct {
	When, Where, More, Watch, Answer, Calendar, Footer string
	// The HTML part's own words.
	WhenHTML, WhereHTML, WatchHTML, EventPage, AnswerHTML, CalendarHTML, FooterHTML, Unsubscribe string
	// Organizers stands in for an organiser without a name.
	Organizers string
}

var labelsByLang = map[string]labels{
	"en": {
		When: "When:  ", Where: "Where: ", More: "More:  ", Watch: "Watch online: ",
		Answer: "Your answer, on the web: ", Calendar: "Your calendar of the events you are invited to: ",
		Footer:   "You get this mail because you were invited to this event. To receive no\nmore mail from this address at all: ",
		WhenHTML: "When:", WhereHTML: "Where:", WatchHTML: "Watch online:", EventPage: "Event page",
		AnswerHTML: "Answer on the web", CalendarHTML: "Your calendar of the events you answered", FooterHTML: "You get this mail because you were invited to this event.",
		Unsubscribe: "Receive no more mail from this address", Organizers: "its organisers",
	},
	"fr": {
		When: "Quand : ", Where: "Où : ", More: "Page : ", Watch: "Regarder en ligne : ",
		Answer: "Votre réponse, sur le web : ", Calendar: "Votre agenda des événements auxquels vous êtes invité·e : ",
		Footer:   "Vous recevez ce message parce que vous avez été invité·e à cet événement. Pour ne\nplus recevoir aucun message de cette adresse : ",
		WhenHTML: "Quand :", WhereHTML: "Où :", WatchHTML: "Regarder en ligne :", EventPage: "Page de l'événement",
		AnswerHTML: "Répondre sur le web", CalendarHTML: "Votre agenda des événements auxquels vous avez répondu", FooterHTML: "Vous recevez ce message parce que vous avez été invité·e à cet événement.",
		Unsubscribe: "Ne plus recevoir aucun message de cette adresse", Organizers: "ses organisateurs",
	},
}

type view struct {
	Banner, BannerAlt                                                                          string
	Title, Organizer, When, Where, Link, Watch, ExternalURL, Lead, Unsubscribe, Page, Calendar string
	// Account is the calendar account block, already laid out.
	Account string
	L       labels
}

var textBody = template.Must(template.New("text").Parse(`{{.Lead}}

{{.Title}}
{{.L.When}}{{.When}}
{{if .Where}}{{.L.Where}}{{.Where}}
{{end}}{{if .Watch}}{{.L.Watch}}{{.Watch}}
{{end}}{{if .Link}}{{.L.More}}{{.Link}}
{{end}}{{if .Page}}
{{.L.Answer}}{{.Page}}
{{end}}{{if .Calendar}}{{.L.Calendar}}{{.Calendar}}
{{end}}{{if .Account}}
{{.Account}}
{{end}}
--
{{.L.Footer}}{{.Unsubscribe}}
`))

var htmlBody = htmltemplate.Must(htmltemplate.New("html").Parse(`<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{{.Title}}</title></head>
<body>
<p>{{.Lead}}</p>
<h1>{{.Title}}</h1>
{{if .Banner}}<p><img src="{{.Banner}}" alt="{{.BannerAlt}}" width="600" style="max-width:100%;height:auto"></p>
{{end}}<p><strong>{{.L.WhenHTML}}</strong> {{.When}}{{if .Where}}<br>
<strong>{{.L.WhereHTML}}</strong> {{.Where}}{{end}}{{if .Watch}}<br>
<strong>{{.L.WatchHTML}}</strong> <a href="{{.Watch}}">{{.Watch}}</a>{{end}}{{if .Link}}<br>
<a href="{{.Link}}">{{.L.EventPage}}</a>{{end}}</p>
{{if .Page}}<p><a href="{{.Page}}">{{.L.AnswerHTML}}</a></p>
{{end}}{{if .Calendar}}<p><a href="{{.Calendar}}">{{.L.CalendarHTML}}</a></p>
{{end}}{{if .Account}}<pre>{{.Account}}</pre>
{{end}}<hr>
<p><small>{{.L.FooterHTML}}
<a href="{{.Unsubscribe}}">{{.L.Unsubscribe}}</a>.</small></p>
</body></html>
`))

func (o *Outgoing) view() (view, string, error) {
	ev := o.Event
	v := view{
		Title:       strings.TrimSpace(ev.Title),
		Organizer:   ev.OrganizerName,
		Where:       ev.Place.Address(),
		Link:        ev.URL,
		ExternalURL: ev.ExternalParticipationURL,
		Unsubscribe: o.UnsubscribeURL,
		Page:        o.PageURL,
		Calendar:    o.CalendarURL,
		Banner:      o.BannerURL,
		BannerAlt:   ev.BannerAlt,
		L:           labelsByLang["en"],
	}
	if o.Account != nil {
		// In this form, so that people (and tests) can read it.
		v.Account = "Calendar account (Apple Calendar, Thunderbird, DAVx5…):\n" +
			"  server:   " + o.DAVURL + "\n" +
			"  user:     " + o.Account.User + "\n" +
			"  password: " + o.Account.Password
	}
	t, ok := texts[o.Kind]
	if !ok {
		return view{}, "", fmt.Errorf("compose mail: unknown kind %q", o.Kind)
	}
	lang := liveLanguage(ev.Language)
	lt, live := liveTexts[lang][o.Kind]
	live = live && ev.WatchOnly()
	if !live {
		lang = "en"
	} else {
		t, v.L = lt, labelsByLang[lang]
		// The watch page replaces "online", the answer page and the
		// calendar of answered events: there is nothing to answer. A
		// cancelled live keeps its page as the link to read why, not
		// to watch.
		v.Page, v.Where, v.Calendar, v.Account = "", "", "", ""
		if o.Kind != KindCancel {
			v.Watch = ev.OnlineURL
			if v.Link == v.Watch {
				v.Link = ""
			}
		}
	}
	if v.Organizer == "" {
		v.Organizer = v.L.Organizers
	}
	if v.Where == "" && ev.Online && !live {
		v.Where = "online"
	}
	v.When = when(ev, lang)
	var lead, subject strings.Builder
	if err := template.Must(template.New("").Parse(t.lead)).Execute(&lead, v); err != nil {
		return view{}, "", fmt.Errorf("compose %s mail: %w", o.Kind, err)
	}
	if err := template.Must(template.New("").Parse(t.subject)).Execute(&subject, v); err != nil {
		return view{}, "", fmt.Errorf("compose %s mail: %w", o.Kind, err)
	}
	v.Lead = lead.String()
	return v, subject.String(), nil
}

// When writes the event's time in its own zone, the way people read it:
// "Sat 7 June 2025, 19:00–22:00 (Europe/Paris)".
func When(ev *bridges.Event) string { return when(ev, "en") }

// when is When in a language of liveTexts; French reads
// "vendredi 1 août 2025, 20:00–21:00 (Europe/Paris)".
func when(ev *bridges.Event, lang string) string {
	day := func(t time.Time) string { return t.Format("Mon 2 January 2006, 15:04") }
	if lang == "fr" {
		day = func(t time.Time) string {
			return fmt.Sprintf("%s %d %s %d, %s", frenchDays[t.Weekday()], t.Day(), frenchMonths[t.Month()-1], t.Year(), t.Format("15:04"))
		}
	}
	loc := ev.Location()
	s := ev.Start.In(loc)
	out := day(s)
	if !ev.End.IsZero() {
		e := ev.End.In(loc)
		if e.YearDay() == s.YearDay() && e.Year() == s.Year() {
			out += "–" + e.Format("15:04")
		} else {
			out += " – " + day(e)
		}
	}
	return out + " (" + loc.String() + ")"
}

// Go's time package speaks only English; these are the French names.
var (
	frenchDays   = [...]string{"dimanche", "lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi"}
	frenchMonths = [...]string{"janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre", "novembre", "décembre"}
)

// liveLanguage picks the language of a live's mails from its own language
// tag ("fr", "fr-CA"): French for French streams, English otherwise. The
// participant's language is unknown; the stream's is what they will hear.
func liveLanguage(tag string) string {
	primary, _, _ := strings.Cut(strings.ToLower(strings.TrimSpace(tag)), "-")
	if _, ok := liveTexts[primary]; ok {
		return primary
	}
	return "en"
}

// WriteTo writes the mail as RFC 5322 text: multipart/mixed holding a
// multipart/alternative of text/plain, text/html and (for iTIP kinds)
// text/calendar with its method, then the same calendar as invite.ics —
// the shape Google Calendar sends, which every client we know reads.
func (o *Outgoing) WriteTo(w io.Writer) (int64, error) {
	if o.Event == nil || o.To == "" || o.From == "" || o.MessageID == "" {
		return 0, fmt.Errorf("compose %s mail: event, From, To and Message-ID are required", o.Kind)
	}
	method := o.Method()
	if (method == "") != (len(o.Calendar) == 0) {
		return 0, fmt.Errorf("compose %s mail: calendar and method disagree (method %q, %d bytes of calendar)", o.Kind, method, len(o.Calendar))
	}
	v, subject, err := o.view()
	if err != nil {
		return 0, err
	}
	var text, html bytes.Buffer
	if err := textBody.Execute(&text, v); err != nil {
		return 0, fmt.Errorf("compose %s mail: %w", o.Kind, err)
	}
	if err := htmlBody.Execute(&html, v); err != nil {
		return 0, fmt.Errorf("compose %s mail: %w", o.Kind, err)
	}

	from, err := netmail.ParseAddress(o.From)
	if err != nil {
		return 0, fmt.Errorf("compose mail: From %q: %w", o.From, err)
	}
	var h gomail.Header
	h.SetDate(o.Date)
	h.SetAddressList("From", []*gomail.Address{{Name: from.Name, Address: from.Address}})
	h.SetAddressList("To", []*gomail.Address{{Address: o.To}})
	if o.ReplyTo != "" {
		h.SetAddressList("Reply-To", []*gomail.Address{{Name: from.Name, Address: o.ReplyTo}})
	}
	h.SetSubject(subject)
	h.SetMessageID(o.MessageID)
	if o.Thread != "" && o.Thread != o.MessageID {
		h.SetMsgIDList("In-Reply-To", []string{o.Thread})
		h.SetMsgIDList("References", []string{o.Thread})
	}
	h.Set("MIME-Version", "1.0")
	// RFC 3834: software wrote this; vacation responders must not answer.
	h.Set("Auto-Submitted", "auto-generated")
	h.Set("X-Auto-Response-Suppress", "OOF, AutoReply")
	if o.UnsubscribeURL != "" {
		h.Set("List-Unsubscribe", "<"+o.UnsubscribeURL+">")
		h.Set("List-Unsubscribe-Post", "List-Unsubscribe=One-Click")
	}
	boundary := boundaries(o.MessageID)
	h.SetContentType("multipart/mixed", map[string]string{"boundary": boundary[0]})

	cw := &countWriter{w: w}
	mw, err := message.CreateWriter(cw, h.Header)
	if err != nil {
		return cw.n, fmt.Errorf("compose mail: %w", err)
	}
	var alt message.Header
	alt.SetContentType("multipart/alternative", map[string]string{"boundary": boundary[1]})
	aw, err := mw.CreatePart(alt)
	if err != nil {
		return cw.n, fmt.Errorf("compose mail: %w", err)
	}
	parts := []struct {
		ctype  string
		params map[string]string
		enc    string
		body   []byte
	}{
		{"text/plain", map[string]string{"charset": "utf-8"}, "quoted-printable", text.Bytes()},
		{"text/html", map[string]string{"charset": "utf-8"}, "quoted-printable", html.Bytes()},
	}
	if method != "" {
		// base64, not quoted-printable: QP soft breaks inside folded
		// iCalendar lines are what broke the RFC 6047 example itself.
		parts = append(parts, struct {
			ctype  string
			params map[string]string
			enc    string
			body   []byte
		}{"text/calendar", map[string]string{"charset": "utf-8", "method": method}, "base64", o.Calendar})
	}
	for _, p := range parts {
		var ph message.Header
		ph.SetContentType(p.ctype, p.params)
		ph.Set("Content-Transfer-Encoding", p.enc)
		pw, err := aw.CreatePart(ph)
		if err != nil {
			return cw.n, fmt.Errorf("compose mail: %w", err)
		}
		if _, err := pw.Write(p.body); err != nil {
			return cw.n, fmt.Errorf("compose mail: %w", err)
		}
		if err := pw.Close(); err != nil {
			return cw.n, fmt.Errorf("compose mail: %w", err)
		}
	}
	if err := aw.Close(); err != nil {
		return cw.n, fmt.Errorf("compose mail: %w", err)
	}
	if method != "" {
		name := "invite.ics"
		if method == "CANCEL" {
			name = "cancel.ics"
		}
		var ah message.Header
		ah.SetContentType("application/ics", map[string]string{"name": name})
		ah.SetContentDisposition("attachment", map[string]string{"filename": name})
		ah.Set("Content-Transfer-Encoding", "base64")
		pw, err := mw.CreatePart(ah)
		if err != nil {
			return cw.n, fmt.Errorf("compose mail: %w", err)
		}
		if _, err := pw.Write(o.Calendar); err != nil {
			return cw.n, fmt.Errorf("compose mail: %w", err)
		}
		if err := pw.Close(); err != nil {
			return cw.n, fmt.Errorf("compose mail: %w", err)
		}
	}
	if err := mw.Close(); err != nil {
		return cw.n, fmt.Errorf("compose mail: %w", err)
	}
	return cw.n, nil
}

// Bytes is WriteTo into memory.
func (o *Outgoing) Bytes() ([]byte, error) {
	var b bytes.Buffer
	if _, err := o.WriteTo(&b); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// boundaries derives the MIME boundaries from the Message-ID, so the same
// mail always has the same bytes (golden tests, and a retried job sends
// exactly what the first attempt did).
func boundaries(id string) [2]string {
	sum := sha256.Sum256([]byte(id))
	s := hex.EncodeToString(sum[:12])
	return [2]string{"=_mixed_" + s, "=_alt_" + s}
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
