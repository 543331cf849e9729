package federation

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"codeberg.org/passerelle/passerelle/bridges"
	"codeberg.org/passerelle/passerelle/internal/fedipeertest"
	"codeberg.org/passerelle/passerelle/internal/storetest"
	"codeberg.org/passerelle/passerelle/store"
)

func TestRefetchInterval(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		until time.Duration
		want  time.Duration
	}{
		{30 * 24 * time.Hour, 24 * time.Hour},
		{7*24*time.Hour + time.Minute, 24 * time.Hour},
		{7 * 24 * time.Hour, time.Hour},
		{25 * time.Hour, time.Hour},
		{24 * time.Hour, 10 * time.Minute},
		{5 * time.Minute, 10 * time.Minute},
		{-time.Hour, 10 * time.Minute}, // under way
	} {
		if got := RefetchInterval(now, now.Add(tt.until)); got != tt.want {
			t.Errorf("event in %s: re-fetch every %s, want %s", tt.until, got, tt.want)
		}
	}
}

// changeRecorder is a bridges.ChangeListener[*store.Tx] remembering what changed.
type changeRecorder struct {
	mu    sync.Mutex
	kinds map[string][]bridges.ChangeKind
}

func (c *changeRecorder) EventChanged(_ context.Context, _ *store.Tx, ch bridges.Change) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.kinds[ch.Event.APID] = append(c.kinds[ch.Event.APID], ch.Kind)
	return nil
}

func (c *changeRecorder) last(apID string) bridges.ChangeKind {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := c.kinds[apID]
	if len(k) == 0 {
		return ""
	}
	return k[len(k)-1]
}

// TestFedifyRefetch proves the re-fetch of answered events against the
// Fedify peer, whose group passerelle does not follow (so the peer sends it
// nothing): durable River jobs (the periodic sweep, then one job per due
// event) make signed, conditional GETs; a 304 changes nothing, a changed
// event is an update for the listeners, a 410 a deletion.
func TestFedifyRefetch(t *testing.T) {
	peer := fedipeertest.Start(t, fedipeertest.Mobilizon)
	h := newHarnessJobs(t, Options{}, false)
	ctx := context.Background()
	changes := &changeRecorder{kinds: map[string][]bridges.ChangeKind{}}
	h.svc.events.Listeners = append(h.svc.events.Listeners, changes)

	kept := peer.CreateEvent(t, fedipeertest.Event{Name: "Atelier", StartTime: future(50 * time.Hour), EndTime: future(52 * time.Hour), Timezone: "Europe/Paris", Silent: true})
	gone := peer.CreateEvent(t, fedipeertest.Event{Name: "Annulé bientôt", StartTime: future(20 * time.Hour), Timezone: "Europe/Paris", Silent: true})
	unanswered := peer.CreateEvent(t, fedipeertest.Event{Name: "Personne", StartTime: future(20 * time.Hour), Timezone: "Europe/Paris", Silent: true})
	// The group was followed once, then unfollowed: its events no longer
	// come, but those someone answered must still be kept fresh.
	src := &bridges.Source{Slug: "mygroup", ActorURL: peer.ActorURL("mygroup"), Software: "mobilizon", State: bridges.SourceUnfollowed, CreatedAt: time.Now()}
	ids := map[string]int64{}
	if err := h.db.Tx(ctx, func(ctx context.Context, tx *store.Tx) error {
		if err := tx.SaveSource(ctx, src); err != nil {
			return err
		}
		p := &bridges.Participant{Address: "someone@example.org", CreatedAt: time.Now()}
		if err := tx.SaveParticipant(ctx, p); err != nil {
			return err
		}
		for _, e := range []struct {
			c  fedipeertest.Created
			in time.Duration
		}{{kept, 50 * time.Hour}, {gone, 20 * time.Hour}, {unanswered, 20 * time.Hour}} {
			c := e.c
			start, _ := time.Parse(time.RFC3339, future(e.in))
			ev := &bridges.StoredEvent{Event: bridges.Event{APID: c.ID, SourceID: src.ID, Title: "stale copy", Start: start, End: start.Add(time.Hour),
				Status: bridges.StatusConfirmed, JoinMode: bridges.JoinFree, Public: true}}
			ev.CreatedAt, ev.ModifiedAt = time.Now(), time.Now()
			if err := tx.SaveEvent(ctx, ev); err != nil {
				return err
			}
			ids[c.ID] = ev.ID
			if c.ID == unanswered.ID {
				continue
			}
			now := time.Now()
			inv := &bridges.Invitation{ParticipantID: p.ID, EventID: ev.ID, State: bridges.StateJoined, AnsweredAt: now, CreatedAt: now, UpdatedAt: now}
			if err := tx.SaveInvitation(ctx, inv); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	workers := river.NewWorkers()
	h.svc.Register(workers)
	sweep := h.svc.RegisterRefetch(workers, 100*time.Millisecond)
	storetest.StartJobs(t, h.db, store.Jobs{Workers: workers, Periodic: []*river.PeriodicJob{sweep}})

	fetches := func(c fedipeertest.Created) []fedipeertest.Fetch {
		var out []fedipeertest.Fetch
		for _, f := range peer.Fetched(t) {
			if peer.URL+f.Path == c.ID {
				out = append(out, f)
			}
		}
		return out
	}
	// First sweep: both answered events fetched (signed), the stale copies
	// replaced; the unanswered one is left alone.
	// The fetch's outcome is recorded after the event is applied: wait
	// for both, or a slow run (-race) reads the state in between.
	recorded := func(c fedipeertest.Created) bool {
		st, err := h.db.RefetchState(ctx, ids[c.ID])
		return err == nil && st.LastStatus == 200
	}
	eventually(t, "the answered events re-fetched", func() bool {
		return h.event(kept.ID).Title == "Atelier" && h.event(gone.ID).Title == "Annulé bientôt" && recorded(kept) && recorded(gone)
	})
	if changes.last(kept.ID) != bridges.ChangeUpdated {
		t.Errorf("re-fetched change: %v", changes.kinds[kept.ID])
	}
	if f := fetches(kept); len(f) != 1 || !f[0].Signed || f[0].IfNoneMatch != "" || f[0].Status != 200 {
		t.Errorf("first re-fetch: %+v", f)
	}
	if f := fetches(unanswered); len(f) != 0 {
		t.Errorf("an event nobody answered was fetched: %+v", f)
	}
	// Scheduled by the nearness of each event: hourly two days ahead,
	// every ten minutes within the day.
	for c, want := range map[*fedipeertest.Created]time.Duration{&kept: time.Hour, &gone: 10 * time.Minute} {
		st, err := h.db.RefetchState(ctx, ids[c.ID])
		if err != nil {
			t.Fatal(err)
		}
		if d := time.Until(st.NextAt); d < want-time.Minute || d > want || st.ETag == "" || st.LastStatus != 200 {
			t.Errorf("%s: next re-fetch in %s (want %s), state %+v", c.ID, d, want, st)
		}
	}

	due := func(c fedipeertest.Created) {
		t.Helper()
		if err := h.db.Tx(ctx, func(ctx context.Context, tx *store.Tx) error {
			return tx.ScheduleRefetch(ctx, ids[c.ID], time.Now().Add(-time.Second))
		}); err != nil {
			t.Fatal(err)
		}
	}
	// Due again, unchanged: a conditional GET answered 304, nothing stored.
	due(kept)
	eventually(t, "the conditional re-fetch", func() bool { return len(fetches(kept)) == 2 })
	if f := fetches(kept)[1]; f.Status != 304 || f.IfNoneMatch == "" || f.IfModifiedSince == "" || !f.Signed {
		t.Errorf("second re-fetch: %+v", f)
	}
	eventually(t, "the 304 recorded", func() bool { st, _ := h.db.RefetchState(ctx, ids[kept.ID]); return st.LastStatus == 304 })
	if n := len(changes.kinds[kept.ID]); n != 1 {
		t.Errorf("a 304 made a change: %v", changes.kinds[kept.ID])
	}

	// Changed at the origin (the peer tells nobody): the next re-fetch
	// brings the update, for the RSVP flow to mail.
	peer.UpdateEvent(t, kept.UUID, map[string]any{"name": "Atelier (salle 2)"})
	due(kept)
	eventually(t, "the update re-fetched", func() bool { return h.event(kept.ID).Title == "Atelier (salle 2)" })
	// The sweep runs every 100 ms here and may catch the event due once
	// more before its next time is written: judge the last fetch.
	f := fetches(kept)
	if changes.last(kept.ID) != bridges.ChangeUpdated || f[len(f)-1].Status != 200 {
		t.Errorf("update: changes %v, fetches %+v", changes.kinds[kept.ID], fetches(kept))
	}

	// Deleted at the origin: 410 with a Tombstone → deleted here.
	peer.DeleteEvent(t, gone.UUID)
	due(gone)
	eventually(t, "the deletion re-fetched", func() bool { return h.event(gone.ID).Deleted })
	if changes.last(gone.ID) != bridges.ChangeDeleted {
		t.Errorf("deletion: changes %v", changes.kinds[gone.ID])
	}
	// A deleted event is never fetched again.
	n := len(fetches(gone))
	due(gone)
	time.Sleep(400 * time.Millisecond)
	if len(fetches(gone)) != n {
		t.Error("a deleted event was re-fetched")
	}
}

// TestRefetchAnswers covers what the Fedify peer does not answer: a
// Tombstone served with 200, a 404 (an event made private or a draft
// again: kept), a 503 (retried), another object's id (ignored) and a
// blocked domain (not fetched).
func TestRefetchAnswers(t *testing.T) {
	h := newHarnessJobs(t, Options{}, false)
	r := newRemote(t)
	ctx := context.Background()
	changes := &changeRecorder{kinds: map[string][]bridges.ChangeKind{}}
	h.svc.events.Listeners = append(h.svc.events.Listeners, changes)
	store1 := func(path string) (int64, string) {
		t.Helper()
		apID := r.url(path)
		start := time.Now().Add(30 * time.Hour).Truncate(time.Second)
		ev := &bridges.StoredEvent{Event: bridges.Event{APID: apID, Title: "copy", Start: start, End: start.Add(time.Hour),
			Status: bridges.StatusConfirmed, JoinMode: bridges.JoinFree, Public: true}}
		ev.CreatedAt, ev.ModifiedAt = time.Now(), time.Now()
		if err := h.db.Tx(ctx, func(ctx context.Context, tx *store.Tx) error { return tx.SaveEvent(ctx, ev) }); err != nil {
			t.Fatal(err)
		}
		return ev.ID, apID
	}
	for _, tt := range []struct {
		name    string
		doc     func(id string) any
		status  int
		want    RefetchOutcome
		wantErr bool
		deleted bool
	}{
		{"tombstone", func(id string) any { return map[string]any{"id": id, "type": "Tombstone", "formerType": "Event"} }, 200, RefetchDeleted, false, true},
		{"gone", func(id string) any { return map[string]any{"id": id, "type": "Tombstone"} }, 410, RefetchDeleted, false, true},
		{"private", func(id string) any { return "not found" }, 404, RefetchSkipped, false, false},
		{"unavailable", func(id string) any { return "later" }, 503, "", true, false},
		{"other-id", func(id string) any { return map[string]any{"id": id + "-other", "type": "Event", "name": "Autre"} }, 200, RefetchSkipped, false, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			id, apID := store1("/events/" + tt.name)
			r.setDoc("/events/"+tt.name, tt.doc(apID), tt.status)
			got, err := h.svc.RefetchEvent(ctx, id)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Fatalf("RefetchEvent = %q, %v; want %q (error %v)", got, err, tt.want, tt.wantErr)
			}
			ev := h.event(apID)
			if ev.Deleted != tt.deleted || (!tt.deleted && ev.Title != "copy") {
				t.Errorf("after %s: deleted %v, title %q", tt.name, ev.Deleted, ev.Title)
			}
			if tt.deleted && changes.last(apID) != bridges.ChangeDeleted {
				t.Errorf("no deletion told to the listeners: %v", changes.kinds[apID])
			}
		})
	}
	id, apID := store1("/events/blocked")
	// federation.block (the store's list is cached for a few seconds).
	h.svc.Policy().Block = []string{strings.Split(strings.TrimPrefix(r.srv.URL, "http://"), ":")[0]}
	r.setDoc("/events/blocked", map[string]any{"id": apID, "type": "Tombstone"}, 410)
	if got, err := h.svc.RefetchEvent(ctx, id); err != nil || got != RefetchSkipped || h.event(apID).Deleted {
		t.Errorf("blocked domain: %q, %v", got, err)
	}
}
