package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/apedge/apedge/cmd/apedge/internal/clitest"
	"github.com/apedge/apedge/formats/sitekey"
	"github.com/apedge/apedge/internal/clock"
)

// apedge runs the command in-process, exactly as main does, with nothing on standard
// input.
func apedge(t *testing.T, args ...string) clitest.Result {
	t.Helper()
	return apedgeIn(t, "", args...)
}

// apedgeIn runs the command in-process as apedge does, with stdin as standard input.
func apedgeIn(t *testing.T, stdin string, args ...string) clitest.Result {
	t.Helper()
	var stdout, stderr clitest.LockedBuffer
	code := run(testSys(stdin), args, &stdout, &stderr)
	return clitest.Result{Args: args, Code: code, Stdout: stdout.String(), Stderr: stderr.String()}
}

// testSys is what main hands the commands, with stdin as standard input.
func testSys(stdin string) sys {
	return sys{stdin: strings.NewReader(stdin), clock: clock.System()}
}

var keyIDLine = regexp.MustCompile(`(?m)^key id: +([0-9a-f]{64})$`)

// keygen runs `apedge keygen -site site -out dir` and returns the key id it printed.
func keygen(t *testing.T, site, dir string) string {
	t.Helper()
	r := apedge(t, "keygen", "-site", site, "-out", dir)
	if r.Code != 0 || r.Stderr != "" {
		t.Fatalf("keygen failed\n%v", r)
	}
	m := keyIDLine.FindStringSubmatch(r.Stdout)
	if m == nil {
		t.Fatalf("keygen printed no key id\n%v", r)
	}
	return m[1]
}

func TestNoArguments(t *testing.T) {
	r := apedge(t)
	if r.Code != 2 {
		t.Errorf("exit %d, want 2", r.Code)
	}
	if !strings.Contains(r.Stderr, "Usage: apedge COMMAND") || r.Stdout != "" {
		t.Errorf("want the usage on stderr only\n%v", r)
	}
	for _, cmd := range []string{"demo", "agent", "bridge", "central", "keygen", "verify"} {
		if !regexp.MustCompile(`(?m)^  ` + cmd + ` `).MatchString(r.Stderr) {
			t.Errorf("usage does not list %s\n%v", cmd, r)
		}
	}
}

func TestHelp(t *testing.T) {
	for _, arg := range []string{"help", "-h", "-help", "--help"} {
		t.Run(arg, func(t *testing.T) {
			r := apedge(t, arg)
			if r.Code != 0 || !strings.Contains(r.Stdout, "Usage: apedge COMMAND") || r.Stderr != "" {
				t.Errorf("want exit 0 and the usage on stdout\n%v", r)
			}
		})
	}
}

func TestUnknownCommand(t *testing.T) {
	for _, arg := range []string{"frobnicate", "Agent", "--config", ""} {
		t.Run(arg, func(t *testing.T) {
			r := apedge(t, arg, "-config", "x.yaml")
			clitest.WantOneLine(t, r, 2, "apedge: unknown command ", fmt.Sprintf("%q", arg))
		})
	}
}

func TestSubcommandHelp(t *testing.T) {
	tests := []struct {
		args  []string
		usage string   // the first line
		flags []string // flags the usage must describe
	}{
		{[]string{"demo", "-h"}, "Usage: apedge demo [-dir DIR] [-for DURATION]", []string{"-dir", "-for", "-every", "-v"}},
		{[]string{"agent", "-h"}, "Usage: apedge agent -config FILE [-check-config]", []string{"-config", "-check-config"}},
		{[]string{"bridge", "-h"}, "Usage: apedge bridge -config FILE [-check-config]", []string{"-config", "-check-config"}},
		{[]string{"central", "-h"}, "Usage: apedge central -config FILE [-check-config]", []string{"-config", "-check-config"}},
		{[]string{"central", "export", "-h"}, "Usage: apedge central export -config FILE -site CODE [-o FILE]", []string{"-config", "-site", "-o"}},
		{[]string{"keygen", "-h"}, "Usage: apedge keygen -site CODE -out DIR", []string{"-site", "-out"}},
		{[]string{"verify", "-h"}, "Usage: apedge verify -pubkey FILE[,FILE...] EXPORT.jsonl", []string{"-pubkey"}},
		// -h wins wherever it is, and -help and --help are -h.
		{[]string{"agent", "-config", "missing.yaml", "-h"}, "Usage: apedge agent -config FILE [-check-config]", nil},
		{[]string{"keygen", "-help"}, "Usage: apedge keygen -site CODE -out DIR", nil},
		{[]string{"verify", "--help"}, "Usage: apedge verify -pubkey FILE[,FILE...] EXPORT.jsonl", nil},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			r := apedge(t, tt.args...)
			if r.Code != 0 || r.Stdout != "" {
				t.Errorf("want exit 0 and nothing on stdout\n%v", r)
			}
			if first, _, _ := strings.Cut(r.Stderr, "\n"); first != tt.usage {
				t.Errorf("first line of stderr %q, want %q", first, tt.usage)
			}
			for _, f := range tt.flags {
				if !regexp.MustCompile(`(?m)^  ` + regexp.QuoteMeta(f) + `\b`).MatchString(r.Stderr) {
					t.Errorf("usage does not describe %s\n%v", f, r)
				}
			}
		})
	}
}

// site is a directory with a site key and valid configurations of every process.
type site struct {
	dir                      string
	agent, bridge, central   string // valid configuration files
	pub, priv                string // the key files of site MAN1
	export                   string // a real export, for verify
	missing                  string // a file that does not exist
	badAgent, badBridge      string // invalid configuration files
	badCentral, unknownField string
}

const (
	agentYAML = `site: MAN1
key: keys/MAN1.key
database: agent.db
bus:
  broker: tcp://127.0.0.1:1883
central:
  broker: tcp://127.0.0.1:1884
devices: {bridgeConfig: site-bridge.yaml}
roster:
  - {crn: X123456, noms: A1234BC, cards: ["12:40001"]}
`
	bridgeYAML = `site: MAN1
stateDir: bridge-state
bus:
  broker: tcp://127.0.0.1:1883
osdp:
  - port: simulated
    readers:
      - {id: front-in, address: 1, insecure: true}
doors:
  - {id: front, entryReader: front-in, wiegand: {reader: side-in, direction: entry}}
simulate:
  every: 2s
  cards: ["12:40001"]
`
	centralYAML = `database: central.db
broker:
  broker: tcp://127.0.0.1:1884
trust:
  - {site: MAN1, pubkey: keys/MAN1.pub}
`
)

func newSite(t *testing.T) *site {
	t.Helper()
	dir := t.TempDir()
	keygen(t, "MAN1", filepath.Join(dir, "keys"))
	priv, pub := sitekey.Paths(filepath.Join(dir, "keys"), "MAN1")
	export, err := filepath.Abs(filepath.Join("testdata", "otherdemo", "export.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	clitest.WriteFile(t, dir, "site-bridge.yaml", bridgeYAML, 0o600) // the devices agentYAML names
	return &site{
		dir:          dir,
		agent:        clitest.WriteFile(t, dir, "agent.yaml", agentYAML, 0o600),
		bridge:       clitest.WriteFile(t, dir, "bridge.yaml", bridgeYAML, 0o600),
		central:      clitest.WriteFile(t, dir, "central.yaml", centralYAML, 0o600),
		pub:          pub,
		priv:         priv,
		export:       export,
		missing:      filepath.Join(dir, "missing.yaml"),
		badAgent:     clitest.WriteFile(t, dir, "bad-agent.yaml", strings.Replace(agentYAML, "site: MAN1", "site: MAN 1", 1), 0o600),
		badBridge:    clitest.WriteFile(t, dir, "bad-bridge.yaml", strings.Replace(bridgeYAML, "direction: entry", "direction: sideways", 1), 0o600),
		badCentral:   clitest.WriteFile(t, dir, "bad-central.yaml", strings.Replace(centralYAML, "keys/MAN1.pub", "keys/NOPE.pub", 1), 0o600),
		unknownField: clitest.WriteFile(t, dir, "unknown-field.yaml", agentYAML+"colour: blue\n", 0o600),
	}
}

// TestBadInput checks that every kind of bad input fails with one line: exit 2 and
// "NAME: reason" for a usage error, exit 1 and "apedge NAME: reason" for a runtime error.
func TestBadInput(t *testing.T) {
	s := newSite(t)
	tests := []struct {
		name     string
		args     []string
		code     int
		prefix   string
		contains []string
	}{
		// A required flag missing.
		{"agent without -config", []string{"agent"}, 2, "apedge agent: -config is required", nil},
		{"agent -check-config without -config", []string{"agent", "-check-config"}, 2, "apedge agent: -config is required", nil},
		{"bridge without -config", []string{"bridge"}, 2, "apedge bridge: -config is required", nil},
		{"central without -config", []string{"central"}, 2, "apedge central: -config is required", nil},
		{"export without -config", []string{"central", "export", "-site", "MAN1"}, 2, "apedge central export: -config is required", nil},
		{"export without -site", []string{"central", "export", "-config", s.central}, 2, "apedge central export: -site is required", nil},
		{"keygen without -site", []string{"keygen", "-out", s.dir}, 2, "apedge keygen: -site is required", nil},
		{"keygen without -out", []string{"keygen", "-site", "MAN2"}, 2, "apedge keygen: -out is required", nil},
		{"verify without -pubkey", []string{"verify", s.export}, 2, "apedge verify: -pubkey is required", nil},
		{"verify without a file", []string{"verify", "-pubkey", s.pub}, 2, "apedge verify: name the export file", nil},

		// Flag errors.
		{"unknown flag", []string{"agent", "-bogus"}, 2, "apedge agent: ", []string{"-bogus", "apedge agent -h"}},
		{"unknown flag of export", []string{"central", "export", "-x"}, 2, "apedge central export: ", []string{"-x"}},
		{"flag without its value", []string{"keygen", "-site"}, 2, "apedge keygen: ", []string{"-site"}},
		{"bad duration", []string{"demo", "-for", "soon"}, 2, "apedge demo: ", []string{"-for", `"soon"`}},
		{"negative duration", []string{"demo", "-for", "-1s"}, 2, "apedge demo: ", []string{"-for"}},
		{"zero interval", []string{"demo", "-every", "0s"}, 2, "apedge demo: ", []string{"-every"}},
		{"bad bool", []string{"bridge", "-check-config=maybe", "-config", s.bridge}, 2, "apedge bridge: ", []string{"-check-config"}},

		// Stray arguments.
		{"demo extra", []string{"demo", "now"}, 2, `apedge demo: unexpected argument "now"`, nil},
		{"agent extra", []string{"agent", "-config", s.agent, "-check-config", "extra"}, 2, `apedge agent: unexpected argument "extra"`, nil},
		{"bridge extra", []string{"bridge", "-config", s.bridge, "extra"}, 2, `apedge bridge: unexpected argument "extra"`, nil},
		{"central extra", []string{"central", "-config", s.central, "extra"}, 2, `apedge central: unexpected argument "extra"`, nil},
		{"central export late", []string{"central", "-config", s.central, "export"}, 2, `apedge central: unexpected argument "export"`, nil},
		{"export extra", []string{"central", "export", "-config", s.central, "-site", "MAN1", "extra"}, 2, `apedge central export: unexpected argument "extra"`, nil},
		{"keygen extra", []string{"keygen", "-site", "MAN2", "-out", s.dir, "extra"}, 2, `apedge keygen: unexpected argument "extra"`, nil},
		{"verify two files", []string{"verify", "-pubkey", s.pub, s.export, s.export}, 2, "apedge verify: unexpected argument ", nil},

		// The simulator.
		{"sim no device", []string{"sim"}, 2, "apedge sim: say which device", nil},
		{"sim unknown device", []string{"sim", "toaster"}, 2, "apedge sim: say which device", nil},
		{"sim no line", []string{"sim", "osdp-pd", "-addr", "1"}, 2, "apedge sim osdp-pd: give -tty PATH or -pty", nil},
		{"sim both lines", []string{"sim", "osdp-pd", "-pty", "-tty", "/dev/null", "-addr", "1"}, 2, "apedge sim osdp-pd: give -tty PATH or -pty", nil},
		{"sim no address", []string{"sim", "osdp-pd", "-pty"}, 2, "apedge sim osdp-pd: -addr is required", nil},
		{"sim bad address", []string{"sim", "osdp-pd", "-pty", "-addr", "1,127"}, 2, `apedge sim osdp-pd: -addr "127"`, nil},
		{"sim address twice", []string{"sim", "osdp-pd", "-pty", "-addr", "3,3"}, 2, `apedge sim osdp-pd: -addr "3"`, nil},
		{"sim key missing", []string{"sim", "osdp-pd", "-pty", "-addr", "1", "-scbk", s.missing}, 1, "apedge sim: ", []string{"no such file"}},
		{"sim tty missing", []string{"sim", "osdp-pd", "-tty", s.missing, "-addr", "1"}, 1, "apedge sim: ", []string{s.missing}},

		// Configuration files missing or invalid.
		{"agent config missing", []string{"agent", "-config", s.missing}, 1, "apedge agent: ", []string{s.missing, "no such file"}},
		{"bridge config missing", []string{"bridge", "-config", s.missing, "-check-config"}, 1, "apedge bridge: ", []string{s.missing, "no such file"}},
		{"central config missing", []string{"central", "-config", s.missing}, 1, "apedge central: ", []string{s.missing, "no such file"}},
		{"export config missing", []string{"central", "export", "-config", s.missing, "-site", "MAN1"}, 1, "apedge central: ", []string{s.missing}},
		{"agent config invalid", []string{"agent", "-config", s.badAgent}, 1, "apedge agent: ", []string{s.badAgent, `site: "MAN 1" is not a site code`}},
		{"agent config unknown field", []string{"agent", "-config", s.unknownField}, 1, "apedge agent: ", []string{"colour"}},
		{"bridge config invalid", []string{"bridge", "-config", s.badBridge}, 1, "apedge bridge: ", []string{"doors[0].wiegand.direction"}},
		{"central config invalid", []string{"central", "-config", s.badCentral}, 1, "apedge central: ", []string{"trust[0].pubkey"}},
		{"config is not YAML of a config", []string{"agent", "-config", s.pub}, 1, "apedge agent: ", []string{s.pub}},
		{"config is a directory", []string{"central", "-config", s.dir}, 1, "apedge central: ", nil},

		// Keys.
		{"keygen bad site code", []string{"keygen", "-site", "MAN 1", "-out", s.dir}, 1, "apedge keygen: ", []string{`"MAN 1"`}},
		{"keygen site code too long", []string{"keygen", "-site", strings.Repeat("A", 33), "-out", s.dir}, 1, "apedge keygen: ", nil},
		{"keygen site code with a slash", []string{"keygen", "-site", "../MAN1", "-out", s.dir}, 1, "apedge keygen: ", nil},
		{"keygen over an existing key", []string{"keygen", "-site", "MAN1", "-out", filepath.Dir(s.priv)}, 1, "apedge keygen: ", []string{s.priv, "exists"}},
		{"verify pubkey missing", []string{"verify", "-pubkey", s.missing, s.export}, 1, "apedge verify: ", []string{s.missing, "no such file"}},
		{"verify pubkey not a key", []string{"verify", "-pubkey", s.agent, s.export}, 1, "apedge verify: ", []string{s.agent, "PUBLIC KEY"}},
		{"verify private key as pubkey", []string{"verify", "-pubkey", s.priv, s.export}, 1, "apedge verify: ", []string{"PUBLIC KEY"}},
		{"verify export missing", []string{"verify", "-pubkey", s.pub, s.missing}, 1, "apedge verify: ", []string{s.missing, "no such file"}},
		{"export bad site code", []string{"central", "export", "-config", s.central, "-site", "MAN 1"}, 1, "apedge central: ", []string{`"MAN 1"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clitest.WantOneLine(t, apedge(t, tt.args...), tt.code, tt.prefix, tt.contains...)
		})
	}
	// Nothing above may have made a key or a database.
	for _, name := range []string{"agent.db", "central.db", "keys/MAN2.key", "keys/MAN2.pub"} {
		if _, err := os.Stat(filepath.Join(s.dir, name)); err == nil {
			t.Errorf("bad input made %s", name)
		}
	}
}

func TestKeygen(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "etc", "apedge", "keys") // made by keygen
	r := apedge(t, "keygen", "-site", "MAN1", "-out", dir)
	if r.Code != 0 || r.Stderr != "" {
		t.Fatalf("keygen failed\n%v", r)
	}
	privPath, pubPath := sitekey.Paths(dir, "MAN1")
	for _, want := range []string{"site:        MAN1\n", privPath, pubPath, "0600"} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("stdout does not mention %q\n%v", want, r)
		}
	}
	st, err := os.Stat(privPath)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("%s has mode %04o, want 0600", privPath, st.Mode().Perm())
	}
	pub, err := sitekey.LoadPublic(pubPath, "MAN1")
	if err != nil {
		t.Fatal(err)
	}
	m := keyIDLine.FindStringSubmatch(r.Stdout)
	if m == nil {
		t.Fatalf("no key id printed\n%v", r)
	}
	if id := sitekey.KeyID(pub.Key); m[1] != id {
		t.Errorf("printed key id %s, want sitekey.KeyID of %s = %s", m[1], pubPath, id)
	}
	priv, err := sitekey.LoadPrivate(privPath)
	if err != nil {
		t.Fatal(err)
	}
	if priv.Site != "MAN1" || !priv.Public().Key.Equal(pub.Key) {
		t.Errorf("%s and %s are not halves of one MAN1 key", privPath, pubPath)
	}

	// A second key for the same site in the same directory is refused, and both files
	// are left as they were.
	before := map[string][]byte{}
	for _, p := range []string{privPath, pubPath} {
		before[p], _ = os.ReadFile(p)
	}
	clitest.WantOneLine(t, apedge(t, "keygen", "-site", "MAN1", "-out", dir), 1, "apedge keygen: ", privPath, "exists")
	for p, b := range before {
		if after, _ := os.ReadFile(p); !bytes.Equal(after, b) {
			t.Errorf("refused keygen changed %s", p)
		}
	}

	// Another site's key goes beside it, with its own id.
	if other := keygen(t, "MAN2", dir); other == m[1] {
		t.Errorf("MAN2 has the same key id as MAN1")
	}
}

func TestCheckConfig(t *testing.T) {
	s := newSite(t)
	insecure := clitest.WriteFile(t, s.dir, "keys/insecure.key", mustRead(t, s.priv), 0o644)
	_, otherPub := sitekey.Paths(filepath.Join(s.dir, "keys"), "MAN2")
	keygen(t, "MAN2", filepath.Join(s.dir, "keys"))
	replace := func(body, old, new string) string {
		t.Helper()
		if !strings.Contains(body, old) {
			t.Fatalf("%q not in %q", old, body)
		}
		return strings.Replace(body, old, new, 1)
	}
	tests := []struct {
		name  string
		cmd   string
		body  string
		field string // "" for a valid file; else what the one-line problem must say
	}{
		{"agent valid", "agent", agentYAML, ""},
		{"agent valid json logs", "agent", agentYAML + "log: {level: debug, format: json}\n", ""},
		{"agent site", "agent", replace(agentYAML, "site: MAN1", "site: MAN/1"), `site: "MAN/1" is not a site code`},
		{"agent key missing", "agent", replace(agentYAML, "key: keys/MAN1.key\n", ""), "key: missing"},
		{"agent key not there", "agent", replace(agentYAML, "keys/MAN1.key", "keys/NOPE.key"), "key: "},
		{"agent key readable by others", "agent", replace(agentYAML, "keys/MAN1.key", insecure), "key: " + insecure + " has mode 0644"},
		{"agent database", "agent", replace(agentYAML, "database: agent.db\n", ""), "database: missing"},
		{"agent central off the box in plain TCP", "agent", replace(agentYAML, "tcp://127.0.0.1:1884", "tcp://central.example.org:1883"), "central.broker: plain TCP"},
		{"agent bus without port", "agent", replace(agentYAML, "tcp://127.0.0.1:1883", "tcp://127.0.0.1"), "bus.broker: no port"},
		{"agent roster crn", "agent", replace(agentYAML, "X123456", "123456"), "roster[0].crn"},
		{"agent unknown field", "agent", agentYAML + "colour: blue\n", "colour"},
		{"agent log level", "agent", agentYAML + "log: {level: loud}\n", "log.level"},
		{"agent devices missing", "agent", replace(agentYAML, "devices: {bridgeConfig: site-bridge.yaml}\n", ""), "devices.bridgeConfig: missing"},
		{"agent devices not there", "agent", replace(agentYAML, "site-bridge.yaml", "nope.yaml"), "devices.bridgeConfig: "},

		{"bridge valid", "bridge", bridgeYAML, ""},
		{"bridge site", "bridge", replace(bridgeYAML, "site: MAN1", `site: ""`), "site: "},
		{"bridge broker", "bridge", replace(bridgeYAML, "tcp://127.0.0.1:1883", "http://127.0.0.1:1883"), "bus.broker: scheme http"},
		{"bridge reader direction", "bridge", replace(bridgeYAML, "direction: entry", "direction: in"), "doors[0].wiegand.direction"},
		{"bridge no cards", "bridge", replace(bridgeYAML, `cards: ["12:40001"]`, "cards: []"), "simulate.cards: empty"},
		{"bridge reader address", "bridge", replace(bridgeYAML, "address: 1", "address: 200"), "osdp[0].readers[0].address"},
		{"bridge reader without key", "bridge", replace(bridgeYAML, ", insecure: true", ""), "osdp[0].readers[0].scbkFile: missing"},
		{"bridge not YAML", "bridge", "site: [MAN1\n", "bridge.yaml"},

		{"central valid", "central", centralYAML, ""},
		{"central trust empty", "central", replace(centralYAML, "trust:\n  - {site: MAN1, pubkey: keys/MAN1.pub}\n", "trust: []\n"), "trust: empty"},
		{"central pubkey missing", "central", replace(centralYAML, "keys/MAN1.pub", "keys/NOPE.pub"), "trust[0].pubkey"},
		{"central pubkey of another site", "central", replace(centralYAML, "keys/MAN1.pub", otherPub), `trust[0].pubkey: sitekey: ` + otherPub + `: key is for site "MAN2", not "MAN1"`},
		{"central key twice", "central", centralYAML + "  - {site: MAN1, pubkey: keys/MAN1.pub}\n", "trust[1].pubkey: MAN1's key"},
		{"central database", "central", replace(centralYAML, "database: central.db\n", ""), "database: missing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := clitest.WriteFile(t, s.dir, tt.cmd+".yaml", tt.body, 0o600)
			r := apedge(t, tt.cmd, "-config", path, "-check-config")
			if tt.field == "" {
				wantErr := ""
				if tt.cmd == "bridge" { // its front-in reader is configured insecure
					wantErr = "warning: reader front-in runs without secure channel (insecure: true): card numbers cross the wire in clear; not for a live site\n"
				}
				if r.Code != 0 || r.Stdout != path+": ok\n" || r.Stderr != wantErr {
					t.Errorf("want exit 0, %q on stdout and %q on stderr\n%v", path+": ok", wantErr, r)
				}
				return
			}
			clitest.WantOneLine(t, r, 1, "apedge "+tt.cmd+": ", tt.field)
		})
	}
	// Checking a configuration starts nothing and makes no database.
	for _, name := range []string{"agent.db", "central.db"} {
		if _, err := os.Stat(filepath.Join(s.dir, name)); err == nil {
			t.Errorf("-check-config made %s", name)
		}
	}
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestCheckConfigStartup: -check-config catches what start-up would beyond the
// configuration's own checks: a key of another site, or not the one the bridge
// verifies with; an OSDP port that is not there; GPIO pins this machine lacks.
func TestCheckConfigStartup(t *testing.T) {
	s := newSite(t)
	keygen(t, "MAN2", filepath.Join(s.dir, "keys"))
	keygen(t, "MAN1", filepath.Join(s.dir, "keys2")) // the site's key, but not the one the bridge has
	otherPriv, _ := sitekey.Paths(filepath.Join(s.dir, "keys"), "MAN2")
	rekeyed, _ := sitekey.Paths(filepath.Join(s.dir, "keys2"), "MAN1")
	missingPort := filepath.Join(s.dir, "ttyUSB9")
	realPins := `site: MAN1
stateDir: bridge-state
bus:
  broker: tcp://127.0.0.1:1883
doors:
  - id: side
    lock: {pin: GPIO999, mode: fail-safe}
    wiegand: {reader: side-in, direction: entry, d0: NOPE0, d1: NOPE1}
`
	tests := []struct {
		name, cmd, body string
		want            []string // what the one-line problem must say
	}{
		{"agent key of another site", "agent", strings.Replace(agentYAML, "keys/MAN1.key", otherPriv, 1),
			[]string{"key: " + otherPriv + " is the key of site MAN2, not MAN1", "apedge keygen -site MAN1"}},
		{"agent key the bridge does not have", "agent", strings.Replace(agentYAML, "keys/MAN1.key", rekeyed, 1),
			[]string{"key: " + rekeyed + " has key id ", "the bridge (" + filepath.Join(s.dir, "site-bridge.yaml") + ") verifies with agentKey "}},
		{"bridge serial port missing", "bridge", strings.Replace(bridgeYAML, "port: simulated", "port: "+missingPort, 1),
			[]string{"osdp[0].port: " + missingPort + " does not exist on this machine", "port: simulated"}},
		{"bridge serial port a directory", "bridge", strings.Replace(bridgeYAML, "port: simulated", "port: "+s.dir, 1),
			[]string{"osdp[0].port: " + s.dir + " is a directory"}},
		{"bridge pins not on this machine", "bridge", realPins,
			[]string{`3 problem(s)`, `doors[0].lock.pin: pin "GPIO999" not found on this machine`,
				`doors[0].wiegand.d0: pin "NOPE0" not found`, `doors[0].wiegand.d1: pin "NOPE1" not found`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := clitest.WriteFile(t, s.dir, "start-"+tt.cmd+".yaml", tt.body, 0o600)
			clitest.WantOneLine(t, apedge(t, tt.cmd, "-config", path, "-check-config"), 1, "apedge "+tt.cmd+": ", tt.want...)
		})
	}
	// The unchanged files still pass: the simulated bridge's pins are not looked up.
	for _, tt := range []struct{ cmd, path string }{{"agent", s.agent}, {"bridge", s.bridge}} {
		if r := apedge(t, tt.cmd, "-config", tt.path, "-check-config"); r.Code != 0 {
			t.Errorf("valid %s configuration refused\n%v", tt.cmd, r)
		}
	}
}

// TestCheckConfigYAMLErrors: a typo or an empty file is reported by -check-config
// with the field, its line and the fix.
func TestCheckConfigYAMLErrors(t *testing.T) {
	s := newSite(t)
	tests := []struct {
		name, cmd, body string
		want            []string
	}{
		{"agent typo", "agent", strings.Replace(agentYAML, "site: MAN1", "sitee: MAN1", 1), []string{"sitee: unknown field at line 1 (did you mean site?)"}},
		{"bridge typo", "bridge", strings.Replace(bridgeYAML, "  broker:", "  brokr:", 1), []string{"bus.brokr: unknown field at line 4 (did you mean broker?)"}},
		{"central empty", "central", "", []string{"(file): empty (a central configuration needs at least database, broker.broker and trust"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := clitest.WriteFile(t, s.dir, tt.cmd+".yaml", tt.body, 0o600)
			clitest.WantOneLine(t, apedge(t, tt.cmd, "-config", path, "-check-config"), 1, "apedge "+tt.cmd+": ", tt.want...)
		})
	}
}

// TestCheckConfigSCBK: -check-config refuses an all-zero or malformed OSDP key and
// warns on the standard's default key outside install mode.
func TestCheckConfigSCBK(t *testing.T) {
	s := newSite(t)
	tests := []struct {
		name, key string
		code      int
		want      string
	}{
		{"all zero", "00000000000000000000000000000000\n", 1, "osdp[0].readers[0].scbkFile: osdp: SCBK is all zero"},
		{"malformed", "not hex at all\n", 1, "osdp[0].readers[0].scbkFile: "},
		{"the default key", "303132333435363738393a3b3c3d3e3f\n", 0, "warning: reader front-in (osdp[0].readers[0].scbkFile): "},
		{"a random key", "8d2c0e1f6a5b4c3d2e1f0a9b8c7d6e5f\n", 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clitest.WriteFile(t, s.dir, "reader.scbk", tt.key, 0o600)
			body := strings.Replace(bridgeYAML, "{id: front-in, address: 1, insecure: true}", "{id: front-in, address: 1, scbkFile: reader.scbk}", 1)
			path := clitest.WriteFile(t, s.dir, "scbk-bridge.yaml", body, 0o600)
			r := apedge(t, "bridge", "-config", path, "-check-config")
			if r.Code != tt.code || !strings.Contains(r.Stderr, tt.want) {
				t.Errorf("exit %d, want %d with %q\n%v", r.Code, tt.code, tt.want, r)
			}
			if tt.want == "" && strings.Contains(r.Stderr, "warning: reader front-in (") {
				t.Errorf("a random key warned about\n%v", r)
			}
		})
	}
}
