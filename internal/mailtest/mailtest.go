// Package mailtest starts real mail servers for tests, on loopback, each
// in a throwaway folder, stopped by PID when the test ends: Dovecot (IMAP,
// Debian's dovecot-imapd) and an SMTP receiver (Debian's python3-aiosmtpd).
// A missing server skips the test, or fails it under PASSERELLE_REQUIRE_ALL.
package mailtest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"codeberg.org/passerelle/passerelle/internal/testenv"
	"github.com/emersion/go-imap/v2/imapclient"
)

// freePort asks the kernel for a free loopback port. Another process may
// take it before the server binds; the servers' start-up wait then fails
// clearly rather than talking to a stranger.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// waitListening waits until addr accepts connections.
func waitListening(t testing.TB, addr string, within time.Duration, logFile string) {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	log, _ := os.ReadFile(logFile)
	t.Fatalf("server on %s did not start within %s; its log:\n%s", addr, within, log)
}

// SMTPServer is a running aiosmtpd that stores every message it accepts.
type SMTPServer struct {
	Addr string
	dir  string
	cmd  *exec.Cmd
}

// smtpScript is the receiver: it stores each message as a numbered file
// and answers RCPT for tempfail…@ addresses with 451 and reject…@ with
// 550, so tests can drive the retry and the permanent-failure paths.
const smtpScript = `
import asyncio, os, sys, time
from aiosmtpd.controller import Controller

port, folder = int(sys.argv[1]), sys.argv[2]

class Store:
    n = 0
    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.startswith("tempfail"):
            return "451 4.3.0 try again later"
        if address.startswith("reject"):
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"
    async def handle_DATA(self, server, session, envelope):
        Store.n += 1
        tmp = os.path.join(folder, "tmp-%06d" % Store.n)
        with open(tmp, "wb") as f:
            f.write(("X-Envelope-From: %s\r\nX-Envelope-To: %s\r\n" % (envelope.mail_from, ",".join(envelope.rcpt_tos))).encode())
            f.write(envelope.original_content)
        os.rename(tmp, os.path.join(folder, "%06d.eml" % Store.n))
        return "250 Message accepted"

c = Controller(Store(), hostname="127.0.0.1", port=port)
c.start()
try:
    while True:
        time.sleep(3600)
finally:
    c.stop()
`

// StartSMTP starts an SMTP receiver for the test.
func StartSMTP(t testing.TB) *SMTPServer {
	t.Helper()
	py := "/usr/bin/python3"
	if err := exec.Command(py, "-c", "import aiosmtpd").Run(); err != nil {
		testenv.Missing(t, "python3-aiosmtpd is not installed (apt-get install python3-aiosmtpd; Debian's /usr/bin/python3)")
	}
	dir := t.TempDir()
	port := freePort(t)
	logFile := filepath.Join(dir, "smtp.log")
	logf, err := os.Create(logFile)
	if err != nil {
		t.Fatal(err)
	}
	msgs := filepath.Join(dir, "messages")
	if err := os.Mkdir(msgs, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(py, "-c", smtpScript, strconv.Itoa(port), msgs)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start aiosmtpd: %v", err)
	}
	s := &SMTPServer{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), dir: msgs, cmd: cmd}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		logf.Close()
	})
	waitListening(t, s.Addr, 15*time.Second, logFile)
	return s
}

// URL is the smtp:// URL of the server, as mail.smtp takes it.
func (s *SMTPServer) URL() string { return "smtp://" + s.Addr }

// Messages returns every message received so far, oldest first, each with
// X-Envelope-From and X-Envelope-To headers in front.
func (s *SMTPServer) Messages(t testing.TB) [][]byte {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(s.dir, "*.eml"))
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(names)
	var out [][]byte
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// Wait waits until at least n messages arrived and returns them all.
func (s *SMTPServer) Wait(t testing.TB, n int, within time.Duration) [][]byte {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		msgs := s.Messages(t)
		if len(msgs) >= n {
			return msgs
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d messages arrived within %s, want %d", len(msgs), within, n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Dovecot is a running private Dovecot with one user.
type Dovecot struct {
	Addr     string
	User     string
	Password string
	dir      string
	conf     string
	bin      string
	t        testing.TB
}

// StartDovecot starts Dovecot for the test with the configuration checked
// in /work/shared/peers/dovecot.conf.in (embedded here): IMAP with IDLE,
// UIDPLUS, MOVE and CONDSTORE on a free loopback port, user
// rsvp@example.org / secret, maildir in a throwaway folder.
func StartDovecot(t testing.TB) *Dovecot {
	t.Helper()
	bin := testenv.LookPath(t, "dovecot", "apt-get install dovecot-imapd")
	if os.Geteuid() != 0 {
		testenv.Missing(t, "Dovecot's private instance needs root here (it drops to dovecot/dovenull/nobody)")
	}
	dir, err := os.MkdirTemp("", "passerelle-dovecot-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	// Dovecot's unprivileged processes must traverse the folder.
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, sub := range []string{"run", "state", "mail"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chown(filepath.Join(dir, "mail"), 65534, 65534); err != nil {
		t.Fatal(err)
	}
	d := &Dovecot{User: "rsvp@example.org", Password: "dovecot-pw-7f3a", dir: dir, bin: bin, t: t}
	if err := os.WriteFile(filepath.Join(dir, "users"), []byte(d.User+":{PLAIN}"+d.Password+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	conf := strings.ReplaceAll(dovecotConf, "@DIR@", dir)
	conf = strings.Replace(conf, "port = 10143", "port = "+strconv.Itoa(port), 1)
	d.conf = filepath.Join(dir, "dovecot.conf")
	if err := os.WriteFile(d.conf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	d.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	d.start(bin)
	t.Cleanup(d.Stop)
	return d
}

const dovecotConf = `protocols = imap
listen = 127.0.0.1
base_dir = @DIR@/run
state_dir = @DIR@/state
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:@DIR@/mail/%u
default_internal_user = dovecot
default_login_user = dovenull
default_internal_group = dovecot
log_path = @DIR@/dovecot.log
service imap-login {
  inet_listener imap {
    port = 10143
  }
}
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u @DIR@/users
}
userdb {
  driver = static
  args = uid=nobody gid=nogroup home=@DIR@/mail/%u
}
`

func (d *Dovecot) start(bin string) {
	d.t.Helper()
	// Dovecot daemonizes and its children keep stdout open: a pipe
	// would never close, so its output goes to a file.
	outFile := filepath.Join(d.dir, "start.out")
	f, err := os.Create(outFile)
	if err != nil {
		d.t.Fatal(err)
	}
	cmd := exec.Command(bin, "-c", d.conf)
	cmd.Stdout, cmd.Stderr = f, f
	err = cmd.Run()
	f.Close()
	if err != nil {
		out, _ := os.ReadFile(outFile)
		d.t.Fatalf("start dovecot: %v: %s", err, out)
	}
	waitListening(d.t, d.Addr, 15*time.Second, filepath.Join(d.dir, "dovecot.log"))
}

// URL is the imap:// URL of the user's INBOX, as mail.imap takes it.
func (d *Dovecot) URL() string {
	return fmt.Sprintf("imap://%s:%s@%s/INBOX", strings.ReplaceAll(d.User, "@", "%40"), d.Password, d.Addr)
}

// pid reads the master's PID.
func (d *Dovecot) pid() int {
	b, err := os.ReadFile(filepath.Join(d.dir, "run", "master.pid"))
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}

// Stop stops Dovecot by its master's PID and waits for it to be gone.
func (d *Dovecot) Stop() {
	pid := d.pid()
	if pid == 0 {
		return
	}
	_ = syscall.Kill(pid, syscall.SIGTERM)
	for i := 0; i < 100; i++ {
		if syscall.Kill(pid, 0) != nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	_ = os.Remove(filepath.Join(d.dir, "run", "master.pid"))
}

// Restart stops and starts Dovecot: every client connection drops, the
// way a server restart or a network cut drops them.
func (d *Dovecot) Restart() {
	d.t.Helper()
	d.Stop()
	d.start(d.bin)
}

// ResetMailbox deletes the user's mail folder, so that the next login
// finds a new INBOX with a new UIDVALIDITY (as after a server migration).
func (d *Dovecot) ResetMailbox() {
	d.t.Helper()
	d.Stop()
	if err := os.RemoveAll(filepath.Join(d.dir, "mail", d.User)); err != nil {
		d.t.Fatal(err)
	}
	d.start(d.bin)
}

// Append delivers raw into the user's INBOX by IMAP APPEND, as a mail
// arriving there.
func (d *Dovecot) Append(t testing.TB, raw []byte) {
	t.Helper()
	c, err := imapclient.DialInsecure(d.Addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login(d.User, d.Password).Wait(); err != nil {
		t.Fatal(err)
	}
	cmd := c.Append("INBOX", int64(len(raw)), nil)
	if _, err := cmd.Write(raw); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	_ = c.Logout().Wait()
}
