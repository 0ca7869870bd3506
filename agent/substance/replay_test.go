package substance_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apedge/apedge/agent/substance"
	"github.com/apedge/apedge/formats/sitebus"
)

// scenario runs a site's tests through every kind of event on e and returns the
// drafts, in order. It leaves T-4 dispatched, AP-2026-1 awaiting its sample at the
// analyser, and the others closed.
func scenario(t testing.TB, e *substance.Engine) []substance.Draft {
	t.Helper()
	var drafts []substance.Draft
	add := func(d substance.Draft, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		drafts = append(drafts, d)
	}
	startD := func(s substance.Start) {
		t.Helper()
		_, d, err := e.StartTest(s)
		add(d, err)
	}
	bst := time.FixedZone("BST", 3600) // times in any location come out the same
	at := func(min int) time.Time { return t0.Add(time.Duration(min) * time.Minute).In(bst) }
	lab := map[string]substance.LabFinding{"benzoylecgonine": {Confirmed: true, Method: "LC-MS/MS"}}

	startD(breathStart("X123456", meter, at(0)))      // T-1
	add(e.Reading(meter, breath(3, 1, at(1)), at(1))) // negative, by window
	startD(breathStart("Y654321", meter, at(2)))      // T-2
	r := breath(48.5, 2, at(20))
	r.TestID = "T-2"
	add(e.Reading(meter, r, at(20)))                      // over the limit, by id
	add(e.Reading(meter2, breath(0, 77, at(21)), at(21))) // unbound
	startD(ofStart("Z111111", at(22)))                    // T-3
	add(e.Reading(analyser, oral(10, at(25), sitebus.PanelCocaine, "non-negative", sitebus.PanelCannabis, "negative"), at(25)))
	add(e.Handover("T-3", substance.StageCollected, "Sam Keyworker", at(30)))
	add(e.Seal("T-3", "SEAL-1", "Sam Keyworker", at(31)))
	add(e.Handover("T-3", substance.StageDispatched, "Sam Keyworker", at(60)))
	add(e.Handover("T-3", substance.StageReceived, "Lab reception", at(60*24)))
	add(e.LabResult("T-3", lab, "Priya Shah", at(60*72))) // confirmed
	startD(urineStart("X123456", at(61)))                 // T-4
	add(e.UrineResult("T-4", "CUP-9", "2027-08-31", map[string]string{"opiates": "non-negative"}, "Jo Day", at(66)))
	add(e.Seal("T-4", "SEAL-2", "Jo Day", at(67)))
	add(e.Handover("T-4", substance.StageDispatched, "Jo Day", at(68))) // awaiting the laboratory
	startD(urineStart("Y654321", at(70)))                               // T-5
	add(e.Refused("T-5", substance.RefusalUnable, "Alex Night", "Jo Day", at(90)))
	startD(breathStart("Z111111", meter2, at(91))) // T-6
	add(e.Close("T-6", "started for the wrong resident", "Jo Day", at(92)))
	startD(ofStart("X123456", at(93))) // T-7
	ex := oral(11, at(95), sitebus.PanelCocaine, "negative")
	ex.CassetteExpiry = "2026-01-31"
	add(e.Reading(analyser, ex, at(95))) // invalid: expired cassette
	s := ofStart("Y654321", at(100))
	s.TestID = "AP-2026-1"
	startD(s) // awaiting its sample
	return drafts
}

// TestReplayRebuildsState: the drafts of a scenario, journaled and replayed into a
// new engine, rebuild exactly its state; the two then go on alike.
func TestReplayRebuildsState(t *testing.T) {
	e := newEngine(t)
	drafts := scenario(t, e)
	types := map[string]bool{}
	for _, d := range drafts {
		types[d.Type] = true
	}
	for _, typ := range substance.Types() {
		if !types[typ] {
			t.Errorf("the scenario has no %s", typ)
		}
	}
	if open := e.Open(); len(open) != 2 || open[0].ID != "T-4" || open[1].ID != "AP-2026-1" {
		t.Fatalf("open after the scenario: %+v", open)
	}

	r := replay(t, e.Config(), drafts)
	sameState(t, e, r)
	if !substance.SameState(e, r) {
		t.Fatal("the replayed engine's state differs")
	}
	if !substance.SameState(e, e.Clone()) {
		t.Fatal("a clone's state differs")
	}

	// Both go on alike: the next test id, the duplicate reading, the binding.
	for _, x := range []*substance.Engine{e, r} {
		tt, _, err := x.StartTest(breathStart("Z111111", meter, t0.Add(200*time.Minute)))
		if err != nil || tt.ID != "T-8" {
			t.Errorf("next test: %s, %v; want T-8", tt.ID, err)
		}
		_, err = x.Reading(meter, breath(0, 77, t0.Add(21*time.Minute)), t0.Add(201*time.Minute))
		wantErr(t, err, substance.ErrDuplicate)
		_, _, err = x.StartTest(ofStart("Z111111", t0.Add(200*time.Minute)))
		wantErr(t, err, substance.ErrDeviceBusy) // AP-2026-1 holds the analyser
		_, err = x.Seal("T-1", "SEAL-2", "Jo Day", t0.Add(300*time.Minute))
		wantErr(t, err, substance.ErrDuplicate)
		d, err := x.Reading(analyser, oral(12, t0.Add(102*time.Minute), sitebus.PanelCannabis, "negative"), t0.Add(102*time.Minute))
		if err != nil || d.TestID != "AP-2026-1" {
			t.Errorf("reading bound to %q, %v", d.TestID, err)
		}
	}
	sameState(t, e, r)
	if !substance.SameState(e, r) {
		t.Fatal("the engines went on differently")
	}
}

// TestReplayIgnoresPolicy: a journal is history. Replayed by an engine whose
// configuration has changed (a shorter window, a lower limit) and long after its
// authorisations lapsed, it rebuilds the same state.
func TestReplayIgnoresPolicy(t *testing.T) {
	e := newEngine(t)
	drafts := scenario(t, e)
	r := replay(t, substance.Config{BindWindow: time.Second, BreathLimitUg: 1, LabOverdue: time.Hour}, drafts)
	if !substance.SameState(e, r) {
		t.Fatal("the replayed engine's state differs")
	}
	if got := r.AwaitingLab(t0.Add(3 * time.Hour)); len(got) != 1 || got[0].ID != "T-4" {
		t.Errorf("AwaitingLab under the new configuration: %+v", got)
	}
}

// edit returns d with its info changed by f.
func edit(t testing.TB, d substance.Draft, f func(m map[string]any)) substance.Draft {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(d.Info, &m); err != nil {
		t.Fatal(err)
	}
	f(m)
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	d.Info = b
	return d
}

// TestApplyRefuses: events that do not fit the state, or cannot be read, are
// refused and change nothing.
func TestApplyRefuses(t *testing.T) {
	e := newEngine(t)
	drafts := scenario(t, e)
	find := func(typ, testID string) substance.Draft {
		for _, d := range drafts {
			if d.Type == typ && (testID == "" || d.TestID == testID) {
				return d
			}
		}
		t.Fatalf("no %s of %s in the scenario", typ, testID)
		return substance.Draft{}
	}
	started := find(substance.TypeStarted, "T-1")
	tested := find(substance.TypeTested, "T-1")
	sealed := find(substance.TypeCustody, "T-4")
	dispatched := find(substance.TypeDispatched, "T-4")
	confirmed := find(substance.TypeConfirmed, "T-3")
	unbound := find(substance.TypeUnbound, "")
	retarget := func(d substance.Draft, id string) substance.Draft {
		return edit(t, d, func(m map[string]any) { m["testId"] = id })
	}
	later := t0.Add(200 * time.Minute).Format(time.RFC3339)
	// apResult is a good result for AP-2026-1, the oral-fluid test awaiting its
	// sample; apSealed a custody record of T-4 fit to apply; each case below spoils
	// one thing of them.
	apResult := func(f func(m map[string]any)) substance.Draft {
		return edit(t, tested, func(m map[string]any) {
			m["testId"], m["crn"], m["at"], m["sampleType"], m["device"] = "AP-2026-1", "Y654321", later, substance.SampleOralFluid, analyser
			m["serial"], m["testNumber"], m["measuredAt"] = ofSN, 99, later
			m["panels"] = []any{map[string]any{"panel": "cocaine", "result": "negative"}}
			delete(m, "alcoholUgPer100ml")
			delete(m, "limitUgPer100ml")
			f(m)
		})
	}
	apConfirmed := func(f func(m map[string]any)) substance.Draft {
		return edit(t, confirmed, func(m map[string]any) {
			m["testId"], m["crn"], m["seal"] = "T-4", "X123456", "SEAL-2"
			f(m)
		})
	}
	for _, good := range []substance.Draft{apResult(func(map[string]any) {}), apConfirmed(func(map[string]any) {})} {
		if err := e.Clone().Apply(good); err != nil {
			t.Fatalf("the good version of the edits is refused: %v (%s)", err, good.Info)
		}
	}
	tests := []struct {
		name  string
		draft substance.Draft
		want  error
	}{
		{"unknown type", substance.Draft{Type: "substance.weighed", Info: started.Info}, substance.ErrEvent},
		{"not JSON", substance.Draft{Type: substance.TypeStarted, Info: []byte("{")}, substance.ErrEvent},
		{"an array", substance.Draft{Type: substance.TypeStarted, Info: []byte("[]")}, substance.ErrEvent},
		{"null", substance.Draft{Type: substance.TypeTested, Info: []byte("null")}, substance.ErrEvent},
		{"no info", substance.Draft{Type: substance.TypeRefused}, substance.ErrEvent},
		{"too big", substance.Draft{Type: substance.TypeStarted, Info: []byte(`{"x":"` + strings.Repeat("a", 1<<20) + `"}`)}, substance.ErrEvent},
		{"a number where a string goes", edit(t, started, func(m map[string]any) { m["crn"] = 7 }), substance.ErrEvent},
		{"a test started twice", started, substance.ErrDuplicate},
		{"a start with a bad CRN", edit(t, started, func(m map[string]any) { m["testId"], m["crn"] = "T-50", "nobody" }), substance.ErrInvalid},
		{"a start with a bad sample type", edit(t, started, func(m map[string]any) { m["testId"], m["sampleType"] = "T-50", "hair" }), substance.ErrSampleType},
		{"a result for no test", retarget(tested, "T-99"), substance.ErrNoTest},
		{"a result twice", tested, substance.ErrState},
		{"a result for another resident", apResult(func(m map[string]any) { m["crn"] = "X123456" }), substance.ErrEvent},
		{"a result before the test's start", apResult(func(m map[string]any) { m["at"] = t0.Format(time.RFC3339) }), substance.ErrInvalid},
		{"a breath result for an oral-fluid test", apResult(func(m map[string]any) { m["sampleType"] = substance.SampleBreath }), substance.ErrEvent},
		{"a result from another device", apResult(func(m map[string]any) { m["device"] = meter }), substance.ErrEvent},
		{"a result bound by nothing", apResult(func(m map[string]any) { m["boundBy"] = "guess" }), substance.ErrEvent},
		{"an outcome not its panels'", apResult(func(m map[string]any) { m["outcome"] = "non-negative" }), substance.ErrEvent},
		{"invalid with no reason", apResult(func(m map[string]any) { m["valid"], m["outcome"] = false, "invalid" }), substance.ErrEvent},
		{"a panel that is none", apResult(func(m map[string]any) { m["panels"] = []any{map[string]any{"panel": "tea", "result": "negative"}} }), substance.ErrEvent},
		{"a panel result that is none", apResult(func(m map[string]any) { m["panels"] = []any{map[string]any{"panel": "thc", "result": "maybe"}} }), substance.ErrEvent},
		{"a reading recorded already", apResult(func(m map[string]any) {
			m["serial"], m["testNumber"], m["measuredAt"] = meterSN, 77, t0.Add(21*time.Minute).Format(time.RFC3339)
		}), substance.ErrDuplicate},
		{"custody of a test awaiting its sample", edit(t, sealed, func(m map[string]any) { m["testId"], m["crn"], m["at"] = "AP-2026-1", "Y654321", later }), substance.ErrState},
		{"sealed twice", edit(t, sealed, func(m map[string]any) { m["at"] = later }), substance.ErrState},
		{"a dispatch event of another stage", edit(t, dispatched, func(m map[string]any) { m["stage"] = "received" }), substance.ErrEvent},
		{"a custody stage that is none", edit(t, sealed, func(m map[string]any) { m["stage"], m["at"] = "lost", later }), substance.ErrInvalid},
		{"a confirmation of a closed test", confirmed, substance.ErrState},
		{"a confirmation of another seal", apConfirmed(func(m map[string]any) { m["seal"] = "SEAL-1" }), substance.ErrEvent},
		{"a confirmation back in time", apConfirmed(func(m map[string]any) { m["at"] = t0.Format(time.RFC3339) }), substance.ErrInvalid},
		{"a confirmation whose outcome is not its findings'", apConfirmed(func(m map[string]any) { m["outcome"] = "not-confirmed" }), substance.ErrEvent},
		{"a confirmation of no analyte", apConfirmed(func(m map[string]any) { m["results"], m["outcome"] = map[string]any{}, "not-confirmed" }), substance.ErrInvalid},
		{"a confirmation by no one", apConfirmed(func(m map[string]any) { m["by"] = "" }), substance.ErrPeople},
		{"an unbound reading twice", unbound, substance.ErrDuplicate},
		{"an unbound reading from no device", edit(t, unbound, func(m map[string]any) { m["device"] = "" }), substance.ErrEvent},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			x := e.Clone()
			err := x.Apply(tc.draft)
			wantErr(t, err, tc.want)
			if !substance.SameState(e, x) {
				t.Error("a refused event changed the state")
			}
		})
	}
	x := e.Clone()
	if err := x.Apply(apConfirmed(func(map[string]any) {})); err != nil {
		t.Fatal(err)
	}
	if tt, _ := x.Get("T-4"); tt.Outcome != substance.OutcomeConfirmed || tt.State != substance.StateClosed {
		t.Errorf("T-4 after its confirmation: %+v", tt)
	}
}

// FuzzApply: any bytes as the Info of any event type never panic; an event Apply
// refuses changes nothing, and one it takes is replayed to the same state.
func FuzzApply(f *testing.F) {
	base := newEngine(f)
	drafts := scenario(f, base)
	types := substance.Types()
	for _, d := range drafts {
		f.Add(uint8(slices.Index(types, d.Type)), []byte(d.Info))
	}
	for i, seed := range []string{"", "{", "null", "[]", `{"testId":"AP-2026-1","crn":"Y654321"}`, `{"testId":"T-4","stage":"received","by":"x","at":"9999-12-31T23:59:59Z","crn":"X123456","seal":"SEAL-2"}`,
		`{"device":"oral-1","why":"x","at":"2026-11-22T21:00:00Z","reading":{"alcoholUgPer100ml":1e309}}`} {
		f.Add(uint8(i), []byte(seed))
	}
	for f2, typ := range badCorpus(f) {
		b, err := os.ReadFile(f2)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(uint8(slices.Index(types, typ)), b)
	}
	f.Fuzz(func(t *testing.T, typ uint8, b []byte) {
		d := substance.Draft{Type: types[int(typ)%len(types)], Info: b}
		e := base.Clone()
		if err := e.Apply(d); err != nil {
			if !substance.SameState(base, e) {
				t.Fatalf("refused %s %q (%v) but changed the state", d.Type, b, err)
			}
			return
		}
		_ = e.Open()
		_ = e.All()
		_ = e.Unbound()
		_ = e.AwaitingLab(t0.AddDate(1, 0, 0))
		r, err := substance.New(e.Config())
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range append(slices.Clone(drafts), d) {
			if err := r.Apply(x); err != nil {
				t.Fatalf("replaying %s %q: %v", x.Type, x.Info, err)
			}
		}
		if !substance.SameState(e, r) {
			t.Fatalf("%s %q: the replay differs", d.Type, b)
		}
	})
}

// badCorpus returns the files of testdata/bad, each with the event type its
// directory names ("substance." + the directory).
func badCorpus(t testing.TB) map[string]string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "bad", "*", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no bad corpus: %v", err)
	}
	out := map[string]string{}
	for _, f := range files {
		out[f] = "substance." + filepath.Base(filepath.Dir(f))
	}
	return out
}

// TestBadEventCorpus: every event of testdata/bad (one directory per event type,
// each file an Info that must not be applied after the scenario: a test id taken, a
// test that does not exist or is another resident's, a stage out of order, a cut-off
// file) is refused with an error, changing nothing.
func TestBadEventCorpus(t *testing.T) {
	base := newEngine(t)
	scenario(t, base)
	for f, typ := range badCorpus(t) {
		t.Run(f, func(t *testing.T) {
			if !slices.Contains(substance.Types(), typ) {
				t.Fatalf("directory of %s names no event type (%s)", f, typ)
			}
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			e := base.Clone()
			if err := e.Apply(substance.Draft{Type: typ, Info: b}); err == nil {
				t.Fatalf("%s %s applied", typ, b)
			}
			if !substance.SameState(base, e) {
				t.Fatalf("%s refused but changed the state", typ)
			}
		})
	}
}
