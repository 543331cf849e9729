package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"codeberg.org/passerelle/passerelle/bridges"
	"codeberg.org/passerelle/passerelle/internal/binarytest"
	"codeberg.org/passerelle/passerelle/internal/fedipeertest"
	"codeberg.org/passerelle/passerelle/internal/storetest"
	"codeberg.org/passerelle/passerelle/store"
)

// TestFederationCommands drives the real binary: serve delivers the Follow
// that `follow` queued and processes the Accept; follow, sources, block,
// unblock, events and unfollow answer as DESIGN's contract says.
func TestFederationCommands(t *testing.T) {
	peer := fedipeertest.Start(t, fedipeertest.Mobilizon)
	dir := t.TempDir()
	addr := binarytest.FreeAddr(t, "127.0.0.1")
	dbURL := storetest.SQLiteURL(t)
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

	loc, _ := time.LoadLocation("Europe/Paris")
	peer.CreateEvent(t, fedipeertest.Event{Name: "Before the follow", StartTime: time.Now().Add(72 * time.Hour).In(loc).Truncate(time.Second).Format(time.RFC3339), Timezone: "Europe/Paris", Silent: true})

	r := cli("follow", peer.Handle("mygroup"))
	if r.Code != 0 || !strings.Contains(r.Stdout, "accepted the follow") || !strings.Contains(r.Stdout, "backfill of mygroup") {
		t.Fatalf("follow: exit %d\nstdout:\n%s\nstderr:\n%s", r.Code, r.Stdout, r.Stderr)
	}
	if !strings.Contains(r.Stderr, "backfill mygroup: 1 items read") {
		t.Errorf("follow printed no backfill progress: %s", r.Stderr)
	}
	if !strings.Contains(r.Stdout, "1 events stored") {
		t.Errorf("follow did not backfill the group's event:\n%s", r.Stdout)
	}
	live := peer.CreateEvent(t, fedipeertest.Event{Name: "After the follow", StartTime: time.Now().Add(96 * time.Hour).In(loc).Truncate(time.Second).Format(time.RFC3339), Timezone: "Europe/Paris"})
	for _, d := range live.Deliveries {
		if d.Status != 202 {
			t.Errorf("serve answered %d to the peer's signed activity: %s", d.Status, d.Body)
		}
	}
	r = cli("follow", peer.ActorURL("relay"))
	if r.Code != 0 || !strings.Contains(r.Stdout, "admin") || !strings.Contains(r.Stdout, "still pending") {
		t.Errorf("follow of a Mobilizon relay: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	r = cli("follow", "@nobody@"+peer.Host())
	if r.Code != 2 || !strings.Contains(r.Stderr, "WebFinger") {
		t.Errorf("follow of an unknown handle: exit %d, %s", r.Code, r.Stderr)
	}

	r = cli("sources", "--json")
	states := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(r.Stdout), "\n") {
		var l struct{ Slug, State, Software string }
		if err := json.Unmarshal([]byte(line), &l); err != nil {
			t.Fatalf("sources --json line %q: %v", line, err)
		}
		states[l.Slug] = l.State + "/" + l.Software
	}
	if states["mygroup"] != "followed/mobilizon" || states["relay"] != "pending/mobilizon" {
		t.Errorf("sources: %v", states)
	}
	if r = cli("sources"); !strings.Contains(r.Stdout, "SOURCE") || !strings.Contains(r.Stdout, "mygroup") {
		t.Errorf("sources table:\n%s", r.Stdout)
	}
	if r = cli("sources", "refresh", "mygroup"); r.Code != 0 || !strings.Contains(r.Stdout, "backfill of mygroup") {
		t.Errorf("sources refresh: exit %d %s %s", r.Code, r.Stdout, r.Stderr)
	}
	if r = cli("sources", "refresh", "nothing-here"); r.Code != 2 || !strings.Contains(r.Stderr, "passerelle sources") {
		t.Errorf("refresh of an unknown source: exit %d %s", r.Code, r.Stderr)
	}

	// events: what the store holds, listed by the contract's rules.
	db, err := store.Open(context.Background(), dbURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	src, err := db.SourceBySlug(context.Background(), "mygroup")
	if err != nil {
		t.Fatal(err)
	}
	evs := &bridges.Events[*store.Tx]{Store: db}
	start := time.Now().Add(24 * time.Hour).Truncate(time.Second)
	for _, e := range []bridges.Event{
		{APID: peer.EventURL("shown"), Title: "Shown", TimeZone: "Europe/Paris", Status: bridges.StatusConfirmed},
		{APID: peer.EventURL("cancelled"), Title: "Cancelled", Status: bridges.StatusCancelled},
		{APID: peer.EventURL("draft"), Title: "Draft", Draft: true},
		{APID: peer.EventURL("deleted"), Title: "Deleted"},
		{APID: peer.EventURL("past"), Title: "Past", Start: time.Now().Add(-48 * time.Hour)},
	} {
		e.SourceID, e.JoinMode, e.Public = src.ID, bridges.JoinFree, true
		if e.Status == "" {
			e.Status = bridges.StatusConfirmed
		}
		if e.Start.IsZero() {
			e.Start, e.End = start, start.Add(time.Hour)
		} else {
			e.End = e.Start.Add(time.Hour)
		}
		if _, err := evs.Apply(context.Background(), e, nil); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := evs.Delete(context.Background(), peer.EventURL("deleted")); err != nil {
		t.Fatal(err)
	}
	r = cli("events", "--source", peer.Handle("mygroup"), "--json")
	var titles []string
	for _, line := range strings.Split(strings.TrimSpace(r.Stdout), "\n") {
		var l map[string]any
		if err := json.Unmarshal([]byte(line), &l); err != nil {
			t.Fatalf("events --json line %q: %v (stderr %s)", line, err, r.Stderr)
		}
		for _, k := range []string{"id", "source", "title", "status", "start", "end", "url"} {
			if _, ok := l[k]; !ok {
				t.Errorf("events --json line lacks %q: %s", k, line)
			}
		}
		if l["title"] == "Shown" && (l["timezone"] != "Europe/Paris" || !strings.HasSuffix(l["start"].(string), "+01:00") && !strings.HasSuffix(l["start"].(string), "+02:00")) {
			t.Errorf("zone lost: %s", line)
		}
		titles = append(titles, l["title"].(string)+"/"+l["status"].(string))
	}
	if got := strings.Join(titles, ","); got != "Cancelled/cancelled,Shown/confirmed,Before the follow/confirmed,After the follow/confirmed" &&
		got != "Shown/confirmed,Cancelled/cancelled,Before the follow/confirmed,After the follow/confirmed" {
		t.Errorf("events listed %v, want the shown and the cancelled one, then the backfilled and the live one", titles)
	}

	if r = cli("block", "spam.example"); r.Code != 0 {
		t.Errorf("block: %d %s", r.Code, r.Stderr)
	}
	if r = cli("block", "not a domain"); r.Code != 2 {
		t.Errorf("block of a bad name: exit %d", r.Code)
	}
	blocked, _ := db.DomainBlocked(context.Background(), "spam.example")
	if !blocked {
		t.Error("block did not record the domain")
	}
	if r = cli("unblock", "spam.example"); r.Code != 0 || !strings.Contains(r.Stdout, "unblocked") {
		t.Errorf("unblock: %d %s", r.Code, r.Stdout)
	}

	if r = cli("unfollow", "mygroup"); r.Code != 0 {
		t.Fatalf("unfollow: %d %s", r.Code, r.Stderr)
	}
	peer.WaitReceived(t, "Undo")
	if r = cli("events", "--json"); strings.TrimSpace(r.Stdout) != "" {
		t.Errorf("events of an unfollowed source still listed:\n%s", r.Stdout)
	}
}
