package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apedge/apedge/cmd/apedge/internal/clitest"
	"github.com/apedge/apedge/formats/sitekey"
	"github.com/apedge/apedge/internal/clock/clocktest"
)

// apedgeAt runs the command in-process as apedge does, on a fake clock.
func apedgeAt(t *testing.T, clk *clocktest.Clock, args ...string) clitest.Result {
	t.Helper()
	var stdout, stderr clitest.LockedBuffer
	code := run(sys{stdin: strings.NewReader(""), clock: clk}, args, &stdout, &stderr)
	return clitest.Result{Args: args, Code: code, Stdout: stdout.String(), Stderr: stderr.String()}
}

func TestPKI(t *testing.T) {
	clk := clocktest.New(time.Date(2025, 3, 14, 9, 0, 0, 0, time.UTC))
	dir := filepath.Join(t.TempDir(), "ca")
	bridgeDir := t.TempDir()
	siteKey, err := sitekey.Generate("DEMO1", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := sitekey.Write(filepath.Join(bridgeDir, "keys"), siteKey); err != nil { // the bridge's agentKey
		t.Fatal(err)
	}
	bridgeYAML := filepath.Join(bridgeDir, "bridge.yaml")
	if err := os.WriteFile(bridgeYAML, []byte("site: DEMO1\nbus: {broker: tcp://127.0.0.1:1883}\nstateDir: state\n"+
		"doors:\n  - id: side\n    wiegand: {reader: side-in, direction: entry, d0: GPIO5, d1: GPIO6}\n"+
		"    contact: {pin: GPIO13}\n    lock: {pin: GPIO26, mode: fail-safe}\n"+
		"substanceTesters:\n  - {id: breath-1, kind: breath-alcohol, port: /dev/ttyUSB1}\n"+
		"fingerprintTerminals:\n  - {id: side-fp, port: /dev/ttyUSB2, door: side}\n"+
		"patTesters:\n  - {id: pat-1, port: /dev/ttyUSB3}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	aclFile := filepath.Join(t.TempDir(), "site.acl")
	steps := []struct {
		args []string
		code int
		out  string // in stdout, or stderr when code != 0
	}{
		{[]string{"pki", "init", "-dir", dir, "-site", "DEMO1"}, 0, "apedge site CA DEMO1"},
		{[]string{"pki", "init", "-dir", dir, "-site", "DEMO1"}, 1, "already has a CA"},
		{[]string{"pki", "init", "-dir", dir}, 2, "-site is required"},
		{[]string{"pki", "issue", "-dir", dir, "-name", "agent"}, 0, "identity: agent"},
		{[]string{"pki", "issue", "-dir", dir, "-name", "device:reader:side-in"}, 0, "identity: device:reader:side-in"},
		{[]string{"pki", "issue", "-dir", dir, "-name", "broker", "-host", "bus.site.example"}, 0, "identity: broker"},
		{[]string{"pki", "issue", "-dir", dir, "-name", "agent"}, 1, "live certificate"},
		{[]string{"pki", "issue", "-dir", dir, "-name", "agent", "-force"}, 0, "identity: agent"},
		{[]string{"pki", "issue", "-dir", dir, "-name", "root"}, 1, "is no identity"},
		{[]string{"pki", "revoke", "-dir", dir, "-name", "agent"}, 0, "revoked agent"},
		{[]string{"pki", "list", "-dir", dir}, 0, "revoked"},
		{[]string{"pki", "acl", "-bridge", bridgeYAML, "-dir", dir, "-o", aclFile}, 0, ""},
		{[]string{"pki", "acl", "-central", "-sites", "DEMO1,MAN1"}, 0, "user uplink:MAN1"},
		{[]string{"pki", "acl"}, 2, "give -bridge FILE"},
		{[]string{"pki", "frob"}, 2, "unknown subcommand"},
		{[]string{"pki"}, 2, "Usage: apedge pki init"},
		{[]string{"pki", "-h"}, 0, ""},
		{[]string{"pki", "issue", "-h"}, 0, ""},
	}
	for _, s := range steps {
		r := apedgeAt(t, clk, s.args...)
		got := r.Stdout
		if s.code != 0 {
			got = r.Stderr
		}
		if r.Code != s.code || !strings.Contains(got, s.out) {
			t.Errorf("want exit %d and %q\n%v", s.code, s.out, r)
		}
	}
	fi, err := os.Stat(filepath.Join(dir, "agent.key"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("agent.key: %v, mode %v; want 0600", err, fi.Mode().Perm())
	}
	acl, err := os.ReadFile(aclFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"user bridge\ntopic write apedge/v1/DEMO1/dev/biometric/+/event\n", "topic write apedge/v1/DEMO1/dev/door/+/event\n", "topic write apedge/v1/DEMO1/dev/reader/+/event\n",
		"topic write apedge/v1/DEMO1/dev/substance-tester/+/event\n", "topic write apedge/v1/DEMO1/dev/substance-tester/+/state\n",
		"topic write apedge/v1/DEMO1/dev/pat-tester/+/event\n",
		"topic write apedge/v1/DEMO1/dev/biometric/+/event\n", "topic write apedge/v1/DEMO1/dev/biometric/+/state\n",
		"user device:reader:side-in\ntopic write apedge/v1/DEMO1/dev/reader/side-in/event\n"} {
		if !strings.Contains(string(acl), want) {
			t.Errorf("site ACL lacks %q:\n%s", want, acl)
		}
	}
}
