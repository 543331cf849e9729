package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"

	"codeberg.org/passerelle/passerelle/bridges"
	"codeberg.org/passerelle/passerelle/federation/policy"
	"codeberg.org/passerelle/passerelle/store"
)

type blockCmd struct {
	Domain string `arg:"" name:"DOMAIN" help:"Domain to stop federating with (its subdomains too)."`
}

// Run adds the domain to the database's block list, which every serve
// replica reads: its requests get 403 and it is never contacted. Blocking
// the home of a followed source is allowed (an admin may mean it) but
// said, since its events stop arriving.
func (c blockCmd) Run(a *app) error {
	db, err := openDB(a)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := db.BlockDomain(a.ctx, c.Domain); err != nil {
		return usageError{err}
	}
	fmt.Fprintf(a.stdout, "blocked %s\n", c.Domain)
	hit, err := sourcesUnder(a.ctx, db, c.Domain)
	if err != nil {
		return err
	}
	if len(hit) > 0 {
		fmt.Fprintf(a.stderr, "warning: %s is the home of followed source(s) %s: their events no longer arrive and they are not contacted (`passerelle unfollow SOURCE` to stop following, `passerelle unblock %s` to undo)\n",
			c.Domain, strings.Join(hit, ", "), c.Domain)
	}
	return nil
}

// sourcesUnder lists the slugs of the followed or pending sources that a
// block of domain covers (the domain or a subdomain).
func sourcesUnder(ctx context.Context, db *store.DB, domain string) ([]string, error) {
	srcs, err := db.Sources(ctx)
	if err != nil {
		return nil, err
	}
	rule := &policy.Policy{Block: []string{domain}}
	var hit []string
	for _, s := range srcs {
		if s.State != bridges.SourceFollowed && s.State != bridges.SourcePending {
			continue
		}
		if err := rule.CheckURL(ctx, s.ActorURL); errors.Is(err, policy.ErrBlocked) {
			hit = append(hit, s.Slug)
		}
	}
	return hit, nil
}

type blocksCmd struct{}

// Run lists every blocked domain and where its block comes from: the
// configuration's federation.block, or `passerelle block` (the database).
func (blocksCmd) Run(a *app) error {
	db, err := openDB(a)
	if err != nil {
		return err
	}
	defer db.Close()
	stored, err := db.BlockedDomains(a.ctx)
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "DOMAIN\tBLOCKED BY")
	for _, d := range a.cfg.Federation.Block {
		fmt.Fprintf(w, "%s\tfederation.block (%s)\n", store.NormalizeDomain(d), a.configOrigin())
	}
	for _, d := range stored {
		fmt.Fprintf(w, "%s\tpasserelle block (database)\n", d)
	}
	return w.Flush()
}

// configOrigin says where the configuration came from, for messages.
func (a *app) configOrigin() string {
	if a.configFile == "" {
		return "environment"
	}
	return a.configFile + " or environment"
}
