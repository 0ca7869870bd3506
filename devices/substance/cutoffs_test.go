package substance

import (
	"math"
	"slices"
	"testing"
)

// sitebusPanels is sitebus.Panels as formats/sitebus/substance.go lists it (a
// device package does not import sitebus, even in tests): DrugPanels must be it,
// in its order, without "alcohol".
var sitebusPanels = []string{"amphetamine", "methamphetamine", "mdma", "cocaine", "opiates", "morphine",
	"methadone", "buprenorphine", "benzodiazepines", "thc", "synthetic-cannabinoids",
	"pregabalin", "gabapentin", "ketamine", "fentanyl", "alcohol"}

func TestDrugPanels(t *testing.T) {
	want := slices.DeleteFunc(slices.Clone(sitebusPanels), func(p string) bool { return p == "alcohol" })
	if got := DrugPanels(); !slices.Equal(got, want) {
		t.Errorf("DrugPanels() = %v, want %v", got, want)
	}
	// A new slice every time: a caller's changes do not leak.
	DrugPanels()[0] = "changed"
	if DrugPanels()[0] != "amphetamine" {
		t.Error("DrugPanels shares its slice")
	}
	for _, p := range sitebusPanels {
		if got, want := isDrugPanel(p), p != "alcohol"; got != want {
			t.Errorf("isDrugPanel(%q) = %v, want %v", p, got, want)
		}
	}
	for _, p := range []string{"", "alcohol", "THC", "cannabis", "opiate", "amphetamine "} {
		if isDrugPanel(p) {
			t.Errorf("isDrugPanel(%q) = true", p)
		}
	}
}

func TestDefaultCutoffs(t *testing.T) {
	tables := []struct {
		name string
		get  func() Cutoffs
	}{
		{"oral fluid", DefaultOralFluidCutoffs},
		{"urine", DefaultUrineCutoffs},
	}
	for _, tb := range tables {
		c := tb.get()
		for _, p := range sitebusPanels {
			v, ok := c[p]
			switch {
			case p == "alcohol":
				if ok {
					t.Errorf("%s: a cut-off for alcohol (%v): its limit is DefaultBreathAlcoholLimitUg", tb.name, v)
				}
			case !ok:
				t.Errorf("%s: no default cut-off for %s", tb.name, p)
			case !(v > 0) || math.IsInf(v, 0):
				t.Errorf("%s: cut-off for %s is %v, want a positive number", tb.name, p, v)
			}
		}
		for p := range c {
			if !isDrugPanel(p) {
				t.Errorf("%s: cut-off for %q, which is not a drug panel", tb.name, p)
			}
		}
		// A new map every time.
		c["thc"] = -1
		if tb.get()["thc"] <= 0 {
			t.Errorf("%s: the defaults share their map", tb.name)
		}
	}
	if !(DefaultBreathAlcoholLimitUg > 0 && DefaultBreathAlcoholLimitUg < 35) {
		t.Errorf("DefaultBreathAlcoholLimitUg = %v, want under the drink-drive limit of 35", DefaultBreathAlcoholLimitUg)
	}
}

// TestOralFluidUnderUrine: the oral-fluid cut-off of a panel is never over the urine
// one (drugs and their metabolites are at lower concentrations in oral fluid than in
// urine: a table with them the other way round has a slip in it).
func TestOralFluidUnderUrine(t *testing.T) {
	of, ur := DefaultOralFluidCutoffs(), DefaultUrineCutoffs()
	for _, p := range DrugPanels() {
		if of[p] > ur[p] {
			t.Errorf("%s: oral fluid %v ng/ml over urine %v ng/ml", p, of[p], ur[p])
		}
	}
}
