package main

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"codeberg.org/passerelle/passerelle/bridges"
	"codeberg.org/passerelle/passerelle/federation"
)

type followCmd struct {
	Source string        `arg:"" name:"HANDLE|URL" help:"@group@host[:port], an actor URL, an instance URL (its relay actor), or the slug of a source passerelle knows."`
	Wait   time.Duration `default:"20s" help:"How long to wait for the source to accept (serve processes its answer)."`
}

// handleOrURL tells what follow can resolve on the network from what only
// names a known source (a slug).
var handleOrURL = regexp.MustCompile(`^@?[^@/\s]+@[^@/\s]+$|://`)

// Run resolves the source, records it as pending with a Follow queued for
// serve to deliver, backfills its events, then waits for the answer. It
// exits 0 once followed and backfilled, or when still pending (saying so).
// Following a source again keeps its state: a followed one stays followed
// (its servers, Mobilizon's first, send no second Accept), and a pending
// one gets its Follow sent again.
func (c followCmd) Run(a *app) error {
	in, err := openInstance(a)
	if err != nil {
		return err
	}
	defer in.db.Close()
	fed := in.federation
	target := strings.TrimSpace(c.Source)
	if !handleOrURL.MatchString(target) {
		known, err := in.db.FindSource(a.ctx, target)
		if errors.Is(err, bridges.ErrNotFound) {
			msg := fmt.Sprintf("%q is neither a handle (@group@host), an actor URL (https://…) nor the slug of a source passerelle knows (`passerelle sources` lists them)", target)
			if strings.Contains(target, ".") {
				msg += "; for a whole instance, give its URL: https://" + strings.TrimSuffix(target, "/")
			}
			return usageError{errors.New(msg)}
		}
		if err != nil {
			return err
		}
		target = known.ActorURL
	}
	res, err := fed.Resolve(a.ctx, target)
	if err != nil {
		return usageError{err}
	}
	fmt.Fprintf(a.stdout, "found %s (%s, %s)\n", res.ActorURL, res.Actor.Type, res.Software)
	if n := res.Notice(); n != "" {
		fmt.Fprintln(a.stdout, "note:", n)
	}
	var before bridges.SourceState
	if old, err := in.db.SourceWhere(a.ctx, "actor_url", res.ActorURL); err == nil {
		before = old.State
	} else if !errors.Is(err, bridges.ErrNotFound) {
		return err
	}
	src, err := fed.Follow(a.ctx, res)
	if err != nil {
		return err
	}
	switch before {
	case bridges.SourceFollowed:
		fmt.Fprintf(a.stdout, "already following %s: its Follow was sent again (in case its server lost it) and its events are read again\n", src.Slug)
	case bridges.SourcePending:
		fmt.Fprintf(a.stdout, "the follow of %s was still pending: its Follow was sent again\n", src.Slug)
	default:
		fmt.Fprintf(a.stdout, "follow of %s queued as source %q\n", src.ActorURL, src.Slug)
	}
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
		switch {
		case cur.State == bridges.SourceFollowed && before == bridges.SourceFollowed:
			fmt.Fprintf(a.stdout, "%s is followed\n", src.Slug)
			return nil
		case cur.State == bridges.SourceFollowed:
			fmt.Fprintf(a.stdout, "%s accepted the follow\n", src.Slug)
			return nil
		case cur.State == bridges.SourceRefused:
			return errors.New(src.Slug + " refused the follow")
		}
		if time.Now().After(deadline) || a.ctx.Err() != nil {
			fmt.Fprintf(a.stdout, "the follow of %s is still pending: `passerelle sources` shows when it is accepted (serve must be running to deliver it)\n", src.Slug)
			return nil
		}
		time.Sleep(250 * time.Millisecond)
	}
}
