package main

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"codeberg.org/passerelle/passerelle/bridges"
	"codeberg.org/passerelle/passerelle/mastodon"
	"codeberg.org/passerelle/passerelle/store"
)

type mastodonRouteCmd struct {
	Source     string        `required:"" placeholder:"SOURCE" help:"The source: handle, actor URL or slug."`
	Account    string        `required:"" placeholder:"ACCOUNT" help:"@user@host, or the instance URL when it has one account."`
	Visibility string        `default:"public" enum:"public,unlisted" help:"Status visibility (public or unlisted)."`
	On         string        `default:"create,update,cancel,delete" placeholder:"LIST" help:"What to post on: create, update, cancel, delete."`
	Reminder   time.Duration `placeholder:"DURATION" help:"Also post a reminder this long before the start (e.g. 2h); 0 for none."`
	ReminderAs string        `name:"reminder-as" default:"reply" enum:"reply,status" help:"Post the reminder as a reply in the event's thread or as a new status."`
	Template   string        `type:"existingfile" placeholder:"FILE" help:"A Go text/template for the status text instead of the default."`
}

func (c mastodonRouteCmd) Run(a *app) error {
	on, err := mastodon.ParseTriggers(c.On)
	if err != nil {
		return usageError{err}
	}
	if c.Reminder < 0 {
		return usageError{fmt.Errorf("--reminder %s: want a positive duration such as 2h", c.Reminder)}
	}
	var tmpl string
	if c.Template != "" {
		b, err := os.ReadFile(c.Template)
		if err != nil {
			return usageError{err}
		}
		tmpl = string(b)
		if _, err := mastodon.ParseTemplate(tmpl); err != nil {
			return usageError{fmt.Errorf("--template %s: %w", c.Template, err)}
		}
	}
	db, err := openDB(a)
	if err != nil {
		return err
	}
	defer db.Close()
	src, err := findSource(a, db, c.Source)
	if err != nil {
		return err
	}
	acct, err := findAccount(a.ctx, db, c.Account)
	if err != nil {
		return err
	}
	r := &mastodon.Route{SourceID: src.ID, AccountID: acct.ID, Visibility: c.Visibility, On: on, Reminder: c.Reminder, ReminderAs: c.ReminderAs, Template: tmpl}
	if err := db.SaveMastodonRoute(a.ctx, r); err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "events of %s now go to %s (%s, on %s)\n", src.Slug, acct.Acct, r.Visibility, c.On)
	return nil
}

type mastodonUnrouteCmd struct {
	Source  string `required:"" placeholder:"SOURCE" help:"The source: handle, actor URL or slug."`
	Account string `required:"" placeholder:"ACCOUNT" help:"@user@host, or the instance URL when it has one account."`
}

func (c mastodonUnrouteCmd) Run(a *app) error {
	db, err := openDB(a)
	if err != nil {
		return err
	}
	defer db.Close()
	src, err := findSource(a, db, c.Source)
	if err != nil {
		return err
	}
	acct, err := findAccount(a.ctx, db, c.Account)
	if err != nil {
		return err
	}
	routes, err := db.MastodonRoutes(a.ctx)
	if err != nil {
		return err
	}
	for _, r := range routes {
		if r.SourceID == src.ID && r.AccountID == acct.ID {
			if err := db.DeleteMastodonRoute(a.ctx, r.ID); err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "events of %s no longer go to %s\n", src.Slug, acct.Acct)
			return nil
		}
	}
	return usageError{fmt.Errorf("no route from %s to %s", src.Slug, acct.Acct)}
}

type mastodonRoutesCmd struct{}

func (mastodonRoutesCmd) Run(a *app) error {
	db, err := openDB(a)
	if err != nil {
		return err
	}
	defer db.Close()
	routes, err := db.MastodonRoutes(a.ctx)
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "SOURCE\tACCOUNT\tVISIBILITY\tON\tREMINDER\tTEMPLATE")
	for _, r := range routes {
		src, serr := db.SourceWhere(a.ctx, "id", r.SourceID)
		acct, aerr := db.MastodonAccount(a.ctx, r.AccountID)
		// Routes go with their source and account (ON DELETE CASCADE).
		if err := errors.Join(serr, aerr); err != nil {
			return err
		}
		on := make([]string, len(r.On))
		for i, t := range r.On {
			on[i] = string(t)
		}
		tmpl := "default"
		if r.Template != "" {
			tmpl = "custom"
		}
		reminder := "none"
		if r.Reminder > 0 {
			reminder = r.Reminder.String() + " (" + r.ReminderAs + ")"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", src.Slug, acct.Acct, r.Visibility, strings.Join(on, ","), reminder, tmpl)
	}
	return w.Flush()
}

// findSource resolves SOURCE the way every command does: handle, actor
// URL or slug; an unknown name is a usage error.
func findSource(a *app, db *store.DB, name string) (*bridges.Source, error) {
	src, err := db.FindSource(a.ctx, name)
	if errors.Is(err, bridges.ErrNotFound) {
		return nil, usageError{err}
	}
	return src, err
}
