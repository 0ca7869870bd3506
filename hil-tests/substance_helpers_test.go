package hiltests

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/apedge/apedge/agent"
	bridge "github.com/apedge/apedge/firmware-bridge"
	"github.com/apedge/apedge/formats/event"
	"github.com/apedge/apedge/formats/sitebus"
	"github.com/apedge/apedge/formats/sitekey"
	"github.com/apedge/apedge/internal/clock/clocktest"
	"github.com/apedge/apedge/internal/config"
	"github.com/apedge/apedge/internal/testlog"
)

// substanceNoon is when the substance tests' clocks start: a quiet hour on a quiet
// day, no curfew window near, far from the day the tests run.
var substanceNoon = time.Date(2026, 6, 10, 11, 0, 0, 0, time.UTC)

// substanceBridgeYAML is the bridge of a site with two simulated substance testers,
// and the door with its two readers that a simulated site needs, which nobody uses
// (quiet); resendAfter is short so that a message the agent has not acknowledged is
// sent again soon after the agent is back.
const substanceBridgeYAML = `site: %s
stateDir: bridge-state
resendAfter: 1s
bus: %s
osdp:
  - port: simulated
    baud: 115200
    readers:
      - {id: front-in, address: 1, insecure: true}
      - {id: front-out, address: 2, insecure: true}
doors:
  - {id: front, entryReader: front-in, exitReader: front-out}
substanceTesters:
  - {id: breath-1, kind: breath-alcohol, port: simulated, name: office}
  - {id: oral-1, kind: oral-fluid, port: simulated, name: office}
simulate: {quiet: true}
log: {level: info}
`

// substanceSite is a site whose bridge, in this process, has simulated testers
// breath-1 (breath-alcohol) and oral-1 (oral-fluid) on pseudo-terminals, on a real
// Mosquitto; its agent runs in this process too, on the same test clock, so that the
// test starts tests through agent.Substances; central is its own process.
type substanceSite struct {
	*Site
	t      *testing.T
	mq     *Mosquitto
	clock  *clocktest.Clock
	bridge *bridge.Bridge
	bus    *watcher
	// agent is the running agent, nil while it is stopped; stopAgent stops it.
	agent     *agent.Agent
	stopAgent func()
}

// newSubstanceSite starts Mosquitto, central, the agent and the bridge of site code
// and waits until the agent has both testers' status from the bridge.
func newSubstanceSite(t *testing.T, code string) *substanceSite {
	t.Helper()
	mq := startMosquitto(t, code)
	s := &substanceSite{Site: newSite(t, code, mq, siteOptions{}), t: t, mq: mq, clock: clocktest.Running(substanceNoon)}
	bridgeYAML := filepath.Join(s.Dir, "bridge.yaml") // the agent takes its testers from it
	if err := os.WriteFile(bridgeYAML, fmt.Appendf(nil, substanceBridgeYAML, code, link(mq, "bridge")), 0o600); err != nil {
		t.Fatal(err)
	}
	bcfg, err := config.LoadBridge(bridgeYAML)
	if err != nil {
		t.Fatal(err)
	}
	s.bus = watch(t, mq, code)
	startProc(t, s.Dir, "central", "central", "-config", s.CentralYAM)
	s.startAgent()
	t.Cleanup(func() {
		if s.agent != nil {
			s.stopAgent()
		}
	})
	s.bridge = bridge.New(bcfg, testlog.New(t), bridge.WithClock(s.clock))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.bridge.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("bridge: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("the bridge did not stop within 30s")
		}
	})
	select {
	case <-s.bridge.Ready():
	case err := <-done:
		t.Fatalf("bridge: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("the bridge's devices did not start within 30s")
	}
	s.waitTesters()
	return s
}

// startAgent starts the agent on the site's configuration and clock; it replays the
// journal before it subscribes to the site bus.
func (s *substanceSite) startAgent() {
	s.t.Helper()
	cfg, err := config.LoadAgent(s.AgentYAML)
	if err != nil {
		s.t.Fatal(err)
	}
	a, err := agent.New(context.Background(), cfg, testlog.New(s.t), agent.WithClock(s.clock))
	if err != nil {
		s.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	s.agent = a
	s.stopAgent = func() {
		s.t.Helper()
		cancel()
		select {
		case err := <-done:
			if err != nil {
				s.t.Errorf("agent: %v", err)
			}
		case <-time.After(60 * time.Second):
			s.t.Error("the agent did not stop within 60s")
		}
		if err := a.Close(); err != nil {
			s.t.Errorf("agent close: %v", err)
		}
		s.agent = nil
	}
}

// waitTesters waits until the running agent has both testers' status from the
// bridge, online: it has subscribed to the site bus and the testers answer.
func (s *substanceSite) waitTesters() {
	s.t.Helper()
	waitFor(s.t, 60*time.Second, "breath-1 and oral-1 online at the agent", func() (bool, string) {
		online := map[string]bool{}
		for _, v := range s.agent.Devices().SubstanceTesters {
			online[v.ID] = v.Online
		}
		return online["breath-1"] && online["oral-1"], fmt.Sprint(online)
	})
}

// testerStatus is tester id's latest status on the site bus, and whether there is one.
func (s *substanceSite) testerStatus(id string) (sitebus.SubstanceTesterStatus, bool) {
	st := s.bus.find(sitebus.ClassSubstanceTester, id, sitebus.KindState, sitebus.SubstanceStatusKind)
	if len(st) == 0 {
		return sitebus.SubstanceTesterStatus{}, false
	}
	v, err := sitebus.DecodeSubstanceTesterStatus(st[len(st)-1].Data)
	if err != nil {
		s.t.Fatalf("%s's status: %v", id, err)
	}
	return *v, true
}

// testerReading is one reading a tester sent over the site bus, and how many times the
// bridge published it (the same boot and seq: its resends).
type testerReading struct {
	sitebus.SubstanceReading
	Copies int
}

// busReadings are tester id's readings on the site bus, each once, in the order the
// bridge first published them.
func (s *substanceSite) busReadings(id string) []testerReading {
	s.t.Helper()
	var out []testerReading
	at := map[string]int{}
	for _, m := range s.bus.find(sitebus.ClassSubstanceTester, id, sitebus.KindEvent, sitebus.SubstanceReadingKind) {
		k := fmt.Sprintf("%s/%d", m.Boot, m.Seq)
		if i, ok := at[k]; ok {
			out[i].Copies++
			continue
		}
		r, err := sitebus.DecodeSubstanceReading(m.Data)
		if err != nil {
			s.t.Fatalf("a reading of %s on the bus: %v", id, err)
		}
		at[k] = len(out)
		out = append(out, testerReading{SubstanceReading: *r, Copies: 1})
	}
	return out
}

// journaledSubstance is how many substance events of typ (without the prefix) the
// agent's journal holds.
func (s *substanceSite) journaledSubstance(typ string) int {
	s.t.Helper()
	n := 0
	for _, e := range s.journalEntries(s.t) {
		if parseEntry(s.t, e).Type == event.TypePrefix+typ {
			n++
		}
	}
	return n
}

// waitJournaled waits until the journal holds n substance events of typ.
func (s *substanceSite) waitJournaled(typ string, n int) {
	s.t.Helper()
	waitFor(s.t, 60*time.Second, fmt.Sprintf("%d %s journaled", n, typ), func() (bool, string) {
		got := s.journaledSubstance(typ)
		return got >= n, fmt.Sprint(got)
	})
}

// storedSubstanceEvent is one event in central's store, as central exports it.
type storedSubstanceEvent struct {
	Seq uint64
	// Type is the event's type without the "approved-premises." prefix.
	Type   string
	Person *event.PersonReference
	// Info is the event's additionalInformation.
	Info map[string]any
	// Signed says the envelope's signature verifies with the site's public key.
	Signed bool
}

// crn is the event's CRN, or "" if it is about no one.
func (e storedSubstanceEvent) crn() string {
	if e.Person == nil {
		return ""
	}
	for _, id := range e.Person.Identifiers {
		if id.Type == "CRN" {
			return id.Value
		}
	}
	return ""
}

// storedOf returns the events of types beginning with prefix ("substance.") in
// central's store for the site, in central's order (by seq), each with whether its
// signature verifies.
func (s *substanceSite) storedOf(prefix string) []storedSubstanceEvent {
	s.t.Helper()
	pub, err := sitekey.LoadPublic(s.PubPath, s.Code)
	if err != nil {
		s.t.Fatal(err)
	}
	var out []storedSubstanceEvent
	for _, line := range bytes.Split(bytes.TrimSpace(s.export(s.t)), []byte("\n")) {
		if len(line) == 0 {
			continue // nothing stored yet
		}
		if ev, ok := siteEvent(s.t, line, pub, prefix); ok {
			out = append(out, ev)
		}
	}
	return out
}

// waitStoredOf waits until central stores the events of prefix of types, in that
// order, and no others, and returns them.
func (s *substanceSite) waitStoredOf(prefix string, types ...string) []storedSubstanceEvent {
	s.t.Helper()
	var got []storedSubstanceEvent
	waitFor(s.t, 60*time.Second, fmt.Sprintf("central to store %v", types), func() (bool, string) {
		got = s.storedOf(prefix)
		var have []string
		for _, e := range got {
			have = append(have, e.Type)
		}
		return slices.Equal(have, types), fmt.Sprint(have)
	})
	return got
}

// waitStored waits until central stores the substance events of types, in that
// order, and no others, and returns them.
func (s *substanceSite) waitStored(types ...string) []storedSubstanceEvent {
	s.t.Helper()
	return s.waitStoredOf("substance.", types...)
}
