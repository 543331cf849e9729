package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"codeberg.org/passerelle/passerelle/store"
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
	return checkMail(a, db)
}

// checkMail opens an SMTP session and logs in to the IMAP mailbox, when
// they are configured, and says which one failed and why.
func checkMail(a *app, db *store.DB) error {
	m, err := newMail(a, db, nil)
	if err != nil || m == nil {
		return err
	}
	ctx, cancel := context.WithTimeout(a.ctx, 30*time.Second)
	defer cancel()
	var errs []error
	if err := m.smtp.Check(ctx); err != nil {
		errs = append(errs, fmt.Errorf("mail.smtp: %w", err))
	} else {
		fmt.Fprintf(a.stdout, "# smtp: connected (%s)\n", m.smtp.Addr())
	}
	if m.watcher != nil {
		if err := m.watcher.Check(ctx); err != nil {
			errs = append(errs, fmt.Errorf("mail.imap: %w", err))
		} else {
			fmt.Fprintln(a.stdout, "# imap: logged in, mailbox selected")
		}
	}
	return errors.Join(errs...)
}
