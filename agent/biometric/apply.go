package biometric

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/apedge/apedge/agent/internal/fact"
)

// Draft is one change an [Engine] made, for the agent to journal as an event (signed
// and forwarded), and to give back to [Engine.Apply] when it replays the journal.
type Draft struct {
	// Type is one of the Type constants.
	Type string
	// At is when it happened.
	At time.Time
	// CRN is the resident it is about; empty for an orphan slot.
	CRN string
	// Terminal is the terminal it is about; empty for a consent or an alternative.
	Terminal string
	// Key identifies the change stably and uniquely (e.g.
	// "biometric.enrolled/E-12", "biometric.deleted/D-3/2"): an idempotency key for
	// the journal.
	Key string
	// Info is the event's information, a JSON object (see the package doc): the
	// only field Apply reads besides Type.
	Info json.RawMessage
}

// emit marshals info as a draft of typ and applies it: the one way a method changes
// the engine.
func (e *Engine) emit(typ string, at time.Time, crn, terminal, key string, info any) (Draft, error) {
	b, err := json.Marshal(info)
	if err != nil {
		return Draft{}, fmt.Errorf("%w: %s: %v", ErrInvalid, typ, err)
	}
	d := Draft{Type: typ, At: at, CRN: crn, Terminal: terminal, Key: key, Info: b}
	if err := e.Apply(d); err != nil {
		return Draft{}, err
	}
	return d, nil
}

// Apply applies a journaled draft to the engine: replaying every biometric event of
// the journal, in order, into a new engine rebuilds the state of the engine that
// made them. It reads only d.Type and d.Info. It checks that the event fits the
// state (its enrolment or deletion exists and is at a stage where this can happen,
// the slot is the one held, the attempt is the next) but not policy (the maximum
// attempts, when a deletion is overdue), and returns an error, changing nothing,
// for an event that does not fit or cannot be read. It never panics.
func (e *Engine) Apply(d Draft) error {
	if len(d.Info) > fact.MaxInfo {
		return fmt.Errorf("%w: %s: info of %d bytes", ErrEvent, fact.Clip(d.Type), len(d.Info))
	}
	switch d.Type {
	case TypeConsent:
		return applyAs(d, e.applyConsent)
	case TypeStarted:
		return applyAs(d, e.applyStarted)
	case TypeEnrolled:
		return applyAs(d, e.applyStored)
	case TypeEnrolFailed:
		return applyAs(d, e.applyFailure)
	case TypeAlternative:
		return applyAs(d, e.applyAlternative)
	case TypeDeletionRequested:
		return applyAs(d, e.applyDeletionRequest)
	case TypeDeleted:
		return applyAs(d, e.applyDeleted)
	case TypeDeletionOverdue:
		return applyAs(d, e.applyOverdue)
	case TypeOrphanSlot:
		return applyAs(d, e.applyOrphan)
	}
	return fmt.Errorf("%w: type %q is not a biometric event the engine applies", ErrEvent, fact.Clip(d.Type))
}

// applyAs decodes d's Info as a T and applies it with f.
func applyAs[T any](d Draft, f func(T) error) error {
	var v T
	if err := decode(d, &v); err != nil {
		return err
	}
	return f(v)
}

// decode reads d's Info, a JSON object, into v.
func decode(d Draft, v any) error {
	if err := fact.Decode(d.Info, v); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrEvent, d.Type, err)
	}
	return nil
}
