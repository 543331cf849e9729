package main

import "fmt"

type mastodonDisconnectCmd struct {
	Account string `arg:"" name:"ACCOUNT" help:"@user@host, or the instance URL when it has one account."`
}

func (c mastodonDisconnectCmd) Run(a *app) error {
	db, err := openDB(a, true)
	if err != nil {
		return err
	}
	defer db.Close()
	acct, err := findAccount(a.ctx, db, c.Account)
	if err != nil {
		return err
	}
	if err := db.DeleteMastodonAccount(a.ctx, acct.ID); err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "disconnected %s; its statuses stay on %s (revoke passerelle there in the account's settings)\n", acct.Acct, acct.Instance)
	return nil
}
