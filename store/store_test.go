package store_test

import (
	"context"
	"errors"
	"os"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"codeberg.org/passerelle/passerelle/bridges"
	"codeberg.org/passerelle/passerelle/internal/storetest"
	"codeberg.org/passerelle/passerelle/store"
)

func ptr[T any](v T) *T { return &v }

func sampleEvent(apID string, start time.Time) bridges.Event {
	return bridges.Event{
		APID: apID, URL: apID, Title: "Café réparation", DescriptionHTML: "<p>Bring a toaster</p>", DescriptionText: "Bring a toaster",
		Start: start, End: start.Add(2 * time.Hour), TimeZone: "Europe/Paris",
		Status: bridges.StatusConfirmed, JoinMode: bridges.JoinRestricted,
		MaxCapacity: 20, RemainingCapacity: ptr(-1), ParticipantCount: 21,
		Place: &bridges.Place{Name: "Maison de quartier", Locality: "Nantes", Latitude: ptr(47.2), Longitude: ptr(-1.55)},
		Tags:  []string{"repair", "café"}, Language: "fr", Public: true,
		Updated: start.Add(-48 * time.Hour).Truncate(time.Microsecond),
	}
}

type fakeRenderer struct{}

func (fakeRenderer) RenderEvent(ev *bridges.Event) ([]byte, error) {
	return []byte("BEGIN:VCALENDAR\r\nSUMMARY:" + ev.Title + "\r\nEND:VCALENDAR\r\n"), nil
}

func TestEventsRoundTripAndChangeLog(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		src := &bridges.Source{Slug: "cafe", ActorURL: "https://mobilizon.test/@cafe", Software: "mobilizon", State: bridges.SourceFollowed, CreatedAt: time.Now()}
		if err := db.Tx(ctx, func(ctx context.Context, tx *store.Tx) error { return tx.SaveSource(ctx, src) }); err != nil {
			t.Fatal(err)
		}
		flow := &bridges.Events[*store.Tx]{Store: db, Renderer: fakeRenderer{}}
		start := time.Date(2026, 3, 29, 0, 30, 0, 0, time.UTC) // the night Paris moves to summer time
		ev := sampleEvent("https://mobilizon.test/events/1", start)
		ev.SourceID = src.ID
		ch, err := flow.Apply(ctx, ev, []byte(`{"type":"Event"}`))
		if err != nil {
			t.Fatal(err)
		}
		if ch.Kind != bridges.ChangeCreated || ch.Event.ID == 0 {
			t.Fatalf("first apply: %+v", ch)
		}
		got, err := db.EventByAPID(ctx, ev.APID)
		if err != nil {
			t.Fatal(err)
		}
		want := ev
		want.ID = got.ID
		if !reflect.DeepEqual(got.Event, want) {
			t.Errorf("round trip changed the event:\n got %+v\nwant %+v", got.Event, want)
		}
		if string(got.Raw) != `{"type":"Event"}` || !strings.Contains(string(got.Calendar), "Café réparation") || got.ETag == "" {
			t.Errorf("raw/calendar/etag not kept: %q %q %q", got.Raw, got.Calendar, got.ETag)
		}

		// The same copy again is a no-op; a count change is minor; a
		// title change is a new version.
		if ch, err := flow.Apply(ctx, ev, nil); err != nil || ch.Event != nil {
			t.Fatalf("identical copy changed something: %+v %v", ch, err)
		}
		ev.ParticipantCount = 22
		if ch, err := flow.Apply(ctx, ev, nil); err != nil || ch.Kind != bridges.ChangeMinor || ch.Event.Sequence != 0 {
			t.Fatalf("minor change: %+v %v", ch, err)
		}
		ev.Title = "Café réparation (report)"
		ev.Updated = ev.Updated.Add(time.Hour)
		ch, err = flow.Apply(ctx, ev, nil)
		if err != nil || ch.Kind != bridges.ChangeUpdated || ch.Event.Sequence != 1 {
			t.Fatalf("material change: %+v %v", ch, err)
		}
		// An older copy arriving late changes nothing.
		old := ev
		old.Title = "stale"
		old.Updated = ev.Updated.Add(-2 * time.Hour)
		if ch, err := flow.Apply(ctx, old, nil); err != nil || ch.Event != nil {
			t.Fatalf("stale copy applied: %+v %v", ch, err)
		}
		ev.Status = bridges.StatusCancelled
		if ch, err := flow.Apply(ctx, ev, nil); err != nil || ch.Kind != bridges.ChangeCancelled || ch.Event.Sequence != 2 {
			t.Fatalf("cancel: %+v %v", ch, err)
		}
		if ch, err := flow.Delete(ctx, ev.APID); err != nil || ch.Kind != bridges.ChangeDeleted {
			t.Fatalf("delete: %+v %v", ch, err)
		}
		if ch, err := flow.Apply(ctx, ev, nil); err != nil || ch.Event != nil {
			t.Fatalf("a deleted event came back: %+v %v", ch, err)
		}

		changes, err := db.ChangesSince(ctx, src.ID, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		var kinds []string
		for i, c := range changes {
			if i > 0 && c.Seq <= changes[i-1].Seq {
				t.Errorf("change log not increasing: %+v", changes)
			}
			kinds = append(kinds, c.Kind)
		}
		if strings.Join(kinds, ",") != "changed,changed,changed,changed,deleted" {
			t.Errorf("change log kinds = %v", kinds)
		}
		tail, err := db.ChangesSince(ctx, src.ID, changes[3].Seq, 0)
		if err != nil || len(tail) != 1 || tail[0].Kind != "deleted" {
			t.Errorf("changes since %d = %+v, %v", changes[3].Seq, tail, err)
		}
		last, err := db.LastChange(ctx, src.ID)
		if err != nil || last != changes[4].Seq {
			t.Errorf("last change = %d, %v", last, err)
		}
	})
}

func TestEventsTimeRange(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		flow := &bridges.Events[*store.Tx]{Store: db}
		base := time.Date(2026, 6, 1, 10, 0, 0, 0, time.UTC)
		a := sampleEvent("https://x.test/a", base) // 10:00–12:00
		b := sampleEvent("https://x.test/b", base.Add(3*time.Hour))
		b.End = time.Time{} // 13:00, no end
		draft := sampleEvent("https://x.test/draft", base)
		draft.Draft = true
		for _, ev := range []bridges.Event{a, b, draft} {
			if _, err := flow.Apply(ctx, ev, nil); err != nil {
				t.Fatal(err)
			}
		}
		for _, tc := range []struct {
			from, to time.Time
			want     string
		}{
			{base, base.Add(time.Hour), "a"},                                   // starts exactly at the range start
			{base.Add(2 * time.Hour), base.Add(3 * time.Hour), ""},             // a ends at the start, b starts at the end
			{base.Add(3 * time.Hour), base.Add(4 * time.Hour), "b"},            // no end: starts at the range start
			{base.Add(time.Hour), base.Add(5 * time.Hour), "a,b"},              // overlap
			{time.Time{}, time.Time{}, "a,b"},                                  // drafts never appear
			{base.Add(3*time.Hour + time.Second), base.Add(5 * time.Hour), ""}, // b is a point in time
		} {
			evs, err := db.Events(ctx, store.EventQuery{From: tc.from, To: tc.to})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, e := range evs {
				got = append(got, e.APID[len(e.APID)-1:])
			}
			if strings.Join(got, ",") != tc.want {
				t.Errorf("[%s, %s) = %v, want %s", tc.from.Format("15:04:05"), tc.to.Format("15:04:05"), got, tc.want)
			}
		}
	})
}

func TestUpgradeFromFirstSchema(t *testing.T) {
	storetest.Each(t, func(t *testing.T, _ *store.DB) {
		// A database as the first release left it: only 0001, frozen in
		// testdata, with a row in it that the upgrade must keep.
		ctx := context.Background()
		db := openEmpty(t)
		frozen, err := os.ReadFile("testdata/schema-0001.sql")
		if err != nil {
			t.Fatal(err)
		}
		if err := db.ApplyForTest(ctx, 1, "initial", string(frozen)); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(ctx, "INSERT INTO sources (slug, actor_url, state, created_at) VALUES ('old', 'https://old.test/@g', 'followed', 1)"); err != nil {
			t.Fatal(err)
		}
		if err := db.Migrate(ctx); err != nil {
			t.Fatalf("upgrade: %v", err)
		}
		ms, _ := store.Migrations()
		if v, err := db.SchemaVersion(ctx); err != nil || v != ms[len(ms)-1].Version {
			t.Errorf("schema version %d, want %d (%v)", v, ms[len(ms)-1].Version, err)
		}
		if s, err := db.SourceBySlug(ctx, "old"); err != nil || s.ActorURL != "https://old.test/@g" {
			t.Errorf("row lost in the upgrade: %+v %v", s, err)
		}
	})
}

func TestNewerSchemaRefused(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		if _, err := db.Exec(ctx, "INSERT INTO schema_migrations (version, name, applied_at) VALUES (9999, 'future', 1)"); err != nil {
			t.Fatal(err)
		}
		if err := db.Migrate(ctx); !errors.Is(err, store.ErrNewerSchema) {
			t.Fatalf("Migrate on a newer schema = %v, want ErrNewerSchema", err)
		}
	})
}

type pingArgs struct {
	Note string `json:"note"`
}

func (pingArgs) Kind() string { return "test_ping" }

type pingWorker struct {
	river.WorkerDefaults[pingArgs]
	seen chan string
}

func (w *pingWorker) Work(ctx context.Context, job *river.Job[pingArgs]) error {
	w.seen <- job.Args.Note
	return nil
}

func TestJobsCommitWithTheTransaction(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		// A rolled-back transaction enqueues nothing; a committed one does.
		rollback := errors.New("roll back")
		err := db.Tx(ctx, func(ctx context.Context, tx *store.Tx) error {
			if err := tx.Enqueue(ctx, pingArgs{Note: "rolled back"}, bridges.JobOpts{}); err != nil {
				return err
			}
			return rollback
		})
		if !errors.Is(err, rollback) {
			t.Fatal(err)
		}
		if err := db.Enqueue(ctx, pingArgs{Note: "committed"}, bridges.JobOpts{Unique: true}); err != nil {
			t.Fatal(err)
		}
		if err := db.Enqueue(ctx, pingArgs{Note: "committed"}, bridges.JobOpts{Unique: true}); err != nil {
			t.Fatal(err)
		}
		w := &pingWorker{seen: make(chan string, 4)}
		workers := river.NewWorkers()
		river.AddWorker(workers, w)
		stop, err := db.StartJobs(ctx, store.Jobs{Workers: workers, PollInterval: 50 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		select {
		case note := <-w.seen:
			if note != "committed" {
				t.Errorf("ran %q", note)
			}
		case <-ctx.Done():
			t.Fatal("the committed job never ran")
		}
		var ran atomic.Int32
		deadline := time.After(500 * time.Millisecond)
	wait:
		for {
			select {
			case note := <-w.seen:
				ran.Add(1)
				t.Errorf("another job ran: %q (unique insert or rollback failed)", note)
			case <-deadline:
				break wait
			}
		}
		if err := stop(ctx); err != nil {
			t.Error(err)
		}
	})
}

func TestFindSourceByWhatUsersType(t *testing.T) {
	db := storetest.New(t)
	ctx := context.Background()
	src := &bridges.Source{Slug: "libre-cafe", ActorURL: "https://mobilizon.test/@libre_cafe", Handle: "@libre_cafe@mobilizon.test",
		Software: "mobilizon", State: bridges.SourceFollowed, CreatedAt: time.Now()}
	if err := db.Tx(ctx, func(ctx context.Context, tx *store.Tx) error { return tx.SaveSource(ctx, src) }); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"libre-cafe", " https://mobilizon.test/@libre_cafe ", "@libre_cafe@mobilizon.test", "libre_cafe@mobilizon.test"} {
		if got, err := db.FindSource(ctx, name); err != nil || got.ID != src.ID {
			t.Errorf("FindSource(%q) = %v, %v", name, got, err)
		}
	}
	if _, err := db.FindSource(ctx, "@nobody@mobilizon.test"); !errors.Is(err, bridges.ErrNotFound) || !strings.Contains(err.Error(), "passerelle sources") {
		t.Errorf("unknown source: %v", err)
	}
}

// TestUpgradeKeepsTheInboxQueue upgrades a database with activities
// waiting and processed in inbox_activities (migration 0002) to
// inbox_pending and inbox_seen (0009): nothing accepted is lost, and the
// replay guard is kept.
func TestUpgradeKeepsTheInboxQueue(t *testing.T) {
	storetest.Each(t, func(t *testing.T, _ *store.DB) {
		ctx := context.Background()
		db := openEmpty(t)
		ms, err := store.Migrations()
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range ms {
			if m.Version >= 9 {
				break
			}
			if err := db.ApplyForTest(ctx, m.Version, m.Name, m.SQL); err != nil {
				t.Fatalf("migration %d: %v", m.Version, err)
			}
		}
		processed := store.InboxDedupeKey("https://m.example/e/1/activity", []byte(`{"v":1}`))
		for _, q := range []string{
			`INSERT INTO inbox_activities (dedupe_key, signer, body, received_at, job_id) VALUES ('` + processed + `', 'https://m.example/@a', NULL, 1, 7)`,
			`INSERT INTO inbox_activities (dedupe_key, signer, body, received_at, job_id) VALUES ('k2', 'https://m.example/@a', '{"v":2}', 2, 8)`,
			`INSERT INTO inbox_activities (dedupe_key, signer, body, received_at, job_id) VALUES ('k3', 'https://m.example/@b', '{"v":3}', 3, 8)`,
		} {
			if _, err := db.Exec(ctx, q); err != nil {
				t.Fatal(err)
			}
		}
		if err := db.Migrate(ctx); err != nil {
			t.Fatalf("upgrade: %v", err)
		}
		acts, err := db.PendingInboxActivities(ctx, 8)
		if err != nil || len(acts) != 2 || string(acts[0].Body) != `{"v":2}` || acts[1].Signer != "https://m.example/@b" {
			t.Errorf("waiting activities after the upgrade: %+v %v", acts, err)
		}
		if acts, _ := db.PendingInboxActivities(ctx, 7); len(acts) != 0 {
			t.Errorf("a processed activity is waiting again: %+v", acts)
		}
		if seen, err := db.SeenInboxActivities(ctx, []string{processed, "k2"}); err != nil || !seen[processed] || seen["k2"] {
			t.Errorf("replay guard after the upgrade: %v %v", seen, err)
		}
	})
}
