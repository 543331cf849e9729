package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/schollz/progressbar/v3"

	"codeberg.org/passerelle/passerelle/bridges"
	"codeberg.org/passerelle/passerelle/federation"
	"codeberg.org/passerelle/passerelle/store"
)

// newFederation builds the ActivityPub side from the configuration.
func newFederation(a *app, db *store.DB, events *bridges.Events[*store.Tx], joins bridges.JoinAnswerListener[*store.Tx],
	parts func(context.Context, *store.Tx, federation.PublishedParticipation) error) (*federation.Service, error) {
	f := a.cfg.Federation
	return federation.New(federation.Options{
		PublicURL:            a.cfg.PublicURL,
		InstanceActor:        f.ActorName,
		Allow:                f.Allow,
		Block:                f.Block,
		AllowPrivateNetworks: f.AllowPrivateNetworks,
		DateWindow:           time.Duration(f.SignatureWindow),
		Version:              versionString(),
		NodeName:             a.cfg.Instance.Name,
	}, federation.Deps{DB: db, Events: events, Dialects: eventDialects(time.Duration(f.LiveDuration)), JoinAnswers: joins, Log: a.log, Participations: parts})
}

// backfillProgress reports a backfill: a progress bar on a terminal, a
// plain line every ten items otherwise (logs, pipes, CI).
func backfillProgress(w io.Writer, label string) (report func(federation.BackfillProgress), done func()) {
	if f, ok := w.(*os.File); ok && isatty.IsTerminal(f.Fd()) {
		bar := progressbar.NewOptions(-1, progressbar.OptionSetWriter(w), progressbar.OptionSetDescription(label),
			progressbar.OptionShowCount(), progressbar.OptionSpinnerType(14), progressbar.OptionClearOnFinish())
		return func(p federation.BackfillProgress) {
				if p.Total > 0 {
					bar.ChangeMax(p.Total)
				}
				_ = bar.Set(p.Items)
			}, func() {
				_ = bar.Finish()
			}
	}
	return func(p federation.BackfillProgress) {
		if p.Items == 1 || p.Items%10 == 0 {
			fmt.Fprintf(w, "%s: %d items read, %d events stored\n", label, p.Items, p.Stored)
		}
	}, func() {}
}

// printBackfill says what a backfill did.
func printBackfill(w io.Writer, slug string, r federation.BackfillResult) {
	fmt.Fprintf(w, "backfill of %s: %d items read on %d pages, %d events stored", slug, r.Items, r.Pages+1, r.Stored)
	if r.Truncated != "" {
		fmt.Fprintf(w, " (stopped at the %s)", r.Truncated)
	}
	fmt.Fprintln(w)
}
