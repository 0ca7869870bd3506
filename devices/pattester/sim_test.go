package pattester

import (
	"testing"
	"time"

	"github.com/apedge/apedge/formats/pat"
	"github.com/apedge/apedge/internal/clock/clocktest"
)

// TestSimFiguresAgainstTheLimits checks the simulator's figures against
// formats/pat's limits: a Passing record has no finding, and each figure Failing
// puts in fails its check, so that a "pass" the simulator sends with it is one
// the register flags.
func TestSimFiguresAgainstTheLimits(t *testing.T) {
	s := NewSim("SIM-pat-1", clocktest.New(time.Date(2026, 6, 10, 11, 0, 0, 0, time.UTC)))
	good := s.Passing("AP-0001", "Sam Staff")
	if f := pat.Check(good); len(f) != 0 {
		t.Errorf("Passing's record has findings %+v", f)
	}
	for _, tt := range []struct {
		figure, check string
		set           func(r *pat.Record)
	}{
		{"earth", "earth", func(r *pat.Record) { v := FailingEarthOhm; r.EarthOhm = &v }},
		{"insulation", "insulation", func(r *pat.Record) { v := FailingInsulationMOhm; r.InsulationMOhm = &v }},
		{"leakage", "leakage", func(r *pat.Record) { v := FailingLeakageMA; r.LeakageMA = &v }},
		{"visual", "visual", func(r *pat.Record) { r.Visual = pat.ResultFail }},
	} {
		r := good
		tt.set(&r)
		found := false
		for _, f := range pat.Check(r) {
			found = found || f.Check == tt.check
		}
		if !found {
			t.Errorf("a pass with the simulator's failing %s: findings %+v, want one for %s", tt.figure, pat.Check(r), tt.check)
		}
	}
}
