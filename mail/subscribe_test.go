package mail

import (
	"context"
	"strings"
	"testing"
	"time"

	"codeberg.org/passerelle/passerelle/bridges"
	"codeberg.org/passerelle/passerelle/ical"
	"codeberg.org/passerelle/passerelle/store"
)

// TestJoinMailSubscribes: a mail to rsvp+join-SLUG@ brings an invitation
// to each upcoming public event of the source, and later one to each new
// event of it; a replay, an unknown source and an unsubscribed sender
// bring nothing.
func TestJoinMailSubscribes(t *testing.T) {
	ctx := context.Background()
	env := newFlow(t, bridges.JoinFree)
	src := &bridges.Source{Slug: "velo", Name: "Atelier vélo", ActorURL: "https://mobilizon.test/@velo", Software: "mobilizon", State: bridges.SourceFollowed, CreatedAt: time.Now()}
	if err := env.db.Tx(ctx, func(ctx context.Context, tx *store.Tx) error { return tx.SaveSource(ctx, src) }); err != nil {
		t.Fatal(err)
	}
	events := &bridges.Events[*store.Tx]{Store: env.db, Renderer: &ical.Renderer{}, Listeners: []bridges.ChangeListener[*store.Tx]{env.rsvp}}
	start := time.Now().Add(48 * time.Hour).Truncate(time.Hour)
	add := func(n int, public bool, when time.Time) {
		t.Helper()
		_, err := events.Apply(ctx, bridges.Event{APID: "https://mobilizon.test/events/velo-" + string(rune('a'+n)), Title: "Atelier", Start: when,
			Status: bridges.StatusConfirmed, JoinMode: bridges.JoinFree, Public: public, SourceID: src.ID, OrganizerURL: "https://mobilizon.test/@velo"}, nil)
		if err != nil {
			t.Fatal(err)
		}
	}
	add(0, true, start)
	add(1, false, start)                        // not public: no invitation
	add(2, true, time.Now().Add(-48*time.Hour)) // over: none either

	join := func(id, from, to string) bridges.Outcome {
		t.Helper()
		raw := "From: " + from + "\r\nTo: " + to + "\r\nMessage-ID: <" + id + ">\r\nSubject: hello\r\n\r\nplease add me\r\n"
		out, err := env.recv.Receive(ctx, strings.NewReader(raw))
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	out := join("j1@example.net", "Ana <ana@example.net>", "rsvp+join-velo@passerelle.test")
	if out.Subscribed != "velo" || len(out.Invited) != 1 {
		t.Fatalf("join mail: %+v", out)
	}
	if out := join("j1@example.net", "ana@example.net", "rsvp+join-velo@passerelle.test"); out.Ignored == "" {
		t.Errorf("replayed join mail acted: %+v", out)
	}
	if out := join("j2@example.net", "bob@example.net", "rsvp+join-nothing@passerelle.test"); out.Ignored == "" || out.Subscribed != "" {
		t.Errorf("join mail for an unknown source: %+v", out)
	}
	env.smtp.Wait(t, 1, 20*time.Second)

	// A new public event of the source: the subscriber is invited.
	add(3, true, start.Add(24*time.Hour))
	msgs := env.smtp.Wait(t, 2, 20*time.Second)
	if !strings.Contains(string(msgs[1]), "X-Envelope-To: ana@example.net") || !strings.Contains(string(msgs[1]), "method=REQUEST") {
		t.Errorf("no invitation to the new event:\n%.400s", msgs[1])
	}

	// Unsubscribed: neither the join mail nor new events send anything.
	if err := env.db.Tx(ctx, func(ctx context.Context, tx *store.Tx) error { return tx.Unsubscribe(ctx, "ana@example.net") }); err != nil {
		t.Fatal(err)
	}
	if out := join("j3@example.net", "ana@example.net", "rsvp+join-velo@passerelle.test"); out.Ignored == "" {
		t.Errorf("join mail from an unsubscribed address: %+v", out)
	}
	add(4, true, start.Add(48*time.Hour))
	time.Sleep(500 * time.Millisecond)
	if n := len(env.smtp.Messages(t)); n != 2 {
		t.Errorf("%d mails, want 2: nothing after unsubscribing", n)
	}
}
