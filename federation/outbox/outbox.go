// Package outbox is what passerelle sends over ActivityPub: it mints
// activity ids under public_url, records each outgoing activity as a
// delivery in the caller's transaction, and its jobs sign and send them
// with retries, per-host slots shared by replicas and a final verdict in
// the deliveries table. It also speaks for mail participants (their
// pseudonymous actors, Join, Leave, and Delete when they are erased).
// It knows nothing of the inbox: federation's Service tells it how to find
// a recipient's inbox.
package outbox

import (
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/google/uuid"

	"codeberg.org/passerelle/passerelle/federation/signing"
	"codeberg.org/passerelle/passerelle/store"
)

// ContentType is the media type of the activities it sends.
const ContentType = "application/activity+json"

// Outbox mints passerelle's ids and records outgoing activities as
// deliveries in the caller's transaction, which the delivery jobs sign and
// send. It speaks for mail participants too (bridges.Participator and
// Forgetter: Join, Leave, Forget), and needs nothing but public_url and the
// database, so the RSVP flow, which the Service tells of answers to its
// Joins, is built complete before the Service. Service embeds one.
type Outbox struct {
	base *url.URL
	db   *store.DB
	// Now is the clock; New sets time.Now.
	Now func() time.Time
}

// New builds the outbox for public_url on db.
func New(publicURL string, db *store.DB) (*Outbox, error) {
	base, err := url.Parse(strings.TrimSuffix(publicURL, "/"))
	if err != nil || base.Scheme == "" || base.Host == "" {
		return nil, fmt.Errorf("public_url %q is not an absolute URL (want e.g. https://events.example.org)", publicURL)
	}
	return &Outbox{base: base, db: db, Now: time.Now}, nil
}

// Base is public_url, parsed.
func (s *Outbox) Base() *url.URL { u := *s.base; return &u }

// URL builds an absolute URL under public_url.
func (s *Outbox) URL(path string) string { return s.base.String() + path }

// ActorURL is the id of the local actor with that username.
func (s *Outbox) ActorURL(username string) string {
	return s.URL("/actors/" + url.PathEscape(username))
}

// SignerFor returns a request signer for a local actor.
func (s *Outbox) SignerFor(a *store.LocalActor) (*signing.RequestSigner, error) {
	key, err := signing.ParsePrivateKeyPEM(a.PrivateKeyPEM)
	if err != nil {
		return nil, fmt.Errorf("key of local actor %s: %w", a.Username, err)
	}
	return &signing.RequestSigner{KeyID: s.ActorURL(a.Username) + "#main-key", Key: key, Now: s.Now}, nil
}

// randomID is the unique part of a minted id.
func randomID() string { return uuid.NewString() }
