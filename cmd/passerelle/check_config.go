package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"codeberg.org/passerelle/passerelle/store"
)

type checkConfigCmd struct {
	Connect bool `help:"Also connect to the database (and, when configured, the mail servers)."`
}

func (c checkConfigCmd) Run(a *app) error {
	fmt.Fprint(a.stdout, a.cfg.String())
	if !c.Connect {
		return printRuntimeBlocksOffline(a)
	}
	db, err := openDB(a)
	if err != nil {
		return err
	}
	defer db.Close()
	v, err := db.SchemaVersion(a.ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "\n# database: connected (%s, schema version %d)\n", db.Backend(), v)
	if err := printRuntimeBlocks(a, db); err != nil {
		return err
	}
	return checkMail(a, db)
}

// printRuntimeBlocksOffline shows the domains `passerelle block` added
// when that needs no connection: a SQLite file that exists is read; for a
// database server, or before the first start, it says how to see them.
func printRuntimeBlocksOffline(a *app) error {
	path, sqlite := strings.CutPrefix(a.cfg.DatabaseURL(), "sqlite://")
	if !sqlite {
		fmt.Fprintln(a.stdout, "\n# federation.block above is the configuration's; `check-config --connect` (or `passerelle blocks`) also lists the domains blocked at run time with `passerelle block`.")
		return nil
	}
	if _, err := os.Stat(path); err != nil {
		fmt.Fprintf(a.stdout, "\n# No database at %s yet, so no domain blocked at run time.\n", databaseWhere(a.cfg.DatabaseURL()))
		return nil
	}
	db, err := openDB(a)
	if err != nil {
		// The configuration is what is checked here: a database that
		// needs migrating is said, not a failure.
		fmt.Fprintf(a.stdout, "\n# The domains blocked at run time cannot be read: %s\n", strings.ReplaceAll(err.Error(), "\n", " "))
		return nil
	}
	defer db.Close()
	return printRuntimeBlocks(a, db)
}

// printRuntimeBlocks lists, as TOML comments after the configuration, the
// domains blocked in the database: they apply on top of federation.block
// but are not part of the configuration, and an admin who just ran
// `passerelle block` looks for them here.
func printRuntimeBlocks(a *app, db *store.DB) error {
	stored, err := db.BlockedDomains(a.ctx)
	if err != nil {
		return err
	}
	if len(stored) == 0 {
		fmt.Fprintln(a.stdout, "\n# No domain blocked at run time (`passerelle block`); federation.block above is the configuration's.")
		return nil
	}
	fmt.Fprintln(a.stdout, "\n# Also blocked at run time with `passerelle block` (kept in the database, not in the configuration; `passerelle unblock DOMAIN` lifts one):")
	for _, d := range stored {
		fmt.Fprintf(a.stdout, "#   %s\n", d)
	}
	return nil
}

// checkMail opens an SMTP session and logs in to the IMAP mailbox, when
// they are configured, and says which one failed and why.
func checkMail(a *app, db *store.DB) error {
	m, err := newMail(a, db)
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
