package main

import (
	"fmt"
	"slices"

	"codeberg.org/passerelle/passerelle/store"
)

type unblockCmd struct {
	Domain string `arg:"" name:"DOMAIN" help:"Domain to federate with again."`
}

func (c unblockCmd) Run(a *app) error {
	db, err := openDB(a)
	if err != nil {
		return err
	}
	defer db.Close()
	was, err := db.UnblockDomain(a.ctx, c.Domain)
	if err != nil {
		return err
	}
	if slices.Contains(a.cfg.Federation.Block, store.NormalizeDomain(c.Domain)) {
		fmt.Fprintf(a.stdout, "%s is also in federation.block in the configuration: remove it there too\n", c.Domain)
	}
	if !was {
		fmt.Fprintf(a.stdout, "%s was not blocked\n", c.Domain)
		return nil
	}
	fmt.Fprintf(a.stdout, "unblocked %s\n", c.Domain)
	return nil
}
