// Package mobilizon maps Mobilizon's Event objects to bridges.Event.
//
// Call Decode with the Event object's JSON, as embedded in a Create,
// Update or Announce (no @context needed) or as fetched from
// <host>/events/<uuid>. Mobilizon's ways, as FORMAT.md in the shared
// fixtures records them from Mobilizon 5.1.3's source, and what Decode does
// about each:
//   - startTime/endTime carry the event zone's offset, `timezone` its IANA
//     name (or null): both are kept, the name in Event.TimeZone;
//   - `maximumAttendeeCapacity` 0 or null means unlimited (MaxCapacity 0);
//     `remainingAttendeeCapacity` is kept only with a limit and may be
//     negative;
//   - `summary` is generated from the date and the address, so it is not
//     kept; the description is `content` (HTML, may be null);
//   - the banner Document is always named "Banner", which is a label, not
//     alt text: BannerAlt stays empty then;
//   - the online address is the Link attachment named "Website" (as
//     Mobilizon reads it); when there is none, the first `mz:visio:*` or
//     `mz:live:*` metadata PropertyValue holding a URL;
//   - `draft: true` events are decoded with Draft set; never show them;
//   - status comes from `status`, else the older `ical:status`;
//   - `attributedTo` is the group of a group event (else the organiser
//     person): it becomes OrganizerURL; its name is not in the event, so
//     OrganizerName is left for the caller to fill from the actor.
//
// Coordinates: Mobilizon 1.0-beta (the 2019 capture from mobilizon.org)
// nested them in a schema.org `geo` object with the two values swapped —
// Nantes, at 47.2° N 1.55° W, came as latitude -1.549, longitude 47.216.
// Both values are within ±90°, so no range check can see it; the rule is
// therefore by form: a pair under `geo` is read swapped, top-level
// `latitude`/`longitude` (Mobilizon ≥ 1.0 writes them the right way round)
// are read as given. Pairs out of range are repaired or dropped as
// asevent.ReadLocation says.
package mobilizon

import (
	"sort"
	"strings"

	"codeberg.org/passerelle/passerelle/bridges"
	"codeberg.org/passerelle/passerelle/bridges/asevent"
)

// Rules are Mobilizon's departures from a plain ActivityStreams Event.
var Rules = asevent.Rules{
	Location:         asevent.LocationRules{GeoSwapped: true},
	GeneratedSummary: true,
	BannerLabel:      "Banner",
	OnlyWebsiteLink:  true,
}

// Decode maps a Mobilizon Event object to a bridges.Event.
func Decode(raw []byte) (bridges.Event, error) {
	ev, o, err := asevent.Decode(raw, Rules)
	if err != nil {
		return bridges.Event{}, err
	}
	if ev.OnlineURL == "" {
		ev.OnlineURL = metadataOnlineURL(asevent.ReadAttachments(o).Properties)
	}
	return ev, nil
}

// metadataOnlineURL picks a video-conference or live-stream address from
// Mobilizon's event metadata (keys from its front end's EventMetadata.ts),
// visio first, in key order so the choice is stable.
func metadataOnlineURL(props map[string]string) string {
	var keys []string
	for k := range props {
		if strings.HasPrefix(k, "mz:visio:") || (strings.HasPrefix(k, "mz:live:") && strings.HasSuffix(k, ":url")) {
			keys = append(keys, k)
		}
	}
	sort.Slice(keys, func(i, j int) bool {
		vi, vj := strings.HasPrefix(keys[i], "mz:visio:"), strings.HasPrefix(keys[j], "mz:visio:")
		if vi != vj {
			return vi
		}
		return keys[i] < keys[j]
	})
	for _, k := range keys {
		v := strings.TrimSpace(props[k])
		if strings.HasPrefix(v, "https://") || strings.HasPrefix(v, "http://") {
			return v
		}
	}
	return ""
}
