package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"codeberg.org/passerelle/passerelle/internal/binarytest"
	"codeberg.org/passerelle/passerelle/internal/fedipeertest"
	"codeberg.org/passerelle/passerelle/internal/storetest"
	"codeberg.org/passerelle/passerelle/internal/testenv"
	"codeberg.org/passerelle/passerelle/internal/wait"
)

// TestContribFilesAreValid: the systemd unit, the nginx server blocks and
// the Caddyfile that "Run it in production" points at pass their own
// tools' checks (systemd-analyze verify, nginx -t, caddy validate).
func TestContribFilesAreValid(t *testing.T) {
	t.Run("systemd", func(t *testing.T) {
		analyze := testenv.LookPath(t, "systemd-analyze", "apt-get install systemd")
		unit, err := os.ReadFile("../../contrib/passerelle.service")
		if err != nil {
			t.Fatal(err)
		}
		// verify checks that ExecStart exists: point it at a real build.
		text := strings.ReplaceAll(string(unit), "/usr/local/bin/passerelle", binarytest.Build(t))
		path := filepath.Join(t.TempDir(), "passerelle.service")
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(analyze, "verify", path).CombinedOutput()
		// Lines about other units of this machine are not ours.
		var ours []string
		for _, l := range strings.Split(string(out), "\n") {
			if strings.Contains(l, "passerelle.service") {
				ours = append(ours, l)
			}
		}
		if err != nil || len(ours) > 0 {
			t.Errorf("systemd-analyze verify: %v\n%s", err, strings.Join(ours, "\n"))
		}
		for _, want := range []string{"ProtectSystem=strict", "NoNewPrivileges=true", "StateDirectory=passerelle", "User=passerelle"} {
			if !strings.Contains(text, want) {
				t.Errorf("the unit lacks %s", want)
			}
		}
	})
	t.Run("nginx", func(t *testing.T) {
		nginx := testenv.LookPath(t, "nginx", "apt-get install nginx")
		dir := t.TempDir()
		cert, key := selfSigned(t, dir)
		site, err := os.ReadFile("../../contrib/nginx.conf")
		if err != nil {
			t.Fatal(err)
		}
		text := strings.NewReplacer("/etc/letsencrypt/live/events.example.org/fullchain.pem", cert,
			"/etc/letsencrypt/live/events.example.org/privkey.pem", key).Replace(string(site))
		if !strings.Contains(text, "proxy_set_header Host $host;") {
			t.Error("contrib/nginx.conf does not keep Host")
		}
		conf := nginxMain(dir, text)
		if out, err := exec.Command(nginx, "-t", "-p", dir, "-c", conf).CombinedOutput(); err != nil {
			t.Errorf("nginx -t: %v\n%s", err, out)
		}
	})
	t.Run("caddy", func(t *testing.T) {
		caddy := testenv.LookPath(t, "caddy", "apt-get install caddy")
		cmd := exec.Command(caddy, "validate", "--adapter", "caddyfile", "--config", "../../contrib/Caddyfile")
		cmd.Env = append(os.Environ(), "HOME="+t.TempDir(), "XDG_DATA_HOME="+t.TempDir(), "XDG_CONFIG_HOME="+t.TempDir())
		if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "Valid configuration") {
			t.Errorf("caddy validate: %v\n%s", err, out)
		}
	})
}

// TestFollowThroughReverseProxy (issue 14, point 2): passerelle behind
// nginx with its default proxy settings (the Host it forwards is its
// upstream's, not the one the sender signed), and behind Caddy. The
// group's signed Accept and its Create reach passerelle through the proxy
// and are taken: the follow is accepted and the event stored. Before,
// nginx's default made every inbox POST a 401 and the follow stayed
// pending.
func TestFollowThroughReverseProxy(t *testing.T) {
	for _, proxy := range []string{"nginx", "caddy"} {
		t.Run(proxy, func(t *testing.T) {
			peer := fedipeertest.Start(t, fedipeertest.Mobilizon)
			dir := t.TempDir()
			addr := binarytest.FreeAddr(t, "127.0.0.1")
			front := binarytest.FreeAddr(t, "127.0.0.5")
			switch proxy {
			case "nginx":
				startNginx(t, front, addr)
			case "caddy":
				startCaddy(t, front, addr)
			}
			env := []string{
				"PASSERELLE_DATABASE_URL=" + storetest.SQLiteURL(t),
				"PASSERELLE_PUBLIC_URL=http://" + front,
				"PASSERELLE_FEDERATION_ALLOW_PRIVATE_NETWORKS=true",
			}
			serve := binarytest.Start(t, dir, addr, env)
			wait.For(t, 30*time.Second, proxy+" passes requests on", func() bool {
				resp, err := http.Get("http://" + front + "/healthz")
				if err != nil {
					return false
				}
				resp.Body.Close()
				return resp.StatusCode == 200
			})
			r := binarytest.Run(t, dir, append([]string{"PASSERELLE_LISTEN=" + addr}, env...), "follow", peer.Handle("mygroup"))
			if r.Code != 0 || !strings.Contains(r.Stdout, "mygroup accepted the follow") {
				t.Fatalf("follow through %s: exit %d\n%s%s\nserve:\n%s", proxy, r.Code, r.Stdout, r.Stderr, serve.Logs())
			}
			c := peer.CreateEvent(t, fedipeertest.Event{Name: "Balade derrière le proxy",
				StartTime: time.Now().Add(72 * time.Hour).UTC().Truncate(time.Second).Format(time.RFC3339), Timezone: "Europe/Paris"})
			if len(c.Deliveries) == 0 {
				t.Fatal("the peer delivered the Create to nobody")
			}
			for _, d := range c.Deliveries {
				if d.Status != http.StatusAccepted {
					t.Fatalf("the Create through %s: HTTP %d %s", proxy, d.Status, d.Body)
				}
			}
			wait.For(t, time.Minute, "the event in the feed", func() bool {
				resp, err := http.Get("http://" + front + "/feeds/all.ics")
				if err != nil {
					return false
				}
				defer resp.Body.Close()
				body, _ := io.ReadAll(resp.Body)
				return strings.Contains(string(body), "UID:"+c.ID)
			})
			if proxy == "nginx" && !strings.Contains(serve.Logs(), "your reverse proxy rewrites Host") {
				t.Errorf("behind nginx's default settings, serve did not say that the proxy rewrites Host:\n%s", serve.Logs())
			}
		})
	}
}

// nginxMain wraps server blocks in a main configuration that runs as the
// current user, with every path in dir.
func nginxMain(dir, servers string) string {
	conf := filepath.Join(dir, "nginx.conf")
	main := fmt.Sprintf(`daemon off;
master_process off;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log;
events {}
http {
	access_log off;
	client_body_temp_path %[1]s/body;
	proxy_temp_path %[1]s/proxy;
	fastcgi_temp_path %[1]s/fastcgi;
	uwsgi_temp_path %[1]s/uwsgi;
	scgi_temp_path %[1]s/scgi;
%[2]s
}
`, dir, servers)
	if err := os.WriteFile(conf, []byte(main), 0o644); err != nil {
		panic(err)
	}
	return conf
}

// startNginx runs nginx on listen, proxying to upstream with nginx's
// defaults: no proxy_set_header, so the Host sent upstream is upstream's.
func startNginx(t *testing.T, listen, upstream string) {
	nginx := testenv.LookPath(t, "nginx", "apt-get install nginx")
	dir := t.TempDir()
	conf := nginxMain(dir, fmt.Sprintf("\tserver {\n\t\tlisten %s;\n\t\tlocation / { proxy_pass http://%s; }\n\t}\n", listen, upstream))
	startProxy(t, exec.Command(nginx, "-p", dir, "-c", conf))
}

// startCaddy runs Caddy as contrib/Caddyfile has it, on plain http.
func startCaddy(t *testing.T, listen, upstream string) {
	caddy := testenv.LookPath(t, "caddy", "apt-get install caddy")
	dir := t.TempDir()
	file := filepath.Join(dir, "Caddyfile")
	text := fmt.Sprintf("{\n\tadmin off\n\tauto_https off\n}\nhttp://%s {\n\treverse_proxy %s\n}\n", listen, upstream)
	if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(caddy, "run", "--adapter", "caddyfile", "--config", file)
	cmd.Env = append(os.Environ(), "HOME="+dir, "XDG_DATA_HOME="+dir, "XDG_CONFIG_HOME="+dir)
	startProxy(t, cmd)
}

func startProxy(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	var logs strings.Builder
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("%s:\n%s", filepath.Base(cmd.Path), logs.String())
		}
	})
}

// selfSigned writes a certificate and key for events.example.org.
func selfSigned(t *testing.T, dir string) (cert, key string) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "events.example.org"},
		DNSNames: []string{"events.example.org"}, NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kd, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	cert, key = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(key, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kd}), 0o600); err != nil {
		t.Fatal(err)
	}
	return cert, key
}

// TestBackupWhileServing: the README's SQLite backup (sqlite3's .backup on
// the database of a running serve) is a database passerelle opens, with
// what was written before it.
func TestBackupWhileServing(t *testing.T) {
	sqlite3 := testenv.LookPath(t, "sqlite3", "apt-get install sqlite3")
	dir := t.TempDir()
	addr := binarytest.FreeAddr(t, "127.0.0.1")
	db := filepath.Join(dir, "passerelle.db")
	env := []string{"PASSERELLE_DATABASE_URL=sqlite://" + db, "PASSERELLE_PUBLIC_URL=http://" + addr}
	binarytest.Start(t, dir, addr, env)
	if r := binarytest.Run(t, dir, env, "block", "spam.example"); r.Code != 0 {
		t.Fatalf("block: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	backup := filepath.Join(t.TempDir(), "backup.db")
	if out, err := exec.Command(sqlite3, db, ".backup '"+backup+"'").CombinedOutput(); err != nil {
		t.Fatalf("sqlite3 .backup while serve runs: %v\n%s", err, out)
	}
	r := binarytest.Run(t, t.TempDir(), []string{"PASSERELLE_DATABASE_URL=sqlite://" + backup, "PASSERELLE_PUBLIC_URL=http://" + addr}, "blocks")
	if r.Code != 0 || !strings.Contains(r.Stdout, "spam.example") {
		t.Errorf("blocks on the backup: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
}
