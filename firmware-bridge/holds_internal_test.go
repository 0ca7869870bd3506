package bridge

import (
	"context"
	"testing"
	"time"

	"github.com/apedge/apedge/devices/device"
	"github.com/apedge/apedge/devices/door"
	"github.com/apedge/apedge/formats/sitebus"
)

// machineDoor is a door device on a door state machine, for holdRefusal.
type machineDoor struct{ m *door.Machine }

func (machineDoor) Ref() device.Ref                               { return device.Ref{Class: sitebus.ClassDoor, ID: "front"} }
func (machineDoor) Command(context.Context, device.Command) error { return nil }
func (machineDoor) Health() device.Health                         { return device.Health{} }
func (machineDoor) Grant(context.Context, device.Grant)           {}
func (machineDoor) HasContact() bool                              { return true }
func (d machineDoor) Refuses(now time.Time, direction string) string {
	return d.m.Refuses(now, direction)
}

// plainDoor takes no holds.
type plainDoor struct{ machineDoor }

func (plainDoor) Refuses() {} // not the holdRefuser method

func TestHoldRefusal(t *testing.T) {
	t0 := time.Date(2026, 11, 22, 23, 0, 0, 0, time.UTC)
	m := door.New(door.Config{})
	d := machineDoor{m}
	if got := holdRefusal(d, t0, "entry"); got != "" {
		t.Errorf("no hold: refused %q", got)
	}
	m.Handle(t0, door.Hold{Mode: door.HoldLockdown, Until: t0.Add(time.Hour)})
	tests := []struct {
		d         device.Door
		at        time.Time
		direction string
		want      string
	}{
		{d, t0.Add(time.Minute), "entry", sitebus.DenyLockdown},
		{d, t0.Add(time.Minute), "exit", ""},
		{d, t0.Add(time.Hour), "entry", ""},
		{plainDoor{d}, t0.Add(time.Minute), "entry", ""},
	}
	for _, tc := range tests {
		if got := holdRefusal(tc.d, tc.at, tc.direction); got != tc.want {
			t.Errorf("holdRefusal(%T, %v, %q) = %q, want %q", tc.d, tc.at, tc.direction, got, tc.want)
		}
	}
	m.Handle(t0, door.Hold{Mode: door.HoldLocked, Until: t0.Add(time.Hour)})
	if got := holdRefusal(d, t0.Add(time.Minute), "entry"); got != sitebus.DenyHeldLocked {
		t.Errorf("held locked: refused %q, want %q", got, sitebus.DenyHeldLocked)
	}
}

// TestHoldVocabulary: the machine's hold names are the site bus's.
func TestHoldVocabulary(t *testing.T) {
	for _, p := range [][2]string{
		{door.HoldUnlocked, sitebus.HoldUnlocked}, {door.HoldLocked, sitebus.HoldLocked}, {door.HoldLockdown, sitebus.HoldLockdown},
		{door.EventHeld, sitebus.DoorHeld}, {door.EventHoldEnded, sitebus.DoorHoldEnded},
		{door.RefusedHeldLocked, sitebus.DenyHeldLocked}, {door.RefusedLockdown, sitebus.DenyLockdown},
		{string(door.ByHold), string(sitebus.UnlockByHold)},
	} {
		if p[0] != p[1] {
			t.Errorf("door says %q, site bus %q", p[0], p[1])
		}
	}
}
