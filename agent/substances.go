package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apedge/apedge/agent/curfew"
	"github.com/apedge/apedge/agent/substance"
	"github.com/apedge/apedge/formats/event"
	"github.com/apedge/apedge/formats/sitebus"
	"github.com/apedge/apedge/internal/config"
)

// substanceDescriptions are the events' one-line descriptions. They say what kind
// of thing happened and never a result: a description travels in every view of the
// event, a result only to those who may see it (the console filters Info).
var substanceDescriptions = map[string]string{
	substance.TypeStarted:    "a substance test started by staff",
	substance.TypeTested:     "a substance test's screening result recorded",
	substance.TypeRefused:    "a substance test refused, or no sample could be given, as witnessed",
	substance.TypeCustody:    "a handover of a sample in its chain of custody",
	substance.TypeDispatched: "a sample sent to a laboratory for confirmation",
	substance.TypeConfirmed:  "a laboratory's result for a sample recorded",
	substance.TypeClosed:     "a substance test closed by staff",
	substance.TypeUnbound:    "a substance tester's reading bound to no test: held, attached to no one",
}

// ErrSubstance is what the agent says when it refuses a substance testing action
// for a reason of the site's, not the engine's: a resident not on the roster, a
// device not configured as a tester of that kind. Engine errors (agent/substance's
// Err*) come through wrapped as they are.
var ErrSubstance = errors.New("agent: substance")

// Substances is the site's substance testing: the tests staff start and their
// results, refusals and chains of custody, and the testers' readings bound to them.
// Every change is journaled (signed and forwarded) before it is answered; one that
// cannot be journaled does not stand. Its methods are safe for concurrent use.
type Substances struct {
	a *Agent
	// mu orders every change: the engine's change and its journal append happen
	// under it, so that the journal holds the changes in the order the engine made
	// them and a replay rebuilds the same state.
	mu  sync.Mutex
	eng *substance.Engine
	// ready is closed once the journal's substance events are replayed: nothing is
	// read or changed before.
	ready chan struct{}
	// replayRefused counts journaled substance events the engine would not apply at
	// start (logged each).
	replayRefused atomic.Uint64
}

// newSubstances returns the substance testing of a's configuration, with the
// cut-offs of panels it does not name from oral and urine.
func newSubstances(a *Agent, cfg config.Substance, oral, urine map[string]float64) (*Substances, error) {
	with := func(defaults, set map[string]float64) map[string]float64 {
		out := maps.Clone(defaults)
		if out == nil {
			out = map[string]float64{}
		}
		maps.Copy(out, set)
		return out
	}
	eng, err := substance.New(substance.Config{BindWindow: cfg.BindWindow, LabOverdue: cfg.LabOverdue, BreathLimitUg: cfg.BreathLimitUg,
		OralFluidCutoffs: with(oral, cfg.OralFluidCutoffs), UrineCutoffs: with(urine, cfg.UrineCutoffs)})
	if err != nil {
		return nil, fmt.Errorf("agent: substance: %w", err)
	}
	return &Substances{a: a, eng: eng, ready: make(chan struct{})}, nil
}

// Substances returns the site's substance testing.
func (a *Agent) Substances() *Substances { return a.subst }

// replay applies one journaled event to the engine, if it is a substance event.
func (s *Substances) replay(seq uint64, ev *event.Event) {
	typ := strings.TrimPrefix(ev.Type, event.TypePrefix)
	if !isSubstanceType(typ) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.eng.Apply(substance.Draft{Type: typ, Info: ev.Data.AdditionalInformation}); err != nil {
		s.replayRefused.Add(1)
		s.a.log.Error("journaled substance event not applied: the tests' state may differ from the journal's", "seq", seq, "type", typ, "err", err)
	}
}

// replayed marks the replay done.
func (s *Substances) replayed() { close(s.ready) }

// wait returns once the journal is replayed, or ctx's error.
func (s *Substances) wait(ctx context.Context) error {
	select {
	case <-s.ready:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("agent: substance: the journal is not yet replayed: %w", ctx.Err())
	}
}

// isSubstanceType says typ is an event type of the substance engine.
func isSubstanceType(typ string) bool { return slices.Contains(substance.Types(), typ) }

// change makes one change to the engine with f and journals the draft it returns;
// if the draft cannot be journaled the engine goes back to what it was and the
// error is returned.
func (s *Substances) change(ctx context.Context, f func(e *substance.Engine) (substance.Draft, error)) (substance.Draft, error) {
	if err := s.wait(ctx); err != nil {
		return substance.Draft{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	before := s.eng.Clone()
	d, err := f(s.eng)
	if err != nil {
		return d, err
	}
	if err := s.journal(ctx, d); err != nil {
		s.eng = before
		return substance.Draft{}, &journalError{err}
	}
	s.a.changes.fire()
	return d, nil
}

// journal appends draft d as a signed event, once: its key is its origin.
func (s *Substances) journal(ctx context.Context, d substance.Draft) error {
	dr := &event.Draft{Type: d.Type, OccurredAt: d.At, Description: substanceDescriptions[d.Type], Info: d.Info,
		Origin: "substance:" + d.Key, Person: s.a.personOf(d.CRN)}
	_, err := s.a.append(context.WithoutCancel(ctx), dr)
	return err
}

// testerKinds maps a sample type to the kind of tester it is taken on.
var testerKinds = map[string]string{substance.SampleBreath: config.TesterBreathAlcohol, substance.SampleOralFluid: config.TesterOralFluid}

// Start starts a test (see substance.Engine.StartTest): the resident must be on the
// roster and in residence today, and the device a configured tester of the sample
// type's kind. It journals substance.test-started and returns the test.
func (s *Substances) Start(ctx context.Context, st substance.Start) (substance.Test, error) {
	r, ok := s.a.resident(st.CRN)
	if !ok {
		return substance.Test{}, fmt.Errorf("%w: %s is not a resident of this AP", ErrSubstance, st.CRN)
	}
	if today := st.At.In(curfew.London()).Format(time.DateOnly); !r.PresentOn(today) {
		return substance.Test{}, fmt.Errorf("%w: %s is not in residence on %s", ErrSubstance, st.CRN, today)
	}
	if kind, ok := testerKinds[st.SampleType]; ok {
		if got, configured := s.a.cfg.Devices.SubstanceTesters[st.Device]; !configured || got != kind {
			return substance.Test{}, fmt.Errorf("%w: %q is not a configured %s tester: a %s test is taken on one of %v",
				ErrSubstance, st.Device, kind, st.SampleType, s.testers(kind))
		}
	}
	var t substance.Test
	_, err := s.change(ctx, func(e *substance.Engine) (substance.Draft, error) {
		var d substance.Draft
		var err error
		t, d, err = e.StartTest(st)
		return d, err
	})
	return t, err
}

// testers lists the configured testers of kind.
func (s *Substances) testers(kind string) []string {
	var out []string
	for id, k := range s.a.cfg.Devices.SubstanceTesters {
		if k == kind {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out
}

// Urine records a urine cup's result as staff read it (substance.Engine.UrineResult).
func (s *Substances) Urine(ctx context.Context, testID, lot, expiry string, panels map[string]string, by string) (substance.Test, error) {
	return s.act(ctx, testID, func(e *substance.Engine) (substance.Draft, error) {
		return e.UrineResult(testID, lot, expiry, panels, by, s.a.clock.Now())
	})
}

// Refused records a refusal, or an inability to give a sample, and its witness
// (substance.Engine.Refused).
func (s *Substances) Refused(ctx context.Context, testID, refusal, witness, by string) (substance.Test, error) {
	return s.act(ctx, testID, func(e *substance.Engine) (substance.Draft, error) {
		return e.Refused(testID, refusal, witness, by, s.a.clock.Now())
	})
}

// Seal records the seal or barcode number of a confirmation sample (substance.Engine.Seal).
func (s *Substances) Seal(ctx context.Context, testID, seal, by string) (substance.Test, error) {
	return s.act(ctx, testID, func(e *substance.Engine) (substance.Draft, error) {
		return e.Seal(testID, seal, by, s.a.clock.Now())
	})
}

// Handover records a stage of a sample's chain of custody (substance.Engine.Handover).
func (s *Substances) Handover(ctx context.Context, testID, stage, by string) (substance.Test, error) {
	return s.act(ctx, testID, func(e *substance.Engine) (substance.Draft, error) {
		return e.Handover(testID, stage, by, s.a.clock.Now())
	})
}

// LabResult records a laboratory's result, per analyte (substance.Engine.LabResult).
func (s *Substances) LabResult(ctx context.Context, testID string, results map[string]substance.LabFinding, by string) (substance.Test, error) {
	return s.act(ctx, testID, func(e *substance.Engine) (substance.Draft, error) {
		return e.LabResult(testID, results, by, s.a.clock.Now())
	})
}

// Close closes a test no other way will (substance.Engine.Close).
func (s *Substances) Close(ctx context.Context, testID, note, by string) (substance.Test, error) {
	return s.act(ctx, testID, func(e *substance.Engine) (substance.Draft, error) {
		return e.Close(testID, note, by, s.a.clock.Now())
	})
}

// act makes a change to test testID and returns the test after it.
func (s *Substances) act(ctx context.Context, testID string, f func(e *substance.Engine) (substance.Draft, error)) (substance.Test, error) {
	if _, err := s.change(ctx, f); err != nil {
		return substance.Test{}, err
	}
	t, _, err := s.Test(ctx, testID)
	return t, err
}

// Test returns test id.
func (s *Substances) Test(ctx context.Context, id string) (substance.Test, bool, error) {
	if err := s.wait(ctx); err != nil {
		return substance.Test{}, false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.eng.Get(id)
	return t, ok, nil
}

// Tests returns the open tests, or every test if all, in order of their start.
func (s *Substances) Tests(ctx context.Context, all bool) ([]substance.Test, error) {
	if err := s.wait(ctx); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if all {
		return s.eng.All(), nil
	}
	return s.eng.Open(), nil
}

// AwaitingLab returns the tests waiting on a laboratory longer than configured.
func (s *Substances) AwaitingLab(ctx context.Context) ([]substance.Test, error) {
	if err := s.wait(ctx); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.eng.AwaitingLab(s.a.clock.Now()), nil
}

// Unbound returns the readings bound to no test.
func (s *Substances) Unbound(ctx context.Context) ([]substance.UnboundReading, error) {
	if err := s.wait(ctx); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.eng.Unbound(), nil
}

// Config returns the engine's configuration, its defaults set.
func (s *Substances) Config() substance.Config {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.eng.Config()
}

// Testers returns the configured testers, id to kind.
func (s *Substances) Testers() map[string]string {
	return maps.Clone(s.a.cfg.Devices.SubstanceTesters)
}

// ReplayRefused counts the journaled substance events not applied at start.
func (s *Substances) ReplayRefused() uint64 { return s.replayRefused.Load() }

// reading binds a tester's reading to its test, or holds it unbound, and journals
// what it became; a reading already recorded (the bridge's redelivery) is dropped.
// It returns an error only when the journal failed: the message must then not be
// acknowledged.
func (s *Substances) reading(ctx context.Context, tp sitebus.Topic, m *sitebus.Message) error {
	r, err := sitebus.DecodeSubstanceReading(m.Data)
	if err != nil {
		return &badDataError{err}
	}
	if want := s.a.cfg.Devices.SubstanceTesters[tp.ID]; r.Kind != want {
		return &badDataError{fmt.Errorf("agent: substance: a %s reading from %s, configured as %s", r.Kind, tp.ID, want)}
	}
	_, err = s.change(ctx, func(e *substance.Engine) (substance.Draft, error) {
		return e.Reading(tp.ID, *r, s.a.clock.Now())
	})
	switch {
	case errors.Is(err, substance.ErrDuplicate):
		s.a.dups.Add(1)
		return nil
	case errors.As(err, new(*journalError)):
		return err
	case err != nil:
		return &badDataError{err}
	}
	return nil
}

// badDataError is a device message that is not usable: counted and logged, then
// acknowledged.
type badDataError struct{ err error }

func (e *badDataError) Error() string { return e.err.Error() }
func (e *badDataError) Unwrap() error { return e.err }

// journalError is a change the journal did not take.
type journalError struct{ err error }

func (e *journalError) Error() string { return e.err.Error() }
func (e *journalError) Unwrap() error { return e.err }

// substanceInfo is what the console may show of a substance event to someone who
// may not see results: which test, whose, and of what kind.
type substanceInfo struct {
	TestID     string `json:"testId,omitempty"`
	CRN        string `json:"crn,omitempty"`
	SampleType string `json:"sampleType,omitempty"`
	Device     string `json:"device,omitempty"`
}

// RedactSubstanceInfo returns the Info of a substance event (typ without its
// prefix) with everything but the test id, the CRN, the sample type and the device
// removed, and true; for other types it returns info unchanged and false. The
// console shows this to staff without the substance-results permission.
func RedactSubstanceInfo(typ string, info json.RawMessage) (json.RawMessage, bool) {
	if !isSubstanceType(typ) {
		return info, false
	}
	var in substanceInfo
	_ = json.Unmarshal(info, &in)
	if typ == substance.TypeUnbound {
		var u struct{ Device string }
		_ = json.Unmarshal(info, &u)
		in = substanceInfo{Device: u.Device}
	}
	b, _ := json.Marshal(in)
	return b, true
}
