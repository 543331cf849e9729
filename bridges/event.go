package bridges

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Status is an event's state as calendars know it (iCalendar STATUS).
type Status string

// The statuses an event can have; Mobilizon's `ical:status` maps one to one.
const (
	StatusConfirmed Status = "confirmed"
	StatusTentative Status = "tentative"
	StatusCancelled Status = "cancelled"
)

// ParseStatus reads a status as sources spell it (CONFIRMED, confirmed…);
// an empty string is confirmed, the default of every publisher we bridge.
func ParseStatus(s string) (Status, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "confirmed":
		return StatusConfirmed, nil
	case "tentative":
		return StatusTentative, nil
	case "cancelled", "canceled":
		return StatusCancelled, nil
	}
	return "", fmt.Errorf("unknown event status %q (want confirmed, tentative or cancelled)", s)
}

// JoinMode says how someone takes part in an event (Mobilizon's joinMode).
type JoinMode string

// The join modes. Free events accept participants at once; restricted ones
// wait for an organiser's approval; invite-only ones take no requests;
// external ones are joined on another site (ExternalParticipationURL).
const (
	JoinFree       JoinMode = "free"
	JoinRestricted JoinMode = "restricted"
	JoinInvite     JoinMode = "invite"
	JoinExternal   JoinMode = "external"
)

// ParseJoinMode reads a join mode; an empty string means free, as in
// Mobilizon and in plain ActivityStreams events that say nothing.
func ParseJoinMode(s string) (JoinMode, error) {
	switch m := JoinMode(strings.ToLower(strings.TrimSpace(s))); m {
	case "":
		return JoinFree, nil
	case JoinFree, JoinRestricted, JoinInvite, JoinExternal:
		return m, nil
	}
	return "", fmt.Errorf("unknown join mode %q (want free, restricted, invite or external)", s)
}

// Place is where an event happens. Every field is optional; coordinates are
// WGS84 degrees and are set only when the source gave both.
type Place struct {
	Name       string   `json:"name,omitempty"`
	Street     string   `json:"street,omitempty"`
	PostalCode string   `json:"postal_code,omitempty"`
	Locality   string   `json:"locality,omitempty"`
	Region     string   `json:"region,omitempty"`
	Country    string   `json:"country,omitempty"`
	Latitude   *float64 `json:"latitude,omitempty"`
	Longitude  *float64 `json:"longitude,omitempty"`
}

// Empty reports whether the place says nothing at all.
func (p *Place) Empty() bool {
	return p == nil || (*p == Place{})
}

// Address is the place as one line, the way a calendar LOCATION or a
// status shows it: name, street, postal code and locality, region, country,
// without empty parts.
func (p *Place) Address() string {
	if p == nil {
		return ""
	}
	town := strings.TrimSpace(p.PostalCode + " " + p.Locality)
	var parts []string
	for _, s := range []string{p.Name, p.Street, town, p.Region, p.Country} {
		s = strings.TrimSpace(s)
		if s != "" && !slices.Contains(parts, s) {
			parts = append(parts, s)
		}
	}
	return strings.Join(parts, ", ")
}

// Event is a federated event as passerelle keeps it: everything a Mobilizon,
// Gancio or PeerTube event says that someone's calendar, mailbox or Mastodon
// timeline can show.
type Event struct {
	// ID is passerelle's own identifier, assigned when first stored.
	ID int64 `json:"id"`
	// SourceID is the followed source the event came through (0 when it is
	// known only because someone answered an invitation to it).
	SourceID int64 `json:"source_id,omitempty"`
	// APID is the ActivityPub object id: the event's identity everywhere.
	APID string `json:"ap_id"`
	// URL is the event's human page on its home server.
	URL string `json:"url,omitempty"`

	Title string `json:"title"`
	// DescriptionHTML is sanitised HTML; DescriptionText the same as text.
	DescriptionHTML string `json:"description_html,omitempty"`
	DescriptionText string `json:"description_text,omitempty"`
	// Summary is a short text the source gave besides the description.
	Summary string `json:"summary,omitempty"`

	// Start and End are instants; End is zero when the source gave none.
	Start time.Time `json:"start"`
	End   time.Time `json:"end,omitzero"`
	// TimeZone is the event's IANA zone ("Europe/Paris"), empty when the
	// source gave only an offset or nothing.
	TimeZone string `json:"timezone,omitempty"`

	Status   Status   `json:"status"`
	JoinMode JoinMode `json:"join_mode"`
	// ExternalParticipationURL is where to register for JoinExternal events.
	ExternalParticipationURL string `json:"external_participation_url,omitempty"`
	// MaxCapacity is the number of places; 0 means unlimited.
	MaxCapacity int `json:"max_capacity,omitempty"`
	// RemainingCapacity is nil when unlimited or unknown; it can be
	// negative (Mobilizon lets organisers overbook).
	RemainingCapacity *int `json:"remaining_capacity,omitempty"`
	ParticipantCount  int  `json:"participant_count,omitempty"`

	Online    bool   `json:"online,omitempty"`
	OnlineURL string `json:"online_url,omitempty"`
	Place     *Place `json:"place,omitempty"`

	Tags     []string `json:"tags,omitempty"`
	Category string   `json:"category,omitempty"`
	Language string   `json:"language,omitempty"`

	BannerURL string `json:"banner_url,omitempty"`
	BannerAlt string `json:"banner_alt,omitempty"`

	OrganizerName string `json:"organizer_name,omitempty"`
	OrganizerURL  string `json:"organizer_url,omitempty"`

	// Draft events are federated by Mobilizon but never shown.
	Draft bool `json:"draft,omitempty"`
	// Public is false for unlisted or restricted events: they may be shown
	// to whoever was invited, never posted or listed.
	Public bool `json:"public"`

	Published time.Time `json:"published,omitzero"`
	// Updated is the source's own last-modified time; an incoming copy
	// older than the stored one is ignored.
	Updated time.Time `json:"updated,omitzero"`

	// Sequence is the iCalendar SEQUENCE: it grows with each material
	// change so calendar clients and invitations replace the old copy.
	Sequence int `json:"sequence"`
}

// Over reports whether the event has ended at now (started, when it has no
// end; such an event is taken to last until the end of its start day in
// UTC plus a day, so that it stays listed while it runs).
func (e *Event) Over(now time.Time) bool {
	if !e.End.IsZero() {
		return !now.Before(e.End)
	}
	return !now.Before(e.Start.Add(24 * time.Hour))
}

// WatchOnly reports whether taking part means watching the event online
// and nothing else, as with a PeerTube live: online, joined elsewhere, and
// no registration beyond the page where it is streamed. An online event
// that takes registrations on another site still asks to register there.
func (e *Event) WatchOnly() bool {
	return e.Online && e.JoinMode == JoinExternal && e.OnlineURL != "" &&
		(e.ExternalParticipationURL == "" || e.ExternalParticipationURL == e.OnlineURL)
}

// Location returns the event's time zone, UTC when it has none or the zone
// is unknown to this machine.
func (e *Event) Location() *time.Location {
	if e.TimeZone == "" {
		return time.UTC
	}
	loc, err := LoadLocation(e.TimeZone)
	if err != nil {
		return time.UTC
	}
	return loc
}

// Validate rejects an event that no calendar could show, naming what is
// missing; dialects call it before handing an event to the core.
func (e *Event) Validate() error {
	switch {
	case e.APID == "":
		return fmt.Errorf("event has no id")
	case strings.TrimSpace(e.Title) == "":
		return fmt.Errorf("event %s has no title", e.APID)
	case e.Start.IsZero():
		return fmt.Errorf("event %s has no start time", e.APID)
	case !e.End.IsZero() && e.End.Before(e.Start):
		return fmt.Errorf("event %s ends (%s) before it starts (%s)", e.APID, e.End.Format(time.RFC3339), e.Start.Format(time.RFC3339))
	}
	if _, err := ParseStatus(string(e.Status)); err != nil {
		return fmt.Errorf("event %s: %w", e.APID, err)
	}
	if _, err := ParseJoinMode(string(e.JoinMode)); err != nil {
		return fmt.Errorf("event %s: %w", e.APID, err)
	}
	if e.TimeZone != "" {
		if _, err := LoadLocation(e.TimeZone); err != nil {
			return fmt.Errorf("event %s: unknown time zone %q", e.APID, e.TimeZone)
		}
	}
	return nil
}

// materialFields are what a calendar shows of the event: a change to any
// of them is a new version (SEQUENCE+1, new invitation, Mastodon edit).
// Counts and capacities change with every participant and are not.
func (e *Event) materialFields() []string {
	f := []string{
		e.URL, e.Title, e.DescriptionHTML, e.DescriptionText, e.Summary,
		timeKey(e.Start), timeKey(e.End), e.TimeZone, string(e.Status),
		string(e.JoinMode), e.ExternalParticipationURL,
		strconv.FormatBool(e.Online), e.OnlineURL,
		strings.Join(e.Tags, "\x1f"), e.Category, e.Language,
		e.BannerURL, e.BannerAlt, e.OrganizerName, e.OrganizerURL,
		strconv.FormatBool(e.Draft), strconv.FormatBool(e.Public),
	}
	if p := e.Place; p != nil {
		f = append(f, p.Name, p.Street, p.PostalCode, p.Locality, p.Region, p.Country, floatKey(p.Latitude), floatKey(p.Longitude))
	}
	return f
}

// minorFields change often and matter to the rendered calendar text (the
// places left), but do not make a new version.
func (e *Event) minorFields() []string {
	rem := "-"
	if e.RemainingCapacity != nil {
		rem = strconv.Itoa(*e.RemainingCapacity)
	}
	return []string{strconv.Itoa(e.MaxCapacity), rem, strconv.Itoa(e.ParticipantCount)}
}

// MaterialDigest fingerprints what a calendar shows of the event.
func (e *Event) MaterialDigest() string { return digest(e.materialFields()) }

// Digest fingerprints the whole event as the source gave it, so saving an
// identical copy can be a no-op.
func (e *Event) Digest() string {
	return digest(append(e.materialFields(), e.minorFields()...))
}

func digest(fields []string) string {
	h := sha256.New()
	for _, f := range fields {
		h.Write([]byte(strconv.Itoa(len(f))))
		h.Write([]byte{':'})
		h.Write([]byte(f))
	}
	return hex.EncodeToString(h.Sum(nil))
}

func timeKey(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return strconv.FormatInt(t.UnixMicro(), 10)
}

func floatKey(f *float64) string {
	if f == nil {
		return ""
	}
	return strconv.FormatFloat(*f, 'f', -1, 64)
}
