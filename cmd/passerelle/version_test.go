package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"codeberg.org/passerelle/passerelle/internal/testenv"
)

// TestVersionOfEachBuild (issue 14): `passerelle version` names what runs
// however it was built: -ldflags "-X main.version=…"; `go build` in a
// clone (the commit, and whether the tree was modified); `go install
// codeberg.org/passerelle/passerelle/cmd/passerelle@VERSION` from a module
// proxy (here a file:// one holding this commit as a release).
func TestVersionOfEachBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("builds passerelle four times")
	}
	git := testenv.LookPath(t, "git", "apt-get install git")
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..")
	tmp := t.TempDir()
	modcache := strings.TrimSpace(sh(t, "", nil, "go", "env", "GOMODCACHE"))
	version := func(bin string) string { return sh(t, tmp, nil, bin, "version") }

	bin := filepath.Join(tmp, "ldflags")
	sh(t, root, nil, "go", "build", "-ldflags", "-X main.version=v9.8.7", "-o", bin, "./cmd/passerelle")
	if out := version(bin); !strings.HasPrefix(out, "passerelle v9.8.7\n") || !strings.Contains(out, "\ngo go1.") {
		t.Errorf("-X main.version=v9.8.7: version printed\n%s", out)
	}

	clone := filepath.Join(tmp, "clone")
	sh(t, "", nil, git, "clone", "-q", root, clone)
	head := strings.TrimSpace(sh(t, clone, nil, git, "rev-parse", "HEAD"))
	// The go command records each VCS-derived version in the module
	// cache; the test takes its own out again.
	//
	// The release version is new on every run: the go command indexes a
	// module version's files in the build cache once and for all (a
	// version is immutable on a real proxy), so a fixed test version
	// rebuilt from another commit was compiled against the earlier
	// commit's import lists ("could not import crypto/rand (open : no
	// such file or directory)" in CI, golang/go#69179); the index is off
	// for the install as well.
	release := fmt.Sprintf("v1.2.3-test.%d", time.Now().UnixNano())
	t.Cleanup(func() { forgetModule(modcache, head[:12], release) })
	vcs := []string{"GOFLAGS=-buildvcs=true"} // over a GOFLAGS=-buildvcs=false of the environment
	bin = filepath.Join(tmp, "clone-build")
	sh(t, clone, vcs, "go", "build", "-o", bin, "./cmd/passerelle")
	if out := version(bin); !strings.Contains(out, "-"+head[:12]+"\n") || !strings.Contains(out, "\ncommit "+head+" (") || strings.Contains(out, "modified") {
		t.Errorf("go build in a clean clone at %s: version printed\n%s", head, out)
	}
	if err := os.WriteFile(filepath.Join(clone, "README.md"), []byte("changed\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	sh(t, clone, vcs, "go", "build", "-o", bin, "./cmd/passerelle")
	if out := version(bin); !strings.Contains(out, "\ncommit "+head+" (") || !strings.Contains(out, "modified)") {
		t.Errorf("go build in a modified clone: version printed\n%s", out)
	}

	// A module proxy serving this commit as the release, as a forge's
	// release would be fetched by `go install …@VERSION`.
	proxy := filepath.Join(tmp, "proxy")
	dir := filepath.Join(proxy, "codeberg.org", "passerelle", "passerelle", "@v")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	sh(t, clone, nil, git, "archive", "--prefix=codeberg.org/passerelle/passerelle@"+release+"/", "-o", filepath.Join(dir, release+".zip"), "HEAD")
	mod, err := os.ReadFile(filepath.Join(clone, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	for name, body := range map[string]string{
		release + ".mod":  string(mod),
		release + ".info": `{"Version":"` + release + `","Time":"` + time.Now().UTC().Format(time.RFC3339) + `"}`,
		"list":            release + "\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	gobin := filepath.Join(tmp, "bin")
	sh(t, tmp, []string{"GOFLAGS=", "GODEBUG=goindex=0", "GOPROXY=file://" + proxy, "GOSUMDB=off", "GOBIN=" + gobin},
		"go", "install", "codeberg.org/passerelle/passerelle/cmd/passerelle@"+release)
	if out := version(filepath.Join(gobin, "passerelle")); !strings.HasPrefix(out, "passerelle "+release+"\n") {
		t.Errorf("go install …@%s: version printed\n%s", release, out)
	}
}

// sh runs a command in dir with extra environment and returns its
// standard output; a failure fails the test with its output.
func sh(t *testing.T, dir string, env []string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s%s", name, args, err, out, stderr.String())
	}
	return string(out)
}

// forgetModule removes from the module cache what building and installing
// this module at test versions left there.
func forgetModule(modcache, revPrefix, version string) {
	dl := filepath.Join(modcache, "cache", "download", "codeberg.org", "passerelle", "passerelle", "@v")
	for _, pattern := range []string{"*-" + revPrefix + ".*", version + ".*"} {
		matches, _ := filepath.Glob(filepath.Join(dl, pattern))
		for _, m := range matches {
			os.Remove(m)
		}
	}
	extracted := filepath.Join(modcache, "codeberg.org", "passerelle", "passerelle@"+version)
	filepath.WalkDir(extracted, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			os.Chmod(p, 0o755) // the module cache is read-only
		}
		return nil
	})
	os.RemoveAll(extracted)
	if rest, _ := os.ReadDir(dl); len(rest) == 1 && rest[0].Name() == "list" {
		os.RemoveAll(filepath.Dir(dl))
	}
	// Folders left empty go too (os.Remove removes only empty ones).
	for _, d := range []string{filepath.Dir(filepath.Dir(dl)), filepath.Dir(filepath.Dir(extracted)), filepath.Dir(extracted)} {
		os.Remove(d)
		os.Remove(filepath.Dir(d))
	}
}
