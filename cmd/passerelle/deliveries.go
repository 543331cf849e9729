package main

import (
	"context"
	"fmt"
	"strings"

	"codeberg.org/passerelle/passerelle/bridges"
	"codeberg.org/passerelle/passerelle/federation/outbox"
	"codeberg.org/passerelle/passerelle/store"
)

// deliveriesCmd acts on the outgoing deliveries `passerelle status` lists
// as failing, by host.
type deliveriesCmd struct {
	Retry   deliveriesRetryCmd   `cmd:"" help:"Try every failing or given-up delivery to HOST again now, with a fresh count of attempts (once the host is back)."`
	Discard deliveriesDiscardCmd `cmd:"" help:"Give up every delivery still waiting for HOST (a server gone for good)."`
}

type deliveriesRetryCmd struct {
	Host string `arg:"" name:"HOST" help:"The host, as passerelle status shows it (events.example.org, or host:port)."`
}

func (c deliveriesRetryCmd) Run(a *app) error {
	db, err := openDB(a)
	if err != nil {
		return err
	}
	defer db.Close()
	host := strings.ToLower(strings.TrimSpace(c.Host))
	n, err := db.RetryHost(a.ctx, host, func(ctx context.Context, tx *store.Tx, id int64) error {
		return tx.Enqueue(ctx, outbox.DeliverJob{DeliveryID: id}, bridges.JobOpts{MaxAttempts: outbox.MaxDeliveryAttempts + 1})
	})
	if err != nil {
		return err
	}
	if n == 0 {
		fmt.Fprintf(a.stdout, "no failing delivery to %s\n", host)
		return nil
	}
	fmt.Fprintf(a.stdout, "%d deliveries to %s will be tried again now (serve sends them)\n", n, host)
	return nil
}

type deliveriesDiscardCmd struct {
	Host string `arg:"" name:"HOST" help:"The host, as passerelle status shows it."`
}

func (c deliveriesDiscardCmd) Run(a *app) error {
	db, err := openDB(a)
	if err != nil {
		return err
	}
	defer db.Close()
	host := strings.ToLower(strings.TrimSpace(c.Host))
	n, err := db.DiscardHost(a.ctx, host)
	if err != nil {
		return err
	}
	if n == 0 {
		fmt.Fprintf(a.stdout, "no delivery to %s is waiting\n", host)
		return nil
	}
	fmt.Fprintf(a.stdout, "%d deliveries to %s given up (status lists them as discarded by the admin)\n", n, host)
	return nil
}
