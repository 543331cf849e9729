package bridges

import "errors"

// Dialect maps one platform's ActivityPub objects to events: the
// bridges/<platform> packages implement it (mobilizon, gancio, peertube,
// generic), bridges/dialects picks one per software, and federation
// decodes every incoming object through it.
type Dialect interface {
	// Decode maps an object's JSON to an event that passes
	// Event.Validate, or fails naming the field at fault; a well-formed
	// object that is no event fails with ErrNotAnEvent (wrapped).
	Decode(raw []byte) (Event, error)
}

// ErrNotAnEvent is returned (wrapped) by every dialect for a well-formed
// object that is not an event; callers ignore it.
var ErrNotAnEvent = errors.New("not an event")
