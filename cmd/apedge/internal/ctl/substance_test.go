package ctl

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/apedge/apedge/agent"
	"github.com/apedge/apedge/agent/console"
	"github.com/apedge/apedge/agent/eventindex"
	"github.com/apedge/apedge/agent/staff"
	"github.com/apedge/apedge/cmd/apedge/internal/clitest"
	devsubstance "github.com/apedge/apedge/devices/substance"
	bridge "github.com/apedge/apedge/firmware-bridge"
	"github.com/apedge/apedge/formats/sitekey"
	"github.com/apedge/apedge/internal/broker/brokertest"
	"github.com/apedge/apedge/internal/clock/clocktest"
	"github.com/apedge/apedge/internal/config"
	"github.com/apedge/apedge/internal/testlog"
	"github.com/apedge/apedge/internal/wait"
)

// The responses ctl substance decodes (registered beside the command, so that
// TestCtlReadsOnlyTheContract checks them).
func init() {
	ctlContract["substance"] = []decodes{
		{method: "GET", path: "/api/v1/substance", status: 200, doc: substanceDoc{}},
		{method: "POST", path: "/api/v1/substance/tests", status: 201, doc: testDoc{}},
		{method: "GET", path: "/api/v1/substance/tests/{id}", status: 200, doc: resultDoc{}},
		{method: "POST", path: "/api/v1/substance/tests/{id}/refusal", status: 200, doc: testDoc{}},
		{method: "POST", path: "/api/v1/substance/tests/{id}/urine", status: 200, doc: testDoc{}},
		{method: "POST", path: "/api/v1/substance/tests/{id}/seal", status: 200, doc: testDoc{}},
		{method: "POST", path: "/api/v1/substance/tests/{id}/custody", status: 200, doc: testDoc{}},
		{method: "POST", path: "/api/v1/substance/tests/{id}/lab", status: 200, doc: testDoc{}},
		{method: "POST", path: "/api/v1/substance/tests/{id}/close", status: 200, doc: testDoc{}},
	}
}

// ctlSubstanceJSON is GET /api/v1/substance with what the agent's own site rarely
// shows at once: a tester offline, an open test whose reading was invalid, a test
// closed by an invalid reading, a test waiting on its laboratory too long and a
// reading that matched no test.
const ctlSubstanceJSON = `{
 "testers":[
  {"id":"breath-1","kind":"breath-alcohol","status":{"online":true,"kind":"breath-alcohol","serial":"ARC-0001","firmware":"2.1","calibrationDue":"2026-12-01","selfCheck":"pass","simulated":true},"busy":"T-3"},
  {"id":"oral-1","kind":"oral-fluid","status":{"online":false,"kind":"oral-fluid","serial":"DT5-77","calibrationDue":"2026-05-01","selfCheck":"fail","lastError":"no answer on /dev/ttyUSB1"}},
  {"id":"oral-2","kind":"oral-fluid","status":null}],
 "open":[
  {"id":"T-3","crn":"X100001","person":{"crn":"X100001","name":"Brian Baker","room":"5","label":"Brian Baker (room 5)"},"reason":"random","sampleType":"breath","device":"breath-1",
   "staff":"kim","witness":"Sam Staff","startedAt":"2026-06-10T11:00:00Z","state":"awaiting-sample","sampled":false,"custody":[]},
  {"id":"T-4","crn":"X100002","person":{"crn":"X100002","name":"","room":"","label":"X100002"},"reason":"suspicion","sampleType":"oral-fluid","device":"oral-1",
   "authorisation":{"ref":"AUTH-7","manager":"Mo Manager","from":"2026-06-01T00:00:00Z","to":"2026-06-30T22:59:59Z"},
   "staff":"kim","witness":"Sam Staff","startedAt":"2026-06-10T11:05:00Z","state":"awaiting-confirmation","sampled":true,"valid":false,
   "invalidReasons":["cassette expired on 2026-06-07","calibration was due on 2026-05-01"],"custody":[]}],
 "recent":[
  {"id":"T-2","crn":"X100001","person":{"crn":"X100001","name":"Brian Baker","room":"5","label":"Brian Baker (room 5)"},"reason":"random","sampleType":"breath","device":"breath-1",
   "staff":"kim","witness":"Sam Staff","startedAt":"2026-06-10T10:00:00Z","state":"closed","sampled":true,"valid":false,
   "invalidReasons":["the device's self-check failed"],"custody":[],"closedAt":"2026-06-10T10:02:00Z"}],
 "awaitingLab":[
  {"id":"T-1","crn":"X100002","person":{"crn":"X100002","name":"","room":"","label":"X100002"},"reason":"suspicion","sampleType":"urine",
   "staff":"kim","witness":"Sam Staff","startedAt":"2026-05-20T09:00:00Z","state":"awaiting-confirmation","sampled":true,"valid":true,"seal":"SEAL-0042",
   "custody":[{"testId":"T-1","crn":"X100002","sampleType":"urine","stage":"dispatched","by":"kim","at":"2026-05-20T10:00:00Z"}],"dispatchedAt":"2026-05-20T10:00:00Z"}],
 "unbound":[{"device":"oral-1","serial":"DT5-77","testNumber":12,"measuredAt":"2026-06-10T10:40:00Z","why":"no test awaits a sample at oral-1","at":"2026-06-10T10:40:05Z"}],
 "authorisations":[{"ref":"AUTH-7","manager":"Mo Manager","from":"2026-06-01T00:00:00Z","to":"2026-06-30T22:59:59Z"}],
 "breathLimitUgPer100ml":9,"bindWindowMinutes":10,"canSeeResults":true}`

// TestCtlSubstanceList: the overview's tables, each figure in its column, in UK time.
func TestCtlSubstanceList(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/substance", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.Header.Get("Authorization") != "Bearer "+ctlTestToken {
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"error":"sign in first: no session"}`)
			return
		}
		io.WriteString(w, ctlSubstanceJSON)
	})
	srv := httptest.NewServer(contractChecker(t, mux, nil))
	t.Cleanup(srv.Close)
	tok := clitest.WriteFile(t, t.TempDir(), "token", ctlTestToken+"\n", 0o600)
	flags := []string{"-url", srv.URL, "-token-file", tok}

	for _, args := range [][]string{{"substance"}, {"substance", "list"}} {
		r := ctl(t, "", append(args, flags...)...)
		if r.Code != 0 || r.Stderr != "" {
			t.Fatalf("%v: exit %d\n%s%s", args, r.Code, r.Stdout, r.Stderr)
		}
		got := columns(r.Stdout)
		for _, want := range []string{
			"TESTER|KIND|STATUS|SERIAL|CALIBRATION DUE|SELF-CHECK|AWAITING",
			"breath-1|breath-alcohol|online (simulated)|ARC-0001|2026-12-01|pass|T-3",
			"oral-1|oral-fluid|OFFLINE: no answer on /dev/ttyUSB1|DT5-77|2026-05-01|FAIL|-",
			"oral-2|oral-fluid|not reported|-|-|-|-",
			"OPEN TEST|RESIDENT|SAMPLE|REASON|DEVICE|STATE|STARTED|STAFF|WITNESS|READING",
			// BST in June: 11:00Z is 12:00 in London.
			"T-3|Brian Baker (room 5), X100001|breath|random|breath-1|awaiting-sample|2026-06-10 12:00|kim|Sam Staff|-",
			"T-4|X100002|oral-fluid|suspicion|oral-1|awaiting-confirmation|2026-06-10 12:05|kim|Sam Staff|" +
				"INVALID: cassette expired on 2026-06-07; calibration was due on 2026-05-01",
			"CLOSED (12 H)|RESIDENT|SAMPLE|DEVICE|STARTED|CLOSED|READING",
			"T-2|Brian Baker (room 5), X100001|breath|breath-1|2026-06-10 11:00|2026-06-10 11:02|INVALID: the device's self-check failed",
			"AWAITING A LABORATORY|RESIDENT|SAMPLE|SEAL|DISPATCHED",
			"T-1|X100002|urine|SEAL-0042|2026-05-20 11:00",
			"UNBOUND READING AT|SERIAL|TEST NO|MEASURED|RECEIVED|WHY IT MATCHED NO TEST",
			"oral-1|DT5-77|12|2026-06-10 11:40|2026-06-10 11:40|no test awaits a sample at oral-1",
			"authorisation in force: AUTH-7 (Mo Manager) from 2026-06-01 01:00 to 2026-06-30 23:59",
			"breath limit 9 µg/100 ml; a reading with no test id is bound to its device's test started up to 10 min before",
		} {
			if !contains(got, want) {
				t.Errorf("%v: no line %q in\n%s", args, want, strings.Join(got, "\n"))
			}
		}
	}

	r := ctl(t, "", append([]string{"substance", "-json"}, flags...)...)
	if r.Code != 0 || len(clitest.Lines(r.Stdout)) != 1 {
		t.Fatalf("-json: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	var got, sent any
	if err := json.Unmarshal([]byte(r.Stdout), &got); err != nil {
		t.Fatal(err)
	}
	json.Unmarshal([]byte(ctlSubstanceJSON), &sent)
	if !reflect.DeepEqual(got, sent) {
		t.Errorf("-json printed %s, want the agent's document", r.Stdout)
	}
}

// TestCtlSubstanceUsage: what is refused before anything is sent.
func TestCtlSubstanceUsage(t *testing.T) {
	tok := clitest.WriteFile(t, t.TempDir(), "token", ctlTestToken+"\n", 0o600)
	flags := []string{"-url", "http://127.0.0.1:1", "-token-file", tok} // nothing is sent
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"substance", "begin"}, `apedge ctl substance: unknown subcommand "begin"`},
		{[]string{"substance", "start", "-crn", "X100001", "-reason", "random", "-sample", "breath", "-device", "breath-1"}, "apedge ctl substance start: -witness is required"},
		{[]string{"substance", "start", "-crn", "X100002", "-reason", "random", "-sample", "urine", "-witness", "Sam", "-auth-ref", "AUTH-7"},
			"apedge ctl substance start: an authorisation is all of -auth-ref, -auth-manager, -auth-from and -auth-to"},
		{[]string{"substance", "start", "-crn", "X100002", "-reason", "random", "-sample", "urine", "-witness", "Sam",
			"-auth-ref", "A", "-auth-manager", "M", "-auth-from", "last week", "-auth-to", "2026-07-01"}, "apedge ctl substance start: -auth-from: \"last week\" is not a time"},
		{[]string{"substance", "result"}, "apedge ctl substance result: -test is required"},
		{[]string{"substance", "urine", "-test", "T-1", "-lot", "L", "-expiry", "2026-12-31"}, "apedge ctl substance urine: -panel is required"},
		{[]string{"substance", "urine", "-test", "T-1", "-lot", "L", "-expiry", "2026-12-31", "-panel", "thc"}, `"thc": want NAME=VALUE`},
		{[]string{"substance", "urine", "-test", "T-1", "-lot", "L", "-expiry", "2026-12-31", "-panel", "thc=negative", "-panel", "thc=non-negative"}, "panel thc given twice"},
		{[]string{"substance", "lab", "-test", "T-1"}, "give each analyte the laboratory reported"},
		{[]string{"substance", "lab", "-test", "T-1", "-confirmed", "cocaine=LC-MS/MS", "-not-confirmed", "cocaine=GC-MS"}, "analyte cocaine given twice"},
		{[]string{"substance", "refuse", "-test", "T-1", "-kind", "refused"}, "apedge ctl substance refuse: -witness is required"},
		{[]string{"substance", "list", "now"}, `apedge ctl substance list: unexpected argument "now"`},
	} {
		r := ctl(t, "", append(tc.args, flags...)...)
		if r.Code != 2 || !strings.Contains(r.Stderr, tc.want) || r.Stdout != "" {
			t.Errorf("%v: exit %d %q %q, want usage error with %q", tc.args, r.Code, r.Stdout, r.Stderr, tc.want)
		}
	}
	if r := ctl(t, "", "substance", "-h"); r.Code != 0 || !strings.Contains(r.Stdout, "staff.substance-result-viewed") {
		t.Errorf("substance -h: exit %d %q", r.Code, r.Stdout)
	}
	if got := authEndOf(t, "2026-06-30"); got != "2026-06-30T22:59:59Z" {
		t.Errorf("-auth-to 2026-06-30 is %s, want the last second of 30 June, UK time", got)
	}
	if got := authEndOf(t, "2026-12-31 18:00"); got != "2026-12-31T18:00:00Z" {
		t.Errorf("-auth-to 2026-12-31 18:00 is %s", got)
	}
}

func authEndOf(t *testing.T, s string) string {
	t.Helper()
	v, err := authEnd(s)
	if err != nil {
		t.Fatalf("authEnd(%q): %v", s, err)
	}
	return v
}

// hasLinePrefix says whether a line of lines starts with prefix.
func hasLinePrefix(lines []string, prefix string) bool {
	for _, l := range lines {
		if strings.HasPrefix(l, prefix) {
			return true
		}
	}
	return false
}

// columns is the lines of a table, each split on its runs of two or more spaces and
// joined with "|".
func columns(out string) []string {
	var got []string
	for _, l := range clitest.Lines(out) {
		got = append(got, strings.Join(splitColumns(l), "|"))
	}
	return got
}

// substanceSite is a running site for ctl substance: an embedded broker, a real
// bridge with simulated substance testers (breath-1, oral-1), the agent on a test
// clock and its console over HTTP, every answer checked against openapi.yaml.
type substanceSite struct {
	url    string
	clock  *clocktest.Clock
	bridge *bridge.Bridge
}

const substanceSiteTimeout = 30 * time.Second

// substanceNoon is a quiet hour on a quiet day: no curfew window is near.
var substanceNoon = time.Date(2026, 6, 10, 11, 0, 0, 0, time.UTC)

const substanceAgentYAML = `site: MAN1
key: keys/MAN1.key
database: agent.db
bus: {broker: %[1]s}
central: {broker: %[1]s}
curfew: {clockCheck: none}
disk: {minFreeBytes: 1048576}
devices: {bridgeConfig: bridge.yaml}
roster:
  - {crn: X100001, noms: A1001AA, name: Resident One, cards: ["12:10001"]}
  - {crn: X100002, name: Resident Two, cards: ["12:10002"]}
`

const substanceBridgeYAML = `site: MAN1
stateDir: bridge-state
bus: {broker: %s}
osdp:
  - port: simulated
    baud: 115200
    readers:
      - {id: front-in, address: 1, insecure: true}
      - {id: front-out, address: 2, insecure: true}
doors:
  - {id: front, entryReader: front-in, exitReader: front-out, lock: {mode: fail-safe}, heldOpenAfter: 30s}
substanceTesters:
  - {id: breath-1, kind: breath-alcohol, port: simulated, name: office}
  - {id: oral-1, kind: oral-fluid, port: simulated, name: office}
simulate: {quiet: true}
`

// substancePassword is every account's password on the site.
const substancePassword = "correct horse battery"

func newSubstanceSite(t *testing.T) *substanceSite {
	t.Helper()
	return newSubstanceSiteWith(t, "")
}

// newSubstanceSiteWith is newSubstanceSite with bridgeExtra added to the bridge's
// configuration (and so to the agent's devices).
func newSubstanceSiteWith(t *testing.T, bridgeExtra string) *substanceSite {
	t.Helper()
	dir := t.TempDir()
	s := &substanceSite{clock: clocktest.Running(substanceNoon)} // the doors time themselves
	log := testlog.New(t)
	brk := brokertest.Start(t)
	key, err := sitekey.Generate("MAN1", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err = sitekey.Write(filepath.Join(dir, "keys"), key); err != nil {
		t.Fatal(err)
	}
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	bcfg, err := config.LoadBridge(write("bridge.yaml", fmt.Sprintf(substanceBridgeYAML, brk.URL())+bridgeExtra))
	if err != nil {
		t.Fatal(err)
	}
	acfg, err := config.LoadAgent(write("agent.yaml", fmt.Sprintf(substanceAgentYAML, brk.URL())))
	if err != nil {
		t.Fatal(err)
	}
	a, err := agent.New(t.Context(), acfg, log, agent.WithClock(s.clock))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	st, err := staff.Open(t.Context(), filepath.Join(dir, "staff.db"), staff.Options{Clock: s.clock,
		Hashing: staff.Hashing{Time: 1, MemoryKiB: 64, Threads: 1}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	idx, err := eventindex.Open(t.Context(), eventindex.Path(acfg.Database), a.Journal(), log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { idx.Close() })
	srv, err := console.New(console.Options{Site: a, Index: idx, Staff: st, Logger: log, Clock: s.clock})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(contractChecker(t, srv.Handler(), nil))
	t.Cleanup(hs.Close)
	s.url = hs.URL
	runUntilEnd(t, "agent", a.Run)
	runUntilEnd(t, "index", idx.Run)
	s.bridge = bridge.New(bcfg, log, bridge.WithClock(s.clock))
	runUntilEnd(t, "bridge", s.bridge.Run)
	select {
	case <-s.bridge.Ready():
	case <-time.After(substanceSiteTimeout):
		t.Fatal("bridge not ready")
	}
	for _, r := range []staff.Role{staff.RoleKeyworker, staff.RoleSecurity} {
		if _, err := st.Add(t.Context(), string(r)+"-1", r, substancePassword); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// runUntilEnd runs f until the test ends, then checks it returned no error.
func runUntilEnd(t *testing.T, name string, f func(context.Context) error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("%s: %v", name, err)
			}
		case <-time.After(substanceSiteTimeout):
			t.Errorf("%s did not stop", name)
		}
	})
}

// as signs user in with ctl login and returns a function that runs ctl as them.
func (s *substanceSite) as(t *testing.T, user string) func(args ...string) clitest.Result {
	t.Helper()
	tok := filepath.Join(t.TempDir(), "token")
	flags := []string{"-url", s.url, "-token-file", tok}
	if r := ctl(t, substancePassword+"\n", append([]string{"login", "-user", user}, flags...)...); r.Code != 0 {
		t.Fatalf("login as %s\n%v", user, r)
	}
	return func(args ...string) clitest.Result {
		t.Helper()
		return ctl(t, "", append(args, flags...)...)
	}
}

// overview is the site's substance overview as ctl substance -json prints it.
func overview(t *testing.T, run func(args ...string) clitest.Result) substanceDoc {
	t.Helper()
	r := run("substance", "-json")
	var v substanceDoc
	if r.Code != 0 || json.Unmarshal([]byte(r.Stdout), &v) != nil {
		t.Fatalf("substance -json\n%v", r)
	}
	return v
}

// wantLines fails unless every line of want is among the table lines of r's output.
func wantLines(t *testing.T, r clitest.Result, want ...string) {
	t.Helper()
	if r.Code != 0 || r.Stderr != "" {
		t.Fatalf("exit %d\n%v", r.Code, r)
	}
	got := columns(r.Stdout)
	for _, w := range want {
		if !contains(got, w) {
			t.Errorf("ctl %s: no line %q in\n%s", strings.Join(r.Args[1:3], " "), w, strings.Join(got, "\n"))
		}
	}
}

// TestCtlSubstanceOnASite works a real agent's substance testing with ctl as a
// keyworker: a breath test whose reading the simulated meter sends through the real
// bridge, its result with the figure in its column; a drug test refused without an
// authorisation, then taken under one, bound by its keyed-in id, through its chain
// of custody to the laboratory; a urine cup past its expiry; a refusal; a test
// closed; a reading no test awaits. A security user is refused with the agent's
// words.
func TestCtlSubstanceOnASite(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a site")
	}
	s := newSubstanceSite(t)
	kw, sec := s.as(t, "keyworker-1"), s.as(t, "security-1")
	breath, oral := s.bridge.Sim().SubstanceTester("breath-1"), s.bridge.Sim().SubstanceTester("oral-1")
	due := substanceNoon.AddDate(0, 0, 180).Format(time.DateOnly) // the simulators' calibration
	cutoffs := devsubstance.DefaultOralFluidCutoffs()
	wait.For(t, substanceSiteTimeout, "the testers online", func() (bool, string) {
		r := kw("substance")
		got := columns(r.Stdout)
		return contains(got, "breath-1|breath-alcohol|online (simulated)|"+breath.Serial()+"|"+due+"|pass|-") &&
			contains(got, "oral-1|oral-fluid|online (simulated)|"+oral.Serial()+"|"+due+"|pass|-"), r.Stdout
	})

	// Security may not test: the agent says so, and ctl prints it as it comes.
	start := []string{"substance", "start", "-crn", "X100001", "-reason", "random", "-sample", "breath", "-device", "breath-1", "-witness", "Sam Staff"}
	clitest.WantOneLine(t, sec(start...), 1, "apedge ctl: 403: role security may not POST /api/v1/substance/tests")
	clitest.WantOneLine(t, sec("substance"), 1, "apedge ctl: 403: role security may not GET /api/v1/substance")

	// A breath test, its reading bound by the window.
	r := kw(start...)
	if r.Code != 0 || r.Stdout != "started: test T-1, breath test of Resident One, X100001 (random) at breath-1, now awaiting-sample\n" {
		t.Fatalf("start\n%v", r)
	}
	wantLines(t, kw("substance"),
		"breath-1|breath-alcohol|online (simulated)|"+breath.Serial()+"|"+due+"|pass|T-1",
		"T-1|Resident One, X100001|breath|random|breath-1|awaiting-sample|2026-06-10 12:00|keyworker-1|Sam Staff|-")
	r = kw(start...)
	clitest.WantOneLine(t, r, 1, "apedge ctl: 409: substance: the device has an open test: breath-1 already has test T-1")
	if err := breath.Breath(31, ""); err != nil {
		t.Fatal(err)
	}
	wait.For(t, substanceSiteTimeout, "T-1's reading bound", func() (bool, string) {
		v := overview(t, kw)
		return len(v.Open) == 0, fmt.Sprintf("%+v", v.Open)
	})
	clitest.WantOneLine(t, sec("substance", "result", "-test", "T-1"), 1, "apedge ctl: 403: role security may not GET /api/v1/substance/tests/T-1")
	r = kw("substance", "result", "-test", "T-1")
	wantLines(t, r,
		"test T-1: breath test of Resident One, X100001 (random)",
		"started|2026-06-10 12:00 by keyworker-1, witness Sam Staff",
		"state|closed",
		"outcome|NON-NEGATIVE",
		"validity|valid",
		"calibration|due "+due+" (in-date)",
		"self-check|pass",
		"PANEL|RESULT|MEASURED|CUT-OFF",
		"alcohol|NON-NEGATIVE|31 µg/100 ml|9 µg/100 ml",
		"this view of the result is recorded in the audit log")
	if !strings.Contains(r.Stdout, "breath-1, serial "+breath.Serial()+", firmware sim-1.0, test number 1, measured 2026-06-10 12:") ||
		!strings.Contains(r.Stdout, "(bound: window)") {
		t.Errorf("result lacks the device's figures or how the reading was bound\n%s", r.Stdout)
	}
	wait.For(t, substanceSiteTimeout, "the view in the audit log", func() (bool, string) {
		r := kw("audit")
		return strings.Contains(r.Stdout, "staff.substance-result-viewed"), r.Stdout
	})
	r = kw("-json", "substance", "result", "-test", "T-1")
	var doc map[string]any
	if r.Code != 0 || json.Unmarshal([]byte(r.Stdout), &doc) != nil || doc["outcome"] != "non-negative" {
		t.Errorf("result -json\n%v", r)
	}

	// A drug test needs the manager's authorisation: refused with the agent's words.
	drug := []string{"substance", "start", "-crn", "X100002", "-reason", "suspicion", "-sample", "oral-fluid", "-device", "oral-1", "-witness", "Sam Staff"}
	clitest.WantOneLine(t, kw(drug...), 1,
		"apedge ctl: 422: substance: no authorisation in force: a drug test (oral-fluid) needs the manager's s.13A authorisation it rests on: its reference, manager and period")
	auth := []string{"-auth-ref", "AUTH-7", "-auth-manager", "Mo Manager", "-auth-from", "2026-06-01", "-auth-to", "2026-06-30"}
	lapsed := []string{"-auth-ref", "AUTH-6", "-auth-manager", "Mo Manager", "-auth-from", "2026-05-01", "-auth-to", "2026-05-31"}
	clitest.WantOneLine(t, kw(append(drug, lapsed...)...), 1,
		"apedge ctl: 422: substance: no authorisation in force: authorisation AUTH-6 (Mo Manager) runs from 2026-04-30T23:00:00Z to 2026-05-31T22:59:59Z, not in force at 2026-06-10T11:")
	r = kw(append(append(drug, "-test-id", "OF-1"), auth...)...)
	if r.Code != 0 || r.Stdout != "started: test OF-1, oral-fluid test of Resident Two, X100002 (suspicion) at oral-1, now awaiting-sample\n" {
		t.Fatalf("start a drug test\n%v", r)
	}
	wantLines(t, kw("substance"), "authorisation in force: AUTH-7 (Mo Manager) from 2026-06-01 00:00 to 2026-06-30 23:59")
	if err := oral.OralFluid(map[string]string{"cocaine": "non-negative"}, "OF-1"); err != nil {
		t.Fatal(err)
	}
	wait.For(t, substanceSiteTimeout, "OF-1's reading bound", func() (bool, string) {
		v := overview(t, kw)
		return len(v.Open) == 1 && v.Open[0].State == "awaiting-confirmation", fmt.Sprintf("%+v", v.Open)
	})
	wantLines(t, kw("substance"),
		"oral-1|oral-fluid|online (simulated)|"+oral.Serial()+"|"+due+"|pass|-",
		"OF-1|Resident Two, X100002|oral-fluid|suspicion|oral-1|awaiting-confirmation|2026-06-10 12:00|keyworker-1|Sam Staff|valid")
	clitest.WantOneLine(t, kw("substance", "custody", "-test", "OF-1", "-stage", "dispatched"), 1, "apedge ctl: 409: ")
	for _, step := range []struct {
		args []string
		want string
	}{
		{[]string{"custody", "-test", "OF-1", "-stage", "collected"}, "sample collected: test OF-1"},
		{[]string{"seal", "-test", "OF-1", "-seal", "SEAL-0042"}, "sample sealed: test OF-1"},
		{[]string{"custody", "-test", "OF-1", "-stage", "dispatched"}, "sample dispatched: test OF-1"},
		{[]string{"custody", "-test", "OF-1", "-stage", "received"}, "sample received: test OF-1"},
		{[]string{"lab", "-test", "OF-1", "-confirmed", "cocaine=LC-MS/MS"}, "laboratory result recorded: test OF-1, oral-fluid test of Resident Two, X100002 (suspicion) at oral-1, now closed"},
	} {
		r := kw(append([]string{"substance"}, step.args...)...)
		if r.Code != 0 || !strings.HasPrefix(r.Stdout, step.want) {
			t.Fatalf("substance %v: want %q\n%v", step.args, step.want, r)
		}
	}
	r = kw("substance", "result", "-test", "OF-1")
	wantLines(t, r,
		"authorisation|AUTH-7 (Mo Manager) from 2026-06-01 00:00 to 2026-06-30 23:59",
		"outcome|CONFIRMED",
		"lot|SIMLOT-0001, expires "+substanceNoon.AddDate(1, 0, 0).Format(time.DateOnly),
		"cocaine|NON-NEGATIVE|-|"+number(cutoffs["cocaine"])+" ng/ml",
		"thc|negative|-|"+number(cutoffs["thc"])+" ng/ml",
		"CUSTODY|SEAL|BY|AT",
		"collected|-|keyworker-1|2026-06-10 12:00",
		"sealed|SEAL-0042|keyworker-1|2026-06-10 12:00",
		"laboratory: CONFIRMED (seal SEAL-0042), entered by keyworker-1 at 2026-06-10 12:00",
		"cocaine|CONFIRMED|LC-MS/MS")
	if !strings.Contains(r.Stdout, "(bound: test-id)") {
		t.Errorf("OF-1 was bound by its keyed-in id\n%s", r.Stdout)
	}

	// A urine cup past its expiry: the whole result is invalid, and ctl says so at once.
	urine := []string{"substance", "start", "-crn", "X100001", "-reason", "arrival", "-sample", "urine", "-witness", "Sam Staff"}
	if r = kw(append(urine, auth...)...); r.Code != 0 || !strings.HasPrefix(r.Stdout, "started: test T-2, urine test of Resident One, X100001 (arrival), now awaiting-sample") {
		t.Fatalf("start a urine test\n%v", r)
	}
	r = kw("substance", "urine", "-test", "T-2", "-lot", "CUP-9", "-expiry", "2026-06-01", "-panel", "thc=non-negative", "-panel", "cocaine=negative")
	if r.Code != 0 || !strings.HasPrefix(r.Stdout, "urine result recorded: test T-2, urine test of Resident One, X100001 (arrival), now closed\nreading INVALID: ") ||
		!strings.Contains(r.Stdout, "2026-06-01") {
		t.Errorf("urine past its expiry\n%v", r)
	}
	wantLines(t, kw("substance", "result", "-test", "T-2"), "outcome|INVALID", "lot|CUP-9, expires 2026-06-01", "thc|INVALID|-|-", "cocaine|INVALID|-|-")

	// A refusal; a test started in error, closed.
	if r = kw(start...); r.Code != 0 || !strings.HasPrefix(r.Stdout, "started: test T-3,") {
		t.Fatalf("start T-3\n%v", r)
	}
	r = kw("substance", "refuse", "-test", "T-3", "-kind", "refused", "-witness", "Sam Staff")
	if r.Code != 0 || r.Stdout != "refusal recorded: test T-3, breath test of Resident One, X100001 (random) at breath-1, now closed\n" {
		t.Errorf("refuse\n%v", r)
	}
	wantLines(t, kw("substance", "result", "-test", "T-3"), "outcome|REFUSED", "refusal|REFUSED at 2026-06-10 12:00, recorded by keyworker-1, witness Sam Staff")
	if r = kw(start...); r.Code != 0 || !strings.HasPrefix(r.Stdout, "started: test T-4,") {
		t.Fatalf("start T-4\n%v", r)
	}
	r = kw("substance", "close", "-test", "T-4", "-note", "started for the wrong resident")
	if r.Code != 0 || r.Stdout != "closed: test T-4, breath test of Resident One, X100001 (random) at breath-1, now closed\n" {
		t.Errorf("close\n%v", r)
	}
	wantLines(t, kw("substance", "result", "-test", "T-4"),
		"outcome|cancelled", "closed|2026-06-10 12:00 by keyworker-1 (was awaiting-sample, outcome cancelled): started for the wrong resident")
	clitest.WantOneLine(t, kw("substance", "result", "-test", "T-99"), 1, `apedge ctl: 404: no substance test "T-99"`)

	// A reading no test awaits: held, bound to no one.
	if err := oral.OralFluid(nil, ""); err != nil {
		t.Fatal(err)
	}
	wait.For(t, substanceSiteTimeout, "the unbound reading", func() (bool, string) {
		v := overview(t, kw)
		return len(v.Unbound) == 1, fmt.Sprintf("%+v", v.Unbound)
	})
	r = kw("substance")
	wantLines(t, r, "UNBOUND READING AT|SERIAL|TEST NO|MEASURED|RECEIVED|WHY IT MATCHED NO TEST", "no open tests")
	if !hasLinePrefix(columns(r.Stdout), "oral-1|"+oral.Serial()+"|2|2026-06-10 12:") {
		t.Errorf("the unbound reading's row: want device, serial, test number 2 and when it was measured\n%s", r.Stdout)
	}
}
