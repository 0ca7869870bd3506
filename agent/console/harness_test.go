package console_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apedge/apedge/agent"
	"github.com/apedge/apedge/agent/console"
	"github.com/apedge/apedge/agent/eventindex"
	"github.com/apedge/apedge/agent/staff"
	bridge "github.com/apedge/apedge/firmware-bridge"
	"github.com/apedge/apedge/formats/sitekey"
	"github.com/apedge/apedge/internal/broker"
	"github.com/apedge/apedge/internal/broker/brokertest"
	"github.com/apedge/apedge/internal/clock/clocktest"
	"github.com/apedge/apedge/internal/config"
	"github.com/apedge/apedge/internal/openapi"
	"github.com/apedge/apedge/internal/testlog"
	"github.com/apedge/apedge/internal/wait"
)

const (
	site    = "MAN1"
	timeout = 30 * time.Second
	// password is every test account's password.
	password = "correct horse battery"
)

// noon is a quiet hour on a quiet day: no curfew window is near.
var noon = time.Date(2026, 6, 10, 11, 0, 0, 0, time.UTC)

const agentYAML = `site: %s
key: keys/%s.key
database: agent.db
bus: {broker: %s}
central: {broker: %s}
curfew: {clockCheck: none}
disk: {minFreeBytes: 1048576} # the low-disk alarm only where a test asks for it
devices: {bridgeConfig: %s}
roster:
  - {crn: X100001, noms: A1001AA, name: Resident One, cards: ["12:10001"]}
  - {crn: X100002, name: Resident Two, cards: ["12:10002"]}
  - {kind: staff, id: s-ann, name: Ann, cards: ["12:90001"]}
`

const bridgeYAML = `site: %s
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

// consoleSite is a running site: an embedded broker, a real bridge on simulated
// readers and door pins, the agent on a test clock, and its console over HTTP.
type consoleSite struct {
	t      testing.TB
	cfg    *config.Agent
	dir    string
	agent  *agent.Agent
	bridge *bridge.Bridge
	clock  *clocktest.Clock
	staff  *staff.Store
	index  *eventindex.Index
	srv    *httptest.Server
	pub    string
	brk    *broker.Broker
}

// siteSetup is what siteOptions change in newConsoleSite.
type siteSetup struct {
	console []func(*console.Options)
	// cameras is YAML for the cameras: section of the bridge configuration the agent
	// takes the site's devices from; the running bridge's has none, so that the test
	// plays the bridge's camera class on the bus (cameraBus), message by message.
	cameras string
	// bridge is YAML added to the bridge's configuration (and so the agent's
	// devices): withFingerprints's terminals.
	bridge string
	// bwcAgent is YAML added to the agent's configuration: withDock's docks.
	bwcAgent string
}

// siteOption changes how newConsoleSite makes the site.
type siteOption func(*siteSetup)

// withAlarms gives the console alarm policies (console.alarms).
func withAlarms(p map[string]config.AlarmPolicy) siteOption {
	return func(o *siteSetup) { o.console = append(o.console, func(o *console.Options) { o.Alarms = p }) }
}

// withCameras gives the agent the cameras of yaml, a list of config.Camera in YAML.
func withCameras(yaml string) siteOption {
	return func(o *siteSetup) { o.cameras = yaml }
}

// fingerprintYAML is withFingerprints's terminals: one at the front door and one at
// an enrolment desk, Enhanced Security off (so that a card alone still opens the
// door for the tests that do not enrol anyone).
const fingerprintYAML = `fingerprintTerminals:
  - {id: front-fp, port: simulated, door: front, name: front door}
  - {id: desk-1, port: simulated, name: office enrolment desk}
`

// withFingerprints gives the site simulated fingerprint terminals front-fp (at the
// front door) and desk-1 (an enrolment desk).
func withFingerprints() siteOption {
	return func(o *siteSetup) { o.bridge += fingerprintYAML }
}

func newConsoleSite(t testing.TB, opts ...siteOption) *consoleSite {
	t.Helper()
	var set siteSetup
	for _, opt := range opts {
		opt(&set)
	}
	s := &consoleSite{t: t, dir: t.TempDir(), clock: clocktest.Running(noon)} // the doors time themselves
	log := testlog.New(t)
	brk := brokertest.Start(t)
	s.brk = brk
	key, err := sitekey.Generate(site, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, s.pub, err = sitekey.Write(filepath.Join(s.dir, "keys"), key); err != nil {
		t.Fatal(err)
	}
	write := func(name, body string) string {
		p := filepath.Join(s.dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	// The bridge's configuration first: the agent's names it for the site's devices.
	bridgeBody := fmt.Sprintf(bridgeYAML, site, brk.URL()) + set.bridge
	bcfg, err := config.LoadBridge(write("bridge.yaml", bridgeBody))
	if err != nil {
		t.Fatal(err)
	}
	agentBridge := "bridge.yaml"
	if set.cameras != "" {
		agentBridge = "agent-bridge.yaml"
		write(agentBridge, bridgeBody+"cameras:\n"+set.cameras)
	}
	acfg, err := config.LoadAgent(write("agent.yaml", fmt.Sprintf(agentYAML, site, site, brk.URL(), brk.URL(), agentBridge)))
	if err != nil {
		t.Fatal(err)
	}
	if set.bwcAgent != "" {
		if acfg, err = config.LoadAgent(write("agent.yaml", fmt.Sprintf(agentYAML, site, site, brk.URL(), brk.URL(), agentBridge)+set.bwcAgent)); err != nil {
			t.Fatal(err)
		}
	}
	s.cfg = acfg
	if s.agent, err = agent.New(t.Context(), acfg, log, agent.WithClock(s.clock)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.agent.Close() })
	if s.staff, err = staff.Open(t.Context(), filepath.Join(s.dir, "staff.db"), staff.Options{Clock: s.clock,
		Hashing: staff.Hashing{Time: 1, MemoryKiB: 64, Threads: 1}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.staff.Close() })
	if s.index, err = eventindex.Open(t.Context(), eventindex.Path(acfg.Database), s.agent.Journal(), log); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.index.Close() })
	o := console.Options{Site: s.agent, Index: s.index, Staff: s.staff, Logger: log, Clock: s.clock,
		MetricsToken: metricsToken}
	for _, opt := range set.console {
		opt(&o)
	}
	srv, err := console.New(o)
	if err != nil {
		t.Fatal(err)
	}
	// Every answer the tests get is checked against the OpenAPI document: the page
	// and the CLI are built to it, so a response it does not describe is a bug.
	doc, err := openapi.Load("openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	checked := doc.Handler(srv.Handler(), func(err error) { t.Errorf("console answered off its contract: %v", err) })
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/api/") {
			checked.ServeHTTP(w, r)
			return
		}
		srv.Handler().ServeHTTP(w, r) // the page's files, /metrics, /healthz: no JSON API
	}))
	t.Cleanup(s.srv.Close)
	run(t, "agent", s.agent.Run)
	run(t, "index", s.index.Run)
	s.bridge = bridge.New(bcfg, log, bridge.WithClock(s.clock))
	run(t, "bridge", s.bridge.Run)
	select {
	case <-s.bridge.Ready():
	case <-time.After(timeout):
		t.Fatal("bridge not ready")
	}
	for _, r := range staff.Roles() {
		if _, err := s.staff.Add(t.Context(), string(r)+"-1", r, password); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// run runs f until the test ends, then checks it returned no error.
func run(t testing.TB, name string, f func(context.Context) error) {
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
		case <-time.After(timeout):
			t.Errorf("%s did not stop", name)
		}
	})
}

func (s *consoleSite) waitFor(what string, cond func() (bool, string)) {
	s.t.Helper()
	wait.For(s.t, timeout, what, cond)
}

// client is one signed-in user: by bearer token, or by session cookie and CSRF token.
type client struct {
	s     *consoleSite
	hc    *http.Client
	token string
	csrf  string
}

// bearer signs in as name for the CLI and returns a client that sends the token.
func (s *consoleSite) bearer(name string) *client {
	s.t.Helper()
	c := &client{s: s, hc: s.srv.Client()}
	var out struct{ Token string }
	if code := c.do("POST", "/api/v1/tokens", map[string]string{"name": name, "password": password, "label": "test"}, &out); code != http.StatusCreated {
		s.t.Fatalf("token for %s: %d", name, code)
	}
	c.token = out.Token
	return c
}

// browser signs in as name with a session cookie.
func (s *consoleSite) browser(name string) *client {
	s.t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &client{s: s, hc: &http.Client{Jar: jar, Timeout: timeout}}
	var out struct{ CSRF string }
	if code := c.do("POST", "/api/v1/session", map[string]string{"name": name, "password": password}, &out); code != http.StatusOK {
		s.t.Fatalf("sign in as %s: %d", name, code)
	}
	c.csrf = out.CSRF
	return c
}

// anonymous is a client that has not signed in.
func (s *consoleSite) anonymous() *client { return &client{s: s, hc: s.srv.Client()} }

// do sends a request with body as JSON (if not nil), decodes the answer into out (if
// not nil) and returns the status code.
func (c *client) do(method, path string, body, out any) int {
	c.s.t.Helper()
	code, b := c.raw(method, path, body, nil)
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			c.s.t.Fatalf("%s %s: %d %q: %v", method, path, code, b, err)
		}
	}
	return code
}

// raw sends a request and returns the status code and body.
func (c *client) raw(method, path string, body any, header http.Header) (int, []byte) {
	c.s.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(c.s.t.Context(), method, c.s.srv.URL+path, rd)
	if err != nil {
		c.s.t.Fatal(err)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if c.csrf != "" {
		req.Header.Set(console.CSRFHeader, c.csrf)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		c.s.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.s.t.Fatalf("%s %s: %v", method, path, err)
	}
	return resp.StatusCode, b
}

// journalTypes returns the types of the events journaled so far, in order.
func (s *consoleSite) journalTypes() []string {
	s.t.Helper()
	ss, _, err := s.index.Search(s.t.Context(), eventindex.Query{Limit: eventindex.MaxLimit})
	if err != nil {
		s.t.Fatal(err)
	}
	var out []string
	for _, e := range ss {
		out = append(out, e.Type)
	}
	return out
}

// waitEvent waits until an event of typ is indexed and returns the last such.
func (s *consoleSite) waitEvent(typ string) eventindex.Summary {
	s.t.Helper()
	var got eventindex.Summary
	s.waitFor(typ+" journaled and indexed", func() (bool, string) {
		e, ok, err := s.index.Latest(s.t.Context(), typ)
		got = e
		return ok && err == nil, fmt.Sprint(s.journalTypes())
	})
	return got
}
