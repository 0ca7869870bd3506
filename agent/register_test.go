package agent_test

import (
	"context"
	"encoding/json"
	"fmt"
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

// TestRegisterUpdateAndSecondArrival: an update recorded by staff changes the
// resident's details and cards (the old card is revoked, the new one opens the doors)
// and is journaled as resident.updated with each field's old and new value and who
// made it; a second arrival of a resident in residence that reached the register (as
// an older apedge recorded it, unchecked) is not applied: nothing of the first is lost.
func TestRegisterUpdateAndSecondArrival(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	lists := brokertest.Subscribe(t, brokertest.Client(t, s.broker.URL(), "bridge-lists"), sitebus.CredentialsTopic(site))
	a, _, _ := s.startAgent()
	subscribed(t, a)
	reg, err := register.Open(t.Context(), register.Path(s.cfg.Database))
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	record := func(c register.Change) {
		t.Helper()
		c.At = s.clock.Now()
		if _, err := reg.Record(t.Context(), c); err != nil {
			t.Fatal(err)
		}
	}
	record(register.Change{Action: register.Arrive, CRN: "X100009", By: "staff-7",
		Person: &config.Resident{CRN: "X100009", NOMS: "A1009AA", Name: "New Resident", Room: "4", ExpectedDeparture: "2026-09-01", Cards: []string{"12:10009"}}})
	s.waitTypes(a, "resident.arrived")
	record(register.Change{Action: register.Arrive, CRN: "X100009", By: "staff-8",
		Person: &config.Resident{CRN: "X100009", Name: "Someone Else", Cards: []string{"12:10019"}}})
	room, cards := "7", []string{"12:10029"}
	record(register.Change{Action: register.Update, CRN: "X100009", By: "staff-9", Update: &register.Details{Room: &room, Cards: &cards}})
	s.waitTypes(a, "resident.updated")
	s.waitFor("the update applied", func() (bool, string) {
		for _, p := range a.Roster() {
			if p.CRN == "X100009" {
				return p.Room == "7", fmt.Sprintf("%+v", p)
			}
		}
		return false, "not on the roster"
	})
	for _, p := range a.Roster() {
		if p.CRN == "X100009" && (p.Name != "New Resident" || p.NOMS != "A1009AA" || p.ExpectedDeparture != "2026-09-01" || !slices.Equal(p.Cards, cards)) {
			t.Errorf("after a second arrival and an update the resident is %+v: want the first arrival's details with room 7 and card 12:10029", p)
		}
	}
	arrivals := 0
	for _, ev := range s.events(a) {
		switch ev.Type {
		case "approved-premises.resident.arrived":
			arrivals++
		case "approved-premises.resident.updated":
			var info struct {
				Changes    []register.FieldChange
				RecordedBy string
				Name, Room string
			}
			if err := json.Unmarshal(ev.Data.AdditionalInformation, &info); err != nil {
				t.Fatal(err)
			}
			want := []register.FieldChange{{Field: "room", Old: "4", New: "7"}, {Field: "cards", Old: "12:10009", New: "12:10029"}}
			if !slices.Equal(info.Changes, want) || info.RecordedBy != "staff-9" || info.Name != "New Resident" || info.Room != "7" {
				t.Errorf("resident.updated says %s, want changes %+v by staff-9", ev.Data.AdditionalInformation, want)
			}
			if id := ev.Data.PersonReference; id == nil || id.Identifiers[0].Value != "X100009" || len(id.Identifiers) != 2 || id.Identifiers[1].Value != "A1009AA" {
				t.Errorf("resident.updated names %+v", id)
			}
		}
	}
	if arrivals != 1 {
		t.Errorf("%d arrivals journaled, want the first only", arrivals)
	}
	s.waitFor("a credential list with 12:10029 and without 12:10009 or 12:10019", func() (bool, string) {
		for {
			select {
			case m := <-lists:
				l, err := sitebus.VerifyCredentialList(m.Payload(), s.key.Public())
				if err != nil {
					t.Fatal(err)
				}
				has := func(id string) bool {
					return slices.ContainsFunc(l.Credentials, func(c sitebus.Allowed) bool { return c.ID == id })
				}
				if has("12:10029") && !has("12:10009") && !has("12:10019") {
					return true, ""
				}
			default:
				return false, ""
			}
		}
	})
}
