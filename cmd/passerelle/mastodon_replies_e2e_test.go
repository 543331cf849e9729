package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"codeberg.org/passerelle/passerelle/internal/binarytest"
	"codeberg.org/passerelle/passerelle/internal/fedipeertest"
	"codeberg.org/passerelle/passerelle/internal/mastodontest"
	"codeberg.org/passerelle/passerelle/internal/storetest"
)

// TestMastodonJoinFromReply drives the real binary with the Fedify peer as
// the events' home server: a reply "going" under the cross-posted event →
// a Join at the peer (from a pseudonymous actor: the handle never leaves)
// → the organiser's Accept → one direct reply; a restricted event →
// "waiting" → approved; a full event → "full" and no Join; "not going" →
// Leave; replies that are not answers, or come from a blocked domain, do
// nothing; a restart reads nothing twice.
func TestMastodonJoinFromReply(t *testing.T) {
	peer := fedipeertest.Start(t, fedipeertest.Mobilizon)
	srv := mastodontest.New(t, mastodontest.Options{Mode: mastodontest.Mastodon})
	s := newSite(t)
	s.env = append(s.env, "PASSERELLE_FEDERATION_BLOCK=blocked.example")
	serve := func() { s.serve = binarytest.Start(t, s.dir, s.listen, s.env, "serve", "--mastodon-poll", "300ms") }
	serve()
	if out := s.run(nil, "follow", peer.Handle("mygroup")); !strings.Contains(out, "accepted the follow") {
		t.Fatalf("follow: %s", out)
	}
	s.connect(srv)
	s.run(nil, "mastodon", "route", "--source", peer.Handle("mygroup"), "--account", srv.Acct())

	start := time.Now().Add(72 * time.Hour).Truncate(time.Hour)
	free := peer.CreateEvent(t, fedipeertest.Event{Name: "Board games night", Timezone: "Europe/Paris",
		StartTime: start.Format(time.RFC3339), EndTime: start.Add(3 * time.Hour).Format(time.RFC3339)})
	restricted := peer.CreateEvent(t, fedipeertest.Event{Name: "Repair workshop", Timezone: "Europe/Paris", JoinMode: "restricted",
		StartTime: start.Format(time.RFC3339), EndTime: start.Add(3 * time.Hour).Format(time.RFC3339)})
	full := peer.CreateEvent(t, fedipeertest.Event{Name: "Tiny concert", Timezone: "Europe/Paris", MaximumAttendeeCapacity: 1, Participants: 1,
		StartTime: start.Format(time.RFC3339), EndTime: start.Add(3 * time.Hour).Format(time.RFC3339)})
	statusOf := func(uuid string) string {
		for _, st := range srv.Statuses() {
			if st.InReplyToID == "" && strings.Contains(st.Text, peer.EventURL(uuid)) {
				return st.ID
			}
		}
		return ""
	}
	waitFor(t, "the three statuses", 60*time.Second, func() bool {
		return statusOf(free.UUID) != "" && statusOf(restricted.UUID) != "" && statusOf(full.UUID) != ""
	})
	freeStatus, restrictedStatus := statusOf(free.UUID), statusOf(restricted.UUID)
	directs := func() []mastodontest.Status {
		var out []mastodontest.Status
		for _, st := range srv.Statuses() {
			if st.Visibility == "direct" {
				out = append(out, st)
			}
		}
		return out
	}
	joinsAndLeaves := func() (out []fedipeertest.Received) {
		for _, r := range peer.Received(t) {
			if typ, _ := r.Activity["type"].(string); typ == "Join" || typ == "Leave" {
				out = append(out, r)
			}
		}
		return out
	}

	bob := mastodontest.Author{ID: "7", Username: "bob", Domain: "social.example"}
	// Not answers, a blocked domain: nothing.
	srv.AddMention(mastodontest.Mention{Author: bob, Text: "Is it accessible by wheelchair?", InReplyToID: freeStatus})
	srv.AddMention(mastodontest.Mention{Author: mastodontest.Author{Username: "eve", Domain: "spam.blocked.example"}, Text: "going", InReplyToID: freeStatus})
	// "going", then the same person again and again.
	answer := srv.AddMention(mastodontest.Mention{Author: bob, Text: "going!", InReplyToID: freeStatus})
	for range 5 {
		srv.AddMention(mastodontest.Mention{Author: bob, Text: "+1", InReplyToID: freeStatus})
	}
	join := peer.WaitReceived(t, "Join")
	raw, _ := json.Marshal(join.Activity)
	if strings.Contains(string(raw), "bob") || strings.Contains(string(raw), "social.example") {
		t.Errorf("the Join gives the handle away: %s", raw)
	}
	// The peer's moderator accepts Joins to free events: "you're in", in
	// the event's language (the peer's events are in French).
	waitFor(t, "the direct reply", 30*time.Second, func() bool { return len(directs()) == 1 })
	dm := directs()[0]
	if dm.InReplyToID != answer || !strings.HasPrefix(dm.Text, "@bob@social.example C'est noté, vous participez : Board games night") ||
		!strings.Contains(dm.Text, "/events/") || !strings.Contains(dm.Text, ".ics") {
		t.Errorf("direct reply %+v", dm)
	}

	// Approval: waiting, then approved, each said once.
	srv.AddMention(mastodontest.Mention{Author: bob, Text: "count me in", InReplyToID: restrictedStatus})
	waitFor(t, "the waiting reply", 30*time.Second, func() bool { return len(directs()) == 2 })
	if d := directs()[1]; !strings.Contains(d.Text, "attend l'accord des organisateurs") {
		t.Errorf("waiting reply %q", d.Text)
	}
	var restrictedJoin string
	waitFor(t, "the second Join", 30*time.Second, func() bool {
		for _, r := range joinsAndLeaves() {
			if r.Activity["type"] == "Join" && r.Activity["object"] == peer.EventURL(restricted.UUID) {
				restrictedJoin, _ = r.Activity["id"].(string)
			}
		}
		return restrictedJoin != ""
	})
	peer.AcceptJoin(t, restrictedJoin)
	waitFor(t, "the approved reply", 30*time.Second, func() bool { return len(directs()) == 3 })
	if d := directs()[2]; !strings.Contains(d.Text, "ont accepté votre participation") {
		t.Errorf("approved reply %q", d.Text)
	}

	// A full event: told so, and no Join is sent (Mobilizon would drop it
	// without a word).
	srv.AddMention(mastodontest.Mention{Author: mastodontest.Author{ID: "8", Username: "carol", Domain: "social.example"}, Text: "j'y vais", InReplyToID: statusOf(full.UUID)})
	waitFor(t, "the full reply", 30*time.Second, func() bool { return len(directs()) == 4 })
	if d := directs()[3]; !strings.HasPrefix(d.Text, "@carol@social.example") || !strings.Contains(d.Text, "complet") {
		t.Errorf("full reply %q", d.Text)
	}
	if n := len(joinsAndLeaves()); n != 2 {
		t.Errorf("%d Joins/Leaves after the full event's answer, want still 2", n)
	}

	// A restart reads nothing twice.
	s.stop()
	serve()
	time.Sleep(2 * time.Second)
	if n, m := len(joinsAndLeaves()), len(directs()); n != 2 || m != 4 {
		t.Fatalf("after a restart: %d Joins/Leaves (want 2), %d direct replies (want 4)", n, m)
	}

	// "not going": a Leave, and one reply saying so.
	srv.AddMention(mastodontest.Mention{Author: bob, Text: "not going after all", InReplyToID: freeStatus})
	waitFor(t, "the Leave", 30*time.Second, func() bool { return len(joinsAndLeaves()) == 3 })
	waitFor(t, "the reply to not going", 30*time.Second, func() bool { return len(directs()) == 5 })
	if d := directs()[4]; !strings.Contains(d.Text, "vous ne venez plus") || strings.Contains(d.Text, ".ics") {
		t.Errorf("left reply %q", d.Text)
	}
	// The admin sees the channel in the participation counts: bob left
	// one event and is in the other.
	if out := s.run(nil, "status"); !strings.Contains(out, "fediverse 1 going") {
		t.Errorf("status does not count the fediverse participation:\n%s", out)
	}
	if out := s.run(nil, "mastodon", "accounts"); strings.Contains(out, "read:notifications") {
		t.Errorf("an account connected now is told to reconnect:\n%s", out)
	}
	s.stop()
	// An account connected before passerelle asked for read:notifications
	// is told to connect again, by the command and by serve's log.
	if _, err := storetest.Exec(s.db, "UPDATE mastodon_accounts SET scopes = ''"); err != nil {
		t.Fatal(err)
	}
	if out := s.run(nil, "mastodon", "accounts"); !strings.Contains(out, "lacks read:notifications") || !strings.Contains(out, "passerelle mastodon connect "+srv.URL) {
		t.Errorf("mastodon accounts does not say to reconnect:\n%s", out)
	}
	serve()
	waitFor(t, "the log's reconnect advice", 10*time.Second, func() bool {
		return strings.Count(s.serve.Logs(), "connected before passerelle asked for read:notifications") == 1
	})
	time.Sleep(time.Second)
	if n := strings.Count(s.serve.Logs(), "connected before passerelle asked for read:notifications"); n != 1 {
		t.Errorf("the reconnect advice is logged %d times, want once", n)
	}
	s.stop()
}
