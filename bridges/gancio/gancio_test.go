package gancio

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"codeberg.org/passerelle/passerelle/bridges"
	"codeberg.org/passerelle/passerelle/bridges/asevent/eventtest"
)

func TestGolden(t *testing.T) {
	eventtest.Golden(t, Decode)
}

func demo(t *testing.T) bridges.Event {
	t.Helper()
	ev, err := Decode(eventtest.Load(t, "create-event-demo.gancio.org-2021.json"))
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

// Gancio gives "+02:00" and no zone name: the instant must be exact and
// no zone invented.
func TestOffsetWithoutZoneName(t *testing.T) {
	ev := demo(t)
	if want := time.Date(2021, 7, 14, 15, 30, 57, 0, time.UTC); !ev.Start.Equal(want) {
		t.Errorf("Start = %v, want %v", ev.Start, want)
	}
	if want := time.Date(2021, 7, 14, 16, 30, 57, 0, time.UTC); !ev.End.Equal(want) {
		t.Errorf("End = %v, want %v", ev.End, want)
	}
	if ev.TimeZone != "" {
		t.Errorf("TimeZone = %q, want empty: an offset names no zone", ev.TimeZone)
	}
}

func TestPlainTextContent(t *testing.T) {
	ev := demo(t)
	if want := "📍 Colosseo\n📅 Wednesday, 14 July (17:30)"; ev.DescriptionText != want {
		t.Errorf("DescriptionText = %q, want %q (lines kept)", ev.DescriptionText, want)
	}
	if want := "<p>📍 Colosseo<br>📅 Wednesday, 14 July (17:30)</p>"; ev.DescriptionHTML != want {
		t.Errorf("DescriptionHTML = %q, want %q", ev.DescriptionHTML, want)
	}
	if ev.Summary != "" {
		t.Errorf("generated summary kept: %q", ev.Summary)
	}
	if ev.Place == nil || ev.Place.Name != "Colosseo" {
		t.Errorf("untyped location {name}: Place = %+v", ev.Place)
	}
	if len(ev.Tags) != 1 || ev.Tags[0] != "test" {
		t.Errorf("Tags = %v, want [test]", ev.Tags)
	}
	if !ev.Public || ev.OrganizerURL != "https://demo.gancio.org/federation/u/gancio" || ev.OrganizerName != "" {
		t.Errorf("public %v organiser %q %q", ev.Public, ev.OrganizerURL, ev.OrganizerName)
	}
}

// The 1.22 object lacks startTime; with one added, its string address and
// its picture's alt text come through.
func TestStringAddressAndBannerAlt(t *testing.T) {
	var m map[string]any
	if err := json.Unmarshal(eventtest.Load(t, "event-object-v1.22-anonymized.json"), &m); err != nil {
		t.Fatal(err)
	}
	m["startTime"] = "2025-03-01T20:00:00+01:00"
	raw, _ := json.Marshal(m)
	ev, err := Decode(raw)
	if err != nil {
		t.Fatal(err)
	}
	if ev.Place == nil || ev.Place.Name != "Fediverse TV" || ev.Place.Street != "C/ Falsa 123" {
		t.Errorf("Place = %+v", ev.Place)
	}
	if ev.BannerURL != "http://remote.example/media/36755574a6e48a1ccd3351d35e1a371f.jpg" || ev.BannerAlt != "Picture Show alt" {
		t.Errorf("banner %q alt %q", ev.BannerURL, ev.BannerAlt)
	}
	if ev.DescriptionText != "This is the the content" {
		t.Errorf("DescriptionText = %q", ev.DescriptionText)
	}
}

func TestLocations(t *testing.T) {
	tests := []struct {
		file   string
		place  *bridges.Place
		online string
	}{
		{"location-physical-location-with-postal-address-testinput.json", &bridges.Place{
			Name: "Location with a postal address", Street: "15 Fediverse Street", PostalCode: "8010",
			Locality: "Fediverse Town", Region: "Steiermark", Country: "Austria"}, ""},
		{"location-virtual-location-testinput.json", nil, "https://virtual.location.org"},
		{"location-multiple-mixed-locations-testinput.json", &bridges.Place{Name: "Location with a name"}, "https://virtual.location.org"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			loc, err := os.ReadFile(filepath.Join("testdata", "locations", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			var m map[string]any
			if err := json.Unmarshal(eventtest.Load(t, "create-event-demo.gancio.org-2021.json"), &m); err != nil {
				t.Fatal(err)
			}
			m["location"] = json.RawMessage(loc)
			raw, _ := json.Marshal(m)
			ev, err := Decode(raw)
			if err != nil {
				t.Fatal(err)
			}
			if (ev.Place == nil) != (tt.place == nil) || (ev.Place != nil && *ev.Place != *tt.place) {
				t.Errorf("Place = %+v, want %+v", ev.Place, tt.place)
			}
			if ev.OnlineURL != tt.online || ev.Online != (tt.online != "") {
				t.Errorf("online %v %q, want %q", ev.Online, ev.OnlineURL, tt.online)
			}
		})
	}
}

func TestMissingStartNamesField(t *testing.T) {
	_, err := Decode(eventtest.Load(t, "event-object-v1.22-anonymized.json"))
	if err == nil || !strings.Contains(err.Error(), "startTime") {
		t.Errorf("err = %v, want one naming startTime", err)
	}
}
