package substance

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apedge/apedge/devices/device"
	"github.com/apedge/apedge/devices/device/devicetest"
	"github.com/apedge/apedge/internal/config"
	"github.com/apedge/apedge/internal/wait"
)

const timeout = 5 * time.Second

// fast is the driver's timing shortened for tests.
var fast = timing{tick: 10 * time.Millisecond, askEvery: 50 * time.Millisecond, heartbeat: 200 * time.Millisecond,
	silence: 500 * time.Millisecond, reopen: 50 * time.Millisecond}

// site is a simulated site with the testers ts, as config.LoadBridge would leave
// it.
func site(ts ...config.SubstanceTester) *config.Bridge {
	for i := range ts {
		if ts[i].Baud == 0 {
			ts[i].Baud = 9600
		}
	}
	return &config.Bridge{Site: "MAN1", Simulate: &config.Simulate{Quiet: true}, SubstanceTesters: ts}
}

// running is a driver under test: its recorder, its devices and its simulators.
type running struct {
	rec  *devicetest.Recorder
	env  device.Env
	devs map[string]device.Device
	stop func() // ends Run and waits for it, failing the test if it took long
}

// start opens cfg's testers and runs them until the test ends (or stop).
func start(t *testing.T, cfg *config.Bridge) *running {
	t.Helper()
	rec := new(devicetest.Recorder)
	env := devicetest.Env(t, cfg, nil, rec, nil)
	drv, err := Class{tm: &fast}.Open(t.Context(), env)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- drv.Run(ctx) }()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run = %v", err)
			}
		case <-time.After(timeout):
			t.Fatal("Run did not return after ctx ended")
		}
	}
	t.Cleanup(stop)
	r := &running{rec: rec, env: env, devs: map[string]device.Device{}, stop: stop}
	for _, d := range drv.Devices() {
		r.devs[d.Ref().ID] = d
	}
	return r
}

func (r *running) sim(t *testing.T, id string) *Sim {
	t.Helper()
	s, ok := r.env.Sims.Get(device.Ref{Class: ClassName, ID: id}).(*Sim)
	if !ok {
		t.Fatalf("no simulator for %s", id)
	}
	return s
}

// status waits for id's status for which ok holds.
func (r *running) status(t *testing.T, id string, ok func(Status) bool) Status {
	t.Helper()
	var st Status
	r.rec.LastState(t, timeout, device.Ref{Class: ClassName, ID: id}, func(d json.RawMessage) bool {
		st = Status{}
		return json.Unmarshal(d, &st) == nil && ok(st)
	})
	return st
}

// reading waits for id's nth reading event (from 1) and returns it with its time.
func (r *running) reading(t *testing.T, id string, n int) (Reading, time.Time) {
	t.Helper()
	ref := device.Ref{Class: ClassName, ID: id}
	var evs []devicetest.Msg
	wait.For(t, timeout, "reading event", func() (bool, string) {
		evs = r.rec.Of(ref, devicetest.Event)
		return len(evs) >= n, strings.Join(devicetest.Kinds(evs), " ")
	})
	m := evs[n-1]
	if m.Kind != ReadingKind {
		t.Fatalf("event %s, want %s", m.Kind, ReadingKind)
	}
	var rd Reading
	if err := json.Unmarshal(m.Data, &rd); err != nil {
		t.Fatal(err)
	}
	return rd, m.At
}

func breathTester(id string) config.SubstanceTester {
	return config.SubstanceTester{ID: id, Kind: config.TesterBreathAlcohol, Port: config.SimulatedPort, Name: "office"}
}

// TestBreathTesterAgainstItsSimulator: the class on a pseudo-terminal to its
// simulated meter, with no bridge: it asks for the ID and comes online; a breath
// test is a reading with the device's figure, serial, calibration, self-check,
// test number and test id; a failed self-check and an old calibration are
// reported as the device says them; garbage is counted and the tester keeps
// working; identify asks again; Run returns when ctx ends and releases the pty.
func TestBreathTesterAgainstItsSimulator(t *testing.T) {
	r := start(t, site(breathTester("office")))
	if len(r.devs) != 1 || r.devs["office"] == nil || r.devs["office"].Ref() != (device.Ref{Class: "substance-tester", ID: "office"}) {
		t.Fatalf("devices %v", r.devs)
	}
	dev := r.devs["office"]
	sim := r.sim(t, "office")
	st := r.status(t, "office", func(s Status) bool { return s.Online })
	if st.Kind != KindBreathAlcohol || st.Serial != "SIM-office" || st.Firmware != "sim-1.0" || st.SelfCheck != SelfCheckPass ||
		!st.Simulated || st.CalibrationDue <= time.Now().Format(time.DateOnly) || st.BadRecords != 0 {
		t.Errorf("status %+v", st)
	}
	wait.Until(t, timeout, "the driver's RQ answered", func() bool { return sim.Requests() >= 1 })
	if h := dev.Health(); h.Status != device.HealthOK {
		t.Errorf("health %+v", h)
	}

	before := time.Now().Add(-time.Second)
	if err := sim.Breath(23.5, "T-1"); err != nil {
		t.Fatal(err)
	}
	rd, at := r.reading(t, "office", 1)
	if rd.Kind != KindBreathAlcohol || rd.AlcoholUg == nil || *rd.AlcoholUg != 23.5 || rd.Serial != "SIM-office" ||
		rd.Firmware != "sim-1.0" || rd.CalibrationDue != st.CalibrationDue || rd.SelfCheck != SelfCheckPass ||
		rd.TestNumber != 1 || rd.TestID != "T-1" || rd.TemperatureC == nil || *rd.TemperatureC != 21.5 || rd.DeviceError != "" {
		t.Errorf("reading %+v", rd)
	}
	if !at.Equal(rd.MeasuredAt) || rd.MeasuredAt.Before(before) || rd.MeasuredAt.After(time.Now()) {
		t.Errorf("reading at %v, measured %v", at, rd.MeasuredAt)
	}

	// A failed self-check and an old calibration: said as the device says them.
	old := time.Now().AddDate(0, -1, 0).Format(time.DateOnly)
	if err := sim.FailSelfCheck(true); err != nil {
		t.Fatal(err)
	}
	if err := sim.SetCalibrationDue(old); err != nil {
		t.Fatal(err)
	}
	r.status(t, "office", func(s Status) bool { return s.Online && s.SelfCheck == SelfCheckFail && s.CalibrationDue == old })
	if h := dev.Health(); h.Status != device.HealthDegraded || !strings.Contains(h.Detail, "self-check") {
		t.Errorf("health with a failed self-check %+v", h)
	}
	if err := sim.FailSelfCheck(false); err != nil {
		t.Fatal(err)
	}
	r.status(t, "office", func(s Status) bool { return s.SelfCheck == SelfCheckPass })
	if h := dev.Health(); h.Status != device.HealthDegraded || !strings.Contains(h.Detail, old) {
		t.Errorf("health with an old calibration %+v", h)
	}
	if err := sim.FailSelfCheck(true); err != nil {
		t.Fatal(err)
	}
	r.status(t, "office", func(s Status) bool { return s.SelfCheck == SelfCheckFail })
	if err := sim.Breath(0, ""); err != nil {
		t.Fatal(err)
	}
	rd, _ = r.reading(t, "office", 2)
	if rd.SelfCheck != SelfCheckFail || rd.CalibrationDue != old || rd.TestNumber != 2 || rd.TestID != "" || rd.AlcoholUg == nil || *rd.AlcoholUg != 0 {
		t.Errorf("reading from a failing meter %+v", rd)
	}

	// Garbage: each line counted, none a reading, and the meter keeps working.
	if err := sim.Garbage(9); err != nil {
		t.Fatal(err)
	}
	st = r.status(t, "office", func(s Status) bool { return s.BadRecords >= 9 })
	if st.BadRecords != 9 || !st.Online || st.LastError == "" {
		t.Errorf("status after garbage %+v", st)
	}
	if err := sim.Breath(80.25, "T-3"); err != nil {
		t.Fatal(err)
	}
	if rd, _ = r.reading(t, "office", 3); *rd.AlcoholUg != 80.25 || rd.TestID != "T-3" || rd.TestNumber != 3 {
		t.Errorf("reading after garbage %+v", rd)
	}

	// A device error instead of a result.
	if err := sim.Error("E12", "blow interrupted, try again"); err != nil {
		t.Fatal(err)
	}
	rd, _ = r.reading(t, "office", 4)
	if rd.DeviceError != "E12" || rd.TestNumber != 4 || rd.AlcoholUg != nil || rd.SelfCheck != SelfCheckFail || rd.CalibrationDue != old {
		t.Errorf("error reading %+v", rd)
	}
	r.status(t, "office", func(s Status) bool { return strings.Contains(s.LastError, "E12: blow interrupted, try again") })

	// Commands.
	asked := sim.Requests()
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	if err := dev.Command(ctx, device.Command{ID: "c1", Action: ActionIdentify}); err != nil {
		t.Errorf("identify: %v", err)
	}
	if sim.Requests() <= asked {
		t.Errorf("identify sent no RQ: %d requests, %d before", sim.Requests(), asked)
	}
	if err := dev.Command(ctx, device.Command{ID: "c2", Action: "unlock"}); !errors.Is(err, device.ErrUnsupported) {
		t.Errorf("unlock: %v", err)
	}
	if n := len(r.rec.Of(device.Ref{Class: ClassName, ID: "office"}, devicetest.Event)); n != 4 {
		t.Errorf("%d events, want the 4 readings", n)
	}

	r.stop()
	if err := sim.Breath(1, ""); err == nil {
		t.Error("the simulator still writes after Run returned: the pty was not released")
	}
}

// TestSilentTesterGoesOffline: a tester that says nothing for the silence
// interval is offline (health down), and online again when it speaks.
func TestSilentTesterGoesOffline(t *testing.T) {
	r := start(t, site(breathTester("b1")))
	sim := r.sim(t, "b1")
	r.status(t, "b1", func(s Status) bool { return s.Online })
	if err := sim.PowerOff(true); err != nil {
		t.Fatal(err)
	}
	st := r.status(t, "b1", func(s Status) bool { return !s.Online })
	if !strings.Contains(st.LastError, "nothing from the tester") {
		t.Errorf("status %+v", st)
	}
	if h := r.devs["b1"].Health(); h.Status != device.HealthDown {
		t.Errorf("health %+v", h)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	if err := r.devs["b1"].Command(ctx, device.Command{Action: ActionIdentify}); !errors.Is(err, device.ErrExpired) {
		t.Errorf("identify at a silent tester: %v", err)
	}
	if err := sim.PowerOff(false); err != nil {
		t.Fatal(err)
	}
	st = r.status(t, "b1", func(s Status) bool { return s.Online })
	if st.LastError != "" {
		t.Errorf("status back online %+v", st)
	}
}

// TestImplausibleDeviceClock: a reading whose device time is far from the
// bridge's is dated by the bridge's clock.
func TestImplausibleDeviceClock(t *testing.T) {
	r := start(t, site(breathTester("b1")))
	sim := r.sim(t, "b1")
	r.status(t, "b1", func(s Status) bool { return s.Online })
	for i, at := range []time.Time{time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC), time.Now().Add(time.Hour)} {
		before := time.Now()
		if err := sim.line.Send(breathRecord(Reading{Serial: sim.Serial(), TestNumber: 7, MeasuredAt: at, AlcoholUg: ptr(3),
			CalibrationDue: "2099-01-01", SelfCheck: SelfCheckPass})); err != nil {
			t.Fatal(err)
		}
		rd, when := r.reading(t, "b1", i+1)
		if rd.MeasuredAt.Before(before) || rd.MeasuredAt.After(time.Now()) || !when.Equal(rd.MeasuredAt) {
			t.Errorf("device time %v: measured %v, at %v", at, rd.MeasuredAt, when)
		}
	}
	// A little wrong is the device's own time.
	at := time.Now().Add(-time.Hour).Truncate(time.Second)
	if err := sim.line.Send(breathRecord(Reading{Serial: sim.Serial(), TestNumber: 8, MeasuredAt: at, AlcoholUg: ptr(3),
		CalibrationDue: "2099-01-01", SelfCheck: SelfCheckPass})); err != nil {
		t.Fatal(err)
	}
	if rd, when := r.reading(t, "b1", 3); !rd.MeasuredAt.Equal(at) || !when.Equal(at) {
		t.Errorf("device time %v: measured %v at %v", at, rd.MeasuredAt, when)
	}
	// A reading the BR reader refuses is a bad record, not a reading.
	if err := sim.line.Send(Record{Type: TypeBreath, Fields: [][2]string{{"serial", "S"}, {"n", "1"}}}); err != nil {
		t.Fatal(err)
	}
	st := r.status(t, "b1", func(s Status) bool { return s.BadRecords == 1 })
	if !strings.Contains(st.LastError, "(content)") {
		t.Errorf("status %+v", st)
	}
	// An ER record from another device, without cal and self: nothing to take
	// them from.
	if err := sim.line.Send(errorRecord(Reading{Serial: "OTHER-1", TestNumber: 1, MeasuredAt: time.Now()}, "E1", "")); err != nil {
		t.Fatal(err)
	}
	st = r.status(t, "b1", func(s Status) bool { return s.BadRecords == 2 })
	if !strings.Contains(st.LastError, "OTHER-1") {
		t.Errorf("status %+v", st)
	}
	if n := len(r.rec.Of(device.Ref{Class: ClassName, ID: "b1"}, devicetest.Event)); n != 3 {
		t.Errorf("%d events, want 3 readings", n)
	}
}

// TestOralFluidTester: an analyser's result comes through the same driver, every
// panel with its cut-off, on its cassette.
func TestOralFluidTester(t *testing.T) {
	r := start(t, site(config.SubstanceTester{ID: "of1", Kind: config.TesterOralFluid, Port: config.SimulatedPort}))
	sim := r.sim(t, "of1")
	st := r.status(t, "of1", func(s Status) bool { return s.Online })
	if st.Kind != KindOralFluid {
		t.Errorf("status %+v", st)
	}
	if err := sim.Breath(1, ""); err == nil {
		t.Error("an oral-fluid analyser took a breath test")
	}
	if err := sim.SetCassette("LOT-42", "2030-06-30"); err != nil {
		t.Fatal(err)
	}
	if err := sim.OralFluid(map[string]string{"cocaine": ResultNonNegative, "thc": CodeInvalid}, "T-9"); err != nil {
		t.Fatal(err)
	}
	rd, _ := r.reading(t, "of1", 1)
	if rd.Kind != KindOralFluid || rd.CassetteLot != "LOT-42" || rd.CassetteExpiry != "2030-06-30" || rd.TestID != "T-9" ||
		rd.AlcoholUg != nil || len(rd.Panels) != len(DrugPanels()) {
		t.Fatalf("reading %+v", rd)
	}
	cut := DefaultOralFluidCutoffs()
	for i, p := range rd.Panels {
		want := ResultNegative
		switch p.Panel {
		case "cocaine":
			want = ResultNonNegative
		case "thc":
			want = ResultInvalid
		}
		if p.Panel != DrugPanels()[i] || p.Result != want || p.CutoffNgMl != cut[p.Panel] {
			t.Errorf("panel %d %+v, want %s %s at %v", i, p, DrugPanels()[i], want, cut[p.Panel])
		}
	}
	if err := sim.OralFluid(map[string]string{"alcohol": ResultNegative}, ""); err == nil {
		t.Error("the analyser read an alcohol panel")
	}
}

// TestOpen: no testers, no driver; "simulated" outside a simulated site is
// refused; a real port that is not there is a tester offline saying why, not a
// failure of the class.
func TestOpen(t *testing.T) {
	rec := new(devicetest.Recorder)
	drv, err := Class{}.Open(t.Context(), devicetest.Env(t, &config.Bridge{Site: "MAN1"}, nil, rec, nil))
	if drv != nil || err != nil {
		t.Errorf("no testers: %v, %v", drv, err)
	}
	cfg := &config.Bridge{Site: "MAN1", SubstanceTesters: []config.SubstanceTester{breathTester("b1")}}
	if drv, err := (Class{}).Open(t.Context(), devicetest.Env(t, cfg, nil, rec, nil)); err == nil || !strings.HasPrefix(err.Error(), "substance: ") {
		t.Errorf("simulated port in a real site: %v, %v", drv, err)
	}

	missing := filepath.Join(t.TempDir(), "ttyUSB9")
	cfg = &config.Bridge{Site: "MAN1", SubstanceTesters: []config.SubstanceTester{{ID: "b2", Kind: config.TesterBreathAlcohol, Port: missing, Baud: 9600}}}
	env := devicetest.Env(t, cfg, nil, rec, nil)
	drv, err = Class{tm: &fast}.Open(t.Context(), env)
	if err != nil {
		t.Fatal(err)
	}
	dev := drv.Devices()[0]
	if h := dev.Health(); h.Status != device.HealthDown || !strings.Contains(h.Detail, "ttyUSB9") {
		t.Errorf("health %+v", h)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- drv.Run(ctx) }()
	ref := device.Ref{Class: ClassName, ID: "b2"}
	rec.LastState(t, timeout, ref, func(d json.RawMessage) bool {
		var s Status
		return json.Unmarshal(d, &s) == nil && !s.Online && strings.Contains(s.LastError, "ttyUSB9")
	})
	if err := dev.Command(ctx, device.Command{Action: ActionIdentify}); err == nil || !strings.Contains(err.Error(), "port not open") {
		t.Errorf("identify with no port: %v", err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run = %v", err)
	}
}

// TestRunStoppedBeforeStart: Run with ctx done releases the pty and publishes
// nothing.
func TestRunStoppedBeforeStart(t *testing.T) {
	rec := new(devicetest.Recorder)
	env := devicetest.Env(t, site(breathTester("b1")), nil, rec, nil)
	drv, err := Class{tm: &fast}.Open(t.Context(), env)
	if err != nil {
		t.Fatal(err)
	}
	sp := drv.(*driver).testers[0].sim
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := drv.Run(ctx); err != nil {
		t.Errorf("Run = %v", err)
	}
	if n := len(rec.All()); n != 0 {
		t.Errorf("%d messages published", n)
	}
	if _, err := sp.ptmx.Write([]byte("x")); err == nil {
		t.Error("the pty is still open")
	}
}
