package main

import "fmt"

type blockCmd struct {
	Domain string `arg:"" help:"Domain to stop federating with (its subdomains too)."`
}

// Run adds the domain to the database's block list, which every serve
// replica reads: its requests get 403 and it is never contacted.
func (c blockCmd) Run(a *app) error {
	db, err := openDB(a, true)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := db.BlockDomain(a.ctx, c.Domain); err != nil {
		return usageError{err}
	}
	fmt.Fprintf(a.stdout, "blocked %s\n", c.Domain)
	return nil
}
