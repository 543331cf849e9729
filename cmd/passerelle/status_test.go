package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"codeberg.org/passerelle/passerelle/bridges"
	"codeberg.org/passerelle/passerelle/internal/binarytest"
	"codeberg.org/passerelle/passerelle/internal/storetest"
	"codeberg.org/passerelle/passerelle/store"
)

// TestStatus: `passerelle status` shows the admin what runs and the
// incoming activities the inbox gave up on (issue 13: a poison input is
// visible in status and the log), as text and as JSON, on both backends.
func TestStatus(t *testing.T) {
	for _, backend := range []string{store.SQLite, store.Postgres} {
		t.Run(backend, func(t *testing.T) {
			u := storetest.URL(t, backend)
			db := storetest.Open(t, u)
			storetest.SaveSources(t, db, &bridges.Source{Slug: "velo", ActorURL: "https://mobilizon.example/@velo", Software: "mobilizon", State: bridges.SourceFollowed})
			ctx := context.Background()
			env := []string{"PASSERELLE_DATABASE_URL=" + u}
			dir := t.TempDir()

			ms, err := store.Migrations()
			if err != nil {
				t.Fatal(err)
			}
			latest := ms[len(ms)-1].Version
			r := binarytest.Run(t, dir, env, "status")
			if r.Code != 0 || !strings.Contains(r.Stdout, "1 followed, 0 pending") || !strings.Contains(r.Stdout, fmt.Sprintf("schema %d", latest)) ||
				!strings.Contains(r.Stdout, "participations  none") ||
				!strings.Contains(r.Stdout, "No incoming activity was rejected.") || !strings.Contains(r.Stdout, "("+backend+", ") {
				t.Fatalf("status on a quiet instance: exit %d\nstdout: %s\nstderr: %s", r.Code, r.Stdout, r.Stderr)
			}

			for i, reason := range []string{"refetch object from its origin: HTTP 503", "still running after 6s"} {
				if _, err := storetest.Exec(db, `INSERT INTO inbox_pending (job_id, signer, body) VALUES (?, ?, ?)`, 1, "https://mobilizon.example/@velo", []byte(`{"type":"Announce"}`)); err != nil {
					t.Fatal(err)
				}
				var row int64
				if err := storetest.QueryRow(db, `SELECT MAX(id) FROM inbox_pending`).Scan(&row); err != nil {
					t.Fatal(err)
				}
				id := "https://mobilizon.example/announces/" + string(rune('a'+i))
				if err := db.RejectInboxActivity(ctx, row, id, reason, time.Now().Add(time.Duration(i)*time.Minute)); err != nil {
					t.Fatal(err)
				}
			}
			r = binarytest.Run(t, dir, env, "status", "--rejected", "1")
			if r.Code != 0 || !strings.Contains(r.Stdout, "rejected after every attempt: 2 in all") ||
				!strings.Contains(r.Stdout, "https://mobilizon.example/announces/b") || strings.Contains(r.Stdout, "announces/a") ||
				!strings.Contains(r.Stdout, "from https://mobilizon.example/@velo: still running after 6s") {
				t.Errorf("status --rejected 1 with two rejected: exit %d\nstdout: %s\nstderr: %s", r.Code, r.Stdout, r.Stderr)
			}

			r = binarytest.Run(t, dir, env, "status", "--json")
			var got statusReport
			if err := json.Unmarshal([]byte(r.Stdout), &got); r.Code != 0 || err != nil {
				t.Fatalf("status --json: exit %d, %v\n%s%s", r.Code, err, r.Stdout, r.Stderr)
			}
			if got.Backend != backend || got.Schema != latest || got.Sources["followed"] != 1 || got.RejectedTotal != 2 || len(got.Rejected) != 2 ||
				got.Rejected[1].Reason != "refetch object from its origin: HTTP 503" {
				t.Errorf("status --json: %+v", got)
			}

			if r := binarytest.Run(t, dir, env, "status", "--rejected=-1"); r.Code != 2 || !strings.Contains(r.Stderr, "--rejected -1") {
				t.Errorf("status --rejected -1: exit %d, stderr %s", r.Code, r.Stderr)
			}
		})
	}
}
