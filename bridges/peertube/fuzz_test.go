package peertube

import (
	"testing"

	"codeberg.org/passerelle/passerelle/bridges/asevent/eventtest"
)

// FuzzDecode: see eventtest.Fuzz for what every input must satisfy.
func FuzzDecode(f *testing.F) { eventtest.Fuzz(f, Decode) }
