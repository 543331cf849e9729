package asevent

import (
	"fmt"
	"strings"
	"time"

	"codeberg.org/passerelle/passerelle/bridges"
	"codeberg.org/passerelle/passerelle/bridges/astext"
)

// Rules are what differs between servers that send ActivityStreams Event
// objects; the zero value reads a plain ActivityStreams Event.
type Rules struct {
	Location LocationRules
	// GeneratedSummary says the server fills `summary` with text it
	// generates from the date and the place (Mobilizon, Gancio), which the
	// model already holds: it is not kept as the event's Summary.
	GeneratedSummary bool
	// BannerLabel is a Document name that labels the banner's role instead
	// of describing the picture (Mobilizon names every banner "Banner"):
	// it is not used as alt text.
	BannerLabel string
	// OnlyWebsiteLink restricts the online address to a Link attachment
	// named "Website" (Mobilizon's own rule on receipt); otherwise, for an
	// online event, the first text/html Link attachment also serves.
	OnlyWebsiteLink bool
}

// Decode maps an ActivityStreams Event object to a bridges.Event. It reads
// the standard properties and the event terms that Mobilizon introduced and
// others copied (timezone, joinMode, externalParticipationUrl, capacities,
// participantCount, isOnline, draft, status, category, inLanguage).
//
// The organiser's URL comes from `attributedTo` (a group, when the event
// belongs to one), else `actor`; its display name only when the document
// embeds the actor with a name. Otherwise OrganizerName is left empty for
// the caller, who knows the actor documents, to fill.
//
// A malformed document is an error naming the field; an object of another
// type is ErrNotAnEvent.
func Decode(raw []byte, rules Rules) (bridges.Event, *Object, error) {
	o, err := Parse(raw)
	if err != nil {
		return bridges.Event{}, nil, err
	}
	if tn, _ := o.TypeName(); tn != "Event" {
		return bridges.Event{}, o, fmt.Errorf("%w: %s is a %s", bridges.ErrNotAnEvent, o.ID(), tn)
	}
	ev, err := decodeEvent(o, rules)
	if err != nil {
		return bridges.Event{}, o, fmt.Errorf("event %s: %w", o.ID(), err)
	}
	return ev, o, nil
}

func decodeEvent(o *Object, rules Rules) (bridges.Event, error) {
	ev := bridges.Event{APID: o.ID(), Public: o.Public()}
	ev.URL = o.PageURL()
	if ev.URL == "" {
		ev.URL = ev.APID
	}

	name := o.Name()
	ev.Title = strings.TrimSpace(name.Value)
	if ev.Title == "" {
		return ev, fmt.Errorf("name: missing or empty (an event needs a title)")
	}

	content := o.Content()
	ev.DescriptionHTML, ev.DescriptionText = Description(content.Value, o.MediaType())
	if !rules.GeneratedSummary {
		if s := o.Summary().Value; strings.TrimSpace(s) != "" && s != content.Value {
			_, ev.Summary = Description(s, "")
		}
	}

	var ok bool
	var err error
	if ev.Start, ok, err = o.Time("startTime"); err != nil {
		return ev, err
	} else if !ok {
		return ev, fmt.Errorf("startTime: missing (an event needs a start)")
	}
	if ev.End, _, err = o.Time("endTime"); err != nil {
		return ev, err
	}
	if !ev.End.IsZero() && ev.End.Before(ev.Start) {
		return ev, fmt.Errorf("endTime: %s is before startTime %s", ev.End.Format(time.RFC3339), ev.Start.Format(time.RFC3339))
	}
	if ev.Published, _, err = o.Time("published"); err != nil {
		return ev, err
	}
	if ev.Updated, _, err = o.Time("updated"); err != nil {
		return ev, err
	}

	// The offsets in startTime/endTime fix the instants; the zone name, if
	// any, is only in `timezone`. An offset alone (Gancio) names no zone:
	// TimeZone stays empty rather than a guess.
	if ev.TimeZone, err = o.String("timezone"); err != nil {
		return ev, err
	}
	if ev.TimeZone = strings.TrimSpace(ev.TimeZone); ev.TimeZone != "" {
		if _, err := bridges.LoadLocation(ev.TimeZone); err != nil {
			return ev, fmt.Errorf("timezone: %q is not an IANA time zone this machine knows", ev.TimeZone)
		}
	}

	if ev.Status, err = status(o); err != nil {
		return ev, err
	}
	jm, err := o.String("joinMode")
	if err != nil {
		return ev, err
	}
	if ev.JoinMode, err = bridges.ParseJoinMode(jm); err != nil {
		return ev, fmt.Errorf("joinMode: %w", err)
	}
	if ev.ExternalParticipationURL, err = o.String("externalParticipationUrl"); err != nil {
		return ev, err
	}
	if u := ev.ExternalParticipationURL; u != "" {
		if err := checkURL(u); err != nil {
			return ev, fmt.Errorf("externalParticipationUrl: %w", err)
		}
	}
	if err := capacities(o, &ev); err != nil {
		return ev, err
	}

	online, err := o.Bool("isOnline")
	if err != nil {
		return ev, err
	}
	draft, err := o.Bool("draft")
	if err != nil {
		return ev, err
	}
	ev.Draft = draft != nil && *draft

	loc := ReadLocation(o.JSON["location"], rules.Location)
	ev.Place = loc.Place
	ev.OnlineURL = loc.OnlineURL
	att := ReadAttachments(o)
	if ev.OnlineURL == "" {
		ev.OnlineURL = att.Website
	}
	if ev.OnlineURL == "" && !rules.OnlyWebsiteLink && online != nil && *online {
		ev.OnlineURL = att.FirstHTMLLink
	}
	ev.Online = (online != nil && *online) || loc.OnlineURL != ""
	ev.BannerURL, ev.BannerAlt = att.Banner.URL, att.Banner.Name
	if rules.BannerLabel != "" && ev.BannerAlt == rules.BannerLabel {
		ev.BannerAlt = ""
	}

	ev.Tags = o.Hashtags()
	if ev.Category, err = o.String("category"); err != nil {
		return ev, err
	}
	ev.Category = strings.TrimSpace(ev.Category)
	if ev.Language, err = language(o, name, content); err != nil {
		return ev, err
	}

	if at := o.AttributedTo(); len(at) > 0 {
		ev.OrganizerURL, ev.OrganizerName = at[0].ID, at[0].Name
	} else if actor, _ := o.String("actor"); actor != "" {
		ev.OrganizerURL = actor
	}
	return ev, ev.Validate()
}

// Description turns a description in the given media type into sanitised
// HTML and plain text. Without a media type, text that carries no markup is
// read as plain text (see astext.LooksLikeHTML).
func Description(s, mediaType string) (html, text string) {
	if strings.TrimSpace(s) == "" {
		return "", ""
	}
	mt := strings.ToLower(strings.TrimSpace(strings.Split(mediaType, ";")[0]))
	switch {
	case mt == "text/plain", mt == "" && !astext.LooksLikeHTML(s):
		return astext.FromPlain(s)
	default:
		return astext.FromHTML(s)
	}
}

// status reads `status`, else Mobilizon's older `ical:status`.
func status(o *Object) (bridges.Status, error) {
	for _, key := range []string{"status", "ical:status"} {
		s, err := o.String(key)
		if err != nil {
			return "", err
		}
		if s != "" {
			st, err := bridges.ParseStatus(s)
			if err != nil {
				return "", fmt.Errorf("%s: %w", key, err)
			}
			return st, nil
		}
	}
	return bridges.StatusConfirmed, nil
}

// capacities reads maximumAttendeeCapacity (null or 0: unlimited),
// remainingAttendeeCapacity (kept only when there is a limit; it may be
// negative, organisers can overbook) and participantCount.
func capacities(o *Object, ev *bridges.Event) error {
	maxCap, err := o.Int("maximumAttendeeCapacity")
	if err != nil {
		return err
	}
	if maxCap != nil {
		if *maxCap < 0 {
			return fmt.Errorf("maximumAttendeeCapacity: %d is negative (0 or null mean unlimited)", *maxCap)
		}
		ev.MaxCapacity = *maxCap
	}
	rem, err := o.Int("remainingAttendeeCapacity")
	if err != nil {
		return err
	}
	if ev.MaxCapacity > 0 {
		ev.RemainingCapacity = rem
	}
	n, err := o.Int("participantCount")
	if err != nil {
		return err
	}
	if n != nil {
		if *n < 0 {
			return fmt.Errorf("participantCount: %d is negative", *n)
		}
		ev.ParticipantCount = *n
	}
	return nil
}

// language is schema.org's `inLanguage`, else the language of a
// `contentMap` or `nameMap`; "und" (undetermined) is no language.
func language(o *Object, name, content Text) (string, error) {
	l, err := o.String("inLanguage")
	if err != nil {
		// schema.org also allows a Language object; take its name or code.
		if m, ok := o.JSON["inLanguage"].(map[string]any); ok {
			l = clean(m["identifier"])
			if l == "" {
				l = clean(m["name"])
			}
		} else {
			return "", err
		}
	}
	for _, c := range []string{l, content.Language, name.Language} {
		if c = strings.TrimSpace(c); c != "" && !strings.EqualFold(c, "und") {
			return c, nil
		}
	}
	return "", nil
}
