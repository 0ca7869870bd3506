package pat_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apedge/apedge/formats/pat"
)

func f(v float64) *float64 { return &v }

// classI is a Class I pass whose figures all pass the default limits.
func classI() pat.Record {
	return pat.Record{AssetID: "AP-1", Class: pat.ClassI, TestedAt: time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC),
		Visual: pat.ResultPass, EarthOhm: f(0.05), InsulationMOhm: f(200), InsulationV: 500, LeakageMA: f(0.2),
		Result: pat.ResultPass, Tester: "J. Patel"}
}

// with returns classI changed by fn.
func with(fn func(*pat.Record)) pat.Record {
	r := classI()
	fn(&r)
	return r
}

func TestCheck(t *testing.T) {
	classII := func(fn func(*pat.Record)) pat.Record {
		return with(func(r *pat.Record) {
			r.Class, r.EarthOhm, r.InsulationMOhm, r.LeakageMA = pat.ClassII, nil, f(50), nil
			fn(r)
		})
	}
	classIII := func(fn func(*pat.Record)) pat.Record {
		return with(func(r *pat.Record) {
			r.Class, r.EarthOhm, r.InsulationMOhm, r.InsulationV, r.LeakageMA = pat.ClassIII, nil, nil, 0, nil
			fn(r)
		})
	}
	for _, c := range []struct {
		name string
		r    pat.Record
		want []string // the checks of the findings, in order
	}{
		{"class I pass", classI(), nil},
		{"class I earth exactly at the limit", with(func(r *pat.Record) { r.EarthOhm = f(0.2) }), nil},
		{"class I earth just over", with(func(r *pat.Record) { r.EarthOhm = f(0.201) }), []string{"earth"}},
		{"class I earth not measured", with(func(r *pat.Record) { r.EarthOhm = nil }), []string{"missing"}},
		{"class I insulation exactly at 1 MΩ", with(func(r *pat.Record) { r.InsulationMOhm = f(1) }), nil},
		{"class I insulation just under", with(func(r *pat.Record) { r.InsulationMOhm = f(0.99) }), []string{"insulation"}},
		{"class I insulation at 250 V", with(func(r *pat.Record) { r.InsulationV = 250 }), nil},
		{"class I insulation voltage not recorded", with(func(r *pat.Record) { r.InsulationV = 0 }), nil},
		{"class I insulation at 1000 V", with(func(r *pat.Record) { r.InsulationV = 1000 }), []string{"insulation"}},
		{"class I leakage exactly at 5 mA", with(func(r *pat.Record) { r.LeakageMA = f(5) }), nil},
		{"class I leakage just over", with(func(r *pat.Record) { r.LeakageMA = f(5.01) }), []string{"leakage"}},
		{"class I leakage instead of insulation (surge protected)", with(func(r *pat.Record) { r.InsulationMOhm, r.InsulationV = nil, 0 }), nil},
		{"class I neither insulation nor leakage", with(func(r *pat.Record) { r.InsulationMOhm, r.InsulationV, r.LeakageMA = nil, 0, nil }), []string{"missing"}},
		{"class I negative earth", with(func(r *pat.Record) { r.EarthOhm = f(-0.01) }), []string{"earth"}},
		{"class I visual failed", with(func(r *pat.Record) { r.Visual = pat.ResultFail }), []string{"visual"}},
		{"class I visual not done", with(func(r *pat.Record) { r.Visual = pat.ResultNotDone }), []string{"missing"}},
		{"class I polarity failed", with(func(r *pat.Record) { r.Polarity = pat.ResultFail }), []string{"polarity"}},
		{"class I polarity passed", with(func(r *pat.Record) { r.Polarity = pat.ResultPass }), nil},
		{"class I everything wrong", with(func(r *pat.Record) {
			r.Visual, r.EarthOhm, r.InsulationMOhm, r.LeakageMA, r.Polarity = pat.ResultFail, f(1), f(0.5), f(9), pat.ResultFail
		}), []string{"visual", "polarity", "earth", "insulation", "leakage"}},

		{"class II pass", classII(func(*pat.Record) {}), nil},
		{"class II insulation exactly at 2 MΩ", classII(func(r *pat.Record) { r.InsulationMOhm = f(2) }), nil},
		{"class II insulation just under", classII(func(r *pat.Record) { r.InsulationMOhm = f(1.99) }), []string{"insulation"}},
		{"class II with class I's insulation", classII(func(r *pat.Record) { r.InsulationMOhm = f(1) }), []string{"insulation"}},
		{"class II touch current exactly at 5 mA", classII(func(r *pat.Record) { r.LeakageMA = f(5) }), nil},
		{"class II touch current over", classII(func(r *pat.Record) { r.LeakageMA = f(5.5) }), []string{"leakage"}},
		{"class II touch current only", classII(func(r *pat.Record) { r.InsulationMOhm, r.InsulationV, r.LeakageMA = nil, 0, f(0.1) }), nil},
		{"class II visual only", classII(func(r *pat.Record) { r.InsulationMOhm, r.InsulationV = nil, 0 }), []string{"missing"}},
		{"class II earth figure is not checked", classII(func(r *pat.Record) { r.EarthOhm = f(50) }), nil},

		{"class III visual only", classIII(func(*pat.Record) {}), nil},
		{"class III figures are not checked", classIII(func(r *pat.Record) { r.EarthOhm, r.InsulationMOhm = f(9), f(0.01) }), nil},
		{"class III visual failed", classIII(func(r *pat.Record) { r.Visual = pat.ResultFail }), []string{"visual"}},
		{"class III visual not done", classIII(func(r *pat.Record) { r.Visual = pat.ResultNotDone }), []string{"missing"}},

		{"fail with a failing figure", with(func(r *pat.Record) { r.Result, r.EarthOhm = pat.ResultFail, f(0.9) }), nil},
		{"fail on the visual inspection", with(func(r *pat.Record) { r.Result, r.Visual = pat.ResultFail, pat.ResultFail }), nil},
		{"fail on polarity", with(func(r *pat.Record) { r.Result, r.Polarity = pat.ResultFail, pat.ResultFail }), nil},
		{"fail with figures missing is not flagged missing", with(func(r *pat.Record) { r.Result, r.Visual, r.EarthOhm = pat.ResultFail, pat.ResultFail, nil }), nil},
		{"fail with nothing failing", with(func(r *pat.Record) { r.Result = pat.ResultFail }), []string{"result"}},
		{"class III fail with visual passed", classIII(func(r *pat.Record) { r.Result = pat.ResultFail }), []string{"result"}},
		{"no result", with(func(r *pat.Record) { r.Result = pat.ResultNotDone }), []string{"result"}},
		{"no class", with(func(r *pat.Record) { r.Class = "" }), []string{"result"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := pat.Check(c.r)
			var checks []string
			for _, fd := range got {
				checks = append(checks, fd.Check)
				if fd.Detail == "" {
					t.Errorf("finding %+v has no detail", fd)
				}
			}
			if !slices.Equal(checks, c.want) {
				t.Fatalf("Check = %+v; want checks %v", got, c.want)
			}
		})
	}
}

func TestCheckDetail(t *testing.T) {
	got := pat.Check(with(func(r *pat.Record) { r.EarthOhm = f(0.35) }))
	if len(got) != 1 || got[0].Check != pat.CheckEarth || !strings.Contains(got[0].Detail, "0.35 Ω") || !strings.Contains(got[0].Detail, "0.2 Ω") {
		t.Fatalf("Check = %+v; want the figure and the limit", got)
	}
	got = pat.Check(with(func(r *pat.Record) {
		r.Class, r.EarthOhm, r.InsulationMOhm, r.LeakageMA = pat.ClassII, nil, f(1.5), nil
	}))
	if len(got) != 1 || !strings.Contains(got[0].Detail, "1.5 MΩ") || !strings.Contains(got[0].Detail, "2 MΩ for Class II") {
		t.Fatalf("Check = %+v; want the figure and the class's minimum", got)
	}
}

func TestLimitsConfigured(t *testing.T) {
	strict := pat.DefaultLimits()
	strict.LeakageMAClassI, strict.LeakageMAClassII = 3.5, 0.25 // the 4th edition's
	strict.InsulationVolts = []int{500}
	strict.ClassIIInspectionOnly = true
	for _, c := range []struct {
		name string
		r    pat.Record
		want []string
	}{
		{"class I 3.5 mA", with(func(r *pat.Record) { r.LeakageMA = f(3.5) }), nil},
		{"class I 3.6 mA", with(func(r *pat.Record) { r.LeakageMA = f(3.6) }), []string{"leakage"}},
		{"class II 0.26 mA", with(func(r *pat.Record) {
			r.Class, r.EarthOhm, r.InsulationMOhm, r.LeakageMA = pat.ClassII, nil, f(9), f(0.26)
		}), []string{"leakage"}},
		{"250 V refused", with(func(r *pat.Record) { r.InsulationV = 250 }), []string{"insulation"}},
		{"class II inspection only", with(func(r *pat.Record) {
			r.Class, r.EarthOhm, r.InsulationMOhm, r.InsulationV, r.LeakageMA = pat.ClassII, nil, nil, 0, nil
		}), nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			var checks []string
			for _, fd := range strict.Check(c.r) {
				checks = append(checks, fd.Check)
			}
			if !slices.Equal(checks, c.want) {
				t.Fatalf("Check = %v; want %v", checks, c.want)
			}
		})
	}
}

func TestLimitsValidate(t *testing.T) {
	if err := pat.DefaultLimits().Validate(); err != nil {
		t.Fatalf("DefaultLimits: %v", err)
	}
	d := pat.DefaultLimits()
	if d.EarthOhm != 0.2 || d.InsulationMOhmClassI != 1 || d.InsulationMOhmClassII != 2 || d.LeakageMAClassI != 5 || d.LeakageMAClassII != 5 ||
		!slices.Equal(d.InsulationVolts, []int{500, 250}) || d.ClassIIInspectionOnly {
		t.Fatalf("DefaultLimits = %+v", d)
	}
	d.InsulationVolts[0] = 1
	if pat.DefaultLimits().InsulationVolts[0] != 500 {
		t.Fatal("DefaultLimits shares its slice")
	}
	for _, c := range []struct {
		name string
		fn   func(*pat.Limits)
		want string
	}{
		{"zero earth", func(l *pat.Limits) { l.EarthOhm = 0 }, "earthOhm"},
		{"negative insulation", func(l *pat.Limits) { l.InsulationMOhmClassII = -1 }, "insulationMOhmClassII"},
		{"no voltages", func(l *pat.Limits) { l.InsulationVolts = nil }, "no insulation test voltage"},
		{"absurd voltage", func(l *pat.Limits) { l.InsulationVolts = []int{5000} }, "5000 V"},
	} {
		t.Run(c.name, func(t *testing.T) {
			l := pat.DefaultLimits()
			c.fn(&l)
			err := l.Validate()
			if err == nil || !strings.HasPrefix(err.Error(), "pat: ") || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Validate = %v; want an error naming %q", err, c.want)
			}
		})
	}
}
