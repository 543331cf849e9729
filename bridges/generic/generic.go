// Package generic maps a plain ActivityStreams Event, from any server that
// is neither Mobilizon, Gancio nor PeerTube, to bridges.Event.
//
// It reads the ActivityStreams properties and, when present, the event
// terms other servers copied from Mobilizon (timezone, joinMode,
// externalParticipationUrl, capacities, isOnline, draft, status) and
// schema.org's PostalAddress / FEP-8a8e's VirtualLocation in `location`.
// Nothing is assumed about the sender: `summary` is kept as the event's
// summary, a Document's name is alt text, coordinates are read as given
// (repaired only when out of range), and for an event flagged online the
// first text/html Link attachment is its online address when no Link is
// named "Website".
package generic

import (
	"codeberg.org/passerelle/passerelle/bridges"
	"codeberg.org/passerelle/passerelle/bridges/asevent"
)

// Decode maps an ActivityStreams Event object to a bridges.Event.
func Decode(raw []byte) (bridges.Event, error) {
	ev, _, err := asevent.Decode(raw, asevent.Rules{})
	if err != nil {
		return bridges.Event{}, err
	}
	return ev, nil
}
