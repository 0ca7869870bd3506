package bridge_test

import (
	"testing"
	"time"

	"github.com/apedge/apedge/formats/sitebus"
)

// TestLockdownRefusesEntryOnly runs a lockdown on the simulated site's door: an entry
// card is refused (reason lockdown) and the door stays locked, while the exit reader
// and the exit button still let people out; the release lets the entry card in again.
func TestLockdownRefusesEntryOnly(t *testing.T) {
	t.Parallel()
	h := start(t)
	front := h.sim.Door("front")
	soon := time.Now().Add(time.Minute)
	res := command(t, h, sitebus.ClassDoor, "front", sitebus.Command{ID: "l1", Action: sitebus.ActionHold, Deadline: soon,
		By: "mgr", Mode: sitebus.HoldLockdown, Until: time.Now().Add(12*time.Hour - time.Minute), Reason: "police"})
	if res.Status != sitebus.ResultDone {
		t.Fatalf("lockdown: %+v", res)
	}
	h.bus.waitEvents(t, sitebus.ClassDoor, "front", 0, sitebus.DoorHeld)

	h.sim.Present("front-in", card(t, 12, 10001))
	cr := decodeCardRead(t, h.bus.waitEvents(t, sitebus.ClassReader, "front-in", 0, "card-read")[0])
	if cr.Granted || cr.Reason != sitebus.DenyLockdown {
		t.Errorf("entry in lockdown: %+v, want refused: lockdown", cr)
	}
	if !front.LockEnergised() {
		t.Fatal("entry card unlocked the door in lockdown")
	}

	h.sim.Present("front-out", card(t, 12, 10001))
	cr = decodeCardRead(t, h.bus.waitEvents(t, sitebus.ClassReader, "front-out", 0, "card-read")[0])
	if !cr.Granted || cr.Direction != "exit" {
		t.Errorf("exit card in lockdown: %+v, want granted", cr)
	}
	h.waitLock(t, "front", false) // let out
	h.waitLock(t, "front", true)

	front.PressExit()
	h.waitLock(t, "front", false) // the exit button always lets people out
	front.ReleaseExit()
	h.waitLock(t, "front", true)

	res = command(t, h, sitebus.ClassDoor, "front", sitebus.Command{ID: "r1", Action: sitebus.ActionRelease, Deadline: soon, By: "mgr", Mode: sitebus.HoldLockdown})
	if res.Status != sitebus.ResultDone {
		t.Fatalf("release: %+v", res)
	}
	h.bus.waitEvents(t, sitebus.ClassDoor, "front", 0, sitebus.DoorHoldEnded)
	h.sim.Present("front-in", card(t, 12, 10001))
	reads := h.bus.waitEvents(t, sitebus.ClassReader, "front-in", 1, "card-read")
	if cr := decodeCardRead(t, reads[len(reads)-1]); !cr.Granted {
		t.Errorf("entry after the release: %+v, want granted", cr)
	}
}

// TestHoldUnlockedOnTheDoor: a door held unlocked past maxUnlock stays unlocked, and
// relocks when its hold is ended.
func TestHoldUnlockedOnTheDoor(t *testing.T) {
	t.Parallel()
	h := start(t)
	soon := time.Now().Add(time.Minute)
	res := command(t, h, sitebus.ClassDoor, "front", sitebus.Command{ID: "h1", Action: sitebus.ActionHold, Deadline: soon,
		By: "mgr", Mode: sitebus.HoldUnlocked, Until: time.Now().Add(time.Hour), Reason: "deliveries"})
	if res.Status != sitebus.ResultDone {
		t.Fatalf("hold: %+v", res)
	}
	h.waitLock(t, "front", false)
	res = command(t, h, sitebus.ClassDoor, "front", sitebus.Command{ID: "r1", Action: sitebus.ActionRelease, Deadline: soon, By: "mgr"})
	if res.Status != sitebus.ResultDone {
		t.Fatalf("release: %+v", res)
	}
	h.waitLock(t, "front", true)
}
