package config

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	fpat "github.com/apedge/apedge/formats/pat"
)

// PAT configures the agent's register of electrical items (agent/pat): the
// categories never allowed in the AP, how long a pass is good for per category and
// class, and how far ahead the dashboard lists the items due for a retest.
//
// Its defaults, and where they come from:
//
//   - Prohibited: e-scooters and e-bikes (issue 18: "e-scooters, e-bikes and other
//     configured categories are never allowed"), and with them what London Fire
//     Brigade's #ChargeSafe guidance names as the cause of most of their fires:
//     their lithium-ion batteries, their chargers and e-bike conversion kits, and
//     the other personal light electric vehicles, e-unicycles and hoverboards
//     ("The dangers of electric scooter and electric bicycle batteries",
//     london-fire.gov.uk/safety/lithium-batteries: 143 e-bike and 36 e-scooter
//     fires in London in 2023; "many of these fires are caused by incompatible
//     chargers, modifications to e-bikes, or faulty or counterfeit products ...
//     chargers, lithium batteries and conversion kits"). DefaultPATProhibited lists
//     them; they are always prohibited, and Prohibited adds to them.
//   - RetestMonths: the IET Code of Practice for In-service Inspection and Testing
//     of Electrical Equipment's suggested initial frequencies of combined
//     inspection and testing for "hotels, offices and shops" (3rd edition, table
//     7.1, as summarised at hampshirepattesting.co.uk/iee-guidelines-pat-testing:
//     Class I stationary 24 months, IT 24, movable 12, portable 12, hand-held 6;
//     Class II 24 for each type). The 4th (2012) and 5th (2020) editions leave the
//     interval to the duty holder's risk assessment and give longer indicative
//     figures for offices (IT 48 months, portable 24: interevery.co.uk's summary of
//     the 5th edition); an AP is residential, its items are residents' own and in
//     daily use, so apedge keeps the shorter figures. Class III (SELV, a visual
//     inspection only) is not in the table: apedge gives it Class II's 24 months.
//     A category the table does not name ("kitchen", "grooming") takes the
//     "default" row: Class I 12 months (portable), Class II and III 24.
//   - DueWithin: 14 days (issue 18, point 8: "a list of items due within 14
//     days").
type PAT struct {
	// Prohibited lists the categories, beyond DefaultPATProhibited, never allowed
	// in the AP: an item of one is registered as prohibited, to be removed, and is
	// never authorised.
	Prohibited []string `yaml:"prohibited,omitempty"`
	// RetestMonths gives, per category (and "default" for those not named), the
	// months a pass is good for per class. A class not given keeps the default
	// table's figure for that category (or the default row's).
	RetestMonths map[string]PATMonths `yaml:"retestMonths,omitempty"`
	// DueWithin is how far ahead the dashboard lists items due for a retest
	// (default 336h: 14 days).
	DueWithin time.Duration `yaml:"dueWithin,omitempty"`
	// Limits are the pass limits the agent holds every test record's figures
	// against (formats/pat.Limits.Check), whichever way the record comes: a
	// figure not given keeps formats/pat.DefaultLimits' (the IET Code of
	// Practice's, 5th edition, as tester makers publish them; that function says
	// where each comes from).
	Limits PATLimits `yaml:"limits,omitempty"`
}

// PATLimits are the pass limits of a test record's figures, per class (see
// formats/pat.Limits, which each field maps to); zero: the default.
type PATLimits struct {
	// EarthOhm is the highest Class I earth continuity, in ohms (default 0.2:
	// 0.1 Ω plus a 5 m cord of 1.0 mm²; 0.5 for a site with older equipment).
	EarthOhm float64 `yaml:"earthOhm,omitempty"`
	// InsulationMOhmClassI and InsulationMOhmClassII are the lowest insulation
	// resistances, in megohms (default 1 and 2).
	InsulationMOhmClassI  float64 `yaml:"insulationMOhmClassI,omitempty"`
	InsulationMOhmClassII float64 `yaml:"insulationMOhmClassII,omitempty"`
	// InsulationVolts are the insulation test voltages allowed (default 500 and
	// 250 V).
	InsulationVolts []int `yaml:"insulationVolts,omitempty"`
	// LeakageMAClassI and LeakageMAClassII are the highest protective conductor
	// and touch currents, in milliamps (default 5).
	LeakageMAClassI  float64 `yaml:"leakageMAClassI,omitempty"`
	LeakageMAClassII float64 `yaml:"leakageMAClassII,omitempty"`
	// ClassIIInspectionOnly lets a Class II item pass on its visual inspection
	// alone (default false).
	ClassIIInspectionOnly bool `yaml:"classIIInspectionOnly,omitempty"`
}

// Pat returns l as formats/pat's limits, its zero fields the defaults'.
func (l PATLimits) Pat() fpat.Limits {
	d := fpat.DefaultLimits()
	or := func(v, def float64) float64 {
		if v == 0 {
			return def
		}
		return v
	}
	d.EarthOhm = or(l.EarthOhm, d.EarthOhm)
	d.InsulationMOhmClassI = or(l.InsulationMOhmClassI, d.InsulationMOhmClassI)
	d.InsulationMOhmClassII = or(l.InsulationMOhmClassII, d.InsulationMOhmClassII)
	d.LeakageMAClassI = or(l.LeakageMAClassI, d.LeakageMAClassI)
	d.LeakageMAClassII = or(l.LeakageMAClassII, d.LeakageMAClassII)
	if len(l.InsulationVolts) > 0 {
		d.InsulationVolts = slices.Clone(l.InsulationVolts)
	}
	d.ClassIIInspectionOnly = l.ClassIIInspectionOnly
	return d
}

// PATMonths is a retest interval in months per class of an item (I, II, III);
// zero: not given.
type PATMonths struct {
	I   int `yaml:"I,omitempty"`
	II  int `yaml:"II,omitempty"`
	III int `yaml:"III,omitempty"`
}

// PATDefaultCategory is the key of RetestMonths that categories not named take.
const PATDefaultCategory = "default"

// DefaultPATDueWithin is PAT.DueWithin's default: 14 days.
const DefaultPATDueWithin = 14 * 24 * time.Hour

// MaxPATRetestMonths is the longest retest interval taken: ten years.
const MaxPATRetestMonths = 120

// DefaultPATProhibited returns the categories always prohibited (see [PAT]).
func DefaultPATProhibited() []string {
	return []string{
		"e-scooter", "e-bike",
		"e-scooter-battery", "e-bike-battery",
		"e-scooter-charger", "e-bike-charger",
		"e-bike-conversion-kit",
		"e-unicycle", "hoverboard",
	}
}

// DefaultPATRetestMonths returns the default retest intervals (see [PAT]), by
// category: the equipment types of the IET Code of Practice's table, and
// PATDefaultCategory.
func DefaultPATRetestMonths() map[string]PATMonths {
	return map[string]PATMonths{
		PATDefaultCategory: {I: 12, II: 24, III: 24},
		"stationary":       {I: 24, II: 24, III: 24},
		"it":               {I: 24, II: 24, III: 24},
		"movable":          {I: 12, II: 24, III: 24},
		"portable":         {I: 12, II: 24, III: 24},
		"hand-held":        {I: 6, II: 24, III: 24},
	}
}

// PATCategory returns category c as the register compares it: trimmed, lower
// case, each run of spaces and underscores one hyphen ("E Scooter" and
// "e_scooter" are "e-scooter").
func PATCategory(c string) string {
	f := strings.FieldsFunc(strings.ToLower(strings.TrimSpace(c)), func(r rune) bool { return r == ' ' || r == '_' || r == '\t' })
	return strings.Join(f, "-")
}

// validPATCategory says c (normalised) is a category: 1 to 64 bytes of valid
// UTF-8, no control characters.
func validPATCategory(c string) bool {
	if c == "" || len(c) > 64 || !utf8.ValidString(c) {
		return false
	}
	return !strings.ContainsFunc(c, func(r rune) bool { return r < ' ' || r == 0x7F || r >= 0x80 && r < 0xA0 })
}

// check sets the defaults of the pat section (the always-prohibited categories
// first in Prohibited, the default table under RetestMonths, DueWithin) and
// checks it.
func (p *PAT) check(c *checker) {
	prohibited := DefaultPATProhibited()
	for i, cat := range p.Prohibited {
		n := PATCategory(cat)
		if !validPATCategory(n) {
			c.add(fmt.Sprintf("pat.prohibited[%d]", i), fmt.Sprintf("%q", cat), "name a category, e.g. e-scooter or heater")
			continue
		}
		if !slices.Contains(prohibited, n) {
			prohibited = append(prohibited, n)
		}
	}
	p.Prohibited = prohibited

	months := DefaultPATRetestMonths()
	cats := slices.SortedFunc(maps.Keys(p.RetestMonths), func(a, b string) int { // the default row first: the others build on it
		rank := func(c string) int {
			if PATCategory(c) == PATDefaultCategory {
				return 0
			}
			return 1
		}
		return cmp.Or(cmp.Compare(rank(a), rank(b)), cmp.Compare(a, b))
	})
	for _, cat := range cats {
		m := p.RetestMonths[cat]
		f := "pat.retestMonths." + cat
		n := PATCategory(cat)
		if !validPATCategory(n) {
			c.add(f, fmt.Sprintf("%q is not a category", cat), "name a category, e.g. hand-held, kitchen or default")
			continue
		}
		base, ok := months[n]
		if !ok {
			base = months[PATDefaultCategory]
		}
		for _, v := range []struct {
			class string
			got   int
			to    *int
		}{{"I", m.I, &base.I}, {"II", m.II, &base.II}, {"III", m.III, &base.III}} {
			switch {
			case v.got < 0 || v.got > MaxPATRetestMonths:
				c.add(f+"."+v.class, fmt.Sprint(v.got), fmt.Sprintf("use 1 to %d months, or leave it out for the default", MaxPATRetestMonths))
			case v.got > 0:
				*v.to = v.got
			}
		}
		months[n] = base
	}
	p.RetestMonths = months

	if p.DueWithin == 0 {
		p.DueWithin = DefaultPATDueWithin
	}
	if p.DueWithin < 24*time.Hour || p.DueWithin > 90*24*time.Hour {
		c.add("pat.dueWithin", p.DueWithin.String(), "use 24h to 2160h (90 days); 336h (14 days) is usual")
	}
	if err := p.Limits.Pat().Validate(); err != nil {
		c.add("pat.limits", strings.TrimPrefix(err.Error(), "pat: limits: "), "give positive figures, and test voltages of 1 to 1000 V")
	}
}
