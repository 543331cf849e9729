package main

import (
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"codeberg.org/passerelle/passerelle/internal/binarytest"
	"codeberg.org/passerelle/passerelle/internal/storetest"
	"codeberg.org/passerelle/passerelle/internal/testenv"
)

// startRadicale runs Radicale (Debian's) with one user, club:secret, and
// returns its base URL.
func startRadicale(t *testing.T) string {
	t.Helper()
	if exec.Command("/usr/bin/python3", "-c", "import radicale").Run() != nil {
		testenv.Missing(t, "Radicale is not installed (apt-get install radicale)")
	}
	dir := t.TempDir()
	users := filepath.Join(dir, "users")
	if err := os.WriteFile(users, []byte("club:secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := binarytest.FreeAddr(t, "127.0.0.1")
	cmd := exec.Command("/usr/bin/python3", "-m", "radicale", "--server-hosts", addr,
		"--storage-filesystem-folder", filepath.Join(dir, "collections"),
		"--auth-type", "htpasswd", "--auth-htpasswd-filename", users, "--auth-htpasswd-encryption", "plain",
		"--rights-type", "owner_only")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	deadline := time.Now().Add(30 * time.Second)
	for {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("Radicale did not listen within 30 s")
		}
		time.Sleep(100 * time.Millisecond)
	}
	return "http://" + addr
}

func davDo(t *testing.T, method, u, body string) int {
	t.Helper()
	req, _ := http.NewRequest(method, u, strings.NewReader(body))
	req.SetBasicAuth("club", "secret")
	if body != "" {
		req.Header.Set("Content-Type", "text/calendar; charset=utf-8")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestPublishRadicale publishes a CalDAV collection of Radicale (the
// organiser's own server, behind a password), read the CalDAV way: an
// event PUT there is published, one DELETEd there is deleted, a wrong
// password is refused with exit 2. TestPublishCalDAVSync counts the
// requests.
func TestPublishRadicale(t *testing.T) {
	base := startRadicale(t)
	col := base + "/club/events/"
	if code := davDo(t, "MKCALENDAR", col, ""); code != http.StatusCreated {
		t.Fatalf("MKCALENDAR: %d", code)
	}
	paris, _ := time.LoadLocation("Europe/Paris")
	day := time.Now().In(paris).AddDate(0, 0, 5).Truncate(time.Hour)
	wrap := func(ev string) string {
		return "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//club//EN\r\n" + ev + "END:VCALENDAR\r\n"
	}
	if code := davDo(t, "PUT", col+"first.ics", wrap(icsEvent("first@club", "Assemblée générale", day))); code/100 != 2 {
		t.Fatalf("PUT: %d", code)
	}

	dir := t.TempDir()
	addr := binarytest.FreeAddr(t, "127.0.0.1")
	dbURL := storetest.SQLiteURL(t)
	env := []string{
		"PASSERELLE_DATABASE_URL=" + dbURL,
		"PASSERELLE_PUBLIC_URL=http://" + addr,
		"PASSERELLE_FEDERATION_ALLOW_PRIVATE_NETWORKS=true",
		"PASSERELLE_LISTEN=" + addr,
	}
	cli := func(args ...string) binarytest.Result {
		t.Helper()
		return binarytest.Run(t, dir, env, args...)
	}
	if r := cli("migrate"); r.Code != 0 {
		t.Fatalf("migrate: %d %s", r.Code, r.Stderr)
	}
	if r := cli("publish", col, "--name", "club", "--user", "club", "--password", "wrong"); r.Code != 2 || !strings.Contains(r.Stderr, "401") {
		t.Errorf("wrong password: exit %d %s", r.Code, r.Stderr)
	}
	r := cli("publish", col, "--name", "club", "--user", "club", "--password", "secret")
	if r.Code != 0 || !strings.Contains(r.Stdout, "1 events: 1 new") {
		t.Fatalf("publish: exit %d\n%s\n%s", r.Code, r.Stdout, r.Stderr)
	}
	// The database keeps the password sealed under the instance secret.
	var stored string
	if err := storetest.QueryRow(storetest.Open(t, dbURL), "SELECT password FROM published_calendars").Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(stored, "sealed:") || strings.Contains(stored, "secret") {
		t.Errorf("the source password is stored as %q", stored)
	}
	if r := cli("publish", "refresh", "club"); r.Code != 0 || !strings.Contains(r.Stdout, "not modified") && !strings.Contains(r.Stdout, "0 new, 0 updated") {
		t.Errorf("refresh without change: %s %s", r.Stdout, r.Stderr)
	}
	davDo(t, "PUT", col+"second.ics", wrap(icsEvent("second@club", "Permanence", day.AddDate(0, 0, 2))))
	if r := cli("publish", "refresh", "club"); r.Code != 0 || !strings.Contains(r.Stdout, "2 events: 1 new") {
		t.Errorf("refresh after a PUT: %s %s", r.Stdout, r.Stderr)
	}
	davDo(t, "DELETE", col+"first.ics", "")
	if r := cli("publish", "refresh", "club"); r.Code != 0 || !strings.Contains(r.Stdout, "1 deleted") {
		t.Errorf("refresh after a DELETE: %s %s", r.Stdout, r.Stderr)
	}
}
