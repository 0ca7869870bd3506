package bridge_test

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apedge/apedge/devices/device"
	"github.com/apedge/apedge/devices/door"
	bridge "github.com/apedge/apedge/firmware-bridge"
	"github.com/apedge/apedge/formats/sitebus"
	"github.com/apedge/apedge/internal/broker/brokertest"
	"github.com/apedge/apedge/internal/testlog"
	"github.com/apedge/apedge/internal/wait"
)

// holdClass is a door class whose one door runs the door state machine and takes
// holds, as a door class carries them out.
type holdClass struct {
	dev *holdDoor
	env device.Env
}

func (c *holdClass) Name() string { return "hold-door" }

func (c *holdClass) Open(ctx context.Context, env device.Env) (device.Driver, error) {
	c.dev = &holdDoor{m: door.New(door.Config{HasContact: true}), clock: env.Clock.Now}
	c.env = env
	return c, nil
}

func (c *holdClass) Devices() []device.Device { return []device.Device{c.dev} }

func (c *holdClass) Run(ctx context.Context) error {
	if ctx.Err() == nil {
		c.env.Sink.State(c.dev.Ref(), "status", c.dev.state(), c.env.Clock.Now())
	}
	<-ctx.Done()
	return nil
}

type holdDoor struct {
	clock func() time.Time

	mu       sync.Mutex
	m        *door.Machine
	commands []sitebus.Command
}

func (d *holdDoor) Ref() device.Ref { return device.Ref{Class: sitebus.ClassDoor, ID: "front"} }

func (d *holdDoor) Command(ctx context.Context, cmd device.Command) error {
	var c sitebus.Command
	if err := json.Unmarshal(cmd.Body, &c); err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.commands = append(d.commands, c)
	switch cmd.Action {
	case sitebus.ActionHold:
		d.m.Handle(d.clock(), door.Hold{Mode: c.Mode, Until: c.Until, By: c.By, Reason: c.Reason})
	case sitebus.ActionRelease:
		d.m.Handle(d.clock(), door.Release{Mode: c.Mode, By: c.By})
	default:
		return device.Unsupported(d.Ref(), cmd.Action)
	}
	return nil
}

func (d *holdDoor) Health() device.Health                     { return device.Health{Status: device.HealthOK} }
func (d *holdDoor) Grant(ctx context.Context, g device.Grant) {}
func (d *holdDoor) HasContact() bool                          { return true }

// Refuses says why the door's hold refuses a read.
func (d *holdDoor) Refuses(now time.Time, direction string) string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.m.Refuses(now, direction)
}

func (d *holdDoor) state() door.State {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.m.State()
}

// TestHoldCommands: a signed hold is carried out by the door for as long as it says,
// however much longer than maxUnlock, up to maxHold; a longer one is refused; a
// release ends it; a lockdown is a hold per door.
func TestHoldCommands(t *testing.T) {
	t.Parallel()
	brk := brokertest.Start(t)
	cfg := quietSite(t, brk.URL())
	if cfg.MaxHold != 12*time.Hour || cfg.MaxUnlock != 30*time.Second {
		t.Fatalf("maxHold %v, maxUnlock %v; want the defaults 12h, 30s", cfg.MaxHold, cfg.MaxUnlock)
	}
	h := &harness{cfg: cfg, key: siteKey(t, cfg), bus: record(t, brk.URL(), "watcher"), agt: brokertest.Client(t, brk.URL(), "agent")}
	hc := &holdClass{}
	h.b = bridge.New(cfg, testlog.New(t), bridge.WithClasses(hc))
	run(t, h.b)
	wait.For(t, timeout, "front's state on the bus", func() (bool, string) {
		return len(h.bus.device(t, sitebus.ClassDoor, "front", sitebus.KindState)) > 0, ""
	})

	now := time.Now()
	soon := now.Add(time.Minute)
	res := command(t, h, sitebus.ClassDoor, "front", sitebus.Command{ID: "h1", Action: sitebus.ActionHold, Deadline: soon,
		By: "mgr", Mode: sitebus.HoldUnlocked, Until: now.Add(2 * time.Hour), Reason: "deliveries"})
	if res.Status != sitebus.ResultDone {
		t.Fatalf("hold unlocked for 2h (maxUnlock 30s): %+v, want done", res)
	}
	if st := hc.dev.state(); st.Locked || st.Hold != door.HoldUnlocked || st.HoldBy != "mgr" || st.HoldReason != "deliveries" {
		t.Errorf("door after the hold: %+v, want held unlocked by mgr for deliveries", st)
	}

	res = command(t, h, sitebus.ClassDoor, "front", sitebus.Command{ID: "h2", Action: sitebus.ActionHold, Deadline: soon,
		By: "mgr", Mode: sitebus.HoldLocked, Until: now.Add(13 * time.Hour)})
	if res.Status != sitebus.ResultFailed || !strings.HasPrefix(res.Error, "refused: hold-too-long") {
		t.Errorf("hold for 13h (maxHold 12h): %+v, want refused: hold-too-long", res)
	}

	res = command(t, h, sitebus.ClassDoor, "front", sitebus.Command{ID: "r1", Action: sitebus.ActionRelease, Deadline: soon, By: "ann"})
	if res.Status != sitebus.ResultDone {
		t.Fatalf("release: %+v", res)
	}
	if st := hc.dev.state(); !st.Locked || st.Hold != "" {
		t.Errorf("door after the release: %+v, want locked, no hold", st)
	}

	res = command(t, h, sitebus.ClassDoor, "front", sitebus.Command{ID: "l1", Action: sitebus.ActionHold, Deadline: soon,
		By: "mgr", Mode: sitebus.HoldLockdown, Until: now.Add(12*time.Hour - time.Minute), Reason: "police"})
	if res.Status != sitebus.ResultDone {
		t.Fatalf("lockdown: %+v", res)
	}
	if got := hc.dev.Refuses(time.Now(), "entry"); got != sitebus.DenyLockdown {
		t.Errorf("entry in lockdown: refused %q, want %q", got, sitebus.DenyLockdown)
	}
	if got := hc.dev.Refuses(time.Now(), "exit"); got != "" {
		t.Errorf("exit in lockdown refused (%q): nobody may be held in", got)
	}
	hc.dev.mu.Lock()
	defer hc.dev.mu.Unlock()
	if n := len(hc.dev.commands); n != 3 {
		t.Errorf("the door got %d commands, want 3 (the refused one never reached it)", n)
	}
}
