package hiltests

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/apedge/apedge/agent"
	"github.com/apedge/apedge/agent/biometric"
	"github.com/apedge/apedge/agent/register"
	"github.com/apedge/apedge/devices/fingerprint"
	"github.com/apedge/apedge/devices/wiegand"
	bridge "github.com/apedge/apedge/firmware-bridge"
	"github.com/apedge/apedge/formats/envelope"
	"github.com/apedge/apedge/formats/event"
	"github.com/apedge/apedge/formats/sitebus"
	"github.com/apedge/apedge/formats/sitekey"
	"github.com/apedge/apedge/internal/clock/clocktest"
	"github.com/apedge/apedge/internal/config"
	"github.com/apedge/apedge/internal/mqttclient"
	"github.com/apedge/apedge/internal/testlog"
)

// biometricNoon is when the biometric tests' clocks start: a quiet hour on a quiet
// day, no curfew window near, far from the day the tests run.
var biometricNoon = time.Date(2026, 6, 10, 11, 0, 0, 0, time.UTC)

// The residents of a biometric site (biometricRoster), and the cards of two.
const (
	ada, ben, cal    = "X100001", "X100002", "X100003"
	adaCard, benCard = "12:10001", "12:10002"
)

// biometricRoster is the agent's roster of a biometric site: three residents in
// residence, each with a card.
const biometricRoster = `  - {crn: X100001, noms: A1001AA, name: Ada Ash, cards: ["12:10001"]}
  - {crn: X100002, noms: A1002AA, name: Ben Birch, cards: ["12:10002"]}
  - {crn: X100003, noms: A1003AA, name: Cal Cedar, cards: ["12:10003"]}
`

// The fingerprint terminals of a biometric site, and who enrols with them.
const (
	frontTerminal = "fp-front" // at the front door
	deskTerminal  = "fp-desk"  // the office's enrolment desk
	keyworker     = "Kim Keyworker"
)

// biometricBridgeYAML is the bridge of an Enhanced Security site: the front door,
// with its two readers and a fail-safe lock that relocks as the door closes,
// guarded by the simulated fingerprint terminal fp-front, and the simulated terminal
// fp-desk at the enrolment desk. The finger's window is short (2 s) so that a card
// with no finger is refused soon; resendAfter is short so that a message the agent
// has not acknowledged is sent again soon.
const biometricBridgeYAML = `site: %s
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
  - id: front
    entryReader: front-in
    exitReader: front-out
    lock: {mode: fail-safe}
    unlockFor: 3s
    relockOnClose: true
fingerprintTerminals:
  - {id: fp-front, port: simulated, door: front, name: front door}
  - {id: fp-desk, port: simulated, name: "office: enrolment desk"}
enhancedSecurity: {on: true, window: 2s}
simulate: {quiet: true}
log: {level: info}
`

// biometricSite is a site of biometricBridgeYAML on a real Mosquitto: its bridge
// runs in this process with simulated fingerprint modules on pseudo-terminals, its
// agent in this process too on the same test clock (so that the test enrols
// through agent.Biometrics), and central is its own process. It is the in-process
// site of the substance tests (agent lifecycle, journal and watcher), with other
// devices.
type biometricSite struct {
	*substanceSite
}

// newBiometricSite starts Mosquitto, central, the agent and the bridge of site code
// and waits until the agent has both terminals online.
func newBiometricSite(t *testing.T, code string) *biometricSite {
	t.Helper()
	mq := startMosquitto(t, code)
	s := &biometricSite{&substanceSite{Site: newSite(t, code, mq, siteOptions{roster: biometricRoster}), t: t, mq: mq,
		clock: clocktest.Running(biometricNoon)}}
	bridgeYAML := filepath.Join(s.Dir, "bridge.yaml") // the agent takes its terminals from it
	if err := os.WriteFile(bridgeYAML, fmt.Appendf(nil, biometricBridgeYAML, code, link(mq, "bridge")), 0o600); err != nil {
		t.Fatal(err)
	}
	bcfg, err := config.LoadBridge(bridgeYAML)
	if err != nil {
		t.Fatal(err)
	}
	s.bus = watchDevices(t, mq, code)
	startProc(t, s.Dir, "central", "central", "-config", s.CentralYAM)
	s.startAgent()
	t.Cleanup(func() {
		if s.agent != nil {
			s.stopAgent()
		}
	})
	s.bridge = runBridge(t, bcfg, s.clock)
	for _, id := range []string{frontTerminal, deskTerminal} {
		s.waitTerminal(id, true)
	}
	return s
}

// watchDevices is watch for a site whose agent sends its devices commands: it
// records the devices' events, states and command results, not the commands (which
// are signed commands, not device messages).
func watchDevices(t testing.TB, b Broker, site string) *watcher {
	t.Helper()
	w := &watcher{}
	c := connect(t, b, "hil-watch-devices-"+site, "monitor")
	p := "apedge/v1/" + site + "/dev/+/+/"
	tok := c.SubscribeMultiple(map[string]byte{p + sitebus.KindEvent: 1, p + sitebus.KindState: 1, p + sitebus.KindCmdResult: 1},
		func(_ mqtt.Client, m mqtt.Message) {
			tp, err := sitebus.ParseTopic(m.Topic())
			if err != nil {
				return
			}
			msg, err := sitebus.Decode(m.Payload())
			if err != nil {
				t.Errorf("%s: %v", m.Topic(), err)
				return
			}
			w.mu.Lock()
			w.msgs = append(w.msgs, busMessage{tp, msg})
			w.mu.Unlock()
		})
	if err := mqttclient.WaitTimeout(t.Context(), tok, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	return w
}

// runBridge runs a bridge of cfg on clk until the test ends and waits until its
// devices have started.
func runBridge(t *testing.T, cfg *config.Bridge, clk *clocktest.Clock) *bridge.Bridge {
	t.Helper()
	b := bridge.New(cfg, testlog.New(t), bridge.WithClock(clk))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
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
	case <-b.Ready():
	case err := <-done:
		t.Fatalf("bridge: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("the bridge's devices did not start within 30s")
	}
	return b
}

// module is terminal id's simulated fingerprint module.
func (s *biometricSite) module(id string) *fingerprint.Sim {
	s.t.Helper()
	m := s.bridge.Sim().Fingerprint(id)
	if m == nil {
		s.t.Fatalf("no simulated fingerprint terminal %s", id)
	}
	return m
}

// terminalView is the running agent's view of terminal id.
func (s *biometricSite) terminalView(id string) agent.TerminalView {
	s.t.Helper()
	ts, err := s.agent.Biometrics().Terminals(s.t.Context())
	if err != nil {
		s.t.Fatal(err)
	}
	i := slices.IndexFunc(ts, func(v agent.TerminalView) bool { return v.ID == id })
	if i < 0 {
		s.t.Fatalf("no terminal %s at the agent: %+v", id, ts)
	}
	return ts[i]
}

// waitTerminal waits until the agent has terminal id's status from the bridge,
// online (and no enrolment under way) or offline as asked.
func (s *biometricSite) waitTerminal(id string, online bool) {
	s.t.Helper()
	waitFor(s.t, 60*time.Second, fmt.Sprintf("%s online=%v and idle at the agent", id, online), func() (bool, string) {
		v := s.terminalView(id)
		return v.Status != nil && v.Status.Online == online && v.Status.Enrolling == "", fmt.Sprintf("%+v", v.Status)
	})
}

// fingerOf is the synthetic finger id the simulated modules know a resident's
// finger by: what a template of it holds.
func fingerOf(crn, finger string) string { return "finger-of-" + crn + "-" + finger }

// enrolment is how an enrolment went: the agent's record once it ended and the
// steps the terminal guided the person through, in order.
type enrolment struct {
	agent.Enrolment
	Steps []string
}

// enrol enrols finger of resident crn on terminal, staff member keyworker
// enrolling, with the person at the terminal played by the test: the finger
// fingerOf(crn, finger) is placed on the module when the terminal says place-finger,
// lifted at lift-finger, and again (or, if second is not "", the finger second) at
// place-again. It returns once the enrolment has ended, enrolled or failed, with its
// finger lifted, and the terminal idle again at the agent.
func (s *biometricSite) enrol(crn, finger, terminal, second string) enrolment {
	s.t.Helper()
	ctx := s.t.Context()
	en, err := s.agent.Biometrics().Enrol(ctx, crn, finger, terminal, keyworker)
	if err != nil {
		s.t.Fatalf("enrol %s's %s on %s: %v", crn, finger, terminal, err)
	}
	if en.State != biometric.StateEnrolling || en.CRN != crn || en.Terminal != terminal || en.Finger != finger || en.By != keyworker {
		s.t.Fatalf("enrolment started: %+v", en)
	}
	m := s.module(terminal)
	first := fingerOf(crn, finger)
	if second == "" {
		second = first
	}
	out := enrolment{Enrolment: en}
	waitFor(s.t, 60*time.Second, "enrolment "+en.ID+" to end", func() (bool, string) {
		v, ok, err := s.agent.Biometrics().Enrolment(ctx, en.ID)
		if err != nil || !ok {
			s.t.Fatalf("enrolment %s: %v (known %v)", en.ID, err, ok)
		}
		if v.State != biometric.StateEnrolling {
			out.Enrolment = v
			return true, ""
		}
		if v.Step == nil || len(out.Steps) > 0 && out.Steps[len(out.Steps)-1] == v.Step.Step {
			return false, fmt.Sprintf("steps %v", out.Steps)
		}
		out.Steps = append(out.Steps, v.Step.Step)
		switch v.Step.Step {
		case sitebus.StepPlaceFinger:
			m.PlaceFinger(first)
		case sitebus.StepLiftFinger:
			m.LiftFinger()
		case sitebus.StepPlaceAgain:
			m.PlaceFinger(second)
		}
		return false, fmt.Sprintf("steps %v", out.Steps)
	})
	m.LiftFinger()
	s.waitTerminal(terminal, true)
	return out
}

// enrolled enrols finger of crn, who has consented, on each terminal, and fails
// the test unless each is enrolled.
func (s *biometricSite) enrolled(crn, finger string, terminals ...string) {
	s.t.Helper()
	for _, tm := range terminals {
		if en := s.enrol(crn, finger, tm, ""); en.State != biometric.StateEnrolled {
			s.t.Fatalf("%s's %s on %s: %+v, want enrolled", crn, finger, tm, en)
		}
	}
}

// consent records crn's consent, given or not, taken by keyworker.
func (s *biometricSite) consent(crn string, given bool) {
	s.t.Helper()
	if _, err := s.agent.Biometrics().Consent(s.t.Context(), crn, given, keyworker); err != nil {
		s.t.Fatalf("consent of %s: %v", crn, err)
	}
}

// depart records resident crn's departure in the roster register, by staff member
// by at the site's clock, as the console does.
func (s *biometricSite) depart(crn, by string) {
	s.t.Helper()
	c := register.Change{Action: register.Depart, CRN: crn, By: by, At: s.clock.Now()}
	if _, err := s.agent.RecordChange(s.t.Context(), c); err != nil {
		s.t.Fatalf("record %s's departure: %v", crn, err)
	}
	s.waitJournaled("resident.departed", 1)
}

// keptList is the credential list the bridge keeps (and decides reads by), as it
// kept it, verified with the site's key; nil if it has none yet.
func (s *biometricSite) keptList() *sitebus.CredentialList {
	s.t.Helper()
	b, err := os.ReadFile(filepath.Join(s.Dir, "bridge-state", "credentials.json"))
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		s.t.Fatal(err)
	}
	l, err := sitebus.VerifyCredentialList(b, s.Key.Public())
	if err != nil {
		s.t.Fatalf("the bridge's kept credential list: %v", err)
	}
	return l
}

// waitKept waits until the bridge keeps a credential list in which card's entry
// satisfies ok.
func (s *biometricSite) waitKept(card, what string, ok func(sitebus.Allowed) bool) {
	s.t.Helper()
	waitFor(s.t, 60*time.Second, "the bridge's list with "+card+" "+what, func() (bool, string) {
		l := s.keptList()
		if l == nil {
			return false, "no list"
		}
		i := slices.IndexFunc(l.Credentials, func(c sitebus.Allowed) bool { return c.ID == card })
		if i < 0 {
			return false, fmt.Sprintf("version %d, no %s", l.Version, card)
		}
		return ok(l.Credentials[i]), fmt.Sprintf("version %d: %+v", l.Version, l.Credentials[i])
	})
}

// wiegandCard is card id "facility:number" as a reader reads it.
func wiegandCard(t *testing.T, id string) wiegand.Card {
	t.Helper()
	var fc uint8
	var cn uint16
	if _, err := fmt.Sscanf(id, "%d:%d", &fc, &cn); err != nil {
		t.Fatalf("card %s: %v", id, err)
	}
	c, err := wiegand.Decode(wiegand.Encode26(fc, cn), 26)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// cardReads are reader id's card reads on the site bus, in order.
func (s *biometricSite) cardReads(id string) []*sitebus.CardRead {
	s.t.Helper()
	var out []*sitebus.CardRead
	seen := map[string]bool{}
	for _, m := range s.bus.find(sitebus.ClassReader, id, sitebus.KindEvent, "card-read") {
		k := fmt.Sprintf("%s/%d", m.Boot, m.Seq)
		if seen[k] {
			continue // the bridge's resend
		}
		seen[k] = true
		cr, err := sitebus.DecodeCardRead(m.Data)
		if err != nil {
			s.t.Fatalf("a card read of %s on the bus: %v", id, err)
		}
		out = append(out, cr)
	}
	return out
}

// present shows card at the front door's reader (front-in, the entry, or
// front-out, the exit), as its holder would, and returns the bridge's decision as it
// published it.
func (s *biometricSite) present(reader, card string) *sitebus.CardRead {
	s.t.Helper()
	n := len(s.cardReads(reader))
	if !s.bridge.Sim().Present(reader, wiegandCard(s.t, card)) {
		s.t.Fatalf("no simulated reader %s", reader)
	}
	var cr *sitebus.CardRead
	waitFor(s.t, 30*time.Second, card+"'s read at "+reader+" on the bus", func() (bool, string) {
		rs := s.cardReads(reader)
		if len(rs) > n {
			cr = rs[n]
			return true, ""
		}
		return false, fmt.Sprint(len(rs))
	})
	if got := cr.Credential.ID(); got != card {
		s.t.Fatalf("read of %s at %s, want %s", got, reader, card)
	}
	return cr
}

// unlocks counts the front door's unlocked events on the site bus.
func (s *biometricSite) unlocks() int {
	seen := map[string]bool{}
	for _, m := range s.bus.find(sitebus.ClassDoor, "front", sitebus.KindEvent, sitebus.DoorUnlocked) {
		seen[fmt.Sprintf("%s/%d", m.Boot, m.Seq)] = true
	}
	return len(seen)
}

// waitLock waits until the front door's lock is locked, or released, as asked (its
// lock is fail-safe: energised while locked).
func (s *biometricSite) waitLock(locked bool) {
	s.t.Helper()
	door := s.bridge.Sim().Door("front")
	waitFor(s.t, 30*time.Second, fmt.Sprintf("the front door locked=%v", locked), func() (bool, string) {
		return door.LockEnergised() == locked, ""
	})
}

// siteEvent decodes env, an envelope of the site's journal or of central's export,
// into its event with whether its signature verifies with pub; ok is false if the
// event is not of prefix.
func siteEvent(t *testing.T, env []byte, pub *sitekey.Public, prefix string) (e storedSubstanceEvent, ok bool) {
	t.Helper()
	en, err := envelope.Decode(env)
	if err != nil {
		t.Fatalf("envelope: %v", err)
	}
	ev, err := event.Parse(en.Payload)
	if err != nil {
		t.Fatalf("event: %v", err)
	}
	typ := strings.TrimPrefix(ev.Type, event.TypePrefix)
	if !strings.HasPrefix(typ, prefix) {
		return e, false
	}
	e = storedSubstanceEvent{Seq: ev.Seq, Type: typ, Person: ev.Data.PersonReference, Signed: en.Verify(pub) == nil}
	if err := json.Unmarshal(ev.Data.AdditionalInformation, &e.Info); err != nil {
		t.Fatalf("seq %d: %v", ev.Seq, err)
	}
	return e, true
}

// pub is the site's public key.
func (s *biometricSite) pub() *sitekey.Public {
	s.t.Helper()
	pub, err := sitekey.LoadPublic(s.PubPath, s.Code)
	if err != nil {
		s.t.Fatal(err)
	}
	return pub
}

// journaled returns the journal's events of typ, in order.
func (s *biometricSite) journaled(typ string) []storedSubstanceEvent {
	s.t.Helper()
	pub := s.pub()
	var out []storedSubstanceEvent
	for _, e := range s.journalEntries(s.t) {
		if ev, ok := siteEvent(s.t, e.Envelope, pub, typ); ok && ev.Type == typ {
			out = append(out, ev)
		}
	}
	return out
}

// waitJournaledInfo waits until the journal holds n events of typ and returns them.
func (s *biometricSite) waitJournaledInfo(typ string, n int) []storedSubstanceEvent {
	s.t.Helper()
	var got []storedSubstanceEvent
	waitFor(s.t, 60*time.Second, fmt.Sprintf("%d %s journaled", n, typ), func() (bool, string) {
		got = s.journaled(typ)
		return len(got) >= n, fmt.Sprint(len(got))
	})
	return got
}

// waitStoredBiometric waits until central stores the biometric events of types, in
// that order, and no others, and returns them.
func (s *biometricSite) waitStoredBiometric(types ...string) []storedSubstanceEvent {
	s.t.Helper()
	got := s.waitStoredOf("biometric.", types...)
	for _, e := range got {
		if !e.Signed {
			s.t.Errorf("seq %d %s: its signature does not verify with the site's key", e.Seq, e.Type)
		}
	}
	return got
}

// slotsOf returns the slots of m's library that hold finger.
func slotsOf(m *fingerprint.Sim, finger string) []int {
	var out []int
	for slot, f := range m.Slots() {
		if f == finger {
			out = append(out, slot)
		}
	}
	slices.Sort(out)
	return out
}
