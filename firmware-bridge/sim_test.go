package bridge_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/apedge/apedge/devices/wiegand"
	bridge "github.com/apedge/apedge/firmware-bridge"
	"github.com/apedge/apedge/formats/sitebus"
	"github.com/apedge/apedge/internal/broker/brokertest"
	"github.com/apedge/apedge/internal/clock"
	"github.com/apedge/apedge/internal/config"
	"github.com/apedge/apedge/internal/mqttclient"
	"github.com/apedge/apedge/internal/testlog"
	"github.com/apedge/apedge/internal/wait"
)

// walkSiteYAML is siteYAML with door timings for a clock ten times as fast as real
// time: a door unlocked for half a real second, held open after half a second.
const walkSiteYAML = `site: MAN1
stateDir: state
bus:
  broker: %s
osdp:
  - port: simulated
    baud: 115200
    readers:
      - {id: front-in, address: 1, insecure: true}
      - {id: front-out, address: 2, insecure: true}
doors:
  - id: front
    entryReader: front-in
    exitReader: front-out
    lock: {mode: fail-safe}
    unlockFor: 5s
    heldOpenAfter: 5s
  - id: side
    wiegand: {reader: side-in, direction: entry}
    lock: {mode: fail-secure}
    unlockFor: 5s
    heldOpenAfter: 5s
simulate:
  quiet: true
`

// startWalk runs a bridge on walkSiteYAML with a clock ten times as fast as real time,
// with the credential list of list and 12:10003 (which, like 12:10001, opens every door), and Walk with p on it
// until the test ends.
func startWalk(t *testing.T, p bridge.SimPeople) *recorder {
	t.Helper()
	return startWalkSite(t, walkSiteYAML, list(1, "12:10003"), p, nil)
}

// startWalkSite is startWalk on the site of yaml (with the broker's URL for its
// %s) with the credential list l; prepare, if not nil, is called with the bridge's
// simulated site before the walk starts.
func startWalkSite(t *testing.T, yaml string, l *sitebus.CredentialList, p bridge.SimPeople, prepare func(*bridge.Sim)) *recorder {
	t.Helper()
	brk := brokertest.Start(t)
	bus := record(t, brk.URL(), "watcher")
	dir := t.TempDir()
	writeSiteKey(t, dir)
	path := filepath.Join(dir, "bridge.yaml")
	if err := os.WriteFile(path, fmt.Appendf(nil, yaml, brk.URL()), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.LoadBridge(path)
	if err != nil {
		t.Fatal(err)
	}
	signed, err := sitebus.SignCredentialList(siteKey(t, cfg), l)
	if err != nil {
		t.Fatal(err)
	}
	agt := brokertest.Client(t, brk.URL(), "agent")
	if err := mqttclient.WaitTimeout(t.Context(), agt.Publish(sitebus.CredentialsTopic(site), 1, true, signed), timeout); err != nil {
		t.Fatal(err)
	}
	clk := clock.Scaled(clock.System(), time.Date(2031, 3, 4, 22, 0, 0, 0, time.UTC), 10)
	clk.Run()
	b := bridge.New(cfg, testlog.New(t), bridge.WithClock(clk))
	run(t, b)
	h := &harness{bus: bus}
	h.waitOnline(t, "front-in", false)
	h.waitOnline(t, "front-out", false)
	if prepare != nil {
		prepare(b.Sim())
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- b.Walk(ctx, p) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Walk: %v", err)
		}
	})
	return bus
}

// cardReads returns the card reads of card on the bus, in the order they were made.
func cardReads(t *testing.T, bus *recorder, card string) []*sitebus.CardRead {
	t.Helper()
	type read struct {
		at time.Time
		cr *sitebus.CardRead
	}
	var rs []read
	for _, id := range []string{"front-in", "front-out", "side-in"} {
		for _, m := range bus.device(t, sitebus.ClassReader, id, sitebus.KindEvent) {
			if m.Kind != "card-read" {
				continue
			}
			if cr := decodeCardRead(t, m); cr.Credential.ID() == card {
				rs = append(rs, read{m.Time, cr})
			}
		}
	}
	slices.SortFunc(rs, func(a, b read) int { return a.at.Compare(b.at) })
	var out []*sitebus.CardRead
	for _, r := range rs {
		out = append(out, r.cr)
	}
	return out
}

// doorEvents returns the kinds of the events of doors front and side.
func doorEvents(t *testing.T, bus *recorder) []string {
	t.Helper()
	var k []string
	for _, id := range []string{"front", "side"} {
		k = append(k, kinds(bus.device(t, sitebus.ClassDoor, id, sitebus.KindEvent))...)
	}
	return k
}

// TestWalkFollowsPeople: without incidents, a person out comes in and then goes out
// by a door with an exit reader, in turn, so that their presence is never
// contradicted, and no door raises an alarm.
func TestWalkFollowsPeople(t *testing.T) {
	t.Parallel()
	c, err := wiegand.Parse("12:10001", 26)
	if err != nil {
		t.Fatal(err)
	}
	c3, err := wiegand.Parse("12:10003", 26)
	if err != nil {
		t.Fatal(err)
	}
	// One person out at the start, one in, who comes in first.
	bus := startWalk(t, bridge.SimPeople{People: []bridge.SimPerson{{Card: c}, {Card: c3, In: true}}, Every: time.Second, Seed: 7})
	wait.For(t, timeout, "six card reads of 12:10001", func() (bool, string) {
		n := len(cardReads(t, bus, "12:10001"))
		return n >= 6, fmt.Sprint(n)
	})
	for _, card := range []string{"12:10001", "12:10003"} {
		rs := cardReads(t, bus, card)
		for i, r := range rs {
			want := "entry"
			if i%2 == 1 {
				want = "exit"
			}
			if r.Direction != want || !r.Granted {
				t.Errorf("read %d of %s: %s at %s (granted %v), want a granted %s", i, card, r.Direction, r.Door, r.Granted, want)
			}
		}
		if card == "12:10003" && (len(rs) == 0 || rs[0].Door != "front") {
			t.Errorf("12:10003, in at the start, did not come in by the front door first: %+v", rs)
		}
	}
	for _, k := range doorEvents(t, bus) {
		if k == "forced" || k == "held-open" || k == "tailgate" {
			t.Errorf("door event %s with no incidents: %v", k, doorEvents(t, bus))
		}
	}
}

// TestWalkIncidents: with every visit going wrong, doors are forced, held open and
// tailgated, and cards nobody knows are refused.
func TestWalkIncidents(t *testing.T) {
	t.Parallel()
	c, err := wiegand.Parse("12:10001", 26)
	if err != nil {
		t.Fatal(err)
	}
	bus := startWalk(t, bridge.SimPeople{People: []bridge.SimPerson{{Card: c}}, Every: time.Second, IncidentEvery: time.Nanosecond, Seed: 1})
	wait.For(t, 2*timeout, "a forced, a held-open and a tailgate door event and a refused card", func() (bool, string) {
		k := doorEvents(t, bus)
		refused := false
		for _, id := range []string{"front-in", "side-in"} {
			for _, m := range bus.device(t, sitebus.ClassReader, id, sitebus.KindEvent) {
				if m.Kind == "card-read" && !decodeCardRead(t, m).Granted {
					refused = true
				}
			}
		}
		return slices.Contains(k, "forced") && slices.Contains(k, "held-open") && slices.Contains(k, "tailgate") && refused,
			fmt.Sprint(k, " refused ", refused)
	})
}

// walkFingerYAML is walkSiteYAML at an Enhanced Security site with a fingerprint
// terminal at the front door, the only way out.
const walkFingerYAML = walkSiteYAML + `fingerprintTerminals:
  - {id: front-fp, port: simulated, door: front, name: front door}
enhancedSecurity: {on: true}
`

// TestWalkFingerAtTheDoor walks two people through an Enhanced Security site whose
// front door has a fingerprint terminal, every visit going wrong: 12:10001, whose
// finger the list gives slot 3 on the terminal (which holds it), passes the front
// door with it, matched, but is refused there with another finger (wrong-finger),
// and stays in or out as they were; 12:10003, with no finger, keeps to the side
// door, in only, and so stays in once there.
func TestWalkFingerAtTheDoor(t *testing.T) {
	t.Parallel()
	c1, err := wiegand.Parse("12:10001", 26)
	if err != nil {
		t.Fatal(err)
	}
	c3, err := wiegand.Parse("12:10003", 26)
	if err != nil {
		t.Fatal(err)
	}
	l := list(1, "12:10003")
	l.Credentials[0].Fingers = map[string][]int{"front-fp": {3}}
	people := bridge.SimPeople{People: []bridge.SimPerson{{Card: c1, In: true, Finger: "X1-right-index"}, {Card: c3, In: true}},
		Every: time.Second, IncidentEvery: time.Nanosecond, Seed: 3}
	bus := startWalkSite(t, walkFingerYAML, l, people, func(s *bridge.Sim) {
		if err := s.Fingerprint("front-fp").PutTemplate(3, "X1-right-index"); err != nil {
			t.Fatal(err)
		}
	})
	wait.For(t, 2*timeout, "12:10001 granted at the front door with their finger, in and out, and refused there with another", func() (bool, string) {
		var in, out, wrong int
		for _, r := range cardReads(t, bus, "12:10001") {
			switch sf := r.SecondFactor; {
			case r.Door != "front":
			case r.Granted && sf != nil && sf.Result == sitebus.FactorMatched && r.Direction == "entry":
				in++
			case r.Granted && sf != nil && sf.Result == sitebus.FactorMatched:
				out++
			case !r.Granted && sf != nil && sf.Result == sitebus.FactorNotMatched:
				wrong++
			}
		}
		return in > 0 && out > 0 && wrong > 0, fmt.Sprintf("in %d, out %d, wrong finger %d", in, out, wrong)
	})
	// 12:10001: every read at the front door has its second factor, on front-fp:
	// the holder's slot when granted, none matched when refused; the granted reads
	// alternate in and out, so that the refusals left presence as it was.
	granted := 0
	for i, r := range cardReads(t, bus, "12:10001") {
		sf := r.SecondFactor
		switch {
		case r.Door == "front" && (sf == nil || sf.Terminal != "front-fp"):
			t.Errorf("read %d at the front door: second factor %+v, want front-fp's", i, sf)
		case r.Door != "front" && sf != nil:
			t.Errorf("read %d at %s: second factor %+v at a door without a terminal", i, r.Door, sf)
		case r.Granted && r.Door == "front" && (sf.Result != sitebus.FactorMatched || sf.Slot == nil || *sf.Slot != 3):
			t.Errorf("read %d granted with second factor %+v, want matched in slot 3", i, sf)
		case !r.Granted && (r.Reason != "second-factor" || sf == nil || sf.Result != sitebus.FactorNotMatched):
			t.Errorf("read %d refused: %q, second factor %+v; want refused for another finger, not matched", i, r.Reason, sf)
		}
		if !r.Granted {
			continue
		}
		if want := []string{"entry", "exit"}[granted%2]; r.Direction != want {
			t.Errorf("granted read %d of 12:10001 is an %s at %s, want an %s", i, r.Direction, r.Door, want)
		}
		granted++
	}
	// 12:10003 came in by the side door and, with no finger for the front door, the
	// only way out, stayed in.
	if rs := cardReads(t, bus, "12:10003"); len(rs) != 1 || rs[0].Door != "side" || !rs[0].Granted {
		t.Errorf("reads of 12:10003 %+v, want one, granted, at the side door", rs)
	}
}

// TestWalkWaitsForEnrolment: until SimPeople.Enrolled is closed nobody uses the
// door with a terminal, so that 12:10001, in at the start, comes in by the side
// door and cannot go out; once it is closed they go out by the front door, with
// their finger.
func TestWalkWaitsForEnrolment(t *testing.T) {
	t.Parallel()
	c1, err := wiegand.Parse("12:10001", 26)
	if err != nil {
		t.Fatal(err)
	}
	l := list(1)
	l.Credentials[0].Fingers = map[string][]int{"front-fp": {0}}
	enrolled := make(chan struct{})
	people := bridge.SimPeople{People: []bridge.SimPerson{{Card: c1, In: true, Finger: "X1-right-index"}}, Every: 200 * time.Millisecond,
		Enrolled: enrolled, Seed: 5}
	bus := startWalkSite(t, walkFingerYAML, l, people, func(s *bridge.Sim) {
		if err := s.Fingerprint("front-fp").PutTemplate(0, "X1-right-index"); err != nil {
			t.Fatal(err)
		}
	})
	wait.For(t, timeout, "12:10001 in by the side door", func() (bool, string) {
		rs := cardReads(t, bus, "12:10001")
		return len(rs) > 0, fmt.Sprint(len(rs))
	})
	close(enrolled)
	wait.For(t, timeout, "12:10001 out by the front door with their finger", func() (bool, string) {
		rs := cardReads(t, bus, "12:10001")
		return len(rs) > 1, fmt.Sprint(len(rs))
	})
	rs := cardReads(t, bus, "12:10001")
	if r := rs[0]; r.Door != "side" || r.Direction != "entry" || !r.Granted || r.SecondFactor != nil {
		t.Errorf("first read %+v, want a granted entry at the side door, without a finger", r)
	}
	if r := rs[1]; r.Door != "front" || r.Direction != "exit" || !r.Granted || r.SecondFactor == nil || r.SecondFactor.Result != sitebus.FactorMatched {
		t.Errorf("second read %+v (second factor %+v), want a granted exit at the front door, matched", r, r.SecondFactor)
	}
}
