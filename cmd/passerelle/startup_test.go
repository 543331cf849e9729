package main

import (
	"context"
	"database/sql"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"codeberg.org/passerelle/passerelle/internal/binarytest"
	"codeberg.org/passerelle/passerelle/internal/storetest"
)

func TestServeWithDefaultsOnSQLite(t *testing.T) {
	dir := t.TempDir()
	addr := binarytest.FreeAddr(t, "127.0.0.1")
	p := binarytest.Start(t, dir, addr, nil)
	if _, err := os.Stat(filepath.Join(dir, "passerelle-data", "passerelle.db")); err != nil {
		t.Errorf("SQLite database not created under ./passerelle-data: %v", err)
	}
	for _, tc := range []struct {
		method, path string
		want         int
		accept       string
	}{
		{"GET", "/healthz", 200, ""},
		{"GET", "/readyz", 200, ""},
		{"GET", "/", 200, ""},
		{"GET", "/actors/passerelle", 200, "application/activity+json"},
		{"GET", "/feeds/all.ics", 200, ""},
		{"GET", "/no-such-page", 404, ""},
		{"HEAD", "/", 200, ""},
		{"PROPFIND", "/", 0, ""}, // a DAV answer or a 4xx, never an HTML 200
	} {
		req, _ := http.NewRequest(tc.method, "http://"+addr+tc.path, nil)
		if tc.accept != "" {
			req.Header.Set("Accept", tc.accept)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if got := resp.Header.Get("X-Content-Type-Options"); got != "nosniff" {
			t.Errorf("%s %s: X-Content-Type-Options %q, want nosniff", tc.method, tc.path, got)
		}
		ct := resp.Header.Get("Content-Type")
		if tc.want == 0 {
			if resp.StatusCode == 200 && strings.HasPrefix(ct, "text/html") {
				t.Errorf("PROPFIND / answered an HTML 200")
			}
			continue
		}
		if resp.StatusCode != tc.want {
			t.Errorf("%s %s = %d, want %d", tc.method, tc.path, resp.StatusCode, tc.want)
		}
	}
	if err := p.Stop(30 * time.Second); err != nil {
		t.Errorf("SIGTERM: %v (want a clean exit)", err)
	}
}

func TestTwoReplicasOnOnePostgres(t *testing.T) {
	dbURL := storetest.PostgresURL(t)
	env := []string{"PASSERELLE_DATABASE_URL=" + dbURL}
	a := binarytest.Start(t, t.TempDir(), binarytest.FreeAddr(t, "127.0.0.1"), env)
	b := binarytest.Start(t, t.TempDir(), binarytest.FreeAddr(t, "127.0.0.1"), env)
	for _, p := range []*binarytest.Process{a, b} {
		for _, path := range []string{"/healthz", "/readyz"} {
			resp, err := http.Get("http://" + p.Listen + path)
			if err != nil || resp.StatusCode != 200 {
				t.Fatalf("replica %s %s: %v %v", p.Listen, path, resp, err)
			}
			resp.Body.Close()
		}
		if !strings.Contains(p.Logs(), "database=postgres") {
			t.Errorf("replica did not run on PostgreSQL:\n%s", p.Logs())
		}
	}
}

func TestBadConfigFileNamesFileLineAndKey(t *testing.T) {
	dir := t.TempDir()
	cfg := "public_url = \"https://events.example.org\"\n\n[log]\nlevel = \"info\"\nformt = \"json\"\n"
	if err := os.WriteFile(filepath.Join(dir, "passerelle.toml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	r := binarytest.Run(t, dir, nil, "serve")
	if r.Code != 2 || !strings.Contains(r.Stderr, "passerelle.toml:5") || !strings.Contains(r.Stderr, "log.formt") || !strings.Contains(r.Stderr, `"log.format"`) {
		t.Errorf("unknown key: exit %d, stderr %q; want exit 2 naming passerelle.toml:5, log.formt and the suggestion log.format", r.Code, r.Stderr)
	}

	if err := os.WriteFile(filepath.Join(dir, "bad.toml"), []byte("listen = \"nowhere\"\n[log]\nlevel = \"loud\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r = binarytest.Run(t, dir, nil, "--config", "bad.toml", "check-config")
	if r.Code != 2 || !strings.Contains(r.Stderr, "listen:") || !strings.Contains(r.Stderr, "log.level: want debug, info, warn or error") {
		t.Errorf("bad values: exit %d, stderr %q", r.Code, r.Stderr)
	}

	if err := os.WriteFile(filepath.Join(dir, "broken.toml"), []byte("listen = \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r = binarytest.Run(t, dir, nil, "-c", "broken.toml", "check-config")
	if r.Code != 2 || !strings.Contains(r.Stderr, "broken.toml:1") {
		t.Errorf("malformed TOML: exit %d, stderr %q", r.Code, r.Stderr)
	}

	r = binarytest.Run(t, t.TempDir(), []string{"PASSERELLE_LOG_LEVL=debug"}, "check-config")
	if r.Code != 2 || !strings.Contains(r.Stderr, "PASSERELLE_LOG_LEVL") || !strings.Contains(r.Stderr, "did you mean PASSERELLE_LOG_LEVEL?") {
		t.Errorf("unknown variable: exit %d, stderr %q", r.Code, r.Stderr)
	}

	r = binarytest.Run(t, dir, nil, "serve", "--no-such-flag")
	if r.Code != 2 {
		t.Errorf("unknown flag: exit %d, want 2", r.Code)
	}
}

func TestUnreachableDatabaseIsOneLineWithPasswordRedacted(t *testing.T) {
	r := binarytest.Run(t, t.TempDir(), []string{"PASSERELLE_DATABASE_URL=postgres://app:hunter2@127.0.0.1:1/passerelle?connect_timeout=3"}, "serve")
	if r.Code != 1 {
		t.Errorf("exit %d, want 1", r.Code)
	}
	if strings.Contains(r.Stderr, "hunter2") || !strings.Contains(r.Stderr, "app:xxxxx@127.0.0.1:1") {
		t.Errorf("stderr must name the URL with the password redacted: %q", r.Stderr)
	}
	if n := strings.Count(strings.TrimSpace(r.Stderr), "\n"); n != 0 {
		t.Errorf("want one line, got %d:\n%s", n+1, r.Stderr)
	}
}

func TestNewerSchemaIsRefusedUntouched(t *testing.T) {
	dir := t.TempDir()
	dbURL := storetest.SQLiteURL(t)
	path := strings.TrimPrefix(dbURL, "sqlite://")
	raw, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := raw.ExecContext(context.Background(), "INSERT INTO schema_migrations (version, name, applied_at) VALUES (9999, 'future', 1)"); err != nil {
		t.Fatal(err)
	}
	raw.Close()
	before, _ := os.ReadFile(path)
	r := binarytest.Run(t, dir, []string{"PASSERELLE_DATABASE_URL=" + dbURL}, "serve")
	if r.Code != 1 || !strings.Contains(r.Stderr, "newer passerelle") {
		t.Errorf("exit %d, stderr %q; want 1 and a word about a newer passerelle", r.Code, r.Stderr)
	}
	after, _ := os.ReadFile(path)
	if string(before) != string(after) {
		t.Errorf("the refused database was modified")
	}
}

func TestJobSurvivesKillAndRunsOnce(t *testing.T) {
	dir := t.TempDir()
	env := []string{"PASSERELLE_DATABASE_URL=" + storetest.SQLiteURL(t)}
	out := filepath.Join(dir, "probe.txt")
	// Enqueued for a few seconds ahead, so the first serve is killed
	// (SIGKILL: no drain, no clean-up) before it is due.
	if r := binarytest.Run(t, dir, env, "jobs", "probe", "--in", "3s", "--label", "durable", out); r.Code != 0 {
		t.Fatalf("jobs probe: %d %s", r.Code, r.Stderr)
	}
	first := binarytest.Start(t, dir, binarytest.FreeAddr(t, "127.0.0.1"), env)
	first.Kill()
	if _, err := os.Stat(out); err == nil {
		t.Fatal("the job ran before it was due")
	}
	second := binarytest.Start(t, dir, binarytest.FreeAddr(t, "127.0.0.1"), env)
	deadline := time.Now().Add(30 * time.Second)
	for {
		if b, err := os.ReadFile(out); err == nil && len(b) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the job never ran after the restart:\n%s", second.Logs())
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Give a second run every chance to happen, then count.
	time.Sleep(1500 * time.Millisecond)
	if err := second.Stop(30 * time.Second); err != nil {
		t.Error(err)
	}
	b, _ := os.ReadFile(out)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 1 || !strings.HasPrefix(lines[0], "durable job=") {
		t.Errorf("probe file = %q, want exactly one line", b)
	}
	r := binarytest.Run(t, dir, env, "jobs", "list")
	if r.Code != 0 || !strings.Contains(r.Stdout, "probe") || !strings.Contains(r.Stdout, "completed") {
		t.Errorf("jobs list: %d %q", r.Code, r.Stdout)
	}
}

func TestCheckConfigRedactsSecrets(t *testing.T) {
	r := binarytest.Run(t, t.TempDir(), []string{
		"PASSERELLE_MAIL_FROM=Passerelle <events@example.org>",
		"PASSERELLE_MAIL_SMTP=smtp+starttls://events:s3cret@mail.example.org:587",
		"PASSERELLE_PUBLIC_URL=https://events.example.org",
	}, "check-config")
	if r.Code != 0 || strings.Contains(r.Stdout, "s3cret") || !strings.Contains(r.Stdout, "events:xxxxx@mail.example.org") || !strings.Contains(r.Stdout, "https://events.example.org") {
		t.Errorf("check-config: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
}

func TestSigtermDrainsRunningJobs(t *testing.T) {
	dir := t.TempDir()
	env := []string{"PASSERELLE_DATABASE_URL=" + storetest.SQLiteURL(t), "PASSERELLE_LOG_LEVEL=debug"}
	out := filepath.Join(dir, "drain.txt")
	if r := binarytest.Run(t, dir, env, "jobs", "probe", "--hold", "2s", "--label", "drained", out); r.Code != 0 {
		t.Fatalf("jobs probe: %d %s", r.Code, r.Stderr)
	}
	p := binarytest.Start(t, dir, binarytest.FreeAddr(t, "127.0.0.1"), env)
	// Let a worker pick the job up (it polls every 200 ms), then ask the
	// process to stop while the job is still holding.
	time.Sleep(700 * time.Millisecond)
	if err := p.Stop(30 * time.Second); err != nil {
		t.Fatalf("SIGTERM: %v", err)
	}
	b, err := os.ReadFile(out)
	if err != nil || !strings.HasPrefix(string(b), "drained job=") {
		t.Errorf("the running job was not allowed to finish: %q %v\n%s", b, err, p.Logs())
	}
}
