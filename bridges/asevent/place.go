package asevent

import (
	"math"
	"strings"

	"codeberg.org/passerelle/passerelle/bridges"
)

// Location is what an event's `location` says: at most one physical place
// (the model holds one) and the address of an online location.
type Location struct {
	Place *bridges.Place
	// OnlineURL is the URL of an FEP-8a8e VirtualLocation, if any.
	OnlineURL string
	// Coordinates says how latitude and longitude were read; see CoordinateNote.
	Coordinates CoordinateNote
}

// CoordinateNote records what the coordinate rule did, so tests (and logs)
// can tell a trusted pair from a repaired or dropped one.
type CoordinateNote string

// The outcomes of reading coordinates.
const (
	CoordinatesNone      CoordinateNote = ""
	CoordinatesAsGiven   CoordinateNote = "as-given"
	CoordinatesSwapped   CoordinateNote = "swapped"
	CoordinatesDropped   CoordinateNote = "dropped"
	coordinatesFromGeo                  = "geo"
	coordinatesFromPlace                = "place"
)

// LocationRules are the server-specific parts of reading a location.
type LocationRules struct {
	// GeoSwapped says that coordinates nested in a schema.org `geo`
	// object are written longitude-first under the names latitude,
	// longitude (Mobilizon 1.0-beta: see mobilizon.Decode).
	GeoSwapped bool
}

// ReadLocation reads `location`: a string (a place name), a Place with a
// PostalAddress, a string address or an FEP-8a8e VirtualLocation address,
// an untyped object (Gancio 1.x sends `{name}`), or an array of these.
// The first physical place becomes Place, the first virtual one OnlineURL;
// further places are dropped because an event has one place in the model
// and in iCalendar's LOCATION.
//
// go-fed is not used here: it cannot resolve an object without `type`, and
// knows neither PostalAddress, VirtualLocation nor GeoCoordinates, so it
// would hand back most of a location as opaque "unknown" values.
//
// Coordinates, the rule:
//  1. top-level `latitude`/`longitude` on the Place (ActivityStreams Place,
//     Mobilizon ≥ 1.0) win over a nested schema.org `geo` object;
//  2. both must be numbers, else neither is kept;
//  3. with rules.GeoSwapped, a pair read from `geo` is swapped back;
//  4. a pair whose latitude is outside ±90° but would fit swapped is
//     swapped (the value beyond 90 can only be a longitude); a pair out of
//     range either way is dropped.
//
// A swap where both values lie within ±90° cannot be seen from the numbers
// alone (Mobilizon's old documentation example gives Lyon as 4.84, 45.75):
// such a pair is kept as given unless rule 3 applies.
func ReadLocation(v any, rules LocationRules) Location {
	var loc Location
	for _, e := range list(v) {
		switch e := e.(type) {
		case string:
			if loc.Place == nil && strings.TrimSpace(e) != "" {
				loc.Place = &bridges.Place{Name: strings.TrimSpace(e)}
			}
		case map[string]any:
			if isType(e, "VirtualLocation") {
				if loc.OnlineURL == "" {
					loc.OnlineURL = linkOf(e)
				}
				continue
			}
			if addr, ok := e["address"].(map[string]any); ok && isType(addr, "VirtualLocation") {
				if loc.OnlineURL == "" {
					loc.OnlineURL = linkOf(addr)
				}
				continue
			}
			if loc.Place != nil {
				continue
			}
			p, note := readPlace(e, rules)
			if !p.Empty() {
				loc.Place = p
				loc.Coordinates = note
			}
		}
	}
	return loc
}

// linkOf is a virtual location's address: `url`, else `href`, else `id`.
func linkOf(m map[string]any) string {
	for _, k := range []string{"url", "href", "id"} {
		if s, _ := m[k].(string); s != "" && checkURL(s) == nil {
			return s
		}
	}
	return ""
}

func readPlace(m map[string]any, rules LocationRules) (*bridges.Place, CoordinateNote) {
	p := &bridges.Place{Name: clean(m["name"])}
	switch a := m["address"].(type) {
	case string:
		p.Street = strings.TrimSpace(a)
	case map[string]any:
		p.Street = clean(a["streetAddress"])
		p.PostalCode = clean(a["postalCode"])
		p.Locality = clean(a["addressLocality"])
		p.Region = clean(a["addressRegion"])
		p.Country = clean(a["addressCountry"])
		if c, ok := a["addressCountry"].(map[string]any); ok {
			// schema.org allows a Country object for addressCountry.
			p.Country = clean(c["name"])
		}
	}
	lat, lon, from := coordinates(m)
	note := CoordinatesNone
	if from != "" {
		note = CoordinatesAsGiven
		if from == coordinatesFromGeo && rules.GeoSwapped {
			lat, lon = lon, lat
			note = CoordinatesSwapped
		}
		switch {
		case math.Abs(lat) <= 90 && math.Abs(lon) <= 180:
		case math.Abs(lon) <= 90 && math.Abs(lat) <= 180:
			lat, lon = lon, lat
			if note == CoordinatesSwapped {
				note = CoordinatesAsGiven
			} else {
				note = CoordinatesSwapped
			}
		default:
			note = CoordinatesDropped
		}
		if note != CoordinatesDropped {
			p.Latitude, p.Longitude = &lat, &lon
		}
	}
	return p, note
}

// coordinates finds a latitude/longitude pair, top-level first, then in
// `geo`; from says where ("" when there is no complete pair).
func coordinates(m map[string]any) (lat, lon float64, from string) {
	la, ok1 := floatValue(m["latitude"])
	lo, ok2 := floatValue(m["longitude"])
	if ok1 && ok2 {
		return la, lo, coordinatesFromPlace
	}
	if g, ok := m["geo"].(map[string]any); ok {
		la, ok1 = floatValue(g["latitude"])
		lo, ok2 = floatValue(g["longitude"])
		if ok1 && ok2 {
			return la, lo, coordinatesFromGeo
		}
	}
	return 0, 0, ""
}

// clean reads an address part: strings are trimmed (Mobilizon 1.0 sent
// `" "` for an empty street), anything else is empty.
func clean(v any) string {
	s, _ := v.(string)
	return strings.TrimSpace(s)
}
