package bridges

import "time"

// SourceState is where following a source stands.
type SourceState string

// A source is pending until its server accepts the Follow (a Mobilizon
// relay waits for an admin), followed after the Accept, refused after a
// Reject, and unfollowed after `passerelle unfollow`: its events are then
// kept, marked, and left out of calendars.
const (
	SourcePending    SourceState = "pending"
	SourceFollowed   SourceState = "followed"
	SourceRefused    SourceState = "refused"
	SourceUnfollowed SourceState = "unfollowed"
)

// Source is a followed publisher of events: a Mobilizon group, a Gancio
// instance's relay actor, a PeerTube channel, or any ActivityPub actor.
type Source struct {
	ID int64 `json:"id"`
	// Slug names the source in URLs, feeds and commands ("libre-cafe").
	Slug string `json:"slug"`
	// ActorURL is the followed actor's id.
	ActorURL string `json:"actor_url"`
	// Handle is "@user@host" as WebFinger knows it, when it has one.
	Handle string `json:"handle,omitempty"`
	// Software is the dialect: mobilizon, gancio, peertube or generic.
	Software string `json:"software"`
	Name     string `json:"name,omitempty"`
	Summary  string `json:"summary,omitempty"`
	// Inbox and SharedInbox are where passerelle delivers to the source.
	Inbox       string `json:"inbox,omitempty"`
	SharedInbox string `json:"shared_inbox,omitempty"`
	Outbox      string `json:"outbox,omitempty"`
	// EventsURL is a collection of the source's events, when it has one
	// besides its outbox (Mobilizon's /@group/events).
	EventsURL string `json:"events_url,omitempty"`
	// FollowID is the id of the Follow activity passerelle sent, which the
	// source's Accept or Reject names.
	FollowID     string      `json:"follow_id,omitempty"`
	State        SourceState `json:"state"`
	LastActivity time.Time   `json:"last_activity,omitzero"`
	CreatedAt    time.Time   `json:"created_at"`
}
