// Package eventfixtures holds the bridges.Events that the calendar tests
// share (ical golden files, CalDAV and feed tests with real clients): values
// taken from the shared ActivityPub fixtures, and events that cross DST
// changes in Europe/Paris and America/New_York.
package eventfixtures

import (
	"time"

	"codeberg.org/passerelle/passerelle/bridges"
)

func ptr[T any](v T) *T { return &v }

func mustTime(s string) time.Time {
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return v
}

// Events returns fresh copies of the events that ical's golden files and
// the calendar tests show, by name. The first two carry
// the values of the shared fixtures (mobilizon/event-object-mobilizon.org-
// 2019.json with its actor, gancio/create-event-demo.gancio.org-2021.json) as
// the dialects map them; the others exercise zones across DST changes and
// parameter quoting.
func Events() map[string]*bridges.Event {
	return map[string]*bridges.Event{
		"mobilizon-2019": {
			APID:            "https://mobilizon.org/events/252d5816-00a3-4a89-a66f-15bf65c33e39",
			URL:             "https://mobilizon.org/events/252d5816-00a3-4a89-a66f-15bf65c33e39",
			Title:           "Mobilizon Launching Party",
			DescriptionHTML: "<p>Mobilizon is now federated! 🎉</p><p></p><p>With a Mobilizon account on an instance, you may <strong>participate</strong> at events from other instances and <strong>add comments</strong> on events.</p>",
			Start:           mustTime("2019-12-18T13:00:00Z"),
			End:             mustTime("2019-12-18T14:00:00Z"),
			Status:          bridges.StatusConfirmed,
			JoinMode:        bridges.JoinFree,
			Place: &bridges.Place{
				Name: "Cour du Château des Ducs de Bretagne", Locality: "Nantes",
				Region: "Pays de la Loire", Country: "France",
				Latitude: ptr(47.21617415), Longitude: ptr(-1.54939699141711),
			},
			Tags:          []string{"Mobilizon", "Federation", "ActivityPub", "Party"},
			Category:      "meeting",
			OrganizerName: "Thomas Citharel",
			OrganizerURL:  "https://mobilizon.org/@tcit",
			Public:        true,
			Published:     mustTime("2019-12-17T11:33:56Z"),
			Updated:       mustTime("2019-12-17T12:25:01Z"),
		},
		"gancio-2021": {
			APID:            "https://demo.gancio.org/federation/m/1",
			URL:             "https://demo.gancio.org/event/demo-event",
			Title:           "Demo event",
			DescriptionText: "📍 Colosseo\n📅 Wednesday, 14 July (17:30)",
			Start:           mustTime("2021-07-14T17:30:57+02:00"),
			End:             mustTime("2021-07-14T18:30:57+02:00"),
			Status:          bridges.StatusConfirmed,
			JoinMode:        bridges.JoinFree,
			Place:           &bridges.Place{Name: "Colosseo"},
			Tags:            []string{"test"},
			OrganizerURL:    "https://demo.gancio.org/federation/u/gancio",
			Public:          true,
			Published:       mustTime("2021-07-01T22:33:36Z"),
		},
		// Overnight across the spring-forward change (02:00 → 03:00 on
		// 2025-03-30): 22:00 CET to 10:00 CEST is 11 hours.
		"paris-dst": {
			APID:            "https://mobilizon.example/events/0b6c5c8e-2b1e-4f53-9a55-5e3b8a0c1d2e",
			URL:             "https://mobilizon.example/events/0b6c5c8e-2b1e-4f53-9a55-5e3b8a0c1d2e",
			Title:           "Nuit des fablabs; atelier, démo & apéro",
			DescriptionHTML: `<p>Une nuit entière à <a href="https://fablab.example/">notre fablab</a>.</p><ul><li>soudure</li><li>impression 3D</li></ul>`,
			DescriptionText: "Une nuit entière à notre fablab (https://fablab.example/).\n\n- soudure\n- impression 3D",
			Start:           mustTime("2025-03-29T22:00:00+01:00"),
			End:             mustTime("2025-03-30T10:00:00+02:00"),
			TimeZone:        "Europe/Paris",
			Status:          bridges.StatusTentative,
			JoinMode:        bridges.JoinRestricted,
			Online:          true,
			OnlineURL:       "https://visio.example/b/fab-lab",
			Place: &bridges.Place{
				Name: "Fablab \"Le Comptoir\"", Street: "12, rue des Ateliers", PostalCode: "75011",
				Locality: "Paris", Country: "France", Latitude: ptr(48.8589), Longitude: ptr(2.3795),
			},
			Tags:          []string{"#fablab", "Fablab", "soudure"},
			BannerURL:     "https://mobilizon.example/media/banner.JPG",
			OrganizerName: "Doe, John",
			OrganizerURL:  "https://mobilizon.example/@john",
			Public:        true,
			Published:     mustTime("2025-02-01T09:00:00Z"),
			Updated:       mustTime("2025-02-03T10:30:00Z"),
			Sequence:      2,
		},
		// Across the autumn change in New York (02:00 EDT → 01:00 EST on
		// 2025-11-02) and cancelled.
		"new-york-cancelled": {
			APID:          "https://gancio.example/federation/m/42",
			URL:           "https://gancio.example/event/late-jazz",
			Title:         "Late jazz session",
			Summary:       "Bring your instrument",
			Start:         mustTime("2025-11-01T23:30:00-04:00"),
			End:           mustTime("2025-11-02T01:30:00-05:00"),
			TimeZone:      "America/New_York",
			Status:        bridges.StatusCancelled,
			JoinMode:      bridges.JoinFree,
			Place:         &bridges.Place{Name: "Smalls Jazz Club", Street: "183 W 10th St", Locality: "New York", Region: "NY", Country: "USA"},
			OrganizerName: "Gancio NYC",
			OrganizerURL:  "https://gancio.example/federation/u/relay",
			Public:        true,
			Updated:       mustTime("2025-10-20T15:00:00Z"),
			Sequence:      1,
		},
	}
}
