package agent_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/apedge/apedge/agent"
	"github.com/apedge/apedge/agent/bwc"
	"github.com/apedge/apedge/devices/bwcdock"
	"github.com/apedge/apedge/formats/event"
	"github.com/apedge/apedge/formats/sitebus"
	"github.com/apedge/apedge/internal/broker/brokertest"
	"github.com/apedge/apedge/internal/clock/clocktest"
	"github.com/apedge/apedge/internal/config"
)

// bwcYAML adds to the site's agent the docks dock-1 (four slots, with a card
// reader) and dock-2 (two slots, none), and the register's figures.
const bwcYAML = `bwcDocks:
  - {id: dock-1, slots: 4, name: staff office, reader: "HID iCLASS, front panel"}
  - {id: dock-2, slots: 2, name: night office}
bwc: {minBatteryPct: 80, shift: 12h}
`

// newBWCSite is newSite with the docks of bwcYAML.
func newBWCSite(t *testing.T) *apSite {
	t.Helper()
	s := newSite(t)
	path := filepath.Join(s.dir, "agent.yaml")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, append(b, bwcYAML...), 0o644); err != nil {
		t.Fatal(err)
	}
	if s.cfg, err = config.LoadAgent(path); err != nil {
		t.Fatal(err)
	}
	if d := s.cfg.Dock("dock-1"); d == nil || d.Slots != 4 || d.Reader == "" {
		t.Fatalf("docks %+v", s.cfg.BWCDocks)
	}
	s.clock = clocktest.New(noon)
	return s
}

// testDock is a simulated dock (devices/bwcdock) joined to the site bus as its
// adapter would be: a client of its own publishing as the dock with its own boot
// and seq, in the order the dock says things, taking the agent's signed LED
// commands (verified with the site's public key) and answering them.
type testDock struct {
	s   *apSite
	id  string
	sim *bwcdock.Sim
	pub *sitebus.Publisher
	out chan dockOut

	mu   sync.Mutex
	cmds []sitebus.Command
}

// dockOut is one message of the dock, queued to go out.
type dockOut struct {
	kind     string
	retained bool
	v        any
}

// newDock joins a simulated dock id with slots slots, cameras of them holding
// cameras BWC-0001 and on (full), to the bus, boot boot, and announces it.
func (s *apSite) newDock(id, boot string, slots, cameras int) *testDock {
	s.t.Helper()
	c := brokertest.Client(s.t, s.broker.URL(), "apedge-dock-"+id+"-"+boot)
	d := &testDock{s: s, id: id, pub: sitebus.NewPublisher(c, site, boot, s.clock), out: make(chan dockOut, 1024)}
	sim, err := bwcdock.NewSim(bwcdock.Config{Slots: slots, Cameras: cameras}, s.clock, d)
	if err != nil {
		s.t.Fatal(err)
	}
	d.sim = sim
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	s.t.Cleanup(func() { cancel(); <-done })
	go func() {
		defer close(done)
		for {
			select {
			case m := <-d.out:
				kind := sitebus.KindEvent
				if m.retained {
					kind = sitebus.KindState
				}
				if _, err := d.pub.Publish(ctx, sitebus.ClassBWCDock, id, kind, m.kind, m.v); err != nil && ctx.Err() == nil {
					s.t.Errorf("dock %s: %v", id, err)
				}
			case <-ctx.Done():
				return
			}
		}
	}()
	tok := c.Subscribe(sitebus.DeviceTopic(site, sitebus.ClassBWCDock, id, sitebus.KindCmd), 1, func(_ mqtt.Client, m mqtt.Message) {
		cmd, err := sitebus.VerifyDockCommand(m.Payload(), s.key.Public(), site, id)
		if err != nil {
			s.t.Errorf("command to %s: %v", id, err)
			return
		}
		d.mu.Lock()
		d.cmds = append(d.cmds, *cmd)
		d.mu.Unlock()
		r := sitebus.Result{ID: cmd.ID, Status: sitebus.ResultDone}
		if err := sim.Indicate(*cmd.Slot, cmd.Pattern, cmd.Reason); err != nil {
			r = sitebus.Result{ID: cmd.ID, Status: sitebus.ResultFailed, Error: err.Error()}
		}
		go d.pub.Publish(ctx, sitebus.ClassBWCDock, id, sitebus.KindCmdResult, r.Status, r)
	})
	if !tok.WaitTimeout(timeout) || tok.Error() != nil {
		s.t.Fatalf("subscribe to %s's commands: %v", id, tok.Error())
	}
	sim.Announce()
	return d
}

// Publish queues a message of the dock (bwcdock.Publisher): it never blocks.
func (d *testDock) Publish(kind string, retained bool, v any) {
	select {
	case d.out <- dockOut{kind, retained, v}:
	default:
		d.s.t.Errorf("dock %s: queue full", d.id)
	}
}

// waitCmd waits for the nth LED command to the dock and returns it.
func (d *testDock) waitCmd(n int) sitebus.Command {
	d.s.t.Helper()
	var got []sitebus.Command
	d.s.waitFor(fmt.Sprintf("LED command %d to %s", n, d.id), func() (bool, string) {
		d.mu.Lock()
		got = slices.Clone(d.cmds)
		d.mu.Unlock()
		return len(got) >= n, fmt.Sprintf("%+v", got)
	})
	return got[n-1]
}

// bwcMust fails the test on err.
func bwcMust(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// waitCamera waits until the register's camera serial satisfies ok, and returns it.
func (s *apSite) waitCamera(a *agent.Agent, serial, what string, ok func(c bwc.Camera) bool) bwc.Camera {
	s.t.Helper()
	var c bwc.Camera
	s.waitFor(serial+" "+what, func() (bool, string) {
		var found bool
		c, found, _ = a.BWC().Camera(s.t.Context(), serial)
		return found && ok(c), fmt.Sprintf("%+v", c)
	})
	return c
}

// bwcEvents returns the bwc.* events of a's journal, by type.
func (s *apSite) bwcEvents(a *agent.Agent) map[string][]*event.Event {
	out := map[string][]*event.Event{}
	for _, ev := range s.events(a) {
		if typ := strings.TrimPrefix(ev.Type, event.TypePrefix); strings.HasPrefix(typ, "bwc.") {
			out[typ] = append(out[typ], ev)
		}
	}
	return out
}

// waitBWC waits until a's journal has n events of typ and returns them.
func (s *apSite) waitBWC(a *agent.Agent, typ string, n int) []*event.Event {
	s.t.Helper()
	var got []*event.Event
	s.waitFor(fmt.Sprintf("%d %s", n, typ), func() (bool, string) {
		got = s.bwcEvents(a)[typ]
		return len(got) >= n, fmt.Sprintf("%d", len(got))
	})
	return got
}

// bwcInfo decodes ev's additional information as a T.
func bwcInfo[T any](t *testing.T, ev *event.Event) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(ev.Data.AdditionalInformation, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// dockedAt reports whether c is docked in dock at slot.
func dockedAt(dock string, slot int) func(bwc.Camera) bool {
	return func(c bwc.Camera) bool { return c.Location == bwc.LocationDocked && c.Dock == dock && c.Slot == slot }
}

// TestBWCIssueTakeReturnOffload: a camera issued on the console is journaled and
// its slot's LED told "issue", signed; its undock is the issue taken, its return
// to the dock ends the issue, and the dock's offload done is journaled with its
// bytes; the camera may then be issued again. A new agent on the same journal has
// the same register.
func TestBWCIssueTakeReturnOffload(t *testing.T) {
	t.Parallel()
	s := newBWCSite(t)
	a, stop, _ := s.startAgent()
	subscribed(t, a)
	ctx := t.Context()
	d := s.newDock("dock-1", "dock-boot-1", 4, 3)
	s.waitCamera(a, "BWC-0002", "eligible in slot 2", func(c bwc.Camera) bool { return dockedAt("dock-1", 2)(c) && c.Eligible })

	is, err := a.BWC().Issue(ctx, "BWC-0002", "s-ann", "keyworker-1")
	bwcMust(t, err)
	if is.Camera != "BWC-0002" || is.Dock != "dock-1" || is.Slot != 2 || is.Staff != "s-ann" || is.By != "keyworker-1" || is.Via != bwc.ViaConsole ||
		is.Battery != 100 || is.Issue != 1 {
		t.Errorf("issue %+v", is)
	}
	if cmd := d.waitCmd(1); cmd.Action != sitebus.ActionIndicate || *cmd.Slot != 2 || cmd.Pattern != sitebus.PatternIssue || cmd.By != "keyworker-1" {
		t.Errorf("LED command %+v, want issue on slot 2", cmd)
	}
	s.waitFor("slot 2's LED", func() (bool, string) {
		l := d.sim.LED(2)
		return l.Pattern == sitebus.PatternIssue, fmt.Sprintf("%+v", l)
	})
	issued := s.waitBWC(a, bwc.TypeIssued, 1)
	if in := bwcInfo[bwc.Issued](t, issued[0]); in.Camera != "BWC-0002" || in.Staff != "s-ann" || in.Slot != 2 {
		t.Errorf("bwc.issued %+v", in)
	}

	if _, err := d.sim.Undock(2); err != nil {
		t.Fatal(err)
	}
	s.waitBWC(a, bwc.TypeTaken, 1)
	s.waitCamera(a, "BWC-0002", "out", func(c bwc.Camera) bool {
		return c.Location == bwc.LocationOut && c.Issue != nil && !c.Issue.TakenAt.IsZero()
	})

	s.clock.Add(time.Hour) // out an hour: 10 minutes of footage
	bwcMust(t, d.sim.Dock(2, "BWC-0002"))
	ret := s.waitBWC(a, bwc.TypeReturned, 1)
	if in := bwcInfo[bwc.Returned](t, ret[0]); !in.Taken || in.OutSeconds != 3600 || in.Staff != "s-ann" || in.Slot != 2 {
		t.Errorf("bwc.returned %+v, want taken, out 3600 s", in)
	}
	c := s.waitCamera(a, "BWC-0002", "returned, its footage to offload", func(c bwc.Camera) bool { return c.Issue == nil && c.NeedsOffload })
	if c.Eligible {
		t.Errorf("a camera with footage not offloaded is eligible: %+v", c)
	}

	s.clock.Add(time.Minute) // 10 minutes of footage offload in one
	d.sim.Advance()
	off := s.waitBWC(a, bwc.TypeOffloaded, 1)
	if in := bwcInfo[bwc.Offloaded](t, off[0]); in.Bytes != 10*bwcdock.BytesPerMinute || in.Slot != 2 {
		t.Errorf("bwc.offloaded %+v, want the event's %d bytes", in, 10*bwcdock.BytesPerMinute)
	}
	s.waitCamera(a, "BWC-0002", "eligible again", func(c bwc.Camera) bool { return c.Eligible && !c.NeedsOffload })
	evs := s.bwcEvents(a)
	if len(evs[bwc.TypeRemoved]) != 0 || len(evs[bwc.TypeOffloadFailed]) != 0 {
		t.Errorf("alarms in a shift that went well: %v", evs)
	}
	docks, err := a.BWC().Docks(ctx)
	bwcMust(t, err)
	if len(docks) != 2 || docks[0].ID != "dock-1" || !docks[0].Online || !docks[0].Reported || len(docks[0].Status.Slots) != 4 || docks[1].Reported {
		t.Errorf("docks %+v", docks)
	}

	// Issued again, and out, at the restart.
	_, err = a.BWC().Issue(ctx, "BWC-0002", "s-ann", "s-ann")
	bwcMust(t, err)
	if _, err := d.sim.Undock(2); err != nil {
		t.Fatal(err)
	}
	s.waitBWC(a, bwc.TypeTaken, 2)
	bwcMust(t, stop())
	a.Close()
	b, _, _ := s.startAgent()
	subscribed(t, b)
	issuedNow, err := b.BWC().Issued(ctx)
	bwcMust(t, err)
	if len(issuedNow) != 1 || issuedNow[0].Serial != "BWC-0002" || issuedNow[0].Issue.Issue != 2 || issuedNow[0].Issue.Staff != "s-ann" ||
		issuedNow[0].Issue.TakenAt.IsZero() || b.BWC().ReplayRefused() != 0 {
		t.Errorf("after a restart issued %+v (%d refused at replay), want BWC-0002's second issue, taken", issuedNow, b.BWC().ReplayRefused())
	}
}

// TestBWCRefusedLowBattery: a camera under the minimum battery is not issued; the
// refusal says why, and its slot's LED is told "refused" with the reason, signed.
func TestBWCRefusedLowBattery(t *testing.T) {
	t.Parallel()
	s := newBWCSite(t)
	a, _, _ := s.startAgent()
	subscribed(t, a)
	d := s.newDock("dock-1", "dock-boot-1", 4, 3)
	bwcMust(t, d.sim.Drain("BWC-0001", 50))
	s.waitCamera(a, "BWC-0001", "at 50%", func(c bwc.Camera) bool { return dockedAt("dock-1", 1)(c) && c.Battery == 50 })
	_, err := a.BWC().Issue(t.Context(), "BWC-0001", "s-ann", "keyworker-1")
	var ref *bwc.Refusal
	if !errors.Is(err, bwc.ErrRefused) || !errors.As(err, &ref) || ref.Slot != 1 || !strings.Contains(err.Error(), "battery is at 50%") {
		t.Fatalf("issue at 50%%: %v, want refused for the battery", err)
	}
	cmd := d.waitCmd(1)
	if *cmd.Slot != 1 || cmd.Pattern != sitebus.PatternRefused || !strings.Contains(cmd.Reason, "under the minimum of 80%") {
		t.Errorf("LED command %+v, want refused on slot 1 with the battery reason", cmd)
	}
	s.waitFor("slot 1's LED", func() (bool, string) {
		l := d.sim.LED(1)
		return l.Pattern == sitebus.PatternRefused, fmt.Sprintf("%+v", l)
	})
	if n := len(s.bwcEvents(a)[bwc.TypeIssued]); n != 0 {
		t.Errorf("%d issues journaled, want none", n)
	}
}

// TestBWCBadge: a staff card at a dock's reader issues its holder the camera the
// engine chooses (the highest battery), and the LED says which; a card of no
// member of staff issues nothing; a badge from a dock with no reader configured
// is refused.
func TestBWCBadge(t *testing.T) {
	t.Parallel()
	s := newBWCSite(t)
	a, _, _ := s.startAgent()
	subscribed(t, a)
	d := s.newDock("dock-1", "dock-boot-1", 4, 3)
	bwcMust(t, d.sim.Drain("BWC-0001", 90))
	bwcMust(t, d.sim.Drain("BWC-0002", 85))
	s.waitCamera(a, "BWC-0002", "at 85%", func(c bwc.Camera) bool { return c.Battery == 85 })
	s.waitCamera(a, "BWC-0001", "at 90%", func(c bwc.Camera) bool { return c.Battery == 90 })

	bwcMust(t, d.sim.Badge("12:10001")) // a resident's card
	bwcMust(t, d.sim.Badge("12:90001")) // Ann's
	issued := s.waitBWC(a, bwc.TypeIssued, 1)
	in := bwcInfo[bwc.Issued](t, issued[0])
	if in.Camera != "BWC-0003" || in.Slot != 3 || in.Staff != "s-ann" || in.By != "s-ann" || in.Via != bwc.ViaBadge {
		t.Errorf("badge issue %+v, want BWC-0003 (full) to s-ann", in)
	}
	if cmd := d.waitCmd(1); *cmd.Slot != 3 || cmd.Pattern != sitebus.PatternIssue {
		t.Errorf("LED command %+v, want issue on slot 3", cmd)
	}
	if n := len(s.bwcEvents(a)[bwc.TypeIssued]); n != 1 {
		t.Errorf("%d issues, want Ann's only", n)
	}

	refused := a.Stats().Refused
	d2 := s.newDock("dock-2", "dock2-boot-1", 2, 0)
	s.waitFor("dock-2 reported", func() (bool, string) {
		docks, _ := a.BWC().Docks(t.Context())
		return docks[1].Reported, fmt.Sprintf("%+v", docks)
	})
	bwcMust(t, d2.sim.Badge("12:90001"))
	s.waitFor("the badge at dock-2 refused", func() (bool, string) { return a.Stats().Refused == refused+1, fmt.Sprintf("%+v", a.Stats()) })
	var cause string
	s.waitFor("device.refused", func() (bool, string) {
		for _, x := range s.journaledInfo(a, agent.RefusedType) {
			if c, _ := x["cause"].(string); c == "no-reader" {
				cause = c
			}
		}
		return cause != "", ""
	})
}

// TestBWCRemovedUnissued: a camera taken from its dock with no issue raises
// bwc.removed-unissued, once, and is not issued until its footage is offloaded.
func TestBWCRemovedUnissued(t *testing.T) {
	t.Parallel()
	s := newBWCSite(t)
	a, _, _ := s.startAgent()
	subscribed(t, a)
	d := s.newDock("dock-1", "dock-boot-1", 4, 3)
	s.waitCamera(a, "BWC-0001", "docked", dockedAt("dock-1", 1))
	if _, err := d.sim.Undock(1); err != nil {
		t.Fatal(err)
	}
	rm := s.waitBWC(a, bwc.TypeRemoved, 1)
	if in := bwcInfo[bwc.Removed](t, rm[0]); in.Camera != "BWC-0001" || in.Dock != "dock-1" || in.Slot != 1 {
		t.Errorf("bwc.removed-unissued %+v", in)
	}
	s.clock.Add(30 * time.Minute)
	bwcMust(t, d.sim.Dock(4, "BWC-0001"))
	c := s.waitCamera(a, "BWC-0001", "back in slot 4", dockedAt("dock-1", 4))
	if c.Eligible || !c.NeedsOffload {
		t.Errorf("a camera back from a removal: %+v, want its footage to offload first", c)
	}
	if n := len(s.bwcEvents(a)[bwc.TypeRemoved]); n != 1 {
		t.Errorf("%d removals, want 1", n)
	}
}

// TestBWCOverdueAndOffloadFailed: a camera out longer than a shift raises
// bwc.overdue on the agent's clock, once; its footage failing to offload on its
// return raises bwc.offload-failed, and it is not issued again.
func TestBWCOverdueAndOffloadFailed(t *testing.T) {
	t.Parallel()
	s := newBWCSite(t)
	a, _, _ := s.startAgent()
	subscribed(t, a)
	ctx := t.Context()
	d := s.newDock("dock-1", "dock-boot-1", 4, 3)
	s.waitCamera(a, "BWC-0001", "eligible", func(c bwc.Camera) bool { return c.Eligible })
	_, err := a.BWC().Issue(ctx, "BWC-0001", "s-ann", "keyworker-1")
	bwcMust(t, err)
	if _, err := d.sim.Undock(1); err != nil {
		t.Fatal(err)
	}
	s.waitBWC(a, bwc.TypeTaken, 1)
	s.clock.Add(11 * time.Hour)
	if o, _ := a.BWC().Overdue(ctx); len(o) != 0 {
		t.Errorf("overdue after 11 hours: %+v", o)
	}
	s.clock.Add(time.Hour + 2*time.Minute)
	ov := s.waitBWC(a, bwc.TypeOverdue, 1)
	if in := bwcInfo[bwc.Overdue](t, ov[0]); in.Camera != "BWC-0001" || in.Staff != "s-ann" || in.ShiftSeconds != 12*3600 || in.OutSeconds <= 12*3600 {
		t.Errorf("bwc.overdue %+v", in)
	}
	if o, _ := a.BWC().Overdue(ctx); len(o) != 1 || o[0].Serial != "BWC-0001" {
		t.Errorf("overdue %+v, want BWC-0001", o)
	}
	s.clock.Add(2 * time.Minute)
	bwcMust(t, d.sim.FailNextOffload("BWC-0001"))
	bwcMust(t, d.sim.Dock(1, "BWC-0001"))
	s.waitBWC(a, bwc.TypeReturned, 1)
	s.clock.Add(10 * time.Minute)
	d.sim.Advance()
	fail := s.waitBWC(a, bwc.TypeOffloadFailed, 1)
	if in := bwcInfo[bwc.OffloadFailure](t, fail[0]); in.Camera != "BWC-0001" || in.Detail != bwcdock.FailDetail {
		t.Errorf("bwc.offload-failed %+v", in)
	}
	if _, err := a.BWC().Issue(ctx, "BWC-0001", "s-ann", "keyworker-1"); !errors.Is(err, bwc.ErrRefused) || !strings.Contains(err.Error(), "failed to offload") {
		t.Errorf("issue after a failed offload: %v, want refused", err)
	}
	if n := len(s.bwcEvents(a)[bwc.TypeOverdue]); n != 1 {
		t.Errorf("%d overdue alarms, want 1", n)
	}
}

// TestBWCDockTrust: an unconfigured dock's messages are refused and change
// nothing; a dock's will of an earlier boot, come after its new connection's
// status, is dropped; its current boot's offline status makes its cameras' state
// unknown; slots the dock is not configured with are not heard.
func TestBWCDockTrust(t *testing.T) {
	t.Parallel()
	s := newBWCSite(t)
	a, _, _ := s.startAgent()
	subscribed(t, a)
	ctx := t.Context()
	refused := a.Stats().Refused
	s.newDock("dock-9", "dock9-boot-1", 2, 2)
	s.waitFor("dock-9 refused", func() (bool, string) { return a.Stats().Refused > refused, fmt.Sprintf("%+v", a.Stats()) })
	s.fence()
	if cs, _ := a.BWC().Cameras(ctx); len(cs) != 0 {
		t.Errorf("cameras of an unconfigured dock: %+v", cs)
	}

	// dock-2 has two slots: the simulated dock says three.
	d := s.newDock("dock-2", "boot-2", 3, 3)
	s.waitCamera(a, "BWC-0002", "docked", dockedAt("dock-2", 2))
	if _, ok, _ := a.BWC().Camera(ctx, "BWC-0003"); ok {
		t.Error("a camera in a slot dock-2 is not configured with is in the register")
	}
	// The will of the dock's previous connection (boot-1), delivered late; then a
	// status of its current one, to know the agent has taken the will.
	old := sitebus.NewPublisher(s.bus, site, "boot-1", s.clock)
	if _, err := old.Publish(ctx, sitebus.ClassBWCDock, "dock-2", sitebus.KindState, sitebus.DockStatusKind, d.sim.OfflineStatus()); err != nil {
		t.Fatal(err)
	}
	s.fence()
	bwcMust(t, d.sim.Drain("BWC-0002", 90))
	s.waitCamera(a, "BWC-0002", "at 90%", func(c bwc.Camera) bool { return c.Battery == 90 })
	if docks, _ := a.BWC().Docks(ctx); !docks[1].Online || !docks[1].Status.Online {
		t.Errorf("after a stale will dock-2 is %+v, want online", docks[1])
	}
	if c, _, _ := a.BWC().Camera(ctx, "BWC-0001"); c.Location != bwc.LocationDocked {
		t.Errorf("after a stale will BWC-0001 is %+v", c)
	}
	if _, err := d.pub.Publish(ctx, sitebus.ClassBWCDock, "dock-2", sitebus.KindState, sitebus.DockStatusKind, d.sim.OfflineStatus()); err != nil {
		t.Fatal(err)
	}
	c := s.waitCamera(a, "BWC-0001", "unknown", func(c bwc.Camera) bool { return c.Location == bwc.LocationUnknown })
	if c.Eligible {
		t.Errorf("a camera of an offline dock is eligible: %+v", c)
	}
	if _, err := a.BWC().Issue(ctx, "BWC-0001", "s-ann", "keyworker-1"); !errors.Is(err, bwc.ErrRefused) {
		t.Errorf("issue from an offline dock: %v, want refused", err)
	}
}

// TestBWCSentences puts the register's events into words: the camera, the dock and
// slot, the member of staff by name, and what happened.
func TestBWCSentences(t *testing.T) {
	d := agent.NewDescriber([]config.Resident{{Kind: config.KindStaff, ID: "s-ann", Name: "Ann"}, {Kind: config.KindStaff, ID: "s-kim", Name: "Kim"}}, nil)
	at := time.Date(2026, 12, 2, 14, 30, 0, 0, time.UTC) // 14:30 GMT
	for _, tc := range []struct {
		typ  string
		info any
		want string
	}{
		{bwc.TypeIssued, bwc.Issued{Camera: "BWC-2", Dock: "dock-1", Slot: 2, Staff: "s-ann", By: "s-kim", Via: bwc.ViaConsole, Battery: 95, Issue: 1, At: at},
			"Kim issued camera BWC-2 to Ann from dock dock-1, slot 2 (battery 95%), at 14:30 on 2 Dec 2026"},
		{bwc.TypeIssued, bwc.Issued{Camera: "BWC-3", Dock: "dock-1", Slot: 3, Staff: "s-ann", By: "s-ann", Via: bwc.ViaBadge, Battery: 100, Issue: 1, At: at},
			"Ann was issued camera BWC-3 with their card at dock dock-1, slot 3 (battery 100%), at 14:30 on 2 Dec 2026"},
		{bwc.TypeReturned, bwc.Returned{Camera: "BWC-2", Staff: "s-ann", Dock: "dock-1", Slot: 2, Taken: true, OutSeconds: 9 * 3600, At: at},
			"Ann returned camera BWC-2 to dock dock-1, slot 2 at 14:30 on 2 Dec 2026, after 9 hours out"},
		{bwc.TypeReturned, bwc.Returned{Camera: "BWC-2", Staff: "s-ann", Dock: "dock-1", Slot: 2, At: at},
			"The issue of camera BWC-2 to Ann lapsed at 14:30 on 2 Dec 2026: not taken from dock dock-1, slot 2 in time"},
		{bwc.TypeOffloadFailed, bwc.OffloadFailure{Camera: "BWC-2", Dock: "dock-1", Slot: 2, Detail: "disk full", At: at},
			"Camera BWC-2's footage failed to offload at dock dock-1, slot 2, at 14:30 on 2 Dec 2026 (disk full)"},
		{bwc.TypeOverdue, bwc.Overdue{Camera: "BWC-2", Staff: "s-ann", IssuedAt: at.Add(-13 * time.Hour), OutSeconds: 13 * 3600, ShiftSeconds: 12 * 3600, At: at},
			"Camera BWC-2, issued to Ann at 01:30 on 2 Dec 2026, is still out at 14:30 on 2 Dec 2026, after 13 hours: longer than a shift of 12 hours"},
		{bwc.TypeRemoved, bwc.Removed{Camera: "BWC-1", Dock: "dock-1", Slot: 1, At: at},
			"Camera BWC-1 was taken from dock dock-1, slot 1 with no issue recorded, at 14:30 on 2 Dec 2026"},
	} {
		b, err := json.Marshal(tc.info)
		bwcMust(t, err)
		if got := d.Sentence(agent.Fact{Type: tc.typ, At: at, Info: b}); got != tc.want {
			t.Errorf("%s:\n got %q\nwant %q", tc.typ, got, tc.want)
		}
	}
}
