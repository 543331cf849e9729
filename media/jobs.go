package media

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/riverqueue/river"

	"codeberg.org/passerelle/passerelle/bridges"
	"codeberg.org/passerelle/passerelle/store"
)

// FetchArgs is the durable job that fetches one remote image into the
// cache. It is enqueued with the event change that links the image, so a
// page render never waits on the network.
type FetchArgs struct {
	URL string `json:"url"`
}

// Kind implements river.JobArgs.
func (FetchArgs) Kind() string { return "media_fetch" }

// ExpireArgs is the periodic job that removes images no live event uses,
// and links (and has fetched) the images of events stored before
// passerelle kept images, so that an upgrade does not leave them out.
type ExpireArgs struct{}

// Kind implements river.JobArgs.
func (ExpireArgs) Kind() string { return "media_expire" }

// Keep is how long the images of an event stay cached after it is over:
// a month of people looking back at it.
const Keep = 30 * 24 * time.Hour

// fetchAttempts bounds retries of an image whose server fails; River
// backs off between them (attempt⁴ seconds: about an hour and a half in
// all), and a refused image is never tried again.
const fetchAttempts = 8

// Listener enqueues the fetch of each image an event shows and is not
// cached yet, inside the transaction that stores the change.
type Listener struct{}

var _ bridges.ChangeListener[*store.Tx] = (*Listener)(nil)

// EventChanged implements bridges.ChangeListener[*store.Tx].
func (Listener) EventChanged(ctx context.Context, tx *store.Tx, ch bridges.Change) error {
	ev := ch.Event
	if ev == nil || ev.ID == 0 || ch.Kind == bridges.ChangeDeleted {
		// A deleted event's images go with the next expiry.
		return nil
	}
	if p := ch.Previous; p != nil && p.BannerURL == ev.BannerURL && p.DescriptionHTML == ev.DescriptionHTML {
		return nil
	}
	var linked []store.LinkedMedia
	for _, u := range EventImages(&ev.Event) {
		linked = append(linked, store.LinkedMedia{Hash: Key(u), URL: u})
	}
	if ch.Previous == nil && len(linked) == 0 {
		// A new event without images has no links to replace: a
		// statement saved on every such event an inbox stores.
		return nil
	}
	missing, err := tx.SetEventMedia(ctx, ev.ID, linked)
	if err != nil {
		return err
	}
	for _, m := range missing {
		if err := tx.Enqueue(ctx, FetchArgs{URL: m.URL}, bridges.JobOpts{Unique: true, MaxAttempts: fetchAttempts}); err != nil {
			return fmt.Errorf("enqueue fetch of image %s: %w", m.URL, err)
		}
	}
	return nil
}

// Register adds the fetch and expiry workers and returns the periodic
// expiry job, run every interval.
func (c *Cache) Register(workers *river.Workers, interval time.Duration) *river.PeriodicJob {
	river.AddWorker(workers, &fetchWorker{c: c})
	river.AddWorker(workers, &expireWorker{c: c})
	return river.NewPeriodicJob(river.PeriodicInterval(interval), func() (river.JobArgs, *river.InsertOpts) {
		return ExpireArgs{}, nil
	}, &river.PeriodicJobOpts{RunOnStart: true})
}

type fetchWorker struct {
	river.WorkerDefaults[FetchArgs]
	c *Cache
}

func (w *fetchWorker) Work(ctx context.Context, job *river.Job[FetchArgs]) error {
	u := job.Args.URL
	cached, err := w.c.DB.CachedMedia(ctx, []string{Key(u)})
	if err != nil {
		return err
	}
	if cached[Key(u)] {
		return nil // cached meanwhile (a Mastodon upload, another event)
	}
	img, err := w.c.Fetcher.Fetch(ctx, u)
	if errors.Is(err, ErrRefused) {
		// Refused for good: the pages show no image, and no retry would
		// change that.
		w.c.log().Warn("image refused", "url", u, "err", err)
		return river.JobCancel(err)
	}
	if err != nil {
		w.c.log().Info("image fetch failed, will retry", "url", u, "attempt", job.Attempt, "err", err)
		return err
	}
	if err := w.c.save(ctx, img); err != nil {
		return err
	}
	w.c.log().Debug("image cached", "url", u, "type", img.Type, "bytes", len(img.Body))
	return nil
}

type expireWorker struct {
	river.WorkerDefaults[ExpireArgs]
	c *Cache
}

func (w *expireWorker) Work(ctx context.Context, job *river.Job[ExpireArgs]) error {
	now := time.Now
	if w.c.Now != nil {
		now = w.c.Now
	}
	n, err := w.c.DB.ExpireMedia(ctx, now().Add(-Keep))
	if err != nil {
		return err
	}
	if n > 0 {
		w.c.log().Info("expired cached images", "count", n)
	}
	// A bounded batch per run keeps the job short; the next runs take
	// the rest.
	evs, err := w.c.DB.EventsWithoutMedia(ctx, now().Add(-Keep), sweepBatch)
	if err != nil {
		return err
	}
	for _, ev := range evs {
		err := w.c.DB.Tx(ctx, func(ctx context.Context, tx *store.Tx) error {
			return Listener{}.EventChanged(ctx, tx, bridges.Change{Kind: bridges.ChangeUpdated, Event: ev})
		})
		if err != nil {
			return fmt.Errorf("link images of event %s: %w", ev.APID, err)
		}
	}
	return nil
}

// sweepBatch bounds the events whose images one sweep links.
const sweepBatch = 200
