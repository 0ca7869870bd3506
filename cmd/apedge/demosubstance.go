package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/apedge/apedge/agent"
	"github.com/apedge/apedge/agent/curfew"
	"github.com/apedge/apedge/agent/substance"
	dsub "github.com/apedge/apedge/devices/substance"
	bridge "github.com/apedge/apedge/firmware-bridge"
	"github.com/apedge/apedge/internal/clock"
)

// The demo keyworker's names, and its testers (the demo bridge's substanceTesters).
const (
	demoKeyworkerStaff = "demo-keyworker"
	demoWitness        = "Demo Witness"
	demoAuthRef        = "DEMO-AUTH-1"
	demoAuthManager    = "Demo Manager"
	demoBreathTester   = "breath-1"
	demoOralTester     = "oral-1"
)

// The demo keyworker's timing on the site's clock: the first test this long after
// the clock's start, the next this long after each, and a resident this long at the
// tester before it reads. Each is a range the keyworker picks from at random.
var (
	demoFirstTest   = [2]time.Duration{20 * time.Second, 35 * time.Second}
	demoBetweenTest = [2]time.Duration{3 * time.Minute, 9 * time.Minute}
	demoAtTester    = [2]time.Duration{5 * time.Second, 15 * time.Second}
)

// demoTester is a simulated substance tester as the keyworker works it
// (*devices/substance.Sim).
type demoTester interface {
	Breath(ug float64, testID string) error
	OralFluid(results map[string]string, testID string) error
	Error(code, text string) error
}

// keyworkerSite is what the demo's keyworker works with: the agent's residents and
// substance testing, and the bridge's simulated testers.
type keyworkerSite interface {
	Residents() []agent.ResidentView
	// Tester returns simulated tester id once the agent has it online, else nil.
	Tester(id string) demoTester
	Start(ctx context.Context, st substance.Start) (substance.Test, error)
	Test(ctx context.Context, id string) (substance.Test, bool, error)
	Tests(ctx context.Context, all bool) ([]substance.Test, error)
	Close(ctx context.Context, testID, note, by string) (substance.Test, error)
}

// liveKeyworkerSite is the demo's running agent and bridge as a keyworkerSite.
type liveKeyworkerSite struct {
	*agent.Substances
	ag *agent.Agent
	br *bridge.Bridge
}

// Residents implements keyworkerSite.
func (s liveKeyworkerSite) Residents() []agent.ResidentView { return s.ag.Residents() }

// Tester implements keyworkerSite: the bridge's simulated tester id, once the bridge
// is ready and the agent has the tester's status as online.
func (s liveKeyworkerSite) Tester(id string) demoTester {
	select {
	case <-s.br.Ready():
	default:
		return nil
	}
	online := false
	for _, v := range s.ag.Devices().SubstanceTesters {
		online = online || v.ID == id && v.Online
	}
	sim := s.br.Sim()
	if !online || sim == nil {
		return nil
	}
	if t := sim.SubstanceTester(id); t != nil {
		return t
	}
	return nil
}

// demoKeyworker is the demo's keyworker: now and then, on the site's clock, it
// tests a resident who is in the building, by breath and by oral fluid in turn, and
// makes the simulated tester read, mostly negative. It logs each test, never its
// result (results are health data), and logs its failures rather than stopping the
// demo.
type demoKeyworker struct {
	site keyworkerSite
	clk  clock.Clock
	log  *slog.Logger
	rng  *rand.Rand
	// start is the site clock's reading at the start of the demo, which the first
	// test and the authorisation are timed from.
	start time.Time
	auth  substance.Authorisation
	// testerWait and sampleWait are how long, in real time, a round waits for its
	// tester to be online and for its reading to be recorded.
	testerWait, sampleWait time.Duration
}

// newDemoKeyworker returns the keyworker of a demo whose site clock clk read start
// at its start, choosing by seed (0: a random seed).
func newDemoKeyworker(site keyworkerSite, clk clock.Clock, start time.Time, log *slog.Logger, seed uint64) *demoKeyworker {
	if seed == 0 {
		seed = rand.Uint64()
	}
	return &demoKeyworker{site: site, clk: clk, log: log, rng: rand.New(rand.NewPCG(seed, seed>>1)), start: start,
		auth:       substance.Authorisation{Ref: demoAuthRef, Manager: demoAuthManager, From: start.Add(-24 * time.Hour), To: start.AddDate(0, 0, 90)},
		testerWait: 10 * time.Second, sampleWait: 30 * time.Second}
}

// run tests residents until ctx ends: the first soon after the start, then every
// few minutes of the site's clock.
func (k *demoKeyworker) run(ctx context.Context) {
	k.closeStale(ctx)
	next := k.start.Add(k.between(demoFirstTest))
	breath := true
	for {
		select {
		case <-ctx.Done():
			return
		case <-k.clk.Until(next):
		}
		if breath {
			k.round(ctx, substance.SampleBreath, demoBreathTester)
		} else {
			k.round(ctx, substance.SampleOralFluid, demoOralTester)
		}
		breath = !breath
		next = k.clk.Now().Add(k.between(demoBetweenTest))
	}
}

// between returns a random duration in the range r.
func (k *demoKeyworker) between(r [2]time.Duration) time.Duration {
	return r[0] + time.Duration(k.rng.Int64N(int64(r[1]-r[0])+1))
}

// closeStale closes the keyworker's tests still awaiting their sample from an
// earlier run, stopped before the reading came, so that their testers are free.
func (k *demoKeyworker) closeStale(ctx context.Context) {
	open, err := k.site.Tests(ctx, false)
	if err != nil {
		if ctx.Err() == nil {
			k.log.Warn("demo: keyworker: the open substance tests", "err", err)
		}
		return
	}
	for _, t := range open {
		if t.Staff == demoKeyworkerStaff && t.State == substance.StateAwaitingSample {
			k.cancel(ctx, t, "the demo stopped before its reading came")
		}
	}
}

// round is one test: a resident who is in (or any, if nobody is) at device, by
// sampleType, if the device is online and free.
func (k *demoKeyworker) round(ctx context.Context, sampleType, device string) {
	tr := k.waitTester(ctx, device)
	if tr == nil {
		if ctx.Err() == nil {
			k.log.Warn("demo: keyworker skips a test: the tester is not online", "device", device)
		}
		return
	}
	crn := k.pick()
	if crn == "" {
		k.log.Info("demo: keyworker skips a test: no resident is in residence")
		return
	}
	st := substance.Start{CRN: crn, Reason: substance.ReasonRandom, SampleType: sampleType, Device: device,
		Staff: demoKeyworkerStaff, Witness: demoWitness, At: k.clk.Now()}
	if k.rng.IntN(5) == 0 {
		st.Reason = substance.ReasonSuspicion
	}
	if sampleType != substance.SampleBreath {
		a := k.auth
		st.Authorisation = &a
	}
	t, err := k.site.Start(ctx, st)
	switch {
	case errors.Is(err, substance.ErrDeviceBusy):
		k.log.Info("demo: keyworker skips a test: the tester has an open test", "device", device)
		return
	case err != nil:
		if ctx.Err() == nil {
			k.log.Warn("demo: keyworker could not start a test", "device", device, "crn", crn, "err", err)
		}
		return
	}
	select {
	case <-ctx.Done():
		return // the next run closes it
	case <-k.clk.Until(st.At.Add(k.between(demoAtTester))):
	}
	if err := k.read(tr, t); err != nil {
		k.log.Warn("demo: the simulated tester did not read", "device", device, "test", t.ID, "err", err)
		k.cancel(ctx, t, "the simulated tester did not read")
		return
	}
	if !k.waitSampled(ctx, t.ID) {
		if ctx.Err() == nil {
			k.log.Warn("demo: the simulated tester's reading was not recorded", "device", device, "test", t.ID, "waited", k.sampleWait)
			k.cancel(ctx, t, "the simulated tester's reading was not recorded")
		}
		return
	}
	k.log.Info(fmt.Sprintf("demo: %s test %s of %s recorded", t.SampleType, t.ID, t.CRN), "reason", t.Reason, "device", t.Device)
}

// pick returns the CRN of a resident in the building at random, or, if nobody is,
// of any in residence; "" if there is nobody.
func (k *demoKeyworker) pick() string {
	var in, all []string
	for _, r := range k.site.Residents() {
		all = append(all, r.CRN)
		if r.Presence == string(curfew.PresenceIn) {
			in = append(in, r.CRN)
		}
	}
	if len(in) == 0 {
		in = all
	}
	if len(in) == 0 {
		return ""
	}
	return in[k.rng.IntN(len(in))]
}

// Demo readings, drawn by demoReading.
const (
	demoNegative    = iota // breath 0, oral fluid negative on every panel
	demoNonNegative        // breath about 25 µg/100 ml, oral fluid THC non-negative
	demoInvalid            // the device reports a fault instead of a result
)

// demoReading draws what a test reads: in twenty, sixteen negative, three
// non-negative and one invalid.
func demoReading(rng *rand.Rand) int {
	switch n := rng.IntN(20); {
	case n < 16:
		return demoNegative
	case n < 19:
		return demoNonNegative
	}
	return demoInvalid
}

// read makes tester tr complete test t, with t's id keyed in (a fault record has
// none: it is bound by the time window).
func (k *demoKeyworker) read(tr demoTester, t substance.Test) error {
	what := demoReading(k.rng)
	switch {
	case what == demoInvalid && t.SampleType == substance.SampleBreath:
		return tr.Error("E12", "blow interrupted, try again")
	case what == demoInvalid:
		return tr.Error("E31", "cassette not read")
	case t.SampleType == substance.SampleBreath && what == demoNonNegative:
		return tr.Breath(float64(22+k.rng.IntN(7)), t.ID)
	case t.SampleType == substance.SampleBreath:
		return tr.Breath(0, t.ID)
	case what == demoNonNegative:
		return tr.OralFluid(map[string]string{"thc": dsub.ResultNonNegative}, t.ID)
	}
	return tr.OralFluid(nil, t.ID)
}

// waitTester returns tester id once it is online, or nil if it is not within
// k.testerWait or ctx ends first.
func (k *demoKeyworker) waitTester(ctx context.Context, id string) demoTester {
	return poll(ctx, k.testerWait, func() (demoTester, bool) {
		t := k.site.Tester(id)
		return t, t != nil
	})
}

// waitSampled says whether test id is past awaiting its sample within k.sampleWait.
func (k *demoKeyworker) waitSampled(ctx context.Context, id string) bool {
	done := poll(ctx, k.sampleWait, func() (bool, bool) {
		t, ok, err := k.site.Test(ctx, id)
		done := err == nil && ok && t.State != substance.StateAwaitingSample
		return done, done
	})
	return done
}

// cancel closes the keyworker's test t, which awaits its sample, with note.
func (k *demoKeyworker) cancel(ctx context.Context, t substance.Test, note string) {
	ctx, stop := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer stop()
	if _, err := k.site.Close(ctx, t.ID, note, demoKeyworkerStaff); err != nil {
		k.log.Warn("demo: keyworker could not close its test", "test", t.ID, "err", err)
		return
	}
	k.log.Info(fmt.Sprintf("demo: %s test %s of %s closed: %s", t.SampleType, t.ID, t.CRN, note))
}

// poll calls f every 50ms of real time until it says done, and returns what it
// returned then; the zero value if wait passes or ctx ends first.
func poll[T any](ctx context.Context, wait time.Duration, f func() (T, bool)) T {
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if v, done := f(); done {
			return v
		}
		select {
		case <-ctx.Done():
			var zero T
			return zero
		case <-deadline.C:
			var zero T
			return zero
		case <-tick.C:
		}
	}
}

// demoStaffCheck is how often, on the site's clock, the demo looks for tests staff
// started themselves (on the dashboard or with apedge ctl) at its simulated testers.
const demoStaffCheck = 5 * time.Second

// answerStaff gives every test someone other than the demo keyworker starts at a
// simulated tester its sample, negative, once the resident has stood at the tester
// for demoAtTester's shortest time: so that a new user trying a test in the demo
// sees it through to its signed event (the simulators take no commands of theirs).
// It runs until ctx ends and logs, never stops the demo.
func (k *demoKeyworker) answerStaff(ctx context.Context) {
	answered := map[string]bool{}
	for {
		select {
		case <-ctx.Done():
			return
		case <-k.clk.Until(k.clk.Now().Add(demoStaffCheck)):
		}
		open, err := k.site.Tests(ctx, false)
		if err != nil {
			continue // the agent is still replaying its journal
		}
		now := k.clk.Now()
		for _, t := range open {
			if answered[t.ID] || t.Staff == demoKeyworkerStaff || t.State != substance.StateAwaitingSample || t.Device == "" ||
				now.Sub(t.StartedAt) < demoAtTester[0] {
				continue
			}
			tr := k.site.Tester(t.Device)
			if tr == nil {
				continue
			}
			answered[t.ID] = true
			if t.SampleType == substance.SampleBreath {
				err = tr.Breath(0, t.ID)
			} else {
				err = tr.OralFluid(nil, t.ID)
			}
			if err != nil {
				k.log.Warn("demo: the simulated tester did not read for a staff test", "device", t.Device, "test", t.ID, "err", err)
				continue
			}
			k.log.Info(fmt.Sprintf("demo: the resident gave %s's %s test %s its sample", t.Staff, t.SampleType, t.ID), "device", t.Device)
		}
	}
}
