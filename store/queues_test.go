package store_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"codeberg.org/passerelle/passerelle/bridges"
	"codeberg.org/passerelle/passerelle/internal/storetest"
	"codeberg.org/passerelle/passerelle/store"
)

// TestMailQueueHoldsNothingElse: mails have a queue and workers of their
// own. A fan-out of slow mails (paced by mail.send_interval, or a slow
// relay) does not hold the job a Join's delivery needs, and a reply's
// mail (priority 1) goes before the fan-out's remaining updates
// (priority 2). The order the jobs finished in says it, not a clock.
func TestMailQueueHoldsNothingElse(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		file := filepath.Join(t.TempDir(), "ran")
		const updates = 24
		for range updates {
			if err := db.Enqueue(ctx, store.ProbeArgs{File: file, Label: "update", Hold: 100 * time.Millisecond},
				bridges.JobOpts{Queue: bridges.QueueMail, Priority: 2}); err != nil {
				t.Fatal(err)
			}
		}
		workers := river.NewWorkers()
		river.AddWorker(workers, store.ProbeWorker{})
		storetest.StartJobs(t, db, store.Jobs{Workers: workers, MailWorkers: 2, PollInterval: 50 * time.Millisecond})
		time.Sleep(150 * time.Millisecond) // the fan-out is being sent
		if err := db.Enqueue(ctx, store.ProbeArgs{File: file, Label: "delivery"}, bridges.JobOpts{}); err != nil {
			t.Fatal(err)
		}
		if err := db.Enqueue(ctx, store.ProbeArgs{File: file, Label: "reply", Hold: 100 * time.Millisecond},
			bridges.JobOpts{Queue: bridges.QueueMail, Priority: 1}); err != nil {
			t.Fatal(err)
		}
		var labels []string
		deadline := time.Now().Add(30 * time.Second)
		for len(labels) < updates+2 {
			if time.Now().After(deadline) {
				t.Fatalf("jobs ran: %v", labels)
			}
			time.Sleep(50 * time.Millisecond)
			b, _ := os.ReadFile(file)
			labels = labels[:0]
			for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
				if f := strings.Fields(line); len(f) > 0 {
					labels = append(labels, f[0])
				}
			}
		}
		if i := slices.Index(labels, "delivery"); i < 0 || i >= updates/2 {
			t.Errorf("the delivery ran %dth, behind the fan-out's mails: %v", i+1, labels)
		}
		if i := slices.Index(labels, "reply"); i < 0 || i >= updates/2 {
			t.Errorf("the reply's mail went %dth, behind the fan-out's updates: %v", i+1, labels)
		}
	})
}
