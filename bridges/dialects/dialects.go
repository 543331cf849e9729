// Package dialects is the one entry the federation side calls to turn an
// incoming object into a bridges.Event: pick the dialect by the NodeInfo
// software name of the object's server, then Decode the object.
//
//	d := dialects.For(source.Software, dialects.Options{LiveDuration: cfgLiveDuration})
//	ev, err := d.Decode(objectJSON)
//	switch {
//	case errors.Is(err, bridges.ErrNotAnEvent):
//		// a Note, an ordinary PeerTube video, …: ignore (log at debug)
//	case err != nil:
//		// malformed: reject, the error names the field
//	default:
//		// fill ev.OrganizerName from the actor at ev.OrganizerURL if empty,
//		// set ev.SourceID, then bridges.Events.Apply(ctx, ev, objectJSON)
//	}
//
// Decode takes the object itself — the `object` of a Create, Update or
// Announce (an embedded object needs no @context), or a fetched document —
// never the activity. It does no I/O. It leaves OrganizerName empty unless
// the document embeds the organiser with a name: Mobilizon, Gancio and
// PeerTube only give the organiser's URL, and the federation side, which
// holds the actor documents, fills the name. Drafts come back with
// Draft set (show them to nobody); cancelled events with StatusCancelled.
package dialects

import (
	"strings"
	"time"

	"codeberg.org/passerelle/passerelle/bridges"
	"codeberg.org/passerelle/passerelle/bridges/gancio"
	"codeberg.org/passerelle/passerelle/bridges/generic"
	"codeberg.org/passerelle/passerelle/bridges/mobilizon"
	"codeberg.org/passerelle/passerelle/bridges/peertube"
)

// Options tune the dialects.
type Options struct {
	// LiveDuration is how long a PeerTube live is taken to last; zero
	// means peertube.DefaultLiveDuration (1 h).
	LiveDuration time.Duration
}

// Func adapts a decode function to bridges.Dialect.
type Func func(raw []byte) (bridges.Event, error)

// Decode calls f.
func (f Func) Decode(raw []byte) (bridges.Event, error) { return f(raw) }

// Software names as NodeInfo's software.name gives them.
const (
	Mobilizon = "mobilizon"
	Gancio    = "gancio"
	PeerTube  = "peertube"
	Generic   = "generic"
)

// Name returns the dialect name For picks for a NodeInfo software name
// (case-insensitive): mobilizon, gancio, peertube, or generic for anything
// else, including an empty name. Store it as bridges.Source.Software.
func Name(software string) string {
	switch s := strings.ToLower(strings.TrimSpace(software)); s {
	case Mobilizon, Gancio, PeerTube:
		return s
	}
	return Generic
}

// For returns the dialect for a NodeInfo software name (see Name).
func For(software string, o Options) bridges.Dialect {
	switch Name(software) {
	case Mobilizon:
		return Func(mobilizon.Decode)
	case Gancio:
		return Func(gancio.Decode)
	case PeerTube:
		return peertube.Dialect{LiveDuration: o.LiveDuration}
	}
	return Func(generic.Decode)
}
