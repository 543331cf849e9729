package mail

import (
	"os"
	"strings"
	"testing"
	"time"

	"passerelle/bridges/peertube"
	"passerelle/ical"
)

// TestComposePeerTubeLive checks that the mails about a PeerTube scheduled
// live (JoinExternal, online, no place) need nothing PeerTube-specific:
// the invitation links the watch page and says it is online, and the
// answer to it points to the watch page.
func TestComposePeerTubeLive(t *testing.T) {
	raw, err := os.ReadFile("../bridges/peertube/testdata/live-scheduled-built.json")
	if err != nil {
		t.Fatal(err)
	}
	ev, err := peertube.Decode(raw)
	if err != nil {
		t.Fatal(err)
	}
	request, err := (&ical.Renderer{}).ITIP(&ev, "REQUEST", ical.Invitee{Organizer: "events+r-tok@example.org", Attendee: "ana@example.org", PartStat: "NEEDS-ACTION"})
	if err != nil {
		t.Fatal(err)
	}
	for _, kind := range []Kind{KindInvitation, KindExternal} {
		var cal []byte
		if kind.Method() != "" {
			cal = request
		}
		o := &Outgoing{Calendar: cal, Kind: kind, Event: &ev, From: "Passerelle <events@example.org>", To: "ana@example.org",
			ReplyTo: "events+r-tok@example.org", MessageID: "m1@example.org", UnsubscribeURL: "https://events.example.org/u/x",
			Date: time.Date(2025, 7, 1, 10, 0, 0, 0, time.UTC)}
		b, err := o.Bytes()
		if err != nil {
			t.Fatalf("%s: %v", kind, err)
		}
		text := strings.ReplaceAll(string(b), "=\r\n", "")
		for _, want := range []string{ev.URL, "online"} {
			if !strings.Contains(text, want) {
				t.Errorf("%s mail lacks %q", kind, want)
			}
		}
	}
}
