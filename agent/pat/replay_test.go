package pat_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apedge/apedge/agent/pat"
	fpat "github.com/apedge/apedge/formats/pat"
)

// scenario runs a register through every kind of event on e and returns the
// drafts, in order. It leaves K-1 authorised, L-1 failed, S-1 prohibited, T-1
// withdrawn, R-1 expired (authorisation suspended), and F-1 awaiting
// authorisation.
func scenario(t testing.TB, e *pat.Engine) []pat.Draft {
	t.Helper()
	var drafts []pat.Draft
	add := func(d pat.Draft, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		drafts = append(drafts, d)
	}
	bst := time.FixedZone("BST", 3600) // times in any location come out the same
	at := func(days int) time.Time { return t0.AddDate(0, 0, days).In(bst) }
	on := func(days int) time.Time { return day0.AddDate(0, 0, days) }
	register := func(asset, owner, desc, cat string, class fpat.Class, days int) {
		t.Helper()
		_, d, err := e.Register(pat.Registration{AssetID: asset, OwnerCRN: owner, Description: desc, Category: cat, Class: class, By: staff, At: at(days)})
		add(d, err)
	}
	register("K-1", crn, "kettle", "kitchen", fpat.ClassI, 0)
	register("S-1", crn, "e-scooter", "E Scooter", fpat.ClassII, 0)
	register("R-1", "", "radio", "portable", fpat.ClassII, 0)
	add(e.Test(rec("K-1", fpat.ClassI, fpat.ResultPass, on(0)), nil, staff, at(0)))
	add(e.Authorise("K-1", manager, at(0)))
	add(e.Test(rec("R-1", fpat.ClassII, fpat.ResultPass, on(-700)), nil, staff, at(0))) // due 2026-12-22
	add(e.Authorise("R-1", manager, at(1)))
	older := rec("K-1", fpat.ClassI, fpat.ResultPass, on(-365))
	older.RetestMonths = 6
	add(e.Test(older, nil, staff, at(1))) // history only
	imported, err := e.Import([]fpat.Record{
		func() fpat.Record {
			r := rec("L-1", fpat.ClassI, fpat.ResultPass, on(2))
			r.Description, r.Category, r.OwnerCRN = "lamp", "portable", crn2
			return r
		}(),
		func() fpat.Record {
			r := rec("T-1", fpat.ClassII, fpat.ResultPass, on(2))
			r.Description, r.Category, r.RetestMonths = "television", "stationary", 12
			return r
		}(),
		func() fpat.Record {
			r := rec("F-1", fpat.ClassIII, fpat.ResultPass, on(2))
			r.Description = "phone charger"
			return r
		}(),
	}, [][]pat.Flag{{{Check: "earth", Detail: "0.5 Ω, over 0.1 Ω plus the lead's 0.05 Ω"}}, nil, nil}, "Jo Day", at(2))
	if err != nil {
		t.Fatal(err)
	}
	drafts = append(drafts, imported...)
	add(e.Authorise("T-1", manager, at(3)))
	add(e.Withdraw("T-1", "screen cracked", staff, at(4)))
	add(e.Test(rec("S-1", fpat.ClassII, fpat.ResultPass, on(4)), nil, staff, at(4)))
	expired, err := e.Expire(at(31))
	if err != nil || len(expired) != 1 || expired[0].AssetID != "R-1" {
		t.Fatalf("expiry in the scenario: %+v, %v", expired, err)
	}
	drafts = append(drafts, expired...)
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
	for _, typ := range pat.Types() {
		if !types[typ] {
			t.Errorf("the scenario has no %s", typ)
		}
	}
	want := map[string]string{"K-1": pat.StatusAuthorised, "L-1": pat.StatusFailed, "S-1": pat.StatusProhibited, "T-1": pat.StatusWithdrawn,
		"R-1": pat.StatusExpired, "F-1": pat.StatusAwaitingAuthorisation}
	for asset, status := range want {
		if it := get(t, e, asset); it.Status != status {
			t.Errorf("%s is %s after the scenario, want %s", asset, it.Status, status)
		}
	}
	if k := get(t, e, "K-1"); len(k.Tests) != 2 || k.RetestDue != "2027-11-22" || !k.Tests[0].Record.TestedAt.Before(k.Tests[1].Record.TestedAt) {
		t.Errorf("K-1's history %+v, due %s", k.Tests, k.RetestDue)
	}

	r := replay(t, e.Config(), drafts)
	sameState(t, e, r)
	if !pat.SameState(e, e.Clone()) {
		t.Fatal("a clone's state differs")
	}

	// Both go on alike.
	for _, x := range []*pat.Engine{e, r} {
		_, err := x.Authorise("F-1", manager, t0.AddDate(0, 0, 40))
		wantErr(t, err, nil)
		_, _, err = x.Register(pat.Registration{AssetID: "K-1", Description: "x", Class: fpat.ClassI, By: staff, At: t0.AddDate(0, 0, 40)})
		wantErr(t, err, pat.ErrDuplicate)
		_, err = x.Authorise("R-1", manager, t0.AddDate(0, 0, 40))
		wantErr(t, err, pat.ErrOutOfDate)
		_, err = x.Test(rec("R-1", fpat.ClassII, fpat.ResultPass, day0.AddDate(0, 0, 40)), nil, staff, t0.AddDate(0, 0, 40))
		wantErr(t, err, nil)
		if ds := must(t).DS(x.Expire(t0.AddDate(0, 0, 41))); len(ds) != 0 {
			t.Errorf("expired again: %+v", ds)
		}
	}
	sameState(t, e, r)
	if it := get(t, r, "R-1"); it.Status != pat.StatusAuthorised {
		t.Errorf("R-1 after its retest: %s, want authorised (its authorisation was suspended)", it.Status)
	}
}

// TestReplayIgnoresPolicy: a journal is history. Replayed by an engine whose
// configuration has changed (kitchen and portable items prohibited, every
// interval a month), it rebuilds the same state.
func TestReplayIgnoresPolicy(t *testing.T) {
	e := newEngine(t)
	drafts := scenario(t, e)
	cfg := pat.Config{Prohibited: []string{"kitchen", "portable"}, RetestMonths: map[string]map[fpat.Class]int{"default": {fpat.ClassI: 1, fpat.ClassII: 1, fpat.ClassIII: 1}}}
	r := replay(t, cfg, drafts)
	if !pat.SameState(e, r) {
		t.Fatal("the replayed engine's state differs")
	}
	if _, err := r.Authorise("F-1", manager, t0.AddDate(0, 0, 40)); err != nil {
		t.Errorf("F-1 (no category) under the new configuration: %v", err)
	}
}

// edit returns d with its info changed by f.
func edit(t testing.TB, d pat.Draft, f func(m map[string]any)) pat.Draft {
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
	find := func(typ, asset string) pat.Draft {
		for _, d := range drafts {
			if d.Type == typ && d.AssetID == asset {
				return d
			}
		}
		t.Fatalf("no %s of %s in the scenario", typ, asset)
		return pat.Draft{}
	}
	registered := find(pat.TypeRegistered, "K-1")
	tested := find(pat.TypeTested, "K-1")
	authorised := find(pat.TypeAuthorised, "K-1")
	withdrawn := find(pat.TypeWithdrawn, "T-1")
	expired := find(pat.TypeExpired, "R-1")
	later := t0.AddDate(0, 0, 60).Format(time.RFC3339)
	// f1Pass is a good new pass of F-1 (awaiting authorisation); each case below
	// spoils one thing of it.
	f1Pass := func(f func(m map[string]any)) pat.Draft {
		return edit(t, find(pat.TypeTested, "F-1"), func(m map[string]any) {
			m["at"] = later
			rec := m["record"].(map[string]any)
			rec["testedAt"] = t0.AddDate(0, 0, 59).Format(time.RFC3339)
			m["retestDue"] = "2029-01-20" // 24 months on
			m["statusBefore"] = pat.StatusAwaitingAuthorisation
			f(m)
		})
	}
	if err := e.Clone().Apply(f1Pass(func(map[string]any) {})); err != nil {
		t.Fatalf("the good version of the edits is refused: %v", err)
	}
	tests := []struct {
		name  string
		draft pat.Draft
		want  error
	}{
		{"unknown type", pat.Draft{Type: "item.sold", Info: registered.Info}, pat.ErrEvent},
		{"not JSON", pat.Draft{Type: pat.TypeRegistered, Info: []byte("{")}, pat.ErrEvent},
		{"an array", pat.Draft{Type: pat.TypeTested, Info: []byte("[]")}, pat.ErrEvent},
		{"null", pat.Draft{Type: pat.TypeAuthorised, Info: []byte("null")}, pat.ErrEvent},
		{"no info", pat.Draft{Type: pat.TypeWithdrawn}, pat.ErrEvent},
		{"too big", pat.Draft{Type: pat.TypeRegistered, Info: []byte(`{"x":"` + strings.Repeat("a", 1<<20) + `"}`)}, pat.ErrEvent},
		{"a number where a string goes", edit(t, registered, func(m map[string]any) { m["assetId"] = 7 }), pat.ErrEvent},
		{"registered twice", registered, pat.ErrDuplicate},
		{"registered prohibited, awaiting test", edit(t, registered, func(m map[string]any) { m["assetId"], m["prohibited"] = "Z-1", true }), pat.ErrEvent},
		{"a category not normalised", edit(t, registered, func(m map[string]any) { m["assetId"], m["category"] = "Z-1", "Kitchen" }), pat.ErrInvalid},
		{"a test twice", edit(t, tested, func(m map[string]any) { m["at"] = later }), pat.ErrDuplicate},
		{"a test of no item", edit(t, tested, func(m map[string]any) { m["assetId"] = "Z-9" }), pat.ErrNoItem},
		{"a test of another owner's item", f1Pass(func(m map[string]any) { m["ownerCrn"] = crn }), pat.ErrEvent},
		{"a test back in time", f1Pass(func(m map[string]any) { m["at"] = t0.Format(time.RFC3339) }), pat.ErrInvalid},
		{"a test whose record is another item's", f1Pass(func(m map[string]any) { m["record"].(map[string]any)["assetId"] = "K-1" }), pat.ErrEvent},
		{"a pass with the outcome fail", f1Pass(func(m map[string]any) { m["outcome"] = "fail" }), pat.ErrEvent},
		{"a pass with no due date", f1Pass(func(m map[string]any) { delete(m, "retestDue") }), pat.ErrEvent},
		{"a pass due on another date", f1Pass(func(m map[string]any) { m["retestDue"] = "2031-01-01" }), pat.ErrEvent},
		{"a pass leaving the wrong status", f1Pass(func(m map[string]any) { m["status"] = "authorised" }), pat.ErrEvent},
		{"a pass from the wrong status", f1Pass(func(m map[string]any) { m["statusBefore"] = "failed" }), pat.ErrEvent},
		{"a test by no one", f1Pass(func(m map[string]any) { m["by"] = "" }), pat.ErrInvalid},
		{"authorised twice", edit(t, authorised, func(m map[string]any) { m["at"] = later }), pat.ErrState},
		{"authorising a failed item", edit(t, authorised, func(m map[string]any) { m["assetId"], m["ownerCrn"], m["at"] = "L-1", crn2, later }), pat.ErrState},
		{"authorising a prohibited item", edit(t, authorised, func(m map[string]any) { m["assetId"], m["at"] = "S-1", later }), pat.ErrProhibited},
		{"authorising an expired item", edit(t, authorised, func(m map[string]any) { m["assetId"], m["ownerCrn"], m["at"] = "R-1", nil, later }), pat.ErrOutOfDate},
		{"withdrawn twice", edit(t, withdrawn, func(m map[string]any) { m["at"] = later }), pat.ErrState},
		{"withdrawing with no reason", edit(t, withdrawn, func(m map[string]any) {
			m["assetId"], m["ownerCrn"], m["statusBefore"], m["authorised"], m["reason"], m["at"] = "K-1", crn, "authorised", true, " ", later
		}), pat.ErrInvalid},
		{"expired twice", edit(t, expired, func(m map[string]any) { m["at"] = later }), pat.ErrState},
		{"expiring a pass in date", edit(t, expired, func(m map[string]any) {
			m["assetId"], m["ownerCrn"], m["retestDue"], m["statusBefore"], m["at"] = "K-1", crn, "2027-11-22", "authorised", later
		}), pat.ErrState},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			x := e.Clone()
			err := x.Apply(tc.draft)
			if tc.want == nil || err == nil {
				t.Fatalf("applied %s %s (%v)", tc.draft.Type, tc.draft.Info, err)
			}
			wantErr(t, err, tc.want)
			if !pat.SameState(e, x) {
				t.Error("a refused event changed the state")
			}
		})
	}
}

// FuzzApply: any bytes as the Info of any event type never panic; an event Apply
// refuses changes nothing, and one it takes is replayed to the same state.
func FuzzApply(f *testing.F) {
	base := newEngine(f)
	drafts := scenario(f, base)
	types := pat.Types()
	for _, d := range drafts {
		f.Add(uint8(slices.Index(types, d.Type)), []byte(d.Info))
	}
	for i, seed := range []string{"", "{", "null", "[]", `{"assetId":"F-1"}`, `{"assetId":"K-1","ownerCrn":"X123456","record":{"earthOhm":1e309}}`} {
		f.Add(uint8(i), []byte(seed))
	}
	for file, typ := range badCorpus(f) {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(uint8(slices.Index(types, typ)), b)
	}
	f.Fuzz(func(t *testing.T, typ uint8, b []byte) {
		d := pat.Draft{Type: types[int(typ)%len(types)], Info: b}
		e := base.Clone()
		if err := e.Apply(d); err != nil {
			if !pat.SameState(base, e) {
				t.Fatalf("refused %s %q (%v) but changed the state", d.Type, b, err)
			}
			return
		}
		_ = e.All()
		_ = e.Due(t0.AddDate(1, 0, 0), 0)
		_ = e.HandBack(crn)
		if _, err := e.Clone().Expire(t0.AddDate(5, 0, 0)); err != nil {
			t.Fatalf("Expire after %s %q: %v", d.Type, b, err)
		}
		r := must(t).E(pat.New(e.Config()))
		for _, x := range append(slices.Clone(drafts), d) {
			if err := r.Apply(journaled(t, x)); err != nil {
				t.Fatalf("replaying %s %q: %v", x.Type, x.Info, err)
			}
		}
		if !pat.SameState(e, r) {
			t.Fatalf("%s %q: the replay differs", d.Type, b)
		}
	})
}

// badCorpus returns the files of testdata/bad, each with the event type its
// directory names.
func badCorpus(t testing.TB) map[string]string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "bad", "*", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no bad corpus: %v", err)
	}
	out := map[string]string{}
	for _, f := range files {
		out[f] = filepath.Base(filepath.Dir(f))
	}
	return out
}

// TestBadEventCorpus: every event of testdata/bad (one directory per event type,
// each file an Info that must not be applied after the scenario) is refused with
// an error, changing nothing.
func TestBadEventCorpus(t *testing.T) {
	base := newEngine(t)
	scenario(t, base)
	seen := map[string]bool{}
	for f, typ := range badCorpus(t) {
		seen[typ] = true
		t.Run(f, func(t *testing.T) {
			if !slices.Contains(pat.Types(), typ) {
				t.Fatalf("directory of %s names no event type (%s)", f, typ)
			}
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			e := base.Clone()
			err = e.Apply(pat.Draft{Type: typ, Info: b})
			if err == nil {
				t.Fatalf("%s %s applied", typ, b)
			}
			if !strings.HasPrefix(err.Error(), "pat: ") {
				t.Errorf("error %q: want a sentence prefixed pat:", err)
			}
			if !pat.SameState(base, e) {
				t.Fatalf("%s refused but changed the state", typ)
			}
		})
	}
	for _, typ := range pat.Types() {
		if !seen[typ] {
			t.Errorf("testdata/bad has no %s", typ)
		}
	}
}
