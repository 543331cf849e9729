package bridges

import (
	"strings"
	"testing"
	"time"
)

func TestValidateNamesWhatIsWrong(t *testing.T) {
	start := time.Date(2026, 5, 1, 19, 0, 0, 0, time.UTC)
	good := Event{APID: "https://m.test/events/1", Title: "Assemblée", Start: start, Status: StatusConfirmed, JoinMode: JoinFree}
	for _, tc := range []struct {
		name string
		edit func(*Event)
		want string
	}{
		{"ok", func(*Event) {}, ""},
		{"no id", func(e *Event) { e.APID = "" }, "no id"},
		{"blank title", func(e *Event) { e.Title = "  " }, "no title"},
		{"no start", func(e *Event) { e.Start = time.Time{} }, "no start"},
		{"ends before start", func(e *Event) { e.End = start.Add(-time.Minute) }, "ends"},
		{"bad status", func(e *Event) { e.Status = "postponed" }, `unknown event status "postponed"`},
		{"bad join mode", func(e *Event) { e.JoinMode = "lottery" }, `unknown join mode "lottery"`},
		{"bad zone", func(e *Event) { e.TimeZone = "Europe/Atlantis" }, `unknown time zone "Europe/Atlantis"`},
	} {
		ev := good
		tc.edit(&ev)
		err := ev.Validate()
		if (err == nil) != (tc.want == "") || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%s: Validate() = %v, want %q", tc.name, err, tc.want)
		}
	}
}

func TestParseStatusAndJoinMode(t *testing.T) {
	for in, want := range map[string]Status{"": StatusConfirmed, "CONFIRMED": StatusConfirmed, "TENTATIVE": StatusTentative, "CANCELLED": StatusCancelled, "canceled": StatusCancelled} {
		if got, err := ParseStatus(in); err != nil || got != want {
			t.Errorf("ParseStatus(%q) = %q, %v", in, got, err)
		}
	}
	for in, want := range map[string]JoinMode{"": JoinFree, "FREE": JoinFree, "restricted": JoinRestricted, "invite": JoinInvite, "external": JoinExternal} {
		if got, err := ParseJoinMode(in); err != nil || got != want {
			t.Errorf("ParseJoinMode(%q) = %q, %v", in, got, err)
		}
	}
}

func TestDigestsSeparateMaterialFromMinorChanges(t *testing.T) {
	rem := 3
	a := Event{APID: "x", Title: "T", Start: time.Unix(1e9, 0), RemainingCapacity: &rem, Tags: []string{"a", "b"}}
	b := a
	rem2 := 2
	b.RemainingCapacity, b.ParticipantCount = &rem2, 9
	if a.MaterialDigest() != b.MaterialDigest() || a.Digest() == b.Digest() {
		t.Error("a participant count change must change Digest but not MaterialDigest")
	}
	c := a
	c.Tags = []string{"ab"} // must not collide with ["a","b"]
	if a.MaterialDigest() == c.MaterialDigest() {
		t.Error("tags [a b] and [ab] share a digest")
	}
	d := a
	d.Place = &Place{Locality: "Nantes"}
	if a.MaterialDigest() == d.MaterialDigest() {
		t.Error("a new place is not a material change")
	}
}

func TestPlaceAddress(t *testing.T) {
	p := &Place{Name: "Maison du peuple", Street: "1 rue de la Paix", PostalCode: "44000", Locality: "Nantes", Country: "France"}
	if got := p.Address(); got != "Maison du peuple, 1 rue de la Paix, 44000 Nantes, France" {
		t.Errorf("Address() = %q", got)
	}
	if (&Place{Name: "Nantes", Locality: "Nantes"}).Address() != "Nantes" {
		t.Error("repeated parts must be shown once")
	}
	var none *Place
	if none.Address() != "" || !none.Empty() {
		t.Error("nil place")
	}
}

func TestOver(t *testing.T) {
	start := time.Date(2026, 5, 1, 19, 0, 0, 0, time.UTC)
	e := Event{Start: start, End: start.Add(2 * time.Hour)}
	if e.Over(start.Add(time.Hour)) || !e.Over(start.Add(2*time.Hour)) {
		t.Error("an event is over at its end")
	}
	open := Event{Start: start}
	if open.Over(start.Add(23*time.Hour)) || !open.Over(start.Add(25*time.Hour)) {
		t.Error("an event without an end stays for a day")
	}
}
