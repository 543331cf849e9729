package main

import (
	"bufio"
	"fmt"
	"time"

	"codeberg.org/passerelle/passerelle/mastodon"
)

type mastodonConnectCmd struct {
	Instance string `arg:"" name:"INSTANCE_URL" help:"The instance, such as https://mastodon.example."`
}

func (c mastodonConnectCmd) Run(a *app) error {
	if _, err := mastodon.NormalizeInstance(c.Instance); err != nil {
		return usageError{err}
	}
	db, err := openDB(a)
	if err != nil {
		return err
	}
	defer db.Close()
	hc := mastodonHTTP(a)
	app, err := mastodon.Register(a.ctx, hc, c.Instance)
	if err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "Open this address, sign in as the account passerelle should post as, and approve:\n\n  %s\n\nThen paste the code the instance shows: ", app.AuthorizeURL)
	line, err := bufio.NewReader(a.stdin).ReadString('\n')
	if err != nil && line == "" {
		return fmt.Errorf("read the authorization code from stdin: %w", err)
	}
	acct, err := mastodon.Authorize(a.ctx, hc, app, line)
	if err != nil {
		return err
	}
	if err := db.SaveMastodonAccount(a.ctx, acct); err != nil {
		return err
	}
	// Connected again after a refused token: catch up what changed.
	if n, err := mastodon.Resync(a.ctx, db, acct.ID, time.Now()); err != nil {
		return err
	} else if n > 0 {
		fmt.Fprintf(a.stdout, "\n%d events queued to bring %s up to date", n, acct.Acct)
	}
	fmt.Fprintf(a.stdout, "\nconnected %s; route a source to it with `passerelle mastodon route --source SOURCE --account %s`\n", acct.Acct, acct.Acct)
	return nil
}
