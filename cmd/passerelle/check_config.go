package main

import (
	"fmt"
)

type checkConfigCmd struct {
	Connect bool `help:"Also connect to the database (and, when configured, the mail servers)."`
}

func (c checkConfigCmd) Run(a *app) error {
	fmt.Fprint(a.stdout, a.cfg.String())
	if !c.Connect {
		return nil
	}
	db, err := openDB(a, false)
	if err != nil {
		return err
	}
	defer db.Close()
	v, err := db.SchemaVersion(a.ctx)
	if err != nil {
		v = 0
	}
	fmt.Fprintf(a.stdout, "\n# database: connected (%s, schema version %d)\n", db.Backend(), v)
	return nil
}
