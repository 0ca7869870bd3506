package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/apedge/apedge/agent"
	"github.com/apedge/apedge/agent/bwc"
	"github.com/apedge/apedge/devices/bwcdock"
	"github.com/apedge/apedge/formats/sitekey"
	"github.com/apedge/apedge/internal/clock"
	"github.com/apedge/apedge/internal/mqttclient"
)

// The demo's body-worn camera dock (the agent's bwcDocks, demoBWCYAML): four slots,
// a camera in each at the start of a new site.
const (
	demoDock      = "dock-1"
	demoDockSlots = 4
)

// demoStaffMember is a member of staff on the demo's roster, with a staff card.
type demoStaffMember struct{ id, name, card string }

// demoStaff are the demo's staff, two on each shift in turn (demoCrew).
var demoStaff = []demoStaffMember{
	{"s-amy", "Amy Shaw", "12:20001"},
	{"s-ben", "Ben Osei", "12:20002"},
	{"s-cara", "Cara Walsh", "12:20003"},
	{"s-dev", "Dev Mistry", "12:20004"},
}

// The shift pattern's timing on the site's clock. A demo shift is half an hour, not
// an AP's twelve hours, so that changeovers come within a demo (with -speed 60, one
// every half minute); the register's overdue time stays the default 12 hours.
var (
	demoShift      = 30 * time.Minute
	demoFirstIssue = [2]time.Duration{10 * time.Second, 25 * time.Second}
	demoToUndock   = [2]time.Duration{3 * time.Second, 8 * time.Second}
	demoBetweenOn  = [2]time.Duration{5 * time.Second, 15 * time.Second}
	// demoNoCamera is how long a member of staff refused a camera waits before
	// trying again, and demoTries how often they try.
	demoNoCamera = time.Minute
	demoTries    = 5
)

// demoCrew returns the staff on shift k: two of demoStaff, in turn.
func demoCrew(k int) []demoStaffMember {
	i := (2 * k) % len(demoStaff)
	return []demoStaffMember{demoStaff[i], demoStaff[(i+1)%len(demoStaff)]}
}

// demoStaffYAML is the roster's staff entries, for the demo agent's configuration.
func demoStaffYAML() string {
	var b strings.Builder
	for _, s := range demoStaff {
		fmt.Fprintf(&b, "  - {kind: staff, id: %s, name: %q, cards: [%q]}\n", s.id, s.name, s.card)
	}
	return b.String()
}

// demoBWCYAML is the agent's dock section.
var demoBWCYAML = fmt.Sprintf("bwcDocks:                                 # body-worn camera docks on the site bus; apedge demo simulates this one\n"+
	"  - {id: %s, slots: %d, name: staff office dock, reader: \"staff card reader, front panel\"}\n", demoDock, demoDockSlots)

// demoDockLine is the banner's line about the dock.
func demoDockLine() string {
	return fmt.Sprintf("%s, %d cameras in the staff office, simulated on the site bus as device:bwc-dock:%s; two staff take a camera each shift (half an hour of the site's clock), the first within a minute, by their card at the dock or on the console, and return it at the changeover: the dashboard's cameras, or apedge ctl bwc",
		demoDock, demoDockSlots, demoDock)
}

// dockSim is the simulated dock as the shift pattern works it (*bwcdock.Sim).
type dockSim interface {
	Badge(card string) error
	Undock(slot int) (string, error)
	Dock(slot int, serial string) error
	Drain(serial string, pct float64) error
	FailNextOffload(serial string) error
	Status() bwcdock.Status
}

// shiftSite is what the demo's shift pattern works with: the agent's camera
// register and the simulated dock.
type shiftSite interface {
	Sim() dockSim
	Docks(ctx context.Context) ([]agent.DockView, error)
	Cameras(ctx context.Context) ([]bwc.Camera, error)
	Issue(ctx context.Context, camera, staff, by string) (bwc.Issue, error)
}

// liveShiftSite is the demo's running agent and its simulated dock as a shiftSite.
type liveShiftSite struct {
	*agent.BWCRegister
	sim *bwcdock.Sim
}

// Sim implements shiftSite.
func (s liveShiftSite) Sim() dockSim { return s.sim }

// startDemoDock makes the demo's simulated dock, its cameras where the register
// (reg, replayed) has them from an earlier run on the same directory or, on a new
// site, one in each slot, and plugs it into the site bus at broker (TLS with tc, or
// plaintext if nil) as demoDockIdentity, verifying the agent's commands with pub.
// The caller runs it.
func startDemoDock(ctx context.Context, reg *agent.BWCRegister, broker string, tc *mqttclient.TLS, pub *sitekey.Public, clk clock.Clock, log *slog.Logger) (*simDockRun, error) {
	cams, err := reg.Cameras(ctx)
	if err != nil {
		return nil, err
	}
	cfg := bwcdock.Config{Serial: "SIM-DOCK-1", Slots: demoDockSlots, Cameras: demoDockSlots}
	if len(cams) > 0 {
		cfg.Cameras = 0
	}
	d, err := newSimDockRun(clk, demoSite, demoDock, pub, cfg, io.Discard, log.With("dock", demoDock))
	if err != nil {
		return nil, err
	}
	if err := restoreDock(d.sim, cams); err != nil {
		return nil, err
	}
	u, err := url.Parse(broker)
	if err != nil {
		return nil, fmt.Errorf("demo: dock: %w", err)
	}
	if err := d.plug(u, tc); err != nil {
		return nil, err
	}
	return d, nil
}

// restoreDock puts the cameras of the register's cams in sim where the register has
// them: out with staff, or docked in their slot of demoDock, footage still to
// offload on those that need it. It does so offline, so that the dock's first
// status says where they are and no event says they moved.
func restoreDock(sim *bwcdock.Sim, cams []bwc.Camera) error {
	sim.Offline(true)
	defer sim.Offline(false)
	var docked []bwc.Camera
	for _, c := range cams {
		if c.Issue != nil && !c.Issue.TakenAt.IsZero() || c.Location == bwc.LocationOut {
			if err := sim.Dock(1, c.Serial); err != nil {
				return err
			}
			if _, err := sim.Undock(1); err != nil {
				return err
			}
			continue
		}
		if c.Dock == demoDock && c.Slot >= 1 && c.Slot <= demoDockSlots {
			docked = append(docked, c)
		}
	}
	for _, c := range docked {
		if c.NeedsOffload {
			if err := sim.Dock(c.Slot, c.Serial); err != nil {
				return err
			}
			if _, err := sim.Undock(c.Slot); err != nil {
				return err
			}
			if err := sim.Record(c.Serial, 5); err != nil {
				return err
			}
		}
		if err := sim.Dock(c.Slot, c.Serial); err != nil {
			return err
		}
	}
	return nil
}

// demoShifts is the demo's shift pattern at the dock: at the start of each shift
// the staff going off dock their cameras (which then offload) and the two coming on
// each take one, by their card at the dock's reader or on the console, and undock
// it; the camera records while out. Now and then a camera comes back with a low
// battery and the next to try it on the console is refused it; once in a run an
// offload fails (the bwc.offload-failed alarm). It logs what it does and its
// failures, and never stops the demo.
type demoShifts struct {
	site  shiftSite
	clk   clock.Clock
	log   *slog.Logger
	rng   *rand.Rand
	start time.Time
	// wait is how long, in real time, it waits for the agent to see what the
	// dock did.
	wait time.Duration
	// out is who holds which camera, by staff id; low a camera come back with a
	// low battery, for the next to be refused; failed says an offload has failed.
	out    map[string]string
	low    string
	failed bool
}

// newDemoShifts returns the shift pattern of a demo whose site clock clk read start
// at its start, choosing by seed (0: a random seed).
func newDemoShifts(site shiftSite, clk clock.Clock, start time.Time, log *slog.Logger, seed uint64) *demoShifts {
	if seed == 0 {
		seed = rand.Uint64()
	}
	return &demoShifts{site: site, clk: clk, log: log, rng: rand.New(rand.NewPCG(seed, seed>>2)), start: start,
		wait: 10 * time.Second, out: map[string]string{}}
}

// between returns a random duration in the range r.
func (s *demoShifts) between(r [2]time.Duration) time.Duration {
	return r[0] + time.Duration(s.rng.Int64N(int64(r[1]-r[0])+1))
}

// sleep waits d on the site's clock; false if ctx ends first.
func (s *demoShifts) sleep(ctx context.Context, d time.Duration) bool {
	select {
	case <-ctx.Done():
		return false
	case <-s.clk.Until(s.clk.Now().Add(d)):
		return true
	}
}

// run plays the shifts until ctx ends: the first soon after the start, the next
// every demoShift.
func (s *demoShifts) run(ctx context.Context) {
	if !s.ready(ctx) {
		if ctx.Err() == nil {
			s.log.Warn("demo: shifts: the dock is not online in the register: no cameras issued", "dock", demoDock, "waited", s.wait)
		}
		return
	}
	at := s.start.Add(s.between(demoFirstIssue))
	for k := 0; ; k++ {
		select {
		case <-ctx.Done():
			return
		case <-s.clk.Until(at):
		}
		s.changeover(ctx, k)
		at = s.start.Add(time.Duration(k+1) * demoShift)
	}
}

// ready waits for the dock to be online in the register, and learns who has a
// camera out from an earlier run.
func (s *demoShifts) ready(ctx context.Context) bool {
	ok := poll(ctx, 3*s.wait, func() (bool, bool) {
		ds, err := s.site.Docks(ctx)
		online := err == nil && slices.ContainsFunc(ds, func(d agent.DockView) bool { return d.ID == demoDock && d.Online && d.Reported })
		return online, online
	})
	if !ok {
		return false
	}
	cams, err := s.site.Cameras(ctx)
	if err != nil {
		return false
	}
	for _, c := range cams {
		if c.Issue != nil && !c.Issue.TakenAt.IsZero() {
			s.out[c.Issue.Staff] = c.Serial
		}
	}
	return true
}

// changeover is the start of shift k: those going off return their cameras, then
// those coming on take one each.
func (s *demoShifts) changeover(ctx context.Context, k int) {
	crew := demoCrew(k)
	for _, staff := range slices.Sorted(maps.Keys(s.out)) {
		if !slices.ContainsFunc(crew, func(m demoStaffMember) bool { return m.id == staff }) {
			s.giveBack(ctx, staff, k > 0)
			if !s.sleep(ctx, s.between(demoToUndock)) {
				return
			}
		}
	}
	for i, m := range crew {
		if _, has := s.out[m.id]; has {
			continue
		}
		if i > 0 && !s.sleep(ctx, s.between(demoBetweenOn)) {
			return
		}
		s.take(ctx, m, (k+i)%2 == 0)
	}
}

// giveBack docks staff's camera in the dock's first free slot. With trouble
// (not at the demo's first changeover), it may come back low, one in four, or,
// once in a run, one in six, its offload fail.
func (s *demoShifts) giveBack(ctx context.Context, staff string, trouble bool) {
	serial := s.out[staff]
	slot := 0
	for _, sl := range s.site.Sim().Status().Slots {
		if !sl.Occupied {
			slot = sl.Slot
			break
		}
	}
	if slot == 0 {
		s.log.Warn("demo: shifts: no free slot to return a camera to", "staff", staff, "camera", serial)
		return
	}
	sim := s.site.Sim()
	note := ""
	if trouble && s.low == "" && s.rng.IntN(4) == 0 {
		if err := sim.Drain(serial, float64(55+s.rng.IntN(16))); err == nil {
			s.low, note = serial, "; its battery is low"
		}
	}
	if trouble && !s.failed && s.rng.IntN(6) == 0 {
		if err := sim.FailNextOffload(serial); err == nil {
			s.failed, note = true, note+"; its offload is to fail"
		}
	}
	if err := sim.Dock(slot, serial); err != nil {
		s.log.Warn("demo: shifts: the camera could not be docked", "staff", staff, "camera", serial, "slot", slot, "err", err)
		return
	}
	delete(s.out, staff)
	returned := s.waitCamera(ctx, serial, func(c bwc.Camera) bool { return c.Issue == nil && c.Location == bwc.LocationDocked })
	if !returned {
		s.log.Warn("demo: shifts: the register did not see the camera returned", "staff", staff, "camera", serial, "waited", s.wait)
		return
	}
	s.log.Info(fmt.Sprintf("demo: %s returned camera %s to slot %d of %s%s", staff, serial, slot, demoDock, note))
}

// take has m take a camera: by their card at the dock (badge) or, on the console,
// the docked camera with the highest battery of those that may be issued (first
// the one come back low, if any, which is refused); then they undock it. Refused
// for want of a camera, they try again a minute later, demoTries times in all.
func (s *demoShifts) take(ctx context.Context, m demoStaffMember, badge bool) {
	if s.low != "" && !badge {
		low := s.low
		s.low = ""
		_, err := s.site.Issue(ctx, low, m.id, m.id)
		var ref *bwc.Refusal
		if errors.As(err, &ref) {
			s.log.Info(fmt.Sprintf("demo: %s was refused camera %s on the console: %s", m.id, low, strings.Join(ref.Reasons, "; ")))
		} else if err == nil {
			s.undock(ctx, m, low)
			return
		}
	}
	for try := 1; try <= demoTries; try++ {
		if serial, ok := s.issue(ctx, m, badge); ok {
			s.undock(ctx, m, serial)
			return
		}
		if ctx.Err() != nil || !s.sleep(ctx, demoNoCamera) {
			return
		}
	}
	s.log.Warn("demo: shifts: no camera for a member of staff this shift", "staff", m.id, "tries", demoTries)
}

// issue issues m a camera, by badge or on the console, and returns its serial.
func (s *demoShifts) issue(ctx context.Context, m demoStaffMember, badge bool) (string, bool) {
	mine := func(c bwc.Camera) bool { return c.Issue != nil && c.Issue.Staff == m.id }
	if badge {
		if err := s.site.Sim().Badge(m.card); err != nil {
			s.log.Warn("demo: shifts: the dock's reader did not take a card", "staff", m.id, "err", err)
			return "", false
		}
		var serial string
		s.waitCamera(ctx, "", func(c bwc.Camera) bool {
			if mine(c) {
				serial = c.Serial
			}
			return mine(c)
		})
		if serial == "" {
			s.log.Info(fmt.Sprintf("demo: %s showed their card at %s: no camera issued", m.id, demoDock))
			return "", false
		}
		s.log.Info(fmt.Sprintf("demo: %s took camera %s by their card at %s", m.id, serial, demoDock))
		return serial, true
	}
	cams, err := s.site.Cameras(ctx)
	if err != nil {
		return "", false
	}
	var best *bwc.Camera
	for i, c := range cams {
		if c.Eligible && c.Dock == demoDock && (best == nil || cmp.Compare(c.Battery, best.Battery) > 0) {
			best = &cams[i]
		}
	}
	if best == nil {
		s.log.Info(fmt.Sprintf("demo: %s found no camera to issue on the console", m.id))
		return "", false
	}
	if _, err := s.site.Issue(ctx, best.Serial, m.id, m.id); err != nil {
		s.log.Info(fmt.Sprintf("demo: %s was not issued camera %s on the console", m.id, best.Serial), "err", err)
		return "", false
	}
	s.log.Info(fmt.Sprintf("demo: %s issued camera %s to themself on the console", m.id, best.Serial))
	return best.Serial, true
}

// undock has m lift camera serial, issued to them, from its slot a few seconds on.
func (s *demoShifts) undock(ctx context.Context, m demoStaffMember, serial string) {
	if !s.sleep(ctx, s.between(demoToUndock)) {
		return
	}
	slot := 0
	for _, sl := range s.site.Sim().Status().Slots {
		if sl.Occupied && sl.Camera == serial {
			slot = sl.Slot
		}
	}
	if _, err := s.site.Sim().Undock(slot); err != nil {
		s.log.Warn("demo: shifts: the camera could not be undocked", "staff", m.id, "camera", serial, "err", err)
		return
	}
	s.out[m.id] = serial
	if !s.waitCamera(ctx, serial, func(c bwc.Camera) bool { return c.Issue != nil && !c.Issue.TakenAt.IsZero() }) {
		s.log.Warn("demo: shifts: the register did not see the camera taken", "staff", m.id, "camera", serial, "waited", s.wait)
		return
	}
	s.log.Info(fmt.Sprintf("demo: %s is out with camera %s", m.id, serial))
}

// waitCamera says whether a camera of the register (serial, or any if "") is as ok
// says within s.wait.
func (s *demoShifts) waitCamera(ctx context.Context, serial string, ok func(bwc.Camera) bool) bool {
	return poll(ctx, s.wait, func() (bool, bool) {
		cams, err := s.site.Cameras(ctx)
		done := err == nil && slices.ContainsFunc(cams, func(c bwc.Camera) bool { return (serial == "" || c.Serial == serial) && ok(c) })
		return done, done
	})
}
