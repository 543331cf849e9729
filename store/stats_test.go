package store_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"codeberg.org/passerelle/passerelle/bridges"
	"codeberg.org/passerelle/passerelle/internal/storetest"
	"codeberg.org/passerelle/passerelle/store"
)

// TestSizeAndQueueDepths: the database's size grows with what is stored,
// and the queues read empty on a fresh database.
func TestSizeAndQueueDepths(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		before, err := db.Size(ctx)
		if err != nil || before <= 0 {
			t.Fatalf("Size = %d, %v", before, err)
		}
		src := make([]*bridges.Source, 200)
		for i := range src {
			src[i] = &bridges.Source{Slug: fmt.Sprintf("s%d", i), ActorURL: fmt.Sprintf("https://example.org/@s%d", i), Software: "mobilizon",
				State: bridges.SourceFollowed, Summary: strings.Repeat("x", 2000)}
		}
		storetest.SaveSources(t, db, src...)
		after, err := db.Size(ctx)
		if err != nil || after <= before {
			t.Errorf("Size after 200 sources = %d (before %d), %v", after, before, err)
		}
		d, m, in, err := db.QueueDepths(ctx)
		if err != nil || d != 0 || m != 0 || in != 0 {
			t.Errorf("QueueDepths = %d, %d, %d, %v", d, m, in, err)
		}
	})
}
