// Package gancio maps Gancio's Event objects to bridges.Event.
//
// Call Decode with the Event object's JSON as Gancio sends it (inside a
// Create/Update from the instance actor) or as fetched from
// <host>/federation/m/<id>. What is particular to Gancio, from the saved
// captures, and what Decode does about it:
//   - documents carry no @context at all; asevent.Parse assumes the
//     ActivityStreams context, as AS2 Core §2.1 tells consumers to;
//   - startTime/endTime carry an offset (`+02:00`) and no zone name:
//     the instants are exact, TimeZone stays empty (no zone is guessed
//     from an offset: +02:00 is Rome in summer and Cairo all year);
//   - `location` is an untyped `{name}` (Gancio 1.x), a Place with a
//     string `address`, a Place with a PostalAddress, a Place whose address
//     is an FEP-8a8e VirtualLocation (online events), or an array of
//     these: the first physical place and the first online URL are kept;
//   - `content` is plain text with line breaks in Gancio 1.x and HTML
//     later: text without markup is read as plain text;
//   - `summary` is generated (place and date) and is not kept;
//   - the picture is a Document whose `name` is real alt text;
//   - `attributedTo` is the instance (relay) actor: it becomes
//     OrganizerURL, and its name is left for the caller to fill.
package gancio

import (
	"codeberg.org/passerelle/passerelle/bridges"
	"codeberg.org/passerelle/passerelle/bridges/asevent"
)

// Rules are Gancio's departures from a plain ActivityStreams Event.
var Rules = asevent.Rules{GeneratedSummary: true}

// Decode maps a Gancio Event object to a bridges.Event.
func Decode(raw []byte) (bridges.Event, error) {
	ev, _, err := asevent.Decode(raw, Rules)
	if err != nil {
		return bridges.Event{}, err
	}
	return ev, nil
}
