package substance

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/apedge/apedge/agent/internal/fact"
	"github.com/apedge/apedge/formats/sitebus"
)

// Refusal is a resident's refusal of a test, or their inability to give a sample,
// and the Info of its substance.test-refused event.
type Refusal struct {
	TestID        string         `json:"testId"`
	CRN           string         `json:"crn"`
	Reason        string         `json:"reason"`
	SampleType    string         `json:"sampleType"`
	Device        string         `json:"device,omitempty"`
	Authorisation *Authorisation `json:"authorisation,omitempty"`
	// Refusal is RefusalRefused or RefusalUnable.
	Refusal string `json:"refusal"`
	// Staff recorded it; Witness witnessed it.
	Staff   string    `json:"staff"`
	Witness string    `json:"witness"`
	At      time.Time `json:"at"`
}

// Refused records that the resident of test testID refused it (refusal
// RefusalRefused) or was unable to give a sample (RefusalUnable), witnessed by
// witness (someone other than staff) and recorded by staff at at, which closes the
// test. It returns the
// substance.test-refused draft.
func (e *Engine) Refused(testID, refusal, witness, staff string, at time.Time) (Draft, error) {
	t, err := e.test(testID)
	if err != nil {
		return Draft{}, err
	}
	if fact.Text(witness, 128) && strings.EqualFold(strings.TrimSpace(witness), strings.TrimSpace(staff)) {
		return Draft{}, fmt.Errorf("%w: the witness of a refusal must be someone other than %s, who records it", ErrPeople, staff)
	}
	r := Refusal{TestID: t.ID, CRN: t.CRN, Reason: t.Reason, SampleType: t.SampleType, Device: t.Device,
		Authorisation: cloneAuth(t.Authorisation), Refusal: refusal, Staff: staff, Witness: witness, At: at.UTC()}
	return e.emit(TypeRefused, r.At, t.CRN, t.ID, fact.Key(TypeRefused, t.ID), r)
}

// applyRefusal closes the test as refused.
func (e *Engine) applyRefusal(r Refusal) error {
	t, err := e.eventTest(r.TestID, r.CRN, r.At)
	if err != nil {
		return err
	}
	if t.State != StateAwaitingSample {
		return fmt.Errorf("%w: test %s is not awaiting a sample (it is %s): only a test awaiting one can be refused", ErrState, t.ID, t.State)
	}
	outcome := OutcomeRefused
	switch r.Refusal {
	case RefusalRefused:
	case RefusalUnable:
		outcome = OutcomeUnable
	default:
		return fmt.Errorf("%w: refusal %q: refused or unable", ErrInvalid, fact.Clip(r.Refusal))
	}
	if err := checkName("member of staff recording the refusal", r.Staff); err != nil {
		return err
	}
	if err := checkName("witness of the refusal", r.Witness); err != nil {
		return err
	}
	rc := r
	rc.Authorisation = cloneAuth(r.Authorisation)
	t.Refusal, t.State, t.Outcome, t.ClosedAt = &rc, StateClosed, outcome, r.At
	return nil
}

// Handover is one link of a sample's chain of custody, and the Info of its
// substance.custody event (substance.sample-dispatched for StageDispatched).
type Handover struct {
	TestID     string `json:"testId"`
	CRN        string `json:"crn"`
	SampleType string `json:"sampleType"`
	// Stage is StageCollected, StageSealed, StageDispatched or StageReceived.
	Stage string `json:"stage"`
	// Seal is the seal or barcode number (from StageSealed on).
	Seal string    `json:"seal,omitempty"`
	By   string    `json:"by"`
	At   time.Time `json:"at"`
}

// Seal records that staff member staff sealed test testID's confirmation sample
// under seal or barcode number seal at at: stage sealed of its chain of custody. The
// test must be a non-negative drug screen awaiting confirmation and not yet sealed;
// a seal number is used once. It returns the substance.custody draft.
func (e *Engine) Seal(testID, seal, staff string, at time.Time) (Draft, error) {
	t, err := e.test(testID)
	if err != nil {
		return Draft{}, err
	}
	if other, used := e.seals[seal]; used && other != t.ID {
		return Draft{}, fmt.Errorf("%w: seal %s is test %s's", ErrDuplicate, seal, other)
	}
	return e.handover(t, StageSealed, seal, staff, at)
}

// Handover records a handover of test testID's confirmation sample at stage, by the
// person by, at at: StageCollected (the sample taken, before it is sealed),
// StageDispatched (sent to the laboratory, after Seal) or StageReceived (received by
// the laboratory, after dispatch). StageSealed is [Engine.Seal]'s, which records
// the seal number. Each stage is recorded once, in that order. It returns the
// substance.sample-dispatched draft for StageDispatched, else substance.custody.
func (e *Engine) Handover(testID, stage, by string, at time.Time) (Draft, error) {
	t, err := e.test(testID)
	if err != nil {
		return Draft{}, err
	}
	if stage == StageSealed {
		return Draft{}, fmt.Errorf("%w: a sample is sealed with Seal, which records its seal number", ErrInvalid)
	}
	return e.handover(t, stage, t.Seal, by, at)
}

func (e *Engine) handover(t *Test, stage, seal, by string, at time.Time) (Draft, error) {
	h := Handover{TestID: t.ID, CRN: t.CRN, SampleType: t.SampleType, Stage: stage, Seal: seal, By: by, At: at.UTC()}
	typ := TypeCustody
	if stage == StageDispatched {
		typ = TypeDispatched
	}
	return e.emit(typ, h.At, t.CRN, t.ID, fact.Key(typ, t.ID, stage), h)
}

// applyHandover adds a link to the test's chain of custody. dispatched says the
// event was a substance.sample-dispatched.
func (e *Engine) applyHandover(h Handover, dispatched bool) error {
	t, err := e.eventTest(h.TestID, h.CRN, h.At)
	if err != nil {
		return err
	}
	if dispatched != (h.Stage == StageDispatched) {
		return fmt.Errorf("%w: stage %q in a %s event", ErrEvent, fact.Clip(h.Stage), map[bool]string{true: TypeDispatched, false: TypeCustody}[dispatched])
	}
	if t.State != StateAwaitingConfirmation {
		return fmt.Errorf("%w: test %s is %s (%s): only a non-negative drug screen awaiting confirmation has a chain of custody", ErrState, t.ID, t.State, t.Outcome)
	}
	_, collected := t.stage(StageCollected)
	_, sent := t.stage(StageDispatched)
	_, received := t.stage(StageReceived)
	var why string
	switch h.Stage {
	case StageCollected:
		switch {
		case collected:
			why = "its sample is collected already"
		case t.Seal != "":
			why = "its sample is sealed already"
		}
	case StageSealed:
		switch {
		case t.Seal != "":
			why = "its sample is sealed already, seal " + t.Seal
		case !fact.ID(h.Seal):
			return fmt.Errorf("%w: seal number %q: 1 to 64 printable characters, no spaces", ErrInvalid, fact.Clip(h.Seal))
		}
	case StageDispatched:
		switch {
		case t.Seal == "":
			why = "its sample is not sealed"
		case sent:
			why = "its sample is dispatched already"
		}
	case StageReceived:
		switch {
		case !sent:
			why = "its sample has not been dispatched"
		case received:
			why = "its sample is received already"
		}
	default:
		return fmt.Errorf("%w: custody stage %q: collected, sealed, dispatched or received", ErrInvalid, fact.Clip(h.Stage))
	}
	if why != "" {
		return fmt.Errorf("%w: test %s: %s", ErrState, t.ID, why)
	}
	if h.Stage != StageCollected && h.Seal != t.Seal && h.Stage != StageSealed {
		return fmt.Errorf("%w: test %s's sample is seal %s, not %q", ErrEvent, t.ID, t.Seal, fact.Clip(h.Seal))
	}
	if h.Stage == StageCollected && h.Seal != "" {
		return fmt.Errorf("%w: test %s's sample collected with a seal", ErrEvent, t.ID)
	}
	if err := checkName("person handling the sample", h.By); err != nil {
		return err
	}
	t.Custody = append(t.Custody, h)
	if h.Stage == StageSealed {
		t.Seal = h.Seal
		e.seals[h.Seal] = t.ID
	}
	return nil
}

// LabFinding is a laboratory's result for one analyte: confirmed or not, and by
// what method (e.g. "LC-MS/MS").
type LabFinding struct {
	Confirmed bool   `json:"confirmed"`
	Method    string `json:"method"`
}

// Confirmation is a laboratory's result, and the Info of its substance.confirmed
// event.
type Confirmation struct {
	TestID     string `json:"testId"`
	CRN        string `json:"crn"`
	Reason     string `json:"reason"`
	SampleType string `json:"sampleType"`
	Seal       string `json:"seal"`
	// Screened is the screen's outcome per panel, for the reader of this event
	// alone.
	Screened []sitebus.PanelResult `json:"screened,omitempty"`
	// Results maps each analyte the laboratory reported to its finding.
	Results map[string]LabFinding `json:"results"`
	// Outcome is OutcomeConfirmed if any analyte is confirmed, else
	// OutcomeNotConfirmed.
	Outcome string    `json:"outcome"`
	By      string    `json:"by"`
	At      time.Time `json:"at"`
}

// LabResult records the laboratory's result for test testID's sample, per analyte,
// as entered by staff member by at at, which closes the test. The test must be
// awaiting confirmation with its sample sealed. It returns the substance.confirmed
// draft.
func (e *Engine) LabResult(testID string, results map[string]LabFinding, by string, at time.Time) (Draft, error) {
	t, err := e.test(testID)
	if err != nil {
		return Draft{}, err
	}
	c := Confirmation{TestID: t.ID, CRN: t.CRN, Reason: t.Reason, SampleType: t.SampleType, Seal: t.Seal,
		Results: maps.Clone(results), Outcome: OutcomeNotConfirmed, By: by, At: at.UTC()}
	if t.Screen != nil {
		c.Screened = slices.Clone(t.Screen.Panels)
	}
	for _, f := range results {
		if f.Confirmed {
			c.Outcome = OutcomeConfirmed
		}
	}
	return e.emit(TypeConfirmed, c.At, t.CRN, t.ID, fact.Key(TypeConfirmed, t.ID), c)
}

// applyConfirmation closes the test with the laboratory's result.
func (e *Engine) applyConfirmation(c Confirmation) error {
	t, err := e.eventTest(c.TestID, c.CRN, c.At)
	if err != nil {
		return err
	}
	switch {
	case t.State == StateClosed:
		return fmt.Errorf("%w: test %s is closed", ErrState, t.ID)
	case t.State != StateAwaitingConfirmation:
		return fmt.Errorf("%w: test %s is not awaiting confirmation (it is %s)", ErrState, t.ID, t.State)
	case t.Seal == "":
		return fmt.Errorf("%w: test %s has no sealed sample: record its seal first", ErrState, t.ID)
	case c.Seal != t.Seal:
		return fmt.Errorf("%w: a laboratory result for seal %q, not test %s's seal %s", ErrEvent, fact.Clip(c.Seal), t.ID, t.Seal)
	case len(c.Results) == 0:
		return fmt.Errorf("%w: a laboratory result needs a finding for at least one analyte", ErrInvalid)
	}
	outcome := OutcomeNotConfirmed
	for _, a := range slices.Sorted(maps.Keys(c.Results)) {
		f := c.Results[a]
		if !fact.Text(a, 64) {
			return fmt.Errorf("%w: analyte %q", ErrInvalid, fact.Clip(a))
		}
		if !fact.Text(f.Method, 64) {
			return fmt.Errorf("%w: analyte %s has no method (e.g. LC-MS/MS)", ErrInvalid, a)
		}
		if f.Confirmed {
			outcome = OutcomeConfirmed
		}
	}
	if c.Outcome != outcome {
		return fmt.Errorf("%w: test %s's laboratory outcome %q is not its findings'", ErrEvent, t.ID, fact.Clip(c.Outcome))
	}
	if err := checkName("member of staff entering the laboratory's result", c.By); err != nil {
		return err
	}
	cc := c
	cc.Results = maps.Clone(c.Results)
	cc.Screened = slices.Clone(c.Screened)
	t.Confirmation, t.State, t.Outcome, t.ClosedAt = &cc, StateClosed, outcome, c.At
	return nil
}
