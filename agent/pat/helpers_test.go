package pat_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/apedge/apedge/agent/pat"
	fpat "github.com/apedge/apedge/formats/pat"
)

// t0 is when the tests' register starts: a fixed time, so that no test depends on
// the day it runs.
var t0 = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

// day0 is t0's date, as a test record dates a test.
var day0 = time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)

const (
	staff   = "Sam Keyworker"
	manager = "Priya Shah"
	tester  = "Chris Sparks"
	crn     = "X123456"
	crn2    = "Y654321"
)

func newEngine(t testing.TB) *pat.Engine {
	t.Helper()
	e, err := pat.New(pat.Config{Prohibited: []string{"Fan Heater"}})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func ptr(f float64) *float64 { return &f }

// rec is a test record of asset, class, result, tested on the day testedAt.
func rec(asset string, class fpat.Class, result fpat.Result, testedAt time.Time) fpat.Record {
	r := fpat.Record{AssetID: asset, Class: class, TestedAt: testedAt, Visual: fpat.ResultPass, Result: result,
		InsulationMOhm: ptr(200), InsulationV: 500, Instrument: "Seaward PrimeTest 250+", InstrumentSerial: "4C1234", Tester: tester}
	if class == fpat.ClassI {
		r.EarthOhm = ptr(0.05)
		r.LeakageMA = ptr(0.2)
	}
	return r
}

// reg registers asset (owner, category, class) at at, failing the test on error.
func reg(t testing.TB, e *pat.Engine, asset, owner, category string, class fpat.Class, at time.Time) pat.Item {
	t.Helper()
	it, _, err := e.Register(pat.Registration{AssetID: asset, OwnerCRN: owner, Description: "a " + category + " item", Category: category, Class: class, By: staff, At: at})
	if err != nil {
		t.Fatal(err)
	}
	return it
}

// must returns a checker that fails t on an error: must(t).D(e.Test(...)).
func must(t testing.TB) checker { return checker{t} }

type checker struct{ t testing.TB }

// D returns d, failing the test on err.
func (c checker) D(d pat.Draft, err error) pat.Draft {
	c.t.Helper()
	if err != nil {
		c.t.Fatal(err)
	}
	return d
}

// DS returns ds, failing the test on err.
func (c checker) DS(ds []pat.Draft, err error) []pat.Draft {
	c.t.Helper()
	if err != nil {
		c.t.Fatal(err)
	}
	return ds
}

// E returns e, failing the test on err.
func (c checker) E(e *pat.Engine, err error) *pat.Engine {
	c.t.Helper()
	if err != nil {
		c.t.Fatal(err)
	}
	return e
}

// get returns item asset, failing the test if there is none.
func get(t testing.TB, e *pat.Engine, asset string) pat.Item {
	t.Helper()
	it, ok := e.Get(asset)
	if !ok {
		t.Fatalf("no item %s", asset)
	}
	return it
}

// wantErr checks err is want (nil: no error), and that an error is a sentence
// prefixed pat:.
func wantErr(t testing.TB, err, want error) {
	t.Helper()
	switch {
	case want == nil && err != nil:
		t.Fatalf("error %v, want none", err)
	case want != nil && !errors.Is(err, want):
		t.Fatalf("error %v, want %v", err, want)
	case err != nil && (!strings.HasPrefix(err.Error(), "pat: ") || len(err.Error()) < 30):
		t.Fatalf("error %q: want a sentence prefixed pat:", err)
	}
}

// info decodes d's Info as a generic JSON object.
func info(t testing.TB, d pat.Draft) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(d.Info, &m); err != nil {
		t.Fatalf("%s info %s: %v", d.Type, d.Info, err)
	}
	return m
}

// replay applies drafts, as the journal would give them back (type and info, the
// info re-encoded), to a new engine of cfg.
func replay(t testing.TB, cfg pat.Config, drafts []pat.Draft) *pat.Engine {
	t.Helper()
	e := must(t).E(pat.New(cfg))
	for i, d := range drafts {
		if err := e.Apply(journaled(t, d)); err != nil {
			t.Fatalf("replaying draft %d (%s %s): %v", i, d.Type, d.Info, err)
		}
	}
	return e
}

// journaled is d as read back from a journal: its info decoded and encoded again
// (keys sorted), and nothing but its type, time and info.
func journaled(t testing.TB, d pat.Draft) pat.Draft {
	t.Helper()
	var v any
	if err := json.Unmarshal(d.Info, &v); err != nil {
		t.Fatal(err)
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return pat.Draft{Type: d.Type, At: d.At.UTC(), Info: b}
}

// sameState fails the test unless a and b answer every query alike.
func sameState(t testing.TB, a, b *pat.Engine) {
	t.Helper()
	if x, y := a.All(), b.All(); !reflect.DeepEqual(x, y) {
		t.Errorf("items differ:\n%+v\n%+v", x, y)
	}
	if x, y := a.Due(t0.AddDate(2, 0, 0), 0), b.Due(t0.AddDate(2, 0, 0), 0); !reflect.DeepEqual(x, y) {
		t.Errorf("due items differ:\n%+v\n%+v", x, y)
	}
	if !pat.SameState(a, b) {
		t.Error("the engines' states differ")
	}
}
