package federation

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"codeberg.org/passerelle/passerelle/federation/outbox"
	"codeberg.org/passerelle/passerelle/internal/storetest"
	"codeberg.org/passerelle/passerelle/store"
)

// slowInbox is a remote inbox that holds every POST until opened and
// counts how many it holds at once.
type slowInbox struct {
	srv       *httptest.Server
	gate      chan struct{}
	openOnce  sync.Once
	mu        sync.Mutex
	inFlight  int
	maxFlight int
	received  int
}

func newSlowInbox(t *testing.T) *slowInbox {
	s := &slowInbox{gate: make(chan struct{})}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		s.mu.Lock()
		s.inFlight++
		s.received++
		s.maxFlight = max(s.maxFlight, s.inFlight)
		s.mu.Unlock()
		select {
		case <-s.gate:
		case <-r.Context().Done():
		}
		s.mu.Lock()
		s.inFlight--
		s.mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
	}))
	// Close waits for the requests it holds: open the gate first.
	t.Cleanup(func() { s.open(); s.srv.Close() })
	return s
}

// open lets every held POST, and every later one, through.
func (s *slowInbox) open() { s.openOnce.Do(func() { close(s.gate) }) }

// counts returns the POSTs held now, the most held at once and all received.
func (s *slowInbox) counts() (inFlight, maxFlight, received int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.inFlight, s.maxFlight, s.received
}

// deliverN records n deliveries to the slow inbox from the instance actor
// and returns their ids.
func deliverN(t *testing.T, h *harness, inbox string, n int) []int64 {
	t.Helper()
	ctx := context.Background()
	inst, err := h.svc.InstanceActor(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var ids []int64
	for range n {
		id := h.svc.URL("/test/" + randomID())
		err := h.db.Tx(ctx, func(ctx context.Context, tx *store.Tx) error {
			return h.svc.Deliver(ctx, tx, inst.ID, outbox.Recipient{Inbox: inbox}, []byte(`{"id":"`+id+`","type":"Follow"}`))
		})
		if err != nil {
			t.Fatal(err)
		}
		ds, err := h.db.DeliveriesOf(ctx, id)
		if err != nil || len(ds) != 1 {
			t.Fatalf("deliveries of %s: %v %v", id, ds, err)
		}
		ids = append(ids, ds[0].ID)
	}
	return ids
}

// slotsHeld counts the leased delivery slots.
func slotsHeld(t *testing.T, db *store.DB) int {
	t.Helper()
	var n int
	if err := storetest.QueryRow(db, `SELECT COUNT(*) FROM delivery_slots`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestHostSlotsAcrossReplicas: two replicas (two services, each with its
// own pool, on one database) each send one delivery to a slow host; a third
// delivery, on either replica, finds no free slot: it sends nothing, counts
// no attempt and asks to come back in a few seconds; once the host answers,
// it goes through.
func TestHostSlotsAcrossReplicas(t *testing.T) {
	storetest.EachReplicas(t, 2, func(t *testing.T, dbs []*store.DB) {
		ctx := context.Background()
		a := newHarnessOn(t, dbs[0], Options{}, false)
		b := newHarnessOn(t, dbs[1], Options{}, false)
		slow := newSlowInbox(t)
		ids := deliverN(t, a, slow.srv.URL+"/inbox", 3)

		var wg sync.WaitGroup
		for i, h := range []*harness{a, b} {
			wg.Go(func() {
				if retry, err := h.svc.RunDelivery(ctx, ids[i]); retry != 0 || err != nil {
					t.Errorf("delivery %d: retry in %s, %v", i, retry, err)
				}
			})
		}
		eventually(t, "one delivery in flight from each replica", func() bool {
			n, _, _ := slow.counts()
			return n == outbox.PerHostDeliveries
		})
		for name, h := range map[string]*harness{"a": a, "b": b} {
			retry, err := h.svc.RunDelivery(ctx, ids[2])
			if most := outbox.HostBusyFirstWait * 5 / 2; err != nil || retry < outbox.HostBusyFirstWait || retry > most {
				t.Errorf("replica %s, host busy: retry in %s (want %s to %s), %v", name, retry, outbox.HostBusyFirstWait, most, err)
			}
			d, err := h.db.DeliveryByID(ctx, ids[2])
			if err != nil || d.State != store.DeliveryPending || d.Attempts != 0 || d.LastError != "" {
				t.Errorf("replica %s, host busy: delivery %+v, %v; want pending, no attempt, no error", name, d, err)
			}
		}
		if _, _, received := slow.counts(); received != outbox.PerHostDeliveries {
			t.Errorf("the host received %d POSTs while its slots were taken, want %d", received, outbox.PerHostDeliveries)
		}

		slow.open()
		wg.Wait()
		if retry, err := b.svc.RunDelivery(ctx, ids[2]); retry != 0 || err != nil {
			t.Fatalf("delivery after the host answered: retry in %s, %v", retry, err)
		}
		for _, id := range ids {
			if d, err := a.db.DeliveryByID(ctx, id); err != nil || d.State != store.DeliveryDelivered || d.Attempts != 1 {
				t.Errorf("delivery %d: %+v, %v; want delivered in one attempt", id, d, err)
			}
		}
		if _, most, _ := slow.counts(); most != outbox.PerHostDeliveries {
			t.Errorf("%d POSTs in flight at once, want %d", most, outbox.PerHostDeliveries)
		}
		if n := slotsHeld(t, a.db); n != 0 {
			t.Errorf("%d slots still leased after every delivery", n)
		}
	})
}

// TestHostBusySnoozes runs the job workers of two replicas: of three
// deliveries to one slow host, two are in flight and the third's job is
// snoozed, not counted as an attempt; once the host answers, all three are
// delivered, each in one attempt.
func TestHostBusySnoozes(t *testing.T) {
	storetest.EachReplicas(t, 2, func(t *testing.T, dbs []*store.DB) {
		ctx := context.Background()
		a := newHarnessOn(t, dbs[0], Options{}, true)
		newHarnessOn(t, dbs[1], Options{}, true)
		slow := newSlowInbox(t)
		ids := deliverN(t, a, slow.srv.URL+"/inbox", 3)

		// River counts snoozes in the job's metadata (a snooze shorter than
		// its scheduler's interval leaves the job available, not scheduled).
		snoozed := func() int {
			metadata := "metadata"
			if a.db.Backend() == store.SQLite {
				metadata = "json(metadata)" // riversqlite stores JSONB
			}
			rows, err := storetest.Query(a.db, `SELECT `+metadata+` FROM river_job WHERE kind = ?`, outbox.DeliverJob{}.Kind())
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			n := 0
			for rows.Next() {
				var raw []byte
				var m struct {
					Snoozes int `json:"snoozes"`
				}
				if err := rows.Scan(&raw); err != nil {
					t.Fatal(err)
				}
				if json.Unmarshal(raw, &m) == nil && m.Snoozes > 0 {
					n++
				}
			}
			return n
		}
		eventually(t, "two deliveries in flight and the third snoozed", func() bool {
			n, _, _ := slow.counts()
			return n == outbox.PerHostDeliveries && snoozed() == 1
		})
		for _, id := range ids {
			d, err := a.db.DeliveryByID(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if d.State != store.DeliveryPending || d.Attempts != 0 {
				t.Errorf("delivery %d while the host is slow: %s after %d attempts, want pending after none", id, d.State, d.Attempts)
			}
		}

		slow.open()
		eventually(t, "all three delivered", func() bool {
			for _, id := range ids {
				if d, err := a.db.DeliveryByID(ctx, id); err != nil || d.State != store.DeliveryDelivered {
					return false
				}
			}
			return true
		})
		for _, id := range ids {
			if d, _ := a.db.DeliveryByID(ctx, id); d.Attempts != 1 {
				t.Errorf("delivery %d took %d attempts, want 1: waiting for a slot is not an attempt", id, d.Attempts)
			}
		}
		if _, most, received := slow.counts(); most != outbox.PerHostDeliveries || received != 3 {
			t.Errorf("%d POSTs in flight at most, %d received; want %d and 3", most, received, outbox.PerHostDeliveries)
		}
		eventually(t, "the slots freed", func() bool { return slotsHeld(t, a.db) == 0 })
	})
}
