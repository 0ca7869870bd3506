package main

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apedge/apedge/agent"
	"github.com/apedge/apedge/agent/curfew"
	"github.com/apedge/apedge/agent/substance"
	"github.com/apedge/apedge/cmd/apedge/internal/clitest"
	dsub "github.com/apedge/apedge/devices/substance"
	"github.com/apedge/apedge/formats/sitebus"
	"github.com/apedge/apedge/internal/clock/clocktest"
	"github.com/apedge/apedge/internal/wait"
)

// watchedClock is a test's standing clock that tells the test each deadline the
// keyworker waits for, so that the test moves it only while the keyworker waits.
type watchedClock struct {
	*clocktest.Clock
	waits chan time.Time
}

// Until implements clock.Clock.
func (c *watchedClock) Until(t time.Time) <-chan time.Time {
	ch := c.Clock.Until(t)
	c.waits <- t
	return ch
}

// next returns the next deadline the keyworker waits for.
func (c *watchedClock) next(t *testing.T) time.Time {
	t.Helper()
	var d time.Time
	wait.For(t, 10*time.Second, "the keyworker to wait on the site's clock", func() (bool, string) {
		select {
		case d = <-c.waits:
			return true, ""
		default:
			return false, ""
		}
	})
	return d
}

// fakeKeyworkerSite is a site for the keyworker: residents the test sets, a real
// substance engine, and testers that hand the engine readings as the bridge would.
type fakeKeyworkerSite struct {
	clk *clocktest.Clock

	mu        sync.Mutex
	eng       *substance.Engine
	residents []agent.ResidentView
	offline   map[string]bool // testers not online
	deaf      bool            // readings are lost on the way
	n         uint32          // the testers' last test number
	reads     []string        // what the testers were told, in order
}

func newFakeKeyworkerSite(t *testing.T, clk *clocktest.Clock) *fakeKeyworkerSite {
	eng, err := substance.New(substance.Config{})
	if err != nil {
		t.Fatal(err)
	}
	return &fakeKeyworkerSite{clk: clk, eng: eng, offline: map[string]bool{}}
}

func (s *fakeKeyworkerSite) setResidents(presence ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.residents = nil
	for i, p := range presence {
		s.residents = append(s.residents, agent.ResidentView{CRN: fmt.Sprintf("X10000%d", i+1), Presence: p})
	}
}

func (s *fakeKeyworkerSite) Residents() []agent.ResidentView {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.residents)
}

func (s *fakeKeyworkerSite) Tester(id string) demoTester {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.offline[id] {
		return nil
	}
	return &fakeTester{s: s, id: id}
}

func (s *fakeKeyworkerSite) Start(_ context.Context, st substance.Start) (substance.Test, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, _, err := s.eng.StartTest(st)
	return t, err
}

func (s *fakeKeyworkerSite) Test(_ context.Context, id string) (substance.Test, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.eng.Get(id)
	return t, ok, nil
}

func (s *fakeKeyworkerSite) Tests(_ context.Context, all bool) ([]substance.Test, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if all {
		return s.eng.All(), nil
	}
	return s.eng.Open(), nil
}

func (s *fakeKeyworkerSite) Close(_ context.Context, id, note, by string) (substance.Test, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.eng.Close(id, note, by, s.clk.Now()); err != nil {
		return substance.Test{}, err
	}
	t, _ := s.eng.Get(id)
	return t, nil
}

// test returns test id, which must exist.
func (s *fakeKeyworkerSite) test(t *testing.T, id string) substance.Test {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	tt, ok := s.eng.Get(id)
	if !ok {
		t.Fatalf("no test %s", id)
	}
	return tt
}

// newest returns the newest test.
func (s *fakeKeyworkerSite) newest(t *testing.T) substance.Test {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	all := s.eng.All()
	if len(all) == 0 {
		t.Fatal("no test started")
	}
	return all[len(all)-1]
}

func (s *fakeKeyworkerSite) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.eng.All())
}

func (s *fakeKeyworkerSite) told() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.reads)
}

// fakeTester is tester id of a fakeKeyworkerSite: it records what it is told and
// hands the engine the reading, as the bridge and the agent would.
type fakeTester struct {
	s  *fakeKeyworkerSite
	id string
}

func (f *fakeTester) reading(told string, r sitebus.SubstanceReading) error {
	s := f.s
	s.mu.Lock()
	defer s.mu.Unlock()
	s.n++
	s.reads = append(s.reads, f.id+" "+told)
	r.Serial, r.CalibrationDue, r.SelfCheck, r.TestNumber, r.MeasuredAt = "SIM-"+f.id, "2099-01-01", "pass", s.n, s.clk.Now()
	r.Kind = sitebus.TesterBreathAlcohol
	if f.id == demoOralTester {
		r.Kind, r.CassetteLot, r.CassetteExpiry = sitebus.TesterOralFluid, "LOT-1", "2099-01-01"
	}
	if s.deaf {
		return nil
	}
	_, err := s.eng.Reading(f.id, r, s.clk.Now())
	return err
}

func (f *fakeTester) Breath(ug float64, testID string) error {
	return f.reading(fmt.Sprintf("breath %g %s", ug, testID), sitebus.SubstanceReading{AlcoholUg: &ug, TestID: testID})
}

func (f *fakeTester) OralFluid(results map[string]string, testID string) error {
	panels := []sitebus.PanelResult{{Panel: "cocaine", Result: dsub.ResultNegative}, {Panel: "thc", Result: dsub.ResultNegative}}
	for p, r := range results {
		i := slices.IndexFunc(panels, func(pr sitebus.PanelResult) bool { return pr.Panel == p })
		if i < 0 || r != dsub.ResultNonNegative && r != dsub.ResultNegative && r != dsub.ResultInvalid {
			return fmt.Errorf("fake tester: panel %q result %q", p, r)
		}
		panels[i].Result = r
	}
	var pos []string
	for _, p := range panels {
		if p.Result != dsub.ResultNegative {
			pos = append(pos, p.Panel+"="+p.Result)
		}
	}
	return f.reading(fmt.Sprintf("oral-fluid %v %s", pos, testID), sitebus.SubstanceReading{Panels: panels, TestID: testID})
}

func (f *fakeTester) Error(code, text string) error {
	return f.reading("error "+code, sitebus.SubstanceReading{DeviceError: code})
}

// TestDemoKeyworker runs the demo's keyworker on a clock the test moves: it closes
// its own tests left awaiting a sample by an earlier run; the first test comes 20 to
// 35 s into the demo, the next every 3 to 9 minutes, by breath and by oral fluid in
// turn, of a resident who is in (or of any if nobody is); an oral-fluid test rests
// on the demo's authorisation; the tester reads its test after a short pause; a
// busy or offline tester and a lost reading skip a round or close its test; and the
// log names each test but never its result.
func TestDemoKeyworker(t *testing.T) {
	london := curfew.London()
	t0 := time.Date(2031, 3, 4, 10, 0, 0, 0, london)
	clk := &watchedClock{Clock: clocktest.New(t0), waits: make(chan time.Time, 16)}
	site := newFakeKeyworkerSite(t, clk.Clock)
	site.setResidents("out", "in", "unknown")
	// An earlier run's test, stopped before its reading, and one of a member of staff.
	st := func(crn, device, staff string, at time.Time) substance.Start {
		return substance.Start{CRN: crn, Reason: substance.ReasonRandom, SampleType: substance.SampleBreath, Device: device,
			Staff: staff, Witness: "Someone Else", At: at}
	}
	stale, err := site.Start(context.Background(), st("X100001", demoBreathTester, demoKeyworkerStaff, t0.Add(-time.Hour)))
	if err != nil {
		t.Fatal(err)
	}
	var logs clitest.LockedBuffer
	k := newDemoKeyworker(site, clk, t0, slog.New(slog.NewTextHandler(&logs, nil)), 7)
	k.testerWait, k.sampleWait = 100*time.Millisecond, 100*time.Millisecond
	if a := k.auth; a.Ref != demoAuthRef || a.Manager != demoAuthManager || !a.From.Equal(t0.Add(-24*time.Hour)) || !a.To.Equal(t0.AddDate(0, 0, 90)) {
		t.Errorf("authorisation %+v, want %s by %s from a day before the start to 90 days after", a, demoAuthRef, demoAuthManager)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		k.run(ctx)
	}()
	defer func() {
		cancel()
		<-done
	}()

	in := func(d time.Time, r [2]time.Duration, from time.Time, what string) {
		t.Helper()
		if d.Before(from.Add(r[0])) || d.After(from.Add(r[1])) {
			t.Errorf("%s at %v, want %v to %v after %v", what, d.Sub(t0), r[0], r[1], from.Sub(t0))
		}
	}
	// One round: the keyworker starts a test at the round's time and waits at the
	// tester; the test moves the clock on and the tester reads.
	round := func(at time.Time, sampleType, device string, crns ...string) substance.Test {
		t.Helper()
		clk.Set(at)
		pause := clk.next(t)
		tt := site.newest(t)
		if tt.SampleType != sampleType || tt.Device != device || !slices.Contains(crns, tt.CRN) || !tt.StartedAt.Equal(at) ||
			tt.Staff != demoKeyworkerStaff || tt.Witness != demoWitness || tt.State != substance.StateAwaitingSample {
			t.Errorf("test started %+v, want a %s test at %s of one of %v at %v by %s witnessed by %s", tt, sampleType, device, crns, at.Sub(t0), demoKeyworkerStaff, demoWitness)
		}
		if tt.Reason != substance.ReasonRandom && tt.Reason != substance.ReasonSuspicion {
			t.Errorf("reason %q, want random or suspicion", tt.Reason)
		}
		if auth := tt.Authorisation; sampleType == substance.SampleBreath && auth != nil ||
			sampleType == substance.SampleOralFluid && (auth == nil || auth.Ref != demoAuthRef || auth.Manager != demoAuthManager) {
			t.Errorf("%s test's authorisation %+v", sampleType, auth)
		}
		in(pause, demoAtTester, at, "the reading")
		if n := len(site.told()); n != 0 && strings.HasSuffix(site.told()[n-1], " "+tt.ID) {
			t.Errorf("the tester read %s before the pause", tt.ID)
		}
		clk.Set(pause)
		return tt
	}

	first := clk.next(t)
	if got := site.test(t, stale.ID); got.State != substance.StateClosed || got.Outcome != substance.OutcomeCancelled || got.Closure == nil || got.Closure.By != demoKeyworkerStaff {
		t.Errorf("the earlier run's test %+v, want closed, cancelled, by %s", got, demoKeyworkerStaff)
	}
	in(first, demoFirstTest, t0, "the first test")

	// 1: breath, of the one resident in.
	t1 := round(first, substance.SampleBreath, demoBreathTester, "X100002")
	next := clk.next(t)
	if got := site.test(t, t1.ID); got.State != substance.StateClosed || got.Screen == nil || got.Screen.BoundBy == "" {
		t.Errorf("after the reading test %+v, want closed with its screen", got)
	}
	in(next, demoBetweenTest, clk.Now(), "the second test")

	// 2: oral fluid; nobody is in, so any resident in residence.
	site.setResidents("out", "out", "unknown")
	t2 := round(next, substance.SampleOralFluid, demoOralTester, "X100001", "X100002", "X100003")
	next = clk.next(t)
	if got := site.test(t, t2.ID); got.State != substance.StateClosed && got.State != substance.StateAwaitingConfirmation || got.Screen == nil {
		t.Errorf("after the reading test %+v, want closed or awaiting confirmation, with its screen", got)
	}
	in(next, demoBetweenTest, clk.Now(), "the third test")

	// 3: breath, but the meter has someone else's test open: the round is skipped.
	site.setResidents("in", "in", "in")
	busy, err := site.Start(context.Background(), st("X100003", demoBreathTester, "keyworker-1", next.Add(-time.Second)))
	if err != nil {
		t.Fatal(err)
	}
	n, told := site.count(), len(site.told())
	clk.Set(next)
	next = clk.next(t)
	in(next, demoBetweenTest, clk.Now(), "the round after a busy tester")
	if site.count() != n || len(site.told()) != told {
		t.Errorf("with the meter busy: %d tests, told %v; want %d tests and nothing told", site.count(), site.told(), n)
	}
	if _, err := site.Close(context.Background(), busy.ID, "started in error", "keyworker-1"); err != nil {
		t.Fatal(err)
	}

	// 4: oral fluid, whose reading is lost: the keyworker closes its test.
	site.mu.Lock()
	site.deaf = true
	site.mu.Unlock()
	t4 := round(next, substance.SampleOralFluid, demoOralTester, "X100001", "X100002", "X100003")
	next = clk.next(t)
	if got := site.test(t, t4.ID); got.State != substance.StateClosed || got.Outcome != substance.OutcomeCancelled || got.Closure == nil || got.Closure.By != demoKeyworkerStaff {
		t.Errorf("test whose reading was lost %+v, want cancelled by %s", got, demoKeyworkerStaff)
	}

	// 5: breath, with the meter offline: skipped.
	site.mu.Lock()
	site.deaf, site.offline[demoBreathTester] = false, true
	site.mu.Unlock()
	n = site.count()
	clk.Set(next)
	next = clk.next(t)
	in(next, demoBetweenTest, clk.Now(), "the round after an offline tester")
	if site.count() != n {
		t.Errorf("with the meter offline %d tests, want %d", site.count(), n)
	}

	// 6: oral fluid again, as it should.
	t6 := round(next, substance.SampleOralFluid, demoOralTester, "X100001", "X100002", "X100003")
	clk.next(t)
	if got := site.test(t, t6.ID); got.State == substance.StateAwaitingSample {
		t.Errorf("test %s after its reading: %+v", t6.ID, got)
	}

	// The tester was told each test's id (a fault is bound by time instead).
	for i, tt := range []substance.Test{t1, t2, t4, t6} {
		if told := site.told()[i]; !strings.HasSuffix(told, " "+tt.ID) && !strings.Contains(told, " error ") {
			t.Errorf("the tester was told %q for test %s", told, tt.ID)
		}
	}
	// One line per recorded test, and one per closed, naming it; never a result.
	log := logs.String()
	for _, tt := range []substance.Test{t1, t2, t6} {
		want := fmt.Sprintf(`msg="demo: %s test %s of %s recorded"`, tt.SampleType, tt.ID, tt.CRN)
		if strings.Count(log, want) != 1 {
			t.Errorf("log does not have %s once\n%s", want, log)
		}
	}
	for _, want := range []string{
		fmt.Sprintf(`msg="demo: breath test %s of X100001 closed: the demo stopped before its reading came"`, stale.ID),
		"demo: keyworker skips a test: the tester has an open test",
		"demo: keyworker skips a test: the tester is not online",
		fmt.Sprintf(`msg="demo: oral-fluid test %s of %s closed: the simulated tester's reading was not recorded"`, t4.ID, t4.CRN),
	} {
		if !strings.Contains(log, want) {
			t.Errorf("log does not say %s\n%s", want, log)
		}
	}
	for _, bad := range []string{"negative", "invalid", "thc", "ug", "µg", "alcohol"} {
		if strings.Contains(log, bad) {
			t.Errorf("log says %q: results are health data\n%s", bad, log)
		}
	}
}

// TestDemoReading: the keyworker's testers read mostly negative, sometimes
// non-negative (breath over the limit, oral fluid THC), rarely a fault.
func TestDemoReading(t *testing.T) {
	clk := clocktest.New(time.Date(2031, 3, 4, 10, 0, 0, 0, curfew.London()))
	site := newFakeKeyworkerSite(t, clk)
	site.deaf = true
	k := newDemoKeyworker(site, clk, clk.Now(), slog.New(slog.DiscardHandler), 11)
	limit := substance.DefaultBreathLimitUg
	count := map[string]int{}
	const n = 2000
	for i := range n {
		tt := substance.Test{ID: fmt.Sprintf("T-%d", i), SampleType: substance.SampleBreath, Device: demoBreathTester}
		tr := &fakeTester{s: site, id: demoBreathTester}
		if i%2 == 1 {
			tt.SampleType, tt.Device, tr.id = substance.SampleOralFluid, demoOralTester, demoOralTester
		}
		if err := k.read(tr, tt); err != nil {
			t.Fatal(err)
		}
		told := site.told()[i]
		var ug float64
		switch {
		case told == demoBreathTester+" breath 0 "+tt.ID, told == demoOralTester+" oral-fluid [] "+tt.ID:
			count["negative"]++
		case told == demoOralTester+" oral-fluid [thc=non-negative] "+tt.ID:
			count["non-negative"]++
		case strings.HasPrefix(told, demoBreathTester+" breath "):
			if _, err := fmt.Sscanf(told, demoBreathTester+" breath %g "+tt.ID, &ug); err != nil || ug < limit || ug < 20 || ug > 30 {
				t.Errorf("breath told %q, want 0 or about 25, over the limit %g", told, limit)
			}
			count["non-negative"]++
		case told == demoBreathTester+" error E12", told == demoOralTester+" error E31":
			count["fault"]++
		default:
			t.Errorf("tester told %q", told)
		}
	}
	if neg, pos, fault := count["negative"], count["non-negative"], count["fault"]; neg < n*7/10 || pos < n/10 || fault < n/50 || fault >= pos || pos >= neg {
		t.Errorf("of %d readings %d negative, %d non-negative and %d faults; want most negative, some non-negative and a few faults", n, neg, pos, fault)
	}
}

// TestDemoKeyworkerBetween: the keyworker's random durations stay in their range
// and cover it.
func TestDemoKeyworkerBetween(t *testing.T) {
	k := &demoKeyworker{rng: rand.New(rand.NewPCG(1, 2))}
	for _, r := range [][2]time.Duration{demoFirstTest, demoBetweenTest, demoAtTester} {
		lo, hi := r[1], r[0]
		for range 1000 {
			d := k.between(r)
			if d < r[0] || d > r[1] {
				t.Fatalf("between(%v) = %v", r, d)
			}
			lo, hi = min(lo, d), max(hi, d)
		}
		if span := r[1] - r[0]; lo > r[0]+span/10 || hi < r[1]-span/10 {
			t.Errorf("between(%v) drew only %v to %v", r, lo, hi)
		}
	}
}

// TestDemoAnswersStaffTests: a test a member of staff starts at a simulated tester
// gets its sample, negative, once the resident has been at the tester a while; the
// keyworker's own tests and a tester that is offline are left alone.
func TestDemoAnswersStaffTests(t *testing.T) {
	t0 := time.Date(2031, 3, 4, 10, 0, 0, 0, curfew.London())
	clk := &watchedClock{Clock: clocktest.New(t0), waits: make(chan time.Time, 1024)}
	site := newFakeKeyworkerSite(t, clk.Clock)
	site.offline[demoOralTester] = true
	var logs clitest.LockedBuffer
	k := newDemoKeyworker(site, clk, t0, slog.New(slog.NewTextHandler(&logs, nil)), 7)
	ctx := context.Background()
	start := func(crn, sample, device, staff string) substance.Test {
		t.Helper()
		st := substance.Start{CRN: crn, Reason: substance.ReasonRandom, SampleType: sample, Device: device, Staff: staff,
			Witness: "Someone Else", At: t0.Add(3 * time.Second)}
		if sample != substance.SampleBreath {
			a := k.auth
			st.Authorisation = &a
		}
		tt, err := site.Start(ctx, st)
		if err != nil {
			t.Fatal(err)
		}
		return tt
	}
	mine := start("X100001", substance.SampleBreath, demoBreathTester, "kim")
	offline := start("X100002", substance.SampleOralFluid, demoOralTester, "kim")
	actx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		k.answerStaff(actx)
	}()
	defer func() {
		cancel()
		<-done
	}()
	// Too soon at the first check: the resident came to the tester 2s before it.
	if d := clk.next(t); !d.Equal(t0.Add(demoStaffCheck)) {
		t.Fatalf("first check at %v, want %v", d, t0.Add(demoStaffCheck))
	}
	clk.Set(t0.Add(demoStaffCheck))
	clk.next(t) // the check is done: the next is awaited
	if got := site.test(t, mine.ID); got.State != substance.StateAwaitingSample {
		t.Fatalf("%s read 2s after its start, want it to wait %v", mine.ID, demoAtTester[0])
	}
	clk.Set(t0.Add(2 * demoStaffCheck))
	wait.For(t, 10*time.Second, mine.ID+" sampled", func() (bool, string) {
		got := site.test(t, mine.ID)
		return got.State == substance.StateClosed, fmt.Sprintf("%+v", got)
	})
	if got := site.test(t, mine.ID); got.Outcome != substance.OutcomeNegative {
		t.Errorf("%s outcome %s, want negative", mine.ID, got.Outcome)
	}
	if got := site.test(t, offline.ID); got.State != substance.StateAwaitingSample {
		t.Errorf("%s at an offline tester: %s", offline.ID, got.State)
	}
	// The keyworker logs the sample once the reading is in: the test may see it
	// closed first.
	wait.For(t, 10*time.Second, "the sample logged", func() (bool, string) {
		return strings.Contains(logs.String(), "demo: the resident gave kim's breath test "+mine.ID+" its sample"), logs.String()
	})
}
