package store_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"codeberg.org/passerelle/passerelle/bridges"
	"codeberg.org/passerelle/passerelle/internal/storetest"
	"codeberg.org/passerelle/passerelle/store"
)

// TestFederationStorage runs federation's queries (migration 0002) on
// both backends.
func TestFederationStorage(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()

		// Inbox activities: recorded as they come for the job still
		// waiting to run, when there is one, instead of a new job; the job
		// finds them in order, and removes what it dealt with.
		var job int64
		err := db.Tx(ctx, func(ctx context.Context, tx *store.Tx) error {
			waiting, err := tx.WaitingJob(ctx, pingArgs{}.Kind(), 0)
			if err != nil || waiting != 0 {
				return fmt.Errorf("waiting job %d before any: %v", waiting, err)
			}
			if job, err = tx.EnqueueID(ctx, pingArgs{Note: "inbox"}, bridges.JobOpts{}); err != nil {
				return err
			}
			return tx.AddInboxActivities(ctx, job, []store.NewInboxActivity{
				{Signer: "https://m.example/@a", Body: []byte(`{"v":1}`)},
				{Signer: "https://m.example/@a", Body: []byte(`{"v":1}`)},
			})
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := db.Tx(ctx, func(ctx context.Context, tx *store.Tx) error {
			waiting, err := tx.WaitingJob(ctx, pingArgs{}.Kind(), 0)
			if err != nil || waiting != job {
				return fmt.Errorf("waiting job %d, want %d: %v", waiting, job, err)
			}
			if waiting, err = tx.WaitingJob(ctx, pingArgs{}.Kind(), job); err != nil || waiting != 0 {
				return fmt.Errorf("waiting job after %d: %d, want none: %v", job, waiting, err)
			}
			return tx.AddInboxActivities(ctx, job, []store.NewInboxActivity{{Signer: "x", Body: []byte(`{"v":2}`)}})
		}); err != nil {
			t.Fatal(err)
		}
		acts, err := db.PendingInboxActivities(ctx, job)
		if err != nil || len(acts) != 3 || string(acts[0].Body) != `{"v":1}` || string(acts[2].Body) != `{"v":2}` ||
			acts[0].Signer != "https://m.example/@a" || acts[2].Signer != "x" || !(acts[0].ID < acts[1].ID && acts[1].ID < acts[2].ID) {
			t.Fatalf("activities %+v %v", acts, err)
		}
		// A batch larger than one insert statement takes: all of it, in
		// order.
		var many []store.NewInboxActivity
		for i := range 21 {
			many = append(many, store.NewInboxActivity{Signer: "s", Body: fmt.Appendf(nil, `{"n":%d}`, i)})
		}
		if err := db.Tx(ctx, func(ctx context.Context, tx *store.Tx) error { return tx.AddInboxActivities(ctx, job+1000, many) }); err != nil {
			t.Fatal(err)
		}
		if got, err := db.PendingInboxActivities(ctx, job+1000); err != nil || len(got) != 21 || string(got[0].Body) != `{"n":0}` || string(got[16].Body) != `{"n":16}` || string(got[20].Body) != `{"n":20}` {
			t.Fatalf("a batch of 21: %d rows, %v", len(got), err)
		}
		// The replay guard: a key names the id and the body, so a changed
		// body under the same id (Mobilizon's Update) is another activity.
		k1 := store.InboxDedupeKey("https://m.example/e/1/activity", []byte(`{"v":1}`))
		k2 := store.InboxDedupeKey("https://m.example/e/1/activity", []byte(`{"v":2}`))
		if k1 == k2 {
			t.Fatalf("one key for two bodies: %s", k1)
		}
		old := store.InboxDedupeKey("https://m.example/e/0/activity", nil)
		if err := db.InboxActivitiesDone(ctx, nil, []string{old}, time.Now().Add(-3*time.Hour), time.Hour); err != nil {
			t.Fatal(err)
		}
		// Two processed (one a replay, with the same key): their rows go,
		// their key stays, and keys older than the horizon are forgotten.
		if err := db.InboxActivitiesDone(ctx, []int64{acts[0].ID, acts[1].ID}, []string{k1, k1}, time.Now(), time.Hour); err != nil {
			t.Fatal(err)
		}
		if left, _ := db.PendingInboxActivities(ctx, job); len(left) != 1 || left[0].ID != acts[2].ID {
			t.Errorf("pending after two were dealt with: %+v", left)
		}
		seen, err := db.SeenInboxActivities(ctx, []string{k1, k2, old})
		if err != nil || !seen[k1] || seen[k2] || seen[old] {
			t.Errorf("seen %v %v, want only %s", seen, err, k1)
		}
		// The lists go to the database as JSON: an id with quotes,
		// backslashes and non-ASCII letters comes back as it went.
		odd := store.InboxDedupeKey(`https://m.example/e/"quoted"\'it's'/été<&>`, []byte(`{}`))
		if err := db.InboxActivitiesDone(ctx, nil, []string{odd}, time.Now(), 0); err != nil {
			t.Fatal(err)
		}
		if seen, err := db.SeenInboxActivities(ctx, []string{odd, k2}); err != nil || !seen[odd] || len(seen) != 1 {
			t.Errorf("seen %v %v, want only %s", seen, err, odd)
		}
		// A job a worker has taken is no longer waiting.
		if _, err := db.Exec(ctx, `UPDATE river_job SET state = 'running' WHERE id = ?`, job); err != nil {
			t.Fatal(err)
		}
		if err := db.Tx(ctx, func(ctx context.Context, tx *store.Tx) error {
			waiting, err := tx.WaitingJob(ctx, pingArgs{}.Kind(), 0)
			if err != nil || waiting != 0 {
				return fmt.Errorf("waiting job %d once the job runs: %v", waiting, err)
			}
			return nil
		}); err != nil {
			t.Error(err)
		}

		if db.Backend() == store.Postgres {
			// On PostgreSQL the job stays locked until the transaction that
			// found it ends: River's fetch (FOR UPDATE SKIP LOCKED) cannot
			// start it meanwhile, and another inbox transaction leaves it.
			if _, err := db.Exec(ctx, `UPDATE river_job SET state = 'available' WHERE id = ?`, job); err != nil {
				t.Fatal(err)
			}
			err := db.Tx(ctx, func(ctx context.Context, tx *store.Tx) error {
				if waiting, err := tx.WaitingJob(ctx, pingArgs{}.Kind(), 0); err != nil || waiting != job {
					return fmt.Errorf("waiting job %d, want %d: %v", waiting, job, err)
				}
				res, err := db.Exec(ctx, `UPDATE river_job SET state = 'running' WHERE id IN
					(SELECT id FROM river_job WHERE state = 'available' AND id = ? FOR UPDATE SKIP LOCKED)`, job)
				if err != nil {
					return err
				}
				if n, _ := res.RowsAffected(); n != 0 {
					return fmt.Errorf("a fetch took the job while an inbox transaction held it")
				}
				return db.Tx(ctx, func(ctx context.Context, other *store.Tx) error {
					if waiting, err := other.WaitingJob(ctx, pingArgs{}.Kind(), 0); err != nil || waiting != 0 {
						return fmt.Errorf("a second transaction found job %d locked by the first: %v", waiting, err)
					}
					return nil
				})
			})
			if err != nil {
				t.Error(err)
			}
		}

		// Remote actors: upsert by id, found by key id.
		ra := &store.RemoteActor{ID: "https://m.example/@g", KeyID: "https://m.example/@g#main-key", PublicKeyPEM: "pem1", Type: "Group", Inbox: "https://m.example/@g/inbox", FetchedAt: time.Now()}
		if err := db.SaveRemoteActor(ctx, ra); err != nil {
			t.Fatal(err)
		}
		ra.PublicKeyPEM, ra.SharedInbox = "pem2", "https://m.example/inbox"
		if err := db.SaveRemoteActor(ctx, ra); err != nil {
			t.Fatal(err)
		}
		got, err := db.RemoteActorByKeyID(ctx, ra.KeyID)
		if err != nil || got.PublicKeyPEM != "pem2" || got.SharedInbox != "https://m.example/inbox" || got.Type != "Group" {
			t.Errorf("remote actor %+v %v", got, err)
		}
		if _, err := db.RemoteActor(ctx, "https://m.example/@nobody"); !errors.Is(err, bridges.ErrNotFound) {
			t.Errorf("unknown actor: %v", err)
		}

		// Block list.
		if err := db.BlockDomain(ctx, "Spam.Example."); err != nil {
			t.Fatal(err)
		}
		if err := db.BlockDomain(ctx, "https://x/"); err == nil {
			t.Error("a URL was accepted as a domain")
		}
		if b, _ := db.DomainBlocked(ctx, "spam.example"); !b {
			t.Error("spam.example not blocked")
		}
		if l, _ := db.BlockedDomains(ctx); len(l) != 1 || l[0] != "spam.example" {
			t.Errorf("block list %v", l)
		}
		if was, _ := db.UnblockDomain(ctx, "spam.example"); !was {
			t.Error("unblock said it was not blocked")
		}

		// Deliveries: recorded in a transaction, attempts counted.
		a := &store.LocalActor{Kind: store.ActorInstance, Username: "passerelle", PrivateKeyPEM: "k", PublicKeyPEM: "p"}
		d := &store.Delivery{Recipient: "https://m.example/@g", ActivityID: "https://e.example/follows/1", Activity: []byte(`{"type":"Follow"}`)}
		if err := db.Tx(ctx, func(ctx context.Context, tx *store.Tx) error {
			if err := tx.CreateLocalActor(ctx, a); err != nil {
				return err
			}
			d.ActorID = a.ID
			return tx.InsertDelivery(ctx, d)
		}); err != nil {
			t.Fatal(err)
		}
		if err := db.RecordDeliveryAttempt(ctx, d.ID, store.DeliveryPending, "https://m.example/inbox", "HTTP 503"); err != nil {
			t.Fatal(err)
		}
		got2, err := db.DeliveryByID(ctx, d.ID)
		if err != nil || got2.Attempts != 1 || got2.Inbox != "https://m.example/inbox" || got2.LastError != "HTTP 503" || string(got2.Activity) != `{"type":"Follow"}` {
			t.Errorf("delivery %+v %v", got2, err)
		}
		if la, err := db.LocalActorByID(ctx, a.ID); err != nil || la.Username != "passerelle" {
			t.Errorf("local actor by id: %+v %v", la, err)
		}

		// Sources: state changes and event counts.
		src := &bridges.Source{Slug: "g", ActorURL: "https://m.example/@g", State: bridges.SourcePending, CreatedAt: time.Now()}
		if err := db.Tx(ctx, func(ctx context.Context, tx *store.Tx) error {
			if err := tx.SaveSource(ctx, src); err != nil {
				return err
			}
			return tx.SetSourceState(ctx, src.ID, bridges.SourceFollowed)
		}); err != nil {
			t.Fatal(err)
		}
		if s, _ := db.SourceWhere(ctx, "id", src.ID); s.State != bridges.SourceFollowed || s.LastActivity.IsZero() {
			t.Errorf("source %+v", s)
		}
		if n, err := db.SourceEventCount(ctx, src.ID); err != nil || n != 0 {
			t.Errorf("event count %d %v", n, err)
		}
	})
}
