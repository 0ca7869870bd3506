package pat

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
	// CRN is the resident who owns the item; empty for the AP's own.
	CRN string
	// AssetID is the item it is about.
	AssetID string
	// Key identifies the change stably and uniquely (e.g.
	// "pat.tested/K-0042/2026-11-22T00:00:00Z"): an idempotency key for the
	// journal.
	Key string
	// Info is the event's information, a JSON object (see the package doc): the
	// only field Apply reads besides Type.
	Info json.RawMessage
}

// emit marshals info as a draft of typ and applies it: the one way a method changes
// the engine.
func (e *Engine) emit(typ string, at time.Time, crn, assetID, key string, info any) (Draft, error) {
	b, err := json.Marshal(info)
	if err != nil {
		return Draft{}, fmt.Errorf("%w: %s: %v", ErrInvalid, typ, err)
	}
	d := Draft{Type: typ, At: at, CRN: crn, AssetID: assetID, Key: key, Info: b}
	if err := e.Apply(d); err != nil {
		return Draft{}, err
	}
	return d, nil
}

// Apply applies a journaled draft to the engine: replaying every event of [Types]
// in the journal, in order, into a new engine rebuilds the register of the engine
// that made them. It reads only d.Type and d.Info. It checks that the event fits
// the state (the item exists, is in a status where this can happen, times do not go
// back, the status the event says it leaves is the one it does) but not policy that
// may since have changed (prohibited categories, retest intervals): a journaled
// event is a fact. It returns an error, changing nothing, for an event that does
// not fit or cannot be read. It never panics.
func (e *Engine) Apply(d Draft) error {
	if len(d.Info) > fact.MaxInfo {
		return fmt.Errorf("%w: %s: info of %d bytes", ErrEvent, fact.Clip(d.Type), len(d.Info))
	}
	var err error
	switch d.Type {
	case TypeRegistered:
		var r Registration
		if err = decode(d, &r); err == nil {
			err = e.applyRegistration(r)
		}
	case TypeTested:
		var t Tested
		if err = decode(d, &t); err == nil {
			err = e.applyTested(t)
		}
	case TypeAuthorised:
		var a Authorised
		if err = decode(d, &a); err == nil {
			err = e.applyAuthorised(a)
		}
	case TypeWithdrawn:
		var w Withdrawal
		if err = decode(d, &w); err == nil {
			err = e.applyWithdrawal(w)
		}
	case TypeExpired:
		var x Expiry
		if err = decode(d, &x); err == nil {
			err = e.applyExpiry(x)
		}
	default:
		return fmt.Errorf("%w: type %q is not an electrical-items event", ErrEvent, fact.Clip(d.Type))
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
