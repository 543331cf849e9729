package store_test

import (
	"context"
	"sync"
	"testing"

	"codeberg.org/passerelle/passerelle/internal/storetest"
	"codeberg.org/passerelle/passerelle/store"
)

// TestPoolKeepsConnections: queries from many goroutines at once reuse the
// pool's connections instead of closing each one on its return and opening
// another (database/sql keeps 2 idle unless told otherwise).
func TestPoolKeepsConnections(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		var wg sync.WaitGroup
		for range 12 {
			wg.Go(func() {
				for range 40 {
					var n int
					if err := db.SQL().QueryRowContext(ctx, "SELECT COUNT(*) FROM events").Scan(&n); err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
		if st := db.SQL().Stats(); st.MaxIdleClosed > 0 {
			t.Errorf("%d connections closed on their return for want of idle room (%d open at most)", st.MaxIdleClosed, st.MaxOpenConnections)
		}
	})
}
