package substance

import (
	"fmt"
	"strings"
	"time"

	"github.com/apedge/apedge/agent/internal/fact"
	"github.com/apedge/apedge/formats/sitebus"
)

// Authorisation is the AP manager's written authorisation under s.13A(1) of the
// Offender Management Act 2007, which specifies when the power to require a sample
// may be exercised: its reference, the manager who gave it and the period it is in
// force, From to To inclusive.
type Authorisation struct {
	Ref     string    `json:"ref"`
	Manager string    `json:"manager"`
	From    time.Time `json:"from"`
	To      time.Time `json:"to"`
}

// Covers says the authorisation is in force at t.
func (a Authorisation) Covers(t time.Time) bool {
	return !t.Before(a.From) && !t.After(a.To)
}

// check returns an error unless a is a well-formed authorisation.
func (a Authorisation) check() error {
	switch {
	case !fact.ID(a.Ref):
		return fmt.Errorf("%w: the authorisation has no reference (or %q is not one)", ErrAuthorisation, fact.Clip(a.Ref))
	case !fact.Text(a.Manager, 128):
		return fmt.Errorf("%w: authorisation %s names no manager", ErrAuthorisation, a.Ref)
	case a.From.IsZero() || a.To.IsZero() || !a.To.After(a.From):
		return fmt.Errorf("%w: authorisation %s has no period (from %s to %s)", ErrAuthorisation, a.Ref, fact.Stamp(a.From), fact.Stamp(a.To))
	}
	return nil
}

func (a Authorisation) utc() Authorisation {
	a.From, a.To = a.From.UTC(), a.To.UTC()
	return a
}

func cloneAuth(a *Authorisation) *Authorisation {
	if a == nil {
		return nil
	}
	c := *a
	return &c
}

// Start is what staff say starting a test, and the Info of its
// substance.test-started event (with TestID set).
type Start struct {
	// TestID is the test's id, which staff may key into the device; empty, the
	// engine makes one ("T-<n>"). At most 64 bytes of printable ASCII, no spaces.
	TestID string `json:"testId"`
	// CRN is the resident's case reference number (X123456).
	CRN string `json:"crn"`
	// Reason is ReasonRandom, ReasonSuspicion, ReasonArrival or ReasonReturn.
	Reason string `json:"reason"`
	// SampleType is SampleBreath, SampleOralFluid or SampleUrine.
	SampleType string `json:"sampleType"`
	// Device is the site-bus id of the breath meter or oral-fluid analyser; empty
	// for a urine cup.
	Device string `json:"device,omitempty"`
	// Authorisation is the s.13A authorisation the test rests on: required, and in
	// force at At, for a drug test (oral fluid, urine); optional for breath.
	Authorisation *Authorisation `json:"authorisation,omitempty"`
	// Staff is the member of staff testing; Witness another who witnesses it.
	Staff   string `json:"staff"`
	Witness string `json:"witness"`
	// At is when the test started.
	At time.Time `json:"at"`
}

// drugTest says the sample type is a drug test's, under s.13A.
func drugTest(sampleType string) bool {
	return sampleType == SampleOralFluid || sampleType == SampleUrine
}

// checkStart returns an error unless s is a well-formed start of a new test: the
// checks Apply makes too.
func (e *Engine) checkStart(s Start) error {
	if !fact.ID(s.TestID) {
		return fmt.Errorf("%w: test id %q: 1 to 64 printable characters, no spaces", ErrInvalid, fact.Clip(s.TestID))
	}
	if _, dup := e.tests[s.TestID]; dup {
		return fmt.Errorf("%w: test id %s is taken", ErrDuplicate, s.TestID)
	}
	if !fact.CRN(s.CRN) {
		return fmt.Errorf("%w: %q is not a CRN: a letter and six digits, e.g. X123456", ErrInvalid, fact.Clip(s.CRN))
	}
	switch s.Reason {
	case ReasonRandom, ReasonSuspicion, ReasonArrival, ReasonReturn:
	default:
		return fmt.Errorf("%w %q: random, suspicion, arrival or return", ErrReason, fact.Clip(s.Reason))
	}
	switch s.SampleType {
	case SampleBreath, SampleOralFluid:
		if !sitebus.ValidDeviceID(s.Device) {
			return fmt.Errorf("%w: a %s test needs the device it is taken on (%q is not a device id)", ErrSampleType, s.SampleType, fact.Clip(s.Device))
		}
	case SampleUrine:
		if s.Device != "" {
			return fmt.Errorf("%w: a urine cup is read by staff, on no device (not %s)", ErrSampleType, fact.Clip(s.Device))
		}
	default:
		return fmt.Errorf("%w %q: breath, oral-fluid or urine", ErrSampleType, fact.Clip(s.SampleType))
	}
	if err := checkName("member of staff testing", s.Staff); err != nil {
		return err
	}
	if err := checkName("witness", s.Witness); err != nil {
		return err
	}
	if s.At.IsZero() {
		return fmt.Errorf("%w: the test has no start time", ErrInvalid)
	}
	if s.Authorisation != nil {
		return s.Authorisation.check()
	}
	return nil
}

// StartTest starts a test for a resident. It refuses a malformed start, an unknown
// reason or sample type, missing staff or witness, a witness who is the member of
// staff testing, a drug test (oral fluid or urine) without an authorisation in force
// at s.At (alcohol needs none, but one named must be in force), and a second test at
// a device that already has one awaiting its sample. It returns the test and its
// substance.test-started draft.
func (e *Engine) StartTest(s Start) (Test, Draft, error) {
	if s.TestID == "" {
		s.TestID = e.nextID()
	}
	s.At = s.At.UTC()
	if s.Authorisation != nil {
		a := s.Authorisation.utc()
		s.Authorisation = &a
	}
	if err := e.checkStart(s); err != nil {
		return Test{}, Draft{}, err
	}
	if strings.EqualFold(strings.TrimSpace(s.Staff), strings.TrimSpace(s.Witness)) {
		return Test{}, Draft{}, fmt.Errorf("%w: the witness must be someone other than %s, who is testing", ErrPeople, s.Staff)
	}
	switch a := s.Authorisation; {
	case a == nil && drugTest(s.SampleType):
		return Test{}, Draft{}, fmt.Errorf("%w: a drug test (%s) needs the manager's s.13A authorisation it rests on: its reference, manager and period", ErrAuthorisation, s.SampleType)
	case a != nil && !a.Covers(s.At):
		return Test{}, Draft{}, fmt.Errorf("%w: authorisation %s (%s) runs from %s to %s, not in force at %s", ErrAuthorisation,
			a.Ref, a.Manager, fact.Stamp(a.From), fact.Stamp(a.To), fact.Stamp(s.At))
	}
	if s.Device != "" {
		if busy := e.awaiting(s.Device); len(busy) > 0 {
			return Test{}, Draft{}, fmt.Errorf("%w: %s already has test %s, started %s, awaiting its sample: two open tests at one device are refused; record its result or refusal, or close it, first",
				ErrDeviceBusy, s.Device, busy[0].ID, fact.Stamp(busy[0].StartedAt))
		}
	}
	d, err := e.emit(TypeStarted, s.At, s.CRN, s.TestID, fact.Key(TypeStarted, s.TestID), s)
	if err != nil {
		return Test{}, Draft{}, err
	}
	t, _ := e.Get(s.TestID)
	return t, d, nil
}

// applyStart adds the test s starts.
func (e *Engine) applyStart(s Start) error {
	if err := e.checkStart(s); err != nil {
		return err
	}
	e.tests[s.TestID] = &Test{ID: s.TestID, CRN: s.CRN, Reason: s.Reason, SampleType: s.SampleType, Device: s.Device,
		Authorisation: cloneAuth(s.Authorisation), Staff: s.Staff, Witness: s.Witness, StartedAt: s.At, State: StateAwaitingSample}
	e.noteID(s.TestID)
	return nil
}

// Closure is the Info of a substance.test-closed event: a test closed by staff,
// neither tested to its end nor refused.
type Closure struct {
	TestID     string `json:"testId"`
	CRN        string `json:"crn"`
	Reason     string `json:"reason"`
	SampleType string `json:"sampleType"`
	Device     string `json:"device,omitempty"`
	// StateBefore is the test's state when closed: StateAwaitingSample (the test is
	// cancelled: started in error, the device failed) or StateAwaitingConfirmation
	// (a non-negative not sent for, or never answered by, a laboratory).
	StateBefore string `json:"stateBefore"`
	// Outcome is the test's outcome after: OutcomeCancelled, or the screen's.
	Outcome string    `json:"outcome"`
	Note    string    `json:"note"`
	By      string    `json:"by"`
	At      time.Time `json:"at"`
}

// Close closes a test that is not closed, for the reason note (why: "started for
// the wrong resident", "the resident admitted use; no confirmation sought"), on
// behalf of staff member by. A test awaiting its sample is cancelled, freeing its
// device; one awaiting confirmation keeps its screen's outcome. It returns the
// substance.test-closed draft.
func (e *Engine) Close(testID, note, by string, at time.Time) (Draft, error) {
	t, err := e.test(testID)
	if err != nil {
		return Draft{}, err
	}
	c := Closure{TestID: t.ID, CRN: t.CRN, Reason: t.Reason, SampleType: t.SampleType, Device: t.Device,
		StateBefore: t.State, Outcome: t.Outcome, Note: note, By: by, At: at.UTC()}
	if t.State == StateAwaitingSample {
		c.Outcome = OutcomeCancelled
	}
	d, err := e.emit(TypeClosed, c.At, t.CRN, t.ID, fact.Key(TypeClosed, t.ID), c)
	if err != nil {
		return Draft{}, err
	}
	return d, nil
}

// applyClose closes the test.
func (e *Engine) applyClose(c Closure) error {
	t, err := e.eventTest(c.TestID, c.CRN, c.At)
	if err != nil {
		return err
	}
	switch {
	case t.State == StateClosed:
		return fmt.Errorf("%w: test %s is already closed", ErrState, t.ID)
	case c.StateBefore != t.State:
		return fmt.Errorf("%w: test %s is %s, not %s", ErrState, t.ID, t.State, fact.Clip(c.StateBefore))
	case t.State == StateAwaitingSample && c.Outcome != OutcomeCancelled,
		t.State == StateAwaitingConfirmation && c.Outcome != t.Outcome:
		return fmt.Errorf("%w: closing test %s with outcome %q", ErrEvent, t.ID, fact.Clip(c.Outcome))
	case !fact.Text(c.Note, 500):
		return fmt.Errorf("%w: closing test %s needs a note saying why", ErrInvalid, t.ID)
	}
	if err := checkName("member of staff closing the test", c.By); err != nil {
		return err
	}
	cc := c
	t.Closure, t.State, t.Outcome, t.ClosedAt = &cc, StateClosed, c.Outcome, c.At
	return nil
}

// eventTest returns the test an event of testID and crn at at is about, checking
// that the CRN is the test's and that at is not before the last thing that happened
// to it.
func (e *Engine) eventTest(testID, crn string, at time.Time) (*Test, error) {
	t, err := e.test(testID)
	if err != nil {
		return nil, err
	}
	switch {
	case crn != t.CRN:
		return nil, fmt.Errorf("%w: an event of test %s names CRN %q, not the test's", ErrEvent, t.ID, fact.Clip(crn))
	case at.IsZero():
		return nil, fmt.Errorf("%w: no time", ErrInvalid)
	case at.Before(t.last()):
		return nil, fmt.Errorf("%w: %s is before the last record of test %s (%s)", ErrInvalid, fact.Stamp(at), t.ID, fact.Stamp(t.last()))
	}
	return t, nil
}
