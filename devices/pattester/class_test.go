package pattester

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/apedge/apedge/devices/device"
	"github.com/apedge/apedge/devices/device/devicetest"
	"github.com/apedge/apedge/formats/pat"
	"github.com/apedge/apedge/internal/clock/clocktest"
	"github.com/apedge/apedge/internal/config"
	"github.com/apedge/apedge/internal/wait"
)

const timeout = 5 * time.Second

// now is the bridge's time in these tests.
var now = time.Date(2026, 6, 10, 11, 30, 0, 0, time.UTC)

// fastTiming is the driver's timing shortened for tests.
func fastTiming() *timing {
	return &timing{tick: 10 * time.Millisecond, askEvery: 50 * time.Millisecond, heartbeat: 200 * time.Millisecond,
		silence: 500 * time.Millisecond, reopen: 50 * time.Millisecond}
}

// site is a simulated site with the testers ts, as config.LoadBridge would leave
// it.
func site(ts ...config.PATTester) *config.Bridge {
	for i := range ts {
		if ts[i].Baud == 0 {
			ts[i].Baud = 9600
		}
	}
	return &config.Bridge{Site: "MAN1", Simulate: &config.Simulate{Quiet: true}, PATTesters: ts}
}

func simulated(id string) config.PATTester {
	return config.PATTester{ID: id, Port: config.SimulatedPort, Name: "maintenance office"}
}

// running is a driver under test: its recorder, its devices and its simulators.
type running struct {
	rec  *devicetest.Recorder
	env  device.Env
	clk  *clocktest.Clock
	devs map[string]device.Device
	stop func()
}

// start opens cfg's testers, with the bridge's clock at now, and runs them until
// the test ends (or stop).
func start(t *testing.T, cfg *config.Bridge) *running {
	t.Helper()
	rec := new(devicetest.Recorder)
	clk := clocktest.New(now)
	env := devicetest.Env(t, cfg, clk, rec, nil)
	drv, err := Class{tm: fastTiming()}.Open(t.Context(), env)
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
	r := &running{rec: rec, env: env, clk: clk, devs: map[string]device.Device{}, stop: stop}
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

// test waits for id's nth test event (from 1) and returns it with its time.
func (r *running) test(t *testing.T, id string, n int) (Test, time.Time) {
	t.Helper()
	ref := device.Ref{Class: ClassName, ID: id}
	var evs []devicetest.Msg
	wait.For(t, timeout, "test event", func() (bool, string) {
		evs = r.rec.Of(ref, devicetest.Event)
		return len(evs) >= n, strings.Join(devicetest.Kinds(evs), " ")
	})
	m := evs[n-1]
	if m.Kind != TestKind {
		t.Fatalf("event %s, want %s", m.Kind, TestKind)
	}
	var ev Test
	if err := json.Unmarshal(m.Data, &ev); err != nil {
		t.Fatal(err)
	}
	return ev, m.At
}

// TestTesterAgainstItsSimulator: the class on a pseudo-terminal to its simulated
// tester, with no bridge: it asks for the ID and comes online with the serial,
// model, firmware and calibration date; a test is an event with the test as sent
// (the instrument's make, model and serial filled in from the ID), dated by the
// instrument; a failing figure is carried as it is, even under a "pass"; garbage
// is counted by cause and never an event; a new calibration date is reported;
// identify asks again; Run returns when ctx ends.
func TestTesterAgainstItsSimulator(t *testing.T) {
	r := start(t, site(simulated("pat-1")))
	sim := r.sim(t, "pat-1")
	st := r.status(t, "pat-1", func(s Status) bool { return s.Online })
	want := Status{Online: true, Serial: "SIM-pat-1", Model: SimModel, Firmware: "sim-1.0", CalibrationDue: "2027-06-10", Simulated: true}
	if st != want {
		t.Errorf("status %+v, want %+v", st, want)
	}
	if h := r.devs["pat-1"].Health(); h.Status != device.HealthOK {
		t.Errorf("health %+v", h)
	}

	kettle := sim.Passing("AP-00123", "J Smith")
	kettle.Description, kettle.TestedAt = "kettle", now.Add(-time.Hour)
	n, err := sim.Test(kettle)
	if err != nil || n != 1 {
		t.Fatalf("Test = %d, %v", n, err)
	}
	ev, at := r.test(t, "pat-1", 1)
	wantRec := kettle
	wantRec.Instrument, wantRec.InstrumentSerial = SimModel, "SIM-pat-1"
	if ev.Device != "pat-1" || ev.Serial != "SIM-pat-1" || ev.Firmware != "sim-1.0" || ev.CalibrationDue != "2027-06-10" ||
		ev.TestNumber != 1 || !reflect.DeepEqual(ev.Record, wantRec) || !at.Equal(kettle.TestedAt) {
		t.Errorf("test event %+v at %v; want the kettle's record %+v", ev, at, wantRec)
	}

	// A failing earth bond under the instrument's "pass": carried as said.
	if _, err := sim.Failing(sim.Passing("AP-00124", "J Smith"), "earth", true); err != nil {
		t.Fatal(err)
	}
	ev, _ = r.test(t, "pat-1", 2)
	if ev.TestNumber != 2 || ev.Record.EarthOhm == nil || *ev.Record.EarthOhm != FailingEarthOhm || ev.Record.Result != pat.ResultPass {
		t.Errorf("failing test %+v", ev)
	}
	if _, err := sim.Failing(sim.Passing("AP-00125", "J Smith"), "insulation", false); err != nil {
		t.Fatal(err)
	}
	ev, _ = r.test(t, "pat-1", 3)
	if *ev.Record.InsulationMOhm != FailingInsulationMOhm || ev.Record.Result != pat.ResultFail {
		t.Errorf("failing test %+v", ev)
	}

	// Five bad lines, one of each kind the simulator makes: counted, never events.
	if err := sim.Garbage(5); err != nil {
		t.Fatal(err)
	}
	st = r.status(t, "pat-1", func(s Status) bool { return s.BadRecords == 5 })
	if !st.Online || !strings.HasPrefix(st.LastError, "record: bad record (") {
		t.Errorf("status after garbage %+v", st)
	}
	if _, err := sim.Test(sim.Passing("AP-00126", "J Smith")); err != nil {
		t.Fatal(err)
	}
	if ev, _ = r.test(t, "pat-1", 4); ev.Record.AssetID != "AP-00126" || ev.TestNumber != 4 {
		t.Errorf("the test after garbage %+v", ev)
	}

	// A calibration date passed: reported, and the tester degraded.
	if err := sim.SetCalibrationDue("2026-06-01"); err != nil {
		t.Fatal(err)
	}
	r.status(t, "pat-1", func(s Status) bool { return s.CalibrationDue == "2026-06-01" })
	if h := r.devs["pat-1"].Health(); h.Status != device.HealthDegraded || !strings.Contains(h.Detail, "2026-06-01") {
		t.Errorf("health %+v", h)
	}

	asked := sim.State().Requests
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	if err := r.devs["pat-1"].Command(ctx, device.Command{Action: ActionIdentify}); err != nil {
		t.Errorf("identify: %v", err)
	}
	if got := sim.State().Requests; got <= asked {
		t.Errorf("requests %d after identify, %d before", got, asked)
	}
	if err := r.devs["pat-1"].Command(ctx, device.Command{Action: "unlock"}); !errors.Is(err, device.ErrUnsupported) {
		t.Errorf("unlock: %v", err)
	}
	r.stop()
}

// TestTesterClockAhead: a test dated more than 10 minutes ahead of the bridge is
// dated by the bridge; one dated months ago (a download of the instrument's
// memory) keeps its date.
func TestTesterClockAhead(t *testing.T) {
	r := start(t, site(simulated("pat-1")))
	sim := r.sim(t, "pat-1")
	r.status(t, "pat-1", func(s Status) bool { return s.Online })
	ahead := sim.Passing("AP-1", "J Smith")
	ahead.TestedAt = now.Add(time.Hour)
	old := sim.Passing("AP-2", "J Smith")
	old.TestedAt = now.AddDate(0, -3, 0)
	for _, rec := range []pat.Record{ahead, old} {
		if _, err := sim.Test(rec); err != nil {
			t.Fatal(err)
		}
	}
	if ev, at := r.test(t, "pat-1", 1); !ev.Record.TestedAt.Equal(now) || !at.Equal(now) {
		t.Errorf("a test an hour ahead dated %v, event at %v; want the bridge's %v", ev.Record.TestedAt, at, now)
	}
	if ev, at := r.test(t, "pat-1", 2); !ev.Record.TestedAt.Equal(old.TestedAt) || !at.Equal(old.TestedAt) {
		t.Errorf("a test of three months ago dated %v, event at %v", ev.Record.TestedAt, at)
	}
}

// TestSilentTesterGoesOffline: a tester switched off goes offline after the
// silence, identify expires, and it is online again when switched on.
func TestSilentTesterGoesOffline(t *testing.T) {
	r := start(t, site(simulated("p1")))
	sim := r.sim(t, "p1")
	r.status(t, "p1", func(s Status) bool { return s.Online })
	if err := sim.PowerOff(true); err != nil {
		t.Fatal(err)
	}
	if _, err := sim.Test(sim.Passing("A", "B")); err == nil {
		t.Error("a test on a tester switched off")
	}
	st := r.status(t, "p1", func(s Status) bool { return !s.Online })
	if !strings.Contains(st.LastError, "nothing from the tester") {
		t.Errorf("status %+v", st)
	}
	if h := r.devs["p1"].Health(); h.Status != device.HealthDown {
		t.Errorf("health %+v", h)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	if err := r.devs["p1"].Command(ctx, device.Command{Action: ActionIdentify}); !errors.Is(err, device.ErrExpired) {
		t.Errorf("identify at a silent tester: %v", err)
	}
	if err := sim.PowerOff(false); err != nil {
		t.Fatal(err)
	}
	if st = r.status(t, "p1", func(s Status) bool { return s.Online }); st.LastError != "" {
		t.Errorf("status back online %+v", st)
	}
}

func TestOpen(t *testing.T) {
	if drv, err := (Class{}).Open(t.Context(), devicetest.Env(t, site(), nil, new(devicetest.Recorder), nil)); drv != nil || err != nil {
		t.Errorf("no testers: %v, %v", drv, err)
	}
	cfg := site(simulated("p1"))
	cfg.Simulate = nil
	if _, err := (Class{}).Open(t.Context(), devicetest.Env(t, cfg, nil, new(devicetest.Recorder), nil)); err == nil ||
		!strings.HasPrefix(err.Error(), "pattester: patTesters[0] p1") {
		t.Errorf("simulated port in a site that is not simulated: %v", err)
	}
	// A real port that is not there: offline, saying why, and no error.
	cfg = site(config.PATTester{ID: "p2", Port: "/dev/no-such-tty-pattester"})
	rec := new(devicetest.Recorder)
	drv, err := Class{tm: fastTiming()}.Open(t.Context(), devicetest.Env(t, cfg, nil, rec, nil))
	if err != nil || len(drv.Devices()) != 1 {
		t.Fatalf("missing port: %v, %v", drv, err)
	}
	if h := drv.Devices()[0].Health(); h.Status != device.HealthDown || !strings.Contains(h.Detail, "no-such-tty") {
		t.Errorf("health %+v", h)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := drv.Run(ctx); err != nil {
		t.Errorf("Run stopped before it started: %v", err)
	}
	if (Class{}).Name() != "pat-tester" {
		t.Errorf("Name %q", Class{}.Name())
	}
}
