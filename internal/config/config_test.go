package config_test

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apedge/apedge/formats/sitekey"
	"github.com/apedge/apedge/internal/config"
	"github.com/apedge/apedge/internal/secret"
)

// writeFile writes content to dir/name with exactly mode perm, making parent dirs.
func writeFile(t testing.TB, dir, name, content string, perm fs.FileMode) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), perm); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, perm); err != nil { // whatever the umask
		t.Fatal(err)
	}
	return path
}

// writeKeys makes a real key for site under dir/keys.
func writeKeys(t testing.TB, dir, site string) (priv, pub string) {
	t.Helper()
	k, err := sitekey.Generate(site, nil)
	if err != nil {
		t.Fatal(err)
	}
	priv, pub, err = sitekey.Write(filepath.Join(dir, "keys"), k)
	if err != nil {
		t.Fatal(err)
	}
	return priv, pub
}

// configError returns err as a *config.Error, failing the test if it is not one.
func configError(t testing.TB, err error) *config.Error {
	t.Helper()
	var ce *config.Error
	if !errors.As(err, &ce) {
		t.Fatalf("err = %v (%T), want a *config.Error", err, err)
	}
	return ce
}

func fields(ce *config.Error) []string {
	var fs []string
	for _, p := range ce.Problems {
		fs = append(fs, p.Field)
	}
	return fs
}

const minimalAgent = `site: MAN1
key: keys/MAN1.key
database: agent.db
bus:
  broker: tcp://127.0.0.1:1883
central:
  broker: tls://central.example.org:8883
devices:
  bridgeConfig: bridge.yaml
`

// agentBridge is the bridge configuration minimalAgent names: doors front (OSDP
// readers front-in and front-out) and side (Wiegand reader side-in).
const agentBridge = `site: MAN1
stateDir: state
bus:
  broker: tcp://127.0.0.1:1883
osdp:
  - port: /dev/ttyUSB0
    readers:
      - {id: front-in, address: 1, insecure: true}
      - {id: front-out, address: 2, insecure: true}
doors:
  - {id: front, entryReader: front-in, exitReader: front-out}
  - id: side
    wiegand: {reader: side-in, direction: entry, d0: GPIO5, d1: GPIO6}
`

// writeAgentFiles writes what minimalAgent names besides itself in dir: the site's
// key and the bridge configuration. It returns the key's path.
func writeAgentFiles(t testing.TB, dir string) (priv string) {
	t.Helper()
	priv, _ = writeKeys(t, dir, "MAN1")
	writeFile(t, dir, "bridge.yaml", agentBridge, 0o644)
	return priv
}

func TestLoadAgentMinimal(t *testing.T) {
	dir := t.TempDir()
	priv := writeAgentFiles(t, dir)
	path := writeFile(t, dir, "agent.yaml", minimalAgent, 0o644)
	a, err := config.LoadAgent(path)
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		field     string
		got, want any
	}{
		{"site", a.Site, "MAN1"},
		{"key", a.Key, priv},
		{"database", a.Database, filepath.Join(dir, "agent.db")},
		{"bus.broker", a.Bus.Broker, "tcp://127.0.0.1:1883"},
		{"bus.clientID", a.Bus.ClientID, "apedge-agent-MAN1"},
		{"bus secure", a.Bus.Secure(), false},
		{"central.broker", a.Central.Broker, "tls://central.example.org:8883"},
		{"central.clientID", a.Central.ClientID, "apedge-agent-MAN1-uplink"},
		{"central secure", a.Central.Secure(), true},
		{"central.batch", a.Central.Batch, 256},
		{"central.window", a.Central.Window, 8},
		{"central.resendAfter", a.Central.ResendAfter, 10 * time.Second},
		{"roster", len(a.Roster), 0},
		{"log", a.Log, config.Log{}},
		{"devices.bridgeConfig", a.Devices.BridgeConfig, filepath.Join(dir, "bridge.yaml")},
		{"devices.maxLate", a.Devices.MaxLate, 72 * time.Hour},
		{"devices.lateAfter", a.Devices.LateAfter, 2 * time.Minute},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.field, c.got, c.want)
		}
	}
	// The key the config names is one the agent can load.
	if _, err := sitekey.LoadPrivate(a.Key); err != nil {
		t.Errorf("LoadPrivate(%s): %v", a.Key, err)
	}
	// The site's devices come from the bridge's configuration.
	if want := map[string]bool{"front": true, "side": true}; !reflect.DeepEqual(a.Devices.Doors, want) {
		t.Errorf("devices doors = %v, want %v", a.Devices.Doors, want)
	}
	want := map[string]config.ReaderPlace{"front-in": {"front", "entry"}, "front-out": {"front", "exit"}, "side-in": {"side", "entry"}}
	if !reflect.DeepEqual(a.Devices.Readers, want) {
		t.Errorf("devices readers = %v, want %v", a.Devices.Readers, want)
	}
}

func TestLoadAgentFull(t *testing.T) {
	dir := t.TempDir()
	writeAgentFiles(t, dir)
	writeFile(t, dir, "secrets/bus.pass", "bus-secret\n", 0o600)
	writeFile(t, dir, "secrets/central.pass", "central-secret\n", 0o600)
	writeFile(t, dir, "tls/ca.pem", "ca", 0o644)
	writeFile(t, dir, "tls/client.pem", "cert", 0o644)
	writeFile(t, dir, "tls/client.key", "key", 0o600)
	abs := writeFile(t, t.TempDir(), "abs.db", "", 0o600)
	path := writeFile(t, dir, "conf/agent.yaml", `site: MAN1
key: ../keys/MAN1.key
database: `+abs+`
bus:
  broker: tcp://localhost:1883
  clientID: my-bus-client
  username: agent
  passwordFile: ../secrets/bus.pass
central:
  broker: mqtts://central.example.org:8883
  username: MAN1
  passwordFile: ../secrets/central.pass
  tls:
    ca: ../tls/ca.pem
    cert: ../tls/client.pem
    key: ../tls/client.key
    serverName: central.example.org
  batch: 100
  window: 2
  resendAfter: 1m30s
roster:
  - crn: X123456
    noms: A1234BC
    name: A Resident
    cards: ["12:0042", " 12:43"]
  - crn: " y654321 "
    noms: a1234bd
    cards: ["12:44"]
log:
  level: DEBUG
  format: json
devices:
  bridgeConfig: ../bridge.yaml
  maxLate: 48h
  lateAfter: 30s
`, 0o644)
	a, err := config.LoadAgent(path)
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		field     string
		got, want any
	}{
		{"key", a.Key, filepath.Join(dir, "keys", "MAN1.key")},
		{"database (absolute kept)", a.Database, abs},
		{"bus.clientID", a.Bus.ClientID, "my-bus-client"},
		{"bus.passwordFile", a.Bus.PasswordFile, filepath.Join(dir, "secrets", "bus.pass")},
		{"central.passwordFile", a.Central.PasswordFile, filepath.Join(dir, "secrets", "central.pass")},
		{"central.tls.ca", a.Central.TLS.CA, filepath.Join(dir, "tls", "ca.pem")},
		{"central.tls.cert", a.Central.TLS.Cert, filepath.Join(dir, "tls", "client.pem")},
		{"central.tls.key", a.Central.TLS.Key, filepath.Join(dir, "tls", "client.key")},
		{"central.tls.serverName", a.Central.TLS.ServerName, "central.example.org"},
		{"central secure", a.Central.Secure(), true},
		{"central.batch", a.Central.Batch, 100},
		{"central.window", a.Central.Window, 2},
		{"central.resendAfter", a.Central.ResendAfter, 90 * time.Second},
		{"roster length", len(a.Roster), 2},
		{"roster[0].noms", a.Roster[0].NOMS, "A1234BC"},
		{"roster[0].cards (as the bridge reports them)", strings.Join(a.Roster[0].Cards, ","), "12:42,12:43"},
		{"roster[1].crn (trimmed, upper case)", a.Roster[1].CRN, "Y654321"},
		{"roster[1].noms (upper case)", a.Roster[1].NOMS, "A1234BD"},
		{"log.level", a.Log.Level, "DEBUG"},
		{"log.format", a.Log.Format, "json"},
		{"devices.bridgeConfig", a.Devices.BridgeConfig, filepath.Join(dir, "bridge.yaml")},
		{"devices.maxLate", a.Devices.MaxLate, 48 * time.Hour},
		{"devices.lateAfter", a.Devices.LateAfter, 30 * time.Second},
		{"devices readers", len(a.Devices.Readers), 3},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.field, c.got, c.want)
		}
	}
	secret, err := secret.Read(a.Central.PasswordFile)
	if err != nil || secret != "central-secret" {
		t.Errorf("secret.Read(central.passwordFile) = %q, %v", secret, err)
	}
}

func TestLoadAgentInvalid(t *testing.T) {
	tests := []struct {
		name string
		// edit turns minimalAgent into the case's file.
		old, new string
		// files are extra files to write in the config's directory (mode 0600, or
		// 0644 for names ending in "-open").
		files      []string
		wantFields []string
	}{
		{name: "site missing", old: "site: MAN1\n", new: "", wantFields: []string{"site"}},
		{name: "site invalid", old: "site: MAN1", new: "site: MAN 1", wantFields: []string{"site"}},
		{name: "site too long", old: "site: MAN1", new: "site: " + strings.Repeat("M", 33), wantFields: []string{"site"}},
		{name: "key missing", old: "key: keys/MAN1.key\n", new: "", wantFields: []string{"key"}},
		{name: "key file absent", old: "key: keys/MAN1.key", new: "key: keys/NONE.key", wantFields: []string{"key"}},
		{name: "database missing", old: "database: agent.db\n", new: "", wantFields: []string{"database"}},
		{name: "bus missing", old: "bus:\n  broker: tcp://127.0.0.1:1883\n", new: "", wantFields: []string{"bus.broker"}},
		{name: "bus.broker off the box in plain TCP", old: "tcp://127.0.0.1:1883", new: "tcp://10.1.2.3:1883", wantFields: []string{"bus.broker"}},
		{name: "bus.broker mqtt scheme off the box", old: "tcp://127.0.0.1:1883", new: "mqtt://bus.local:1883", wantFields: []string{"bus.broker"}},
		{name: "bus.broker no port", old: "tcp://127.0.0.1:1883", new: "tcp://127.0.0.1", wantFields: []string{"bus.broker"}},
		{name: "bus.broker no scheme", old: "tcp://127.0.0.1:1883", new: "127.0.0.1:1883", wantFields: []string{"bus.broker"}},
		{name: "bus.broker unknown scheme", old: "tcp://127.0.0.1:1883", new: "ws://127.0.0.1:1883", wantFields: []string{"bus.broker"}},
		{name: "bus.broker with a password in it", old: "tcp://127.0.0.1:1883", new: "tcp://agent:hunter2@127.0.0.1:1883", wantFields: []string{"bus.broker"}},
		{name: "central.broker with a user in it", old: "tls://central.example.org:8883", new: "tls://MAN1@central.example.org:8883", wantFields: []string{"central.broker"}},
		{name: "bus.passwordFile without username", old: "  broker: tcp://127.0.0.1:1883\n", new: "  broker: tcp://127.0.0.1:1883\n  passwordFile: bus.pass\n",
			files: []string{"bus.pass"}, wantFields: []string{"bus.username"}},
		{name: "bus.passwordFile absent", old: "  broker: tcp://127.0.0.1:1883\n", new: "  broker: tcp://127.0.0.1:1883\n  username: u\n  passwordFile: none.pass\n",
			wantFields: []string{"bus.passwordFile"}},
		{name: "bus.passwordFile readable by others", old: "  broker: tcp://127.0.0.1:1883\n", new: "  broker: tcp://127.0.0.1:1883\n  username: u\n  passwordFile: bus.pass-open\n",
			files: []string{"bus.pass-open"}, wantFields: []string{"bus.passwordFile"}},
		{name: "central missing", old: "central:\n  broker: tls://central.example.org:8883\n", new: "", wantFields: []string{"central.broker"}},
		{name: "central.broker plain TCP off the box", old: "tls://central.example.org:8883", new: "tcp://central.example.org:1883", wantFields: []string{"central.broker"}},
		{name: "central.broker plain TCP to a LAN address", old: "tls://central.example.org:8883", new: "tcp://192.168.1.10:1883", wantFields: []string{"central.broker"}},
		{name: "central.tls with a tcp broker", old: "central:\n  broker: tls://central.example.org:8883\n", new: "central:\n  broker: tcp://127.0.0.1:1884\n  tls:\n    serverName: x\n",
			wantFields: []string{"central.tls"}},
		{name: "central.tls cert without key", old: "  broker: tls://central.example.org:8883\n", new: "  broker: tls://central.example.org:8883\n  tls:\n    cert: client.pem\n",
			files: []string{"client.pem"}, wantFields: []string{"central.tls", "central.tls.key"}},
		{name: "central.tls key without cert", old: "  broker: tls://central.example.org:8883\n", new: "  broker: tls://central.example.org:8883\n  tls:\n    key: client.key\n",
			files: []string{"client.key"}, wantFields: []string{"central.tls"}},
		{name: "central.tls.ca absent", old: "  broker: tls://central.example.org:8883\n", new: "  broker: tls://central.example.org:8883\n  tls:\n    ca: none.pem\n",
			wantFields: []string{"central.tls.ca"}},
		{name: "central.tls.key readable by others", old: "  broker: tls://central.example.org:8883\n", new: "  broker: tls://central.example.org:8883\n  tls:\n    cert: client.pem\n    key: client.key-open\n",
			files: []string{"client.pem", "client.key-open"}, wantFields: []string{"central.tls.key"}},
		{name: "central.batch too big", old: "  broker: tls://central.example.org:8883\n", new: "  broker: tls://central.example.org:8883\n  batch: 4097\n", wantFields: []string{"central.batch"}},
		{name: "central.batch negative", old: "  broker: tls://central.example.org:8883\n", new: "  broker: tls://central.example.org:8883\n  batch: -1\n", wantFields: []string{"central.batch"}},
		{name: "central.window too big", old: "  broker: tls://central.example.org:8883\n", new: "  broker: tls://central.example.org:8883\n  window: 1025\n", wantFields: []string{"central.window"}},
		{name: "central.resendAfter too short", old: "  broker: tls://central.example.org:8883\n", new: "  broker: tls://central.example.org:8883\n  resendAfter: 10ms\n", wantFields: []string{"central.resendAfter"}},
		{name: "central.resendAfter negative", old: "  broker: tls://central.example.org:8883\n", new: "  broker: tls://central.example.org:8883\n  resendAfter: -5s\n", wantFields: []string{"central.resendAfter"}},
		{name: "roster[0].crn", old: "", new: "roster:\n  - crn: X12345\n", wantFields: []string{"roster[0].crn"}},
		{name: "roster[0].crn with a letter too many", old: "", new: "roster:\n  - crn: xx123456\n", wantFields: []string{"roster[0].crn"}},
		{name: "roster[0].crn missing", old: "", new: "roster:\n  - name: Nobody\n", wantFields: []string{"roster[0].crn"}},
		{name: "roster[0].noms", old: "", new: "roster:\n  - crn: X123456\n    noms: 1234ABC\n", wantFields: []string{"roster[0].noms"}},
		{name: "roster[1].cards duplicate card", old: "", new: "roster:\n  - crn: X123456\n    cards: [\"12:42\"]\n  - crn: Y654321\n    cards: [\"12:43\", \"12:042\"]\n",
			wantFields: []string{"roster[1].cards"}},
		{name: "roster[0].cards not facility:number", old: "", new: "roster:\n  - crn: X123456\n    cards: [\"1234\"]\n", wantFields: []string{"roster[0].cards"}},
		{name: "roster kind", old: "", new: "roster:\n  - {kind: visitor, crn: X123456}\n", wantFields: []string{"roster[0].kind"}},
		{name: "staff without id", old: "", new: "roster:\n  - {kind: staff, name: Ann}\n", wantFields: []string{"roster[0].id"}},
		{name: "staff with a curfew", old: "", new: "roster:\n  - {kind: staff, id: s1, curfews: [{id: c1, start: '19:00', end: '07:00'}]}\n", wantFields: []string{"roster[0].kind"}},
		{name: "person twice", old: "", new: "roster:\n  - {crn: X123456}\n  - {crn: X123456}\n", wantFields: []string{"roster[1]"}},
		{name: "arrived", old: "", new: "roster:\n  - {crn: X123456, arrived: 22/11/2026}\n", wantFields: []string{"roster[0].arrived"}},
		{name: "departed before arrived", old: "", new: "roster:\n  - {crn: X123456, arrived: '2026-11-22', departed: '2026-11-01'}\n", wantFields: []string{"roster[0].departed"}},
		{name: "curfew start", old: "", new: "roster:\n  - {crn: X123456, curfews: [{id: c1, start: '7pm', end: '07:00'}]}\n", wantFields: []string{"roster[0].curfews[0].start"}},
		{name: "curfew end 24:00", old: "", new: "roster:\n  - {crn: X123456, curfews: [{id: c1, start: '19:00', end: '24:00'}]}\n", wantFields: []string{"roster[0].curfews[0].end"}},
		{name: "curfew of no length", old: "", new: "roster:\n  - {crn: X123456, curfews: [{id: c1, start: '19:00', end: '19:00'}]}\n", wantFields: []string{"roster[0].curfews[0].end"}},
		{name: "curfew weekday", old: "", new: "roster:\n  - {crn: X123456, curfews: [{id: c1, start: '10:00', end: '12:00', weekdays: [monday]}]}\n", wantFields: []string{"roster[0].curfews[0].weekdays"}},
		{name: "curfew dates reversed", old: "", new: "roster:\n  - {crn: X123456, curfews: [{id: c1, start: '10:00', end: '12:00', from: '2026-12-01', until: '2026-11-01'}]}\n", wantFields: []string{"roster[0].curfews[0].until"}},
		{name: "curfew id missing", old: "", new: "roster:\n  - {crn: X123456, curfews: [{start: '10:00', end: '12:00'}]}\n", wantFields: []string{"roster[0].curfews[0].id"}},
		{name: "absence unapproved", old: "", new: "roster:\n  - {crn: X123456, absences: [{id: a1, from: '2026-11-22 14:00', to: '2026-11-23 10:00'}]}\n", wantFields: []string{"roster[0].absences[0].approvedBy"}},
		{name: "absence backwards", old: "", new: "roster:\n  - {crn: X123456, absences: [{id: a1, from: '2026-11-23 14:00', to: '2026-11-22T10:00:00Z', approvedBy: mgr}]}\n", wantFields: []string{"roster[0].absences[0].to"}},
		{name: "absence time", old: "", new: "roster:\n  - {crn: X123456, absences: [{id: a1, from: tomorrow, to: '2026-11-22 10:00', approvedBy: mgr}]}\n", wantFields: []string{"roster[0].absences[0].from"}},
		{name: "rosterFile missing", old: "", new: "rosterFile: nope.yaml\n", wantFields: []string{"rosterFile"}},
		{name: "rosterFile and roster", old: "", new: "rosterFile: nope.yaml\nroster:\n  - {crn: X123456}\n", wantFields: []string{"rosterFile"}},
		{name: "log.level", old: "", new: "log:\n  level: verbose\n", wantFields: []string{"log.level"}},
		{name: "log.format", old: "", new: "log:\n  format: xml\n", wantFields: []string{"log.format"}},
		{name: "console.listen on the LAN without TLS", old: "", new: "console:\n  listen: 192.168.1.5:8080\n", wantFields: []string{"console.listen"}},
		{name: "console.listen not host:port", old: "", new: "console:\n  listen: 8080\n", wantFields: []string{"console.listen"}},
		{name: "console.tls.key readable by others", old: "", new: "console:\n  listen: 0.0.0.0:8443\n  tls: {cert: console.crt, key: console.key-open}\n",
			files: []string{"console.crt", "console.key-open"}, wantFields: []string{"console.tls.key"}},
		{name: "console.firstAdmin password file readable by others", old: "", new: "console:\n  firstAdmin: {name: admin, passwordFile: admin.pass-open}\n",
			files: []string{"admin.pass-open"}, wantFields: []string{"console.firstAdmin.passwordFile"}},
		{name: "console.metricsTokenFile readable by others", old: "", new: "console:\n  metricsTokenFile: metrics.token-open\n",
			files: []string{"metrics.token-open"}, wantFields: []string{"console.metricsTokenFile"}},
		{name: "console.metricsTokenFile too short a token", old: "", new: "console:\n  metricsTokenFile: metrics.token\n",
			files: []string{"metrics.token"}, wantFields: []string{"console.metricsTokenFile"}},
		{name: "console.metricsTokenFile absent", old: "", new: "console:\n  metricsTokenFile: none.token\n",
			wantFields: []string{"console.metricsTokenFile"}},
		{name: "console.firstAdmin without a name", old: "", new: "console:\n  firstAdmin: {passwordFile: admin.pass}\n",
			files: []string{"admin.pass"}, wantFields: []string{"console.firstAdmin.name"}},
		{name: "checkpoints.every", old: "", new: "checkpoints: {every: -1}\n", wantFields: []string{"checkpoints.every"}},
		{name: "checkpoints.interval", old: "", new: "checkpoints: {interval: 10ms}\n", wantFields: []string{"checkpoints.interval"}},
		{name: "devices missing", old: "devices:\n  bridgeConfig: bridge.yaml\n", new: "", wantFields: []string{"devices.bridgeConfig"}},
		{name: "devices.bridgeConfig absent", old: "bridgeConfig: bridge.yaml", new: "bridgeConfig: none.yaml", wantFields: []string{"devices.bridgeConfig"}},
		{name: "devices.bridgeConfig invalid", old: "bridgeConfig: bridge.yaml", new: "bridgeConfig: bad-bridge.yaml", wantFields: []string{"devices.bridgeConfig"}},
		{name: "devices.bridgeConfig of another site", old: "bridgeConfig: bridge.yaml", new: "bridgeConfig: lds2-bridge.yaml", wantFields: []string{"devices.bridgeConfig"}},
		{name: "devices.maxLate too short", old: "", new: "  maxLate: 10s\n", wantFields: []string{"devices.maxLate"}},
		{name: "devices.lateAfter not below maxLate", old: "", new: "  maxLate: 1h\n  lateAfter: 2h\n", wantFields: []string{"devices.lateAfter"}},
		{name: "several problems at once", old: "site: MAN1", new: "site: ''\nlog:\n  level: loud", wantFields: []string{"site", "log.level"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeAgentFiles(t, dir)
			for _, f := range tc.files {
				perm := fs.FileMode(0o600)
				if strings.HasSuffix(f, "-open") {
					perm = 0o644
				}
				writeFile(t, dir, f, "x", perm)
			}
			writeFile(t, dir, "bad-bridge.yaml", "site: MAN1\nbus: {broker: tcp://127.0.0.1:1883}\n", 0o644)
			writeFile(t, dir, "lds2-bridge.yaml", strings.Replace(agentBridge, "site: MAN1", "site: LDS2", 1), 0o644)
			yaml := minimalAgent + tc.new
			if tc.old != "" {
				if !strings.Contains(minimalAgent, tc.old) {
					t.Fatalf("%q is not in the minimal agent config", tc.old)
				}
				yaml = strings.Replace(minimalAgent, tc.old, tc.new, 1)
			}
			path := writeFile(t, dir, "agent.yaml", yaml, 0o644)
			a, err := config.LoadAgent(path)
			ce := configError(t, err)
			if got := fields(ce); !slices.Equal(got, tc.wantFields) {
				t.Errorf("problems on %q, want %q: %v", got, tc.wantFields, err)
			}
			if ce.File != path {
				t.Errorf("Error.File = %q, want %q", ce.File, path)
			}
			for _, p := range ce.Problems {
				if p.What == "" || p.Fix == "" {
					t.Errorf("problem %+v lacks what is wrong or the fix", p)
				}
				if !strings.Contains(err.Error(), p.String()) {
					t.Errorf("error %q does not include problem %q", err, p)
				}
			}
			if a == nil {
				t.Error("LoadAgent returned no config with its problems")
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error shows a password: %v", err)
			}
		})
	}
}

func TestBrokerAccepted(t *testing.T) {
	tests := []struct {
		name, bus, central string
	}{
		{"loopback IPv4", "tcp://127.0.0.1:1883", "tls://central.example.org:8883"},
		{"loopback IPv4 range", "tcp://127.0.0.2:1883", "tls://central.example.org:8883"},
		{"loopback IPv6", "tcp://[::1]:1883", "tls://central.example.org:8883"},
		{"localhost", "tcp://localhost:1883", "tls://central.example.org:8883"},
		{"mqtt scheme on the box", "mqtt://127.0.0.1:1883", "tls://central.example.org:8883"},
		{"TLS bus off the box", "tls://bus.example.org:8883", "tls://central.example.org:8883"},
		{"ssl scheme", "tcp://127.0.0.1:1883", "ssl://central.example.org:8883"},
		{"mqtts scheme", "tcp://127.0.0.1:1883", "mqtts://central.example.org:8883"},
		{"central through a local relay", "tcp://127.0.0.1:1883", "tcp://127.0.0.1:1884"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeAgentFiles(t, dir)
			y := strings.Replace(minimalAgent, "tcp://127.0.0.1:1883", tc.bus, 1)
			y = strings.Replace(y, "tls://central.example.org:8883", tc.central, 1)
			a, err := config.LoadAgent(writeFile(t, dir, "agent.yaml", y, 0o644))
			if err != nil {
				t.Fatal(err)
			}
			if a.Bus.Broker != tc.bus || a.Central.Broker != tc.central {
				t.Errorf("brokers = %q, %q", a.Bus.Broker, a.Central.Broker)
			}
		})
	}
}

func TestLoadAgentKeyMode(t *testing.T) {
	dir := t.TempDir()
	priv := writeAgentFiles(t, dir)
	if err := os.Chmod(priv, 0o644); err != nil {
		t.Fatal(err)
	}
	path := writeFile(t, dir, "agent.yaml", minimalAgent, 0o644)
	_, err := config.LoadAgent(path)
	ce := configError(t, err)
	if len(ce.Problems) != 1 {
		t.Fatalf("problems = %+v, want one", ce.Problems)
	}
	p := ce.Problems[0]
	if p.Field != "key" || !strings.Contains(p.What, "0644") || !strings.Contains(p.Fix, "chmod 600") || !strings.Contains(p.Fix, priv) {
		t.Errorf("problem = %+v, want field key, mode 0644, fix chmod 600 %s", p, priv)
	}
}

func TestUnknownFields(t *testing.T) {
	tests := []struct {
		name  string
		load  func(string) error
		yaml  string
		field string
	}{
		{"agent top level", func(p string) error { _, err := config.LoadAgent(p); return err },
			minimalAgent + "sight: MAN1\n", "sight"},
		{"agent bus", func(p string) error { _, err := config.LoadAgent(p); return err },
			strings.Replace(minimalAgent, "bus:\n", "bus:\n  brokr: tcp://127.0.0.1:1\n", 1), "brokr"},
		{"agent central inline", func(p string) error { _, err := config.LoadAgent(p); return err },
			strings.Replace(minimalAgent, "central:\n", "central:\n  batchSize: 5\n", 1), "batchSize"},
		{"agent roster", func(p string) error { _, err := config.LoadAgent(p); return err },
			minimalAgent + "roster:\n  - crn: X123456\n    card: \"0042\"\n", "card"},
		{"agent password in YAML", func(p string) error { _, err := config.LoadAgent(p); return err },
			strings.Replace(minimalAgent, "bus:\n", "bus:\n  password: hunter2\n", 1), "password"},
		{"bridge", func(p string) error { _, err := config.LoadBridge(p); return err },
			minimalBridge + "simulate:\n  readers: []\n  rate: 2s\n", "rate"},
		{"central", func(p string) error { _, err := config.LoadCentral(p); return err },
			"database: c.db\nbroker:\n  broker: tcp://127.0.0.1:1883\ntrust: []\ngapAlarm: 5s\n", "gapAlarm"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeKeys(t, dir, "MAN1")
			path := writeFile(t, dir, "x.yaml", tc.yaml, 0o644)
			err := tc.load(path)
			if err == nil {
				t.Fatal("unknown field accepted")
			}
			if !strings.Contains(err.Error(), tc.field) {
				t.Errorf("err = %q, want it to name field %q", err, tc.field)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("err = %q shows the value", err)
			}
		})
	}
}

func TestLoadMissingOrMalformedFile(t *testing.T) {
	dir := t.TempDir()
	loaders := map[string]func(string) error{
		"agent":   func(p string) error { _, err := config.LoadAgent(p); return err },
		"bridge":  func(p string) error { _, err := config.LoadBridge(p); return err },
		"central": func(p string) error { _, err := config.LoadCentral(p); return err },
	}
	malformed := writeFile(t, dir, "bad.yaml", "site: [unclosed\n", 0o644)
	notMap := writeFile(t, dir, "list.yaml", "- a\n- b\n", 0o644)
	for name, load := range loaders {
		if err := load(filepath.Join(dir, "none.yaml")); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s: missing file: %v, want fs.ErrNotExist", name, err)
		}
		for _, p := range []string{malformed, notMap} {
			if err := load(p); err == nil || !strings.Contains(err.Error(), p) {
				t.Errorf("%s: %s: %v, want an error naming the file", name, p, err)
			}
		}
	}
}

const minimalBridge = `site: MAN1
stateDir: state
bus:
  broker: tcp://127.0.0.1:1883
`

// siteBridge is a bridge with one OSDP line of two readers on one door.
const siteBridge = minimalBridge + `osdp:
  - port: /dev/ttyUSB0
    baud: 115200
    readers:
      - {id: front-in, address: 1, scbkFile: front-in.scbk}
      - {id: front-out, address: 2, insecure: true}
doors:
  - id: front
    entryReader: front-in
    exitReader: front-out
    contact: {pin: GPIO17}
    exitButton: {pin: GPIO27, activeHigh: true}
    lock: {pin: GPIO22, mode: fail-safe}
    unlockFor: 7s
  - id: side
    wiegand: {reader: side-in, direction: entry, d0: GPIO5, d1: GPIO6}
    lock: {pin: GPIO23, mode: fail-secure}
`

func TestLoadBridge(t *testing.T) {
	dir := t.TempDir()
	_, pub := writeKeys(t, dir, "MAN1")
	b, err := config.LoadBridge(writeFile(t, dir, "bridge.yaml", minimalBridge, 0o644))
	if err != nil {
		t.Fatal(err)
	}
	if b.Site != "MAN1" || b.Bus.ClientID != "apedge-bridge-MAN1" || b.Simulate != nil || b.StateDir != filepath.Join(dir, "state") {
		t.Errorf("LoadBridge = %+v", b)
	}
	if b.AgentKey != pub || b.MaxUnlock != 30*time.Second {
		t.Errorf("agentKey %q, maxUnlock %v; want %q (keys/MAN1.pub by default), 30s", b.AgentKey, b.MaxUnlock, pub)
	}
	writeFile(t, dir, "elsewhere/site.pub", readString(t, pub), 0o644)
	b, err = config.LoadBridge(writeFile(t, dir, "keyed.yaml", minimalBridge+"agentKey: elsewhere/site.pub\nmaxUnlock: 2m\n", 0o644))
	if err != nil {
		t.Fatal(err)
	}
	if b.AgentKey != filepath.Join(dir, "elsewhere", "site.pub") || b.MaxUnlock != 2*time.Minute {
		t.Errorf("agentKey %q, maxUnlock %v; want elsewhere/site.pub, 2m", b.AgentKey, b.MaxUnlock)
	}
	if b.MaxHold != 12*time.Hour {
		t.Errorf("maxHold %v, want 12h by default", b.MaxHold)
	}
	b, err = config.LoadBridge(writeFile(t, dir, "held.yaml", minimalBridge+"maxHold: 4h\n", 0o644))
	if err != nil || b.MaxHold != 4*time.Hour || b.MaxUnlock != 30*time.Second {
		t.Errorf("maxHold: 4h: %v, maxUnlock %v (%v); want 4h, 30s", b.MaxHold, b.MaxUnlock, err)
	}

	writeFile(t, dir, "front-in.scbk", "000102030405060708090a0b0c0d0e0f", 0o600)
	b, err = config.LoadBridge(writeFile(t, dir, "site.yaml", siteBridge, 0o644))
	if err != nil {
		t.Fatal(err)
	}
	bus := b.OSDP[0]
	if bus.Baud != 115200 || bus.ReplyTimeout != 200*time.Millisecond || bus.OfflineAfter != 3 ||
		bus.Readers[0].SCBKFile != filepath.Join(dir, "front-in.scbk") || !bus.Readers[1].Insecure {
		t.Errorf("osdp[0] = %+v", bus)
	}
	front, side := b.Doors[0], b.Doors[1]
	if front.UnlockFor != 7*time.Second || front.HeldOpenAfter != 30*time.Second || front.Contact.ActiveHigh || !front.ExitButton.ActiveHigh {
		t.Errorf("doors[0] = %+v", front)
	}
	if side.EntryReader != "side-in" || side.ExitReader != "" {
		t.Errorf("doors[1] = %+v, want its Wiegand reader as the entry reader", side)
	}
	places := b.Readers()
	want := map[string]config.ReaderPlace{"front-in": {"front", "entry"}, "front-out": {"front", "exit"}, "side-in": {"side", "entry"}}
	if !reflect.DeepEqual(places, want) {
		t.Errorf("Readers() = %v, want %v", places, want)
	}

	b, err = config.LoadBridge(writeFile(t, dir, "sim.yaml", minimalBridge+`osdp:
  - port: simulated
    readers: [{id: front-in, address: 1, insecure: true}]
doors:
  - {id: front, entryReader: front-in}
simulate:
  cards: ["12:3456"]
`, 0o644))
	if err != nil {
		t.Fatal(err)
	}
	if b.Simulate == nil || b.Simulate.Every != 2*time.Second || b.Simulate.Incidents != 0.05 || b.OSDP[0].Baud != 9600 {
		t.Errorf("simulate = %+v, osdp = %+v", b.Simulate, b.OSDP)
	}
}

// readString returns the content of file path.
func readString(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestLoadBridgeInvalid(t *testing.T) {
	dir := t.TempDir()
	writeKeys(t, dir, "MAN1")
	writeKeys(t, dir, "LDS2")
	writeFile(t, dir, "not-a-key.pub", "hello\n", 0o644)
	writeFile(t, dir, "front-in.scbk", "000102030405060708090a0b0c0d0e0f", 0o600)
	writeFile(t, dir, "open.scbk", "000102030405060708090a0b0c0d0e0f", 0o644)
	const sim = "simulate:\n  cards: [\"12:3456\"]\n"
	tests := []struct {
		name       string
		yaml       string
		wantFields []string
	}{
		{"site", strings.Replace(minimalBridge, "MAN1", "MAN_1", 1), []string{"site"}},
		{"bus.broker missing", "site: MAN1\nstateDir: s\n", []string{"bus.broker"}},
		{"bus.broker off the box", strings.Replace(minimalBridge, "127.0.0.1", "bus.example.org", 1), []string{"bus.broker"}},
		{"stateDir", strings.Replace(minimalBridge, "stateDir: state\n", "", 1), []string{"stateDir"}},
		{"baud", strings.Replace(siteBridge, "115200", "115201", 1), []string{"osdp[0].baud"}},
		{"address range", strings.Replace(siteBridge, "address: 2", "address: 127", 1), []string{"osdp[0].readers[1].address"}},
		{"address twice", strings.Replace(siteBridge, "address: 2", "address: 1", 1), []string{"osdp[0].readers[1].address"}},
		{"no key and not insecure", strings.Replace(siteBridge, ", insecure: true", "", 1), []string{"osdp[0].readers[1].scbkFile"}},
		{"key and insecure", strings.Replace(siteBridge, ", insecure: true", ", insecure: true, scbkFile: front-in.scbk", 1), []string{"osdp[0].readers[1].insecure"}},
		{"key readable by others", strings.Replace(siteBridge, "scbkFile: front-in.scbk", "scbkFile: open.scbk", 1), []string{"osdp[0].readers[0].scbkFile"}},
		{"install without key", strings.Replace(siteBridge, ", insecure: true", ", insecure: true, install: true", 1), []string{"osdp[0].readers[1].install"}},
		{"reader id twice", strings.Replace(siteBridge, "reader: side-in", "reader: front-in", 1), []string{"doors[1].wiegand.reader", "doors[1].entryReader"}},
		{"unknown entry reader", strings.Replace(siteBridge, "entryReader: front-in", "entryReader: back-in", 1), []string{"doors[0].entryReader", "osdp[0].readers[0].id"}},
		{"reader on two doors", strings.Replace(siteBridge, "reader: side-in, direction: entry", "reader: side-in, direction: exit", 1) + "  - {id: back, entryReader: front-in}\n", []string{"doors[2].entryReader"}},
		{"lock mode", strings.Replace(siteBridge, "fail-secure", "fail-open", 1), []string{"doors[1].lock.mode"}},
		{"lock pin", strings.Replace(siteBridge, "{pin: GPIO22, mode", "{mode", 1), []string{"doors[0].lock.pin"}},
		{"wiegand direction", strings.Replace(siteBridge, "direction: entry", "direction: in", 1), []string{"doors[1].wiegand.direction"}},
		{"unlockFor", strings.Replace(siteBridge, "unlockFor: 7s", "unlockFor: 1h", 1), []string{"doors[0].unlockFor"}},
		{"door id twice", strings.Replace(siteBridge, "id: side", "id: front", 1), []string{"doors[1].id"}},
		{"simulated port without simulate", minimalBridge + "osdp:\n  - port: simulated\n    readers: [{id: r1, address: 1, insecure: true}]\ndoors: [{id: d1, entryReader: r1}]\n", []string{"osdp[0].port"}},
		{"reader on no door", minimalBridge + "osdp:\n  - port: /dev/ttyS0\n    readers: [{id: r1, address: 1, insecure: true}]\n", []string{"osdp[0].readers[0].id"}},
		{"simulate.cards empty", minimalBridge + "doors: [{id: front}]\nsimulate:\n  every: 1s\n", []string{"simulate.cards"}},
		{"simulate.cards format", minimalBridge + "doors: [{id: front}]\n" + strings.Replace(sim, "12:3456", "0042", 1), []string{"simulate.cards[0]"}},
		{"simulate without doors", minimalBridge + sim, []string{"doors"}},
		{"simulate.every", minimalBridge + "doors: [{id: front}]\n" + sim + "  every: 10us\n", []string{"simulate.every"}},
		{"log.level", minimalBridge + "log:\n  level: trace\n", []string{"log.level"}},
		{"agentKey missing", minimalBridge + "agentKey: keys/NOPE.pub\n", []string{"agentKey"}},
		{"agentKey not a key", minimalBridge + "agentKey: not-a-key.pub\n", []string{"agentKey"}},
		{"agentKey of another site", minimalBridge + "agentKey: keys/LDS2.pub\n", []string{"agentKey"}},
		{"agentKey default missing", strings.Replace(minimalBridge, "MAN1", "MAN2", 1), []string{"agentKey"}},
		{"maxUnlock", minimalBridge + "maxUnlock: 2h\n", []string{"maxUnlock"}},
		{"maxHold too long", minimalBridge + "maxHold: 200h\n", []string{"maxHold"}},
		{"maxHold too short", minimalBridge + "maxHold: 10s\n", []string{"maxHold"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := writeFile(t, dir, "bridge.yaml", tc.yaml, 0o644)
			_, err := config.LoadBridge(path)
			ce := configError(t, err)
			if got := fields(ce); !slices.Equal(got, tc.wantFields) {
				t.Errorf("problems on %q, want %q: %v", got, tc.wantFields, err)
			}
		})
	}
}

func TestLoadCentral(t *testing.T) {
	dir := t.TempDir()
	_, pub := writeKeys(t, dir, "MAN1")
	_, pub2 := writeKeys(t, dir, "LDS2")
	path := writeFile(t, dir, "central.yaml", `database: central.db
broker:
  broker: tls://broker.internal:8883
trust:
  - {site: MAN1, pubkey: keys/MAN1.pub}
  - {site: LDS2, pubkey: `+pub2+`}
`, 0o644)
	c, err := config.LoadCentral(path)
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		field     string
		got, want any
	}{
		{"database", c.Database, filepath.Join(dir, "central.db")},
		{"broker.clientID", c.Broker.ClientID, "apedge-central"},
		{"gapAlarmAfter", c.GapAlarmAfter, 30 * time.Second},
		{"trust length", len(c.Trust), 2},
		{"trust[0].pubkey", c.Trust[0].PubKey, pub},
		{"trust[1].pubkey", c.Trust[1].PubKey, pub2},
	}
	for _, ck := range checks {
		if ck.got != ck.want {
			t.Errorf("%s = %v, want %v", ck.field, ck.got, ck.want)
		}
	}
}

func TestLoadCentralInvalid(t *testing.T) {
	const base = "database: central.db\nbroker:\n  broker: tls://broker.example.org:8883\n"
	tests := []struct {
		name       string
		yaml       string
		wantFields []string
	}{
		{"database missing", "broker:\n  broker: tls://b.example.org:8883\ntrust:\n  - {site: MAN1, pubkey: keys/MAN1.pub}\n", []string{"database"}},
		{"broker.broker missing", "database: c.db\ntrust:\n  - {site: MAN1, pubkey: keys/MAN1.pub}\n", []string{"broker.broker"}},
		{"broker.tls with tcp", "database: c.db\nbroker:\n  broker: tcp://127.0.0.1:1883\n  tls: {serverName: x}\ntrust:\n  - {site: MAN1, pubkey: keys/MAN1.pub}\n", []string{"broker.tls"}},
		{"broker plain TCP off the box", "database: c.db\nbroker:\n  broker: tcp://broker.internal:1883\ntrust:\n  - {site: MAN1, pubkey: keys/MAN1.pub}\n", []string{"broker.broker"}},
		{"trust empty", base, []string{"trust"}},
		{"trust[0].pubkey absent", base + "trust:\n  - {site: MAN1, pubkey: keys/NONE.pub}\n", []string{"trust[0].pubkey"}},
		{"trust[0].pubkey of another site", base + "trust:\n  - {site: LDS2, pubkey: keys/MAN1.pub}\n", []string{"trust[0].pubkey"}},
		{"trust[0].pubkey is the private key", base + "trust:\n  - {site: MAN1, pubkey: keys/MAN1.key}\n", []string{"trust[0].pubkey"}},
		{"trust[0].pubkey missing", base + "trust:\n  - {site: MAN1}\n", []string{"trust[0].pubkey"}},
		{"trust[1] the same key twice", base + "trust:\n  - {site: MAN1, pubkey: keys/MAN1.pub}\n  - {site: MAN1, pubkey: keys/MAN1.pub}\n", []string{"trust[1].pubkey"}},
		{"trust[0].validUntil before validFrom", base + "trust:\n  - {site: MAN1, pubkey: keys/MAN1.pub, validFrom: 2026-06-01T00:00:00Z, validUntil: 2026-05-01T00:00:00Z}\n", []string{"trust[0].validUntil"}},
		{"trust[0].site invalid", base + "trust:\n  - {site: MAN 1, pubkey: keys/MAN1.pub}\n", []string{"trust[0].site", "trust[0].pubkey"}},
		{"trust[1].site missing", base + "trust:\n  - {site: MAN1, pubkey: keys/MAN1.pub}\n  - {pubkey: keys/MAN1.pub}\n", []string{"trust[1].site"}},
		{"log.level", base + "trust:\n  - {site: MAN1, pubkey: keys/MAN1.pub}\nlog:\n  level: chatty\n", []string{"log.level"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeKeys(t, dir, "MAN1")
			path := writeFile(t, dir, "central.yaml", tc.yaml, 0o644)
			_, err := config.LoadCentral(path)
			ce := configError(t, err)
			if got := fields(ce); !slices.Equal(got, tc.wantFields) {
				t.Errorf("problems on %q, want %q: %v", got, tc.wantFields, err)
			}
		})
	}
}

func TestErrorString(t *testing.T) {
	e := &config.Error{File: "agent.yaml", Problems: []config.Problem{
		{Field: "site", What: "missing", Fix: "set it"},
		{Field: "log.level", What: `"x" unknown`},
	}}
	want := `agent.yaml: 2 problem(s): site: missing (set it); log.level: "x" unknown`
	if got := e.Error(); got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

func TestRosterFile(t *testing.T) {
	dir := t.TempDir()
	writeAgentFiles(t, dir)
	writeFile(t, dir, "roster.yaml", `- crn: X123456
  noms: A1234BC
  name: Resident One
  room: "12"
  arrived: "2026-11-01"
  expectedDeparture: "2027-01-15"
  cards: ["12:10001"]
  curfews:
    - {id: licence-7, description: "licence condition 7", start: "19:00", end: "07:00", weekdays: [sat, sun], from: "2026-11-01"}
  absences:
    - {id: hospital-1, from: "2026-11-20 09:00", to: "2026-11-21T12:00:00Z", approvedBy: "AP manager J. Smith", reason: hospital}
- {kind: staff, id: s-ann, name: Ann, cards: ["12:90001"]}
`, 0o644)
	a, err := config.LoadAgent(writeFile(t, dir, "agent.yaml", minimalAgent+"rosterFile: roster.yaml\n", 0o644))
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Roster) != 2 || a.Roster[0].Room != "12" || a.Roster[0].Curfews[0].Weekdays[1] != "sun" || a.Roster[1].Holder() != "s-ann" || a.Roster[1].IsResident() {
		t.Errorf("roster = %+v", a.Roster)
	}
	r := a.Roster[0]
	if !r.PresentOn("2026-11-01") || r.PresentOn("2026-10-31") {
		t.Errorf("PresentOn around arrival wrong for %+v", r)
	}
	r.Departed = "2026-12-01"
	if !r.PresentOn("2026-11-30") || r.PresentOn("2026-12-01") {
		t.Errorf("PresentOn around departure wrong for %+v", r)
	}
}

func TestLoadRoster(t *testing.T) {
	dir := t.TempDir() // no keys: the roster alone is checked
	path := writeFile(t, dir, "agent.yaml", "site: MAN1\nkey: keys/none.key\nroster:\n  - {crn: X123456, cards: [\"12:1\"]}\n", 0o644)
	r, db, err := config.LoadRoster(path)
	if err != nil || len(r) != 1 || r[0].CRN != "X123456" || db != "" {
		t.Fatalf("LoadRoster = %+v, %v", r, err)
	}
	path = writeFile(t, dir, "bad.yaml", "site: MAN1\nroster:\n  - {crn: X12}\n", 0o644)
	if _, _, err := config.LoadRoster(path); err == nil || !strings.Contains(err.Error(), "roster[0].crn") {
		t.Errorf("LoadRoster of a bad roster = %v", err)
	}
}

// TestConsoleDefaults: the console listens on loopback and keeps its accounts beside
// the journal unless told otherwise; with TLS it may listen on any address.
func TestConsoleDefaults(t *testing.T) {
	dir := t.TempDir()
	writeAgentFiles(t, dir)
	a, err := config.LoadAgent(writeFile(t, dir, "agent.yaml", minimalAgent, 0o644))
	if err != nil {
		t.Fatal(err)
	}
	if a.Console.Listen != "127.0.0.1:8080" || a.Console.Users != filepath.Join(dir, "staff.db") || a.Console.TLS != nil {
		t.Errorf("console defaults %+v", a.Console)
	}
	writeFile(t, dir, "console.crt", "x", 0o644)
	writeFile(t, dir, "console.key", "x", 0o600)
	a, err = config.LoadAgent(writeFile(t, dir, "agent2.yaml", minimalAgent+"console:\n  listen: 0.0.0.0:8443\n  tls: {cert: console.crt, key: console.key}\n", 0o644))
	if err != nil {
		t.Fatal(err)
	}
	if a.Console.TLS.Key != filepath.Join(dir, "console.key") {
		t.Errorf("console TLS %+v", a.Console.TLS)
	}
	writeFile(t, dir, "metrics.token", "0123456789abcdef0123456789abcdef\n", 0o600)
	a, err = config.LoadAgent(writeFile(t, dir, "agent3.yaml", minimalAgent+"console:\n  metricsTokenFile: metrics.token\n", 0o644))
	if err != nil {
		t.Fatal(err)
	}
	if a.Console.MetricsTokenFile != filepath.Join(dir, "metrics.token") {
		t.Errorf("console metrics token file %q", a.Console.MetricsTokenFile)
	}
}

// TestYAMLErrors: every error in reading a file names the field as the YAML writes
// it, with its line, and the fix; an unknown field gets the nearest allowed one or the
// list of those allowed there, and an empty file says what it must hold at least.
func TestYAMLErrors(t *testing.T) {
	agentPrefix := "site: MAN1\n"
	tests := []struct {
		name string
		load string // agent, bridge, central or roster (an agent with rosterFile)
		body string
		want []config.Problem
	}{
		{"typo at the top", "agent", "sitee: MAN1\n", []config.Problem{
			{Field: "sitee", What: "unknown field at line 1", Fix: "did you mean site?"}}},
		{"typo in a section", "agent", agentPrefix + "bus:\n  broker: tcp://127.0.0.1:1883\n  brokr: x\n", []config.Problem{
			{Field: "bus.brokr", What: "unknown field at line 4", Fix: "did you mean broker?"}}},
		{"case", "agent", agentPrefix + "central:\n  resendafter: 10s\n", []config.Problem{
			{Field: "central.resendafter", What: "unknown field at line 3", Fix: "did you mean resendAfter?"}}},
		{"nothing near", "agent", agentPrefix + "log:\n  colour: blue\n", []config.Problem{
			{Field: "log.colour", What: "unknown field at line 3", Fix: "the fields allowed there are format, level"}}},
		{"in a list", "bridge", "site: MAN1\ndoors:\n  - id: front\n  - id: side\n    lock: {pin: GPIO22, mod: fail-safe}\n", []config.Problem{
			{Field: "doors[1].lock.mod", What: "unknown field at line 5", Fix: "did you mean mode?"}}},
		{"two unknown", "central", "databse: c.db\ntrust:\n  - {site: MAN1, pubky: k.pub}\n", []config.Problem{
			{Field: "databse", What: "unknown field at line 1", Fix: "did you mean database?"},
			{Field: "trust[0].pubky", What: "unknown field at line 3", Fix: "did you mean pubkey?"}}},
		{"not a number", "agent", agentPrefix + "central:\n  batch: lots\n", []config.Problem{
			{Field: "central.batch", What: `"lots" at line 3 is not a whole number`, Fix: "write a whole number, e.g. 3"}}},
		{"not a duration", "bridge", "site: MAN1\nresendAfter: soon\n", []config.Problem{
			{Field: "resendAfter", What: `"soon" at line 2 is not a duration`, Fix: "write a duration such as 500ms, 30s, 5m or 72h"}}},
		{"not a bool", "agent", agentPrefix + "console:\n  off: maybe\n", []config.Problem{
			{Field: "console.off", What: `"maybe" at line 3 is not true or false`, Fix: "write true or false"}}},
		{"empty agent", "agent", "", []config.Problem{
			{Field: "(file)", What: "empty", Fix: "an agent configuration needs at least site, key, database, bus.broker, central.broker and devices.bridgeConfig; see configs/agent.yaml"}}},
		{"only a comment", "central", "# nothing yet\n", []config.Problem{
			{Field: "(file)", What: "empty", Fix: "a central configuration needs at least database, broker.broker and trust; see configs/central.yaml"}}},
		{"empty bridge", "bridge", "\n\n", []config.Problem{
			{Field: "(file)", What: "empty", Fix: "a bridge configuration needs at least site, stateDir and bus.broker, and its osdp lines and doors; see configs/bridge.yaml"}}},
		{"a list, not a mapping", "agent", "- site\n", []config.Problem{
			{Field: "(file)", What: "line 1 holds a list, not a mapping", Fix: "an agent configuration needs at least site, key, database, bus.broker, central.broker and devices.bridgeConfig; see configs/agent.yaml"}}},
		{"not YAML", "agent", "site: [MAN1\n", []config.Problem{
			{Field: "(file)", What: "not YAML: line 1: did not find expected ',' or ']'", Fix: "fix the syntax at that line: indent with spaces, quote values holding ': ' or '#'"}}},
		{"roster typo", "roster", "- crn: X123456\n- crn: X123457\n  cardz: [\"12:1\"]\n", []config.Problem{
			{Field: "roster[1].cardz", What: "unknown field at line 3", Fix: "did you mean cards?"}}},
		{"roster empty", "roster", "", []config.Problem{
			{Field: "(file)", What: "empty", Fix: `a roster file is a YAML list of people, e.g. - {crn: X123456, cards: ["12:10001"]}; write [] for nobody`}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := writeFile(t, dir, tt.load+".yaml", tt.body, 0o644)
			var err error
			switch tt.load {
			case "agent":
				_, err = config.LoadAgent(path)
			case "bridge":
				_, err = config.LoadBridge(path)
			case "central":
				_, err = config.LoadCentral(path)
			case "roster":
				writeAgentFiles(t, dir)
				_, err = config.LoadAgent(writeFile(t, dir, "agent.yaml", minimalAgent+"rosterFile: roster.yaml\n", 0o644))
				ce := configError(t, err)
				var inner string
				for _, p := range ce.Problems {
					if p.Field == "rosterFile" {
						inner = p.What
					}
				}
				var want []string
				for _, p := range tt.want {
					want = append(want, p.String())
				}
				if wantWhat := fmt.Sprintf("%s: %d problem(s): %s", path, len(tt.want), strings.Join(want, "; ")); inner != wantWhat {
					t.Errorf("rosterFile problem %q\nwant %q", inner, wantWhat)
				}
				return
			}
			ce := configError(t, err)
			if ce.File != path || !reflect.DeepEqual(ce.Problems, tt.want) {
				t.Errorf("got %s: %q\nwant %s: %q", ce.File, ce.Problems, path, tt.want)
			}
		})
	}
}

// TestShippedConfigsDecode: the configurations in configs/ have no field the new
// checks call unknown.
func TestShippedConfigsDecode(t *testing.T) {
	for _, name := range []string{"agent.yaml", "bridge.yaml", "central.yaml"} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join("..", "..", "configs", name)
			var err error
			switch name {
			case "agent.yaml":
				_, err = config.LoadAgent(path)
			case "bridge.yaml":
				_, err = config.LoadBridge(path)
			default:
				_, err = config.LoadCentral(path)
			}
			var ce *config.Error
			if errors.As(err, &ce) {
				for _, p := range ce.Problems {
					if strings.HasPrefix(p.What, "unknown field") || p.Field == "(file)" {
						t.Errorf("%s: %s", path, p)
					}
				}
			}
		})
	}
}
