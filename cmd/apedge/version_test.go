package main

import (
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/apedge/apedge/agent"
)

func TestVersionText(t *testing.T) {
	vcs := func(kv ...string) *debug.BuildInfo {
		bi := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "github.com/apedge/apedge", Version: "(devel)"}}
		for i := 0; i+1 < len(kv); i += 2 {
			bi.Settings = append(bi.Settings, debug.BuildSetting{Key: kv[i], Value: kv[i+1]})
		}
		return bi
	}
	platform := runtime.GOOS + "/" + runtime.GOARCH
	for _, tc := range []struct {
		name, release, commit string
		bi                    *debug.BuildInfo
		want                  string
	}{
		{"release build", "v1.2.3", "", vcs("vcs.revision", "0123abcd", "vcs.time", "2026-12-01T10:00:00Z", "vcs.modified", "false"),
			"apedge v1.2.3\ncommit 0123abcd (2026-12-01T10:00:00Z)\nbuilt with go1.26.8 for " + platform + "\n"},
		{"commit set", "v1.2.3", "feedf00d", vcs("vcs.revision", "0123abcd"),
			"apedge v1.2.3\ncommit feedf00d\nbuilt with go1.26.8 for " + platform + "\n"},
		{"modified tree", "", "", vcs("vcs.revision", "0123abcd", "vcs.modified", "true"),
			"apedge " + agent.Version + "\ncommit 0123abcd (modified)\nbuilt with go1.26.8 for " + platform + "\n"},
		{"no vcs", "", "", vcs(), "apedge " + agent.Version + "\ncommit unknown (built without VCS information)\nbuilt with go1.26.8 for " + platform + "\n"},
		{"go install of a tag", "", "", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v1.2.3"}},
			"apedge " + agent.Version + "\ncommit unknown (module version v1.2.3)\nbuilt with go1.26.8 for " + platform + "\n"},
	} {
		if got := versionText(tc.release, tc.commit, tc.bi); got != tc.want {
			t.Errorf("%s: got\n%s\nwant\n%s", tc.name, got, tc.want)
		}
	}
	if r := apedge(t, "version"); r.Code != 0 || !strings.HasPrefix(r.Stdout, "apedge "+agent.Version+"\ncommit ") || r.Stderr != "" {
		t.Errorf("apedge version\n%v", r)
	}
	if r := apedge(t, "version", "now"); r.Code != 2 {
		t.Errorf("apedge version now\n%v", r)
	}
}

// TestVersionLdflags builds apedge as a release is built, with the version and
// commit set by -ldflags -X, and runs apedge version.
func TestVersionLdflags(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "apedge")
	build := exec.Command("go", "build", "-ldflags", "-X main.version=v9.8.7 -X main.commit=0123456789abcdef0123456789abcdef01234567", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "version").Output()
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^apedge v9\.8\.7\ncommit 0123456789abcdef0123456789abcdef01234567\nbuilt with go`).Match(out) {
		t.Errorf("apedge version printed %q", out)
	}
}
