package bridges

import (
	"sync"
	"time"
)

// zones caches the time zones loaded so far: time.LoadLocation reads and
// parses the zone file on every call (~25 µs), and every incoming event
// asks for its zone several times (decoding, validating, rendering). Only
// zones that exist are kept, so the cache is bounded by the tz database.
var zones sync.Map

// LoadLocation is time.LoadLocation, cached.
func LoadLocation(name string) (*time.Location, error) {
	if loc, ok := zones.Load(name); ok {
		return loc.(*time.Location), nil
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, err
	}
	zones.Store(name, loc)
	return loc, nil
}
