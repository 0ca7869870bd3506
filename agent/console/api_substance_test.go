package console_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/apedge/apedge/agent/eventindex"
)

// substanceOverview is what the tests read of GET /api/v1/substance.
type substanceOverview struct {
	Testers []struct {
		ID, Kind, Busy string
		Status         *struct{ Online bool }
	}
	Open []substanceTest
}

// substanceTest is what the tests read of a test.
type substanceTest struct {
	ID, CRN, State, Staff, Witness string
	Sampled                        bool
	Valid                          *bool
	InvalidReasons                 []string
	Custody                        []struct{ Stage, Seal, By string }
}

// testResult is what the tests read of GET /api/v1/substance/tests/{id}.
type testResult struct {
	substanceTest
	Outcome string
	Screen  *struct {
		Outcome           string
		BoundBy           string
		Valid             bool
		AlcoholUgPer100ml *float64
		Serial            string
		Panels            []struct{ Panel, Result string }
	}
	Confirmation *struct{ Outcome string }
}

// test waits for test id to be sampled and returns it as the overview shows it.
func (c *client) sampled(id string) substanceTest {
	c.s.t.Helper()
	var got substanceTest
	c.s.waitFor(id+" sampled", func() (bool, string) {
		var v substanceOverview
		c.do("GET", "/api/v1/substance", nil, &v)
		var res testResult
		if code := c.do("GET", "/api/v1/substance/tests/"+id, nil, &res); code == http.StatusOK {
			got = res.substanceTest
		}
		return got.Sampled, fmt.Sprintf("%+v", got)
	})
	return got
}

// TestSubstanceBreathTestThroughAPI: a keyworker starts a breath test; the
// simulated meter's reading comes through the real bridge and is bound to it; the
// keyworker opens the result, and the view is audited; a security user may neither
// start a test nor open a result, and the journal shows them which test, not what
// it found.
func TestSubstanceBreathTestThroughAPI(t *testing.T) {
	t.Parallel()
	s := newConsoleSite(t)
	kw, sec := s.bearer("keyworker-1"), s.bearer("security-1")
	s.waitFor("the testers online", func() (bool, string) {
		var v substanceOverview
		kw.do("GET", "/api/v1/substance", nil, &v)
		on := 0
		for _, tr := range v.Testers {
			if tr.Status != nil && tr.Status.Online {
				on++
			}
		}
		return on == 2, fmt.Sprintf("%+v", v.Testers)
	})
	start := map[string]any{"crn": "X100001", "reason": "random", "sampleType": "breath", "device": "breath-1", "witness": "Sam Staff"}
	if code := sec.do("POST", "/api/v1/substance/tests", start, nil); code != http.StatusForbidden {
		t.Errorf("security starting a test: %d, want 403", code)
	}
	var test substanceTest
	if code := kw.do("POST", "/api/v1/substance/tests", start, &test); code != http.StatusCreated || test.State != "awaiting-sample" || test.Staff != "keyworker-1" {
		t.Fatalf("start: %d %+v", code, test)
	}
	if code := kw.do("POST", "/api/v1/substance/tests", map[string]any{"crn": "X100002", "reason": "random", "sampleType": "breath",
		"device": "breath-1", "witness": "Sam Staff"}, nil); code != http.StatusConflict {
		t.Errorf("a second open test at breath-1: %d, want 409", code)
	}
	if err := s.bridge.Sim().SubstanceTester("breath-1").Breath(31, ""); err != nil {
		t.Fatal(err)
	}
	got := kw.sampled(test.ID)
	if got.State != "closed" || got.Valid == nil || !*got.Valid {
		t.Errorf("after the reading %+v, want closed and valid", got)
	}
	var res testResult
	if code := kw.do("GET", "/api/v1/substance/tests/"+test.ID, nil, &res); code != http.StatusOK || res.Screen == nil {
		t.Fatalf("result: %d %+v", code, res)
	}
	if res.Outcome != "non-negative" || res.Screen.AlcoholUgPer100ml == nil || *res.Screen.AlcoholUgPer100ml != 31 || res.Screen.BoundBy != "window" {
		t.Errorf("result %s %+v, want non-negative at 31 µg/100 ml, bound by window", res.Outcome, res.Screen)
	}
	if code := sec.do("GET", "/api/v1/substance/tests/"+test.ID, nil, nil); code != http.StatusForbidden {
		t.Errorf("security opening the result: %d, want 403", code)
	}
	// Every view of a result is in the audit log: who, which resident, which test.
	viewed := s.waitEvent("staff.substance-result-viewed")
	if !strings.Contains(string(viewed.Data), `"crn":"X100001"`) || !strings.Contains(string(viewed.Data), `"by":"keyworker-1"`) ||
		!strings.Contains(string(viewed.Data), `"testId":"`+test.ID+`"`) {
		t.Errorf("audit of the view: %s", viewed.Data)
	}
	var audit struct{ Events []eventindex.Summary }
	sec.do("GET", "/api/v1/audit?type=staff.substance-result-viewed", nil, &audit)
	n := 0
	for _, e := range audit.Events {
		if e.Type == "staff.substance-result-viewed" {
			n++
		}
	}
	if n < 2 { // sampled() looked too
		t.Errorf("%d views in the audit log, want every one", n)
	}
	// The journal, the alarms and the stream say which test, never what it found.
	tested := s.waitEvent("substance.tested")
	var j struct {
		Events []struct {
			Type, Sentence string
			Data           map[string]any
		}
	}
	for _, c := range []*client{sec, kw} {
		c.do("GET", "/api/v1/journal?type=substance.*", nil, &j)
		for _, e := range j.Events {
			if e.Type == "substance.tested" {
				if _, ok := e.Data["screen"]; ok || e.Data["alcoholUgPer100ml"] != nil || e.Data["outcome"] != nil || e.Data["panels"] != nil {
					t.Errorf("the journal shows a result: %v", e.Data)
				}
				if strings.Contains(e.Sentence, "31") || strings.Contains(e.Sentence, "non-negative") {
					t.Errorf("the journal's sentence shows a result: %q", e.Sentence)
				}
				if want := "Breath test " + test.ID + " of Resident One: screening result recorded at 12:00 on 10 Jun 2026 (details only"; !strings.HasPrefix(e.Sentence, want) {
					t.Errorf("sentence %q, want it to start %q", e.Sentence, want)
				}
			}
		}
	}
	if !strings.Contains(string(tested.Data), `"alcoholUgPer100ml":31`) {
		t.Errorf("the signed event lost its figure: %s", tested.Data)
	}
}

// TestSubstanceDrugTestThroughAPI: an oral-fluid test needs an authorisation in
// force; a reading on an expired cassette is invalid and the overview says so at
// once; a non-negative screen goes through its chain of custody to the laboratory,
// whose result closes it; a reading at a tester with no open test is held unbound
// and raised.
func TestSubstanceDrugTestThroughAPI(t *testing.T) {
	t.Parallel()
	s := newConsoleSite(t)
	kw := s.bearer("keyworker-1")
	now := s.clock.Now()
	auth := map[string]any{"ref": "AUTH-7", "manager": "Mo Manager", "from": now.Add(-24 * time.Hour), "to": now.Add(30 * 24 * time.Hour)}
	lapsed := map[string]any{"ref": "AUTH-6", "manager": "Mo Manager", "from": now.Add(-60 * 24 * time.Hour), "to": now.Add(-30 * 24 * time.Hour)}
	start := func(a map[string]any) (int, substanceTest) {
		var v substanceTest
		body := map[string]any{"crn": "X100002", "reason": "suspicion", "sampleType": "oral-fluid", "device": "oral-1", "witness": "Sam Staff"}
		if a != nil {
			body["authorisation"] = a
		}
		return kw.do("POST", "/api/v1/substance/tests", body, &v), v
	}
	for name, a := range map[string]map[string]any{"none": nil, "lapsed": lapsed} {
		if code, _ := start(a); code != http.StatusUnprocessableEntity {
			t.Errorf("a drug test under %s authorisation: %d, want 422", name, code)
		}
	}
	sim := s.bridge.Sim().SubstanceTester("oral-1")
	// An expired cassette: the reading is invalid, and the overview says why.
	code, first := start(auth)
	if code != http.StatusCreated {
		t.Fatalf("start: %d", code)
	}
	if err := sim.SetCassette("LOT-OLD", now.AddDate(0, 0, -3).Format(time.DateOnly)); err != nil {
		t.Fatal(err)
	}
	if err := sim.OralFluid(map[string]string{"cocaine": "non-negative"}, ""); err != nil {
		t.Fatal(err)
	}
	got := kw.sampled(first.ID)
	if got.Valid == nil || *got.Valid || len(got.InvalidReasons) == 0 || !strings.Contains(strings.Join(got.InvalidReasons, " "), "cassette expired") {
		t.Errorf("a reading on an expired cassette: %+v, want invalid, saying why", got)
	}
	// A good cassette, a non-negative screen, its custody and the laboratory.
	if err := sim.SetCassette("LOT-NEW", now.AddDate(1, 0, 0).Format(time.DateOnly)); err != nil {
		t.Fatal(err)
	}
	code, second := start(auth)
	if code != http.StatusCreated {
		t.Fatalf("start again: %d", code)
	}
	if err := sim.OralFluid(map[string]string{"cocaine": "non-negative"}, second.ID); err != nil {
		t.Fatal(err)
	}
	if got := kw.sampled(second.ID); got.State != "awaiting-confirmation" {
		t.Fatalf("a non-negative screen: %+v, want awaiting-confirmation", got)
	}
	path := "/api/v1/substance/tests/" + second.ID
	if code := kw.do("POST", path+"/custody", map[string]any{"stage": "dispatched"}, nil); code != http.StatusConflict {
		t.Errorf("dispatched before collected: %d, want 409", code)
	}
	for _, step := range []struct {
		what string
		body map[string]any
	}{{"custody", map[string]any{"stage": "collected"}}, {"seal", map[string]any{"seal": "SEAL-0042"}},
		{"custody", map[string]any{"stage": "dispatched"}}, {"custody", map[string]any{"stage": "received"}}} {
		if code := kw.do("POST", path+"/"+step.what, step.body, nil); code != http.StatusOK {
			t.Fatalf("%s %v: %d", step.what, step.body, code)
		}
	}
	var after substanceTest
	if code := kw.do("POST", path+"/lab", map[string]any{"results": map[string]any{"cocaine": map[string]any{"confirmed": true, "method": "LC-MS/MS"}}}, &after); code != http.StatusOK || after.State != "closed" {
		t.Fatalf("the laboratory's result: %d %+v", code, after)
	}
	var res testResult
	kw.do("GET", path, nil, &res)
	if res.Outcome != "confirmed" || len(res.Custody) != 4 || res.Custody[1].Seal != "SEAL-0042" {
		t.Errorf("after the laboratory: %s, custody %+v", res.Outcome, res.Custody)
	}
	s.waitEvent("substance.confirmed")
	s.waitEvent("substance.sample-dispatched")
	// A reading no test awaits: held unbound, raised as an alarm.
	if err := sim.OralFluid(nil, ""); err != nil {
		t.Fatal(err)
	}
	alarm := s.waitEvent("substance.reading-unbound")
	var alarms []struct{ Type, Sentence string }
	kw.do("GET", "/api/v1/alarms", nil, &alarms)
	found := false
	for _, a := range alarms {
		found = found || a.Type == "substance.reading-unbound" && strings.Contains(a.Sentence, "matched no test")
	}
	if !found || alarm.CRN != "" {
		t.Errorf("unbound reading: alarms %+v, crn %q", alarms, alarm.CRN)
	}
}
