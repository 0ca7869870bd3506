package bridge

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"

	"github.com/apedge/apedge/devices/device"
	"github.com/apedge/apedge/devices/doorio"
	"github.com/apedge/apedge/devices/fingerprint"
	"github.com/apedge/apedge/devices/reader"
	"github.com/apedge/apedge/devices/wiegand"
	"github.com/apedge/apedge/internal/config"
)

// Sim is a bridge's simulated site, for tests and demonstrations to drive: the
// simulators the device classes made instead of opening hardware (OSDP readers on
// the far end of pseudo-terminals, doors on fake GPIO pins, ...), by device. The
// bridge runs the classes' real drivers against them, byte for byte and pin for pin
// as it would against hardware. Typed accessors for the table's classes are in
// classes.go.
type Sim struct {
	sims *device.Sims
}

// Sim returns the bridge's simulated site, or nil if it has none. It is set once Ready
// is closed.
func (b *Bridge) Sim() *Sim { return b.sim }

// Simulator returns the simulator of device ref, or nil: what its class made, e.g.
// an *osdp.Reader for an OSDP reader.
func (s *Sim) Simulator(ref device.Ref) any { return s.sims.Get(ref) }

// Present shows card c at reader id (of any class that simulates its readers), as a
// person would; false if there is no such simulated reader.
func (s *Sim) Present(id string, c wiegand.Card) bool {
	r, ok := s.sims.Get(device.Ref{Class: reader.Class, ID: id}).(device.SimReader)
	if ok {
		r.Swipe(c)
	}
	return ok
}

// SimPerson is someone SimPeople walks through a simulated site's doors.
type SimPerson struct {
	// Card is the card the person presents.
	Card wiegand.Card
	// In says whether the person is in at the start.
	In bool
	// Home says whether the person means to be in at t (a curfew on, or starting
	// within the hour); nil means never: the person comes and goes as they like.
	Home func(t time.Time) bool
	// Finger is the synthetic id of the finger the person puts on a door's
	// fingerprint terminal (the id a simulated terminal enrolled it by, see
	// devices/fingerprint.Sim); empty: none, the person has no finger enrolled.
	Finger string
}

// SimPeople describes the people Walk sends through the doors.
type SimPeople struct {
	People []SimPerson
	// Every is the mean time between visits to the doors, all together, on the
	// bridge's clock.
	Every time.Duration
	// IncidentEvery is the mean time between visits that go wrong, on the bridge's
	// clock: a door forced, a door held open, a tailgate, a card nobody knows,
	// someone meant to be in going out, or someone's card with another of their
	// fingers on a door's fingerprint terminal (refused). The first, a door forced or
	// tailgated, is the first visit after those in at the start have come in, so that
	// whoever watches sees an alarm at once; zero means none.
	IncidentEvery time.Duration
	// MinReal is the least real time each step at a door takes (the door standing open
	// while someone walks through, the gap between two people), however fast the
	// bridge's clock runs, so that a sped-up clock stays within the real timing of the
	// hardware (a contact's debounce, a reader's polls); default 100ms.
	MinReal time.Duration
	// Seed seeds the choices; 0 means a random seed.
	Seed uint64
	// Enrolled, if not nil, is closed once the people's fingers are enrolled on the
	// terminals of the doors: until then nobody uses a door with a fingerprint
	// terminal, which is taken for enrolment (it has one sensor: a finger checked
	// at the door would spoil an enrolment's capture). Nil: from the start.
	Enrolled <-chan struct{}
}

// Walk sends the people of p through the doors of the bridge's simulated site, run
// with simulate.quiet so that the device classes' own people stay away, until ctx
// ends. Unlike those it follows each person, so that the presence the agent keeps is
// consistent and the alarms come from the incidents alone:
//   - first, once every reader answers, those in at the start come in by the first
//     door with an entry reader that they can pass, one after another as fast as the
//     door lets them, so that the site knows they are in;
//   - then, at each visit, someone in goes out (by a door with an exit reader, so
//     that the exit is theirs) and someone out comes in; nobody goes out while they
//     mean to be home unless the visit goes wrong, and half the visits are by people
//     who are out and mean to be home, if there are any: they come back, late or not.
//
// At an Enhanced Security site a door with a fingerprint terminal needs the card
// holder's finger too: a person puts their Finger on the door's simulated terminal,
// presents their card and lifts the finger once the door has decided. Only those
// who can pass such a door use it (once p.Enrolled is closed, with a Finger, and a
// slot on its terminal in the credential list the bridge keeps, so not anyone with
// the alternative): the others, the resident who declined to enrol among them, come
// and go by the doors without a terminal, or stay where they are if there is none.
// A person refused at a door (an incident, or a list that changed) walks away, and
// stays in or out as they were.
//
// When people come and how long a door stands open are timed on the bridge's clock;
// each step takes at least p.MinReal of real time.
func (b *Bridge) Walk(ctx context.Context, p SimPeople) error {
	select {
	case <-b.Ready():
	case <-ctx.Done():
		return nil
	}
	if b.sim == nil {
		return errors.New("bridge: walk: the bridge runs no simulated site (simulate:)")
	}
	if p.Every <= 0 || len(p.People) == 0 {
		return errors.New("bridge: walk: no people, or no time between visits")
	}
	if p.MinReal <= 0 {
		p.MinReal = 100 * time.Millisecond
	}
	seed := p.Seed
	if seed == 0 {
		seed = rand.Uint64()
	}
	w := &walker{b: b, p: p, rng: rand.New(rand.NewPCG(seed, seed>>1)), in: make([]bool, len(p.People))}
	for _, d := range b.cfg.Doors {
		if w.b.sim.Door(d.ID) == nil {
			continue
		}
		if d.EntryReader != "" {
			w.entries = append(w.entries, d)
		}
		if d.ExitReader != "" {
			w.exits = append(w.exits, d)
		}
	}
	if len(w.entries) == 0 || len(w.exits) == 0 {
		return errors.New("bridge: walk: the simulated site needs a door with an entry reader and one with an exit reader")
	}
	if !w.readersUp(ctx) {
		return nil
	}
	for i, pp := range p.People {
		if ds := w.doors(i, false); pp.In && len(ds) > 0 && ctx.Err() == nil {
			w.move(ctx, i, ds[0], "settle")
		}
	}
	next := b.clock.Now() // of an incident: the first on the first visit
	for {
		gap := time.Duration(w.rng.ExpFloat64() * float64(p.Every))
		select {
		case <-ctx.Done():
			return nil
		case <-b.clock.Until(b.clock.Now().Add(gap)):
		}
		incident := false
		if now := b.clock.Now(); p.IncidentEvery > 0 && !now.Before(next) {
			incident = true
			next = now.Add(time.Duration(w.rng.ExpFloat64() * float64(p.IncidentEvery)))
		}
		w.visit(ctx, incident)
		if incident {
			w.incidents++
		}
	}
}

// walker is Walk's state: who is in.
type walker struct {
	b              *Bridge
	p              SimPeople
	rng            *rand.Rand
	in             []bool
	entries, exits []config.Door
	incidents      int // so far
}

// readersUp waits until every reader answers (with its secure channel up, if it has
// a key), as a card shown to a reader that does not is lost, and every terminal
// that guards a door, as a card there is refused without it; false if ctx ended
// first.
func (w *walker) readersUp(ctx context.Context) bool {
	look := time.NewTicker(20 * time.Millisecond)
	defer look.Stop()
	guards := map[string]bool{}
	for _, d := range w.b.cfg.Doors {
		if term, ok := w.terminal(d); ok {
			guards[term] = true
		}
	}
	for {
		up := true
		for ref, h := range w.b.Health() {
			switch {
			case ref.Class == reader.Class:
				r := w.b.sim.Reader(ref.ID)
				if h.Status == device.HealthDown || r != nil && r.Key() != nil && !r.Secure() {
					up = false
				}
			case ref.Class == fingerprint.ClassName && guards[ref.ID]:
				up = up && h.Status != device.HealthDown
			}
		}
		if up {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-look.C:
		}
	}
}

// home says whether person i means to be in now.
func (w *walker) home(i int, now time.Time) bool {
	h := w.p.People[i].Home
	return h != nil && (h(now) || h(now.Add(time.Hour)))
}

// visit is one person at a door, or, if incident, something going wrong there.
func (w *walker) visit(ctx context.Context, incident bool) {
	now := w.b.clock.Now()
	i := w.rng.IntN(len(w.p.People))
	var due []int // out, and meant to be in
	for j := range w.p.People {
		if !w.in[j] && w.home(j, now) {
			due = append(due, j)
		}
	}
	if len(due) > 0 && w.rng.IntN(2) == 0 {
		i = due[w.rng.IntN(len(due))]
	}
	kind := "walk"
	if incident {
		kinds := []string{"forced", "held", "tailgate", "stranger"}
		if w.in[i] && w.home(i, now) {
			kinds = append(kinds, "breach")
		}
		if len(w.doors(i, true)) > 0 {
			kinds = append(kinds, "wrong-finger")
		}
		if w.incidents == 0 {
			kinds = []string{"forced", "tailgate"} // the first is an alarm at once
		}
		kind = kinds[w.rng.IntN(len(kinds))]
	} else if w.in[i] && w.home(i, now) {
		return // stays in
	}
	d := w.entries[w.rng.IntN(len(w.entries))]
	if w.in[i] {
		d = w.exits[w.rng.IntN(len(w.exits))]
	}
	if kind != "forced" && kind != "stranger" {
		// The person's own card, at a door they can pass.
		ds := w.doors(i, kind == "wrong-finger")
		if len(ds) == 0 {
			return // no door they can pass: they stay where they are
		}
		d = ds[w.rng.IntN(len(ds))]
	}
	io := w.b.sim.Door(d.ID)
	switch kind {
	case "forced":
		// Someone forces a locked door from outside: nobody's movement.
		w.b.log.Debug("simulated visit", "door", d.ID, "kind", kind)
		if w.waitLock(ctx, d, io, true) {
			w.pass(ctx, io, 2*time.Second)
		}
	case "stranger":
		// A card nobody knows, refused at an entry reader.
		w.b.log.Debug("simulated visit", "door", d.ID, "kind", kind)
		c, _ := wiegand.Decode(wiegand.Encode26(uint8(200+w.rng.IntN(56)), uint16(w.rng.IntN(65536))), 26)
		w.b.sim.Present(d.EntryReader, c)
	default:
		w.move(ctx, i, d, kind)
	}
}

// move takes person i through door d, in if they are out and out if they are in: a
// walk (kind "walk", or "settle" in a hurry), or, going wrong, a door held open
// ("held"), a tailgate ("tailgate") or their card with another finger on the
// door's terminal ("wrong-finger", refused).
func (w *walker) move(ctx context.Context, i int, d config.Door, kind string) {
	out := w.in[i]
	rd := d.EntryReader
	if out {
		rd = d.ExitReader
	}
	w.b.log.Debug("simulated visit", "door", d.ID, "out", out, "kind", kind)
	io := w.b.sim.Door(d.ID)
	// The door relocks after whoever came before, so that it is this card that
	// unlocks it (or, should it stand unlocked, held so by staff, the person goes on).
	w.waitLock(ctx, d, io, true)
	// At a door with a terminal the finger goes on first: the bridge looks for it
	// as it decides the card.
	var fp *fingerprint.Sim
	if term, ok := w.terminal(d); ok {
		fp = w.b.sim.Fingerprint(term)
	}
	if fp != nil {
		finger := w.p.People[i].Finger
		if kind == "wrong-finger" {
			finger = otherFinger(finger)
		}
		fp.PlaceFinger(finger)
	}
	w.b.sim.Present(rd, w.p.People[i].Card)
	granted := w.waitLock(ctx, d, io, false)
	if fp != nil {
		fp.LiftFinger()
	}
	if !granted {
		return // refused: the person walks away
	}
	w.in[i] = !out
	switch kind {
	case "held":
		w.pass(ctx, io, d.HeldOpenAfter+2*time.Second)
	case "tailgate":
		w.pass(ctx, io, time.Second)
		w.pass(ctx, io, time.Second) // someone else, on the same grant
	case "settle":
		w.pass(ctx, io, 0) // in a hurry
	default:
		w.pass(ctx, io, 2*time.Second)
	}
}

// terminal returns the fingerprint terminal guarding door d, if the site is of
// Enhanced Security: a card read there needs the holder's finger on it too.
func (w *walker) terminal(d config.Door) (string, bool) {
	if !w.b.cfg.EnhancedSecurity.On {
		return "", false
	}
	return w.b.cfg.DoorTerminal(d.ID)
}

// doors returns the doors person i can pass their way (in, or out if they are
// in), in the configuration's order: any without a terminal and, once the people
// are enrolled, those whose simulated terminal the credential list gives them a
// slot on; with terminal, only the latter.
func (w *walker) doors(i int, terminal bool) []config.Door {
	ds := w.entries
	if w.in[i] {
		ds = w.exits
	}
	var out []config.Door
	for _, d := range ds {
		term, gated := w.terminal(d)
		if terminal && !gated || gated && !w.enrolledAt(i, term) {
			continue
		}
		out = append(out, d)
	}
	return out
}

// enrolledAt says person i has a finger enrolled on simulated terminal term, by
// the credential list the bridge keeps, and the terminals are free for people.
func (w *walker) enrolledAt(i int, term string) bool {
	if w.p.Enrolled != nil {
		select {
		case <-w.p.Enrolled:
		default:
			return false
		}
	}
	p := w.p.People[i]
	if p.Finger == "" || w.b.sim.Fingerprint(term) == nil {
		return false
	}
	e, ok := w.b.access.entry(credential(p.Card).ID())
	return ok && !e.Alternative && len(e.Fingers[term]) > 0
}

// otherFinger is the id of another finger of the person whose finger is f: one
// that no terminal enrolled.
func otherFinger(f string) string { return f + "+another" }

// pass opens the door, holds it open for open and closes it.
func (w *walker) pass(ctx context.Context, io *doorio.SimDoor, open time.Duration) {
	io.Open()
	w.pause(ctx, open)
	io.Shut()
	w.pause(ctx, 300*time.Millisecond)
}

// pause waits d on the bridge's clock and at least p.MinReal of real time, or until
// ctx ends.
func (w *walker) pause(ctx context.Context, d time.Duration) {
	due := w.b.clock.Now().Add(d)
	t := time.NewTimer(w.p.MinReal)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return
	case <-t.C:
	}
	select {
	case <-ctx.Done():
	case <-w.b.clock.Until(due):
	}
}

// waitLock waits, as a person at the door would, for door d to be locked (up to ten
// seconds of real time, the hardware's, whatever the clock) or unlocked (up to three).
func (w *walker) waitLock(ctx context.Context, d config.Door, io *doorio.SimDoor, locked bool) bool {
	failSecure := d.Lock != nil && d.Lock.Mode == "fail-secure"
	limit := 3 * time.Second
	if locked {
		limit = 10 * time.Second
	}
	giveUp := time.NewTimer(limit)
	defer giveUp.Stop()
	look := time.NewTicker(5 * time.Millisecond)
	defer look.Stop()
	for {
		if (io.LockEnergised() != failSecure) == locked {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-giveUp.C:
			return false
		case <-look.C:
		}
	}
}
