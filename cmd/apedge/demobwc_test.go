package main

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apedge/apedge/agent"
	"github.com/apedge/apedge/agent/bwc"
	"github.com/apedge/apedge/agent/curfew"
	"github.com/apedge/apedge/cmd/apedge/internal/clitest"
	"github.com/apedge/apedge/devices/bwcdock"
	"github.com/apedge/apedge/internal/clock/clocktest"
)

// fakeShiftSite is a site for the shift pattern: a real camera register (agent/bwc)
// fed by a real simulated dock as the agent would feed it (each status a reading of
// every slot, a badge an issue to the card's holder), on the test's clock.
type fakeShiftSite struct {
	clk *clocktest.Clock
	sim *bwcdock.Sim

	mu     sync.Mutex
	eng    *bwc.Engine
	drafts []bwc.Draft
	errs   []error
}

func newFakeShiftSite(t *testing.T, clk *clocktest.Clock) *fakeShiftSite {
	t.Helper()
	eng, err := bwc.New(bwc.Config{})
	if err != nil {
		t.Fatal(err)
	}
	s := &fakeShiftSite{clk: clk, eng: eng}
	if s.sim, err = bwcdock.NewSim(bwcdock.Config{Slots: demoDockSlots, Cameras: demoDockSlots}, clk, s); err != nil {
		t.Fatal(err)
	}
	s.sim.Announce()
	return s
}

// Publish implements bwcdock.Publisher, as the agent's bwcMessage.
func (s *fakeShiftSite) Publish(kind string, _ bool, v any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clk.Now()
	switch kind {
	case bwcdock.StatusKind:
		st := v.(bwcdock.Status)
		if err := s.eng.DockState(demoDock, st.Online, now); err != nil {
			s.errs = append(s.errs, err)
		}
		for _, sl := range st.Slots {
			r := bwc.SlotReading{Dock: demoDock, Slot: sl.Slot, Occupied: sl.Occupied, At: now}
			if sl.Occupied {
				r.Serial, r.BatteryPct, r.Charging, r.Faults = sl.Camera, *sl.BatteryPct, sl.Charging, sl.Faults
				r.Offload, r.OffloadDetail = sl.Offload.State, sl.Offload.Detail
			}
			ds, err := s.eng.Reading(r)
			if err != nil {
				s.errs = append(s.errs, err)
			}
			s.drafts = append(s.drafts, ds...)
		}
	case bwcdock.KindBadge:
		ev := v.(bwcdock.Event)
		i := slices.IndexFunc(demoStaff, func(m demoStaffMember) bool { return m.card == ev.Card })
		if i < 0 {
			s.errs = append(s.errs, &bwc.Refusal{Reasons: []string{"card " + ev.Card + " of no member of staff"}})
			return
		}
		if _, d, err := s.eng.Issue(bwc.Request{Dock: demoDock, Staff: demoStaff[i].id, Via: bwc.ViaBadge, At: now}); err == nil {
			s.drafts = append(s.drafts, d)
		}
	}
}

func (s *fakeShiftSite) Sim() dockSim { return s.sim }

func (s *fakeShiftSite) Docks(context.Context) ([]agent.DockView, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []agent.DockView
	for _, d := range s.eng.Docks() {
		out = append(out, agent.DockView{ID: d.ID, Slots: demoDockSlots, Online: d.Online, Since: d.Since, Reported: true})
	}
	return out, nil
}

func (s *fakeShiftSite) Cameras(context.Context) ([]bwc.Camera, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.eng.Cameras(), nil
}

func (s *fakeShiftSite) Issue(_ context.Context, camera, staff, by string) (bwc.Issue, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	is, d, err := s.eng.Issue(bwc.Request{Camera: camera, Staff: staff, By: by, Via: bwc.ViaConsole, At: s.clk.Now()})
	if err == nil {
		s.drafts = append(s.drafts, d)
	}
	return is, err
}

// check runs the register's periodic checks, as the agent does every minute.
func (s *fakeShiftSite) check() {
	s.mu.Lock()
	defer s.mu.Unlock()
	ds, err := s.eng.Check(s.clk.Now())
	if err != nil {
		s.errs = append(s.errs, err)
	}
	s.drafts = append(s.drafts, ds...)
}

func (s *fakeShiftSite) events() ([]bwc.Draft, []error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.drafts), slices.Clone(s.errs)
}

// playShifts runs the shift pattern of seed on a fake site until the site's clock
// passes shifts shifts, moving the clock to each deadline the pattern waits for, and
// returns the site and the pattern's log.
func playShifts(t *testing.T, seed uint64, shifts int) (*fakeShiftSite, time.Time, string) {
	t.Helper()
	t0 := time.Date(2031, 3, 4, 7, 0, 0, 0, curfew.London())
	clk := &watchedClock{Clock: clocktest.New(t0), waits: make(chan time.Time, 64)}
	site := newFakeShiftSite(t, clk.Clock)
	var logs clitest.LockedBuffer
	sh := newDemoShifts(site, clk, t0, slog.New(slog.NewTextHandler(&logs, nil)), seed)
	sh.wait = 200 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); sh.run(ctx) }()
	end := t0.Add(time.Duration(shifts)*demoShift + time.Minute)
	for {
		d := clk.next(t)
		if d.After(end) {
			break
		}
		// The dock charges and offloads on its way to d, a minute at a time, and
		// the register runs its checks, as the agent does.
		for m := clk.Now().Add(time.Minute); m.Before(d); m = m.Add(time.Minute) {
			clk.Set(m)
			site.sim.Advance()
			site.check()
		}
		clk.Set(d)
		site.sim.Advance()
		site.check()
	}
	cancel()
	<-done
	return site, t0, logs.String()
}

// TestDemoShifts plays a few hours of shifts: the first camera is issued within
// the first minute, to the first of the first crew, by their card, and the second
// of the crew issues one on the console; at each changeover the staff going off
// return theirs, which offload, and the two coming on each take one; every issued
// camera is taken from the dock; no camera is removed without an issue, nor
// overdue, and at most one offload fails.
func TestDemoShifts(t *testing.T) {
	const shifts = 8
	var refusals, failures int
	for _, seed := range []uint64{1, 2, 3} {
		site, t0, log := playShifts(t, seed, shifts)
		ds, errs := site.events()
		if len(errs) > 0 {
			t.Errorf("seed %d: the register refused the dock's readings: %v", seed, errs)
		}
		count := map[string]int{}
		issuedTo := map[int][]string{} // shift: staff, in order
		var first *bwc.Draft
		for i, d := range ds {
			count[d.Type]++
			if d.Type != bwc.TypeIssued {
				continue
			}
			if first == nil {
				first = &ds[i]
			}
			k := int(d.At.Sub(t0) / demoShift)
			issuedTo[k] = append(issuedTo[k], d.Staff)
		}
		if first == nil {
			t.Fatalf("seed %d: no camera issued\n%s", seed, log)
		}
		crew0 := demoCrew(0)
		if first.At.Sub(t0) > time.Minute || first.Staff != crew0[0].id || !strings.Contains(string(first.Info), `"via":"badge"`) {
			t.Errorf("seed %d: the first issue is %s at %v after the start (%s); want to %s by badge within a minute", seed, first.Staff, first.At.Sub(t0), first.Info, crew0[0].id)
		}
		for k := range shifts {
			var want []string
			for _, m := range demoCrew(k) {
				want = append(want, m.id)
			}
			// A member of staff with no camera to take waits and tries again: their
			// issue may come in the same shift, later; the order stays.
			if got := issuedTo[k]; !slices.Equal(got, want) {
				t.Errorf("seed %d: shift %d issued to %v, want %v\n%s", seed, k, got, want, log)
			}
		}
		if count[bwc.TypeTaken] != count[bwc.TypeIssued] || count[bwc.TypeReturned] < count[bwc.TypeIssued]-2 {
			t.Errorf("seed %d: events by type %v: want every issue taken, and all but the last crew's returned", seed, count)
		}
		if count[bwc.TypeRemoved] != 0 || count[bwc.TypeOverdue] != 0 || count[bwc.TypeOffloadFailed] > 1 {
			t.Errorf("seed %d: alarms by type %v: want no removal nor overdue, and at most one offload failed", seed, count)
		}
		if got := count[bwc.TypeOffloaded] + count[bwc.TypeOffloadFailed]; got < count[bwc.TypeReturned]-2 {
			t.Errorf("seed %d: %d cameras returned, %d offloads ended", seed, count[bwc.TypeReturned], got)
		}
		failures += count[bwc.TypeOffloadFailed]
		refusals += strings.Count(log, "was refused camera")
	}
	if refusals == 0 || failures == 0 {
		t.Errorf("over three seeds of %d shifts, %d refusals for a low battery and %d failed offloads; want some of each", shifts, refusals, failures)
	}
}

// TestRestoreDock puts an earlier run's cameras back where the register has them:
// one out with staff, one in its slot with footage to offload, one docked and
// ready; the dock's first status says so, and no event moves a camera.
func TestRestoreDock(t *testing.T) {
	clk := clocktest.New(time.Date(2031, 3, 4, 7, 0, 0, 0, time.UTC))
	var pub recordingPublisher
	sim, err := bwcdock.NewSim(bwcdock.Config{Slots: demoDockSlots}, clk, &pub)
	if err != nil {
		t.Fatal(err)
	}
	cams := []bwc.Camera{
		{Serial: "BWC-0001", Location: bwc.LocationOut, Issue: &bwc.Issue{TakenAt: clk.Now()}},
		{Serial: "BWC-0002", Location: bwc.LocationDocked, Dock: demoDock, Slot: 3, NeedsOffload: true},
		{Serial: "BWC-0003", Location: bwc.LocationUnknown, Dock: demoDock, Slot: 1},
	}
	if err := restoreDock(sim, cams); err != nil {
		t.Fatal(err)
	}
	if len(pub.kinds) != 1 || pub.kinds[0] != bwcdock.StatusKind {
		t.Fatalf("the dock published %v; want its status only", pub.kinds)
	}
	st := sim.Status()
	occupant := func(slot int) string {
		for _, s := range st.Slots {
			if s.Slot == slot && s.Occupied {
				return s.Camera + " " + s.Offload.State
			}
		}
		return ""
	}
	for slot, want := range map[int]string{1: "BWC-0003 idle", 2: "", 3: "BWC-0002 running", 4: ""} {
		if got := occupant(slot); got != want {
			t.Errorf("slot %d holds %q, want %q", slot, got, want)
		}
	}
	out := slices.IndexFunc(sim.Cameras(), func(c bwcdock.Camera) bool { return c.Serial == "BWC-0001" && c.Slot == 0 })
	if out < 0 {
		t.Errorf("BWC-0001 is not out: %+v", sim.Cameras())
	}
}

// recordingPublisher records the kinds of the messages it is given.
type recordingPublisher struct{ kinds []string }

func (p *recordingPublisher) Publish(kind string, _ bool, _ any) { p.kinds = append(p.kinds, kind) }
