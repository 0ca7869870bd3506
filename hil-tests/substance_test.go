package hiltests

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apedge/apedge/agent/substance"
	"github.com/apedge/apedge/formats/event"
	"github.com/apedge/apedge/formats/sitebus"
)

// substanceResident is the CRN of the site's default resident (newSite's roster).
const substanceResident = "X100001"

// substanceBreathStart is a random breath test of the resident at breath-1, started
// at at.
func substanceBreathStart(at time.Time) substance.Start {
	return substance.Start{CRN: substanceResident, Reason: substance.ReasonRandom, SampleType: substance.SampleBreath, Device: "breath-1",
		Staff: "Kim Keyworker", Witness: "Sam Staff", At: at}
}

// TestSubstanceTestsReachCentral runs substance testing through the real bridge, with
// its simulated breath-alcohol meter and oral-fluid analyser on pseudo-terminals, the
// agent and a real Mosquitto (TLS, client certificates) to central: a breath test
// started for a resident and read at 31 µg/100 ml (no test id keyed in: bound by the
// window); an oral-fluid test under an authorisation in force with its test id keyed
// into the analyser (bound by test-id); garbage on the meter's line, counted by the
// bridge in the tester's status and no event; and a reading no test awaits (held
// unbound, attached to no one). Central stores the five substance events exactly
// once, in order, signed: the two results with the resident's CRN, the breath result
// with its figure and limit, the unbound reading with no CRN; and central holds
// exactly the agent's journal, which verifies offline (apedge verify).
func TestSubstanceTestsReachCentral(t *testing.T) {
	t.Parallel()
	s := newSubstanceSite(t, "SUB1")
	ctx := t.Context()
	subs := s.agent.Substances()
	meter, analyser := s.bridge.Sim().SubstanceTester("breath-1"), s.bridge.Sim().SubstanceTester("oral-1")

	breath, err := subs.Start(ctx, substanceBreathStart(s.clock.Now()))
	if err != nil {
		t.Fatalf("start the breath test: %v", err)
	}
	if err := meter.Breath(31, ""); err != nil {
		t.Fatal(err)
	}
	s.waitJournaled(substance.TypeTested, 1)

	auth := &substance.Authorisation{Ref: "AUTH-2026-06", Manager: "Mo Manager", From: substanceNoon.Add(-time.Hour), To: substanceNoon.Add(24 * time.Hour)}
	oral, err := subs.Start(ctx, substance.Start{CRN: substanceResident, Reason: substance.ReasonSuspicion, SampleType: substance.SampleOralFluid,
		Device: "oral-1", Authorisation: auth, Staff: "Kim Keyworker", Witness: "Sam Staff", At: s.clock.Now()})
	if err != nil {
		t.Fatalf("start the oral-fluid test: %v", err)
	}
	if err := analyser.OralFluid(map[string]string{"cocaine": "non-negative"}, oral.ID); err != nil {
		t.Fatal(err)
	}
	s.waitJournaled(substance.TypeTested, 2)

	// Four bad lines on the meter's line: the bridge counts each in the tester's
	// status, and none is a reading.
	if err := meter.Garbage(4); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "breath-1's status on the bus counting 4 bad records", func() (bool, string) {
		st, _ := s.testerStatus("breath-1")
		return st.BadRecords >= 4, fmt.Sprintf("%+v", st)
	})
	if st, _ := s.testerStatus("breath-1"); st.BadRecords != 4 || !st.Online || st.LastError == "" {
		t.Errorf("breath-1's status after 4 bad lines: %+v; want online, 4 bad records and the last error said", st)
	}
	waitFor(t, 30*time.Second, "the agent holding breath-1's 4 bad records", func() (bool, string) {
		for _, v := range s.agent.Devices().SubstanceTesters {
			if v.ID == "breath-1" {
				return v.BadRecords == 4, fmt.Sprintf("%+v", v)
			}
		}
		return false, "no breath-1"
	})

	// A reading with no test open at the meter.
	if err := meter.Breath(5, ""); err != nil {
		t.Fatal(err)
	}
	s.waitJournaled(substance.TypeUnbound, 1)

	got := s.waitStored(substance.TypeStarted, substance.TypeTested, substance.TypeStarted, substance.TypeTested, substance.TypeUnbound)
	for i, e := range got {
		if !e.Signed {
			t.Errorf("seq %d %s: its signature does not verify with the site's key", e.Seq, e.Type)
		}
		if i > 0 && e.Seq <= got[i-1].Seq {
			t.Errorf("seq %d %s stored after seq %d", e.Seq, e.Type, got[i-1].Seq)
		}
	}
	for i, want := range []struct {
		crn    string
		testID any // nil: none
	}{{substanceResident, breath.ID}, {substanceResident, breath.ID}, {substanceResident, oral.ID}, {substanceResident, oral.ID}, {"", nil}} {
		e := got[i]
		if e.crn() != want.crn || e.Info["testId"] != want.testID {
			t.Errorf("seq %d %s: CRN %q, test %v; want CRN %q, test %v", e.Seq, e.Type, e.crn(), e.Info["testId"], want.crn, want.testID)
		}
	}

	// The breath result, as signed: 31 µg/100 ml against the limit of 9, bound by the
	// window (no test id keyed in), non-negative.
	br := got[1].Info
	if br["alcoholUgPer100ml"] != 31.0 || br["limitUgPer100ml"] != 9.0 || br["outcome"] != substance.OutcomeNonNegative ||
		br["boundBy"] != substance.BoundByWindow || br["valid"] != true || br["serial"] != meter.Serial() {
		t.Errorf("the breath result: %v; want 31 µg/100 ml against 9, non-negative, bound by the window, valid, from %s", br, meter.Serial())
	}
	// The oral-fluid result: bound by the test id keyed in, under the authorisation,
	// cocaine non-negative and every other panel negative.
	of := got[3].Info
	if of["boundBy"] != substance.BoundByTestID || of["outcome"] != substance.OutcomeNonNegative || of["valid"] != true || of["serial"] != analyser.Serial() {
		t.Errorf("the oral-fluid result: %v; want non-negative, bound by test-id, valid, from %s", of, analyser.Serial())
	}
	if a, _ := of["authorisation"].(map[string]any); a["ref"] != auth.Ref {
		t.Errorf("the oral-fluid result rests on %v, want authorisation %s", of["authorisation"], auth.Ref)
	}
	panels, _ := of["panels"].([]any)
	nonNegative := 0
	for _, p := range panels {
		p, _ := p.(map[string]any)
		switch {
		case p["panel"] == "cocaine" && p["result"] == sitebus.ResultNonNegative:
			nonNegative++
		case p["result"] != sitebus.ResultNegative:
			t.Errorf("oral-fluid panel %v, want negative", p)
		}
	}
	if nonNegative != 1 || len(panels) < 2 {
		t.Errorf("oral-fluid panels %v: want cocaine non-negative and the rest negative", panels)
	}
	// The unbound reading: the meter's figure and why, attached to no one.
	un := got[4]
	raw, _ := json.Marshal(un.Info)
	reading, _ := un.Info["reading"].(map[string]any)
	if un.Person != nil || strings.Contains(string(raw), substanceResident) || un.Info["device"] != "breath-1" || reading["alcoholUgPer100ml"] != 5.0 ||
		!strings.Contains(fmt.Sprint(un.Info["why"]), "no test is awaiting a sample at breath-1") {
		t.Errorf("the unbound reading: person %+v, info %s; want breath-1's 5 µg/100 ml with no test awaiting it, about no one", un.Person, raw)
	}

	// Each reading the testers sent is one event, and the garbage none: the bus
	// carried the meter's two readings and the analyser's one, and the agent refused
	// no message as malformed.
	var figures []float64
	for _, r := range s.busReadings("breath-1") {
		figures = append(figures, *r.AlcoholUg)
	}
	if !slices.Equal(figures, []float64{31, 5}) || len(s.busReadings("oral-1")) != 1 {
		t.Errorf("readings on the bus: breath-1 %v, oral-1 %d; want [31 5] and 1", figures, len(s.busReadings("oral-1")))
	}
	if st := s.agent.Stats(); st.BadMessages != 0 {
		t.Errorf("the agent refused %d messages as malformed, want none: %+v", st.BadMessages, st)
	}

	// Central holds exactly the journal, every signature and link checked, and its
	// export verifies offline with nothing but the site's public key.
	entries := s.checkDelivered(t)
	types := map[string]int{}
	for _, e := range entries {
		types[strings.TrimPrefix(parseEntry(t, e).Type, event.TypePrefix)]++
	}
	if types[substance.TypeStarted] != 2 || types[substance.TypeTested] != 2 || types[substance.TypeUnbound] != 1 {
		t.Errorf("journal types %v: want 2 test-started, 2 tested, 1 reading-unbound", types)
	}
	export := filepath.Join(s.Dir, "export.jsonl")
	if code, _, stderr := apedgeRun(t, s.Dir, "central", "export", "-config", s.CentralYAM, "-site", s.Code, "-o", export); code != 0 {
		t.Fatalf("central export: exit %d: %s", code, stderr)
	}
	if code, stdout, stderr := apedgeRun(t, s.Dir, "verify", "-pubkey", s.PubPath, export); code != 0 {
		t.Fatalf("apedge verify of central's export: exit %d\n%s%s", code, stdout, stderr)
	} else {
		t.Logf("apedge verify: %s", strings.TrimSpace(stdout))
	}
}

// TestSubstanceReadingAcrossAgentRestart: a breath test is started, the agent is
// stopped, and the meter reads while it is down: the bridge keeps the reading in its
// outbox, unacknowledged. Once the agent is started again (its engine rebuilt from
// the journal), the reading comes to it and is bound to the test, by the window,
// exactly once however many times it was delivered; the bridge has the agent's
// acknowledgement and keeps nothing; and central holds exactly the journal.
func TestSubstanceReadingAcrossAgentRestart(t *testing.T) {
	t.Parallel()
	s := newSubstanceSite(t, "SUB2")
	ctx := t.Context()
	meter := s.bridge.Sim().SubstanceTester("breath-1")
	test, err := s.agent.Substances().Start(ctx, substanceBreathStart(s.clock.Now()))
	if err != nil {
		t.Fatalf("start the breath test: %v", err)
	}
	s.waitJournaled(substance.TypeStarted, 1)
	unacknowledged := func() int {
		n, err := s.bridge.Unacknowledged(ctx)
		if err != nil {
			t.Fatalf("the bridge's outbox: %v", err)
		}
		return n
	}
	waitFor(t, 30*time.Second, "the bridge's outbox acknowledged to the agent", func() (bool, string) {
		n := unacknowledged()
		return n == 0, fmt.Sprint(n)
	})

	s.stopAgent()
	if err := meter.Breath(4, ""); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "the reading on the bus and kept by the bridge with the agent down", func() (bool, string) {
		n := unacknowledged()
		return len(s.busReadings("breath-1")) == 1 && n >= 1, fmt.Sprintf("%d readings on the bus, %d messages kept", len(s.busReadings("breath-1")), n)
	})
	if n := s.journaledSubstance(substance.TypeTested); n != 0 {
		t.Fatalf("%d results journaled with the agent down", n)
	}

	s.startAgent()
	s.waitJournaled(substance.TypeTested, 1)
	got := s.waitStored(substance.TypeStarted, substance.TypeTested)
	tested := got[1]
	if !tested.Signed || tested.crn() != substanceResident || tested.Info["testId"] != test.ID || tested.Info["boundBy"] != substance.BoundByWindow ||
		tested.Info["alcoholUgPer100ml"] != 4.0 || tested.Info["outcome"] != substance.OutcomeNegative {
		t.Errorf("the result after the restart: signed %v, CRN %q, info %v; want %s's 4 µg/100 ml bound by the window, negative, signed",
			tested.Signed, tested.crn(), tested.Info, test.ID)
	}
	again, ok, err := s.agent.Substances().Test(ctx, test.ID)
	if err != nil || !ok || again.State != substance.StateClosed || again.Outcome != substance.OutcomeNegative {
		t.Errorf("%s after the restart: %+v (%v); want closed, negative", test.ID, again, err)
	}
	if u, err := s.agent.Substances().Unbound(ctx); err != nil || len(u) != 0 || s.agent.Substances().ReplayRefused() != 0 {
		t.Errorf("after the restart: %d unbound readings (%v), %d journaled events refused at replay; want none", len(u), err, s.agent.Substances().ReplayRefused())
	}
	waitFor(t, 30*time.Second, "the bridge's outbox empty: the agent acknowledged the reading", func() (bool, string) {
		n := unacknowledged()
		return n == 0, fmt.Sprint(n)
	})
	entries := s.checkDelivered(t)
	types := map[string]int{}
	for _, e := range entries {
		types[strings.TrimPrefix(parseEntry(t, e).Type, event.TypePrefix)]++
	}
	if types[substance.TypeTested] != 1 || types[substance.TypeUnbound] != 0 || types["agent.started"] != 2 {
		t.Errorf("journal types %v: want 1 tested, no reading-unbound, 2 agent.started", types)
	}
	rs := s.busReadings("breath-1")
	t.Logf("the reading was published %d time(s) by the bridge; the restarted agent dropped %d duplicate message(s)", rs[0].Copies, s.agent.Stats().Duplicates)
}
