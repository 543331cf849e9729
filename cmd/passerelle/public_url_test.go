package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"codeberg.org/passerelle/passerelle/bridges"
	"codeberg.org/passerelle/passerelle/internal/binarytest"
	"codeberg.org/passerelle/passerelle/internal/storetest"
	"codeberg.org/passerelle/passerelle/store"
)

// TestPublicURLChangeIsRefused (issue 14, point 11): a new public_url
// changes every actor id. serve starts quietly while nothing was made
// under the old URL (a first try with the defaults, then the real
// configuration), and refuses once follows and participants exist,
// saying what the stored URL was and what breaks, unless
// --accept-new-public-url is given; follow refuses too. Both backends.
func TestPublicURLChangeIsRefused(t *testing.T) {
	for _, backend := range []string{store.SQLite, store.Postgres} {
		t.Run(backend, func(t *testing.T) {
			dbURL := storetest.URL(t, backend)
			dir := t.TempDir()
			serve := func(publicURL string, args ...string) *binarytest.Process {
				t.Helper()
				addr := binarytest.FreeAddr(t, "127.0.0.1")
				return binarytest.Start(t, dir, addr, []string{"PASSERELLE_DATABASE_URL=" + dbURL, "PASSERELLE_PUBLIC_URL=" + publicURL}, append([]string{"serve"}, args...)...)
			}
			run := func(publicURL string, args ...string) binarytest.Result {
				t.Helper()
				return binarytest.Run(t, dir, []string{"PASSERELLE_DATABASE_URL=" + dbURL, "PASSERELLE_PUBLIC_URL=" + publicURL,
					"PASSERELLE_LISTEN=" + binarytest.FreeAddr(t, "127.0.0.1")}, args...)
			}
			stop := func(p *binarytest.Process) {
				t.Helper()
				if err := p.Stop(30 * time.Second); err != nil {
					t.Fatal(err)
				}
			}
			const first, real, other = "http://localhost:8080", "https://events.example.org", "https://agenda.example.net"

			// A first try with the defaults, then the real public_url:
			// nothing was made under the first, so nothing breaks.
			stop(serve(first))
			p := serve(real)
			if strings.Contains(p.Logs(), "level=WARN") {
				t.Errorf("a public_url change with nothing made under the old one warned:\n%s", p.Logs())
			}
			stop(p)

			// Then a follow and a participant exist under the real URL.
			ctx := context.Background()
			db, err := store.Open(ctx, dbURL, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			err = db.Tx(ctx, func(ctx context.Context, tx *store.Tx) error {
				src := &bridges.Source{Slug: "velo", ActorURL: "https://mobilizon.example/@velo", FollowID: real + "/follows/1", State: bridges.SourceFollowed, CreatedAt: time.Now()}
				if err := tx.SaveSource(ctx, src); err != nil {
					return err
				}
				return tx.CreateLocalActor(ctx, &store.LocalActor{Kind: store.ActorParticipant, Username: "p-1", PrivateKeyPEM: "-", PublicKeyPEM: "-"})
			})
			if err != nil {
				t.Fatal(err)
			}

			for _, args := range [][]string{{"serve"}, {"follow", "velo"}} {
				r := run(other, args...)
				for _, want := range []string{"public_url changed", "made under " + real, "now says " + other,
					"the instance actor " + real + "/actors/passerelle becomes " + other + "/actors/passerelle",
					"the 1 followed or pending source(s)", "the 1 mail participant actor(s)", "passerelle serve --accept-new-public-url"} {
					if r.Code != 2 || !strings.Contains(r.Stderr, want) {
						t.Errorf("%v under a new public_url: exit %d, stderr %s\nwant exit 2 and %q", args, r.Code, r.Stderr, want)
					}
				}
			}
			if v, _ := db.InstanceSetting(ctx, store.SettingPublicURL); v != real {
				t.Errorf("the refused start recorded public_url %q, want %q kept", v, real)
			}

			p = serve(other, "--accept-new-public-url")
			if !strings.Contains(p.Logs(), "level=WARN") || !strings.Contains(p.Logs(), "public_url changed (accepted with --accept-new-public-url)") ||
				!strings.Contains(p.Logs(), "old="+real) {
				t.Errorf("an accepted change was not logged at WARN with what breaks:\n%s", p.Logs())
			}
			stop(p)
			stop(serve(other)) // recorded: the next start needs no flag

			// A database from before the URL was recorded: the Follows'
			// ids tell it.
			if _, err := storetest.Exec(db, "DELETE FROM instance_settings"); err != nil {
				t.Fatal(err)
			}
			if r := run(other, "serve"); r.Code != 2 || !strings.Contains(r.Stderr, "made under "+real) {
				t.Errorf("no recorded URL, follows made under %s: exit %d, stderr %s", real, r.Code, r.Stderr)
			}
		})
	}
}
