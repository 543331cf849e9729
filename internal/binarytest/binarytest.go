// Package binarytest builds the real passerelle binary once per test
// process and runs it as a user would: start-up, signals, crashes and
// restarts are tested on the program itself, not on a copy of its wiring.
package binarytest

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	"codeberg.org/passerelle/passerelle/internal/testenv"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// Build compiles ./cmd/passerelle (with -race when the tests run with it)
// and returns the binary's path.
func Build(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "passerelle-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "passerelle")
		_, file, _, _ := runtime.Caller(0)
		root := filepath.Join(filepath.Dir(file), "..", "..")
		args := []string{"build", "-o", binPath}
		if raceEnabled {
			args = append(args, "-race")
		}
		cmd := exec.Command("go", append(args, "./cmd/passerelle")...)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// Result is what a finished command printed and how it exited.
type Result struct {
	Code           int
	Stdout, Stderr string
}

// Run runs the binary to completion in dir with the given extra
// environment (on top of PATH and HOME only, so the developer's own
// PASSERELLE_ variables do not leak in).
func Run(t testing.TB, dir string, env []string, args ...string) Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, Build(t), args...)
	cmd.Dir = dir
	cmd.Env = Env(env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run passerelle %v: %v", args, err)
	}
	return Result{Code: code, Stdout: out.String(), Stderr: errb.String()}
}

// Env is a minimal environment plus extra.
func Env(extra ...string) []string {
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	return append(env, extra...)
}

// Process is a running passerelle.
type Process struct {
	t      testing.TB
	cmd    *exec.Cmd
	logs   *testenv.Buffer
	done   chan struct{}
	exit   error
	Listen string
}

// Start runs `passerelle serve` (or other args) in dir and returns once
// /healthz answers 200 at listen. It is killed at the end of the test.
func Start(t testing.TB, dir, listen string, env []string, args ...string) *Process {
	t.Helper()
	if len(args) == 0 {
		args = []string{"serve"}
	}
	p := &Process{t: t, logs: &testenv.Buffer{}, done: make(chan struct{}), Listen: listen}
	p.cmd = exec.Command(Build(t), args...)
	p.cmd.Dir = dir
	p.cmd.Env = Env(append([]string{"PASSERELLE_LISTEN=" + listen}, env...)...)
	p.cmd.Stdout, p.cmd.Stderr = p.logs, p.logs
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.exit = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("passerelle output:\n%s", p.logs.String())
		}
	})
	deadline := time.Now().Add(90 * time.Second)
	for {
		select {
		case <-p.done:
			t.Fatalf("passerelle exited before it served: %v\n%s", p.exit, p.logs.String())
		default:
		}
		resp, err := http.Get("http://" + listen + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return p
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("passerelle did not become healthy at %s:\n%s", listen, p.logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Logs is what the process printed so far.
func (p *Process) Logs() string { return p.logs.String() }

// Kill sends SIGKILL and waits for the process to die.
func (p *Process) Kill() {
	p.cmd.Process.Kill()
	<-p.done
}

// Stop sends SIGTERM and returns the exit error once the process ended.
func (p *Process) Stop(timeout time.Duration) error {
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return p.exit
	case <-time.After(timeout):
		p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("passerelle did not stop within %s of SIGTERM", timeout)
	}
}

// FreeAddr returns a loopback host:port nobody listens on now, on the
// given loopback host ("127.0.0.1", "127.0.0.2"…).
func FreeAddr(t testing.TB, host string) string {
	t.Helper()
	ln, err := net.Listen("tcp", host+":0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
