package main

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/apedge/apedge/agent"
	"github.com/apedge/apedge/cmd/apedge/internal/cli"
)

// version and commit are set for a release build with
// -ldflags "-X main.version=v1.2.3 -X main.commit=$(git rev-parse HEAD)". Empty, the
// version is the agent's own (agent.Version) and the commit is what the Go toolchain
// stamped into the binary (none when built with -buildvcs=false).
var version, commit string

// cmdVersion is apedge version: the release, the VCS commit it was built from, and
// the Go toolchain.
func cmdVersion(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := cli.Flags("version", "apedge version\n\nPrints apedge's version, the commit it was built from (with the time of that commit, and\n\"modified\" if the tree had changes) and the Go version and platform it was built for.", stderr)
	if err := cli.Parse(fs, args, 0); err != nil {
		return err
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		bi = nil
	}
	_, err := io.WriteString(stdout, versionText(version, commit, bi))
	return err
}

// versionText is what apedge version prints: release (agent.Version when empty), and
// rev or else what the build info bi (nil when there is none) says of the commit.
func versionText(release, rev string, bi *debug.BuildInfo) string {
	if release == "" {
		release = agent.Version
	}
	goVersion := runtime.Version()
	if bi != nil {
		goVersion = bi.GoVersion
	}
	if rev == "" {
		rev = stampedCommit(bi)
	}
	return fmt.Sprintf("apedge %s\ncommit %s\nbuilt with %s for %s/%s\n", release, rev, goVersion, runtime.GOOS, runtime.GOARCH)
}

// stampedCommit is the commit the Go toolchain stamped into the build info bi, with
// its time and whether the tree was modified.
func stampedCommit(bi *debug.BuildInfo) string {
	if bi == nil {
		return "unknown (built without VCS information)"
	}
	s := map[string]string{}
	for _, kv := range bi.Settings {
		s[kv.Key] = kv.Value
	}
	rev := s["vcs.revision"]
	if rev == "" {
		if v := bi.Main.Version; v != "" && v != "(devel)" {
			return "unknown (module version " + v + ")"
		}
		return "unknown (built without VCS information)"
	}
	var notes []string
	if t := s["vcs.time"]; t != "" {
		notes = append(notes, t)
	}
	if s["vcs.modified"] == "true" {
		notes = append(notes, "modified")
	}
	if len(notes) > 0 {
		rev += " (" + strings.Join(notes, ", ") + ")"
	}
	return rev
}
