package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"codeberg.org/passerelle/passerelle/internal/binarytest"
	"codeberg.org/passerelle/passerelle/internal/fedipeertest"
	"codeberg.org/passerelle/passerelle/internal/storetest"
	"codeberg.org/passerelle/passerelle/store"
)

// TestMoveToPostgres (issue 18 item 5): an instance on SQLite that follows
// a group, holds an event, an invited participant and their mails, is
// backed up while it runs, then stopped and moved with `migrate --to` to a
// new PostgreSQL database: every table arrives with the same rows (the
// actors' keys unchanged), and serve on PostgreSQL goes on where SQLite
// stopped: the group's next Update, signed for the same follower, is
// stored, and the participant's calendar account still signs in.
func TestMoveToPostgres(t *testing.T) {
	pgURL := storetest.EmptyPostgresURL(t)
	w := startMailWorld(t)
	picnic := w.event(fedipeertest.Event{Name: "Moving picnic"})
	const ana = "ana@example.net"
	w.invite("Moving picnic", ana)
	acct := accountOf(t, w.waitMail(ana, "Invitation: Moving picnic", 1))

	// A backup while serve runs opens as a database with the same rows.
	backup := filepath.Join(t.TempDir(), "backup.db")
	if r := w.cli("backup", backup); r.Code != 0 || !strings.Contains(r.Stdout, "backed up to") {
		t.Fatalf("backup: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	if r := w.cli("backup", backup); r.Code == 0 || !strings.Contains(r.Stderr, "exists already") {
		t.Errorf("a second backup over the first: exit %d %s", r.Code, r.Stderr)
	}
	bdb := storetest.Open(t, "sqlite://"+backup)
	if n := count(t, bdb, "events"); n != 1 {
		t.Errorf("the backup holds %d events, want 1", n)
	}

	if err := w.srv.Stop(20 * time.Second); err != nil {
		t.Fatal(err)
	}
	r := w.cli("migrate", "--to", pgURL)
	if r.Code != 0 || !strings.Contains(r.Stdout, "copied ") || strings.Contains(r.Stdout, "@127.0.0.1:5432") && strings.Contains(r.Stdout, "root:") {
		t.Fatalf("migrate --to: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	src := storetest.Open(t, w.dbURL)
	dst := storetest.Open(t, pgURL)
	rows, err := storetest.Query(src, `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'river_%' AND name NOT LIKE 'sqlite_%'`)
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var name string
		rows.Scan(&name)
		tables = append(tables, name)
	}
	rows.Close()
	for _, table := range tables {
		if a, b := count(t, src, table), count(t, dst, table); a != b {
			t.Errorf("table %s: %d rows on SQLite, %d on PostgreSQL", table, a, b)
		}
	}
	keys := func(db *store.DB) string {
		var s string
		if err := storetest.QueryRow(db, `SELECT username || ':' || public_key_pem FROM local_actors ORDER BY id LIMIT 1`).Scan(&s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	if keys(src) != keys(dst) {
		t.Error("the instance actor's key changed in the move")
	}
	if r := w.cli("migrate", "--to", pgURL); r.Code == 0 || !strings.Contains(r.Stderr, "not empty") {
		t.Errorf("a second move into the same database: exit %d %s", r.Code, r.Stderr)
	}

	// serve on PostgreSQL, at the same public_url: federation goes on.
	env := append(append([]string{}, w.env...), "PASSERELLE_DATABASE_URL="+pgURL)
	listen := strings.TrimPrefix(envValue(w.env, "PASSERELLE_LISTEN"), "")
	binarytest.Start(t, w.dir, listen, env)
	w.peer.UpdateEvent(t, picnic.UUID, map[string]any{"name": "Moved picnic"})
	waitUntil(t, "the Update stored on PostgreSQL", 30*time.Second, func() bool {
		r := binarytest.Run(t, w.dir, env, "events", "--json")
		return strings.Contains(r.Stdout, `"Moved picnic"`)
	})
	// The participant's calendar account signs in on PostgreSQL too.
	if _, cals, _ := w.python(acct, picnic.ID, "read"); len(cals) != 1 {
		t.Errorf("calendar account after the move: calendars %v", cals)
	}
	var st statusReport
	r = binarytest.Run(t, w.dir, env, "status", "--json")
	if err := json.Unmarshal([]byte(r.Stdout), &st); err != nil || st.Backend != store.Postgres || st.Sources["followed"] != 1 {
		t.Errorf("status on PostgreSQL: %v %+v", err, st)
	}
	_ = os.Remove(backup)
}

func count(t testing.TB, db *store.DB, table string) int {
	t.Helper()
	var n int
	if err := storetest.QueryRow(db, "SELECT COUNT(*) FROM "+table).Scan(&n); err != nil {
		t.Fatalf("count %s: %v", table, err)
	}
	return n
}

func envValue(env []string, key string) string {
	v := ""
	for _, kv := range env {
		if k, val, ok := strings.Cut(kv, "="); ok && k == key {
			v = val
		}
	}
	return v
}
