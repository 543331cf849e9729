// Package testenv holds what every test that needs a real peer shares: the
// rule that a missing peer skips the test, unless PASSERELLE_REQUIRE_ALL is
// set (as .ci/run does), where it fails it.
package testenv

import (
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
)

// RequireAll reports whether every peer must be present (CI).
func RequireAll() bool {
	return os.Getenv("PASSERELLE_REQUIRE_ALL") != ""
}

// Missing skips the test because a peer is missing, or fails it when every
// peer is required. why names the peer and how to get it.
func Missing(t testing.TB, why string) {
	t.Helper()
	if RequireAll() {
		t.Fatalf("required peer missing (PASSERELLE_REQUIRE_ALL is set): %s", why)
	}
	t.Skipf("peer missing: %s", why)
}

// LookPath returns the path of a program a test needs, or skips or fails
// the test (see Missing) when it is not installed.
func LookPath(t testing.TB, name, install string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		Missing(t, name+" is not installed ("+install+")")
	}
	return p
}

// Buffer collects what several goroutines write (a process's output, a
// logger shared by handlers) and reads it whole.
type Buffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *Buffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
