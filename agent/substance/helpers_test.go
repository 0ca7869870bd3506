package substance_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/apedge/apedge/agent/substance"
	"github.com/apedge/apedge/formats/sitebus"
)

// t0 is when the tests' first test starts: a fixed time, so that no test depends on
// the day it runs.
var t0 = time.Date(2026, 11, 22, 21, 0, 0, 0, time.UTC)

const (
	meter    = "breath-1"   // a breath meter's device id
	analyser = "oral-1"     // an oral-fluid analyser's
	meter2   = "breath-2"   // another breath meter
	meterSN  = "AL9-004211" // the meter's serial
	ofSN     = "DT5-ARHK-0107"
)

// auth is an authorisation in force for a week either side of t0.
func auth() *substance.Authorisation {
	return &substance.Authorisation{Ref: "AUTH-2026-47", Manager: "Priya Shah", From: t0.AddDate(0, 0, -7), To: t0.AddDate(0, 0, 7)}
}

func newEngine(t testing.TB) *substance.Engine {
	t.Helper()
	e, err := substance.New(substance.Config{
		OralFluidCutoffs: map[string]float64{sitebus.PanelCocaine: 15, sitebus.PanelCannabis: 5},
		UrineCutoffs:     map[string]float64{sitebus.PanelCocaine: 150, sitebus.PanelCannabis: 50, sitebus.PanelOpiates: 2000},
	})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// breathStart is a breath test at device dev for crn at at.
func breathStart(crn, dev string, at time.Time) substance.Start {
	return substance.Start{CRN: crn, Reason: substance.ReasonRandom, SampleType: substance.SampleBreath, Device: dev,
		Staff: "Sam Keyworker", Witness: "Alex Night", At: at}
}

// ofStart is an oral-fluid test at the analyser for crn at at, under auth().
func ofStart(crn string, at time.Time) substance.Start {
	return substance.Start{CRN: crn, Reason: substance.ReasonSuspicion, SampleType: substance.SampleOralFluid, Device: analyser,
		Authorisation: auth(), Staff: "Sam Keyworker", Witness: "Alex Night", At: at}
}

// urineStart is a urine-cup test for crn at at, under auth().
func urineStart(crn string, at time.Time) substance.Start {
	return substance.Start{CRN: crn, Reason: substance.ReasonArrival, SampleType: substance.SampleUrine,
		Authorisation: auth(), Staff: "Sam Keyworker", Witness: "Alex Night", At: at}
}

func ptr(f float64) *float64 { return &f }

// breath is a good breath reading of ug µg/100 ml, test number n, measured at at.
func breath(ug float64, n uint32, at time.Time) sitebus.SubstanceReading {
	return sitebus.SubstanceReading{Kind: sitebus.TesterBreathAlcohol, Serial: meterSN, Firmware: "2.3.1", CalibrationDue: "2027-03-31",
		SelfCheck: "pass", TestNumber: n, MeasuredAt: at, AlcoholUg: ptr(ug), TemperatureC: ptr(19.5)}
}

// oral is a good oral-fluid reading, test number n, measured at at, with the
// panels given as panel, result pairs.
func oral(n uint32, at time.Time, panels ...string) sitebus.SubstanceReading {
	r := sitebus.SubstanceReading{Kind: sitebus.TesterOralFluid, Serial: ofSN, CalibrationDue: "2027-01-15", SelfCheck: "pass",
		TestNumber: n, MeasuredAt: at, CassetteLot: "ARJK-0129", CassetteExpiry: "2027-06-30"}
	for i := 0; i+1 < len(panels); i += 2 {
		r.Panels = append(r.Panels, sitebus.PanelResult{Panel: panels[i], Result: panels[i+1]})
	}
	return r
}

// must returns a checker that fails t on an error: must(t).D(e.Reading(...)).
func must(t testing.TB) checker { return checker{t} }

type checker struct{ t testing.TB }

// D returns d, failing the test on err.
func (c checker) D(d substance.Draft, err error) substance.Draft {
	c.t.Helper()
	if err != nil {
		c.t.Fatal(err)
	}
	return d
}

// E returns e, failing the test on err.
func (c checker) E(e *substance.Engine, err error) *substance.Engine {
	c.t.Helper()
	if err != nil {
		c.t.Fatal(err)
	}
	return e
}

// start starts s, failing the test on error, and returns the test's id.
func start(t testing.TB, e *substance.Engine, s substance.Start) string {
	t.Helper()
	tt, _, err := e.StartTest(s)
	if err != nil {
		t.Fatal(err)
	}
	return tt.ID
}

// get returns test id, failing the test if there is none.
func get(t testing.TB, e *substance.Engine, id string) substance.Test {
	t.Helper()
	tt, ok := e.Get(id)
	if !ok {
		t.Fatalf("no test %s", id)
	}
	return tt
}

// info decodes d's Info as a generic JSON object.
func info(t testing.TB, d substance.Draft) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(d.Info, &m); err != nil {
		t.Fatalf("%s info %s: %v", d.Type, d.Info, err)
	}
	return m
}

// screen decodes a substance.tested draft's Info.
func screen(t testing.TB, d substance.Draft) substance.Screen {
	t.Helper()
	if d.Type != substance.TypeTested {
		t.Fatalf("draft %s, want %s (info %s)", d.Type, substance.TypeTested, d.Info)
	}
	var s substance.Screen
	if err := json.Unmarshal(d.Info, &s); err != nil {
		t.Fatal(err)
	}
	return s
}

// isErr is errors.Is.
func isErr(err, target error) bool { return errors.Is(err, target) }

// wantErr checks err is want (nil: no error).
func wantErr(t testing.TB, err, want error) {
	t.Helper()
	switch {
	case want == nil && err != nil:
		t.Fatalf("error %v, want none", err)
	case want != nil && !errors.Is(err, want):
		t.Fatalf("error %v, want %v", err, want)
	}
}

// replay applies drafts, as the journal would give them back (type and info, the
// info re-encoded), to a new engine of cfg.
func replay(t testing.TB, cfg substance.Config, drafts []substance.Draft) *substance.Engine {
	t.Helper()
	e, err := substance.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for i, d := range drafts {
		if err := e.Apply(journaled(t, d)); err != nil {
			t.Fatalf("replaying draft %d (%s %s): %v", i, d.Type, d.Info, err)
		}
	}
	return e
}

// journaled is d as read back from a journal: its info decoded and encoded again
// (keys sorted, times as stored), and nothing but its type, time and info.
func journaled(t testing.TB, d substance.Draft) substance.Draft {
	t.Helper()
	var v any
	if err := json.Unmarshal(d.Info, &v); err != nil {
		t.Fatal(err)
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return substance.Draft{Type: d.Type, At: d.At.UTC(), Info: b}
}

// sameState fails the test unless a and b answer every query alike.
func sameState(t testing.TB, a, b *substance.Engine) {
	t.Helper()
	if x, y := a.All(), b.All(); !reflect.DeepEqual(x, y) {
		t.Errorf("tests differ:\n%+v\n%+v", x, y)
	}
	if x, y := a.Unbound(), b.Unbound(); !reflect.DeepEqual(x, y) {
		t.Errorf("unbound readings differ:\n%+v\n%+v", x, y)
	}
	if x, y := a.Open(), b.Open(); !reflect.DeepEqual(x, y) {
		t.Errorf("open tests differ:\n%+v\n%+v", x, y)
	}
}
