package substance

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
	// CRN is the resident it is about; empty for an unbound reading.
	CRN string
	// TestID is the test it is about; empty for an unbound reading.
	TestID string
	// Key identifies the change stably and uniquely (e.g.
	// "substance.tested/T-12", "substance.custody/T-12/sealed"): an idempotency key
	// for the journal.
	Key string
	// Info is the event's information, a JSON object (see the package doc): the
	// only field Apply reads besides Type.
	Info json.RawMessage
}

// emit marshals info as a draft of typ and applies it: the one way a method changes
// the engine.
func (e *Engine) emit(typ string, at time.Time, crn, testID, key string, info any) (Draft, error) {
	b, err := json.Marshal(info)
	if err != nil {
		return Draft{}, fmt.Errorf("%w: %s: %v", ErrInvalid, typ, err)
	}
	d := Draft{Type: typ, At: at, CRN: crn, TestID: testID, Key: key, Info: b}
	if err := e.Apply(d); err != nil {
		return Draft{}, err
	}
	return d, nil
}

// Apply applies a journaled draft to the engine: replaying every substance event of
// the journal, in order, into a new engine rebuilds the state of the engine that
// made them. It reads only d.Type and d.Info. It checks that the event fits the
// state (its test exists and is at a stage where this can happen; times do not go
// back) but not policy (authorisations, the binding window), and returns an error,
// changing nothing, for an event that does not fit or cannot be read. It never
// panics.
func (e *Engine) Apply(d Draft) error {
	if len(d.Info) > fact.MaxInfo {
		return fmt.Errorf("%w: %s: info of %d bytes", ErrEvent, fact.Clip(d.Type), len(d.Info))
	}
	var err error
	switch d.Type {
	case TypeStarted:
		var s Start
		if err = decode(d, &s); err == nil {
			err = e.applyStart(s)
		}
	case TypeTested:
		var s Screen
		if err = decode(d, &s); err == nil {
			err = e.applyScreen(s)
		}
	case TypeRefused:
		var r Refusal
		if err = decode(d, &r); err == nil {
			err = e.applyRefusal(r)
		}
	case TypeCustody, TypeDispatched:
		var h Handover
		if err = decode(d, &h); err == nil {
			err = e.applyHandover(h, d.Type == TypeDispatched)
		}
	case TypeConfirmed:
		var c Confirmation
		if err = decode(d, &c); err == nil {
			err = e.applyConfirmation(c)
		}
	case TypeClosed:
		var c Closure
		if err = decode(d, &c); err == nil {
			err = e.applyClose(c)
		}
	case TypeUnbound:
		var u UnboundReading
		if err = decode(d, &u); err == nil {
			err = e.applyUnbound(u)
		}
	default:
		return fmt.Errorf("%w: type %q is not a substance event", ErrEvent, fact.Clip(d.Type))
	}
	return err
}

// decode reads d's Info, a JSON object, into v.
func decode(d Draft, v any) error {
	if err := fact.Decode(d.Info, v); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrEvent, d.Type, err)
	}
	return nil
}
