package agent_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/apedge/apedge/agent"
	"github.com/apedge/apedge/formats/sitebus"
)

// fakeDoors stands in for the bridge's doors: it answers every signed command to a
// door with done, and keeps what it got.
type fakeDoors struct {
	s   *apSite
	seq atomic.Uint64

	mu   sync.Mutex
	cmds map[string][]sitebus.Command // by door
}

func (s *apSite) fakeDoors(doors ...string) *fakeDoors {
	s.t.Helper()
	f := &fakeDoors{s: s, cmds: map[string][]sitebus.Command{}}
	for i, d := range doors {
		f.status(d, uint64(i+1), sitebus.DoorStatus{Locked: true})
	}
	tok := s.bus.Subscribe(sitebus.DeviceFilter(site, sitebus.KindCmd), 1, func(_ mqtt.Client, m mqtt.Message) {
		tp, err := sitebus.ParseTopic(m.Topic())
		if err != nil {
			return
		}
		cmd, _, err := sitebus.VerifyCommand(m.Payload(), s.key.Public(), site, tp.Class, tp.ID)
		if err != nil {
			s.t.Errorf("command to %s: %v", tp.ID, err)
			return
		}
		f.mu.Lock()
		f.cmds[tp.ID] = append(f.cmds[tp.ID], *cmd)
		f.mu.Unlock()
		res, _ := json.Marshal(sitebus.Result{ID: cmd.ID, Status: sitebus.ResultDone})
		msg := sitebus.Message{Time: noon, Boot: "boot-a", Seq: f.seq.Add(1), Kind: sitebus.ResultDone, Data: res}
		go s.bus.Publish(sitebus.DeviceTopic(site, tp.Class, tp.ID, sitebus.KindCmdResult), 1, false, msg.Encode())
	})
	if !tok.WaitTimeout(timeout) || tok.Error() != nil {
		s.t.Fatalf("subscribe to commands: %v", tok.Error())
	}
	return f
}

// status publishes door's retained status, as the bridge does after each change.
func (f *fakeDoors) status(door string, seq uint64, st sitebus.DoorStatus) {
	b, _ := json.Marshal(st)
	msg := sitebus.Message{Time: noon, Boot: "boot-a", Seq: seq, Kind: "status", Data: b}
	f.s.publish(sitebus.DeviceTopic(site, sitebus.ClassDoor, door, sitebus.KindState), true, msg.Encode())
}

func (f *fakeDoors) got(door string) []sitebus.Command {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.cmds[door])
}

// journaledInfo returns the additional information of every event of typ.
func (s *apSite) journaledInfo(a *agent.Agent, typ string) []map[string]any {
	var out []map[string]any
	for _, ev := range s.events(a) {
		if ev.Type == "approved-premises."+typ {
			var info map[string]any
			json.Unmarshal(ev.Data.AdditionalInformation, &info)
			out = append(out, info)
		}
	}
	return out
}

// TestHoldDoorJournaled: a door held unlocked for an hour and then ended early is
// ordered from the bridge, signed, and journaled with who, why, how and until when.
func TestHoldDoorJournaled(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	a, _, _ := s.startAgent()
	subscribed(t, a)
	f := s.fakeDoors("front", "garden")
	s.waitFor("doors reported", func() (bool, string) { return len(a.Devices().Doors) == 2, fmt.Sprint(a.Devices().Doors) })

	until := noon.Add(time.Hour)
	res, err := a.HoldDoor(t.Context(), "front", "mgr-1", "deliveries all morning", sitebus.HoldUnlocked, until)
	if err != nil || res.Status != sitebus.ResultDone {
		t.Fatalf("HoldDoor = %+v, %v", res, err)
	}
	if _, err := a.HoldDoor(t.Context(), "front", "mgr-1", "", "", time.Time{}); err != nil {
		t.Fatalf("end the hold: %v", err)
	}
	cmds := f.got("front")
	if len(cmds) != 2 || cmds[0].Action != sitebus.ActionHold || cmds[0].Mode != sitebus.HoldUnlocked || !cmds[0].Until.Equal(until) ||
		cmds[0].By != "mgr-1" || cmds[0].Reason != "deliveries all morning" || cmds[1].Action != sitebus.ActionRelease {
		t.Fatalf("front got %+v, want a hold unlocked until %v and a release", cmds, until)
	}
	held := s.journaledInfo(a, "door.held")
	if len(held) != 1 {
		t.Fatalf("%d door.held, want 1", len(held))
	}
	if h := held[0]; h["door"] != "front" || h["by"] != "mgr-1" || h["reason"] != "deliveries all morning" || h["mode"] != "unlocked" ||
		h["until"] != until.UTC().Format(time.RFC3339) || h["result"] != "done" || h["command"] != cmds[0].ID {
		t.Errorf("door.held = %v", h)
	}
	ended := s.journaledInfo(a, "door.hold-ended")
	if len(ended) != 1 || ended[0]["released"] != true || ended[0]["by"] != "mgr-1" || ended[0]["result"] != "done" {
		t.Errorf("door.hold-ended = %v, want one release by mgr-1", ended)
	}

	for _, tc := range []struct {
		name, door, by, mode string
		until                time.Time
	}{
		{"not a door id", "front door", "mgr-1", sitebus.HoldLocked, until},
		{"by nobody", "front", "", sitebus.HoldLocked, until},
		{"bad mode", "front", "mgr-1", "open", until},
		{"in the past", "front", "mgr-1", sitebus.HoldLocked, noon.Add(-time.Minute)},
	} {
		if _, err := a.HoldDoor(t.Context(), tc.door, tc.by, "x", tc.mode, tc.until); err == nil {
			t.Errorf("%s: no error", tc.name)
		}
	}
	if n := len(f.got("front")); n != 2 {
		t.Errorf("front got %d commands, want 2: refused orders are not sent", n)
	}
}

// TestLockdownJournaled: a lockdown is one signed hold per door, journaled once as
// site.lockdown with every door's result; while it lasts a door's own hold is
// refused; its release is journaled as site.lockdown-released; and a hold that runs
// out on the bridge is journaled as door.hold-ended.
func TestLockdownJournaled(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	a, _, _ := s.startAgent()
	subscribed(t, a)
	f := s.fakeDoors("front", "garden")
	s.waitFor("doors reported", func() (bool, string) { return len(a.Devices().Doors) == 2, fmt.Sprint(a.Devices().Doors) })

	o, err := a.Lockdown(t.Context(), "mgr-1", "police incident on the street")
	if err != nil || len(o.Doors) != 2 || len(o.Failed()) != 0 {
		t.Fatalf("Lockdown = %+v, %v", o, err)
	}
	for _, door := range []string{"front", "garden"} {
		c := f.got(door)
		if len(c) != 1 || c[0].Action != sitebus.ActionHold || c[0].Mode != sitebus.HoldLockdown || c[0].By != "mgr-1" ||
			!c[0].Until.Equal(noon.Add(agent.LockdownFor)) || c[0].Reason != "police incident on the street" {
			t.Errorf("%s got %+v, want a lockdown hold for %v", door, c, agent.LockdownFor)
		}
	}
	ld := s.journaledInfo(a, "site.lockdown")
	if len(ld) != 1 {
		t.Fatalf("%d site.lockdown, want 1", len(ld))
	}
	if got := ld[0]; got["by"] != "mgr-1" || got["reason"] != "police incident on the street" || fmt.Sprint(got["doors"]) != "[map[door:front result:done] map[door:garden result:done]]" {
		t.Errorf("site.lockdown = %v", got)
	}

	// The doors report themselves locked down.
	lockedDown := sitebus.DoorStatus{Locked: true, Hold: sitebus.HoldLockdown, HoldUntil: noon.Add(agent.LockdownFor), HoldBy: "mgr-1", HoldReason: "police incident on the street"}
	f.status("front", 10, lockedDown)
	s.waitFor("lockdown seen", func() (bool, string) { v := a.LockdownState(); return v.Active, fmt.Sprintf("%+v", v) })
	if v := a.LockdownState(); v.By != "mgr-1" || !slices.Equal(v.Doors, []string{"front"}) || !slices.Equal(v.NotLocked, []string{"garden"}) {
		t.Errorf("LockdownState = %+v, want front locked down by mgr-1, garden not", v)
	}
	if _, err := a.HoldDoor(t.Context(), "front", "sec-1", "let the police in", sitebus.HoldUnlocked, noon.Add(time.Hour)); !errors.Is(err, agent.ErrInLockdown) {
		t.Errorf("hold of a locked-down door: %v, want ErrInLockdown", err)
	}

	o, err = a.ReleaseLockdown(t.Context(), "mgr-2", "all clear")
	if err != nil || len(o.Doors) != 2 {
		t.Fatalf("ReleaseLockdown = %+v, %v", o, err)
	}
	if c := f.got("garden"); len(c) != 2 || c[1].Action != sitebus.ActionRelease || c[1].Mode != sitebus.HoldLockdown || c[1].By != "mgr-2" {
		t.Errorf("garden got %+v, want the lockdown's release", c)
	}
	rel := s.journaledInfo(a, "site.lockdown-released")
	if len(rel) != 1 || rel[0]["by"] != "mgr-2" || rel[0]["reason"] != "all clear" {
		t.Errorf("site.lockdown-released = %v", rel)
	}
	f.status("front", 11, sitebus.DoorStatus{Locked: true})
	s.waitFor("lockdown over", func() (bool, string) { v := a.LockdownState(); return !v.Active, fmt.Sprintf("%+v", v) })

	// A hold that runs out by itself on the bridge; one released by staff (By set)
	// was journaled with its order, and makes no second event.
	for i, ev := range []sitebus.DoorEvent{
		{By: "mgr-2", Hold: sitebus.HoldLockdown, HoldReason: "police incident on the street"},
		{Hold: sitebus.HoldLocked, HoldReason: "room search"},
	} {
		b, _ := json.Marshal(ev)
		msg := sitebus.Message{Time: noon, Boot: "boot-a", Seq: uint64(i + 1), Kind: sitebus.DoorHoldEnded, Data: b}
		s.publish(sitebus.DeviceTopic(site, sitebus.ClassDoor, "garden", sitebus.KindEvent), false, msg.Encode())
	}
	s.waitTypes(a, "door.hold-ended")
	ended := s.journaledInfo(a, "door.hold-ended")
	if len(ended) != 1 || ended[0]["ranOut"] != true || ended[0]["door"] != "garden" || ended[0]["mode"] != "locked" || ended[0]["reason"] != "room search" {
		t.Errorf("door.hold-ended = %v, want the one that ran out", ended)
	}
}
