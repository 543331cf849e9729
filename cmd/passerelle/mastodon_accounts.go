package main

import (
	"fmt"
	"text/tabwriter"

	"codeberg.org/passerelle/passerelle/mastodon"
)

type mastodonAccountsCmd struct{}

func (mastodonAccountsCmd) Run(a *app) error {
	db, err := openDB(a)
	if err != nil {
		return err
	}
	defer db.Close()
	accounts, err := db.MastodonAccounts(a.ctx)
	if err != nil {
		return err
	}
	routes, err := db.MastodonRoutes(a.ctx)
	if err != nil {
		return err
	}
	var old []mastodon.Account
	w := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "ACCOUNT\tINSTANCE\tSTATE\tROUTES\tLAST ERROR")
	for _, acct := range accounts {
		n := 0
		for _, r := range routes {
			if r.AccountID == acct.ID {
				n++
			}
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%s\n", acct.Acct, acct.Instance, acct.State, n, acct.LastError)
		if !mastodon.HasScope(acct.Scopes, mastodon.ScopeNotifications) {
			old = append(old, acct)
		}
	}
	if err := w.Flush(); err != nil {
		return err
	}
	for _, acct := range old {
		fmt.Fprintf(a.stdout, "\n%s was connected before passerelle read replies (it lacks read:notifications): answers such as \"going\" under its posts are not read until you run `passerelle mastodon connect %s` again.\n",
			acct.Acct, acct.Instance)
	}
	return nil
}
