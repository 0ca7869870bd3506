package agent_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/apedge/apedge/agent"
	"github.com/apedge/apedge/devices/wiegand"
	bridge "github.com/apedge/apedge/firmware-bridge"
	"github.com/apedge/apedge/formats/sitebus"
	"github.com/apedge/apedge/internal/clock/clocktest"
	"github.com/apedge/apedge/internal/config"
	"github.com/apedge/apedge/internal/wait"
)

// startBridge runs a real bridge on the site's bus with one simulated door, front,
// whose readers are OSDP readers on a pseudo-terminal; nobody uses it unless the test
// does.
func (s *apSite) startBridge() *bridge.Bridge {
	s.t.Helper()
	path := filepath.Join(s.dir, "bridge.yaml")
	yaml := fmt.Sprintf(`site: %s
stateDir: bridge-state
bus: {broker: %s}
osdp:
  - port: simulated
    baud: 115200
    readers:
      - {id: front-in, address: 1, insecure: true}
      - {id: front-out, address: 2, insecure: true}
doors:
  - {id: front, entryReader: front-in, exitReader: front-out, lock: {mode: fail-safe}, heldOpenAfter: 1s}
simulate: {quiet: true}
`, site, s.broker.URL())
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		s.t.Fatal(err)
	}
	cfg, err := config.LoadBridge(path)
	if err != nil {
		s.t.Fatal(err)
	}
	if s.clock == nil {
		s.t.Fatal("startBridge: start the agent first, on a running clock (clocktest.Running)")
	}
	b := bridge.New(cfg, s.log, bridge.WithClock(s.clock))
	start(s.t, "bridge", b.Run)
	select {
	case <-b.Ready():
	case <-time.After(timeout):
		s.t.Fatal("bridge not ready")
	}
	return b
}

// types lists the event types of the journal after seq 1 (agent.started).
func (s *apSite) types(a *agent.Agent) []string {
	var out []string
	evs := s.events(a)
	if len(evs) < 2 {
		return nil
	}
	for _, ev := range evs[1:] {
		out = append(out, ev.Type[len("approved-premises."):])
	}
	return out
}

// waitTypes waits until the journal holds events of every type in want.
func (s *apSite) waitTypes(a *agent.Agent, want ...string) {
	s.t.Helper()
	s.waitFor(fmt.Sprint("journal types ", want), func() (bool, string) {
		got := s.types(a)
		for _, w := range want {
			if !slices.Contains(got, w) {
				return false, fmt.Sprint(got)
			}
		}
		return true, ""
	})
}

func (s *apSite) waitFor(what string, cond func() (bool, string)) {
	s.t.Helper()
	wait.For(s.t, timeout, what, cond)
}

// TestDoorEventsThroughTheBridge runs the agent with a real bridge over simulated
// OSDP readers and door pins: the agent's credential list lets a resident in, the
// movement is attributed, and a forced, held door becomes signed door events.
func TestDoorEventsThroughTheBridge(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	s.clock = clocktest.Running(noon) // the doors time themselves
	s.startCentral()
	a, _, _ := s.startAgent()
	b := s.startBridge()
	sim := b.Sim()
	s.waitTypes(a, "reader.online")
	s.waitFor("the bridge to keep the agent's credential list", func() (bool, string) {
		_, err := os.Stat(filepath.Join(s.dir, "bridge-state", "credentials.json"))
		return err == nil, fmt.Sprint(err)
	})

	front := sim.Door("front")
	card, _ := wiegand.Decode(wiegand.Encode26(12, 10002), 26)
	sim.Present("front-in", card)
	s.waitFor("the lock released", func() (bool, string) { return !front.LockEnergised(), "" })
	front.Open()
	s.waitTypes(a, "movement.entered")
	front.Shut()
	stranger, _ := wiegand.Decode(wiegand.Encode26(99, 1), 26)
	sim.Present("front-out", stranger) // refused: no movement

	// Out by the exit button, with no read: an unattributed exit.
	s.waitFor("the door relocked", func() (bool, string) { return front.LockEnergised(), "" })
	front.PressExit()
	s.waitFor("the lock released for the exit button", func() (bool, string) { return !front.LockEnergised(), "" })
	front.ReleaseExit()
	front.Open()
	s.waitTypes(a, "movement.exited")
	front.Shut()

	// Forced, then held open (1s).
	s.waitFor("the door relocked", func() (bool, string) { return front.LockEnergised(), "" })
	front.Open()
	s.waitTypes(a, "door.forced", "door.held-open")
	front.Shut()

	type moveInfo struct {
		Basis, Reader, Direction string
		Attributed               *bool
		Credential               struct{ ID string }
		ReadAt, OpenedAt         time.Time
	}
	var moves []moveInfo
	for _, ev := range s.events(a) {
		switch ev.Type {
		case "approved-premises.movement.entered", "approved-premises.movement.exited":
			var mi moveInfo
			json.Unmarshal(ev.Data.AdditionalInformation, &mi)
			moves = append(moves, mi)
			if mi.Attributed == nil {
				if p := ev.Data.PersonReference; p == nil || p.Identifiers[0].Value != "X100002" || ev.Type != "approved-premises.movement.entered" {
					t.Errorf("%s %s attributed to %+v, want an entry by X100002", ev.ID, ev.Type, p)
				}
			} else if ev.Data.PersonReference != nil || ev.Type != "approved-premises.movement.exited" {
				t.Errorf("%s %s: %s, want an unattributed exit", ev.ID, ev.Type, ev.Data.AdditionalInformation)
			}
		case "approved-premises.door.forced":
			var info struct{ Door string }
			json.Unmarshal(ev.Data.AdditionalInformation, &info)
			if info.Door != "front" {
				t.Errorf("door.forced %s", ev.Data.AdditionalInformation)
			}
		}
	}
	if len(moves) != 2 {
		t.Fatalf("%d movements, want 2 (the refused card is none): %v", len(moves), s.types(a))
	}
	if in := moves[0]; in.Basis != "read-then-door-opened" || in.Reader != "front-in" || in.Credential.ID != "12:10002" ||
		in.ReadAt.IsZero() || in.OpenedAt.Before(in.ReadAt) {
		t.Errorf("entry evidence %+v, want the read at front-in and then the opening", in)
	}
	if out := moves[1]; out.Basis != "exit-button" || out.Direction != "exit" {
		t.Errorf("exit evidence %+v, want the exit button", out)
	}
	// The agent acknowledged every device message to the bridge, which keeps none.
	s.waitFor("the bridge's outbox acknowledged", func() (bool, string) {
		n, err := b.Unacknowledged(t.Context())
		return err == nil && n == 0, fmt.Sprint(n, err)
	})
}

// TestUnlockDoor: a staff member's momentary unlock reaches the door through the
// bridge and is journaled, with who asked and why, whatever the outcome.
func TestUnlockDoor(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	s.clock = clocktest.Running(noon) // the doors time themselves
	s.startCentral()
	a, _, _ := s.startAgent()
	b := s.startBridge()
	s.waitTypes(a, "reader.online")

	res, err := a.UnlockDoor(t.Context(), "front", "staff-7", "delivery", 3*time.Second)
	if err != nil || res.Status != sitebus.ResultDone {
		t.Fatalf("UnlockDoor = %+v, %v", res, err)
	}
	front := b.Sim().Door("front")
	s.waitFor("the lock released", func() (bool, string) { return !front.LockEnergised(), "" })

	_, err = a.UnlockDoor(t.Context(), "cellar", "staff-7", "", 0)
	if err == nil {
		t.Error("unlock of a door the bridge has not: no error")
	}
	if _, err := a.UnlockDoor(t.Context(), "front", "", "", 0); err == nil {
		t.Error("unlock by nobody: no error")
	}

	var audited []map[string]any
	for _, ev := range s.events(a) {
		if ev.Type == "approved-premises.door.unlock-ordered" {
			var info map[string]any
			json.Unmarshal(ev.Data.AdditionalInformation, &info)
			audited = append(audited, info)
		}
	}
	if len(audited) != 2 {
		t.Fatalf("%d unlock orders journaled, want 2 (the one by nobody is refused before it is sent): %v", len(audited), audited)
	}
	if got := audited[0]; got["door"] != "front" || got["by"] != "staff-7" || got["reason"] != "delivery" || got["result"] != "done" || got["forMs"] != 3000.0 {
		t.Errorf("audit of the unlock: %v", got)
	}
	if got := audited[1]; got["door"] != "cellar" || got["result"] != "failed" {
		t.Errorf("audit of the failed unlock: %v", got)
	}
	if types := s.types(a); slices.Contains(types, "command.unordered") {
		t.Errorf("journal %v: an ordered command's result taken for an unordered one", types)
	}
}

// TestUnlockDoorNoBridge: with no bridge to answer, the order is still journaled as
// unanswered.
func TestUnlockDoorNoBridge(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	a, _, _ := s.startAgent()
	subscribed(t, a)
	ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
	defer cancel()
	_, err := a.UnlockDoor(ctx, "front", "staff-7", "test", 0)
	if !errors.Is(err, agent.ErrNoAnswer) && !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("UnlockDoor with no bridge = %v, want no answer", err)
	}
	s.waitTypes(a, "door.unlock-ordered")
}

// TestUnorderedCommandResult: a command result for a command the agent never ordered
// (someone else gave the bridge a command, or forged the result) raises the alarm
// command.unordered, once however often the result is sent again.
func TestUnorderedCommandResult(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	a, _, _ := s.startAgent()
	subscribed(t, a)
	res, _ := json.Marshal(sitebus.Result{ID: "not-ours", Status: sitebus.ResultFailed, Error: "refused: unsigned: command: not signed"})
	msg := sitebus.Message{Time: noon, Boot: "boot-a", Seq: 1, Kind: sitebus.ResultFailed, Data: res}
	topic := sitebus.DeviceTopic(site, sitebus.ClassDoor, "front", sitebus.KindCmdResult)
	s.publish(topic, false, msg.Encode())
	s.publish(topic, false, msg.Encode()) // the bridge sends it again until acknowledged
	s.waitTypes(a, "command.unordered")
	s.waitFor("the repeat taken for the same alarm", func() (bool, string) {
		st := a.Stats()
		return st.Duplicates >= 1, fmt.Sprintf("%+v", st)
	})
	var alarms []map[string]any
	for _, ev := range s.events(a) {
		if ev.Type == "approved-premises.command.unordered" {
			var info map[string]any
			json.Unmarshal(ev.Data.AdditionalInformation, &info)
			alarms = append(alarms, info)
		}
	}
	if len(alarms) != 1 {
		t.Fatalf("%d command.unordered alarms, want 1: %v", len(alarms), alarms)
	}
	if got := alarms[0]; got["command"] != "not-ours" || got["result"] != "failed" || got["error"] != "refused: unsigned: command: not signed" {
		t.Errorf("alarm info %v", got)
	}
}
