package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"codeberg.org/passerelle/passerelle/internal/binarytest"
	"codeberg.org/passerelle/passerelle/internal/storetest"
	"codeberg.org/passerelle/passerelle/store"
)

// stateCommands is every command that reads or changes state, with
// arguments that would be valid against an existing database.
var stateCommands = [][]string{
	{"sources"}, {"sources", "--json"}, {"sources", "refresh", "mygroup"},
	{"events"}, {"events", "--source", "mygroup"},
	{"follow", "@group@mobilizon.example"}, {"unfollow", "mygroup"},
	{"block", "spam.example"}, {"unblock", "spam.example"}, {"blocks"},
	{"invite", "--event", "1", "ana@example.net"},
	{"jobs"}, {"jobs", "probe", "probe.txt"}, {"status"}, {"status", "--json"},
	{"participant", "export", "ana@example.net"}, {"participant", "erase", "ana@example.net"},
	{"mastodon", "accounts"}, {"mastodon", "routes"}, {"mastodon", "disconnect", "@a@mastodon.example"},
	{"mastodon", "connect", "https://mastodon.example"},
	{"mastodon", "route", "--source", "mygroup", "--account", "@a@mastodon.example"},
	{"mastodon", "unroute", "--source", "mygroup", "--account", "@a@mastodon.example"},
	{"check-config", "--connect"},
	{"mail", "receive"},
}

// wantExit is the status a command must end with on a configuration
// error: 2, except mail receive's EX_CONFIG for its MTA.
func wantExit(args []string) int {
	if args[0] == "mail" {
		return 78
	}
	return 2
}

// TestCommandsRefuseAMissingDatabase: run from another folder (issue 14,
// point 3), a command must not create an empty database that hides the
// real one; it names where it looked and what to do.
func TestCommandsRefuseAMissingDatabase(t *testing.T) {
	dir := t.TempDir()
	env := []string{"PASSERELLE_MAIL_FROM=Passerelle <events@example.org>", "PASSERELLE_MAIL_SMTP=smtp://127.0.0.1:1"}
	want := filepath.Join(dir, "passerelle-data", "passerelle.db")
	for _, args := range stateCommands {
		r := binarytest.Run(t, dir, env, args...)
		if r.Code != wantExit(args) || !strings.Contains(r.Stderr, "no passerelle database at "+want+"; run from the folder of your passerelle.toml or pass --config / --database-url") ||
			!strings.Contains(r.Stderr, "there is no passerelle.toml in") || strings.Contains(r.Stderr, "migrated") {
			t.Errorf("%v in a folder without passerelle.toml: exit %d (want %d)\nstdout: %s\nstderr: %s", args, r.Code, wantExit(args), r.Stdout, r.Stderr)
		}
		if _, err := os.Stat(filepath.Join(dir, "passerelle-data")); err == nil {
			t.Fatalf("%v created ./passerelle-data", args)
		}
	}
	// With a configuration naming a database that is not there either.
	cfg := filepath.Join(t.TempDir(), "passerelle.toml")
	if err := os.WriteFile(cfg, []byte("data_dir = \"/nonexistent/passerelle\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := binarytest.Run(t, dir, nil, "--config", cfg, "sources")
	if r.Code != 2 || !strings.Contains(r.Stderr, "no passerelle database at /nonexistent/passerelle/passerelle.db;") || strings.Contains(r.Stderr, "there is no passerelle.toml") {
		t.Errorf("sources with --config: exit %d, stderr %s", r.Code, r.Stderr)
	}

	t.Run("postgres without passerelle's schema", func(t *testing.T) {
		u := storetest.EmptyPostgresURL(t)
		for _, args := range stateCommands {
			r := binarytest.Run(t, dir, append([]string{"PASSERELLE_DATABASE_URL=" + u}, env...), args...)
			if r.Code != wantExit(args) || !strings.Contains(r.Stderr, "no passerelle database at postgres://") {
				t.Errorf("%v: exit %d (want %d)\nstderr: %s", args, r.Code, wantExit(args), r.Stderr)
			}
		}
		db, err := store.Open(context.Background(), u, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		var n int
		if err := storetest.QueryRow(db, "SELECT COUNT(*) FROM pg_catalog.pg_tables WHERE schemaname = 'public'").Scan(&n); err != nil || n != 0 {
			t.Errorf("the commands created %d tables (%v)", n, err)
		}
	})
}

// TestCommandsRefuseAnOlderSchemaUntilMigrate: a command never migrates
// (an upgrade is the admin's step, with serve stopped or not); it says to
// run migrate, and after migrate it works. Both backends.
func TestCommandsRefuseAnOlderSchemaUntilMigrate(t *testing.T) {
	for _, backend := range []string{store.SQLite, store.Postgres} {
		t.Run(backend, func(t *testing.T) {
			u := "sqlite://" + filepath.Join(t.TempDir(), "passerelle.db")
			if backend == store.Postgres {
				u = storetest.EmptyPostgresURL(t)
			}
			ctx := context.Background()
			db, err := store.Open(ctx, u, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			ms, err := store.Migrations()
			if err != nil {
				t.Fatal(err)
			}
			older := ms[len(ms)-2].Version
			if err := db.MigrateTo(ctx, older); err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			env := []string{"PASSERELLE_DATABASE_URL=" + u, "PASSERELLE_MAIL_FROM=Passerelle <events@example.org>", "PASSERELLE_MAIL_SMTP=smtp://127.0.0.1:1"}
			for _, args := range stateCommands {
				r := binarytest.Run(t, dir, env, args...)
				if r.Code != wantExit(args) || !strings.Contains(r.Stderr, "made by an older passerelle") || !strings.Contains(r.Stderr, "run `passerelle migrate`") {
					t.Errorf("%v on an older schema: exit %d (want %d)\nstderr: %s", args, r.Code, wantExit(args), r.Stderr)
				}
			}
			// check-config checks the configuration: an outdated database
			// is said, not a failure.
			if r := binarytest.Run(t, dir, env, "check-config"); r.Code != 0 ||
				backend == store.SQLite && !strings.Contains(r.Stdout, "# The domains blocked at run time cannot be read: the database at") {
				t.Errorf("check-config on an older schema: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
			}
			if v, _ := db.SchemaVersion(ctx); v != older {
				t.Fatalf("a command migrated the database: version %d, left at %d", v, older)
			}
			if r := binarytest.Run(t, dir, env, "migrate"); r.Code != 0 || !strings.Contains(r.Stderr, "schema migrated") {
				t.Fatalf("migrate: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
			}
			r := binarytest.Run(t, dir, env, "sources")
			if r.Code != 0 || r.Stderr != "" {
				t.Errorf("sources after migrate: exit %d, stderr %q (want no log lines)", r.Code, r.Stderr)
			}
		})
	}
}

// TestMailReceiveConfigurationErrorsAreEXConfig (issue 13, item 8): an MTA
// retries 75 forever, so what only the admin can fix — a database URL
// whose folder does not exist, mail not configured, a broken
// configuration — exits 78 and creates nothing.
func TestMailReceiveConfigurationErrorsAreEXConfig(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "no", "such", "folder", "passerelle.db")
	mailEnv := []string{"PASSERELLE_MAIL_FROM=Passerelle <events@example.org>", "PASSERELLE_MAIL_SMTP=smtp://127.0.0.1:1"}
	for _, tc := range []struct {
		name string
		env  []string
		want string
	}{
		{"database folder missing", append([]string{"PASSERELLE_DATABASE_URL=sqlite://" + missing}, mailEnv...), "no passerelle database at " + missing},
		{"mail not configured", []string{"PASSERELLE_DATABASE_URL=" + storetest.SQLiteURL(t)}, "mail is not configured"},
		{"bad configuration", []string{"PASSERELLE_MAIL_SMTP=ftp://nowhere"}, "mail.smtp"},
	} {
		r := binarytest.Run(t, dir, tc.env, "mail", "receive")
		if r.Code != 78 || !strings.Contains(r.Stderr, tc.want) {
			t.Errorf("%s: exit %d, stderr %q; want 78 and %q", tc.name, r.Code, r.Stderr, tc.want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "no")); err == nil {
		t.Error("mail receive created the database's folder")
	}
}
