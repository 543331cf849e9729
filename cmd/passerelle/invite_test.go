package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"codeberg.org/passerelle/passerelle/bridges"
	"codeberg.org/passerelle/passerelle/internal/binarytest"
	"codeberg.org/passerelle/passerelle/internal/storetest"
	"codeberg.org/passerelle/passerelle/store"
)

// TestInviteSaysWhatIsWrongAndWhy (issue 14, point 9): bad input exits 2
// naming it, as the README says, and an invitation run that queues
// nothing says why, per address and event. Both backends.
func TestInviteSaysWhatIsWrongAndWhy(t *testing.T) {
	for _, backend := range []string{store.SQLite, store.Postgres} {
		t.Run(backend, func(t *testing.T) {
			u := storetest.URL(t, backend)
			db := storetest.Open(t, u)
			src := &bridges.Source{Slug: "velo", ActorURL: "https://mobilizon.example/@velo", Software: "mobilizon", State: bridges.SourceFollowed}
			storetest.SaveSources(t, db, src)
			ctx := context.Background()
			evs := &bridges.Events[*store.Tx]{Store: db}
			ids := map[string]int64{}
			start := time.Now().Add(48 * time.Hour).Truncate(time.Second)
			for _, e := range []bridges.Event{
				{Title: "Balade", Status: bridges.StatusConfirmed},
				{Title: "Atelier", Status: bridges.StatusCancelled},
				{Title: "Brouillon", Status: bridges.StatusConfirmed, Draft: true},
			} {
				e.APID = "https://mobilizon.example/events/" + strings.ToLower(e.Title)
				e.SourceID, e.JoinMode, e.Public, e.Start, e.End = src.ID, bridges.JoinFree, true, start, start.Add(time.Hour)
				if _, err := evs.Apply(ctx, e, nil); err != nil {
					t.Fatal(err)
				}
				stored, err := db.EventByAPID(ctx, e.APID)
				if err != nil {
					t.Fatal(err)
				}
				ids[e.Title] = stored.ID
			}
			env := []string{"PASSERELLE_DATABASE_URL=" + u, "PASSERELLE_MAIL_FROM=Passerelle <events@example.org>", "PASSERELLE_MAIL_SMTP=smtp://127.0.0.1:1"}
			dir := t.TempDir()
			cli := func(args ...string) binarytest.Result { t.Helper(); return binarytest.Run(t, dir, env, args...) }
			balade, atelier := fmt.Sprint(ids["Balade"]), fmt.Sprint(ids["Atelier"])

			for _, tc := range []struct {
				args []string
				code int
				out  string
			}{
				{[]string{"invite", "--event", balade, "ana@example.net", "not-an-address"}, 2, `"not-an-address" is not a mail address`},
				{[]string{"invite", "--event", "999", "ana@example.net"}, 2, "no event 999"},
				{[]string{"events", "--source", "nope"}, 2, `no source named "nope"`},
				{[]string{"invite", "--source", "nope", "ana@example.net"}, 2, `no source named "nope"`},
				{[]string{"invite", "--event", fmt.Sprint(ids["Brouillon"]), "ana@example.net"}, 2, "is not public"},
				{[]string{"invite", "--event", atelier, "ana@example.net"}, 0, "ana@example.net: 0 invitation(s) queued (not invited to event " + atelier + ": cancelled)"},
				{[]string{"invite", "--event", balade, "ana@example.net"}, 0, "ana@example.net: 1 invitation(s) queued\n"},
				{[]string{"invite", "--event", balade, "ana@example.net"}, 0, "ana@example.net: 0 invitation(s) queued (not invited to event " + balade + ": already invited)"},
				{[]string{"invite", "--source", "velo", "ana@example.net", "bob@example.net"}, 0,
					"ana@example.net: 0 invitation(s) queued (not invited to event " + balade + ": already invited; event " + atelier + ": cancelled)\n" +
						"bob@example.net: 1 invitation(s) queued (not invited to event " + atelier + ": cancelled)\n"},
			} {
				r := cli(tc.args...)
				got := r.Stdout
				if tc.code != 0 {
					got = r.Stderr
				}
				if r.Code != tc.code || !strings.Contains(got, tc.out) {
					t.Errorf("%v: exit %d (want %d)\nstdout: %s\nstderr: %s\nwant: %s", tc.args, r.Code, tc.code, r.Stdout, r.Stderr, tc.out)
				}
			}
			// The refused run invited nobody, not even its valid address.
			var n int
			if err := storetest.QueryRow(db, "SELECT COUNT(*) FROM invitations").Scan(&n); err != nil || n != 2 {
				t.Errorf("%d invitations stored (%v), want 2: ana's and bob's to the one upcoming event", n, err)
			}
		})
	}
}
