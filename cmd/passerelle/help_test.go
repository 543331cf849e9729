package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"codeberg.org/passerelle/passerelle/bridges"
	"codeberg.org/passerelle/passerelle/internal/binarytest"
	"codeberg.org/passerelle/passerelle/internal/storetest"
	"codeberg.org/passerelle/passerelle/store"
)

// TestHelpSpeaksPasserelle (issue 14, point 10): `passerelle help` is
// --help, `passerelle help COMMAND` a command's help, values are shown by
// what they are (ID, SOURCE…) rather than by their Go type, and a flag
// given without its value says so.
func TestHelpSpeaksPasserelle(t *testing.T) {
	dir := t.TempDir()
	top := binarytest.Run(t, dir, nil, "--help")
	r := binarytest.Run(t, dir, nil, "help")
	if r.Code != 0 || r.Stdout != top.Stdout || !strings.Contains(r.Stdout, "Commands:") {
		t.Errorf("passerelle help: exit %d, want --help's text\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	goTypes := regexp.MustCompile(`=(STRING|INT(-\d+)?|UINT\S*|FLOAT\S*)\b`)
	if m := goTypes.FindString(r.Stdout); m != "" {
		t.Errorf("passerelle help shows a Go type as placeholder: %s", m)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"help", "invite"}, "Usage: passerelle invite --source=SOURCE --event=ID <ADDRESS> ..."},
		{[]string{"help", "follow"}, "Usage: passerelle follow <HANDLE|URL>"},
		{[]string{"help", "mastodon", "route"}, "--source=SOURCE"},
		{[]string{"help", "events"}, "--source=SOURCE"},
		{[]string{"help", "blocks"}, "Usage: passerelle blocks"},
	} {
		r := binarytest.Run(t, dir, nil, tc.args...)
		if r.Code != 0 || !strings.Contains(r.Stdout, tc.want) || goTypes.MatchString(r.Stdout) {
			t.Errorf("%v: exit %d, want %q and no Go type\n%s%s", tc.args, r.Code, tc.want, r.Stdout, r.Stderr)
		}
	}
	if r := binarytest.Run(t, dir, nil, "help", "nope"); r.Code != 2 || !strings.Contains(r.Stderr, "nope") {
		t.Errorf("help of an unknown command: exit %d, %s", r.Code, r.Stderr)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"events", "--source"}, "--source needs a value (SOURCE), got nothing; see `passerelle help events`"},
		{[]string{"events", "--source", "--json"}, `--source needs a value (SOURCE), got "--json"`},
		{[]string{"invite", "ana@example.net", "--event"}, "--event needs a value (ID), got nothing; see `passerelle help invite`"},
		{[]string{"mastodon", "route", "--account", "@a@mastodon.example", "--source"}, "--source needs a value (SOURCE), got nothing; see `passerelle help mastodon route`"},
		{[]string{"follow"}, "follow needs HANDLE|URL; see `passerelle help follow`"},
	} {
		r := binarytest.Run(t, dir, nil, tc.args...)
		if r.Code != 2 || !strings.Contains(r.Stderr, tc.want) || strings.Contains(r.Stderr, "EOL") {
			t.Errorf("%v: exit %d, stderr %q, want 2 and %q", tc.args, r.Code, r.Stderr, tc.want)
		}
	}
}

// TestBlocksAreListedWithTheirOrigin (issue 14, point 10): `passerelle
// blocks` and check-config show the domains blocked at run time beside
// federation.block, saying which comes from where, and blocking the home
// of a followed source warns, naming it. Both backends.
func TestBlocksAreListedWithTheirOrigin(t *testing.T) {
	for _, backend := range []string{store.SQLite, store.Postgres} {
		t.Run(backend, func(t *testing.T) {
			dbURL := storetest.URL(t, backend)
			db := storetest.Open(t, dbURL)
			storetest.SaveSources(t, db,
				&bridges.Source{Slug: "velo", ActorURL: "https://events.mobilizon.example/@velo", State: bridges.SourceFollowed},
				&bridges.Source{Slug: "jardin", ActorURL: "https://mobilizon.example/@jardin", State: bridges.SourcePending},
				&bridges.Source{Slug: "ancien", ActorURL: "https://mobilizon.example/@ancien", State: bridges.SourceUnfollowed},
				&bridges.Source{Slug: "autre", ActorURL: "https://gancio.example/federation/u/relay", State: bridges.SourceFollowed})
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "passerelle.toml"), []byte("[federation]\nblock = [\"spam.example\"]\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			env := []string{"PASSERELLE_DATABASE_URL=" + dbURL}
			cli := func(args ...string) binarytest.Result { t.Helper(); return binarytest.Run(t, dir, env, args...) }

			r := cli("block", "mobilizon.example")
			if r.Code != 0 || !strings.Contains(r.Stdout, "blocked mobilizon.example") ||
				!strings.Contains(r.Stderr, "warning: mobilizon.example is the home of followed source(s) jardin, velo") {
				t.Errorf("block of a followed source's domain: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
			}
			if r = cli("block", "quiet.example"); r.Code != 0 || r.Stderr != "" {
				t.Errorf("block of an unrelated domain: exit %d, stderr %q", r.Code, r.Stderr)
			}
			r = cli("blocks")
			for _, want := range []string{"spam.example       federation.block (passerelle.toml or environment)", "mobilizon.example  passerelle block (database)", "quiet.example      passerelle block (database)"} {
				if r.Code != 0 || !strings.Contains(r.Stdout, want) {
					t.Errorf("blocks: exit %d, want %q in\n%s%s", r.Code, want, r.Stdout, r.Stderr)
				}
			}
			args := []string{"check-config"}
			if backend == store.Postgres {
				args = append(args, "--connect")
			}
			r = cli(args...)
			if r.Code != 0 || !strings.Contains(r.Stdout, `block = ['spam.example']`) && !strings.Contains(r.Stdout, `block = ["spam.example"]`) ||
				!strings.Contains(r.Stdout, "# Also blocked at run time with `passerelle block` (kept in the database, not in the configuration") ||
				!strings.Contains(r.Stdout, "#   mobilizon.example\n#   quiet.example\n") {
				t.Errorf("%v: exit %d\n%s%s", args, r.Code, r.Stdout, r.Stderr)
			}
			if backend == store.Postgres {
				r = cli("check-config")
				if r.Code != 0 || !strings.Contains(r.Stdout, "`check-config --connect` (or `passerelle blocks`) also lists the domains blocked at run time") {
					t.Errorf("check-config on PostgreSQL without --connect: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
				}
			}
		})
	}
}
