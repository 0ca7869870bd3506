package substance

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/apedge/apedge/agent/internal/fact"
	"github.com/apedge/apedge/formats/sitebus"
)

// Event types of the drafts an [Engine] returns.
const (
	TypeStarted    = "substance.test-started"
	TypeTested     = "substance.tested"
	TypeRefused    = "substance.test-refused"
	TypeCustody    = "substance.custody"
	TypeDispatched = "substance.sample-dispatched"
	TypeConfirmed  = "substance.confirmed"
	TypeClosed     = "substance.test-closed"
	TypeUnbound    = "substance.reading-unbound"
)

// Types lists every event type an [Engine] returns and applies: the agent replays
// journaled events of these types into a new engine.
func Types() []string {
	return []string{TypeStarted, TypeTested, TypeRefused, TypeCustody, TypeDispatched, TypeConfirmed, TypeClosed, TypeUnbound}
}

// Reasons for a test.
const (
	ReasonRandom    = "random"
	ReasonSuspicion = "suspicion"
	ReasonArrival   = "arrival"
	ReasonReturn    = "return" // after a return to the AP
)

// Sample types.
const (
	SampleBreath    = "breath"     // alcohol, on a breath meter
	SampleOralFluid = "oral-fluid" // drugs, on an oral-fluid analyser
	SampleUrine     = "urine"      // drugs, on a cup staff read
)

// Test states.
const (
	// StateAwaitingSample: started, waiting for its reading, cup result or refusal.
	StateAwaitingSample = "awaiting-sample"
	// StateAwaitingConfirmation: a non-negative drug screen, waiting for its chain of
	// custody and the laboratory.
	StateAwaitingConfirmation = "awaiting-confirmation"
	// StateClosed: nothing more happens to the test.
	StateClosed = "closed"
)

// Outcomes of a test ([Test.Outcome]) and of a screen ([Screen.Outcome]: the first
// three).
const (
	OutcomeNegative     = sitebus.ResultNegative
	OutcomeNonNegative  = sitebus.ResultNonNegative // preliminary until a laboratory confirms it
	OutcomeInvalid      = sitebus.ResultInvalid
	OutcomeRefused      = "refused"
	OutcomeUnable       = "unable" // unable to give a sample
	OutcomeConfirmed    = "confirmed"
	OutcomeNotConfirmed = "not-confirmed"
	OutcomeCancelled    = "cancelled" // closed before any sample
)

// Refusal kinds, as [Engine.Refused] takes them.
const (
	RefusalRefused = "refused"
	RefusalUnable  = "unable"
)

// Chain-of-custody stages, in their order.
const (
	StageCollected  = "collected"  // the confirmation sample taken
	StageSealed     = "sealed"     // sealed under its seal or barcode number (Engine.Seal)
	StageDispatched = "dispatched" // sent to the laboratory
	StageReceived   = "received"   // received by the laboratory
)

// How a screen came to its test ([Screen.BoundBy]).
const (
	BoundByTestID  = "test-id" // the test id keyed into the device
	BoundByWindow  = "window"  // the device's one open test, within the binding window
	BoundByEntered = "entered" // a urine cup's result entered by staff
)

// Calibration states of a device at a reading ([Screen.Calibration]).
const (
	CalibrationInDate  = "in-date"
	CalibrationOverdue = "overdue"
	CalibrationUnknown = "unknown"
)

// Defaults of [Config].
const (
	DefaultBindWindow = 10 * time.Minute
	DefaultClockSkew  = 2 * time.Minute
	DefaultLabOverdue = 14 * 24 * time.Hour
	// DefaultBreathLimitUg is devices/substance.DefaultBreathAlcoholLimitUg (9 µg of
	// alcohol per 100 ml of breath; see there for why), which the agent may not import
	// (internal/archtest); a test checks they agree.
	DefaultBreathLimitUg = 9.0
	// DefaultMinTemperatureC and DefaultMaxTemperatureC are the Dräger DrugTest 5000's
	// ambient operating range (DrugTest 5000 STK instructions for use, section 3.1:
	// +5 °C to +40 °C).
	DefaultMinTemperatureC = 5.0
	DefaultMaxTemperatureC = 40.0
)

// Errors, tested with errors.Is; each comes wrapped in a sentence saying what was
// wrong, for the member of staff who asked.
var (
	// ErrInvalid: an argument is malformed or missing (a CRN, an id, a time, a date, a
	// panel).
	ErrInvalid = errors.New("substance: invalid")
	// ErrReason: not a reason for a test.
	ErrReason = errors.New("substance: unknown reason")
	// ErrSampleType: not a sample type, or a device that does not fit it.
	ErrSampleType = errors.New("substance: unknown sample type")
	// ErrAuthorisation: a drug test without an s.13A authorisation, or under one not
	// in force when the test starts.
	ErrAuthorisation = errors.New("substance: no authorisation in force")
	// ErrDeviceBusy: the device already has a test awaiting its sample.
	ErrDeviceBusy = errors.New("substance: the device has an open test")
	// ErrPeople: no member of staff, or no witness, or the same person as both.
	ErrPeople = errors.New("substance: staff and witness")
	// ErrNoTest: no such test.
	ErrNoTest = errors.New("substance: no such test")
	// ErrState: the test is not in a state for this (closed, already tested, not
	// sealed, a stage out of order).
	ErrState = errors.New("substance: not now")
	// ErrDuplicate: a test id, seal number or device reading already recorded.
	ErrDuplicate = errors.New("substance: already recorded")
	// ErrEvent: a draft Apply cannot read, or of a type it does not know.
	ErrEvent = errors.New("substance: bad event")
)

// Config configures an [Engine]. Zero fields take the defaults.
type Config struct {
	// BindWindow is how long after a test starts a reading without a test id may
	// still be bound to it (default DefaultBindWindow).
	BindWindow time.Duration
	// ClockSkew is how far before a test's start a device's clock may date a reading
	// bound by the window (default DefaultClockSkew): one measured earlier is an
	// earlier test's, late from the bridge, and is not bound.
	ClockSkew time.Duration
	// LabOverdue is how long after dispatch a test waits for its laboratory before
	// AwaitingLab lists it (default DefaultLabOverdue).
	LabOverdue time.Duration
	// BreathLimitUg is the breath-alcohol limit, µg per 100 ml of breath, at or over
	// which a breath test is non-negative (default DefaultBreathLimitUg).
	BreathLimitUg float64
	// OralFluidCutoffs and UrineCutoffs map a drug panel to its cut-off, ng/ml: for
	// the record, where the device reports none (oral fluid) or staff enter a cup's
	// result (urine). The agent fills them from devices/substance's
	// DefaultOralFluidCutoffs and DefaultUrineCutoffs or the site's configuration;
	// nil records no cut-off. The outcome of a panel is the device's or the cup's,
	// never recomputed from a cut-off.
	OralFluidCutoffs, UrineCutoffs map[string]float64
	// MinTemperatureC and MaxTemperatureC are the ambient operating range of the
	// devices (both zero: DefaultMinTemperatureC to DefaultMaxTemperatureC).
	MinTemperatureC, MaxTemperatureC float64
}

// withDefaults returns c with its defaults set, or an error saying what is wrong.
func (c Config) withDefaults() (Config, error) {
	if c.BindWindow == 0 {
		c.BindWindow = DefaultBindWindow
	}
	if c.ClockSkew == 0 {
		c.ClockSkew = DefaultClockSkew
	}
	if c.LabOverdue == 0 {
		c.LabOverdue = DefaultLabOverdue
	}
	if c.BreathLimitUg == 0 {
		c.BreathLimitUg = DefaultBreathLimitUg
	}
	if c.MinTemperatureC == 0 && c.MaxTemperatureC == 0 {
		c.MinTemperatureC, c.MaxTemperatureC = DefaultMinTemperatureC, DefaultMaxTemperatureC
	}
	switch {
	case c.BindWindow < 0 || c.ClockSkew < 0 || c.LabOverdue < 0:
		return c, fmt.Errorf("%w config: a negative duration", ErrInvalid)
	case !finite(c.BreathLimitUg) || c.BreathLimitUg < 0 || c.BreathLimitUg > 1000:
		return c, fmt.Errorf("%w config: breath limit %v µg/100 ml", ErrInvalid, c.BreathLimitUg)
	case !finite(c.MinTemperatureC) || !finite(c.MaxTemperatureC) || c.MinTemperatureC >= c.MaxTemperatureC:
		return c, fmt.Errorf("%w config: operating range %v to %v °C", ErrInvalid, c.MinTemperatureC, c.MaxTemperatureC)
	}
	for name, m := range map[string]map[string]float64{"oral-fluid": c.OralFluidCutoffs, "urine": c.UrineCutoffs} {
		for p, v := range m {
			if !isDrugPanel(p) {
				return c, fmt.Errorf("%w config: %s cut-off of %q, which is not a drug panel", ErrInvalid, name, p)
			}
			if !finite(v) || v <= 0 || v > 1e6 {
				return c, fmt.Errorf("%w config: %s cut-off of %s: %v ng/ml", ErrInvalid, name, p, v)
			}
		}
	}
	c.OralFluidCutoffs = maps.Clone(c.OralFluidCutoffs)
	c.UrineCutoffs = maps.Clone(c.UrineCutoffs)
	return c, nil
}

// Engine holds the substance tests of one site, open and past, and the readings
// bound to none. Its zero value is not usable: call [New].
type Engine struct {
	cfg     Config
	tests   map[string]*Test
	unbound []UnboundReading
	seen    map[string]bool // readings recorded, by readingKey
	seals   map[string]string
	lastN   int // the highest n of a test id "T-<n>"
}

// New returns an engine with no tests, or an error if cfg is not valid.
func New(cfg Config) (*Engine, error) {
	c, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	return &Engine{cfg: c, tests: map[string]*Test{}, seen: map[string]bool{}, seals: map[string]string{}}, nil
}

// Config returns the engine's configuration, its defaults set.
func (e *Engine) Config() Config {
	c := e.cfg
	c.OralFluidCutoffs = maps.Clone(c.OralFluidCutoffs)
	c.UrineCutoffs = maps.Clone(c.UrineCutoffs)
	return c
}

// Clone returns a deep copy of e: the agent keeps one before a change it may fail to
// journal, to go back to.
func (e *Engine) Clone() *Engine {
	c := &Engine{cfg: e.Config(), tests: make(map[string]*Test, len(e.tests)), seen: maps.Clone(e.seen),
		seals: maps.Clone(e.seals), lastN: e.lastN}
	for id, t := range e.tests {
		ct := t.clone()
		c.tests[id] = &ct
	}
	for _, u := range e.unbound {
		c.unbound = append(c.unbound, u.clone())
	}
	return c
}

// Test is one substance test: what started it and all that has happened to it since.
type Test struct {
	ID            string
	CRN           string
	Reason        string
	SampleType    string
	Device        string // empty for a urine cup
	Authorisation *Authorisation
	Staff         string
	Witness       string
	StartedAt     time.Time

	// State is StateAwaitingSample, StateAwaitingConfirmation or StateClosed; Outcome
	// is empty while awaiting its sample, then one of the Outcome constants: the
	// screen's, then the refusal's, the laboratory's or OutcomeCancelled.
	State   string
	Outcome string

	Screen       *Screen  // the reading or cup result, if any
	Refusal      *Refusal // the refusal, if any
	Seal         string   // the seal or barcode number of the confirmation sample
	Custody      []Handover
	Confirmation *Confirmation
	Closure      *Closure
	ClosedAt     time.Time
}

// clone returns a deep copy of t.
func (t Test) clone() Test {
	c := t
	if t.Authorisation != nil {
		a := *t.Authorisation
		c.Authorisation = &a
	}
	if t.Screen != nil {
		s := t.Screen.clone()
		c.Screen = &s
	}
	if t.Refusal != nil {
		r := *t.Refusal
		r.Authorisation = cloneAuth(r.Authorisation)
		c.Refusal = &r
	}
	c.Custody = slices.Clone(t.Custody)
	if t.Confirmation != nil {
		cf := *t.Confirmation
		cf.Results = maps.Clone(cf.Results)
		cf.Screened = slices.Clone(cf.Screened)
		c.Confirmation = &cf
	}
	if t.Closure != nil {
		cl := *t.Closure
		c.Closure = &cl
	}
	return c
}

// last is the time of the last thing that happened to t.
func (t *Test) last() time.Time {
	last := t.StartedAt
	for _, h := range t.Custody {
		if h.At.After(last) {
			last = h.At
		}
	}
	if t.Screen != nil && t.Screen.At.After(last) {
		last = t.Screen.At
	}
	return last
}

// stage returns t's custody record of stage, if any.
func (t *Test) stage(stage string) (Handover, bool) {
	for _, h := range t.Custody {
		if h.Stage == stage {
			return h, true
		}
	}
	return Handover{}, false
}

// DispatchedAt is when t's sample was dispatched to the laboratory, or zero.
func (t Test) DispatchedAt() time.Time {
	h, _ := t.stage(StageDispatched)
	return h.At
}

// Get returns the test of id (a copy).
func (e *Engine) Get(id string) (Test, bool) {
	t, ok := e.tests[id]
	if !ok {
		return Test{}, false
	}
	return t.clone(), true
}

// Open returns the tests not closed, awaiting a sample or a confirmation, in order
// of their start.
func (e *Engine) Open() []Test {
	return e.list(func(t *Test) bool { return t.State != StateClosed })
}

// All returns every test, in order of its start.
func (e *Engine) All() []Test {
	return e.list(func(*Test) bool { return true })
}

// AwaitingLab returns the tests dispatched to a laboratory more than
// Config.LabOverdue before now and still without its result, longest waiting
// first.
func (e *Engine) AwaitingLab(now time.Time) []Test {
	out := e.list(func(t *Test) bool {
		d := t.DispatchedAt()
		return t.State == StateAwaitingConfirmation && !d.IsZero() && now.Sub(d) > e.cfg.LabOverdue
	})
	slices.SortStableFunc(out, func(a, b Test) int { return a.DispatchedAt().Compare(b.DispatchedAt()) })
	return out
}

// Unbound returns the readings bound to no test, oldest first.
func (e *Engine) Unbound() []UnboundReading {
	out := make([]UnboundReading, 0, len(e.unbound))
	for _, u := range e.unbound {
		out = append(out, u.clone())
	}
	return out
}

func (e *Engine) list(keep func(*Test) bool) []Test {
	var out []Test
	for _, t := range e.tests {
		if keep(t) {
			out = append(out, t.clone())
		}
	}
	slices.SortFunc(out, func(a, b Test) int { return cmp.Or(a.StartedAt.Compare(b.StartedAt), cmp.Compare(a.ID, b.ID)) })
	return out
}

// awaiting returns the tests awaiting a sample at device, in order of their start.
func (e *Engine) awaiting(device string) []*Test {
	var out []*Test
	for _, t := range e.tests {
		if t.Device == device && t.State == StateAwaitingSample {
			out = append(out, t)
		}
	}
	slices.SortFunc(out, func(a, b *Test) int { return cmp.Or(a.StartedAt.Compare(b.StartedAt), cmp.Compare(a.ID, b.ID)) })
	return out
}

// test returns the test of id, or ErrNoTest.
func (e *Engine) test(id string) (*Test, error) {
	t, ok := e.tests[id]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrNoTest, id)
	}
	return t, nil
}

// nextID returns the next free test id "T-<n>".
func (e *Engine) nextID() string {
	for n := e.lastN + 1; ; n++ {
		id := "T-" + strconv.Itoa(n)
		if _, used := e.tests[id]; !used {
			return id
		}
	}
}

// noteID keeps lastN the highest n of the test ids "T-<n>" seen.
func (e *Engine) noteID(id string) {
	digits, ok := strings.CutPrefix(id, "T-")
	if !ok || digits == "" || len(digits) > 9 || strings.Trim(digits, "0123456789") != "" {
		return
	}
	if n, err := strconv.Atoi(digits); err == nil && n > e.lastN {
		e.lastN = n
	}
}

// Checks of arguments.

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }

// isDrugPanel says p is a panel of sitebus.Panels other than alcohol.
func isDrugPanel(p string) bool {
	return p != sitebus.PanelAlcohol && slices.Contains(sitebus.Panels, p)
}

// checkName returns an ErrPeople error unless name is a person's name.
func checkName(what, name string) error {
	if !fact.Text(name, 128) {
		return fmt.Errorf("%w: no %s named (or the name %q is not a name)", ErrPeople, what, fact.Clip(name))
	}
	return nil
}
