package config_test

import (
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"

	fpat "github.com/apedge/apedge/formats/pat"
	"github.com/apedge/apedge/internal/config"
)

func TestLoadAgentPAT(t *testing.T) {
	dir := t.TempDir()
	writeAgentFiles(t, dir)
	a, err := config.LoadAgent(writeFile(t, dir, "agent.yaml", minimalAgent, 0o644))
	if err != nil {
		t.Fatal(err)
	}
	if p := a.PAT; !slices.Equal(p.Prohibited, config.DefaultPATProhibited()) || !reflect.DeepEqual(p.RetestMonths, config.DefaultPATRetestMonths()) ||
		p.DueWithin != 14*24*time.Hour {
		t.Errorf("defaults %+v", p)
	}
	if m := config.DefaultPATRetestMonths(); m["default"] != (config.PATMonths{I: 12, II: 24, III: 24}) || m["hand-held"].I != 6 || m["it"].I != 24 {
		t.Errorf("default table %+v", m)
	}

	a, err = config.LoadAgent(writeFile(t, dir, "agent.yaml", minimalAgent+`pat:
  prohibited: [Fan Heater, e_bike, candle-warmer]
  retestMonths:
    kitchen: {I: 6}
    Hand Held: {II: 12}
    default: {II: 36}
  dueWithin: 168h
`, 0o644))
	if err != nil {
		t.Fatal(err)
	}
	p := a.PAT
	if want := append(config.DefaultPATProhibited(), "fan-heater", "candle-warmer"); !slices.Equal(p.Prohibited, want) {
		t.Errorf("prohibited %q, want %q (the built-in ones always, e_bike once)", p.Prohibited, want)
	}
	for _, c := range []struct {
		cat  string
		want config.PATMonths
	}{
		{"kitchen", config.PATMonths{I: 6, II: 36, III: 24}}, // not in the table: the configured default row's other classes
		{"hand-held", config.PATMonths{I: 6, II: 12, III: 24}},
		{"default", config.PATMonths{I: 12, II: 36, III: 24}},
		{"it", config.PATMonths{I: 24, II: 24, III: 24}}, // untouched
	} {
		if got := p.RetestMonths[c.cat]; got != c.want {
			t.Errorf("retestMonths[%s] %+v, want %+v", c.cat, got, c.want)
		}
	}
	if p.DueWithin != 7*24*time.Hour {
		t.Errorf("dueWithin %v", p.DueWithin)
	}
	if l := a.PAT.Limits.Pat(); !reflect.DeepEqual(l, fpat.DefaultLimits()) {
		t.Errorf("limits %+v, want the defaults when none are given", l)
	}
	a, err = config.LoadAgent(writeFile(t, dir, "agent.yaml", minimalAgent+"pat: {limits: {earthOhm: 0.5, insulationVolts: [500], leakageMAClassII: 0.25}}\n", 0o644))
	if err != nil {
		t.Fatal(err)
	}
	want := fpat.DefaultLimits()
	want.EarthOhm, want.InsulationVolts, want.LeakageMAClassII = 0.5, []int{500}, 0.25
	if l := a.PAT.Limits.Pat(); !reflect.DeepEqual(l, want) {
		t.Errorf("limits %+v, want %+v (those given, the defaults for the others)", l, want)
	}

	for _, c := range []struct{ yaml, field string }{
		{"pat: {prohibited: ['  ']}\n", "pat.prohibited[0]"},
		{"pat: {retestMonths: {kitchen: {I: -1}}}\n", "pat.retestMonths.kitchen.I"},
		{"pat: {retestMonths: {kitchen: {III: 121}}}\n", "pat.retestMonths.kitchen.III"},
		{"pat: {retestMonths: {' ': {I: 6}}}\n", "pat.retestMonths. "},
		{"pat: {dueWithin: 1h}\n", "pat.dueWithin"},
		{"pat: {dueWithin: 2400h}\n", "pat.dueWithin"},
		{"pat: {limits: {earthOhm: -0.1}}\n", "pat.limits"},
		{"pat: {limits: {insulationVolts: [5000]}}\n", "pat.limits"},
	} {
		_, err := config.LoadAgent(writeFile(t, dir, "bad.yaml", minimalAgent+c.yaml, 0o644))
		var ce *config.Error
		if !errors.As(err, &ce) || !slices.ContainsFunc(ce.Problems, func(p config.Problem) bool { return p.Field == c.field }) {
			t.Errorf("%s: %v, want a problem with %s", c.yaml, err, c.field)
		}
	}
}

func TestPATCategory(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"e-scooter", "e-scooter"},
		{"  E Scooter ", "e-scooter"},
		{"e_bike", "e-bike"},
		{"Hand  Held", "hand-held"},
		{"", ""},
		{" \t ", ""},
	} {
		if got := config.PATCategory(c.in); got != c.want {
			t.Errorf("PATCategory(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
