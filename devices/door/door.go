// Package door is the state machine of one controlled door: a lock, a door position
// switch (contact) and a request-to-exit button, and the readers that grant entry.
//
// The machine is pure: it is given inputs with the time they happened and returns what
// to do (set the lock) and what to report (events), so every rule is tested without
// clocks or pins. The door device class (devices/gpiodoor) runs one machine per door.
// The machine depends on nothing: its event kinds, reasons and Event's JSON are the
// site bus's door vocabulary (sitebus.DoorOpened, sitebus.DoorEvent, ...), which a
// test in firmware-bridge keeps alike, so that the classes running it do not depend
// on the bus.
//
// Rules, following common access-control practice (e.g. the alarm points of
// IEC 60839-11-1: door forced, door held open):
//   - At rest the door is locked and closed.
//   - A granted credential, an exit-button press or a staff command unlocks the door for
//     UnlockFor. It relocks when that time ends, or, with RelockOnClose, as soon as the
//     door closes after opening.
//   - Opening while unlocked is authorised; opening while locked is door.forced.
//   - Opening again within one unlock without a new grant is a tailgate: two passages on
//     one unlock, reported, never hidden.
//   - Open for longer than HeldOpenAfter is door.held-open, reported once per opening.
//   - Fire safety: nothing here ever holds a door locked against the exit button; the
//     button always unlocks, whatever the bus or the agent is doing.
//   - Holds (a manager's Hold, see hold.go): held unlocked, the lock is released until
//     the hold ends; openings are authorised, never forced or a tailgate. Held locked
//     or in lockdown, only entry is refused: an entry grant does not unlock, while
//     the exit button, an exit reader's grant and a staff member's Unlock command
//     unlock it as always. An Approved Premises is a place people live: a hold or
//     lockdown never stops anyone getting out. A hold ends by itself at its time.
package door

import (
	"fmt"
	"slices"
	"time"
)

// Config is one door's timing.
type Config struct {
	// UnlockFor is how long a grant keeps the door unlocked (default 5s).
	UnlockFor time.Duration
	// HeldOpenAfter is how long the door may stand open before it is held open
	// (default 30s).
	HeldOpenAfter time.Duration
	// RelockOnClose relocks as soon as the door closes after an authorised opening.
	RelockOnClose bool
	// HasContact says a door position switch is fitted; without one the door's
	// position is unknown and forced, held-open and tailgate cannot be seen.
	HasContact bool
}

func (c *Config) defaults() {
	if c.UnlockFor <= 0 {
		c.UnlockFor = 5 * time.Second
	}
	if c.HeldOpenAfter <= 0 {
		c.HeldOpenAfter = 30 * time.Second
	}
}

// Reason says why a door was unlocked.
type Reason string

// Reasons for unlocking.
const (
	ByCredential Reason = "credential"
	ByExitButton Reason = "exit-button"
	ByCommand    Reason = "command"
	// ByHold is an opening of a door held unlocked with no grant or press before it.
	ByHold Reason = "hold"
)

// Input is something that happened at the door: one of Grant, ExitRequest, Unlock,
// Contact.
type Input interface{ input() }

// Grant is a credential the reader's access list accepted.
type Grant struct {
	Reader, Direction string
	// Credential is the credential's id (sitebus.Credential.ID).
	Credential string
}

// ExitRequest is a press of the request-to-exit button.
type ExitRequest struct{}

// Unlock is a momentary unlock ordered from the site bus.
type Unlock struct {
	// For is how long; zero means the door's UnlockFor.
	For time.Duration
	// By names who asked (a staff member's id, from the command).
	By string
}

// Contact is a change of the door position switch.
type Contact struct{ Open bool }

func (Grant) input()       {}
func (ExitRequest) input() {}
func (Unlock) input()      {}
func (Contact) input()     {}

// Event kinds a machine reports: the site bus's door event kinds.
const (
	EventUnlocked      = "unlocked"
	EventLocked        = "locked"
	EventOpened        = "opened"
	EventClosed        = "closed"
	EventForced        = "forced"
	EventHeldOpen      = "held-open"
	EventTailgate      = "tailgate"
	EventHeldOpenEnded = "held-open-ended"
)

// Event is something to report on the site bus.
type Event struct {
	// Kind is one of the Event constants; At is when it happened. Both travel in the
	// site-bus message around the data, not in it.
	Kind string    `json:"-"`
	At   time.Time `json:"-"`
	// Reason, Reader, Direction, Credential and By say what unlocked the door, for
	// unlocked, opened and tailgate events.
	Reason     Reason `json:"reason,omitempty"`
	Reader     string `json:"reader,omitempty"`
	Direction  string `json:"direction,omitempty"`
	Credential string `json:"credential,omitempty"`
	By         string `json:"by,omitempty"`
	// Until is when an unlock ends.
	Until time.Time `json:"until,omitzero"`
	// UnlockedAt is when the grant, button press or command that let an opened or
	// tailgate event's door open happened: the read before the passage.
	UnlockedAt time.Time `json:"unlockedAt,omitzero"`
	// Authorised says an opening happened while unlocked.
	Authorised bool `json:"authorised"`
	// Passages counts openings on one unlock (tailgate: 2 or more).
	Passages int `json:"passages,omitempty"`
	// OpenFor is how long the door stood open (closed, held-open-ended).
	OpenFor time.Duration `json:"openForMs,omitempty"`
	// Hold and HoldReason are a held or hold-ended event's mode and reason; its Until
	// is the hold's end and By who ordered or released it.
	Hold       string `json:"hold,omitempty"`
	HoldReason string `json:"holdReason,omitempty"`
}

// State is a door's state, for the retained site-bus state message.
type State struct {
	Locked bool `json:"locked"`
	// Open is the door position; Known says a contact is fitted.
	Open     bool `json:"open"`
	Known    bool `json:"positionKnown"`
	Forced   bool `json:"forced"`
	HeldOpen bool `json:"heldOpen"`
	// UnlockedUntil is when the current unlock ends.
	UnlockedUntil time.Time `json:"unlockedUntil,omitzero"`
	// Hold is the door's hold mode, empty when none; HoldUntil, HoldBy and
	// HoldReason say until when, who ordered it and why.
	Hold       string    `json:"hold,omitempty"`
	HoldUntil  time.Time `json:"holdUntil,omitzero"`
	HoldBy     string    `json:"holdBy,omitempty"`
	HoldReason string    `json:"holdReason,omitempty"`
}

// Machine is one door's state machine. It is not safe for concurrent use.
type Machine struct {
	cfg Config

	locked   bool
	until    time.Time // end of the current unlock
	cause    Event     // what unlocked it
	causeAt  time.Time // when
	passages int       // openings in the current unlock
	open     bool
	openedAt time.Time
	forced   bool // this opening was forced
	held     bool // this opening was reported held open
	hold     Hold // the manager's hold; Mode empty when none
}

// New returns a machine for a locked, closed door.
func New(cfg Config) *Machine {
	cfg.defaults()
	return &Machine{cfg: cfg, locked: true}
}

// Config returns the machine's configuration with defaults filled in.
func (m *Machine) Config() Config { return m.cfg }

// State returns the door's state.
func (m *Machine) State() State {
	s := State{Locked: m.locked, Open: m.open, Known: m.cfg.HasContact, Forced: m.open && m.forced, HeldOpen: m.held}
	if !m.locked {
		s.UnlockedUntil = m.lockAt()
	}
	if m.hold.Mode != "" {
		s.Hold, s.HoldUntil, s.HoldBy, s.HoldReason = m.hold.Mode, m.hold.Until, m.hold.By, m.hold.Reason
	}
	return s
}

// Locked says whether the lock should be locked now.
func (m *Machine) Locked() bool { return m.locked }

// Next is when Tick next has something to do; zero if nothing is pending.
func (m *Machine) Next() time.Time {
	var next time.Time
	earlier := func(t time.Time) {
		if next.IsZero() || t.Before(next) {
			next = t
		}
	}
	if !m.locked {
		earlier(m.lockAt())
	}
	if m.hold.Mode != "" {
		earlier(m.hold.Until)
	}
	if m.open && !m.held {
		earlier(m.openedAt.Add(m.cfg.HeldOpenAfter))
	}
	return next
}

// Handle applies in, which happened at now, and returns the events to report. Callers
// then set the lock to Locked().
func (m *Machine) Handle(now time.Time, in Input) []Event {
	evs := m.Tick(now)
	switch in := in.(type) {
	case Grant:
		if m.Refuses(now, in.Direction) != "" {
			return evs // held locked: entry refused (the bridge refused the read too)
		}
		evs = append(evs, m.unlock(now, m.cfg.UnlockFor, Event{Reason: ByCredential, Reader: in.Reader, Direction: in.Direction, Credential: in.Credential}))
	case ExitRequest:
		evs = append(evs, m.unlock(now, m.cfg.UnlockFor, Event{Reason: ByExitButton}))
	case Unlock:
		d := in.For
		if d <= 0 {
			d = m.cfg.UnlockFor
		}
		evs = append(evs, m.unlock(now, d, Event{Reason: ByCommand, By: in.By}))
	case Contact:
		evs = append(evs, m.contact(now, in.Open)...)
	case Hold:
		evs = append(evs, m.placeHold(now, in)...)
	case Release:
		evs = append(evs, m.release(now, in)...)
	default:
		panic(fmt.Sprintf("door: unknown input %T", in))
	}
	return evs
}

// unlock starts (or extends) an unlock; a new cause starts a new count of passages.
func (m *Machine) unlock(now time.Time, d time.Duration, cause Event) Event {
	m.locked = false
	m.until = now.Add(d)
	m.cause, m.causeAt = cause, now
	m.passages = 0
	if m.open {
		// Unlocked while already open (someone let in while the door stands open):
		// this opening counts as the passage of this grant.
		m.passages = 1
	}
	ev := cause
	ev.Kind, ev.At, ev.Until = EventUnlocked, now, m.lockAt()
	return ev
}

func (m *Machine) contact(now time.Time, open bool) []Event {
	if open == m.open {
		return nil // a repeat of the known position
	}
	m.open = open
	if open {
		m.openedAt, m.held, m.forced = now, false, false
		if m.locked {
			m.forced = true
			return []Event{{Kind: EventForced, At: now}}
		}
		m.passages++
		ev := m.cause
		ev.At, ev.Authorised, ev.Passages, ev.Until, ev.UnlockedAt = now, true, m.passages, time.Time{}, m.causeAt
		ev.Kind = EventOpened
		if m.heldUnlocked() && (m.passages > 1 || !now.Before(m.until)) {
			// Held unlocked: an opening no fresh grant or press explains is the
			// hold's, never a tailgate.
			ev = Event{Kind: EventOpened, At: now, Reason: ByHold, By: m.hold.By, Authorised: true, Passages: 1}
		} else if m.passages > 1 {
			ev.Kind = EventTailgate
		}
		return []Event{ev}
	}
	evs := []Event{{Kind: EventClosed, At: now, OpenFor: now.Sub(m.openedAt), Authorised: !m.forced}}
	if m.held {
		evs = append(evs, Event{Kind: EventHeldOpenEnded, At: now, OpenFor: now.Sub(m.openedAt)})
	}
	m.held, m.forced = false, false
	if m.cfg.RelockOnClose && !m.locked && !m.heldUnlocked() {
		m.locked, m.until = true, now
		evs = append(evs, Event{Kind: EventLocked, At: now})
	}
	return evs
}

// Tick applies the passage of time up to now and returns the events it causes.
func (m *Machine) Tick(now time.Time) []Event {
	var evs []Event
	if m.open && !m.held && !now.Before(m.openedAt.Add(m.cfg.HeldOpenAfter)) {
		m.held = true
		evs = append(evs, Event{Kind: EventHeldOpen, At: m.openedAt.Add(m.cfg.HeldOpenAfter), OpenFor: m.cfg.HeldOpenAfter, Authorised: !m.forced})
	}
	lockAt := m.lockAt()
	if h := m.hold; h.Mode != "" && !now.Before(h.Until) {
		m.hold = Hold{} // ran out: it ends by itself, with or without the agent
		evs = append(evs, Event{Kind: EventHoldEnded, At: h.Until, Hold: h.Mode, HoldReason: h.Reason})
	}
	if !m.locked && !now.Before(lockAt) {
		m.locked = true
		evs = append(evs, Event{Kind: EventLocked, At: lockAt})
	}
	slices.SortStableFunc(evs, func(a, b Event) int { return a.At.Compare(b.At) })
	return evs
}
