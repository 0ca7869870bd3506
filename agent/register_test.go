package agent_test

import (
	"context"
	"slices"
	"testing"

	"github.com/apedge/apedge/agent/register"
	"github.com/apedge/apedge/formats/sitebus"
	"github.com/apedge/apedge/internal/broker/brokertest"
	"github.com/apedge/apedge/internal/config"
)

// TestRegisterArrivalAndDeparture: an arrival recorded by staff opens the doors to the
// resident's card and is journaled with who recorded it; on departure the card is
// revoked at once (a new credential list) and a read of it is attributed to nobody.
func TestRegisterArrivalAndDeparture(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	lists := brokertest.Subscribe(t, brokertest.Client(t, s.broker.URL(), "bridge-lists"), sitebus.CredentialsTopic(site))
	a, _, _ := s.startAgent()
	subscribed(t, a)
	listHas := func(card string, want bool) {
		t.Helper()
		s.waitFor("credential list with "+card+" "+map[bool]string{true: "in", false: "out"}[want], func() (bool, string) {
			for {
				select {
				case m := <-lists:
					l, err := sitebus.VerifyCredentialList(m.Payload(), s.key.Public())
					if err != nil {
						t.Fatal(err)
					}
					if slices.ContainsFunc(l.Credentials, func(c sitebus.Allowed) bool { return c.ID == card }) == want {
						return true, ""
					}
				default:
					return false, ""
				}
			}
		})
	}
	reg, err := register.Open(context.Background(), register.Path(s.cfg.Database))
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	at := s.clock.Now()
	if _, err := reg.Record(t.Context(), register.Change{Action: register.Arrive, CRN: "X100009", By: "staff-7", At: at,
		Person: &config.Resident{CRN: "X100009", Name: "New Resident", Room: "4", Cards: []string{"12:10009"}}}); err != nil {
		t.Fatal(err)
	}
	s.waitTypes(a, "resident.arrived")
	listHas("12:10009", true)

	if _, err := reg.Record(t.Context(), register.Change{Action: register.Depart, CRN: "X100009", By: "staff-8", At: s.clock.Now()}); err != nil {
		t.Fatal(err)
	}
	s.waitTypes(a, "resident.departed")
	listHas("12:10009", false)

	for _, ev := range s.events(a) {
		if ev.Type == "approved-premises.resident.arrived" || ev.Type == "approved-premises.resident.departed" {
			if p := ev.Data.PersonReference; p == nil || p.Identifiers[0].Value != "X100009" {
				t.Errorf("%s names %+v, want X100009", ev.Type, p)
			}
		}
	}
	// The departed resident's card is attributed to nobody.
	pub := sitebus.NewPublisher(s.bus, site, "boot-r", s.clock)
	if _, err := pub.PublishAt(t.Context(), s.clock.Now(), sitebus.ClassReader, "front-in", sitebus.KindEvent, "card-read", cardRead("front", "entry", "10009")); err != nil {
		t.Fatal(err)
	}
	s.waitTypes(a, "movement.entered")
	for _, ev := range s.events(a) {
		if ev.Type == "approved-premises.movement.entered" && ev.Data.PersonReference != nil {
			t.Errorf("a departed resident's read attributed to %+v", ev.Data.PersonReference)
		}
	}
}
