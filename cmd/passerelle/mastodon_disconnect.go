package main

import (
	"fmt"

	"codeberg.org/passerelle/passerelle/mastodon"
)

type mastodonDisconnectCmd struct {
	Account string `arg:"" name:"ACCOUNT" help:"@user@host, or the instance URL when it has one account."`
}

func (c mastodonDisconnectCmd) Run(a *app) error {
	db, err := openDB(a)
	if err != nil {
		return err
	}
	defer db.Close()
	acct, err := findAccount(a.ctx, db, c.Account)
	if err != nil {
		return err
	}
	// Forget the account even when the instance cannot be reached: the
	// owner can still revoke passerelle in the account's settings.
	revokeErr := mastodon.Revoke(a.ctx, mastodonHTTP(a), acct)
	if err := db.DeleteMastodonAccount(a.ctx, acct.ID); err != nil {
		return err
	}
	if revokeErr != nil {
		fmt.Fprintf(a.stdout, "disconnected %s, but %v: revoke passerelle in the account's settings on %s\n", acct.Acct, revokeErr, acct.Instance)
		return nil
	}
	fmt.Fprintf(a.stdout, "disconnected %s and revoked its token; its statuses stay on %s\n", acct.Acct, acct.Instance)
	return nil
}
