package bwcdock_test

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apedge/apedge/devices/bwcdock"
	"github.com/apedge/apedge/internal/clock/clocktest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// start is when the tests' shift begins.
var start = time.Date(2031, 2, 3, 7, 0, 0, 0, time.UTC)

// published is one message the dock published: its kind, whether retained, and its
// data as JSON.
type published struct {
	Kind     string
	Retained bool
	Data     string
}

// recorder is a Publisher that keeps what it is given (cmd/apedge's tests check
// that the site bus's decoders take it).
type recorder struct {
	t   *testing.T
	mu  sync.Mutex
	got []published
}

func (r *recorder) Publish(kind string, retained bool, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		r.t.Errorf("publish %s: %v", kind, err)
	}
	if retained != (kind == bwcdock.StatusKind) {
		r.t.Errorf("published %s retained %v", kind, retained)
	}
	r.mu.Lock()
	r.got = append(r.got, published{kind, retained, string(b)})
	r.mu.Unlock()
}

// take returns what was published since the last take.
func (r *recorder) take() []published {
	r.mu.Lock()
	defer r.mu.Unlock()
	g := r.got
	r.got = nil
	return g
}

func newSim(t *testing.T, cfg bwcdock.Config) (*bwcdock.Sim, *clocktest.Clock, *recorder) {
	t.Helper()
	clk := clocktest.New(start)
	rec := &recorder{t: t}
	s, err := bwcdock.NewSim(cfg, clk, rec)
	if err != nil {
		t.Fatal(err)
	}
	return s, clk, rec
}

// slotOf returns slot n of the dock's status.
func slotOf(t *testing.T, s *bwcdock.Sim, n int) bwcdock.Slot {
	t.Helper()
	st := s.Status()
	if n < 1 || n > len(st.Slots) || st.Slots[n-1].Slot != n {
		t.Fatalf("no slot %d in %+v", n, st)
	}
	return st.Slots[n-1]
}

func camera(t *testing.T, s *bwcdock.Sim, serial string) bwcdock.Camera {
	t.Helper()
	for _, c := range s.Cameras() {
		if c.Serial == serial {
			return c
		}
	}
	t.Fatalf("no camera %s", serial)
	return bwcdock.Camera{}
}

func TestNewSim(t *testing.T) {
	s, _, rec := newSim(t, bwcdock.Config{Slots: 4, Cameras: 2})
	if got := rec.take(); len(got) != 0 {
		t.Errorf("published %v before Announce", got)
	}
	s.Announce()
	want := `{"online":true,"serial":"SIM-DOCK-1","model":"sim-dock-4","firmware":"sim-1.0","slots":[` +
		`{"slot":1,"occupied":true,"camera":"BWC-0001","batteryPct":100,"offload":{"state":"idle","progressPct":0},"cameraFirmware":"sim-3.2.0"},` +
		`{"slot":2,"occupied":true,"camera":"BWC-0002","batteryPct":100,"offload":{"state":"idle","progressPct":0},"cameraFirmware":"sim-3.2.0"},` +
		`{"slot":3,"occupied":false},{"slot":4,"occupied":false}],"simulated":true}`
	if got := rec.take(); len(got) != 1 || got[0] != (published{bwcdock.StatusKind, true, want}) {
		t.Errorf("Announce published %v, want the status\n%s", got, want)
	}
	s.Advance()
	if got := rec.take(); len(got) != 0 {
		t.Errorf("Advance with nothing changed published %v", got)
	}
	s.Announce()
	if got := rec.take(); len(got) != 1 {
		t.Errorf("a second Announce published %v, want the status again", got)
	}
	will, _ := json.Marshal(s.OfflineStatus())
	if string(will) != `{"online":false,"serial":"SIM-DOCK-1","model":"sim-dock-4","firmware":"sim-1.0","simulated":true}` {
		t.Errorf("offline status %s", will)
	}
	for _, tc := range []struct {
		cfg     bwcdock.Config
		wantErr string
	}{
		{bwcdock.Config{Slots: 0}, "0 slots"},
		{bwcdock.Config{Slots: 65}, "65 slots"},
		{bwcdock.Config{Slots: 2, Cameras: 3}, "3 cameras in 2 slots"},
		{bwcdock.Config{Slots: 2, Serial: "DOCK 1"}, `"DOCK 1"`},
	} {
		if _, err := bwcdock.NewSim(tc.cfg, clocktest.New(start), &recorder{t: t}); err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("NewSim(%+v) = %v, want an error saying %q", tc.cfg, err, tc.wantErr)
		}
	}
}

func TestCharging(t *testing.T) {
	s, clk, rec := newSim(t, bwcdock.Config{Slots: 2, Cameras: 1})
	s.Announce()
	if _, err := s.Undock(1); err != nil {
		t.Fatal(err)
	}
	if err := s.Drain("BWC-0001", 40); err != nil {
		t.Fatal(err)
	}
	if err := s.Dock(2, "BWC-0001"); err != nil {
		t.Fatal(err)
	}
	rec.take()
	tests := []struct {
		after    time.Duration
		battery  int
		charging bool
	}{
		{0, 40, true},
		{30 * time.Second, 40, true}, // whole percents only
		{30 * time.Second, 41, true},
		{29 * time.Minute, 70, true},
		{29 * time.Minute, 99, true},
		{time.Minute, 100, false},
		{time.Hour, 100, false},
	}
	for _, tc := range tests {
		clk.Add(tc.after)
		s.Advance()
		sl := slotOf(t, s, 2)
		if *sl.BatteryPct != tc.battery || sl.Charging != tc.charging {
			t.Errorf("at %v: battery %d%% charging %v, want %d%% %v", clk.Now().Sub(start), *sl.BatteryPct, sl.Charging, tc.battery, tc.charging)
		}
	}
	// A status at each Advance that changed a whole percent or charging, none at
	// the others.
	if got := rec.take(); len(got) != 4 {
		t.Errorf("%d statuses while charging from 40%% to 100%%, want 4: %v", len(got), got)
	}
	// Out of the dock it drains, 6% an hour.
	s.Undock(2)
	clk.Add(10 * time.Hour)
	if c := camera(t, s, "BWC-0001"); c.BatteryPct != 40 || c.Slot != 0 {
		t.Errorf("after 10 hours out: %+v, want 40%%", c)
	}
	if err := s.Drain("BWC-0001", 41); err == nil || !strings.Contains(err.Error(), "is at 40%") {
		t.Errorf("draining up: %v", err)
	}
}

func TestOffload(t *testing.T) {
	tests := []struct {
		name      string
		failNext  bool
		out       time.Duration // how long the camera is out: 10 minutes of footage an hour
		undockAt  time.Duration // 0: left docked
		wantState string
		wantPct   int
		wantEvent string // the offload event's JSON, "" for none
		pending   float64
	}{
		{"done", false, 6 * time.Hour, 0, bwcdock.OffloadDone, 100,
			`{"slot":1,"serial":"BWC-0001","result":"done","bytes":6291456000}`, 0},
		{"failed", true, 6 * time.Hour, 0, bwcdock.OffloadFailed, 50,
			`{"slot":1,"serial":"BWC-0001","result":"failed","detail":"simulated failure: transfer interrupted"}`, 30},
		{"nothing to offload", false, 0, 0, bwcdock.OffloadIdle, 0, "", 0},
		{"taken out half way", false, 6 * time.Hour, 3 * time.Minute, "", 0, "", 30},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, clk, rec := newSim(t, bwcdock.Config{Slots: 1, Cameras: 1})
			s.Announce()
			s.Undock(1)
			clk.Add(tc.out)
			if tc.failNext {
				s.FailNextOffload("BWC-0001")
			}
			if err := s.Dock(1, "BWC-0001"); err != nil {
				t.Fatal(err)
			}
			if tc.out > 0 {
				if o := slotOf(t, s, 1).Offload; o.State != bwcdock.OffloadRunning || o.ProgressPct != 0 {
					t.Errorf("docked with footage: offload %+v, want running at 0%%", o)
				}
				clk.Add(90 * time.Second) // 15 of 60 minutes
				if o := slotOf(t, s, 1).Offload; o.State != bwcdock.OffloadRunning || o.ProgressPct != 25 {
					t.Errorf("after 90s: offload %+v, want running at 25%%", o)
				}
			}
			if tc.undockAt > 0 {
				clk.Add(tc.undockAt - 90*time.Second)
				s.Undock(1)
			} else {
				clk.Add(time.Hour)
				s.Advance()
				if o := slotOf(t, s, 1).Offload; o.State != tc.wantState || o.ProgressPct != tc.wantPct {
					t.Errorf("after an hour: offload %+v, want %s at %d%%", o, tc.wantState, tc.wantPct)
				}
			}
			var events []string
			for _, p := range rec.take() {
				if p.Kind == bwcdock.KindOffload {
					events = append(events, p.Data)
				}
			}
			if want := []string{tc.wantEvent}; tc.wantEvent == "" && len(events) > 0 || tc.wantEvent != "" && strings.Join(events, "\n") != tc.wantEvent {
				t.Errorf("offload events %q, want %q", events, want)
			}
			if c := camera(t, s, "BWC-0001"); c.PendingMin != tc.pending {
				t.Errorf("footage left %v minutes, want %v", c.PendingMin, tc.pending)
			}
		})
	}
}

func TestSimRefuses(t *testing.T) {
	s, _, rec := newSim(t, bwcdock.Config{Slots: 2, Cameras: 1})
	s.Announce()
	rec.take()
	tests := []struct {
		name    string
		do      func() error
		wantErr string
	}{
		{"dock in an occupied slot", func() error { return s.Dock(1, "BWC-0009") }, "slot 1 holds BWC-0001"},
		{"dock a docked camera", func() error { return s.Dock(2, "BWC-0001") }, "BWC-0001 is in slot 1"},
		{"slot 0", func() error { return s.Dock(0, "BWC-0009") }, "no slot 0"},
		{"slot 3 of 2", func() error { _, err := s.Undock(3); return err }, "no slot 3: the dock has 1 to 2"},
		{"undock an empty slot", func() error { _, err := s.Undock(2); return err }, "slot 2 is empty"},
		{"a serial with a space", func() error { return s.Dock(2, "BWC 9") }, "no spaces"},
		{"an unknown camera", func() error { return s.Drain("BWC-0009", 5) }, `no camera "BWC-0009"`},
		{"record while docked", func() error { return s.Record("BWC-0001", 5) }, "is docked"},
		{"a badge with no card", func() error { return s.Badge("") }, "1 to 64 printable"},
		{"an indicate for slot 3", func() error { n := 3; return s.Indicate(n, bwcdock.PatternIssue, "") }, "no slot 3"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.do(); err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("error %v, want one saying %q", err, tc.wantErr)
			}
			if got := rec.take(); len(got) != 0 {
				t.Errorf("a refused change published %v", got)
			}
		})
	}
}

func TestOfflineAndLEDs(t *testing.T) {
	s, clk, rec := newSim(t, bwcdock.Config{Slots: 2, Cameras: 1})
	s.Announce()
	if err := s.Indicate(1, bwcdock.PatternRefused, "battery 40%, under 80%"); err != nil {
		t.Fatal(err)
	}
	if led := s.LED(1); led != (bwcdock.LED{Pattern: bwcdock.PatternRefused, Reason: "battery 40%, under 80%", At: start}) {
		t.Errorf("LED %+v", led)
	}
	if led := s.LED(2); led != (bwcdock.LED{}) {
		t.Errorf("LED of slot 2 %+v, want off", led)
	}
	rec.take()
	s.Offline(true)
	s.Undock(1) // lost: nobody hears it
	s.Badge("12:10001")
	if got := rec.take(); len(got) != 0 {
		t.Errorf("offline, published %v", got)
	}
	if led := s.LED(1); led != (bwcdock.LED{}) {
		t.Errorf("LED %+v after the camera was taken, want off", led)
	}
	clk.Add(time.Minute)
	s.Offline(false)
	got := rec.take()
	if len(got) != 1 || got[0].Kind != bwcdock.StatusKind || !strings.Contains(got[0].Data, `"slots":[{"slot":1,"occupied":false}`) {
		t.Errorf("back online, published %v, want the status with slot 1 empty", got)
	}
	s.Badge("12:10001")
	if got := rec.take(); len(got) != 1 || got[0] != (published{bwcdock.KindBadge, false, `{"card":"12:10001"}`}) {
		t.Errorf("badge published %v", got)
	}
}

func TestFaults(t *testing.T) {
	s, _, rec := newSim(t, bwcdock.Config{Slots: 1, Cameras: 1})
	s.Announce()
	rec.take()
	if err := s.Fault("BWC-0001", "lens obstructed"); err != nil {
		t.Fatal(err)
	}
	if f := slotOf(t, s, 1).Faults; len(f) != 1 || f[0] != "lens obstructed" {
		t.Errorf("faults %q", f)
	}
	if got := rec.take(); len(got) != 1 || !strings.Contains(got[0].Data, `"faults":["lens obstructed"]`) {
		t.Errorf("published %v", got)
	}
	for range bwcdock.MaxFaults - 1 {
		s.Fault("BWC-0001", "more")
	}
	if err := s.Fault("BWC-0001", "one too many"); err == nil {
		t.Error("a ninth fault accepted")
	}
	s.Fault("BWC-0001", "")
	if f := slotOf(t, s, 1).Faults; len(f) != 0 {
		t.Errorf("faults %q after clearing", f)
	}
}

// TestShiftGolden plays a shift and compares every message the dock published with
// testdata/shift.golden (go test -update rewrites it).
func TestShiftGolden(t *testing.T) {
	s, clk, rec := newSim(t, bwcdock.Config{Serial: "DK4-00417", Slots: 4, Cameras: 3})
	var lines []string
	step := func(what string, f func() error) {
		t.Helper()
		if err := f(); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		lines = append(lines, fmt.Sprintf("# %s %s", clk.Now().Format("15:04:05"), what))
		for _, p := range rec.take() {
			r := "event"
			if p.Retained {
				r = "state"
			}
			lines = append(lines, r+" "+p.Kind+" "+p.Data)
		}
	}
	step("connect", func() error { s.Announce(); return nil })
	step("keyworker-1 badges", func() error { return s.Badge("12:10001") })
	step("slot 1 taken", func() error { _, err := s.Undock(1); return err })
	step("drain BWC-0002 to 60", func() error { return s.Drain("BWC-0002", 60) })
	step("fault BWC-0003", func() error { return s.Fault("BWC-0003", "lens obstructed") })
	clk.Add(12*time.Hour + 30*time.Minute)
	step("fail the next offload of BWC-0001", func() error { return s.FailNextOffload("BWC-0001") })
	step("BWC-0001 returned to slot 4", func() error { return s.Dock(4, "BWC-0001") })
	clk.Add(7 * time.Minute)
	step("7 minutes on", func() error { s.Advance(); return nil })
	step("BWC-0001 out and back to slot 1", func() error {
		if _, err := s.Undock(4); err != nil {
			return err
		}
		return s.Dock(1, "BWC-0001")
	})
	clk.Add(7 * time.Minute)
	step("7 minutes on", func() error { s.Advance(); return nil })
	got := strings.Join(lines, "\n") + "\n"
	path := filepath.Join("testdata", "shift.golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("the shift published\n%s\nwant (%s)\n%s", got, path, want)
	}
}
