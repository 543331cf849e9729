package store_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"codeberg.org/passerelle/passerelle/internal/storetest"
	"codeberg.org/passerelle/passerelle/store"
)

// TestDeliverySlots: two replicas (two pools on one database) racing for
// one host's slots get exactly the limit between them; other hosts are
// independent; a release frees a slot, an expired lease is taken over, and
// the late release of an expired lease leaves its new holder alone.
func TestDeliverySlots(t *testing.T) {
	storetest.EachReplicas(t, 2, func(t *testing.T, dbs []*store.DB) {
		ctx := context.Background()
		const limit = 2
		until := time.Now().Add(time.Minute)
		slots := func(host string) int {
			t.Helper()
			var n int
			if err := dbs[0].QueryRow(ctx, `SELECT COUNT(*) FROM delivery_slots WHERE host = ?`, host).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}

		// Eight deliveries, four per replica, all at once.
		var mu sync.Mutex
		var held []string
		var wg sync.WaitGroup
		for i := range 8 {
			wg.Go(func() {
				token, ok, err := dbs[i%2].AcquireDeliverySlot(ctx, "slow.example", limit, until)
				if err != nil {
					t.Error(err)
					return
				}
				if ok {
					mu.Lock()
					held = append(held, token)
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if len(held) != limit || held[0] == held[1] || slots("slow.example") != limit {
			t.Fatalf("8 racing acquirers got %d slots (tokens %q), %d rows; want exactly %d", len(held), held, slots("slow.example"), limit)
		}
		if _, ok, err := dbs[1].AcquireDeliverySlot(ctx, "slow.example", limit, until); ok || err != nil {
			t.Fatalf("a full host gave another slot (ok %v, err %v)", ok, err)
		}

		// Another host has slots of its own.
		if _, ok, err := dbs[1].AcquireDeliverySlot(ctx, "other.example", limit, until); !ok || err != nil {
			t.Fatalf("other host: ok %v, err %v", ok, err)
		}

		// A release by a wrong token frees nothing; the holder's does.
		if err := dbs[1].ReleaseDeliverySlot(ctx, "slow.example", "not-a-token"); err != nil {
			t.Fatal(err)
		}
		if err := dbs[1].ReleaseDeliverySlot(ctx, "other.example", held[0]); err != nil {
			t.Fatal(err)
		}
		if slots("slow.example") != limit {
			t.Fatalf("a release by another token or host freed a slot")
		}
		if err := dbs[1].ReleaseDeliverySlot(ctx, "slow.example", held[0]); err != nil {
			t.Fatal(err)
		}
		if slots("slow.example") != limit-1 {
			t.Fatalf("%d slots held after a release, want %d", slots("slow.example"), limit-1)
		}

		// A replica that died holding a slot: its lease ran out.
		dead, ok, err := dbs[0].AcquireDeliverySlot(ctx, "slow.example", limit, time.Now().Add(-time.Second))
		if !ok || err != nil {
			t.Fatalf("freed slot: ok %v, err %v", ok, err)
		}
		taker, ok, err := dbs[1].AcquireDeliverySlot(ctx, "slow.example", limit, until)
		if !ok || err != nil {
			t.Fatalf("the expired lease was not taken over: ok %v, err %v", ok, err)
		}
		if err := dbs[0].ReleaseDeliverySlot(ctx, "slow.example", dead); err != nil {
			t.Fatal(err)
		}
		if _, ok, _ := dbs[0].AcquireDeliverySlot(ctx, "slow.example", limit, until); ok {
			t.Fatal("the late release of an expired lease freed its new holder's slot")
		}
		for _, tok := range []string{held[1], taker} {
			if err := dbs[0].ReleaseDeliverySlot(ctx, "slow.example", tok); err != nil {
				t.Fatal(err)
			}
		}
		if n := slots("slow.example"); n != 0 {
			t.Errorf("%d slots held after every release", n)
		}
	})
}
