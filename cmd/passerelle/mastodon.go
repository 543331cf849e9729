package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"codeberg.org/passerelle/passerelle/internal/outbound"
	"codeberg.org/passerelle/passerelle/mastodon"
	"codeberg.org/passerelle/passerelle/store"
)

// mastodonCmd groups the commands that connect Mastodon accounts and route
// sources' events to them; serve's workers do the posting.
type mastodonCmd struct {
	Connect    mastodonConnectCmd    `cmd:"" help:"Connect a Mastodon-API account: prints an authorize URL, reads the code on stdin."`
	Accounts   mastodonAccountsCmd   `cmd:"" help:"List connected accounts and their state."`
	Disconnect mastodonDisconnectCmd `cmd:"" help:"Forget an account, its routes and the record of its statuses."`
	Route      mastodonRouteCmd      `cmd:"" help:"Post a source's events to an account."`
	Unroute    mastodonUnrouteCmd    `cmd:"" help:"Stop posting a source's events to an account."`
	Routes     mastodonRoutesCmd     `cmd:"" help:"List routes."`
}

// mastodonHTTP is the client every Mastodon request goes through: the
// federation package's one outbound client, which checks addresses at dial
// time (after DNS) and refuses loopback, private and link-local ones
// unless federation.allow_private_networks is set.
func mastodonHTTP(a *app) *http.Client {
	return outbound.New(outbound.Options{
		AllowPrivateNetworks: a.cfg.Federation.AllowPrivateNetworks,
		UserAgent:            "passerelle/" + versionString() + " (+" + a.cfg.PublicURL + ")",
	})
}

// findAccount resolves ACCOUNT: @user@host (the leading @ optional), or the
// instance URL when exactly one account is connected there.
func findAccount(ctx context.Context, db *store.DB, name string) (*mastodon.Account, error) {
	accounts, err := db.MastodonAccounts(ctx)
	if err != nil {
		return nil, err
	}
	if strings.Contains(name, "://") {
		inst, err := mastodon.NormalizeInstance(name)
		if err != nil {
			return nil, usageError{err}
		}
		var found []mastodon.Account
		for _, a := range accounts {
			if a.Instance == inst {
				found = append(found, a)
			}
		}
		switch len(found) {
		case 1:
			return &found[0], nil
		case 0:
			return nil, usageError{fmt.Errorf("no account connected on %s (see `passerelle mastodon accounts`)", inst)}
		}
		return nil, usageError{fmt.Errorf("%d accounts are connected on %s: name one as @user@host", len(found), inst)}
	}
	handle := "@" + strings.TrimPrefix(strings.TrimSpace(name), "@")
	for _, a := range accounts {
		if strings.EqualFold(a.Acct, handle) {
			return &a, nil
		}
	}
	return nil, usageError{fmt.Errorf("no connected account %s (see `passerelle mastodon accounts`)", handle)}
}
