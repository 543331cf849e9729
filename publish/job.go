package publish

import (
	"context"
	"errors"
	"time"

	"github.com/riverqueue/river"

	"codeberg.org/passerelle/passerelle/bridges"
)

// PollInterval is how often every published calendar is polled.
const PollInterval = 15 * time.Minute

// PollSweepJob queues a PollJob for each published calendar; one replica
// runs it on schedule (River's periodic jobs).
type PollSweepJob struct{}

// Kind implements bridges.Job.
func (PollSweepJob) Kind() string { return "publish.sweep" }

// PollJob polls one published calendar.
type PollJob struct {
	Slug string `json:"slug"`
}

// Kind implements bridges.Job.
func (PollJob) Kind() string { return "publish.poll" }

type sweepWorker struct {
	river.WorkerDefaults[PollSweepJob]
	p *Publisher
}

func (w *sweepWorker) Work(ctx context.Context, _ *river.Job[PollSweepJob]) error {
	cals, err := w.p.DB.PublishedCalendars(ctx)
	if err != nil {
		return err
	}
	for _, c := range cals {
		// Unique: a calendar whose poll is still queued is not queued
		// twice.
		if err := w.p.DB.Enqueue(ctx, PollJob{Slug: c.Slug}, bridges.JobOpts{Unique: true, MaxAttempts: 1}); err != nil {
			return err
		}
	}
	return nil
}

type pollWorker struct {
	river.WorkerDefaults[PollJob]
	p *Publisher
}

// Work polls the calendar. A refused poll is recorded (publish list shows
// it) and not retried: the next sweep polls again.
func (w *pollWorker) Work(ctx context.Context, job *river.Job[PollJob]) error {
	_, err := w.p.Poll(ctx, job.Args.Slug)
	if errors.Is(err, bridges.ErrNotFound) || (err != nil && ctx.Err() == nil) {
		return nil
	}
	return err
}

// Timeout leaves the fetch its 20 s and stays below store.RescueStuckAfter.
func (w *pollWorker) Timeout(*river.Job[PollJob]) time.Duration { return 25 * time.Second }

// Register adds the poll workers and returns the periodic sweep.
func (p *Publisher) Register(workers *river.Workers, interval time.Duration) *river.PeriodicJob {
	river.AddWorker(workers, &sweepWorker{p: p})
	river.AddWorker(workers, &pollWorker{p: p})
	river.AddWorker(workers, &attendeeWorker{p: p})
	return river.NewPeriodicJob(river.PeriodicInterval(interval), func() (river.JobArgs, *river.InsertOpts) {
		return PollSweepJob{}, nil
	}, &river.PeriodicJobOpts{RunOnStart: true})
}
