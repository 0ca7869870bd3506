package agent

import (
	"context"
	"encoding/json"
	"time"

	"github.com/apedge/apedge/agent/curfew"
	"github.com/apedge/apedge/agent/register"
	"github.com/apedge/apedge/formats/event"
	"github.com/apedge/apedge/internal/config"
)

// setRoster makes roster the agent's roster and indexes its credentials.
func (a *Agent) setRoster(roster []config.Resident) {
	cards := map[string]*config.Resident{}
	for i := range roster {
		for _, c := range roster[i].Cards {
			cards[c] = &roster[i]
		}
	}
	a.rosterMu.Lock()
	a.roster, a.cards = roster, cards
	a.rosterMu.Unlock()
}

// rosterNow returns the agent's roster.
func (a *Agent) rosterNow() []config.Resident {
	a.rosterMu.RLock()
	defer a.rosterMu.RUnlock()
	return a.roster
}

// personOf is the person reference of the resident of crn: CRN, and NOMS when the
// roster has it; nil for no CRN.
func (a *Agent) personOf(crn string) *event.PersonReference {
	if crn == "" {
		return nil
	}
	ids := []event.Identifier{{Type: "CRN", Value: crn}}
	if r, ok := a.resident(crn); ok && r.NOMS != "" {
		ids = append(ids, event.Identifier{Type: "NOMS", Value: r.NOMS})
	}
	return &event.PersonReference{Identifiers: ids}
}

// resident returns the roster entry of the resident of CRN crn.
func (a *Agent) resident(crn string) (config.Resident, bool) {
	for _, r := range a.rosterNow() {
		if r.IsResident() && r.CRN == crn {
			return r, true
		}
	}
	return config.Resident{}, false
}

// registerEvents names the event journaled for each register action.
var registerEvents = map[string]struct{ typ, desc string }{
	register.Arrive:  {"resident.arrived", "a resident's arrival recorded by staff"},
	register.Depart:  {"resident.departed", "a resident's departure recorded by staff: every credential revoked"},
	register.Absence: {"resident.absence-approved", "an approved absence recorded by staff: curfew windows suspended for its span"},
	register.Update:  {"resident.updated", "a resident's details changed by staff: each field changed with its old and new value"},
}

// applyRegister applies the register's changes since the last one applied, journals
// each (once: its origin is its number) and, if anything changed, gives the bridge
// the new credential list and the curfew engine the new roster.
func (a *Agent) applyRegister(ctx context.Context) error {
	changes, err := a.reg.Since(ctx, a.regN)
	if err != nil || len(changes) == 0 {
		return err
	}
	roster := a.rosterNow()
	for _, c := range changes {
		a.regN = c.N
		diff := register.Diff(roster, c) // as the agent holds the roster, before the change
		next, err := register.Apply(roster, c, curfew.London())
		if err != nil {
			a.log.Error("register change not applied", "change", c.N, "err", err)
			continue
		}
		if err := config.CheckRoster(next); err != nil {
			a.log.Error("register change not applied: the roster would not be valid", "change", c.N, "err", err)
			continue
		}
		roster = next
		info := map[string]any{"change": c.N, "recordedBy": c.By, "recordedAt": c.At}
		switch {
		case c.Person != nil:
			info["name"], info["room"], info["cards"], info["expectedDeparture"] = c.Person.Name, c.Person.Room, c.Person.Cards, c.Person.ExpectedDeparture
		case c.Absence != nil:
			info["absence"] = c.Absence
		case c.Update != nil:
			info["changes"] = diff
			for _, r := range roster {
				if r.IsResident() && r.CRN == c.CRN {
					info["name"], info["room"] = r.Name, r.Room // as they are now
				}
			}
		}
		b, _ := json.Marshal(info)
		ids := []event.Identifier{{Type: "CRN", Value: c.CRN}}
		for _, r := range roster {
			if r.IsResident() && r.CRN == c.CRN && r.NOMS != "" {
				ids = append(ids, event.Identifier{Type: "NOMS", Value: r.NOMS})
			}
		}
		ev := registerEvents[c.Action]
		if _, err := a.append(ctx, &event.Draft{Type: ev.typ, OccurredAt: c.At, Description: ev.desc,
			Person: &event.PersonReference{Identifiers: ids}, Info: b, Origin: "register:" + jsonNumber(c.N)}); err != nil {
			return err
		}
	}
	a.setRoster(roster)
	now := a.curfew.clock.Now()
	people, err := curfewPeople(a, now)
	if err != nil {
		a.log.Error("curfew roster", "err", err)
	} else {
		a.curfew.mu.Lock()
		a.curfew.eng.SetPeople(people, now)
		a.curfew.mu.Unlock()
	}
	a.changes.fire()
	a.mu.Lock()
	a.listVersion++
	a.mu.Unlock()
	if a.busUp.Load() {
		a.publishCredentials(a.out)
	}
	return nil
}

func jsonNumber(n int64) string { b, _ := json.Marshal(n); return string(b) }

// watchRegister applies new register changes every second, and at once when the
// agent records one itself, until ctx ends.
func (a *Agent) watchRegister(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-a.regKick:
		}
		if err := a.applyRegister(ctx); err != nil && ctx.Err() == nil {
			a.log.Error("register", "err", err)
		}
	}
}
