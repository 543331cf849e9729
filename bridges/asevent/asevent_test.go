package asevent

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"codeberg.org/passerelle/passerelle/bridges"
	"codeberg.org/passerelle/passerelle/internal/fuzzbound"
)

func TestCoordinateRule(t *testing.T) {
	tests := []struct {
		name     string
		place    string
		rules    LocationRules
		lat, lon float64
		note     CoordinateNote
	}{
		{"top level as given", `{"latitude":45.76,"longitude":4.84}`, LocationRules{GeoSwapped: true}, 45.76, 4.84, CoordinatesAsGiven},
		{"geo as given without the rule", `{"geo":{"latitude":-1.5,"longitude":47.2}}`, LocationRules{}, -1.5, 47.2, CoordinatesAsGiven},
		{"geo swapped with the rule", `{"geo":{"latitude":-1.5,"longitude":47.2}}`, LocationRules{GeoSwapped: true}, 47.2, -1.5, CoordinatesSwapped},
		{"top level wins over geo", `{"latitude":1,"longitude":2,"geo":{"latitude":3,"longitude":4}}`, LocationRules{GeoSwapped: true}, 1, 2, CoordinatesAsGiven},
		{"latitude beyond 90 is a longitude", `{"latitude":139.7,"longitude":35.6}`, LocationRules{}, 35.6, 139.7, CoordinatesSwapped},
		{"geo rule then range repair cancel out", `{"geo":{"latitude":35.6,"longitude":139.7}}`, LocationRules{GeoSwapped: true}, 35.6, 139.7, CoordinatesAsGiven},
		{"out of range dropped", `{"latitude":200,"longitude":100}`, LocationRules{}, 0, 0, CoordinatesDropped},
		{"one missing drops both", `{"latitude":45}`, LocationRules{}, 0, 0, CoordinatesNone},
		{"strings are not numbers", `{"latitude":"45","longitude":"4"}`, LocationRules{}, 0, 0, CoordinatesNone},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var m map[string]any
			dec := json.NewDecoder(strings.NewReader(`{"type":"Place","name":"p",` + tt.place[1:]))
			dec.UseNumber()
			if err := dec.Decode(&m); err != nil {
				t.Fatal(err)
			}
			loc := ReadLocation(m, tt.rules)
			if loc.Coordinates != tt.note {
				t.Errorf("note = %q, want %q", loc.Coordinates, tt.note)
			}
			p := loc.Place
			if tt.note == CoordinatesNone || tt.note == CoordinatesDropped {
				if p.Latitude != nil || p.Longitude != nil {
					t.Errorf("coordinates kept: %v, %v", *p.Latitude, *p.Longitude)
				}
				return
			}
			if p.Latitude == nil || *p.Latitude != tt.lat || *p.Longitude != tt.lon {
				t.Errorf("got %+v, want (%v, %v)", p, tt.lat, tt.lon)
			}
		})
	}
}

func TestParseAddsContextOnlyWhenMissing(t *testing.T) {
	o, err := Parse([]byte(`{"type":"Event","id":"https://g.example/federation/m/1","name":"x"}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := o.JSON["@context"]; ok {
		t.Error("Parse changed the caller's JSON")
	}
	if o.Name().Value != "x" {
		t.Errorf("name = %q", o.Name().Value)
	}
}

// FuzzDecode feeds arbitrary documents, seeded with every dialect's test
// documents: Decode must return, in bounded time and memory
// (fuzzbound), either an event that passes Validate or an error.
func FuzzDecode(f *testing.F) {
	for _, pattern := range []string{"../*/testdata/*.json*", "../*/testdata/*/*.json"} {
		files, _ := filepath.Glob(pattern)
		for _, file := range files {
			if b, err := os.ReadFile(file); err == nil {
				f.Add(b)
			}
		}
	}
	f.Add([]byte(`{"type":"Event","id":"https://e.example/1","name":"n","startTime":"2025-01-01T00:00:00Z","location":[{"geo":{"latitude":1e308,"longitude":-1e308}}]}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		for _, rules := range []Rules{{}, {Location: LocationRules{GeoSwapped: true}, GeneratedSummary: true, BannerLabel: "Banner", OnlyWebsiteLink: true}} {
			var ev bridges.Event
			var err error
			fuzzbound.Check(t, len(raw), fuzzbound.Limits{Base: 4 << 20, PerByte: 200}, func() { ev, _, err = Decode(raw, rules) })
			if err != nil {
				continue
			}
			if verr := ev.Validate(); verr != nil {
				t.Fatalf("Decode returned an invalid event without error: %v", verr)
			}
		}
	})
}
