package store_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"codeberg.org/passerelle/passerelle/bridges"
	"codeberg.org/passerelle/passerelle/internal/storetest"
	"codeberg.org/passerelle/passerelle/store"
)

// TestChangeLogCommitOrder is what CalDAV sync relies on: a reader that has
// seen sequence n never later finds a change numbered below n. Writers on
// three replicas save events in transactions that stay open a while after
// the save (as an inbox job's does), while a reader follows the log the
// way a sync-collection client does, from the position it reached; every
// event must reach it. Numbering inside the transactions, without a lock
// held to the commit, loses some here.
func TestChangeLogCommitOrder(t *testing.T) {
	storetest.EachReplicas(t, 3, func(t *testing.T, dbs []*store.DB) {
		ctx := context.Background()
		src := &bridges.Source{Slug: "g", ActorURL: "https://mobilizon.test/@g", Software: "mobilizon", State: bridges.SourceFollowed, CreatedAt: time.Now()}
		storetest.SaveSources(t, dbs[0], src)
		const writers, each = 6, 25
		start := time.Now().Add(24 * time.Hour).Truncate(time.Second)

		stop := make(chan struct{})
		seen := map[int64]bool{}
		var reads int
		readerDone := make(chan error, 1)
		follow := func(pos int64) (int64, error) {
			changes, err := dbs[2].ChangesSince(ctx, src.ID, pos, 0)
			for _, c := range changes {
				seen[c.EventID] = true
				pos = max(pos, c.Seq)
			}
			return pos, err
		}
		var pos int64
		go func() {
			for {
				select {
				case <-stop:
					readerDone <- nil
					return
				default:
				}
				var err error
				if pos, err = follow(pos); err != nil {
					readerDone <- err
					return
				}
				reads++
			}
		}()

		var wg sync.WaitGroup
		ids := make(chan int64, writers*each)
		errs := make(chan error, writers)
		for w := range writers {
			wg.Go(func() {
				db := dbs[w%2]
				for i := range each {
					ev := &bridges.StoredEvent{Event: sampleEvent(fmt.Sprintf("https://mobilizon.test/events/%d-%d", w, i), start),
						CreatedAt: time.Now(), ModifiedAt: time.Now()}
					ev.SourceID = src.ID
					err := db.Tx(ctx, func(ctx context.Context, tx *store.Tx) error {
						if err := tx.SaveEvent(ctx, ev); err != nil {
							return err
						}
						// The rest of the job's work, before its commit.
						time.Sleep(time.Duration(i%4) * time.Millisecond)
						return nil
					})
					if err != nil {
						errs <- err
						return
					}
					ids <- ev.ID
				}
			})
		}
		wg.Wait()
		close(stop)
		if err := <-readerDone; err != nil {
			t.Fatal(err)
		}
		close(errs)
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
		close(ids)
		var missed []int64
		// What the reader finds from where it stopped comes too; what it
		// skipped over, it never finds.
		if _, err := follow(pos); err != nil {
			t.Fatal(err)
		}
		n := 0
		for id := range ids {
			n++
			if !seen[id] {
				missed = append(missed, id)
			}
		}
		if n != writers*each || len(missed) > 0 {
			t.Fatalf("%d events saved; the reader (%d reads) never saw %d of them: %v", n, reads, len(missed), missed)
		}
		if reads < 10 {
			t.Fatalf("the reader followed the log only %d times while the writers ran", reads)
		}
	})
}

// TestChangeLogAppendFails: on PostgreSQL a change-log append goes to the
// server with the COMMIT; when it fails, the transaction's other writes
// are rolled back too, as on SQLite, where it fails at once.
func TestChangeLogAppendFails(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		src := &bridges.Source{Slug: "g", ActorURL: "https://mobilizon.test/@g", Software: "mobilizon", State: bridges.SourceFollowed, CreatedAt: time.Now()}
		storetest.SaveSources(t, db, src)
		ev := &bridges.StoredEvent{Event: sampleEvent("https://mobilizon.test/events/1", time.Now().Add(24*time.Hour).Truncate(time.Second)),
			CreatedAt: time.Now(), ModifiedAt: time.Now()}
		ev.SourceID = src.ID
		err := db.Tx(ctx, func(ctx context.Context, tx *store.Tx) error {
			if err := tx.SaveEvent(ctx, ev); err != nil {
				return err
			}
			// An entry the database refuses (event_id NOT NULL).
			return store.AppendLogForTest(ctx, tx, "INSERT INTO change_log (source_id, event_id, kind, at) VALUES (NULL, NULL, 'changed', 0)")
		})
		if err == nil {
			t.Fatal("a change-log entry without an event was accepted")
		}
		if _, err := db.EventByAPID(ctx, ev.APID); !errors.Is(err, bridges.ErrNotFound) {
			t.Fatalf("the event of the failed transaction was kept: %v", err)
		}
		changes, err := db.ChangesSince(ctx, 0, 0, 0)
		if err != nil || len(changes) != 0 {
			t.Fatalf("change log after the failed transaction: %+v %v", changes, err)
		}
		// The connection is usable, and the next transaction commits.
		ev.ID = 0
		if err := db.Tx(ctx, func(ctx context.Context, tx *store.Tx) error { return tx.SaveEvent(ctx, ev) }); err != nil {
			t.Fatal(err)
		}
		if changes, err = db.ChangesSince(ctx, 0, 0, 0); err != nil || len(changes) != 1 || changes[0].EventID != ev.ID {
			t.Fatalf("change log after the next transaction: %+v %v", changes, err)
		}
	})
}
