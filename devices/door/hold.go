package door

import "time"

// Hold modes.
const (
	// HoldUnlocked releases the lock until the hold ends.
	HoldUnlocked = "unlocked"
	// HoldLocked refuses entry until the hold ends; exit is always allowed.
	HoldLocked = "locked"
	// HoldLockdown is HoldLocked ordered for the whole site.
	HoldLockdown = "lockdown"
)

// Event kinds of holds.
const (
	// EventHeld is a hold placed (or replacing the one there was).
	EventHeld = "held"
	// EventHoldEnded is a hold ended: released (By says who) or run out.
	EventHoldEnded = "hold-ended"
)

// Reasons an entry grant is refused while the door is held locked.
const (
	RefusedHeldLocked = "held-locked"
	RefusedLockdown   = "lockdown"
)

// Hold is a manager's order to hold the door unlocked or locked until Until. A hold
// replaces the one there was. Placed locked, it ends at once any unlock but one
// for someone going out (exit button, exit reader), which runs its course.
type Hold struct {
	// Mode is one of HoldUnlocked, HoldLocked, HoldLockdown.
	Mode string
	// Until is when it ends by itself; a hold whose Until has passed is ignored.
	Until time.Time
	// By names who ordered it; Reason says why.
	By, Reason string
}

// Release ends the door's hold now.
type Release struct {
	// Mode HoldLockdown ends only a lockdown (a site release); empty ends any hold.
	Mode string
	// By names who released it.
	By string
}

func (Hold) input()    {}
func (Release) input() {}

// Refuses says whether an entry grant at the door would be refused at now, and why:
// RefusedHeldLocked or RefusedLockdown while the door is held locked, for any
// direction but "exit"; empty otherwise. Exit is never refused.
func (m *Machine) Refuses(now time.Time, direction string) string {
	return Refusal(m.State(), now, direction)
}

// Refusal is Machine.Refuses of a machine whose State is st: for a class that keeps
// its doors' last State where the bridge may read it while the machine runs.
func Refusal(st State, now time.Time, direction string) string {
	if direction == "exit" || st.Hold == "" || st.Hold == HoldUnlocked || !now.Before(st.HoldUntil) {
		return ""
	}
	if st.Hold == HoldLockdown {
		return RefusedLockdown
	}
	return RefusedHeldLocked
}

// heldUnlocked says the door is held unlocked.
func (m *Machine) heldUnlocked() bool { return m.hold.Mode == HoldUnlocked }

// lockAt is when the door locks again, if nothing else happens: the end of the
// momentary unlock, or of a hold unlocked if later.
func (m *Machine) lockAt() time.Time {
	if m.heldUnlocked() && m.hold.Until.After(m.until) {
		return m.hold.Until
	}
	return m.until
}

// placeHold places h at now.
func (m *Machine) placeHold(now time.Time, h Hold) []Event {
	if !now.Before(h.Until) || (h.Mode != HoldUnlocked && h.Mode != HoldLocked && h.Mode != HoldLockdown) {
		return nil
	}
	m.hold = h
	evs := []Event{{Kind: EventHeld, At: now, By: h.By, Until: h.Until, Hold: h.Mode, HoldReason: h.Reason}}
	if h.Mode == HoldUnlocked {
		if m.locked {
			m.locked = false
			m.cause, m.causeAt, m.passages = Event{Reason: ByHold, By: h.By}, now, 0
			evs = append(evs, Event{Kind: EventUnlocked, At: now, Reason: ByHold, By: h.By, Until: m.lockAt()})
		}
		return evs
	}
	// Held locked: end an unlock at once, unless it lets someone out.
	leaving := m.cause.Reason == ByExitButton || m.cause.Direction == "exit"
	if !m.locked && !(leaving && now.Before(m.until)) {
		m.locked, m.until = true, now
		evs = append(evs, Event{Kind: EventLocked, At: now})
	}
	return evs
}

// release ends the hold at now, as r asks.
func (m *Machine) release(now time.Time, r Release) []Event {
	h := m.hold
	if h.Mode == "" || (r.Mode == HoldLockdown && h.Mode != HoldLockdown) {
		return nil
	}
	m.hold = Hold{}
	evs := []Event{{Kind: EventHoldEnded, At: now, By: r.By, Hold: h.Mode, HoldReason: h.Reason}}
	if !m.locked && !now.Before(m.until) {
		m.locked, m.until = true, now
		evs = append(evs, Event{Kind: EventLocked, At: now})
	}
	return evs
}
