// Package hiltests holds apedge's end-to-end tests: the real apedge binary as separate
// processes, a real Mosquitto broker started on a free port, real SQLite files and a
// real PostgreSQL server (package pgtest), and the site bus driven with the same bytes
// the bridge publishes.
package hiltests

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/apedge/apedge/agent/journal"
	"github.com/apedge/apedge/central"
	"github.com/apedge/apedge/formats/event"
	"github.com/apedge/apedge/formats/sitebus"
	"github.com/apedge/apedge/formats/sitekey"
	"github.com/apedge/apedge/formats/verify"
	"github.com/apedge/apedge/internal/broker"
	"github.com/apedge/apedge/internal/config"
	"github.com/apedge/apedge/internal/mqttclient"
	"github.com/apedge/apedge/internal/pgtest"
	"github.com/apedge/apedge/internal/pki"
	"github.com/apedge/apedge/internal/wait"
)

// apedgeBin is the binary under test, built once by TestMain.
var apedgeBin string

// pg is the PostgreSQL cluster of this test binary, started by the first test that
// needs one and stopped by TestMain.
var pg pgtest.Shared

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "apedge-hil-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	apedgeBin = filepath.Join(dir, "apedge")
	build := exec.Command("go", "build", "-race", "-o", apedgeBin, "../cmd/apedge")
	if os.Getenv("HIL_NO_RACE") != "" { // benchmarks measure the binary as shipped
		build = exec.Command("go", "build", "-o", apedgeBin, "../cmd/apedge")
	}
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "hil-tests: building apedge:", err)
		os.Exit(1)
	}
	code := m.Run()
	if err := pg.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "hil-tests:", err)
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

// waitFor is wait.For.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	wait.For(t, timeout, what, cond)
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Mosquitto is a real Mosquitto broker on loopback with persistence in its own folder,
// serving TLS only: every client presents a certificate from the broker's CA (its
// CommonName is its username) and the ACL made by package pki for the broker's sites
// says what each may publish and read, as configs/mosquitto.conf runs a site's.
type Mosquitto struct {
	t    testing.TB
	Port int
	dir  string
	pki  *testPKI
	cmd  *exec.Cmd
	// exited is closed once cmd has exited.
	exited <-chan struct{}
}

func mosquittoPath(t testing.TB) string {
	for _, p := range []string{"mosquitto", "/usr/sbin/mosquitto"} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	t.Fatal("mosquitto not found: run `make test`, which installs it (scripts/test-deps.sh)")
	return ""
}

// startMosquitto starts a broker on a free port for the buses and uplinks of sites;
// it is stopped at the end of the test.
func startMosquitto(t testing.TB, sites ...string) *Mosquitto {
	t.Helper()
	return startMosquittoFor(t, busSpec{sites: sites})
}

// startMosquittoFor starts a broker on a free port whose ACL is made from spec.
func startMosquittoFor(t testing.TB, spec busSpec) *Mosquitto {
	t.Helper()
	m := &Mosquitto{t: t, Port: freePort(t), dir: t.TempDir(), pki: newTestPKI(t, spec.revoked...)}
	acl := filepath.Join(m.dir, "site.acl")
	if err := os.WriteFile(acl, []byte(pki.MosquittoACL("the hil test broker", spec.rules())), 0o644); err != nil {
		t.Fatal(err)
	}
	cert, key := m.pki.files("broker")
	user := ""
	if os.Geteuid() == 0 {
		user = "# Run as root (CI): stay root, to read the test's 0600 files.\nuser root\n"
	}
	// The queues are unbounded (0): these tests count every message, and the bounds of
	// configs/mosquitto.conf are shown by the broker's own tests and benchmarks.
	conf := fmt.Sprintf(`per_listener_settings false
allow_anonymous false
%slistener %d 127.0.0.1
cafile %s
certfile %s
keyfile %s
crlfile %s
require_certificate true
use_identity_as_username true
acl_file %s
max_packet_size %d
persistence true
persistence_location %s/
autosave_interval 1
max_queued_messages 0
max_inflight_messages 0
max_queued_bytes 0
set_tcp_nodelay true
log_dest file %s/mosquitto.log
`, user, m.Port, m.pki.CA(), cert, key, filepath.Join(m.pki.dir, pki.CRLFile), acl, broker.DefaultMaxPacketSize, m.dir, m.dir)
	if err := os.WriteFile(filepath.Join(m.dir, "mosquitto.conf"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	m.start()
	t.Cleanup(m.stop)
	return m
}

func (m *Mosquitto) start() {
	m.t.Helper()
	m.cmd = exec.Command(mosquittoPath(m.t), "-c", filepath.Join(m.dir, "mosquitto.conf"))
	var stderr bytes.Buffer
	m.cmd.Stderr = &stderr
	if err := m.cmd.Start(); err != nil {
		m.t.Fatal(err)
	}
	exited := make(chan struct{})
	m.exited = exited
	cmd := m.cmd
	go func() { cmd.Wait(); close(exited) }()
	waitFor(m.t, 20*time.Second, "mosquitto to listen", func() (bool, string) {
		select {
		case <-exited:
			m.t.Fatalf("mosquitto exited at start: %s%s", stderr.String(), m.Log())
		default:
		}
		c, err := net.Dial("tcp", m.Addr())
		if err != nil {
			return false, err.Error()
		}
		c.Close()
		return true, ""
	})
}

// stop shuts the broker down gracefully (it saves its sessions and retained messages).
func (m *Mosquitto) stop() {
	if m.cmd == nil || m.cmd.Process == nil {
		return
	}
	m.cmd.Process.Signal(syscall.SIGTERM)
	<-m.exited
	m.cmd = nil
}

// Restart stops the broker and starts it again on the same port and persistence file.
func (m *Mosquitto) Restart() {
	m.stop()
	m.start()
}

// Reload asks the broker to read its configuration, ACL and revocation list again
// (SIGHUP, as systemctl reload does).
func (m *Mosquitto) Reload() {
	if m.cmd != nil && m.cmd.Process != nil {
		m.cmd.Process.Signal(syscall.SIGHUP)
	}
}

// Addr is the broker's host:port.
func (m *Mosquitto) Addr() string { return "127.0.0.1:" + strconv.Itoa(m.Port) }

// URL is the broker's MQTT URL.
func (m *Mosquitto) URL() string { return "tls://" + m.Addr() }

// PKI is the broker's CA.
func (m *Mosquitto) PKI() *testPKI { return m.pki }

// Log is what the broker has logged so far.
func (m *Mosquitto) Log() string {
	b, _ := os.ReadFile(filepath.Join(m.dir, "mosquitto.log"))
	return string(b)
}

// Proc is an apedge process.
type Proc struct {
	t    testing.TB
	name string
	args []string
	cmd  *exec.Cmd
	log  string
	done chan error
}

// startProc runs `apedge args...` with stderr appended to a log file in dir; the process
// is stopped at the end of the test.
func startProc(t testing.TB, dir, name string, args ...string) *Proc {
	t.Helper()
	p := &Proc{t: t, name: name, args: args, log: filepath.Join(dir, name+".log")}
	p.Start()
	t.Cleanup(func() {
		p.Stop()
		if t.Failed() {
			t.Logf("--- %s log (last 60 lines) ---\n%s", name, tail(p.Log(), 60))
		}
	})
	return p
}

// Start (re)starts the process.
func (p *Proc) Start() {
	p.t.Helper()
	f, err := os.OpenFile(p.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		p.t.Fatal(err)
	}
	p.cmd = exec.Command(apedgeBin, p.args...)
	p.cmd.Stdout, p.cmd.Stderr = f, f
	if err := p.cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	f.Close()
	p.done = make(chan error, 1)
	cmd := p.cmd
	go func() { p.done <- cmd.Wait() }()
}

// Kill sends SIGKILL and waits for the process to die.
func (p *Proc) Kill() {
	if p.cmd == nil {
		return
	}
	p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
	p.cmd = nil
}

// Stop sends SIGTERM and waits (up to 30s, then SIGKILL); it returns the exit error.
func (p *Proc) Stop() error {
	if p.cmd == nil {
		return nil
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	var err error
	select {
	case err = <-p.done:
	case <-time.After(30 * time.Second):
		p.cmd.Process.Signal(syscall.SIGKILL)
		err = <-p.done
		err = fmt.Errorf("%s did not stop on SIGTERM within 30s: %v", p.name, err)
	}
	p.cmd = nil
	return err
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Log returns what the process wrote so far.
func (p *Proc) Log() string {
	b, _ := os.ReadFile(p.log)
	return string(b)
}

// Site is one AP's files: key, agent and central configuration.
type Site struct {
	Code       string
	Dir        string
	Key        *sitekey.Private
	AgentYAML  string
	CentralYAM string
	AgentDB    string
	// CentralDB is central's store: an SQLite file, or a PostgreSQL URL.
	CentralDB string
	PubPath   string
}

// siteOptions vary a test site's configuration.
type siteOptions struct {
	extraTrust []*sitekey.Private // more sites central trusts
	gapAlarm   time.Duration
	roster     string // the agent's roster entries, YAML lines; a default resident if empty
	// central is where central stores and how it receives; SQLite and one receiver
	// if zero.
	central centralSetup
}

// centralSetup is how central runs: its store and how many receivers share it.
type centralSetup struct {
	name      string
	postgres  bool // store in a fresh PostgreSQL database, not an SQLite file
	receivers int  // central processes sharing the subscription (share group); 1 if 0
}

// centralSetups are the configurations the spine's exactly-once tests run in.
var centralSetups = []centralSetup{
	{name: "sqlite"},
	{name: "postgres-3-receivers", postgres: true, receivers: 3},
}

// Centrals are the central receivers of a site, run as separate processes.
type Centrals []*Proc

// startCentrals starts the site's central receivers (one unless its setup says more),
// each stopped at the end of the test.
func startCentrals(t testing.TB, s *Site, o siteOptions) Centrals {
	t.Helper()
	n := max(o.central.receivers, 1)
	var cs Centrals
	for i := range n {
		name := "central"
		if n > 1 {
			name = fmt.Sprintf("central-%d", i+1)
		}
		cs = append(cs, startProc(t, s.Dir, name, "central", "-config", s.CentralYAM))
	}
	return cs
}

// newSite writes a site's key and configs pointing both bus and central at b, each
// process with its own identity: bridge and agent on the bus, uplink:{code} and
// central on central's side.
func newSite(t testing.TB, code string, b Broker, o siteOptions) *Site {
	t.Helper()
	dir := t.TempDir()
	k, err := sitekey.Generate(code, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, pub, err := sitekey.Write(filepath.Join(dir, "keys"), k)
	if err != nil {
		t.Fatal(err)
	}
	s := &Site{Code: code, Dir: dir, Key: k, PubPath: pub,
		AgentYAML: filepath.Join(dir, "agent.yaml"), CentralYAM: filepath.Join(dir, "central.yaml"),
		AgentDB: filepath.Join(dir, "agent.db"), CentralDB: filepath.Join(dir, "central.db")}
	if o.central.postgres {
		s.CentralDB = pg.Database(t)
	}
	agentYAML := fmt.Sprintf(`site: %s
key: keys/%s.key
database: agent.db
bus: %s
central: %s
curfew: {clockCheck: none}
disk: {minFreeBytes: 1048576} # the low-disk alarm only where a test asks for it
console: {listen: "127.0.0.1:0"}
devices: {bridgeConfig: bridge.yaml}
roster:
%slog: {level: info}
`, code, code, link(b, "agent"), strings.Replace(link(b, "uplink:"+code), "{broker:", "{resendAfter: 1s, broker:", 1), cmp.Or(o.roster, "  - {crn: X100001, noms: A1001AA, cards: [\"12:10001\"]}\n"))
	trust := fmt.Sprintf("  - {site: %s, pubkey: keys/%s.pub}\n", code, code)
	for _, other := range o.extraTrust {
		_, p, err := sitekey.Write(filepath.Join(dir, "keys"), other)
		if err != nil {
			t.Fatal(err)
		}
		trust += fmt.Sprintf("  - {site: %s, pubkey: %s}\n", other.Site, p)
	}
	gap := o.gapAlarm
	if gap == 0 {
		gap = 30 * time.Second
	}
	centralYAML := fmt.Sprintf("database: '%s'\nbroker: %s\ngapAlarmAfter: %s\ntrust:\n%slog: {level: info}\n", s.CentralDB, link(b, "central"), gap, trust)
	if o.central.receivers > 1 {
		centralYAML += "shareGroup: apedge-central\n"
	}
	// The site's devices, as the agent takes them from the bridge's configuration: a
	// test that runs a bridge of other devices writes its own bridge.yaml before it
	// starts the agent.
	bridgeYAML := fmt.Sprintf(`site: %s
stateDir: bridge-state
bus: %s
osdp:
  - port: /dev/null
    readers:
      - {id: front-in, address: 1, insecure: true}
      - {id: front-out, address: 2, insecure: true}
doors:
  - {id: front, entryReader: front-in, exitReader: front-out}
`, code, link(b, "bridge"))
	for path, body := range map[string]string{s.AgentYAML: agentYAML, s.CentralYAM: centralYAML, filepath.Join(dir, "bridge.yaml"): bridgeYAML} {
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := config.LoadAgent(s.AgentYAML); err != nil {
		t.Fatal(err)
	}
	if _, err := config.LoadCentral(s.CentralYAM); err != nil {
		t.Fatal(err)
	}
	return s
}

// journalEntries reads the agent's journal from its database (read-only, so it works
// while the agent runs or after it was killed).
func (s *Site) journalEntries(t testing.TB) []journal.Entry {
	t.Helper()
	if _, err := os.Stat(s.AgentDB); err != nil {
		return nil
	}
	es, err := journal.ReadAll(context.Background(), s.AgentDB)
	if err != nil && strings.Contains(err.Error(), "no such table") {
		return nil // the agent is still creating its schema
	}
	if err != nil {
		t.Fatalf("read journal: %v", err)
	}
	return es
}

// stored is how many events central has stored for the site.
func (s *Site) stored(t testing.TB) int64 {
	t.Helper()
	if _, err := os.Stat(s.CentralDB); err != nil && !central.IsPostgres(s.CentralDB) {
		return 0
	}
	n, err := central.StoredCount(context.Background(), s.CentralDB, s.Code)
	if err != nil && central.IsPostgres(s.CentralDB) && strings.Contains(err.Error(), "does not exist") {
		return 0 // no central has made the schema yet
	}
	if err != nil {
		return -1
	}
	return n
}

// export returns central's export of the site.
func (s *Site) export(t testing.TB) []byte {
	t.Helper()
	var buf bytes.Buffer
	if _, err := central.Export(context.Background(), s.CentralDB, s.Code, &buf); err != nil {
		t.Fatalf("export: %v", err)
	}
	return buf.Bytes()
}

// checkDelivered asserts the core guarantee: central holds exactly the agent's journal,
// byte for byte, seq 1..N with no holes and nothing twice, and it verifies offline.
func (s *Site) checkDelivered(t testing.TB) []journal.Entry {
	t.Helper()
	var entries []journal.Entry
	var exp []byte
	var lines [][]byte
	// Read the journal, then central's export: equal lengths mean central had all of
	// it; if an event was journaled in between, look again.
	waitFor(t, 120*time.Second, "central to store every journaled event", func() (bool, string) {
		entries = s.journalEntries(t)
		if n := s.stored(t); n != int64(len(entries)) {
			return false, fmt.Sprintf("central %d, journal %d", n, len(entries))
		}
		exp = s.export(t)
		lines = bytes.Split(bytes.TrimSuffix(exp, []byte("\n")), []byte("\n"))
		return len(lines) == len(entries), fmt.Sprintf("export has %d lines, journal %d entries", len(lines), len(entries))
	})
	for i, e := range entries {
		if e.Seq != uint64(i+1) {
			t.Fatalf("journal entry %d has seq %d: hole or repeat", i, e.Seq)
		}
		if !bytes.Equal(lines[i], e.Envelope) {
			t.Fatalf("seq %d: central's envelope differs from the journal's", e.Seq)
		}
	}
	pub, err := sitekey.LoadPublic(s.PubPath, s.Code)
	if err != nil {
		t.Fatal(err)
	}
	res, err := verify.Export(bytes.NewReader(exp), pub)
	if err != nil {
		t.Fatalf("verify export: %v", err)
	}
	if res.Count != len(entries) {
		t.Fatalf("verify counted %d, want %d", res.Count, len(entries))
	}
	return entries
}

// deviceSeqs maps each card-read's bridge boot and seq, as recorded in the journaled
// event's evidence, to how many times it was journaled.
func deviceSeqs(t testing.TB, entries []journal.Entry) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, e := range entries {
		ev := parseEntry(t, e)
		if !strings.HasPrefix(ev.Type, event.TypePrefix+"movement.") {
			continue
		}
		var info struct {
			Reader string `json:"reader"`
			Device struct {
				Boot string `json:"boot"`
				Seq  uint64 `json:"seq"`
			} `json:"device"`
		}
		if err := json.Unmarshal(ev.Data.AdditionalInformation, &info); err != nil {
			t.Fatalf("seq %d: %v", e.Seq, err)
		}
		out[fmt.Sprintf("%s/%s/%d", info.Reader, info.Device.Boot, info.Device.Seq)]++
	}
	return out
}

func parseEntry(t testing.TB, e journal.Entry) *event.Event {
	t.Helper()
	var env struct {
		Payload []byte `json:"payload"`
	}
	if err := json.Unmarshal(e.Envelope, &env); err != nil {
		t.Fatal(err)
	}
	ev, err := event.Parse(env.Payload)
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

// busDriver publishes card reads on the site bus exactly as the bridge does, with the
// bridge's identity, and remembers which ones the broker accepted (those must reach
// central exactly once).
type busDriver struct {
	t      testing.TB
	pub    *sitebus.Publisher
	client mqtt.Client
	reader string

	mu       sync.Mutex
	accepted map[string]bool
}

func newBusDriver(t testing.TB, site string, b Broker, reader string) *busDriver {
	t.Helper()
	d := &busDriver{t: t, reader: reader, accepted: map[string]bool{}}
	c, err := mqttclient.New(mqttclient.Options{Link: mqttLink(b, "hil-bridge-"+reader, "bridge"), CleanSession: true,
		OnLost: func(error) { d.pub.ConnectionLost() }}) // as the bridge does
	if err != nil {
		t.Fatal(err)
	}
	d.client = c
	d.pub = sitebus.NewPublisher(c, site, fmt.Sprintf("hil%d", time.Now().UnixNano()), nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := mqttclient.Connect(ctx, c); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Disconnect(100) })
	return d
}

// read publishes one card read and reports whether the broker accepted it.
func (d *busDriver) read(ctx context.Context, card string) bool {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	m, err := d.pub.Publish(ctx, sitebus.ClassReader, d.reader, sitebus.KindEvent, "card-read", sitebus.CardRead{
		Door: "front", Direction: "entry", Credential: sitebus.Credential{Kind: "card", Number: card, Format: "raw"}, Granted: true,
	})
	if err != nil {
		return false
	}
	d.mu.Lock()
	d.accepted[fmt.Sprintf("%s/%s/%d", d.reader, m.Boot, m.Seq)] = true
	d.mu.Unlock()
	return true
}

// run publishes reads every interval until ctx ends; it returns when it has stopped.
func (d *busDriver) run(ctx context.Context, interval time.Duration) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		tk := time.NewTicker(interval)
		defer tk.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tk.C:
				d.read(ctx, "10001")
			}
		}
	}()
	return done
}

// checkAccepted asserts every read the broker accepted was journaled exactly once.
func (d *busDriver) checkAccepted(t testing.TB, entries []journal.Entry) {
	t.Helper()
	if lost := d.lostAccepted(t, entries); lost > 0 {
		t.Fatalf("%d of %d accepted reads missing", lost, d.count())
	}
}

// lostAccepted checks that no read was journaled twice and returns how many reads the
// broker accepted that were never journaled.
func (d *busDriver) lostAccepted(t testing.TB, entries []journal.Entry) int {
	t.Helper()
	got := deviceSeqs(t, entries)
	d.mu.Lock()
	defer d.mu.Unlock()
	missing := 0
	for k := range d.accepted {
		if got[k] == 0 {
			missing++
			if missing < 5 {
				t.Logf("read %s was accepted by the broker but never journaled", k)
			}
		}
	}
	for k, n := range got {
		if n > 1 {
			t.Errorf("read %s journaled %d times", k, n)
		}
	}
	return missing
}

func (d *busDriver) count() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.accepted)
}
