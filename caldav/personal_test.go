package caldav_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"codeberg.org/passerelle/passerelle/bridges"
	"codeberg.org/passerelle/passerelle/caldav"
	"codeberg.org/passerelle/passerelle/ical"
	"codeberg.org/passerelle/passerelle/internal/storetest"
	"codeberg.org/passerelle/passerelle/store"
)

func TestPersonalSyncToken(t *testing.T) { storetest.Each(t, testPersonalSyncToken) }

// testPersonalSyncToken: a personal calendar answers a sync-token it never
// issued (a position past its calendar log's last) with 403
// DAV:valid-sync-token, as the public calendars do, and the tokens it
// issued with 207.
func testPersonalSyncToken(t *testing.T, db *store.DB) {
	ctx := context.Background()
	env, stored := loaded(t, db)
	const token = "personal-secret-token"
	err := db.Tx(ctx, func(ctx context.Context, tx *store.Tx) error {
		p := &bridges.Participant{Address: "ana@example.net", DisplayName: "Ana", CreatedAt: time.Now()}
		if err := tx.SaveParticipant(ctx, p); err != nil {
			return err
		}
		now := time.Now()
		if err := tx.SaveInvitation(ctx, &bridges.Invitation{ParticipantID: p.ID, EventID: stored["paris-dst"].ID,
			State: bridges.StateJoined, AnsweredAt: now, CreatedAt: now, UpdatedAt: now}); err != nil {
			return err
		}
		return tx.AddCalendarToken(ctx, p.ID, bridges.HashToken(token))
	})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	public := &caldav.DBStore{DB: db}
	owners := &caldav.Owners{Public: public, Personal: &caldav.PersonalStore{DB: db, Renderer: &ical.Renderer{}, Organizer: "rsvp@example.org"}}
	caldav.Mount(mux, &caldav.Server{Store: owners}, &caldav.Feeds{Store: public, PublicURL: env.URL}, caldav.MountOptions{})

	cal := srv.URL + "/dav/calendars/" + token + "/personal/"
	resp, out := do(t, "REPORT", cal, fmt.Sprintf(syncTmpl, ""))
	if resp.StatusCode != 207 || len(hrefs(out)) != 1 {
		t.Fatalf("initial sync: %d, members %v:\n%s", resp.StatusCode, hrefs(out), out)
	}
	issued := tokenOf(t, out)
	if resp, out := do(t, "REPORT", cal, fmt.Sprintf(syncTmpl, issued)); resp.StatusCode != 207 || len(hrefs(out)) != 0 {
		t.Errorf("sync with the issued token: %d, members %v", resp.StatusCode, hrefs(out))
	}
	for _, bad := range []string{"data:,passerelle-sync-999999999", "data:,passerelle-sync-9999999999999999"} {
		resp, out := do(t, "REPORT", cal, fmt.Sprintf(syncTmpl, bad))
		if resp.StatusCode != 403 || !strings.Contains(out, "<d:valid-sync-token/>") {
			t.Errorf("token %q: %d, want 403 valid-sync-token:\n%s", bad, resp.StatusCode, out)
		}
	}
}
