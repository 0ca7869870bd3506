package agent_test

import (
	"fmt"
	"testing"

	"github.com/apedge/apedge/agent"
	"github.com/apedge/apedge/formats/sitebus"
)

// TestSubstanceTesterStatus: a configured substance tester's status is kept as the
// bridge reported it; one under another class, or an unconfigured one, is refused.
func TestSubstanceTesterStatus(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	a, _, _ := s.startAgent()
	subscribed(t, a)
	pub := sitebus.NewPublisher(s.bus, site, "boot-a", s.clock)
	st := sitebus.SubstanceTesterStatus{Online: true, Kind: sitebus.TesterBreathAlcohol, Serial: "BA-1001", Firmware: "2.1",
		CalibrationDue: "2027-03-01", SelfCheck: "pass"}
	if _, err := pub.Publish(t.Context(), sitebus.ClassSubstanceTester, "breath-1", sitebus.KindState, sitebus.SubstanceStatusKind, st); err != nil {
		t.Fatal(err)
	}
	var got []agent.SubstanceTesterView
	s.waitFor("breath-1's status", func() (bool, string) {
		got = a.Devices().SubstanceTesters
		return len(got) == 1, fmt.Sprintf("%+v", got)
	})
	if v := got[0]; v.ID != "breath-1" || v.SubstanceTesterStatus != st {
		t.Errorf("tester %+v, want the status as sent", v)
	}
	refused := a.Stats().Refused
	for _, tp := range []struct{ class, id string }{{sitebus.ClassCamera, "breath-1"}, {sitebus.ClassSubstanceTester, "breath-9"}} {
		if _, err := pub.Publish(t.Context(), tp.class, tp.id, sitebus.KindState, sitebus.SubstanceStatusKind, st); err != nil {
			t.Fatal(err)
		}
	}
	s.waitFor("two refusals", func() (bool, string) { return a.Stats().Refused == refused+2, fmt.Sprintf("%+v", a.Stats()) })
	if n := len(a.Devices().SubstanceTesters); n != 1 {
		t.Errorf("%d testers, want the configured one only", n)
	}
}
