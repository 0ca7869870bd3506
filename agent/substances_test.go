package agent_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/apedge/apedge/agent"
	"github.com/apedge/apedge/agent/substance"
	"github.com/apedge/apedge/formats/event"
	"github.com/apedge/apedge/formats/sitebus"
	"github.com/apedge/apedge/internal/clock/clocktest"
)

// TestSubstanceTesterStatus: a configured substance tester's status is kept as the
// bridge reported it; one under another class, or an unconfigured one, is refused.
func TestSubstanceTesterStatus(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	a, _, _ := s.startAgent()
	subscribed(t, a)
	pub := sitebus.NewPublisher(s.bus, site, "boot-a", s.clock)
	st := sitebus.SubstanceTesterStatus{Online: true, Kind: sitebus.TesterBreathAlcohol, Serial: "BA-1001", Firmware: "2.1",
		CalibrationDue: "2027-03-01", SelfCheck: "pass"}
	if _, err := pub.Publish(t.Context(), sitebus.ClassSubstanceTester, "breath-1", sitebus.KindState, sitebus.SubstanceStatusKind, st); err != nil {
		t.Fatal(err)
	}
	var got []agent.SubstanceTesterView
	s.waitFor("breath-1's status", func() (bool, string) {
		got = a.Devices().SubstanceTesters
		return len(got) == 1, fmt.Sprintf("%+v", got)
	})
	if v := got[0]; v.ID != "breath-1" || v.SubstanceTesterStatus != st {
		t.Errorf("tester %+v, want the status as sent", v)
	}
	refused := a.Stats().Refused
	for _, tp := range []struct{ class, id string }{{sitebus.ClassCamera, "breath-1"}, {sitebus.ClassSubstanceTester, "breath-9"}} {
		if _, err := pub.Publish(t.Context(), tp.class, tp.id, sitebus.KindState, sitebus.SubstanceStatusKind, st); err != nil {
			t.Fatal(err)
		}
	}
	s.waitFor("two refusals", func() (bool, string) { return a.Stats().Refused == refused+2, fmt.Sprintf("%+v", a.Stats()) })
	if n := len(a.Devices().SubstanceTesters); n != 1 {
		t.Errorf("%d testers, want the configured one only", n)
	}
}

// reading is a breath meter's reading at the site's noon.
func breathReading(n uint32, ug float64, testID string) sitebus.SubstanceReading {
	return sitebus.SubstanceReading{Kind: sitebus.TesterBreathAlcohol, Serial: "BA-1001", Firmware: "2.1", CalibrationDue: "2027-03-01",
		SelfCheck: "pass", TestNumber: n, TestID: testID, MeasuredAt: noon.Add(time.Duration(n) * time.Second), AlcoholUg: &ug}
}

// substanceEvents returns the substance.* events of a's journal, by type.
func (s *apSite) substanceEvents(a *agent.Agent) map[string][]*event.Event {
	out := map[string][]*event.Event{}
	for _, ev := range s.events(a) {
		if typ := strings.TrimPrefix(ev.Type, event.TypePrefix); strings.HasPrefix(typ, "substance.") {
			out[typ] = append(out[typ], ev)
		}
	}
	return out
}

// TestSubstanceBreathTestOverTheBus: a breath test started for a resident is bound
// to the meter's next reading, judged against the limit and journaled, signed, with
// the resident's identifiers; a reading no test awaits is held unbound and raised;
// the bridge's redelivery of a reading is not recorded twice; and a new agent on
// the same journal has the same tests.
func TestSubstanceBreathTestOverTheBus(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	a, stop, _ := s.startAgent()
	subscribed(t, a)
	ctx := t.Context()
	st := substance.Start{CRN: "X100001", Reason: substance.ReasonRandom, SampleType: substance.SampleBreath, Device: "breath-1",
		Staff: "Kim Keyworker", Witness: "Sam Staff", At: s.clock.Now()}
	test, err := a.Substances().Start(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	if test.ID != "T-1" || test.State != substance.StateAwaitingSample {
		t.Fatalf("started %+v", test)
	}
	if _, err := a.Substances().Start(ctx, st); !errors.Is(err, substance.ErrDeviceBusy) {
		t.Errorf("a second test at breath-1: %v, want ErrDeviceBusy", err)
	}
	pub := sitebus.NewPublisher(s.bus, site, "boot-a", s.clock)
	s.clock.Add(30 * time.Second)
	r := breathReading(7, 12.5, "")
	if _, err := pub.Publish(ctx, sitebus.ClassSubstanceTester, "breath-1", sitebus.KindEvent, sitebus.SubstanceReadingKind, r); err != nil {
		t.Fatal(err)
	}
	s.waitFor("T-1 tested", func() (bool, string) {
		got, _, _ := a.Substances().Test(ctx, "T-1")
		return got.State == substance.StateClosed, fmt.Sprintf("%+v", got)
	})
	got, _, _ := a.Substances().Test(ctx, "T-1")
	if got.Outcome != substance.OutcomeNonNegative || got.Screen.BoundBy != substance.BoundByWindow || !got.Screen.Valid {
		t.Errorf("T-1 %s bound by %s valid %v, want non-negative (12.5 ≥ 9 µg/100 ml) by window, valid", got.Outcome, got.Screen.BoundBy, got.Screen.Valid)
	}
	// The same reading again (the bridge redelivers it after a restart, as a new
	// message), then one no test awaits.
	if _, err := pub.Publish(ctx, sitebus.ClassSubstanceTester, "breath-1", sitebus.KindEvent, sitebus.SubstanceReadingKind, r); err != nil {
		t.Fatal(err)
	}
	if _, err := pub.Publish(ctx, sitebus.ClassSubstanceTester, "breath-1", sitebus.KindEvent, sitebus.SubstanceReadingKind, breathReading(8, 0, "")); err != nil {
		t.Fatal(err)
	}
	s.waitFor("one unbound reading", func() (bool, string) {
		u, _ := a.Substances().Unbound(ctx)
		return len(u) == 1, fmt.Sprintf("%+v", u)
	})
	evs := s.substanceEvents(a)
	for typ, n := range map[string]int{substance.TypeStarted: 1, substance.TypeTested: 1, substance.TypeUnbound: 1} {
		if len(evs[typ]) != n {
			t.Errorf("%d %s events, want %d", len(evs[typ]), typ, n)
		}
	}
	if tested := evs[substance.TypeTested]; len(tested) == 1 {
		ids := tested[0].Data.PersonReference.Identifiers
		if len(ids) != 2 || ids[0].Value != "X100001" || ids[1].Value != "A1001AA" {
			t.Errorf("substance.tested is about %+v, want CRN X100001 and NOMS A1001AA", ids)
		}
		if d := tested[0].Data.Description; strings.Contains(d, "non-negative") || strings.Contains(d, "12.5") {
			t.Errorf("the description %q gives the result away", d)
		}
	}
	if u := evs[substance.TypeUnbound]; len(u) == 1 && u[0].Data.PersonReference != nil {
		t.Errorf("an unbound reading is attached to %+v", u[0].Data.PersonReference)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	a.Close()
	b, _, _ := s.startAgent()
	if again, ok, err := b.Substances().Test(ctx, "T-1"); err != nil || !ok || again.Outcome != got.Outcome || again.Screen.TestNumber != 7 {
		t.Errorf("after a restart T-1 is %+v, want as before", again)
	}
	if u, _ := b.Substances().Unbound(ctx); len(u) != 1 || b.Substances().ReplayRefused() != 0 {
		t.Errorf("after a restart %d unbound, %d refused at replay; want 1 and 0", len(u), b.Substances().ReplayRefused())
	}
	next, err := b.Substances().Start(ctx, st)
	if err != nil || next.ID != "T-2" {
		t.Errorf("the next test after a restart: %+v, %v; want T-2", next.ID, err)
	}
}

// TestSubstanceStartRefusals: the agent refuses a test for someone not resident,
// or on a device that is not a configured tester of the sample's kind.
func TestSubstanceStartRefusals(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	a, _, _ := s.startAgent()
	subscribed(t, a)
	auth := &substance.Authorisation{Ref: "AUTH-1", Manager: "Mo Manager", From: noon.Add(-time.Hour), To: noon.Add(24 * time.Hour)}
	for _, tc := range []struct {
		name             string
		crn, sample, dev string
	}{
		{"not on the roster", "X999999", substance.SampleBreath, "breath-1"},
		{"departed", "X100003", substance.SampleBreath, "breath-1"},
		{"oral fluid on the breath meter", "X100001", substance.SampleOralFluid, "breath-1"},
		{"breath on the analyser", "X100001", substance.SampleBreath, "oral-1"},
		{"an unconfigured device", "X100001", substance.SampleBreath, "breath-9"},
	} {
		_, err := a.Substances().Start(t.Context(), substance.Start{CRN: tc.crn, Reason: substance.ReasonRandom, SampleType: tc.sample,
			Device: tc.dev, Authorisation: auth, Staff: "Kim", Witness: "Sam", At: s.clock.Now()})
		if !errors.Is(err, agent.ErrSubstance) {
			t.Errorf("%s: %v, want ErrSubstance", tc.name, err)
		}
	}
	if ts, err := a.Substances().Tests(t.Context(), true); err != nil || len(ts) != 0 {
		t.Errorf("%d tests after refusals (%v)", len(ts), err)
	}
}

// TestSubstanceUrineCutoffs: a urine cup's result records each panel's cut-off from
// the defaults the agent was given, except where the configuration sets its own.
func TestSubstanceUrineCutoffs(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	s.clock = clocktest.New(noon)
	s.cfg.Substance.UrineCutoffs = map[string]float64{"cocaine": 300}
	a, err := agent.New(t.Context(), s.cfg, s.log, agent.WithClock(s.clock),
		agent.WithCutoffDefaults(nil, map[string]float64{"cocaine": 150, "thc": 50}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	start(t, "agent", a.Run)
	subscribed(t, a)
	ctx := t.Context()
	auth := &substance.Authorisation{Ref: "AUTH-1", Manager: "Mo Manager", From: noon.Add(-time.Hour), To: noon.Add(24 * time.Hour)}
	test, err := a.Substances().Start(ctx, substance.Start{CRN: "X100002", Reason: substance.ReasonArrival, SampleType: substance.SampleUrine,
		Authorisation: auth, Staff: "Kim", Witness: "Sam", At: s.clock.Now()})
	if err != nil {
		t.Fatal(err)
	}
	got, err := a.Substances().Urine(ctx, test.ID, "CUP-9", "2027-01-31", map[string]string{"cocaine": "negative", "thc": "non-negative"}, "Kim")
	if err != nil {
		t.Fatal(err)
	}
	cut := map[string]float64{}
	for _, p := range got.Screen.Panels {
		cut[p.Panel] = p.CutoffNgMl
	}
	if cut["cocaine"] != 300 || cut["thc"] != 50 || got.State != substance.StateAwaitingConfirmation {
		t.Errorf("cut-offs %v, state %s; want cocaine 300 (configured), thc 50 (default), awaiting confirmation", cut, got.State)
	}
}
