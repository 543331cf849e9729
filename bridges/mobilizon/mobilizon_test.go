package mobilizon

import (
	"errors"
	"strings"
	"testing"
	"time"

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

// The 2019 capture nests coordinates under `geo`, swapped: the place is the
// Château des Ducs de Bretagne in Nantes, 47.216° N, 1.549° W.
func TestSwappedGeoCoordinates2019(t *testing.T) {
	ev := decodeFile(t, "event-object-mobilizon.org-2019.json")
	p := ev.Place
	if p == nil || p.Latitude == nil || p.Longitude == nil {
		t.Fatalf("place or coordinates missing: %+v", p)
	}
	if *p.Latitude != 47.21617415 || *p.Longitude != -1.54939699141711 {
		t.Errorf("coordinates = (%v, %v), want Nantes (47.21617415, -1.54939699141711)", *p.Latitude, *p.Longitude)
	}
	if p.Street != "" || p.PostalCode != "" {
		t.Errorf("blank street %q / null postal code %q should be empty", p.Street, p.PostalCode)
	}
	if p.Locality != "Nantes" || p.Name != "Cour du Château des Ducs de Bretagne" {
		t.Errorf("place = %+v", p)
	}
}

// Top-level coordinates (Mobilizon ≥ 1.0) are read as given.
func TestTopLevelCoordinatesAsGiven(t *testing.T) {
	ev := decodeFile(t, "event-5.1.3-restricted-overbooked-from-format.json")
	if p := ev.Place; p == nil || *p.Latitude != 45.7676 || *p.Longitude != 4.8344 {
		t.Errorf("place = %+v, want Lyon 45.7676, 4.8344", p)
	}
}

func TestCapacity(t *testing.T) {
	base := `{"type":"Event","id":"https://m.example/events/1","name":"x","startTime":"2025-05-01T19:00:00Z"%s}`
	neg := -2
	tests := []struct {
		name      string
		extra     string
		max       int
		remaining *int
	}{
		{"zero is unlimited", `,"maximumAttendeeCapacity":0,"remainingAttendeeCapacity":null`, 0, nil},
		{"null is unlimited", `,"maximumAttendeeCapacity":null`, 0, nil},
		{"absent is unlimited", ``, 0, nil},
		{"remaining ignored when unlimited", `,"maximumAttendeeCapacity":0,"remainingAttendeeCapacity":5`, 0, nil},
		{"negative remaining kept", `,"maximumAttendeeCapacity":30,"remainingAttendeeCapacity":-2`, 30, &neg},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := Decode([]byte(strings.Replace(base, "%s", tt.extra, 1)))
			if err != nil {
				t.Fatal(err)
			}
			if ev.MaxCapacity != tt.max {
				t.Errorf("MaxCapacity = %d, want %d", ev.MaxCapacity, tt.max)
			}
			switch {
			case tt.remaining == nil && ev.RemainingCapacity != nil:
				t.Errorf("RemainingCapacity = %d, want nil (unlimited)", *ev.RemainingCapacity)
			case tt.remaining != nil && (ev.RemainingCapacity == nil || *ev.RemainingCapacity != *tt.remaining):
				t.Errorf("RemainingCapacity = %v, want %d", ev.RemainingCapacity, *tt.remaining)
			}
		})
	}
	ev := decodeFile(t, "event-object-mobilizon.org-2019.json")
	if ev.MaxCapacity != 0 || ev.RemainingCapacity != nil {
		t.Errorf("2019 capture (maximumAttendeeCapacity 0): MaxCapacity %d, RemainingCapacity %v; want unlimited", ev.MaxCapacity, ev.RemainingCapacity)
	}
}

func TestTimeZoneAndOffsets(t *testing.T) {
	ev := decodeFile(t, "event-5.1.3-restricted-overbooked-from-format.json")
	if ev.TimeZone != "Europe/Paris" {
		t.Errorf("TimeZone = %q", ev.TimeZone)
	}
	if want := time.Date(2025, 5, 1, 17, 0, 0, 0, time.UTC); !ev.Start.Equal(want) {
		t.Errorf("Start = %v, want %v", ev.Start, want)
	}
	if got := ev.Start.In(ev.Location()).Format("15:04"); got != "19:00" {
		t.Errorf("local start = %s, want 19:00 Paris time", got)
	}
}

func TestCancelledDraftUnlisted(t *testing.T) {
	ev := decodeFile(t, "event-5.1.3-cancelled-draft-unlisted-from-format.json")
	if ev.Status != bridges.StatusCancelled {
		t.Errorf("Status = %q, want cancelled", ev.Status)
	}
	if !ev.Draft {
		t.Error("Draft = false, want true")
	}
	if ev.Public {
		t.Error("Public = true for an event with as:Public only in cc")
	}
	if ev.JoinMode != bridges.JoinExternal || ev.ExternalParticipationURL != "https://tickets.example/atelier" {
		t.Errorf("join = %q %q", ev.JoinMode, ev.ExternalParticipationURL)
	}
	if !ev.Online || ev.OnlineURL != "https://meet.example/atelier" {
		t.Errorf("online = %v %q, want the visio metadata URL", ev.Online, ev.OnlineURL)
	}
	if ev.Language != "" || ev.TimeZone != "" || !ev.End.IsZero() || ev.DescriptionHTML != "" {
		t.Errorf("und language / null timezone, end, content not empty: %+v", ev)
	}
	if ev.Summary != "" {
		t.Errorf("generated summary kept: %q", ev.Summary)
	}
}

func TestStatusFromIcalStatus(t *testing.T) {
	ev, err := Decode([]byte(`{"type":"Event","id":"https://m.example/events/1","name":"x","startTime":"2019-12-18T13:00:00Z","ical:status":"TENTATIVE"}`))
	if err != nil {
		t.Fatal(err)
	}
	if ev.Status != bridges.StatusTentative {
		t.Errorf("Status = %q, want tentative", ev.Status)
	}
}

func TestBannerAndLinks(t *testing.T) {
	ev := decodeFile(t, "event-5.1.3-restricted-overbooked-from-format.json")
	if ev.BannerURL != "https://mobilizon.example/media/banner.jpg" || ev.BannerAlt != "" {
		t.Errorf("banner %q alt %q; want the Banner document and no alt (its name is a label)", ev.BannerURL, ev.BannerAlt)
	}
	if ev.OnlineURL != "https://visio.example/room" {
		t.Errorf("OnlineURL = %q, want the Website link", ev.OnlineURL)
	}
	ev = decodeFile(t, "create-event-with-attachments-testfixture.json")
	if ev.OnlineURL != "https://google.com" {
		t.Errorf("OnlineURL = %q, want the Link named Website, not the first Link", ev.OnlineURL)
	}
	if ev.BannerURL != "https://mobilizon.fr/some-image" || ev.BannerAlt != "" {
		t.Errorf("banner = %q %q", ev.BannerURL, ev.BannerAlt)
	}
	if len(ev.Tags) != 0 {
		t.Errorf("a Mention became a tag: %v", ev.Tags)
	}
}

func TestGroupOrganiser(t *testing.T) {
	ev := decodeFile(t, "create-event-in-group-testfixture.json")
	if ev.OrganizerURL != "http://mobilizon1.com/@group" {
		t.Errorf("OrganizerURL = %q, want the group", ev.OrganizerURL)
	}
	if ev.Public {
		t.Error("event addressed to the group only is public")
	}
}

func TestMalformed(t *testing.T) {
	tests := []struct{ doc, field string }{
		{`not json`, "decode object JSON"},
		{`[]`, "decode object JSON"},
		{`{"type":"Event","name":"x","startTime":"2025-01-01T00:00:00Z"}`, "id: missing"},
		{`{"type":"Event","id":"/events/1","name":"x","startTime":"2025-01-01T00:00:00Z"}`, "id:"},
		{`{"id":"https://m.example/e","name":"x"}`, "type: missing"},
		{`{"type":"Event","id":"https://m.example/e","startTime":"2025-01-01T00:00:00Z"}`, "name:"},
		{`{"type":"Event","id":"https://m.example/e","name":"x"}`, "startTime: missing"},
		{`{"type":"Event","id":"https://m.example/e","name":"x","startTime":"tomorrow"}`, "startTime: want an ISO 8601"},
		{`{"type":"Event","id":"https://m.example/e","name":"x","startTime":12}`, "startTime:"},
		{`{"type":"Event","id":"https://m.example/e","name":"x","startTime":"2025-01-02T00:00:00Z","endTime":"2025-01-01T00:00:00Z"}`, "endTime:"},
		{`{"type":"Event","id":"https://m.example/e","name":"x","startTime":"2025-01-01T00:00:00Z","timezone":"Mars/Olympus"}`, "timezone:"},
		{`{"type":"Event","id":"https://m.example/e","name":"x","startTime":"2025-01-01T00:00:00Z","joinMode":"maybe"}`, "joinMode:"},
		{`{"type":"Event","id":"https://m.example/e","name":"x","startTime":"2025-01-01T00:00:00Z","status":"POSTPONED"}`, "status:"},
		{`{"type":"Event","id":"https://m.example/e","name":"x","startTime":"2025-01-01T00:00:00Z","maximumAttendeeCapacity":-1}`, "maximumAttendeeCapacity:"},
		{`{"type":"Event","id":"https://m.example/e","name":"x","startTime":"2025-01-01T00:00:00Z","maximumAttendeeCapacity":"ten"}`, "maximumAttendeeCapacity:"},
		{`{"type":"Event","id":"https://m.example/e","name":"x","startTime":"2025-01-01T00:00:00Z","participantCount":1.5}`, "participantCount:"},
		{`{"type":"Event","id":"https://m.example/e","name":"x","startTime":"2025-01-01T00:00:00Z","draft":"no"}`, "draft:"},
		{`{"type":"Event","id":"https://m.example/e","name":"x","startTime":"2025-01-01T00:00:00Z","externalParticipationUrl":"javascript:x"}`, "externalParticipationUrl:"},
	}
	for _, tt := range tests {
		_, err := Decode([]byte(tt.doc))
		if err == nil || !strings.Contains(err.Error(), tt.field) {
			t.Errorf("Decode(%s) = %v, want an error naming %q", tt.doc, err, tt.field)
		}
		if errors.Is(err, bridges.ErrNotAnEvent) {
			t.Errorf("Decode(%s): malformed event reported as not an event", tt.doc)
		}
	}
}

func TestNotAnEvent(t *testing.T) {
	for _, doc := range []string{
		`{"type":"Note","id":"https://m.example/comments/1","content":"hi"}`,
		`{"type":"Tombstone","id":"https://m.example/events/1","formerType":"Event"}`,
		`{"type":"mz:Unknown","id":"https://m.example/x/1"}`,
	} {
		if _, err := Decode([]byte(doc)); !errors.Is(err, bridges.ErrNotAnEvent) {
			t.Errorf("Decode(%s) = %v, want bridges.ErrNotAnEvent", doc, err)
		}
	}
}
