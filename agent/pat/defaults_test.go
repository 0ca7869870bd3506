package pat_test

import (
	"slices"
	"testing"

	"github.com/apedge/apedge/agent/pat"
	fpat "github.com/apedge/apedge/formats/pat"
	"github.com/apedge/apedge/internal/config"
)

// TestDefaultsAreTheConfigs: an engine of the zero Config has internal/config's
// defaults, and one of a loaded configuration's PAT section (laid over them
// already) the same intervals.
func TestDefaultsAreTheConfigs(t *testing.T) {
	e := must(t).E(pat.New(pat.Config{}))
	c := e.Config()
	if !slices.Equal(c.Prohibited, config.DefaultPATProhibited()) || c.DueWithin != config.DefaultPATDueWithin {
		t.Errorf("config %+v", c)
	}
	for cat, m := range config.DefaultPATRetestMonths() {
		for class, want := range map[fpat.Class]int{fpat.ClassI: m.I, fpat.ClassII: m.II, fpat.ClassIII: m.III} {
			if got := e.RetestMonths(cat, class); got != want {
				t.Errorf("%s class %s: %d months, config says %d", cat, class, got, want)
			}
		}
	}
	for _, p := range config.DefaultPATProhibited() {
		if !e.Prohibited(p) {
			t.Errorf("%s is not prohibited", p)
		}
	}
	if e.RetestMonths("kitchen", fpat.ClassI) != 12 || e.RetestMonths("Hand Held", fpat.ClassI) != 6 || e.RetestMonths("it", fpat.ClassII) != 24 {
		t.Error("lookups of a category not in the table, or not normalised")
	}
}

// TestConfig: what New takes and refuses.
func TestConfig(t *testing.T) {
	e := must(t).E(pat.New(pat.Config{Prohibited: []string{"e-bike", "Candle Warmer"},
		RetestMonths: map[string]map[fpat.Class]int{"Kitchen": {fpat.ClassI: 6}, "default": {fpat.ClassII: 36}}}))
	if want := append(config.DefaultPATProhibited(), "candle-warmer"); !slices.Equal(e.Config().Prohibited, want) {
		t.Errorf("prohibited %q, want %q", e.Config().Prohibited, want)
	}
	for _, c := range []struct {
		cat   string
		class fpat.Class
		want  int
	}{{"kitchen", fpat.ClassI, 6}, {"kitchen", fpat.ClassII, 24}, {"grooming", fpat.ClassII, 36}, {"hand-held", fpat.ClassI, 6}} {
		if got := e.RetestMonths(c.cat, c.class); got != c.want {
			t.Errorf("%s class %s: %d months, want %d", c.cat, c.class, got, c.want)
		}
	}
	for name, c := range map[string]pat.Config{
		"blank prohibited":    {Prohibited: []string{" "}},
		"zero months":         {RetestMonths: map[string]map[fpat.Class]int{"kitchen": {fpat.ClassI: 0}}},
		"too many months":     {RetestMonths: map[string]map[fpat.Class]int{"kitchen": {fpat.ClassI: 121}}},
		"no such class":       {RetestMonths: map[string]map[fpat.Class]int{"kitchen": {"IV": 12}}},
		"blank category":      {RetestMonths: map[string]map[fpat.Class]int{"  ": {fpat.ClassI: 12}}},
		"negative due within": {DueWithin: -1},
	} {
		if _, err := pat.New(c); err == nil {
			t.Errorf("%s: New took %+v", name, c)
		} else {
			wantErr(t, err, pat.ErrInvalid)
		}
	}
}
