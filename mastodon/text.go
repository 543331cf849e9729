package mastodon

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"text/template"
	"time"
	"unicode"
	"unicode/utf8"

	"codeberg.org/passerelle/passerelle/bridges"
)

// DefaultTemplate is the status text used when a route sets none. It reads
// in the event's language through .L (labels) and .When (a date written the
// way that language writes dates).
const DefaultTemplate = `{{if .Cancelled}}{{.L.Cancelled}} {{end}}{{.Title}}

📅 {{.When}}
{{- with .Where}}
📍 {{.}}{{end}}
{{- with .Description}}

{{.}}{{end}}

🔗 {{.Link}}
{{- with .Hashtags}}

{{join . " "}}{{end}}`

// Labels are the words a status needs in one language.
type Labels struct {
	// Cancelled marks a cancelled event, before its title.
	Cancelled string
	// Online stands for the place of an online event.
	Online string
	// Reminder introduces a reminder reply.
	Reminder string
	// CancelReply introduces the reply posted under a cancelled event's
	// status.
	CancelReply string
	// Updated introduces a reply that replaces an edit the server refused.
	Updated string
}

var labels = map[string]Labels{
	"en": {Cancelled: "❌ CANCELLED:", Online: "Online", Reminder: "⏰ Starting soon:", CancelReply: "❌ This event is cancelled:", Updated: "✏️ Updated:"},
	"fr": {Cancelled: "❌ ANNULÉ :", Online: "En ligne", Reminder: "⏰ Bientôt :", CancelReply: "❌ Cet événement est annulé :", Updated: "✏️ Mise à jour :"},
}

// StatusData is what a status template sees.
type StatusData struct {
	Title string
	// When is the date and time in the event's zone, in its language.
	When string
	// Where is the place, "online" in the event's language, both, or
	// nothing when the source said neither.
	Where       string
	Online      bool
	Description string
	// Link is the event's canonical page on its home server: never trimmed.
	Link      string
	Hashtags  []string
	Cancelled bool
	// Lang is the language the text is written in ("fr", "en").
	Lang string
	L    Labels
	// Event is the whole event, for templates that want more.
	Event *bridges.Event
}

// Template is a parsed status template.
type Template struct {
	t *template.Template
}

// ParseTemplate parses a route's status template (an empty text is the
// default) and checks it against a sample event, so a mistake is reported
// when the route is saved or serve starts, not when an event comes in.
func ParseTemplate(text string) (*Template, error) {
	if strings.TrimSpace(text) == "" {
		text = DefaultTemplate
	}
	t, err := template.New("status").Option("missingkey=error").Funcs(template.FuncMap{"join": strings.Join}).Parse(text)
	if err != nil {
		return nil, fmt.Errorf("status template: %w", err)
	}
	tp := &Template{t: t}
	sample := &bridges.Event{APID: "https://example.org/events/1", URL: "https://example.org/events/1", Title: "Sample", Start: time.Date(2025, 1, 1, 18, 0, 0, 0, time.UTC)}
	out, err := tp.execute(newStatusData(sample))
	if err != nil {
		return nil, fmt.Errorf("status template: %w (fields: .Title .When .Where .Online .Description .Link .Hashtags .Cancelled .Lang .L .Event)", err)
	}
	if !strings.Contains(out, sample.URL) {
		return nil, errors.New("status template: it must show {{.Link}}, the event's page (statuses are recognised by it)")
	}
	return tp, nil
}

func (tp *Template) execute(d *StatusData) (string, error) {
	var b bytes.Buffer
	if err := tp.t.Execute(&b, d); err != nil {
		return "", err
	}
	return strings.TrimSpace(b.String()), nil
}

// Limits are an instance's status limits (GET /api/v2/instance).
type Limits struct {
	MaxCharacters int
	// ReservedPerURL is what any URL counts for: 23 on Mastodon, 25 on
	// GoToSocial.
	ReservedPerURL int
}

// DefaultLimits are Mastodon's, used when an instance does not say.
var DefaultLimits = Limits{MaxCharacters: 500, ReservedPerURL: 23}

var urlRE = regexp.MustCompile(`https?://[^\s<>"]+`)

// Length counts text the way Mastodon does: characters, a URL counting as
// ReservedPerURL whatever its length.
func (l Limits) Length(text string) int {
	n := utf8.RuneCountInString(text)
	for _, u := range urlRE.FindAllString(text, -1) {
		n += l.ReservedPerURL - utf8.RuneCountInString(u)
	}
	return n
}

// Compose renders an event's status within the limits: the description is
// shortened first (at a word, with an ellipsis), then the hashtags dropped,
// then the title shortened; the link is never touched.
func (tp *Template) Compose(ev *bridges.Event, lim Limits) (string, error) {
	if lim.MaxCharacters <= 0 {
		lim = DefaultLimits
	}
	d := newStatusData(ev)
	fits := func() (string, bool, error) {
		s, err := tp.execute(d)
		return s, err == nil && lim.Length(s) <= lim.MaxCharacters, err
	}
	s, ok, err := fits()
	if err != nil {
		return "", fmt.Errorf("render status for %s: %w", ev.APID, err)
	}
	if ok {
		return s, nil
	}
	full := []rune(d.Description)
	// The longest description prefix that fits, by bisection on its length.
	lo, hi := 0, len(full)
	for lo < hi {
		mid := (lo + hi + 1) / 2
		d.Description = shorten(full, mid)
		if _, ok, _ := fits(); ok {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	d.Description = shorten(full, lo)
	if s, ok, _ := fits(); ok {
		return s, nil
	}
	d.Hashtags = nil
	if s, ok, _ := fits(); ok {
		return s, nil
	}
	title := []rune(d.Title)
	for n := len(title) - 1; n > 0; n-- {
		d.Title = shorten(title, n)
		if s, ok, _ := fits(); ok {
			return s, nil
		}
	}
	return "", fmt.Errorf("status for %s cannot fit in %d characters even without its description", ev.APID, lim.MaxCharacters)
}

// shorten cuts text to at most n runes, at a word boundary when one is near,
// and marks the cut with an ellipsis (counted in n).
func shorten(text []rune, n int) string {
	if n >= len(text) {
		return string(text)
	}
	if n <= 1 {
		return ""
	}
	cut := text[:n-1]
	if i := lastSpace(cut); i > len(cut)*2/3 {
		cut = cut[:i]
	}
	return strings.TrimRightFunc(string(cut), func(r rune) bool { return unicode.IsSpace(r) || unicode.IsPunct(r) }) + "…"
}

func lastSpace(r []rune) int {
	for i := len(r) - 1; i >= 0; i-- {
		if unicode.IsSpace(r[i]) {
			return i
		}
	}
	return -1
}

func newStatusData(ev *bridges.Event) *StatusData {
	lang := baseLang(ev.Language)
	l := labels[lang]
	// Title, place and description come from the event's server: their
	// mentions and foreign hashtags are neutralised (neutral.go).
	tags := Hashtags(ev)
	own := ownTags(tags)
	d := &StatusData{
		Title:     Neutralise(strings.TrimSpace(ev.Title), own),
		When:      FormatWhen(ev, lang),
		Online:    ev.Online,
		Link:      ev.URL,
		Hashtags:  tags,
		Cancelled: ev.Status == bridges.StatusCancelled,
		Lang:      lang,
		L:         l,
		Event:     ev,
	}
	if d.Link == "" {
		d.Link = ev.APID
	}
	place := Neutralise(ev.Place.Address(), own)
	switch {
	case ev.Online && place != "":
		d.Where = place + " · " + l.Online
	case ev.Online:
		d.Where = l.Online
	default:
		d.Where = place
	}
	desc := ev.DescriptionText
	if strings.TrimSpace(desc) == "" {
		desc = ev.Summary
	}
	d.Description = Neutralise(tidy(desc), own)
	return d
}

// baseLang picks the labels' language: fr for any French, else English.
func baseLang(tag string) string {
	base, _, _ := strings.Cut(strings.ToLower(tag), "-")
	base, _, _ = strings.Cut(base, "_")
	if _, ok := labels[base]; ok {
		return base
	}
	return "en"
}

var blankLines = regexp.MustCompile(`\n\s*\n+`)

// tidy trims a description's spaces and keeps at most one blank line
// between paragraphs.
func tidy(s string) string {
	lines := strings.Split(strings.ReplaceAll(s, "\r\n", "\n"), "\n")
	for i, l := range lines {
		lines[i] = strings.Join(strings.Fields(l), " ")
	}
	return strings.TrimSpace(blankLines.ReplaceAllString(strings.Join(lines, "\n"), "\n\n"))
}

// Hashtags turns the event's tags and category into hashtags: words joined
// in CamelCase, anything but letters, digits and _ removed, duplicates
// (ignoring case) dropped.
func Hashtags(ev *bridges.Event) []string {
	var out []string
	seen := map[string]bool{}
	add := func(s string, category bool) {
		s = strings.TrimPrefix(strings.TrimSpace(s), "#")
		words := strings.FieldsFunc(s, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) && r != '_' })
		var b strings.Builder
		for _, w := range words {
			r := []rune(w)
			if category {
				// Mobilizon's categories are enum names (MEETING).
				r = []rune(strings.ToLower(w))
			}
			if category || len(words) > 1 {
				r[0] = unicode.ToUpper(r[0])
			}
			b.WriteString(string(r))
		}
		tag := b.String()
		if tag == "" || seen[strings.ToLower(tag)] {
			return
		}
		if allDigits(tag) {
			return // Mastodon does not link a hashtag of digits only.
		}
		seen[strings.ToLower(tag)] = true
		out = append(out, "#"+tag)
	}
	for _, t := range ev.Tags {
		add(t, false)
	}
	add(ev.Category, true)
	return out
}

func allDigits(s string) bool {
	for _, r := range s {
		if !unicode.IsDigit(r) {
			return false
		}
	}
	return true
}

var (
	frDays   = []string{"dimanche", "lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi"}
	frMonths = []string{"janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre", "novembre", "décembre"}
)

// FormatWhen writes when the event happens, in its time zone, the way the
// language writes dates: "samedi 14 décembre 2024, 19:00–22:00 (Europe/Paris)"
// or "Saturday, December 14, 2024, 7:00 PM–10:00 PM (Europe/Paris)".
func FormatWhen(ev *bridges.Event, lang string) string {
	loc := ev.Location()
	start, end := ev.Start.In(loc), ev.End
	if !end.IsZero() {
		end = end.In(loc)
	}
	zone := ev.TimeZone
	if zone == "" {
		zone = start.Format("MST")
	}
	day := func(t time.Time) string {
		if lang == "fr" {
			d := fmt.Sprint(t.Day())
			if t.Day() == 1 {
				d = "1er"
			}
			return fmt.Sprintf("%s %s %s %d", frDays[t.Weekday()], d, frMonths[t.Month()-1], t.Year())
		}
		return t.Format("Monday, January 2, 2006")
	}
	clock := func(t time.Time) string {
		if lang == "fr" {
			return t.Format("15:04")
		}
		return t.Format("3:04 PM")
	}
	switch {
	case end.IsZero():
		return fmt.Sprintf("%s, %s (%s)", day(start), clock(start), zone)
	case sameDay(start, end):
		return fmt.Sprintf("%s, %s–%s (%s)", day(start), clock(start), clock(end), zone)
	case lang == "fr":
		return fmt.Sprintf("du %s, %s au %s, %s (%s)", day(start), clock(start), day(end), clock(end), zone)
	default:
		return fmt.Sprintf("from %s, %s to %s, %s (%s)", day(start), clock(start), day(end), clock(end), zone)
	}
}

func sameDay(a, b time.Time) bool {
	ay, am, ad := a.Date()
	by, bm, bd := b.Date()
	return ay == by && am == bm && ad == bd
}

// replyText is a short reply in the thread of an event's status; it carries
// the link so the reply can be found again after a crash (reconcile).
func replyText(ev *bridges.Event, intro string, lim Limits) string {
	link := ev.URL
	if link == "" {
		link = ev.APID
	}
	lang := baseLang(ev.Language)
	title := Neutralise(strings.TrimSpace(ev.Title), ownTags(Hashtags(ev)))
	body := fmt.Sprintf("%s %s\n📅 %s", intro, title, FormatWhen(ev, lang))
	text := body + "\n\n🔗 " + link
	if lim.MaxCharacters > 0 && lim.Length(text) > lim.MaxCharacters {
		over := lim.Length(text) - lim.MaxCharacters
		r := []rune(body)
		text = shorten(r, max(len(r)-over, 0)) + "\n\n🔗 " + link
	}
	return text
}
