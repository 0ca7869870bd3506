package bridge

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/apedge/apedge/devices/door"
	"github.com/apedge/apedge/formats/sitebus"
)

// TestDoorVocabulary: the machine's event kinds, reasons and event data are the
// site bus's door vocabulary (package sitebus), which the agent reads them by. The
// machine keeps its own names so that it, and the device classes that run it, do
// not depend on the bus.
func TestDoorVocabulary(t *testing.T) {
	kinds := map[string]string{
		door.EventUnlocked:      sitebus.DoorUnlocked,
		door.EventLocked:        sitebus.DoorLocked,
		door.EventOpened:        sitebus.DoorOpened,
		door.EventClosed:        sitebus.DoorClosed,
		door.EventForced:        sitebus.DoorForced,
		door.EventHeldOpen:      sitebus.DoorHeldOpen,
		door.EventTailgate:      sitebus.DoorTailgate,
		door.EventHeldOpenEnded: sitebus.DoorHeldOpenEnded,
	}
	if len(kinds) != 8 {
		t.Fatalf("%d distinct event kinds, want 8", len(kinds))
	}
	for ours, bus := range kinds {
		if ours != bus {
			t.Errorf("event kind %q, site bus says %q", ours, bus)
		}
	}
	reasons := map[door.Reason]sitebus.UnlockReason{
		door.ByCredential: sitebus.UnlockByCredential,
		door.ByExitButton: sitebus.UnlockByExitButton,
		door.ByCommand:    sitebus.UnlockByCommand,
	}
	for ours, bus := range reasons {
		if string(ours) != string(bus) {
			t.Errorf("reason %q, site bus says %q", ours, bus)
		}
	}

	at := time.Date(2026, 11, 22, 23, 30, 0, 0, time.UTC)
	ev := door.Event{Kind: door.EventTailgate, At: at, Reason: door.ByCredential, Reader: "front-in", Direction: "entry",
		Credential: "12:3456", By: "staff-7", Until: at.Add(5 * time.Second), UnlockedAt: at.Add(-time.Second),
		Authorised: true, Passages: 2, OpenFor: 1500 * time.Millisecond}
	want := sitebus.DoorEvent{Reason: sitebus.UnlockByCredential, Reader: "front-in", Direction: "entry",
		Credential: "12:3456", By: "staff-7", Until: at.Add(5 * time.Second), UnlockedAt: at.Add(-time.Second),
		Authorised: true, Passages: 2, OpenFor: 1500 * time.Millisecond}
	ours, _ := json.Marshal(ev)
	bus, _ := json.Marshal(want)
	if string(ours) != string(bus) {
		t.Errorf("door event encodes as\n%s\nsite bus as\n%s", ours, bus)
	}
	var got sitebus.DoorEvent
	if err := json.Unmarshal(ours, &got); err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("door event decodes as %+v (%v), want %+v", got, err, want)
	}
	for _, e := range []door.Event{{}, {Kind: door.EventClosed, OpenFor: time.Second}} {
		a, _ := json.Marshal(e)
		b, _ := json.Marshal(sitebus.DoorEvent{OpenFor: e.OpenFor})
		if string(a) != string(b) {
			t.Errorf("door event encodes as %s, site bus as %s", a, b)
		}
	}
	// Every field of the site bus's event is one of the machine's.
	st, bt := reflect.TypeFor[door.Event](), reflect.TypeFor[sitebus.DoorEvent]()
	for i := range bt.NumField() {
		f := bt.Field(i)
		g, ok := st.FieldByName(f.Name)
		if !ok || g.Tag.Get("json") != f.Tag.Get("json") {
			t.Errorf("site bus field %s `%s`: the machine has %v `%s`", f.Name, f.Tag, ok, g.Tag)
		}
	}
}
