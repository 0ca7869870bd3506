package bridge_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	bridge "github.com/apedge/apedge/firmware-bridge"
	"github.com/apedge/apedge/formats/sitebus"
	"github.com/apedge/apedge/internal/broker/brokertest"
	"github.com/apedge/apedge/internal/config"
	"github.com/apedge/apedge/internal/mqttclient"
	"github.com/apedge/apedge/internal/testlog"
	"github.com/apedge/apedge/internal/wait"
)

// fingerYAML is siteYAML with a fingerprint terminal at the front door, and
// Enhanced Security on with a short window.
const fingerYAML = siteYAML + `fingerprintTerminals:
  - {id: front-fp, port: simulated, door: front, name: front door}
enhancedSecurity: {on: true, window: 1s}
`

// startFinger is start on the Enhanced Security site of fingerYAML, with a
// list in which 12:10001 has slot 3 on front-fp, 12:10003 slot 5, 12:10004 the
// alternative and 12:10005 no slot there; the terminal holds X1/right-index in
// slot 3 and X3/right-index in slot 5.
func startFinger(t *testing.T) *harness {
	t.Helper()
	return startFingerYAML(t, fingerYAML)
}

// startFingerYAML is startFinger on the site of yaml, fingerYAML changed.
func startFingerYAML(t *testing.T, yaml string) *harness {
	t.Helper()
	brk := brokertest.Start(t)
	dir := t.TempDir()
	writeSiteKey(t, dir)
	if err := os.WriteFile(filepath.Join(dir, "front-in.scbk"), []byte("00112233445566778899aabbccddeeff\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "bridge.yaml")
	if err := os.WriteFile(path, fmt.Appendf(nil, yaml, brk.URL()), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.LoadBridge(path)
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{cfg: cfg, bus: record(t, brk.URL(), "watcher"), agt: brokertest.Client(t, brk.URL(), "agent")}
	h.key = siteKey(t, h.cfg)
	l := list(1)
	l.Credentials[0].Fingers = map[string][]int{"front-fp": {3}}
	l.Credentials = append(l.Credentials,
		sitebus.Allowed{ID: "12:10003", Fingers: map[string][]int{"front-fp": {5}}},
		sitebus.Allowed{ID: "12:10004", Alternative: true},
		sitebus.Allowed{ID: "12:10005"})
	signed, err := sitebus.SignCredentialList(h.key, l)
	if err != nil {
		t.Fatal(err)
	}
	if err := mqttclient.WaitTimeout(t.Context(), h.agt.Publish(sitebus.CredentialsTopic(site), 1, true, signed), timeout); err != nil {
		t.Fatal(err)
	}
	h.b = bridge.New(h.cfg, testlog.New(t))
	run(t, h.b)
	h.sim = h.b.Sim()
	h.waitOnline(t, "front-in", true)
	wait.For(t, timeout, "credential list kept", func() (bool, string) {
		_, err := os.Stat(filepath.Join(h.cfg.StateDir, "credentials.json"))
		return err == nil, fmt.Sprint(err)
	})
	wait.For(t, timeout, "front-fp online", func() (bool, string) {
		st := h.bus.device(t, sitebus.ClassBiometric, "front-fp", sitebus.KindState)
		if len(st) == 0 {
			return false, "no state"
		}
		s, err := sitebus.DecodeBiometricStatus(st[len(st)-1].Data)
		return err == nil && s.Online, fmt.Sprint(string(st[len(st)-1].Data), err)
	})
	fp := h.sim.Fingerprint("front-fp")
	if fp == nil {
		t.Fatal("no simulated terminal front-fp")
	}
	for slot, f := range map[int]string{3: "X1/right-index", 5: "X3/right-index"} {
		if err := fp.PutTemplate(slot, f); err != nil {
			t.Fatal(err)
		}
	}
	return h
}

func TestFingerAtTheDoor(t *testing.T) {
	t.Parallel()
	h := startFinger(t)
	fp := h.sim.Fingerprint("front-fp")
	tests := []struct {
		name   string
		cn     uint16
		finger string
		reason string // "": granted
		result string
		slot   int // -1: none
	}{
		{"wrong finger", 10001, "X9/unknown", "second-factor", sitebus.FactorNotMatched, -1},
		{"another person's finger", 10001, "X3/right-index", "second-factor", sitebus.FactorOtherPerson, 5},
		{"no finger", 10001, "", "second-factor", sitebus.FactorNoFinger, -1},
		{"alternative", 10004, "X1/right-index", "staff-confirmation", sitebus.FactorAlternative, -1},
		{"not enrolled here", 10005, "X1/right-index", "second-factor", sitebus.FactorNotEnrolled, -1},
		{"the holder's finger", 10001, "X1/right-index", "", sitebus.FactorMatched, 3},
	}
	for i, tt := range tests {
		fp.PlaceFinger(tt.finger)
		h.sim.Present("front-in", card(t, 12, tt.cn))
		cr := decodeCardRead(t, h.bus.waitEvents(t, sitebus.ClassReader, "front-in", i, "card-read")[0])
		sf := cr.SecondFactor
		switch {
		case sf == nil:
			t.Errorf("%s: card read %+v without a second factor", tt.name, cr)
			continue
		case cr.Granted != (tt.reason == "") || cr.Reason != tt.reason || sf.Terminal != "front-fp" || sf.Result != tt.result:
			t.Errorf("%s: granted %v reason %q, second factor %+v; want reason %q, result %s on front-fp", tt.name, cr.Granted, cr.Reason, sf, tt.reason, tt.result)
		case tt.slot < 0 && sf.Slot != nil, tt.slot >= 0 && (sf.Slot == nil || *sf.Slot != tt.slot || sf.Score <= 0):
			t.Errorf("%s: second factor slot %v score %d, want slot %d", tt.name, sf.Slot, sf.Score, tt.slot)
		}
		if tt.reason != "" && !h.sim.Door("front").LockEnergised() {
			t.Errorf("%s: the door unlocked on a refusal", tt.name)
		}
	}
	// The last read granted: the door unlocks.
	h.waitLock(t, "front", false)
	h.waitLock(t, "front", true) // relocked after unlockFor, not opened
	// The exit button needs no finger.
	fp.LiftFinger()
	front := h.sim.Door("front")
	front.PressExit()
	h.waitLock(t, "front", false)
	front.ReleaseExit()
	ev := h.bus.waitEvents(t, sitebus.ClassDoor, "front", 0, "unlocked", "unlocked")
	var u struct{ Reason string }
	json.Unmarshal(ev[1].Data, &u)
	if u.Reason != string(sitebus.UnlockByExitButton) {
		t.Errorf("second unlock %s, want by the exit button", ev[1].Data)
	}
}

// TestLinePolledWhileAFingerIsAwaited presents a card at the front door with no
// finger on its terminal, so that the bridge waits for one (for the window, here
// long), and checks that meanwhile the OSDP line goes on: a key pressed on the
// other reader of the line is published while the card waits, and then the finger
// placed grants the card. (Before the reads were decided off the polling loop, the
// whole line stood still until the window ran out.)
func TestLinePolledWhileAFingerIsAwaited(t *testing.T) {
	t.Parallel()
	h := startFingerYAML(t, strings.Replace(fingerYAML, "window: 1s", "window: 1m", 1))
	fp := h.sim.Fingerprint("front-fp")
	fp.LiftFinger()
	h.sim.Present("front-in", card(t, 12, 10001))
	h.sim.Reader("front-out").Keypad("1")
	h.bus.waitEvents(t, sitebus.ClassReader, "front-out", 0, "keypad")
	for _, m := range h.bus.device(t, sitebus.ClassReader, "front-in", sitebus.KindEvent) {
		if m.Kind == "card-read" {
			t.Fatalf("front-in's card read decided before its finger came: %s", m.Data)
		}
	}
	fp.PlaceFinger("X1/right-index")
	cr := decodeCardRead(t, h.bus.waitEvents(t, sitebus.ClassReader, "front-in", 0, "card-read")[0])
	if !cr.Granted || cr.SecondFactor == nil || cr.SecondFactor.Result != sitebus.FactorMatched {
		t.Errorf("card read %+v, second factor %+v; want granted, matched", cr, cr.SecondFactor)
	}
}
