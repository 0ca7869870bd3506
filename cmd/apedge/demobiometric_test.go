package main

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apedge/apedge/agent"
	"github.com/apedge/apedge/agent/biometric"
	"github.com/apedge/apedge/agent/curfew"
	"github.com/apedge/apedge/cmd/apedge/internal/clitest"
	"github.com/apedge/apedge/devices/fingerprint"
	"github.com/apedge/apedge/formats/sitebus"
	"github.com/apedge/apedge/internal/clock/clocktest"
	"github.com/apedge/apedge/internal/wait"
)

// fakeEnrolmentSite is a site for the enrolment officer: a real biometrics engine,
// and terminals that are simulated modules (devices/fingerprint.Sim) driven, as a
// bridge's terminal would, through an enrolment's steps: they wait for the finger
// on the sensor, capture it twice, merge and store it, and tell the engine.
type fakeEnrolmentSite struct {
	t   *testing.T
	clk *clocktest.Clock
	ctx context.Context // the terminals' run
	wg  sync.WaitGroup  // the terminals' enrolments under way

	mu        sync.Mutex
	eng       *biometric.Engine
	sims      map[string]*fingerprint.Sim
	offline   map[string]bool
	stuck     bool              // the terminals take enrolments but never say a step
	steps     map[string]string // enrolment: its live step
	enrolling map[string]string // terminal: the enrolment under way on it
	cancels   map[string]context.CancelFunc
}

func newFakeEnrolmentSite(t *testing.T, clk *clocktest.Clock, terminals ...string) *fakeEnrolmentSite {
	eng, err := biometric.New(biometric.Config{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &fakeEnrolmentSite{t: t, clk: clk, ctx: ctx, eng: eng, sims: map[string]*fingerprint.Sim{}, offline: map[string]bool{},
		steps: map[string]string{}, enrolling: map[string]string{}, cancels: map[string]context.CancelFunc{}}
	t.Cleanup(func() {
		cancel()
		s.wg.Wait()
	})
	for _, id := range terminals {
		s.sims[id] = fingerprint.NewSim(fingerprint.SimOptions{})
	}
	return s
}

// restart gives every terminal a new simulator with an empty library, as a new run
// of the demo's bridge does.
func (s *fakeEnrolmentSite) restart() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id := range s.sims {
		s.sims[id] = fingerprint.NewSim(fingerprint.SimOptions{})
	}
}

func (s *fakeEnrolmentSite) sim(id string) *fingerprint.Sim {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sims[id]
}

func (s *fakeEnrolmentSite) view(en biometric.Enrolment) agent.Enrolment {
	v := agent.Enrolment{Enrolment: en}
	if st, ok := s.steps[en.ID]; ok && en.State == biometric.StateEnrolling {
		v.Step = &agent.EnrolStep{Step: st, At: s.clk.Now()}
	}
	return v
}

func (s *fakeEnrolmentSite) Terminals(context.Context) ([]agent.TerminalView, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []agent.TerminalView
	for _, id := range slices.Sorted(maps.Keys(s.sims)) {
		v := agent.TerminalView{ID: id, Reported: true, Status: &sitebus.BiometricStatus{Online: !s.offline[id], Enrolling: s.enrolling[id]}}
		if en, ok := s.eng.Enrolling(id); ok {
			x := s.view(en)
			v.Enrolling = &x
		}
		out = append(out, v)
	}
	return out, nil
}

func (s *fakeEnrolmentSite) Resident(_ context.Context, crn string) (agent.ResidentBiometrics, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := agent.ResidentBiometrics{CRN: crn, Fingers: s.eng.Fingers(crn)}
	if c, ok := s.eng.ConsentOf(crn); ok {
		r.Consent = &c
	}
	if a, ok := s.eng.AlternativeOf(crn); ok {
		r.Alternative = &a
	}
	for _, en := range s.eng.Enrolments(crn) {
		r.Enrolments = append(r.Enrolments, s.view(en))
	}
	return r, nil
}

func (s *fakeEnrolmentSite) Consent(_ context.Context, crn string, given bool, by string) (biometric.Consent, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := biometric.Consent{CRN: crn, Given: given, By: by, At: s.clk.Now()}
	_, err := s.eng.RecordConsent(c)
	return c, err
}

func (s *fakeEnrolmentSite) Enrol(_ context.Context, crn, finger, terminal, by string) (agent.Enrolment, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sim := s.sims[terminal]
	switch {
	case sim == nil:
		return agent.Enrolment{}, fmt.Errorf("%w: no terminal %s", agent.ErrBiometric, terminal)
	case s.offline[terminal]:
		return agent.Enrolment{}, agent.ErrTerminalOffline
	case s.enrolling[terminal] != "":
		return agent.Enrolment{}, fmt.Errorf("%w: %s reports enrolment %s under way", biometric.ErrBusy, terminal, s.enrolling[terminal])
	}
	en, _, err := s.eng.StartEnrolment(biometric.Request{CRN: crn, Finger: finger, Terminal: terminal, By: by, At: s.clk.Now()},
		slices.Sorted(maps.Keys(sim.Slots())), fingerprint.SimCapacity)
	if err != nil {
		return agent.Enrolment{}, err
	}
	ctx, cancel := context.WithCancel(s.ctx)
	s.enrolling[terminal], s.cancels[en.ID] = en.ID, cancel
	s.wg.Go(func() { s.enrolWith(ctx, sim, en) })
	return s.view(en), nil
}

// enrolWith is a terminal's enrolment en on sim, as the bridge's driver runs it.
func (s *fakeEnrolmentSite) enrolWith(ctx context.Context, sim *fingerprint.Sim, en biometric.Enrolment) {
	do := func(c fingerprint.Command) fingerprint.Code { return sim.Handle(c.Payload()).Code }
	step := func(st string) {
		s.mu.Lock()
		if !s.stuck {
			s.steps[en.ID] = st
		}
		s.mu.Unlock()
	}
	// sensor asks the sensor for an image every 2ms until it has a finger (on) or
	// none, and returns the code of the image taken.
	sensor := func(on bool) (fingerprint.Code, bool) {
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for {
			if c := do(fingerprint.CmdGenImg()); (c != fingerprint.CodeNoFinger) == on {
				return c, true
			}
			select {
			case <-ctx.Done():
				return 0, false
			case <-tick.C:
			}
		}
	}
	capture := func(b fingerprint.Buffer) (fingerprint.Code, bool) {
		c, ok := sensor(true)
		if ok && c == fingerprint.CodeOK {
			c = do(fingerprint.CmdImg2Tz(b))
		}
		return c, ok
	}
	c, ok := fingerprint.CodeOK, true
	step(sitebus.StepPlaceFinger)
	if c, ok = capture(fingerprint.CharBuffer1); ok && c == fingerprint.CodeOK {
		step(sitebus.StepLiftFinger)
		if _, ok = sensor(false); ok {
			step(sitebus.StepPlaceAgain)
			if c, ok = capture(fingerprint.CharBuffer2); ok && c == fingerprint.CodeOK {
				if c = do(fingerprint.CmdRegModel()); c == fingerprint.CodeOK {
					step(sitebus.StepStoring)
					c = do(fingerprint.CmdStore(fingerprint.CharBuffer1, uint16(en.Slot)))
				}
			}
		}
	}
	if !ok {
		return // cancelled: the engine knows
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var err error
	if c == fingerprint.CodeOK {
		_, err = s.eng.Enrolled(en.Terminal, sitebus.Enrolled{Enrolment: en.ID, Slot: en.Slot}, s.clk.Now())
	} else {
		_, err = s.eng.EnrolFailed(en.Terminal, sitebus.EnrolFailed{Enrolment: en.ID, Slot: en.Slot, Reason: fmt.Sprintf("code-%02x", byte(c))}, s.clk.Now())
	}
	if err != nil {
		s.t.Errorf("fake terminal %s: enrolment %s: %v", en.Terminal, en.ID, err)
	}
	delete(s.enrolling, en.Terminal)
}

func (s *fakeEnrolmentSite) Enrolment(_ context.Context, id string) (agent.Enrolment, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	en, ok := s.eng.Enrolment(id)
	return s.view(en), ok, nil
}

func (s *fakeEnrolmentSite) Enrolments(_ context.Context, crn string) ([]agent.Enrolment, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []agent.Enrolment{}
	for _, en := range s.eng.Enrolments(crn) {
		out = append(out, s.view(en))
	}
	return out, nil
}

func (s *fakeEnrolmentSite) Cancel(_ context.Context, id, by string) (agent.Enrolment, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, err := s.eng.Abandon(id, biometric.ReasonCancelled, "", by, s.clk.Now())
	if err != nil {
		return agent.Enrolment{}, err
	}
	s.cancels[id]()
	delete(s.enrolling, d.Terminal)
	en, _ := s.eng.Enrolment(id)
	return s.view(en), nil
}

func (s *fakeEnrolmentSite) Sim(id string) demoTerminal {
	if sim := s.sim(id); sim != nil {
		return sim
	}
	return nil
}

// enrolments returns crn's enrolments on terminal, in order.
func (s *fakeEnrolmentSite) enrolments(crn, terminal string) []biometric.Enrolment {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.DeleteFunc(s.eng.Enrolments(crn), func(en biometric.Enrolment) bool { return en.Terminal != terminal })
}

// testOfficer is an officer of site for residents, with short waits.
func testOfficer(site enrolmentSite, log *slog.Logger, residents ...string) *demoOfficer {
	o := newDemoOfficer(site, log, 7)
	o.residents = residents
	o.terminalWait, o.enrolWait, o.deadline = 500*time.Millisecond, 5*time.Second, 30*time.Second
	return o
}

// TestDemoOfficer runs the enrolment officer on a new site and again after a
// restart: the first run records each resident's consent by the officer,
// demoDecliner's a refusal (the alternative is in force), and enrols the right
// index of each who consented on both terminals, each in a slot whose template is
// the resident's synthetic finger, a first attempt failing where the draw says so;
// the sensors are left bare. The second run, on terminals that start empty, asks
// nobody again and enrols nothing, but puts every template back in its slot.
func TestDemoOfficer(t *testing.T) {
	clk := clocktest.New(time.Date(2031, 3, 4, 10, 0, 0, 0, curfew.London()))
	site := newFakeEnrolmentSite(t, clk, demoFrontTerminal, demoDeskTerminal)
	var logs clitest.LockedBuffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	residents := []string{"X100001", demoDecliner, "X100003"}
	o := testOfficer(site, log, residents...)
	o.failOneIn = 1 // every first attempt fails its capture
	o.run(context.Background())

	slots := map[string]map[int]string{} // terminal: slot: finger
	for _, crn := range residents {
		r, _ := site.Resident(context.Background(), crn)
		if c := r.Consent; c == nil || c.Given != (crn != demoDecliner) || c.By != demoOfficerStaff {
			t.Errorf("%s's consent %+v, want given %v by %s", crn, c, crn != demoDecliner, demoOfficerStaff)
		}
		if crn == demoDecliner {
			if a := r.Alternative; a == nil || a.Why != biometric.WhyDeclined || len(r.Enrolments) != 0 {
				t.Errorf("%s declined: alternative %+v, enrolments %+v; want the alternative for declining, no enrolment", crn, a, r.Enrolments)
			}
			continue
		}
		for _, term := range []string{demoFrontTerminal, demoDeskTerminal} {
			ens := site.enrolments(crn, term)
			if len(ens) != 2 || ens[0].State != biometric.StateFailed || ens[0].Reason != fmt.Sprintf("code-%02x", byte(fingerprint.CodeImageMessy)) ||
				ens[1].State != biometric.StateEnrolled {
				t.Errorf("%s on %s: enrolments %+v, want one failed for a messy image, then one enrolled", crn, term, ens)
				continue
			}
			en := ens[1]
			if en.Finger != demoFinger || en.By != demoOfficerStaff {
				t.Errorf("%s on %s: enrolled %s by %s, want %s by %s", crn, term, en.Finger, en.By, demoFinger, demoOfficerStaff)
			}
			if got := site.sim(term).Slots()[en.Slot]; got != demoFingerID(crn, demoFinger) {
				t.Errorf("%s's slot %d on %s holds %q, want %q", crn, en.Slot, term, got, demoFingerID(crn, demoFinger))
			}
			if slots[term] == nil {
				slots[term] = map[int]string{}
			}
			slots[term][en.Slot] = demoFingerID(crn, demoFinger)
		}
	}
	for _, term := range []string{demoFrontTerminal, demoDeskTerminal} {
		if got := site.sim(term).Slots(); !maps.Equal(got, slots[term]) {
			t.Errorf("%s holds %v, want only the enrolled %v", term, got, slots[term])
		}
		if f := site.sim(term).State().Finger; f != "" {
			t.Errorf("%s has %q left on its sensor", term, f)
		}
	}
	for _, want := range []string{
		"demo: " + demoDecliner + " declined the enrolment of their fingerprints",
		`failed (code-06)`,
		"demo: enrolment officer done: 2 residents consented, 1 declined; 4 fingers enrolled, 4 attempts failed; 0 templates of earlier runs put back",
	} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log does not say %s\n%s", want, logs.String())
		}
	}

	// The demo again on the same site: new, empty terminals.
	site.restart()
	before, _ := site.Enrolments(context.Background(), "")
	var logs2 clitest.LockedBuffer
	testOfficer(site, slog.New(slog.NewTextHandler(&logs2, nil)), residents...).run(context.Background())
	if after, _ := site.Enrolments(context.Background(), ""); len(after) != len(before) {
		t.Errorf("the second run started %d enrolments", len(after)-len(before))
	}
	for _, term := range []string{demoFrontTerminal, demoDeskTerminal} {
		if got := site.sim(term).Slots(); !maps.Equal(got, slots[term]) {
			t.Errorf("after the restart %s holds %v, want %v put back", term, got, slots[term])
		}
	}
	if want := "demo: enrolment officer done: 2 residents consented, 1 declined; 0 fingers enrolled, 0 attempts failed; 4 templates of earlier runs put back"; !strings.Contains(logs2.String(), want) {
		t.Errorf("second run's log does not say %s\n%s", want, logs2.String())
	}
	if strings.Contains(logs2.String(), "declined the enrolment") {
		t.Errorf("the second run asked for consent again\n%s", logs2.String())
	}
}

// TestDemoOfficerDraws: with the demo's one in ten, a few of the demo's 38
// enrolments fail their first capture, on both terminals, and the same seed draws
// the same.
func TestDemoOfficerDraws(t *testing.T) {
	var crns []string
	for _, r := range demoResidents {
		if r.crn != demoDecliner {
			crns = append(crns, r.crn)
		}
	}
	draw := func(seed uint64) []string {
		var failed []string
		for k, f := range newDemoOfficer(nil, slog.New(slog.DiscardHandler), seed).drawFailures(crns) {
			if f {
				failed = append(failed, k)
			}
		}
		slices.Sort(failed)
		return failed
	}
	total, terms := 0, map[string]bool{}
	for seed := uint64(1); seed <= 50; seed++ {
		failed := draw(seed)
		if !slices.Equal(failed, draw(seed)) {
			t.Fatalf("seed %d draws %v, then %v", seed, failed, draw(seed))
		}
		total += len(failed)
		for _, k := range failed {
			term, _, _ := strings.Cut(k, "/")
			terms[term] = true
		}
	}
	if mean := float64(total) / 50; mean < 2 || mean > 6 || !terms[demoFrontTerminal] || !terms[demoDeskTerminal] {
		t.Errorf("%.1f of 38 enrolments fail at first on average, on %v; want about 4, on both terminals", mean, terms)
	}
}

// TestDemoOfficerTerminalTrouble: a terminal that is not online is skipped, and an
// enrolment whose terminal never says a step is cancelled by the officer once
// enrolWait has passed, and the officer goes on to the next resident.
func TestDemoOfficerTerminalTrouble(t *testing.T) {
	clk := clocktest.New(time.Date(2031, 3, 4, 10, 0, 0, 0, curfew.London()))
	site := newFakeEnrolmentSite(t, clk, demoFrontTerminal, demoDeskTerminal)
	site.offline[demoDeskTerminal], site.stuck = true, true
	var logs clitest.LockedBuffer
	o := testOfficer(site, slog.New(slog.NewTextHandler(&logs, nil)), "X100001", "X100003")
	o.enrolWait = 200 * time.Millisecond
	o.run(context.Background())
	for _, crn := range []string{"X100001", "X100003"} {
		ens := site.enrolments(crn, demoFrontTerminal)
		if len(ens) != 1 || ens[0].State != biometric.StateFailed || ens[0].Reason != biometric.ReasonCancelled {
			t.Errorf("%s on %s: %+v, want one enrolment, cancelled", crn, demoFrontTerminal, ens)
		}
		if ens := site.enrolments(crn, demoDeskTerminal); len(ens) != 0 {
			t.Errorf("%s on the offline %s: %+v", crn, demoDeskTerminal, ens)
		}
	}
	for _, want := range []string{
		`msg="demo: enrolment officer skips a terminal: it is not online" terminal=desk-fp`,
		`msg="demo: enrolment officer cancelled an enrolment: the enrolment did not end"`,
		"2 residents consented, 0 declined; 0 fingers enrolled, 0 attempts failed",
	} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log does not say %s\n%s", want, logs.String())
		}
	}
}

// TestDemoOfficerAnswersStaff: an enrolment a member of staff starts at a
// simulated terminal gets the resident's synthetic finger, and is enrolled.
func TestDemoOfficerAnswersStaff(t *testing.T) {
	clk := clocktest.New(time.Date(2031, 3, 4, 10, 0, 0, 0, curfew.London()))
	site := newFakeEnrolmentSite(t, clk, demoFrontTerminal, demoDeskTerminal)
	var logs clitest.LockedBuffer
	o := testOfficer(site, slog.New(slog.NewTextHandler(&logs, nil)))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		o.answerStaff(ctx)
	}()
	defer func() {
		cancel()
		<-done
	}()
	if _, err := site.Consent(ctx, "X100009", true, "kim"); err != nil {
		t.Fatal(err)
	}
	en, err := site.Enrol(ctx, "X100009", "left-thumb", demoDeskTerminal, "kim")
	if err != nil {
		t.Fatal(err)
	}
	wait.For(t, 10*time.Second, "kim's enrolment enrolled", func() (bool, string) {
		got, _, _ := site.Enrolment(ctx, en.ID)
		return got.State == biometric.StateEnrolled, got.State
	})
	if got := site.sim(demoDeskTerminal).Slots(); !maps.Equal(got, map[int]string{en.Slot: "X100009-left-thumb"}) {
		t.Errorf("%s holds %v, want X100009-left-thumb in slot %d", demoDeskTerminal, got, en.Slot)
	}
	wait.For(t, 10*time.Second, "the log of it", func() (bool, string) {
		return strings.Contains(logs.String(), "demo: the resident put their finger to kim's enrolment "+en.ID+" of X100009's left-thumb on desk-fp: enrolled"), logs.String()
	})
}
