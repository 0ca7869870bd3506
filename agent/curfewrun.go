package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"strings"
	"sync"
	"time"

	"github.com/apedge/apedge/agent/curfew"
	"github.com/apedge/apedge/formats/event"
	"github.com/apedge/apedge/internal/clock"
)

// curfewRun decides curfew events from movements and the residents' windows
// (package curfew), journaling each decision once: its origin is its decision key, so
// even a repeat after a crash is journaled only once.
type curfewRun struct {
	a     *Agent
	clock clock.Clock
	check ClockCheck
	every time.Duration

	mu     sync.Mutex
	eng    *curfew.Engine
	synced bool              // the clock was last found right
	held   []curfew.Movement // movements while the clock was not known to be right
	kick   chan struct{}
	// journaling is held (read) by each device message being journaled and handed
	// to the engine, and taken (write) by decide before it reads held: a movement
	// durable in the journal before a decision is always applied before it, even when
	// the clock crosses a window's start in between.
	journaling sync.RWMutex
}

func newCurfewRun(a *Agent, clk clock.Clock) (*curfewRun, error) {
	people, err := curfewPeople(a, clk.Now())
	if err != nil {
		return nil, err
	}
	eng := curfew.NewEngine(curfew.Config{Grace: a.cfg.Curfew.Grace, Loc: curfew.London()})
	eng.SetPeople(people, clk.Now())
	return &curfewRun{a: a, clock: clk, check: newClockCheck(a.cfg.Curfew), every: a.cfg.Curfew.ClockEvery,
		eng: eng, kick: make(chan struct{}, 1)}, nil
}

// curfewPeople are the residents on the roster at now, with their schedules.
func curfewPeople(a *Agent, now time.Time) ([]curfew.Person, error) {
	today := now.In(curfew.London()).Format(time.DateOnly)
	var people []curfew.Person
	roster := a.rosterNow()
	for i := range roster {
		r := &roster[i]
		if !r.IsResident() {
			continue
		}
		s, err := Schedule(r)
		if err != nil {
			return nil, err
		}
		p := curfew.Person{CRN: r.CRN, NOMS: r.NOMS, Schedule: s}
		if r.Arrived != "" {
			if d, err := curfew.ParseDate(r.Arrived); err == nil {
				p.Since = curfew.Boundary(d, curfew.TimeOfDay{}, curfew.London())
			}
		}
		if r.Departed != "" && !r.PresentOn(today) {
			continue // gone: nothing more is decided about them
		}
		people = append(people, p)
	}
	return people, nil
}

// curfewRestore rebuilds the engine from the journal so that a restart neither repeats nor
// misses a decision. The epoch is the last start of an agent that ran the curfew
// engine (agent.started with curfewEngine): everything since is decided again, and
// what was already journaled is suppressed by its decision key (Done); movements since
// then are replayed as new, so that a decision a crash cut off is made now, and older
// ones only rebuild presence. With no such start (a new site) the epoch is now.
// It is given the journal's events in order by replayJournal (restoreEvent), then
// finishes with restoreDone.
type curfewRestore struct {
	epoch time.Time
	moves []restoredMove
}

type restoredMove struct {
	m  curfew.Movement
	at time.Time
}

// restoreEvent takes one journaled event into r.
func (c *curfewRun) restoreEvent(r *curfewRestore, ev *event.Event) {
	typ := strings.TrimPrefix(ev.Type, event.TypePrefix)
	at, _ := time.Parse(time.RFC3339Nano, ev.Data.OccurredAt)
	var info struct {
		DecisionKey  string `json:"decisionKey"`
		CurfewEngine bool   `json:"curfewEngine"`
	}
	json.Unmarshal(ev.Data.AdditionalInformation, &info)
	switch {
	case typ == "agent.started" && info.CurfewEngine:
		r.epoch = at
	case info.DecisionKey != "":
		c.eng.Done(info.DecisionKey)
	case typ == "movement.entered" || typ == "movement.exited":
		if m, ok := movementOf(ev.Data.PersonReference, typ, ev.ID, at); ok {
			r.moves = append(r.moves, restoredMove{m, at})
		}
	}
}

// restoreDone sets the engine's epoch and presence from what r gathered.
func (c *curfewRun) restoreDone(r *curfewRestore) {
	if r.epoch.IsZero() {
		r.epoch = c.clock.Now()
	}
	c.eng.SetEpoch(r.epoch)
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, mv := range r.moves {
		if mv.at.Before(r.epoch) {
			c.eng.Seen(mv.m)
		} else {
			c.held = append(c.held, mv.m)
		}
	}
}

// movementOf is the curfew movement of movement event id (type typ) of the resident p,
// if p names one by CRN.
func movementOf(p *event.PersonReference, typ, id string, at time.Time) (curfew.Movement, bool) {
	if p == nil || (typ != "movement.entered" && typ != "movement.exited") {
		return curfew.Movement{}, false
	}
	for _, ident := range p.Identifiers {
		if ident.Type == "CRN" {
			dir := "entry"
			if typ == "movement.exited" {
				dir = "exit"
			}
			return curfew.Movement{CRN: ident.Value, At: at, Direction: dir, Ref: id}, true
		}
	}
	return curfew.Movement{}, false
}

// maxAhead is how far ahead of the agent's clock a movement's time may be.
const maxAhead = time.Minute

// moved takes a movement the journal has just made durable.
func (c *curfewRun) moved(ctx context.Context, rec *event.Draft, id string) {
	m, ok := movementOf(rec.Person, rec.Type, id, rec.OccurredAt)
	if !ok {
		return
	}
	// The agent's clock, checked, is the authority: a movement the bridge dates ahead
	// of it (a bridge clock gone wrong) counts as happening now.
	if now := c.clock.Now(); m.At.After(now.Add(maxAhead)) {
		c.a.log.Warn("movement dated ahead of the agent's clock; taken as now", "event", id, "at", m.At, "now", now)
		m.At = now
	}
	c.mu.Lock()
	c.held = append(c.held, m)
	c.mu.Unlock()
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

// run checks the clock, applies movements and the passage of time, and journals the
// decisions, until ctx ends.
func (c *curfewRun) run(ctx context.Context) error {
	var nextCheck time.Time
	unsyncedSaid := false
	for {
		now := c.clock.Now()
		if !now.Before(nextCheck) {
			ok, detail, err := c.check(ctx)
			if err != nil {
				ok, detail = false, err.Error()
			}
			c.mu.Lock()
			was := c.synced
			c.synced = ok
			c.mu.Unlock()
			switch {
			case !ok && !unsyncedSaid:
				unsyncedSaid = true
				c.a.log.Error("clock not synchronised: curfew decisions held until it is", "detail", detail)
				info, _ := json.Marshal(map[string]any{"detail": detail, "check": c.a.cfg.Curfew.ClockCheck})
				if _, err := c.a.append(ctx, &event.Draft{Type: "agent.clock-unsynced", OccurredAt: now,
					Description: "the agent's clock is not known to be right: curfew decisions held", Info: info}); err != nil {
					return err
				}
			case ok && !was:
				if unsyncedSaid {
					c.a.log.Info("clock synchronised: curfew decisions resume", "detail", detail)
				}
				unsyncedSaid = false
			}
			nextCheck = now.Add(c.every)
		}
		if err := c.decide(ctx, now); err != nil {
			return err
		}
		until := nextCheck
		c.mu.Lock()
		if next := c.eng.Next(now); !next.IsZero() && next.Before(until) {
			until = next
		}
		c.mu.Unlock()
		select {
		case <-ctx.Done():
			return nil
		case <-c.kick:
		case <-c.clock.Until(until):
		}
	}
}

// decide applies held movements and time up to now, if the clock is right, and
// journals what follows.
func (c *curfewRun) decide(ctx context.Context, now time.Time) error {
	c.journaling.Lock()
	c.mu.Lock()
	c.journaling.Unlock() // every movement journaled so far is in held now
	if !c.synced {
		c.mu.Unlock()
		return nil
	}
	held := c.held
	c.held = nil
	var ds []curfew.Decision
	// Time up to each movement first, then the movement: decisions keep their order.
	for _, m := range held {
		ds = append(ds, c.eng.Advance(m.At)...)
		ds = append(ds, c.eng.Move(m)...)
	}
	ds = append(ds, c.eng.Advance(now)...)
	c.mu.Unlock()
	if len(held) > 0 {
		c.a.changes.fire() // presence changed
	}
	for _, d := range ds {
		if err := c.journal(ctx, d); err != nil {
			return err
		}
	}
	return nil
}

var curfewDescriptions = map[string]string{
	"curfew.breached":       "left during a curfew window",
	"curfew.absent":         "not in when a curfew window started",
	"curfew.returned-late":  "came back during a curfew window after being absent at its start",
	"curfew.roll":           "roll at the start of the AP curfew: who is in, out and unknown",
	"presence.inconsistent": "a movement that does not follow from the last one (kept as evidence)",
}

// journal appends one decision.
func (c *curfewRun) journal(ctx context.Context, d curfew.Decision) error {
	info := maps.Clone(d.Detail)
	if info == nil {
		info = map[string]any{}
	}
	info["decisionKey"] = d.Key
	b, err := json.Marshal(info)
	if err != nil {
		return fmt.Errorf("agent: curfew %s: %w", d.Key, err)
	}
	dr := &event.Draft{Type: d.Type, OccurredAt: d.At, Description: curfewDescriptions[d.Type], Info: b, Origin: "curfew:" + d.Key}
	if d.CRN != "" {
		ids := []event.Identifier{{Type: "CRN", Value: d.CRN}}
		if d.NOMS != "" {
			ids = append(ids, event.Identifier{Type: "NOMS", Value: d.NOMS})
		}
		dr.Person = &event.PersonReference{Identifiers: ids}
	}
	_, err = c.a.append(context.WithoutCancel(ctx), dr)
	return err
}

// nightAlarm journals door.alarm for an exit by the exit button with no read during
// the AP curfew (23:00-06:00): someone left unseen at night. Its origin is the
// movement's, so it is journaled once.
func (c *curfewRun) nightAlarm(ctx context.Context, d *event.Draft, id string) error {
	var info struct {
		Basis, Door string
	}
	if d.Type != "movement.exited" || d.Person != nil || json.Unmarshal(d.Info, &info) != nil || info.Basis != basisExitButton {
		return nil
	}
	night := curfew.Schedule{Rules: []curfew.Rule{curfew.APStandard()}, Loc: curfew.London()}
	ws := night.At(d.OccurredAt)
	if len(ws) == 0 {
		return nil
	}
	b, _ := json.Marshal(map[string]any{"door": info.Door, "reason": "exit by the exit button with no credential during the AP curfew",
		"movement": id, "window": map[string]any{"key": ws[0].Key(), "startLocal": ws[0].StartLocal(), "endLocal": ws[0].EndLocal()}})
	_, err := c.a.append(context.WithoutCancel(ctx), &event.Draft{Type: "door.alarm", OccurredAt: d.OccurredAt,
		Description: "a door opened from inside at night with no credential: someone left unseen", Info: b, Origin: "alarm:" + id})
	return err
}
