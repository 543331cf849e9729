package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
)

// version is set at build time with -ldflags "-X main.version=v1.2.3";
// otherwise it comes from the module and VCS information Go records.
var version = ""

// buildInfo is what the binary knows of its own build.
type buildInfo struct {
	// Version is -X main.version, else the module version (v1.2.3 from
	// `go install …@v1.2.3`; a pseudo-version from `go build` in a
	// clone), else "devel".
	Version string
	// Revision is the VCS commit, Time its date and Modified whether the
	// tree had uncommitted changes; empty when Go recorded none
	// (`go install …@version` builds from a module zip, or -buildvcs=false).
	Revision, Time string
	Modified       bool
	Go             string
}

func readBuildInfo() buildInfo {
	b := buildInfo{Version: version, Go: runtime.Version()}
	info, ok := debug.ReadBuildInfo()
	if ok {
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				b.Revision = s.Value
			case "vcs.time":
				b.Time = s.Value
			case "vcs.modified":
				b.Modified = s.Value == "true"
			}
		}
		if b.Version == "" && info.Main.Version != "" && info.Main.Version != "(devel)" {
			b.Version = info.Main.Version
		}
	}
	if b.Version == "" {
		b.Version = "devel"
		if len(b.Revision) >= 12 {
			b.Version += "+" + b.Revision[:12]
			if b.Modified {
				b.Version += ".dirty"
			}
		}
	}
	return b
}

// versionString is the version for NodeInfo, pages and User-Agent.
func versionString() string { return readBuildInfo().Version }

type versionCmd struct{}

// Run prints the version, then the commit it was built from (and whether
// the tree was modified) and the Go version, so that a bug report names
// exactly what runs.
func (versionCmd) Run(a *app) error {
	b := readBuildInfo()
	fmt.Fprintln(a.stdout, "passerelle", b.Version)
	switch {
	case b.Revision != "":
		var extra []string
		if b.Time != "" {
			extra = append(extra, b.Time)
		}
		if b.Modified {
			extra = append(extra, "modified")
		}
		fmt.Fprintf(a.stdout, "commit %s", b.Revision)
		if len(extra) > 0 {
			fmt.Fprintf(a.stdout, " (%s)", strings.Join(extra, ", "))
		}
		fmt.Fprintln(a.stdout)
	default:
		fmt.Fprintln(a.stdout, "commit unknown (built without VCS information)")
	}
	_, err := fmt.Fprintln(a.stdout, "go", b.Go)
	return err
}
