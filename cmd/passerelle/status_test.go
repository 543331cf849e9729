package main

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
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
				!regexp.MustCompile(`(?m)^participations\s+none$`).MatchString(r.Stdout) ||
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

			// Issue 18 item 3: a replica, deliveries failing to one host,
			// and the commands that act on them.
			now := time.Now()
			if err := db.SeenReplica(ctx, store.Replica{Holder: "web-1/42", Version: "v1.2.3", Started: now.Add(-time.Hour), Seen: now}); err != nil {
				t.Fatal(err)
			}
			for _, d := range []struct {
				state    string
				attempts int
			}{{"pending", 3}, {"failed", 16}, {"pending", 0}} {
				if _, err := storetest.Exec(db, `INSERT INTO deliveries (actor_id, recipient, inbox, activity_id, activity, state, attempts, last_error, created_at, updated_at)
					VALUES (1, '', 'https://down.example/inbox', 'https://p.test/join/1', ?, ?, ?, 'post to https://down.example/inbox: HTTP 503', ?, ?)`,
					[]byte(`{}`), d.state, d.attempts, now.UnixMicro(), now.UnixMicro()); err != nil {
					t.Fatal(err)
				}
			}
			r = binarytest.Run(t, dir, env, "status")
			for _, want := range []string{"web-1/42 v1.2.3", "alive", "deliveries  2 waiting", "down.example: 1 retrying, 1 given up",
				"HTTP 503", "mail queue  0 waiting", "velo  followed  0"} {
				if !strings.Contains(r.Stdout, want) {
					t.Errorf("status lacks %q:\n%s", want, r.Stdout)
				}
			}
			r = binarytest.Run(t, dir, env, "status", "--json")
			got = statusReport{}
			if err := json.Unmarshal([]byte(r.Stdout), &got); err != nil || len(got.FailingHosts) != 1 || got.FailingHosts[0].Host != "down.example" ||
				got.FailingHosts[0].NextTry.IsZero() || len(got.Replicas) != 1 || !got.Replicas[0].Alive || got.DeliveryQueue.Pending != 2 {
				t.Errorf("status --json, issue 18 parts: %v %+v", err, got.more)
			}
			if r := binarytest.Run(t, dir, env, "deliveries", "retry", "Down.Example"); r.Code != 0 || !strings.Contains(r.Stdout, "2 deliveries to down.example will be tried again") {
				t.Errorf("deliveries retry: exit %d %s %s", r.Code, r.Stdout, r.Stderr)
			}
			var pending, jobs int
			storetest.QueryRow(db, `SELECT COUNT(*) FROM deliveries WHERE state = 'pending' AND attempts = 0`).Scan(&pending)
			storetest.QueryRow(db, `SELECT COUNT(*) FROM river_job WHERE kind = 'federation.deliver'`).Scan(&jobs)
			if pending != 3 || jobs != 2 {
				t.Errorf("after retry: %d pending with no attempt, %d delivery jobs; want 3 and 2", pending, jobs)
			}
			if r := binarytest.Run(t, dir, env, "deliveries", "discard", "down.example"); r.Code != 0 || !strings.Contains(r.Stdout, "3 deliveries to down.example given up") {
				t.Errorf("deliveries discard: exit %d %s %s", r.Code, r.Stdout, r.Stderr)
			}
			if r := binarytest.Run(t, dir, env, "deliveries", "discard", "down.example"); r.Code != 0 || !strings.Contains(r.Stdout, "no delivery to down.example is waiting") {
				t.Errorf("deliveries discard again: exit %d %s %s", r.Code, r.Stdout, r.Stderr)
			}
		})
	}
}
