package bridge_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apedge/apedge/devices/device"
	bridge "github.com/apedge/apedge/firmware-bridge"
	"github.com/apedge/apedge/formats/sitebus"
	"github.com/apedge/apedge/internal/broker/brokertest"
	"github.com/apedge/apedge/internal/config"
	"github.com/apedge/apedge/internal/testlog"
	"github.com/apedge/apedge/internal/wait"
)

// patClass is a throwaway device class: one PAT tester that says it is ready, reports
// a test, shows a pattern on command and says its lead is unplugged. It stands for a
// class to come, plugged in by a test table alone.
type patClass struct {
	name    string
	openErr error

	mu       sync.Mutex
	ran      bool // Run was called and returned
	commands []device.Command
}

func (c *patClass) Name() string { return c.name }

func (c *patClass) Open(ctx context.Context, env device.Env) (device.Driver, error) {
	if c.openErr != nil {
		return nil, c.openErr
	}
	return &patDriver{c: c, env: env, dev: &patTester{c: c, ref: device.Ref{Class: sitebus.ClassPATTester, ID: "pat-1"}}}, nil
}

type patDriver struct {
	c   *patClass
	env device.Env
	dev *patTester
}

func (d *patDriver) Devices() []device.Device { return []device.Device{d.dev} }

func (d *patDriver) Run(ctx context.Context) error {
	defer func() {
		d.c.mu.Lock()
		d.c.ran = true
		d.c.mu.Unlock()
	}()
	if ctx.Err() != nil {
		return nil // stopped before it started: nothing to release here
	}
	now := d.env.Clock.Now()
	d.env.Sink.State(d.dev.ref, "status", map[string]any{"ready": true}, now)
	d.env.Sink.Event(d.dev.ref, "test-done", map[string]any{"appliance": "kettle", "passed": true}, now)
	<-ctx.Done()
	return nil
}

type patTester struct {
	c   *patClass
	ref device.Ref
}

func (p *patTester) Ref() device.Ref { return p.ref }

func (p *patTester) Command(ctx context.Context, cmd device.Command) error {
	if cmd.Action != sitebus.ActionIndicate {
		return device.Unsupported(p.ref, cmd.Action)
	}
	p.c.mu.Lock()
	defer p.c.mu.Unlock()
	p.c.commands = append(p.c.commands, cmd)
	return nil
}

func (p *patTester) Health() device.Health {
	return device.Health{Status: device.HealthDegraded, Detail: "earth lead unplugged"}
}

// quietSite is a site with no devices of the table's classes.
func quietSite(t *testing.T, url string) *config.Bridge {
	t.Helper()
	dir := t.TempDir()
	writeSiteKey(t, dir)
	path := filepath.Join(dir, "bridge.yaml")
	if err := os.WriteFile(path, fmt.Appendf(nil, "site: %s\nstateDir: state\nbus:\n  broker: %s\n", site, url), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.LoadBridge(path)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestClassPlugsIn: a class the bridge has never heard of, given in a test table,
// runs, publishes its state and an event through the outbox to the bus, answers
// commands addressed to it and reports its health, with nothing in the bridge
// changed.
func TestClassPlugsIn(t *testing.T) {
	t.Parallel()
	brk := brokertest.Start(t)
	bus := record(t, brk.URL(), "watcher")
	cfg := quietSite(t, brk.URL())
	h := &harness{cfg: cfg, key: siteKey(t, cfg), bus: bus, agt: brokertest.Client(t, brk.URL(), "agent")}
	pat := &patClass{name: "pat-tester"}
	// In place of the real class of that name, which sees no testers here.
	classes := slices.DeleteFunc(bridge.Classes(), func(c device.Class) bool { return c.Name() == pat.name })
	h.b = bridge.New(cfg, testlog.New(t), bridge.WithClasses(append(classes, pat)...))
	run(t, h.b)

	wait.For(t, timeout, "pat-1 state", func() (bool, string) {
		st := bus.device(t, sitebus.ClassPATTester, "pat-1", sitebus.KindState)
		if len(st) == 0 {
			return false, "none"
		}
		return len(st) == 1 && st[0].Kind == "status" && string(st[0].Data) == `{"ready":true}` && st[0].Seq == 1, fmt.Sprintf("%+v", *st[0].Message)
	})
	ev := bus.waitEvents(t, sitebus.ClassPATTester, "pat-1", 0, "test-done")
	if string(ev[0].Data) != `{"appliance":"kettle","passed":true}` || ev[0].Seq != 1 {
		t.Errorf("event %+v", ev[0].Message)
	}

	soon := time.Now().Add(time.Minute)
	res := command(t, h, sitebus.ClassPATTester, "pat-1", sitebus.Command{ID: "p1", Action: sitebus.ActionIndicate, Deadline: soon, Pattern: "deny"})
	if res.Status != sitebus.ResultDone {
		t.Errorf("indicate: %+v", res)
	}
	pat.mu.Lock()
	if len(pat.commands) != 1 || pat.commands[0].ID != "p1" || !strings.Contains(string(pat.commands[0].Body), `"pattern":"deny"`) {
		t.Errorf("commands %+v", pat.commands)
	}
	pat.mu.Unlock()
	res = command(t, h, sitebus.ClassPATTester, "pat-1", sitebus.Command{ID: "p2", Action: sitebus.ActionUnlock, Deadline: soon})
	if res.Status != sitebus.ResultFailed || res.Error != "unlock is not a command for a pat-tester" {
		t.Errorf("unlock of a PAT tester: %+v", res)
	}
	res = command(t, h, sitebus.ClassPATTester, "pat-1", sitebus.Command{ID: "p3", Action: sitebus.ActionIndicate, Deadline: time.Now().Add(-time.Second), Pattern: "grant"})
	if res.Status != sitebus.ResultExpired {
		t.Errorf("late indicate: %+v", res)
	}

	hl := h.b.Health()
	if got := hl[device.Ref{Class: sitebus.ClassPATTester, ID: "pat-1"}]; got.Status != device.HealthDegraded || got.Detail != "earth lead unplugged" {
		t.Errorf("health %+v, want degraded: earth lead unplugged", got)
	}
	if len(hl) != 1 {
		t.Errorf("health of %d devices, want the one the table's classes opened: %v", len(hl), hl)
	}
}

// TestClassFailsToOpen: a class that cannot open stops the bridge from starting, and
// the classes opened before it get their Run, to release what they hold.
func TestClassFailsToOpen(t *testing.T) {
	t.Parallel()
	brk := brokertest.Start(t)
	first := &patClass{name: "first"}
	broken := &patClass{name: "broken", openErr: errors.New("pat: no such port")}
	b := bridge.New(quietSite(t, brk.URL()), testlog.New(t), bridge.WithClasses(first, broken))
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	err := b.Run(ctx)
	if err == nil || !strings.Contains(err.Error(), "broken") || !strings.Contains(err.Error(), "pat: no such port") {
		t.Errorf("Run = %v, want the broken class's error", err)
	}
	first.mu.Lock()
	defer first.mu.Unlock()
	if !first.ran {
		t.Error("the class opened first was not run to release")
	}
}
