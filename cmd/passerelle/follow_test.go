package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"codeberg.org/passerelle/passerelle/internal/binarytest"
	"codeberg.org/passerelle/passerelle/internal/fedipeertest"
	"codeberg.org/passerelle/passerelle/internal/storetest"
	"codeberg.org/passerelle/passerelle/store"
)

// TestFollowAgain drives the real binary against the Fedify peer shaped
// as Mobilizon, which sends no second Accept for a Follow it already has
// (issue 14, points 4, 5 and 8): following a followed group again, by
// slug or handle, leaves it followed; following a pending one again sends
// the same Follow, so the Accept that comes later still counts; a word
// that is no handle, URL or known slug is named as such; and follow's
// output carries no library log lines. Both backends.
func TestFollowAgain(t *testing.T) {
	for _, backend := range []string{store.SQLite, store.Postgres} {
		t.Run(backend, func(t *testing.T) {
			dbURL := storetest.URL(t, backend)
			peer := fedipeertest.Start(t, fedipeertest.Mobilizon)
			dir := t.TempDir()
			addr := binarytest.FreeAddr(t, "127.0.0.1")
			env := []string{
				"PASSERELLE_DATABASE_URL=" + dbURL,
				"PASSERELLE_PUBLIC_URL=http://" + addr,
				"PASSERELLE_FEDERATION_ALLOW_PRIVATE_NETWORKS=true",
			}
			binarytest.Start(t, dir, addr, env)
			cli := func(args ...string) binarytest.Result {
				t.Helper()
				return binarytest.Run(t, dir, append([]string{"PASSERELLE_LISTEN=" + addr}, env...), args...)
			}
			states := func() map[string]string {
				t.Helper()
				out := map[string]string{}
				for _, line := range strings.Split(strings.TrimSpace(cli("sources", "--json").Stdout), "\n") {
					var l struct{ Slug, State string }
					if err := json.Unmarshal([]byte(line), &l); err != nil {
						t.Fatalf("sources --json line %q: %v", line, err)
					}
					out[l.Slug] = l.State
				}
				return out
			}
			loc, _ := time.LoadLocation("Europe/Paris")
			peer.CreateEvent(t, fedipeertest.Event{Name: "Balade", StartTime: time.Now().Add(72 * time.Hour).In(loc).Truncate(time.Second).Format(time.RFC3339), Timezone: "Europe/Paris", Silent: true})

			noNoise := func(r binarytest.Result) {
				t.Helper()
				for _, noise := range []string{"level=INFO", "event stored", "rivermigrate", "No migrations"} {
					if strings.Contains(r.Stdout+r.Stderr, noise) {
						t.Errorf("follow printed log noise %q:\n%s%s", noise, r.Stdout, r.Stderr)
					}
				}
			}
			r := cli("follow", peer.Handle("mygroup"))
			if r.Code != 0 || !strings.Contains(r.Stdout, "mygroup accepted the follow") || !strings.Contains(r.Stdout, "1 events stored") {
				t.Fatalf("first follow: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
			}
			noNoise(r)
			for _, again := range []string{"mygroup", peer.Handle("mygroup"), peer.ActorURL("mygroup")} {
				r = cli("follow", again)
				if r.Code != 0 || !strings.Contains(r.Stdout, "already following mygroup") || !strings.Contains(r.Stdout, "mygroup is followed") ||
					!strings.Contains(r.Stdout, "backfill of mygroup") {
					t.Errorf("follow %s again: exit %d\n%s%s", again, r.Code, r.Stdout, r.Stderr)
				}
				noNoise(r)
				if s := states()["mygroup"]; s != "followed" {
					t.Errorf("after follow %s again, mygroup is %q, want followed", again, s)
				}
			}
			var followIDs []string
			for _, rec := range peer.Received(t) {
				if rec.Activity["type"] == "Follow" && rec.Activity["object"] == peer.ActorURL("mygroup") {
					followIDs = append(followIDs, rec.Activity["id"].(string))
				}
			}
			if len(followIDs) < 2 || strings.Count(strings.Join(followIDs, " "), followIDs[0]) != len(followIDs) {
				t.Errorf("Follows of mygroup received: %v, want the same Follow sent again", followIDs)
			}

			r = cli("follow", "--wait", "2s", peer.Handle("closedgroup"))
			if r.Code != 0 || !strings.Contains(r.Stdout, "still pending") {
				t.Fatalf("follow of a group that approves by hand: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
			}
			r = cli("follow", "--wait", "1s", "closedgroup")
			if r.Code != 0 || !strings.Contains(r.Stdout, "the follow of closedgroup was still pending: its Follow was sent again") {
				t.Errorf("follow of a pending group again: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
			}
			// The group's admin accepts the Follow it got first: it names
			// the id of that one, which must still be the source's.
			peer.AcceptFollow(t, "closedgroup", "http://"+addr+"/actors/passerelle")
			deadline := time.Now().Add(30 * time.Second)
			for states()["closedgroup"] != "followed" {
				if time.Now().After(deadline) {
					t.Fatalf("closedgroup still %q after its Accept", states()["closedgroup"])
				}
				time.Sleep(200 * time.Millisecond)
			}

			r = cli("follow", "lyon-velo")
			if r.Code != 2 || !strings.Contains(r.Stderr, `"lyon-velo" is neither a handle (@group@host), an actor URL (https://…) nor the slug of a source passerelle knows`) ||
				strings.Contains(r.Stderr, "only https") {
				t.Errorf("follow of an unknown slug: exit %d, stderr %s", r.Code, r.Stderr)
			}
			r = cli("follow", "mobilizon.example")
			if r.Code != 2 || !strings.Contains(r.Stderr, "give its URL: https://mobilizon.example") {
				t.Errorf("follow of a bare domain: exit %d, stderr %s", r.Code, r.Stderr)
			}
		})
	}
}
