package main

import (
	"encoding/json"
	"errors"
	"fmt"

	"codeberg.org/passerelle/passerelle/bridges"
	"codeberg.org/passerelle/passerelle/federation/outbox"
	"codeberg.org/passerelle/passerelle/store"
)

type participantCmd struct {
	Export participantExportCmd `cmd:"" help:"Print, as JSON, all data held about a mail address (or the URI of a fediverse account that answered under a post)."`
	Erase  participantEraseCmd  `cmd:"" help:"Erase a mail address (or the URI of a fediverse account that answered under a post): leave its future events, delete its actor, remove its data."`
}

type participantExportCmd struct {
	Address string `arg:"" name:"ADDRESS" help:"The participant's mail address (any case), or their fediverse account's URI."`
}

func (c participantExportCmd) Run(a *app) error {
	db, err := openDB(a)
	if err != nil {
		return err
	}
	defer db.Close()
	rec, err := db.ParticipantRecord(a.ctx, c.Address)
	if errors.Is(err, bridges.ErrNotFound) {
		return fmt.Errorf("no participant with address %q: nothing is held about it", c.Address)
	}
	if err != nil {
		return err
	}
	enc := json.NewEncoder(a.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(rec)
}

type participantEraseCmd struct {
	Address string `arg:"" name:"ADDRESS" help:"The participant's mail address (any case), or their fediverse account's URI."`
}

func (c participantEraseCmd) Run(a *app) error {
	db, err := openDB(a)
	if err != nil {
		return err
	}
	defer db.Close()
	// Leaves and the Delete are recorded as deliveries, sent by serve's
	// workers with the actor's key; the flow needs no mail settings.
	outbox, err := outbox.New(a.cfg.PublicURL, db)
	if err != nil {
		return err
	}
	rsvp := &bridges.RSVP[*store.Tx]{Store: db, Participator: outbox, Log: a.log}
	out, err := rsvp.Erase(a.ctx, c.Address, outbox)
	if errors.Is(err, bridges.ErrNotFound) {
		return fmt.Errorf("no participant with address %q: nothing to erase", c.Address)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "erased: %d invitation(s) removed, %d future event(s) left", out.Invitations, out.Left)
	if out.ActorDeleted {
		fmt.Fprint(a.stdout, ", Delete of their actor queued (the actor and its key go once it is delivered)")
	}
	fmt.Fprintln(a.stdout)
	return nil
}
