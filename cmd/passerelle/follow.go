package main

import (
	"errors"
	"fmt"
	"time"

	"codeberg.org/passerelle/passerelle/bridges"
	"codeberg.org/passerelle/passerelle/federation"
)

type followCmd struct {
	Source string        `arg:"" name:"HANDLE|URL" help:"@group@host[:port], an actor URL, or an instance URL (its relay actor)."`
	Wait   time.Duration `default:"20s" help:"How long to wait for the source to accept (serve processes its answer)."`
}

// Run resolves the source, records it as pending with a Follow queued for
// serve to deliver, backfills its events, then waits for the answer. It
// exits 0 once followed and backfilled, or when still pending (saying so).
func (c followCmd) Run(a *app) error {
	in, err := openInstance(a)
	if err != nil {
		return err
	}
	defer in.db.Close()
	fed := in.federation
	res, err := fed.Resolve(a.ctx, c.Source)
	if err != nil {
		return usageError{err}
	}
	fmt.Fprintf(a.stdout, "found %s (%s, %s)\n", res.ActorURL, res.Actor.Type, res.Software)
	if n := res.Notice(); n != "" {
		fmt.Fprintln(a.stdout, "note:", n)
	}
	src, err := fed.Follow(a.ctx, res)
	if err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "follow of %s queued as source %q\n", src.ActorURL, src.Slug)
	report, done := backfillProgress(a.stderr, "backfill "+src.Slug)
	br, err := fed.Backfill(a.ctx, src, federation.BackfillLimits{}, report)
	done()
	if err != nil {
		fmt.Fprintf(a.stderr, "backfill of %s failed (retry with `passerelle sources refresh %s`): %v\n", src.Slug, src.Slug, err)
	} else {
		printBackfill(a.stdout, src.Slug, br)
	}
	deadline := time.Now().Add(c.Wait)
	for {
		cur, err := in.db.SourceWhere(a.ctx, "id", src.ID)
		if err != nil {
			return err
		}
		switch cur.State {
		case bridges.SourceFollowed:
			fmt.Fprintf(a.stdout, "%s accepted the follow\n", src.Slug)
			return nil
		case bridges.SourceRefused:
			return errors.New(src.Slug + " refused the follow")
		}
		if time.Now().After(deadline) || a.ctx.Err() != nil {
			fmt.Fprintf(a.stdout, "the follow of %s is still pending: `passerelle sources` shows when it is accepted (serve must be running to deliver it)\n", src.Slug)
			return nil
		}
		time.Sleep(250 * time.Millisecond)
	}
}
