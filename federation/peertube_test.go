package federation

import (
	"context"
	"testing"
	"time"

	"codeberg.org/passerelle/passerelle/bridges"
	"codeberg.org/passerelle/passerelle/internal/fedipeertest"
	"codeberg.org/passerelle/passerelle/internal/storetest"
	"codeberg.org/passerelle/passerelle/store"
)

// TestFedifyPeerTube follows a channel of the PeerTube-shaped Fedify peer
// and walks a scheduled live through what PeerTube federates
// (shared/fixtures/peertube/FORMAT.md): the channel's Announce, the
// account's Updates as the live is rescheduled, starts (state 1) and
// ends (state 5), a replay, ordinary videos, and Delete.
func TestFedifyPeerTube(t *testing.T) {
	peer := fedipeertest.Start(t, fedipeertest.PeerTube)
	h := newHarness(t, Options{})
	ctx := context.Background()
	at := func(d time.Duration) string {
		return fedipeertest.PeerTubeTime(time.Now().Add(d).Truncate(time.Second))
	}
	no := false

	// Before the follow: a scheduled live (bare-URL attributedTo, as the
	// newest PeerTube writes it) and an ordinary video, found by backfill.
	early := peer.CreateVideo(t, fedipeertest.Video{Name: "Assemblée générale", StartDate: at(72 * time.Hour), StringAttributedTo: true, Silent: true})
	vod := peer.CreateVideo(t, fedipeertest.Video{Name: "Compte rendu", IsLiveBroadcast: &no, Silent: true})

	res, src := h.follow(peer.Handle("root_channel"))
	if res.Software != "peertube" || res.Actor.Type != "Group" || res.ActorURL != peer.ActorURL("root_channel") || src.Outbox != peer.ActorURL("root_channel")+"/outbox" {
		t.Fatalf("resolved %s (%s, %s), outbox %q", res.ActorURL, res.Actor.Type, res.Software, src.Outbox)
	}
	byURL, err := h.svc.Resolve(ctx, peer.ActorURL("root_channel"))
	if err != nil || byURL.Software != "peertube" || byURL.ActorURL != res.ActorURL || byURL.Handle != peer.Handle("root_channel") {
		t.Errorf("the channel URL resolved to %+v, %v", byURL, err)
	}
	if res.Notice() != "" {
		t.Errorf("a PeerTube channel follow got a notice: %s", res.Notice())
	}
	eventually(t, "the channel's Accept", func() bool { return h.source(res.ActorURL).State == bridges.SourceFollowed })
	br, err := h.svc.Backfill(ctx, h.source(res.ActorURL), BackfillLimits{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if br.Items != 2 || br.Stored != 1 {
		t.Errorf("backfill read %d items and stored %d, want 2 and 1 (the live, not the ordinary video)", br.Items, br.Stored)
	}
	ev := h.event(early.ID)
	if ev == nil || ev.OrganizerURL != peer.ActorURL("root_channel") || ev.OrganizerName != "Assemblée en direct" {
		t.Fatalf("backfilled live: %+v", ev)
	}
	if h.event(vod.ID) != nil {
		t.Error("an ordinary video was stored as an event")
	}

	// A live scheduled after the follow arrives as the channel's Announce
	// of its URL (the account's Create goes to the account's followers).
	start := time.Now().Add(48 * time.Hour).Truncate(time.Second).UTC()
	live := peer.CreateVideo(t, fedipeertest.Video{Name: "Conseil municipal", Content: "En **direct** de la mairie.", StartDate: fedipeertest.PeerTubeTime(start), Tags: []string{"conseil"}})
	if len(live.Deliveries) != 1 || live.Deliveries[0].Status != 202 {
		t.Errorf("the live's activities reached passerelle as %+v, want one Announce answered 202", live.Deliveries)
	}
	eventually(t, "the announced live", func() bool { return h.event(live.ID) != nil })
	ev = h.event(live.ID)
	if !ev.Start.Equal(start) || !ev.End.Equal(start.Add(time.Hour)) || ev.JoinMode != bridges.JoinExternal ||
		ev.ExternalParticipationURL != live.ID || ev.OnlineURL != live.ID || ev.DescriptionText == "" || ev.SourceID != src.ID {
		t.Errorf("stored live: %+v", ev.Event)
	}

	// An ordinary video is ignored, quietly (the inbox still says 202).
	other := peer.CreateVideo(t, fedipeertest.Video{Name: "Bande-annonce", IsLiveBroadcast: &no})
	for _, d := range other.Deliveries {
		if d.Status != 202 {
			t.Errorf("ordinary video's Announce answered %d", d.Status)
		}
	}

	// Rescheduled: a full Update from the account.
	later := start.Add(24 * time.Hour)
	for _, d := range peer.UpdateVideo(t, live.UUID, map[string]any{"startDate": fedipeertest.PeerTubeTime(later)}) {
		if d.Status != 202 {
			t.Errorf("Update answered %d: %s", d.Status, d.Body)
		}
	}
	eventually(t, "the rescheduled live", func() bool { return h.event(live.ID).Start.Equal(later) })
	eventually(t, "the inbox processed", h.inboxDrained)
	if got := h.event(live.ID).Sequence; got != ev.Sequence+1 {
		t.Errorf("SEQUENCE after the reschedule is %d, want %d", got, ev.Sequence+1)
	}
	if h.event(other.ID) != nil {
		t.Error("an announced ordinary video was stored as an event")
	}

	// The stream starts (state 1) and ends without replay (state 5): the
	// event ends when PeerTube said it ended, and leaves upcoming lists.
	began := time.Now().Add(-20 * time.Minute).Truncate(time.Second).UTC()
	peer.UpdateVideo(t, live.UUID, map[string]any{"startDate": fedipeertest.PeerTubeTime(began), "state": 1})
	eventually(t, "the live started", func() bool { return h.event(live.ID).Start.Equal(began) })
	if !h.event(live.ID).End.Equal(began.Add(time.Hour)) {
		t.Errorf("a running live ends at %s, want start + 1h", h.event(live.ID).End)
	}
	peer.UpdateVideo(t, live.UUID, map[string]any{"state": 5})
	eventually(t, "the live ended", func() bool { return h.event(live.ID).End.Before(began.Add(time.Hour)) })
	ended := h.event(live.ID)
	if ended.End.Before(began) || ended.End.After(time.Now()) || !ended.Over(time.Now()) {
		t.Errorf("ended live: start %s end %s", ended.Start, ended.End)
	}
	upcoming, err := h.db.Events(ctx, store.EventQuery{SourceID: src.ID, From: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range upcoming {
		if e.APID == live.ID {
			t.Error("the ended live is still listed as upcoming")
		}
	}

	// A live with replay becomes an ordinary video (same id): the stored
	// event, which happened, stays as it was.
	before := h.event(early.ID)
	peer.UpdateVideo(t, early.UUID, map[string]any{"isLiveBroadcast": false, "state": 1, "duration": "PT1800S"})
	eventually(t, "the replay Update processed", h.inboxDrained)
	if after := h.event(early.ID); after == nil || after.Deleted || after.Sequence != before.Sequence || !after.Start.Equal(before.Start) {
		t.Errorf("the replay Update changed the stored live: %+v", after)
	}

	// Delete of the bare URL, from the account.
	peer.DeleteVideo(t, live.UUID)
	eventually(t, "the deleted live", func() bool { return h.event(live.ID).Deleted })
}

// inboxDrained says whether every activity the inbox took has been
// processed (a processed activity leaves the queue).
func (h *harness) inboxDrained() bool {
	var n int
	if err := storetest.QueryRow(h.db, `SELECT COUNT(*) FROM inbox_pending`).Scan(&n); err != nil {
		h.t.Fatal(err)
	}
	return n == 0
}
