package pat

import (
	"fmt"
	"math"
	"slices"
)

// Limits.
//
// Check holds a record's figures against the pass limits of the IET Code of
// Practice for In-service Inspection and Testing of Electrical Equipment, 5th
// edition (2020), as tester makers and trainers publish them (the Code itself is
// not public). Every default below says where it comes from:
//
//   - [COP5-PTT]: pat-testing-training.net, "IET Code of Practice - 5th Edition
//     Update": the 5th edition recommends a protective conductor / touch current
//     limit of 5 mA for all equipment, Class I and Class II, replacing the 4th
//     edition's 0.75 mA (Class I handheld and portable), 3.5 mA (Class I IT,
//     movable, stationary and fixed), 0.75 mA per kW up to 5 mA (Class I heating
//     and cooking) and 0.25 mA (Class II).
//   - [COP5-FSS]: "Key changes in Edition 5 of the Code of Practice" (Handbook of
//     Portable Appliance Testing blog, pat-testing-fss.blogspot.com, July 2022):
//     the leakage limit "is now less than 5 mA for a Pass"; an earth continuity
//     limit of 0.5 Ω is introduced for older appliances.
//   - [KEW-COP5]: Kewtech, "The 5th Edition of the Code of Practice ... is soon to
//     be here" (kewtechcorp.com, September 2020): low-current (100-200 mA) earth
//     continuity is the normal test; 0.5 Ω for older equipment; insulation is
//     tested at 500 V first, 250 V (followed by a leakage test) where 500 V
//     cannot be used; some Class II equipment needs inspection only.
//   - [EC-R]: "Understanding Earth Continuity Tests" (userz.net), after Table V1.1
//     of the Code: the earth continuity limit is (0.1 + R) Ω, R the resistance
//     of the supply cord's protective conductor, 19.5 mΩ per metre of 1.0 mm²
//     (a 3 m cord of 1.0 mm²: 0.1 + 3 × 0.0195 = 0.16 Ω); the same 0.0195 Ω/m
//     is given on the Seaward forum ("Earth Continuity 6mm cable", 2017).
//   - [INS-PI]: patinfo.co.uk, "Insulation resistance", and PASS, "How to carry
//     out an insulation resistance test in PAT testing" (pass.co.uk): greater
//     than 1 MΩ for Class I and 2 MΩ for Class II, at 500 V d.c.; surge-protected
//     items are retested at 250 V.
//   - [SEA-SURGE]: Seaward FAQ, "How do I test a surge protected appliance or
//     extension lead?" (seaward.co.uk): surge protection conducts at about 300
//     V, so such items are tested at 250 V, or by a protective conductor current
//     (Class I) or touch current (Class II) test in place of the insulation test.
//
// The limits are inclusive: a figure exactly at its limit passes ([COP5-FSS]
// writes the leakage limit as "less than 5 mA"; with figures recorded to two
// decimals that is one count of the last digit, and the instrument that measured
// the figure decided at its own resolution).

// Default limits. Each is explained on DefaultLimits.
const (
	DefaultEarthOhm              = 0.2
	DefaultInsulationMOhmClassI  = 1
	DefaultInsulationMOhmClassII = 2
	DefaultLeakageMA             = 5
)

// Limits are the pass limits Check holds a record's figures against. The agent
// takes them from its configuration; DefaultLimits gives the Code's.
type Limits struct {
	// EarthOhm is the highest earth continuity resistance, in ohms, a Class I
	// item may pass with: the Code's 0.1 Ω for the item plus an allowance for
	// the resistance of its supply cord's protective conductor.
	EarthOhm float64 `json:"earthOhm"`
	// InsulationMOhmClassI and InsulationMOhmClassII are the lowest insulation
	// resistances, in megohms, an item of each class may pass with.
	InsulationMOhmClassI  float64 `json:"insulationMOhmClassI"`
	InsulationMOhmClassII float64 `json:"insulationMOhmClassII"`
	// InsulationVolts are the test voltages (d.c.) an insulation test may be
	// made at. A record with no voltage (0: the source did not say) is held
	// against the same minimum.
	InsulationVolts []int `json:"insulationVolts"`
	// LeakageMAClassI is the highest protective conductor current, and
	// LeakageMAClassII the highest touch current, in milliamps, an item may
	// pass with.
	LeakageMAClassI  float64 `json:"leakageMAClassI"`
	LeakageMAClassII float64 `json:"leakageMAClassII"`
	// ClassIIInspectionOnly lets a Class II item pass on its visual inspection
	// alone; otherwise a Class II pass needs an insulation or a touch current
	// figure.
	ClassIIInspectionOnly bool `json:"classIIInspectionOnly,omitempty"`
}

// DefaultLimits returns the limits of the Code's 5th edition (sources above):
//
//   - EarthOhm 0.2 Ω: the Code's (0.1 + R) Ω [EC-R], with R for a 5 m cord of
//     1.0 mm² (5 × 0.0195 = 0.0975 Ω) rounded up to 0.1 Ω. A record does not say
//     the cord's length or size, so one allowance stands for every cord: longer
//     cords and extension leads of 1.0 mm² up to 5 m, or of 1.5 mm² up to about
//     7.5 m, are covered; an instrument that knew the cord judged against its own
//     (0.1 + R). A site with older equipment may raise it to the 5th edition's
//     0.5 Ω [COP5-FSS, KEW-COP5].
//   - InsulationMOhmClassI 1 MΩ and InsulationMOhmClassII 2 MΩ [INS-PI].
//   - InsulationVolts 500 V and 250 V: 500 V d.c. is the Code's test voltage;
//     250 V is allowed for items with surge protection [INS-PI, SEA-SURGE,
//     KEW-COP5]. A record does not say whether the item has surge protection, so
//     a 250 V test is held against the same minimum as a 500 V one and is not
//     flagged; a site that wants 500 V only sets InsulationVolts to [500].
//   - LeakageMAClassI and LeakageMAClassII 5 mA: the 5th edition's single limit
//     [COP5-PTT, COP5-FSS]. The 4th edition's 3.5 mA (Class I) and 0.25 mA
//     (Class II) are stricter and may be configured instead; the 0.75 mA for
//     Class I handheld items is not applied, as a record does not say whether an
//     item is handheld.
//   - ClassIIInspectionOnly false: the 5th edition lets some Class II equipment
//     be inspected only [KEW-COP5], but which is the tester's judgement per item,
//     so by default a Class II pass needs a figure.
//
// It returns a new value on every call.
func DefaultLimits() Limits {
	return Limits{
		EarthOhm:              DefaultEarthOhm,
		InsulationMOhmClassI:  DefaultInsulationMOhmClassI,
		InsulationMOhmClassII: DefaultInsulationMOhmClassII,
		InsulationVolts:       []int{500, 250},
		LeakageMAClassI:       DefaultLeakageMA,
		LeakageMAClassII:      DefaultLeakageMA,
	}
}

// Validate says whether l can be checked against: every figure positive and
// finite, and at least one insulation test voltage, each 1 to 1000 V.
func (l Limits) Validate() error {
	for _, f := range []struct {
		name string
		v    float64
	}{
		{"earthOhm", l.EarthOhm},
		{"insulationMOhmClassI", l.InsulationMOhmClassI},
		{"insulationMOhmClassII", l.InsulationMOhmClassII},
		{"leakageMAClassI", l.LeakageMAClassI},
		{"leakageMAClassII", l.LeakageMAClassII},
	} {
		if !(f.v > 0) || math.IsInf(f.v, 0) {
			return fmt.Errorf("pat: limits: %s is %v; give a positive figure", f.name, f.v)
		}
	}
	if len(l.InsulationVolts) == 0 {
		return fmt.Errorf("pat: limits: no insulation test voltage; give at least one, e.g. 500")
	}
	for _, v := range l.InsulationVolts {
		if v < 1 || v > 1000 {
			return fmt.Errorf("pat: limits: insulation test voltage %d V; give 1 to 1000 V", v)
		}
	}
	return nil
}

// The checks a Finding names.
const (
	CheckEarth      = "earth"      // earth continuity (Class I)
	CheckInsulation = "insulation" // insulation resistance or its test voltage
	CheckLeakage    = "leakage"    // protective conductor or touch current
	CheckVisual     = "visual"     // the formal visual inspection
	CheckPolarity   = "polarity"   // the polarity check of a lead
	CheckResult     = "result"     // the result itself, or the class it rests on
	CheckMissing    = "missing"    // a check the class needs for a pass was not done
)

// Finding is one way a record's figures do not support its result.
type Finding struct {
	// Check names the check, one of the Check constants.
	Check string `json:"check"`
	// Detail says what is wrong, for a person: the figure and the limit.
	Detail string `json:"detail"`
}

// Check holds r against DefaultLimits; see Limits.Check.
func Check(r Record) []Finding {
	return DefaultLimits().Check(r)
}

// Check says how r's figures fail to support its result; nil when they support
// it.
//
// A pass needs a passing visual inspection (every class), and for Class I an
// earth continuity figure and an insulation or a protective conductor current
// figure (the current test stands in for the insulation test on surge-protected
// items [SEA-SURGE]), for Class II an insulation or a touch current figure
// (unless l.ClassIIInspectionOnly); Class III is inspected only, and its
// figures, like a Class II item's earth figure, are not checked. A pass with a
// failing figure, a failed visual inspection or polarity check, an insulation
// test at a voltage not in l.InsulationVolts, or a needed check not done is
// flagged: the tester's "pass" is not accepted on its word.
//
// A fail is the tester's word and always stands, whatever the figures (a fuse of
// the wrong rating, a damaged case that a figure does not show). But a fail whose
// visual inspection passed, with no failing figure and no failed polarity check,
// records no reason for itself, and is flagged (check "result") so that the
// tester says why; the item stays failed. A record with no result, or of no known
// class, is flagged too.
func (l Limits) Check(r Record) []Finding {
	var out []Finding
	add := func(check, format string, a ...any) {
		out = append(out, Finding{Check: check, Detail: fmt.Sprintf(format, a...)})
	}
	if r.Result != ResultPass && r.Result != ResultFail {
		add(CheckResult, "the record has no result (pass or fail)")
		return out
	}
	if r.Class != ClassI && r.Class != ClassII && r.Class != ClassIII {
		add(CheckResult, "class %q is not I, II or III, so the figures cannot be checked", r.Class)
		return out
	}
	// figures holds each failing figure, whatever the result.
	var figures []Finding
	fail := func(check, format string, a ...any) {
		figures = append(figures, Finding{Check: check, Detail: fmt.Sprintf(format, a...)})
	}
	var missing []string
	if r.Visual == ResultFail {
		fail(CheckVisual, "the visual inspection failed")
	} else if r.Visual != ResultPass {
		missing = append(missing, "the visual inspection")
	}
	if r.Polarity == ResultFail {
		fail(CheckPolarity, "the polarity check failed")
	}
	switch r.Class {
	case ClassI:
		earth := l.checkMax(r.EarthOhm, l.EarthOhm, "Ω", "earth continuity", CheckEarth, fail)
		ins := l.checkInsulation(r, l.InsulationMOhmClassI, fail)
		leak := l.checkMax(r.LeakageMA, l.LeakageMAClassI, "mA", "protective conductor current", CheckLeakage, fail)
		if !earth {
			missing = append(missing, "earth continuity")
		}
		if !ins && !leak {
			missing = append(missing, "insulation resistance or protective conductor current")
		}
	case ClassII:
		ins := l.checkInsulation(r, l.InsulationMOhmClassII, fail)
		leak := l.checkMax(r.LeakageMA, l.LeakageMAClassII, "mA", "touch current", CheckLeakage, fail)
		if !ins && !leak && !l.ClassIIInspectionOnly {
			missing = append(missing, "insulation resistance or touch current")
		}
	}
	if r.Result == ResultPass {
		out = append(out, figures...)
		for _, m := range missing {
			add(CheckMissing, "a Class %s pass needs %s, which was not done", r.Class, m)
		}
		return out
	}
	if len(figures) == 0 && r.Visual == ResultPass {
		add(CheckResult, "recorded as a fail, but the visual inspection passed and no figure fails: record why it failed")
	}
	return out
}

// checkMax checks a figure that must not exceed max, reporting a failing one to
// fail; it says whether there was a figure.
func (l Limits) checkMax(v *float64, max float64, unit, what, check string, fail func(string, string, ...any)) bool {
	if v == nil {
		return false
	}
	switch {
	case !validFigure(*v):
		fail(check, "%s of %v %s is not a measurement", what, *v, unit)
	case *v > max:
		fail(check, "%s of %v %s is over the limit of %v %s", what, *v, unit, max, unit)
	}
	return true
}

// checkInsulation checks the insulation figure against min and its test voltage
// against l.InsulationVolts; it says whether there was a figure.
func (l Limits) checkInsulation(r Record, min float64, fail func(string, string, ...any)) bool {
	v := r.InsulationMOhm
	if v == nil {
		return false
	}
	switch {
	case !validFigure(*v):
		fail(CheckInsulation, "insulation resistance of %v MΩ is not a measurement", *v)
	case *v < min:
		fail(CheckInsulation, "insulation resistance of %v MΩ is under the minimum of %v MΩ for Class %s", *v, min, r.Class)
	}
	if r.InsulationV != 0 && !slices.Contains(l.InsulationVolts, r.InsulationV) {
		fail(CheckInsulation, "insulation tested at %d V; the test voltages allowed are %v V", r.InsulationV, l.InsulationVolts)
	}
	return true
}

// validFigure says v can be a measurement: finite and not negative.
func validFigure(v float64) bool {
	return v >= 0 && !math.IsInf(v, 1)
}
