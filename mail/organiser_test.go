package mail

import (
	"strings"
	"testing"
	"time"
)

func TestOrganiserCompose(t *testing.T) {
	s := &OrganiserSender{From: "Passerelle <events@pass.example>"}
	msg := string(s.Compose(OrganiserJob{To: "orga@club.example", Calendar: "club", Event: "Repair café", EventURL: "https://pass.example/actors/club/events/k",
		Start: "2026-12-10T19:00:00+01:00", Participant: "https://mobilizon.example/@bob", Joined: true, Count: 3}, "id@pass.example", time.Unix(0, 0)))
	for _, want := range []string{"To: orga@club.example\r\n", "Subject: =?utf-8?q?New_participant:_Repair_caf=C3=A9?=\r\n", "Auto-Submitted: auto-generated\r\n",
		"https://mobilizon.example/@bob joined \"Repair café\"", "Participants now: 3.", "@club"} {
		if !strings.Contains(msg, want) {
			t.Errorf("notice lacks %q:\n%s", want, msg)
		}
	}
}

// TestOrganiserComposePending: a Join held for approval says how to
// answer it.
func TestOrganiserComposePending(t *testing.T) {
	s := &OrganiserSender{From: "Passerelle <events@pass.example>"}
	msg := string(s.Compose(OrganiserJob{To: "orga@club.example", Calendar: "club", Event: "Repair café", EventURL: "https://pass.example/actors/club/events/k",
		EventKey: "k", Participant: "https://mobilizon.example/@bob", Joined: true, Pending: true}, "id@pass.example", time.Unix(0, 0)))
	for _, want := range []string{"Participation_to_approve", "https://mobilizon.example/@bob asks to join", "passerelle publish approve club https://mobilizon.example/@bob --event k"} {
		if !strings.Contains(msg, want) {
			t.Errorf("notice lacks %q:\n%s", want, msg)
		}
	}
}
