// Package peertube maps PeerTube's scheduled live streams to bridges.Event
// (issue 9): a channel announcing "live on Thursday at 19:00" becomes an
// event in the calendars of the people who follow it.
//
// Call Dialect.Decode (or Decode, with the default duration) with a Video
// object's JSON, as embedded in a Create/Update or fetched from
// /videos/watch/<uuid>. What it reads, from the fields PeerTube's source
// writes (shared fixtures, peertube/FORMAT.md):
//   - only a Video with `isLiveBroadcast: true` and a non-empty `schedules`
//     (PeerTube ≥ 7.3) is an event; every other Video — ordinary videos, a
//     live without a schedule (older PeerTube, or a permanent live room
//     nobody scheduled), and the Video a live with replay turns into
//     (`isLiveBroadcast: false`) — returns bridges.ErrNotAnEvent, to be ignored.
//     For a Video already stored as an event, that means "no longer a
//     scheduled live": the stored event (which has happened) can stay;
//   - the start is `schedules[0].startDate` (UTC; PeerTube sends no zone,
//     so TimeZone stays empty). `published` is not used: PeerTube resets it
//     when a stream starts, so it means different things over time;
//   - PeerTube never sends an end: End is the start plus LiveDuration,
//     except when `state` is 5 (LIVE_ENDED), where the Update's `updated`
//     time is the real end, so a finished live leaves the calendars;
//   - the description is `content` in Markdown, rendered with goldmark as
//     PeerTube renders it (line breaks kept, bare links linked, raw HTML
//     dropped), then sanitised; `summary` (the sensitive-content warning of
//     newer versions) is kept as the Summary;
//   - the watch page (the first text/html `url` link, `mimeType` in 1.0)
//     is both URL and OnlineURL, and the ExternalParticipationURL of a
//     JoinExternal event: there is nothing to RSVP, only to watch;
//   - the banner is the widest `icon` Image (PeerTube's thumbnail, of
//     which the "preview" size is the one made for display);
//   - language and category from their `{identifier, name}` objects,
//     Hashtag tags, public when as:Public is in `to`;
//   - the organiser is the channel: the `attributedTo` entry of type Group,
//     or, when entries are bare URLs (newest PeerTube), the one whose path
//     has /video-channels/ (PeerTube's default layout), else the last one
//     (PeerTube writes account, then channel). Its name is not in the
//     Video: OrganizerName is left for the caller to fill from the actor.
package peertube

import (
	"bytes"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/extension"
	"github.com/yuin/goldmark/renderer/html"

	"codeberg.org/passerelle/passerelle/bridges"
	"codeberg.org/passerelle/passerelle/bridges/asevent"
	"codeberg.org/passerelle/passerelle/bridges/astext"
)

// DefaultLiveDuration is how long a scheduled live is taken to last when
// nothing says otherwise (PeerTube sends no end or duration for a live).
const DefaultLiveDuration = time.Hour

// stateLiveEnded is PeerTube's VideoState.LIVE_ENDED.
const stateLiveEnded = 5

// Dialect decodes PeerTube Videos.
type Dialect struct {
	// LiveDuration is the assumed length of a live; zero means
	// DefaultLiveDuration.
	LiveDuration time.Duration
}

// Decode maps a Video with the default live duration.
func Decode(raw []byte) (bridges.Event, error) {
	return Dialect{}.Decode(raw)
}

// markdown renders descriptions the way PeerTube's front end does
// (markdown-it with linkify and breaks): GFM-style autolinks and
// strikethrough, hard line breaks. Raw HTML is not rendered (goldmark's
// default), and the result is sanitised anyway.
var markdown = goldmark.New(
	goldmark.WithExtensions(extension.Linkify, extension.Strikethrough),
	goldmark.WithRendererOptions(html.WithHardWraps()),
)

// Decode maps a PeerTube Video to an event, or returns bridges.ErrNotAnEvent.
func (d Dialect) Decode(raw []byte) (bridges.Event, error) {
	o, err := asevent.Parse(raw)
	if err != nil {
		return bridges.Event{}, err
	}
	if tn, _ := o.TypeName(); tn != "Video" {
		return bridges.Event{}, fmt.Errorf("%w: %s is a %s, not a Video", bridges.ErrNotAnEvent, o.ID(), tn)
	}
	live, err := o.Bool("isLiveBroadcast")
	if err != nil {
		return bridges.Event{}, fmt.Errorf("video %s: %w", o.ID(), err)
	}
	if live == nil || !*live {
		return bridges.Event{}, fmt.Errorf("%w: video %s is not a live broadcast", bridges.ErrNotAnEvent, o.ID())
	}
	start, err := scheduledStart(o)
	if err != nil {
		return bridges.Event{}, fmt.Errorf("video %s: %w", o.ID(), err)
	}
	if start.IsZero() {
		return bridges.Event{}, fmt.Errorf("%w: live %s has no schedule", bridges.ErrNotAnEvent, o.ID())
	}
	ev, err := d.event(o, start)
	if err != nil {
		return bridges.Event{}, fmt.Errorf("video %s: %w", o.ID(), err)
	}
	return ev, nil
}

// scheduledStart reads schedules[0].startDate; a missing or empty
// `schedules` (PeerTube before 7.3) gives the zero time.
func scheduledStart(o *asevent.Object) (time.Time, error) {
	v, ok := o.JSON["schedules"]
	if !ok || v == nil {
		return time.Time{}, nil
	}
	list, ok := v.([]any)
	if !ok {
		return time.Time{}, errors.New("schedules: want an array of {startDate}")
	}
	if len(list) == 0 {
		return time.Time{}, nil
	}
	first, ok := list[0].(map[string]any)
	if !ok {
		return time.Time{}, errors.New("schedules[0]: want an object with startDate")
	}
	s, ok := first["startDate"].(string)
	if !ok || s == "" {
		return time.Time{}, errors.New("schedules[0].startDate: missing or not a string")
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("schedules[0].startDate: %q is not an ISO 8601 date-time with a zone", s)
	}
	return t.UTC(), nil
}

func (d Dialect) event(o *asevent.Object, start time.Time) (bridges.Event, error) {
	ev := bridges.Event{
		APID:     o.ID(),
		Start:    start,
		Status:   bridges.StatusConfirmed,
		JoinMode: bridges.JoinExternal,
		Online:   true,
		Public:   o.Public(),
		Tags:     o.Hashtags(),
	}
	ev.Title = strings.TrimSpace(o.Name().Value)
	if ev.Title == "" {
		return ev, errors.New("name: missing or empty (a live needs a title)")
	}
	ev.URL = o.PageURL()
	if ev.URL == "" {
		ev.URL = ev.APID
	}
	ev.OnlineURL, ev.ExternalParticipationURL = ev.URL, ev.URL

	var err error
	if ev.DescriptionHTML, ev.DescriptionText, err = description(o); err != nil {
		return ev, err
	}
	if s := strings.TrimSpace(o.Summary().Value); s != "" {
		_, ev.Summary = asevent.Description(s, "")
	}
	if ev.Published, _, err = o.Time("published"); err != nil {
		return ev, err
	}
	if ev.Updated, _, err = o.Time("updated"); err != nil {
		return ev, err
	}

	duration := d.LiveDuration
	if duration <= 0 {
		duration = DefaultLiveDuration
	}
	ev.End = start.Add(duration)
	state, err := o.Int("state")
	if err != nil {
		return ev, err
	}
	if state != nil && *state == stateLiveEnded && ev.Updated.After(start) {
		// Whole seconds, as DTEND shows it: a CalDAV time range starting
		// at that second must not still find the live.
		ev.End = ev.Updated.Truncate(time.Second)
		if !ev.End.After(start) {
			ev.End = start.Add(time.Second)
		}
	}

	ev.Language = identified(o.JSON["language"], "identifier")
	ev.Category = identified(o.JSON["category"], "name")
	ev.BannerURL = widestIcon(o)
	ev.OrganizerURL = channel(o.AttributedTo())
	return ev, ev.Validate()
}

// description renders `content`: Markdown by default (PeerTube always
// says text/markdown), HTML or plain text if a server says so.
func description(o *asevent.Object) (htmlOut, text string, err error) {
	content := o.Content().Value
	if strings.TrimSpace(content) == "" {
		return "", "", nil
	}
	mt := o.MediaType()
	if mt != "" && mt != "text/markdown" {
		h, t := asevent.Description(content, mt)
		return h, t, nil
	}
	var buf bytes.Buffer
	if err := markdown.Convert([]byte(content), &buf); err != nil {
		return "", "", fmt.Errorf("content: render Markdown: %w", err)
	}
	h, t := astext.FromHTML(buf.String())
	return h, t, nil
}

// identified reads PeerTube's `{identifier, name}` objects (language,
// category, licence).
func identified(v any, key string) string {
	m, ok := v.(map[string]any)
	if !ok {
		return ""
	}
	s, _ := m[key].(string)
	return strings.TrimSpace(s)
}

// widestIcon is the URL of the widest `icon` Image (an array, or one
// object in PeerTube 1.0).
func widestIcon(o *asevent.Object) string {
	best, bestWidth := "", -1.0
	for _, m := range o.Objects("icon") {
		u, _ := m["url"].(string)
		if u == "" {
			continue
		}
		w := -0.5
		if n, ok := asevent.Number(m["width"]); ok {
			w = n
		}
		if w > bestWidth {
			best, bestWidth = u, w
		}
	}
	return best
}

// channel picks the channel among `attributedTo`.
func channel(actors []asevent.Actor) string {
	for _, a := range actors {
		if a.Type == "Group" {
			return a.ID
		}
	}
	for _, a := range actors {
		if u, err := url.Parse(a.ID); err == nil && strings.Contains(u.Path, "/video-channels/") {
			return a.ID
		}
	}
	if len(actors) > 0 {
		return actors[len(actors)-1].ID
	}
	return ""
}
