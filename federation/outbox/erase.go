package outbox

import (
	"context"
	"fmt"
	"time"

	"github.com/riverqueue/river"

	"codeberg.org/passerelle/passerelle/bridges"
	"codeberg.org/passerelle/passerelle/store"
)

// An erased participant's actor cannot go at once: the Leaves and the
// Delete queued by `participant erase` are signed with its key when they
// are sent, and their recipients fetch the actor to verify them. The
// EraseActorJob, enqueued with them, waits until none of its deliveries is
// waiting or retrying, then removes the row and key; from then on the
// actor's URL answers 410 Gone with a Tombstone and WebFinger knows it no
// more.

const (
	// eraseFirstCheck is the default wait between the first checks; it
	// doubles up to eraseMaxCheck.
	eraseFirstCheck = 30 * time.Second
	eraseMaxCheck   = time.Hour
	// eraseMaxWait bounds the wait: past the whole delivery schedule
	// (MaxDeliveryAttempts, about five days), the actor is removed even if
	// a delivery was somehow left pending (its job lost), which then fails.
	eraseMaxWait = 7 * 24 * time.Hour
)

// EraseActorJob removes a participant's actor once nothing signed by it
// remains to be sent, or at GiveUpAt at the latest.
type EraseActorJob struct {
	ActorID  int64     `json:"actor_id"`
	GiveUpAt time.Time `json:"give_up_at"`
}

// Kind implements bridges.Job.
func (EraseActorJob) Kind() string { return "federation.erase_actor" }

// enqueueEraseActor schedules the removal of a participant's actor, in tx
// (the transaction that queued its last deliveries).
func (s *Outbox) enqueueEraseActor(ctx context.Context, tx bridges.Tx, actorID int64) error {
	return tx.Enqueue(ctx, EraseActorJob{ActorID: actorID, GiveUpAt: s.Now().Add(eraseMaxWait)}, bridges.JobOpts{})
}

// RunEraseActor makes one check: when the actor has no delivery still
// pending (or the wait is over), it removes the actor and returns done.
// Otherwise it returns how many deliveries are still waiting.
func (s *Sender) RunEraseActor(ctx context.Context, job EraseActorJob) (pending int, err error) {
	pending, err = s.db.PendingDeliveriesFrom(ctx, job.ActorID)
	if err != nil {
		return 0, err
	}
	if pending > 0 && s.Now().Before(job.GiveUpAt) {
		return pending, nil
	}
	var removed bool
	err = s.db.Tx(ctx, func(ctx context.Context, tx *store.Tx) error {
		var err error
		removed, err = tx.RemoveParticipantActor(ctx, job.ActorID, s.Now())
		return err
	})
	if err != nil {
		return 0, err
	}
	if removed {
		s.log.Info("erased participant actor removed", "actor_id", job.ActorID, "abandoned_deliveries", pending)
	}
	return 0, nil
}

// eraseCheckWait is the wait before check n+1 (n ≥ 1).
func (s *Sender) eraseCheckWait(n int) time.Duration {
	d := s.eraseCheck
	if d <= 0 {
		d = eraseFirstCheck
	}
	for i := 1; i < n && d < eraseMaxCheck; i++ {
		d *= 2
	}
	return min(d, eraseMaxCheck)
}

type eraseActorWorker struct {
	river.WorkerDefaults[EraseActorJob]
	s *Sender
}

// Work checks once, and snoozes while deliveries are still pending: the
// job stays the durable record that the actor is to go.
func (w *eraseActorWorker) Work(ctx context.Context, job *river.Job[EraseActorJob]) error {
	pending, err := w.s.RunEraseActor(ctx, job.Args)
	if err != nil {
		return fmt.Errorf("erase actor %d: %w", job.Args.ActorID, err)
	}
	if pending > 0 {
		return river.JobSnooze(w.s.eraseCheckWait(job.Attempt))
	}
	return nil
}
