package generic

import (
	"testing"

	"codeberg.org/passerelle/passerelle/bridges"
	"codeberg.org/passerelle/passerelle/bridges/asevent/eventtest"
)

func TestGolden(t *testing.T) {
	eventtest.Golden(t, Decode)
}

func decodeFile(t *testing.T, name string) bridges.Event {
	t.Helper()
	ev, err := Decode(eventtest.Load(t, name))
	if err != nil {
		t.Fatalf("Decode %s: %v", name, err)
	}
	return ev
}

func TestPlainEvent(t *testing.T) {
	ev := decodeFile(t, "as2-event-language-maps-built.json")
	checks := []struct {
		what      string
		got, want any
	}{
		{"title from nameMap", ev.Title, "Stammtisch"},
		{"language from contentMap", ev.Language, "de"},
		{"text", ev.DescriptionText, "Wir treffen uns wie immer.\n\n1. Essen\n2. Reden"},
		{"summary kept", ev.Summary, "Monatliches Treffen"},
		{"page URL is the text/html url", ev.URL, "https://events.example/e/42"},
		{"public with to as a string", ev.Public, true},
		{"organiser URL", ev.OrganizerURL, "https://events.example/org/stammtisch"},
		{"organiser name from the embedded actor", ev.OrganizerName, "Stammtisch Kreuzberg"},
		{"banner from image", ev.BannerURL, "https://events.example/media/hirsch.jpg"},
		{"banner alt", ev.BannerAlt, "Ein goldener Hirsch über der Tür"},
		{"online", ev.Online, true},
		{"online URL from the first html Link", ev.OnlineURL, "https://stream.example/stammtisch"},
		{"country object", ev.Place.Country, "Japan"},
		{"tags without duplicates or mentions", len(ev.Tags), 1},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: got %v, want %v", c.what, c.got, c.want)
		}
	}
	// Latitude 139.7 cannot be a latitude: the pair was written swapped.
	if p := ev.Place; p.Latitude == nil || *p.Latitude != 35.6717 || *p.Longitude != 139.7236 {
		t.Errorf("place = %+v, want Tokyo at (35.6717, 139.7236)", p)
	}
}

// The generic reading does not know Mobilizon 1.0-beta's swap: a `geo`
// pair within range is kept as given.
func TestGeoAsGiven(t *testing.T) {
	ev := decodeFile(t, "event-object-mobilizon.org-2019.json")
	if p := ev.Place; p == nil || *p.Latitude != -1.54939699141711 || *p.Longitude != 47.21617415 {
		t.Errorf("place = %+v, want the geo pair as given", p)
	}
}
