package gpiodoor_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apedge/apedge/devices/device"
	"github.com/apedge/apedge/devices/device/devicetest"
	"github.com/apedge/apedge/devices/doorio"
	"github.com/apedge/apedge/devices/gpiodoor"
	"github.com/apedge/apedge/devices/wiegand"
	"github.com/apedge/apedge/internal/config"
	"github.com/apedge/apedge/internal/wait"
)

const timeout = 20 * time.Second

var (
	doorRef   = device.Ref{Class: "door", ID: "side"}
	readerRef = device.Ref{Class: "reader", ID: "side-in"}
)

// site is one simulated door with a contact, a fail-secure lock and a Wiegand reader
// outside, as config.LoadBridge would leave it.
func site(sim *config.Simulate) *config.Bridge {
	return &config.Bridge{Site: "MAN1", Simulate: sim, Doors: []config.Door{{
		ID: "side", EntryReader: "side-in", Contact: &config.Input{}, Lock: &config.Lock{Mode: "fail-secure"},
		Wiegand:   &config.WiegandReader{Reader: "side-in", Direction: "entry"},
		UnlockFor: 2 * time.Second, HeldOpenAfter: 30 * time.Second,
	}}}
}

// running opens the class in env and runs its driver until the test ends.
func running(t *testing.T, env device.Env) device.Driver {
	t.Helper()
	drv, err := gpiodoor.Class{}.Open(t.Context(), env)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- drv.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run = %v", err)
		}
	})
	return drv
}

// byRef finds a driver's device.
func byRef(t *testing.T, drv device.Driver, ref device.Ref) device.Device {
	t.Helper()
	for _, d := range drv.Devices() {
		if d.Ref() == ref {
			return d
		}
	}
	t.Fatalf("no device %s", ref)
	return nil
}

// TestDoorAgainstItsSimulator: the class on its simulated pins, with no bridge: a
// card at the Wiegand reader goes to Access, whose grant (handed to the door as the
// bridge would) unlocks it; the door reports what happens and takes commands.
func TestDoorAgainstItsSimulator(t *testing.T) {
	rec := new(devicetest.Recorder)
	var mu sync.Mutex
	var reads []device.Read
	var door device.Door
	access := device.AccessFunc(func(ctx context.Context, r device.Read) device.Decision {
		mu.Lock()
		reads = append(reads, r)
		mu.Unlock()
		door.Grant(ctx, device.Grant{Reader: r.Reader.ID, Direction: r.Direction, Credential: r.Card.ID(), At: r.At})
		return device.Decision{Granted: true}
	})
	env := devicetest.Env(t, site(&config.Simulate{Quiet: true}), nil, rec, access)
	drv := running(t, env)
	door = byRef(t, drv, doorRef).(device.Door)
	if !door.HasContact() {
		t.Error("door without its contact")
	}
	pins := env.Sims.Get(doorRef).(*doorio.SimDoor)
	rec.LastState(t, timeout, doorRef, nil)
	rec.LastState(t, timeout, readerRef, func(d json.RawMessage) bool {
		return string(d) == `{"online":true,"door":"side","direction":"entry","interface":"wiegand","secure":false,"tamper":false,"powerFault":false,"simulated":true}`
	})

	card, _ := wiegand.Decode(wiegand.Encode26(12, 10001), 26)
	env.Sims.Get(readerRef).(device.SimReader).Swipe(card)
	ev := rec.WaitEvents(t, timeout, doorRef, "unlocked")
	if !strings.Contains(string(ev[0].Data), `"reason":"credential","reader":"side-in","direction":"entry","credential":"12:10001"`) {
		t.Errorf("unlocked %s", ev[0].Data)
	}
	mu.Lock()
	if len(reads) != 1 || reads[0].Reader != readerRef || reads[0].Door != "side" || reads[0].Card.ID() != "12:10001" || reads[0].At.IsZero() {
		t.Errorf("reads %+v", reads)
	}
	mu.Unlock()
	wait.Until(t, timeout, "fail-secure lock energised to unlock", pins.LockEnergised)
	pins.Open()
	rec.WaitEvents(t, timeout, doorRef, "unlocked", "opened")
	pins.Shut()
	rec.WaitEvents(t, timeout, doorRef, "unlocked", "opened", "closed", "locked")
	st := rec.LastState(t, timeout, doorRef, func(d json.RawMessage) bool { return strings.Contains(string(d), `"locked":true`) })
	if string(st.Data) != `{"locked":true,"open":false,"positionKnown":true,"forced":false,"heldOpen":false,"lock":"fail-secure","entryReader":"side-in"}` {
		t.Errorf("door state %s", st.Data)
	}

	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	if err := door.Command(ctx, device.Command{ID: "c1", Action: gpiodoor.ActionUnlock, By: "staff-7", Body: json.RawMessage(`{"forMs":3000}`)}); err != nil {
		t.Errorf("unlock: %v", err)
	}
	ev = rec.WaitEvents(t, timeout, doorRef, "unlocked", "opened", "closed", "locked", "unlocked")
	if !strings.Contains(string(ev[4].Data), `"reason":"command"`) || !strings.Contains(string(ev[4].Data), `"by":"staff-7"`) {
		t.Errorf("unlocked by command %s", ev[4].Data)
	}
	if err := door.Command(ctx, device.Command{ID: "c2", Action: "indicate"}); !errors.Is(err, device.ErrUnsupported) || err.Error() != "indicate is not a command for a door" {
		t.Errorf("indicate at a door: %v", err)
	}
	rd := byRef(t, drv, readerRef)
	if err := rd.Command(ctx, device.Command{ID: "c3", Action: "indicate"}); err == nil || errors.Is(err, device.ErrUnsupported) {
		t.Errorf("indicate at a Wiegand reader: %v, want a failure", err)
	}
	for _, d := range drv.Devices() {
		if h := d.Health(); h.Status != device.HealthOK {
			t.Errorf("%s health %+v", d.Ref(), h)
		}
	}
}

// TestSimulatedPeople: unless the simulation is quiet, simulated people use the
// doors.
func TestSimulatedPeople(t *testing.T) {
	rec := new(devicetest.Recorder)
	var mu sync.Mutex
	var door device.Door // set once opened; people may come before
	access := device.AccessFunc(func(ctx context.Context, r device.Read) device.Decision {
		mu.Lock()
		d := door
		mu.Unlock()
		if d == nil {
			return device.Decision{Reason: "not yet"}
		}
		d.Grant(ctx, device.Grant{Reader: r.Reader.ID, Direction: r.Direction, Credential: r.Card.ID(), At: r.At})
		return device.Decision{Granted: true}
	})
	env := devicetest.Env(t, site(&config.Simulate{Every: 20 * time.Millisecond, Cards: []string{"12:10001"}}), nil, rec, access)
	d := byRef(t, running(t, env), doorRef).(device.Door)
	mu.Lock()
	door = d
	mu.Unlock()
	rec.WaitEvents(t, timeout, doorRef, "unlocked", "opened", "closed")
}
