package biometric

import (
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/apedge/apedge/agent/internal/fact"
)

// Orphan is the Info of a biometric.orphan-slot event: a used slot of a terminal's
// library that no enrolment holds, a template of no one known (stored by an
// enrolment the agent gave up on, by hand with an installer's tool, or before the
// terminal came to this site).
type Orphan struct {
	Terminal string `json:"terminal"`
	Slot     int    `json:"slot"`
	// SeenAt is when the terminal read the used slots that showed it.
	SeenAt time.Time `json:"seenAt"`
	At     time.Time `json:"at"`
}

// orphanKey keys an orphan by terminal and slot.
func orphanKey(terminal string, slot int) string { return terminal + "/" + strconv.Itoa(slot) }

// UsedSlots checks a reading of terminal's used slots, read at seenAt (its status
// or index table) and received at at, against the records: each used slot that no
// enrolment holds (under way, enrolled, or awaiting its deletion), and not raised
// before, gets a biometric.orphan-slot draft. A reading older than the latest one
// journaled for the terminal (a deletion's read back, an orphan's) is stale and
// checked against nothing.
func (e *Engine) UsedSlots(terminal string, used []int, seenAt, at time.Time) ([]Draft, error) {
	if err := checkTerminal(terminal); err != nil {
		return nil, err
	}
	seenAt, at = seenAt.UTC(), at.UTC()
	if seenAt.IsZero() || at.IsZero() {
		return nil, fmt.Errorf("%w: a reading of %s's slots with no time", ErrInvalid, terminal)
	}
	if seenAt.Before(e.lastRead[terminal]) {
		return nil, nil
	}
	slots := slices.Compact(slices.Sorted(slices.Values(used)))
	return e.atomic(func() ([]Draft, error) {
		var out []Draft
		for _, s := range slots {
			if s < 0 || s >= MaxSlots || e.holder(terminal, s) != nil {
				continue
			}
			if _, known := e.orphans[orphanKey(terminal, s)]; known {
				continue
			}
			o := Orphan{Terminal: terminal, Slot: s, SeenAt: seenAt, At: at}
			d, err := e.emit(TypeOrphanSlot, at, "", terminal, fact.Key(TypeOrphanSlot, terminal, strconv.Itoa(s)), o)
			if err != nil {
				return nil, err
			}
			out = append(out, d)
		}
		return out, nil
	})
}

func (e *Engine) applyOrphan(o Orphan) error {
	if err := checkTerminal(o.Terminal); err != nil {
		return err
	}
	switch {
	case o.Slot < 0 || o.Slot >= MaxSlots:
		return fmt.Errorf("%w: slot %d", ErrInvalid, o.Slot)
	case o.SeenAt.IsZero() || o.At.IsZero():
		return fmt.Errorf("%w: an orphan slot with no time", ErrInvalid)
	}
	if _, known := e.orphans[orphanKey(o.Terminal, o.Slot)]; known {
		return fmt.Errorf("%w: slot %d of %s is an orphan already", ErrDuplicate, o.Slot, o.Terminal)
	}
	if en := e.holder(o.Terminal, o.Slot); en != nil {
		return fmt.Errorf("%w: slot %d of %s is enrolment %s's, not an orphan", ErrState, o.Slot, o.Terminal, en.ID)
	}
	e.orphans[orphanKey(o.Terminal, o.Slot)] = o
	if o.SeenAt.After(e.lastRead[o.Terminal]) {
		e.lastRead[o.Terminal] = o.SeenAt
	}
	return nil
}
