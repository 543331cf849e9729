package mail

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"codeberg.org/passerelle/passerelle/bridges"
	"codeberg.org/passerelle/passerelle/internal/storetest"
	"codeberg.org/passerelle/passerelle/store"
)

var personalLinkRe = regexp.MustCompile(`https://passerelle\.test/feeds/personal/([a-z2-7]+)\.ics`)

// TestOneCalendarLinkPerParticipant: every mail to a participant carries
// the same personal calendar link, and one token is stored for them (each
// mail minted one that never expired: 5 tokens for 2 people).
func TestOneCalendarLinkPerParticipant(t *testing.T) {
	ctx := context.Background()
	env := newFlow(t, bridges.JoinFree)
	second := &bridges.StoredEvent{Event: env.event.Event}
	second.ID = 0
	second.APID += "-2"
	second.CreatedAt, second.ModifiedAt = time.Now(), time.Now()
	if err := env.db.Tx(ctx, func(ctx context.Context, tx *store.Tx) error { return tx.SaveEvent(ctx, second) }); err != nil {
		t.Fatal(err)
	}
	if _, err := env.rsvp.Invite(ctx, "ana@example.net", []int64{env.event.ID}); err != nil {
		t.Fatal(err)
	}
	env.smtp.Wait(t, 1, 20*time.Second)
	if _, err := env.rsvp.Invite(ctx, "ana@example.net", []int64{second.ID}); err != nil {
		t.Fatal(err)
	}
	msgs := env.smtp.Wait(t, 2, 20*time.Second)
	var links []string
	for _, m := range msgs {
		l := personalLinkRe.FindSubmatch([]byte(strings.ReplaceAll(string(m), "=\r\n", "")))
		if l == nil {
			t.Fatalf("no personal calendar link in:\n%s", m)
		}
		links = append(links, string(l[1]))
	}
	if links[0] != links[1] {
		t.Errorf("two mails, two calendar links %q: want one", links)
	}
	var n int
	if err := storetest.QueryRow(env.db, "SELECT COUNT(*) FROM calendar_tokens").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Errorf("%d calendar tokens stored, want 1", n)
	}
	if _, err := env.db.ParticipantByCalendarToken(ctx, bridges.HashToken(links[0])); err != nil {
		t.Errorf("the mailed link does not open the calendar: %v", err)
	}
}
