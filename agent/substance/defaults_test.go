package substance_test

import (
	"slices"
	"testing"
	"time"

	"github.com/apedge/apedge/agent/substance"
	dsub "github.com/apedge/apedge/devices/substance"
	"github.com/apedge/apedge/formats/sitebus"
)

// TestDefaultsAgreeWithDevices: the defaults this package mirrors (the agent may
// not import the device layer: internal/archtest) are the device layer's, and its
// cut-off tables are a configuration New takes.
func TestDefaultsAgreeWithDevices(t *testing.T) {
	if substance.DefaultBreathLimitUg != dsub.DefaultBreathAlcoholLimitUg {
		t.Errorf("DefaultBreathLimitUg %v, devices/substance says %v", substance.DefaultBreathLimitUg, dsub.DefaultBreathAlcoholLimitUg)
	}
	drugs := slices.DeleteFunc(slices.Clone(sitebus.Panels), func(p string) bool { return p == sitebus.PanelAlcohol })
	if !slices.Equal(drugs, dsub.DrugPanels()) {
		t.Errorf("drug panels %v, devices/substance says %v", drugs, dsub.DrugPanels())
	}
	e := must(t).E(substance.New(substance.Config{OralFluidCutoffs: dsub.DefaultOralFluidCutoffs(), UrineCutoffs: dsub.DefaultUrineCutoffs()}))
	id := start(t, e, urineStart("X123456", t0))
	panels := map[string]string{}
	for _, p := range dsub.DrugPanels() {
		panels[p] = sitebus.ResultNegative
	}
	s := screen(t, must(t).D(e.UrineResult(id, "CUP-1", "2027-01-01", panels, "Jo Day", t0.Add(time.Minute))))
	if len(s.Panels) != len(dsub.DrugPanels()) || s.Outcome != substance.OutcomeNegative {
		t.Fatalf("screen %+v", s)
	}
	for _, p := range s.Panels {
		if want := dsub.DefaultUrineCutoffs()[p.Panel]; p.CutoffNgMl != want {
			t.Errorf("%s cut-off %v, want %v", p.Panel, p.CutoffNgMl, want)
		}
	}
}
