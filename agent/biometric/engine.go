package biometric

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/apedge/apedge/agent/internal/fact"
	"github.com/apedge/apedge/formats/sitebus"
)

// Event types of the drafts an [Engine] returns and applies.
const (
	TypeConsent           = "biometric.consent-recorded"
	TypeStarted           = "biometric.enrolment-started"
	TypeEnrolled          = "biometric.enrolled"
	TypeEnrolFailed       = "biometric.enrol-failed"
	TypeAlternative       = "biometric.alternative-offered"
	TypeDeletionRequested = "biometric.deletion-requested"
	TypeDeleted           = "biometric.deleted"
	TypeDeletionOverdue   = "biometric.deletion-overdue"
	TypeOrphanSlot        = "biometric.orphan-slot"
	// TypeVerificationFailed is the alarm a [Verifier] raises. The engine neither
	// makes nor applies it: it is not among Types.
	TypeVerificationFailed = "biometric.verification-failed"
)

// Types lists every event type an [Engine] returns and applies: the agent replays
// journaled events of these types into a new engine.
func Types() []string {
	return []string{TypeConsent, TypeStarted, TypeEnrolled, TypeEnrolFailed, TypeAlternative, TypeDeletionRequested,
		TypeDeleted, TypeDeletionOverdue, TypeOrphanSlot}
}

// fingers are the fingers a template may be of, hand then finger.
var fingers = []string{
	"left-thumb", "left-index", "left-middle", "left-ring", "left-little",
	"right-thumb", "right-index", "right-middle", "right-ring", "right-little",
}

// Fingers lists the fingers that may be enrolled: "left-thumb", "left-index",
// "left-middle", "left-ring", "left-little" and the same of the right hand.
func Fingers() []string { return slices.Clone(fingers) }

// ValidFinger says f is one of [Fingers].
func ValidFinger(f string) bool { return slices.Contains(fingers, f) }

// Why an alternative was offered ([Alternative.Why]) and why a deletion was
// requested ([DeletionRequest.Why]).
const (
	WhyDeclined        = "declined"         // the resident declined consent
	WhyFailedEnrolment = "failed-enrolment" // Config.MaxAttempts failed attempts
	WhyDeparted        = "departed"         // the resident departed
	WhyStaff           = "staff"            // staff asked
)

// Reasons an enrolment ended without a template that the agent or staff give
// ([Engine.Abandon]); the terminal's own reasons are its codes (sitebus.EnrolFailed).
// None of these counts as a failed attempt; of the terminal's, all but
// ReasonCancelled do.
const (
	ReasonCancelled = "cancelled"          // ended by staff (or, so reported, by the terminal)
	ReasonNoAnswer  = "no-answer"          // the terminal did not answer the enrol command
	ReasonNotTaken  = "not-taken"          // the bridge answered the enrol command failed or expired
	ReasonDeletion  = "deletion-requested" // ended by a deletion of the resident's templates
)

// Enrolment states ([Enrolment.State]).
const (
	// StateEnrolling: started, the terminal capturing.
	StateEnrolling = "enrolling"
	// StateEnrolled: the template is stored in the slot.
	StateEnrolled = "enrolled"
	// StateFailed: ended without a template.
	StateFailed = "failed"
	// StateDeleting: its deletion requested, not yet confirmed by the terminal; the
	// template may still be in the slot, but it opens no door.
	StateDeleting = "deleting"
	// StateDeleted: the terminal's index table read back shows the slot free.
	StateDeleted = "deleted"
)

// Defaults of [Config].
const (
	DefaultMaxAttempts     = 3
	DefaultDeletionOverdue = 24 * time.Hour
	// MaxSlots bounds a terminal's library: sitebus's bound on a slot number.
	MaxSlots = 10000
)

// Errors, tested with errors.Is; each comes wrapped in a sentence saying what was
// wrong, for the member of staff who asked.
var (
	// ErrInvalid: an argument is malformed or missing (a CRN, an id, a name, a time).
	ErrInvalid = errors.New("biometric: invalid")
	// ErrFinger: not one of Fingers.
	ErrFinger = errors.New("biometric: unknown finger")
	// ErrConsent: no consent recorded for the resident, or their last word was a
	// refusal.
	ErrConsent = errors.New("biometric: no consent recorded")
	// ErrBusy: the terminal has an enrolment under way.
	ErrBusy = errors.New("biometric: the terminal is enrolling")
	// ErrDuplicate: the finger is already enrolled (or enrolling) on the terminal, or
	// the event was recorded already.
	ErrDuplicate = errors.New("biometric: already recorded")
	// ErrFull: the terminal has no free slot.
	ErrFull = errors.New("biometric: the terminal's library is full")
	// ErrNoEnrolment: no such enrolment (or not on that terminal).
	ErrNoEnrolment = errors.New("biometric: no such enrolment")
	// ErrState: the enrolment or deletion is not in a state for this (ended
	// already, not under way).
	ErrState = errors.New("biometric: not now")
	// ErrNothing: the resident has no template on any terminal, nor an enrolment
	// under way.
	ErrNothing = errors.New("biometric: nothing to delete")
	// ErrNoDeletion: no pending deletion on the terminal of those slots.
	ErrNoDeletion = errors.New("biometric: no such deletion")
	// ErrEvent: a draft Apply cannot read, of a type it does not know, or that
	// does not fit the state.
	ErrEvent = errors.New("biometric: bad event")
)

// Config configures an [Engine]. Zero fields take the defaults.
type Config struct {
	// MaxAttempts is how many failed enrolment attempts (since the resident's last
	// success) make the engine offer the alternative (default DefaultMaxAttempts).
	MaxAttempts int
	// DeletionOverdue is how long a deletion may stay pending before Overdue raises
	// it (default DefaultDeletionOverdue).
	DeletionOverdue time.Duration
}

// withDefaults returns c with its defaults set, or an error saying what is wrong.
func (c Config) withDefaults() (Config, error) {
	if c.MaxAttempts == 0 {
		c.MaxAttempts = DefaultMaxAttempts
	}
	if c.DeletionOverdue == 0 {
		c.DeletionOverdue = DefaultDeletionOverdue
	}
	switch {
	case c.MaxAttempts < 1 || c.MaxAttempts > 100:
		return c, fmt.Errorf("%w config: maxAttempts %d: use 1 to 100", ErrInvalid, c.MaxAttempts)
	case c.DeletionOverdue < time.Minute:
		return c, fmt.Errorf("%w config: deletionOverdue %s: use at least 1m", ErrInvalid, c.DeletionOverdue)
	}
	return c, nil
}

// Enrolment is one finger's enrolment on one terminal, from its start to the
// deletion of its template.
type Enrolment struct {
	ID       string `json:"id"`
	CRN      string `json:"crn"`
	Terminal string `json:"terminal"`
	Slot     int    `json:"slot"`
	Finger   string `json:"finger"`
	By       string `json:"by"`
	// Attempt numbers the resident's attempts since their last success (or the
	// alternative's offer), from 1.
	Attempt   int       `json:"attempt"`
	State     string    `json:"state"`
	StartedAt time.Time `json:"startedAt"`
	// EndedAt is when it was enrolled or failed; Reason and Detail say why it
	// failed.
	EndedAt time.Time `json:"endedAt,omitzero"`
	Reason  string    `json:"reason,omitempty"`
	Detail  string    `json:"detail,omitempty"`
	// Deletion is the deletion of its template, once requested; DeletedAt when the
	// terminal confirmed it.
	Deletion  string    `json:"deletion,omitempty"`
	DeletedAt time.Time `json:"deletedAt,omitzero"`
}

// holds says the enrolment's slot has (or is about to have) its template.
func (e *Enrolment) holds() bool {
	return e.State == StateEnrolling || e.State == StateEnrolled || e.State == StateDeleting
}

// Deletion is the deletion of one resident's templates from one terminal.
type Deletion struct {
	ID          string    `json:"id"`
	CRN         string    `json:"crn"`
	Terminal    string    `json:"terminal"`
	Slots       []int     `json:"slots"`
	Why         string    `json:"why"`
	By          string    `json:"by"`
	RequestedAt time.Time `json:"requestedAt"`
	// Attempts counts the terminal's answers that did not confirm it.
	Attempts int `json:"attempts"`
	// OverdueRaised says biometric.deletion-overdue was raised for it.
	OverdueRaised bool `json:"overdueRaised,omitempty"`
	// Proof is the terminal's answer that confirmed it: done when set.
	Proof *Deleted `json:"proof,omitempty"`
}

// Done says the terminal confirmed the deletion.
func (d Deletion) Done() bool { return d.Proof != nil }

// Waited is how long the deletion has waited at now (or waited, if done).
func (d Deletion) Waited(now time.Time) time.Duration {
	if d.Proof != nil {
		now = d.Proof.At
	}
	return max(now.Sub(d.RequestedAt), 0)
}

func (d Deletion) clone() Deletion {
	c := d
	c.Slots = slices.Clone(d.Slots)
	if d.Proof != nil {
		p := d.Proof.clone()
		c.Proof = &p
	}
	return c
}

// Engine holds the biometric records of one site: consents, enrolments,
// alternatives offered, deletions and orphan slots. Its zero value is not usable:
// call [New].
type Engine struct {
	cfg        Config
	consents   map[string][]Consent   // by CRN, in order
	enrolments map[string]*Enrolment  // by id
	offered    map[string]int         // by CRN: alternatives offered, ever
	active     map[string]Alternative // by CRN: the alternative in force
	failures   map[string]int         // by CRN: failed attempts since the last success or offer
	deletions  map[string]*Deletion   // by id
	orphans    map[string]Orphan      // by terminal "/" slot
	lastRead   map[string]time.Time   // by terminal: the latest reading of its used slots journaled
	lastE      int                    // the highest n of an enrolment id "E-<n>"
	lastD      int                    // the highest n of a deletion id "D-<n>"
}

// New returns an engine with no records, or an error if cfg is not valid.
func New(cfg Config) (*Engine, error) {
	c, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	return &Engine{cfg: c, consents: map[string][]Consent{}, enrolments: map[string]*Enrolment{}, offered: map[string]int{},
		active: map[string]Alternative{}, failures: map[string]int{}, deletions: map[string]*Deletion{},
		orphans: map[string]Orphan{}, lastRead: map[string]time.Time{}}, nil
}

// Config returns the engine's configuration, its defaults set.
func (e *Engine) Config() Config { return e.cfg }

// Clone returns a deep copy of e: the agent keeps one before a change it may fail to
// journal, to go back to.
func (e *Engine) Clone() *Engine {
	c := &Engine{cfg: e.cfg, consents: make(map[string][]Consent, len(e.consents)), enrolments: make(map[string]*Enrolment, len(e.enrolments)),
		offered: maps.Clone(e.offered), active: maps.Clone(e.active), failures: maps.Clone(e.failures),
		deletions: make(map[string]*Deletion, len(e.deletions)), orphans: maps.Clone(e.orphans), lastRead: maps.Clone(e.lastRead),
		lastE: e.lastE, lastD: e.lastD}
	for crn, cs := range e.consents {
		c.consents[crn] = slices.Clone(cs)
	}
	for id, en := range e.enrolments {
		x := *en
		c.enrolments[id] = &x
	}
	for id, d := range e.deletions {
		x := d.clone()
		c.deletions[id] = &x
	}
	return c
}

// ConsentOf returns the last consent (or refusal) recorded for crn.
func (e *Engine) ConsentOf(crn string) (Consent, bool) {
	cs := e.consents[crn]
	if len(cs) == 0 {
		return Consent{}, false
	}
	return cs[len(cs)-1], true
}

// AlternativeOf returns the alternative in force for crn: offered, and not since
// superseded by an enrolment that succeeded.
func (e *Engine) AlternativeOf(crn string) (Alternative, bool) {
	a, ok := e.active[crn]
	return a, ok
}

// Attempts returns how many enrolment attempts of crn failed since their last
// success or the alternative's offer.
func (e *Engine) Attempts(crn string) int { return e.failures[crn] }

// Enrolment returns the enrolment of id (a copy).
func (e *Engine) Enrolment(id string) (Enrolment, bool) {
	en, ok := e.enrolments[id]
	if !ok {
		return Enrolment{}, false
	}
	return *en, true
}

// Enrolments returns the enrolments of crn, or every enrolment if crn is empty, in
// order of their start.
func (e *Engine) Enrolments(crn string) []Enrolment {
	return e.list(func(en *Enrolment) bool { return crn == "" || en.CRN == crn })
}

// Enrolling returns the enrolment under way on terminal, if any.
func (e *Engine) Enrolling(terminal string) (Enrolment, bool) {
	for _, en := range e.enrolments {
		if en.Terminal == terminal && en.State == StateEnrolling {
			return *en, true
		}
	}
	return Enrolment{}, false
}

// Fingers returns, for crn, each terminal holding an enrolled template of theirs
// with its slots, sorted: what the credential list gives the bridge. It is nil when
// there is none.
func (e *Engine) Fingers(crn string) map[string][]int {
	var out map[string][]int
	for _, en := range e.enrolments {
		if en.CRN == crn && en.State == StateEnrolled {
			if out == nil {
				out = map[string][]int{}
			}
			out[en.Terminal] = append(out[en.Terminal], en.Slot)
		}
	}
	for _, s := range out {
		slices.Sort(s)
	}
	return out
}

// Holding returns the CRNs that have an enrolment under way or a template enrolled
// (not yet asked to be deleted), sorted.
func (e *Engine) Holding() []string {
	var out []string
	for _, en := range e.enrolments {
		if (en.State == StateEnrolling || en.State == StateEnrolled) && !slices.Contains(out, en.CRN) {
			out = append(out, en.CRN)
		}
	}
	slices.Sort(out)
	return out
}

// Deletion returns the deletion of id (a copy).
func (e *Engine) Deletion(id string) (Deletion, bool) {
	d, ok := e.deletions[id]
	if !ok {
		return Deletion{}, false
	}
	return d.clone(), true
}

// Deletions returns every deletion, pending and done, in order of request.
func (e *Engine) Deletions() []Deletion {
	return e.listDeletions(func(*Deletion) bool { return true })
}

// Pending returns the deletions not yet confirmed, longest waiting first; with
// terminal set, only that terminal's.
func (e *Engine) Pending(terminal string) []Deletion {
	return e.listDeletions(func(d *Deletion) bool { return !d.Done() && (terminal == "" || d.Terminal == terminal) })
}

// Orphans returns the orphan slots raised, by terminal and slot.
func (e *Engine) Orphans() []Orphan {
	out := slices.Collect(maps.Values(e.orphans))
	slices.SortFunc(out, func(a, b Orphan) int { return cmp.Or(cmp.Compare(a.Terminal, b.Terminal), cmp.Compare(a.Slot, b.Slot)) })
	return out
}

func (e *Engine) list(keep func(*Enrolment) bool) []Enrolment {
	var out []Enrolment
	for _, en := range e.enrolments {
		if keep(en) {
			out = append(out, *en)
		}
	}
	slices.SortFunc(out, func(a, b Enrolment) int {
		return cmp.Or(a.StartedAt.Compare(b.StartedAt), cmp.Compare(idNumber(a.ID), idNumber(b.ID)), cmp.Compare(a.ID, b.ID))
	})
	return out
}

func (e *Engine) listDeletions(keep func(*Deletion) bool) []Deletion {
	var out []Deletion
	for _, d := range e.deletions {
		if keep(d) {
			out = append(out, d.clone())
		}
	}
	slices.SortFunc(out, func(a, b Deletion) int {
		return cmp.Or(a.RequestedAt.Compare(b.RequestedAt), cmp.Compare(idNumber(a.ID), idNumber(b.ID)), cmp.Compare(a.ID, b.ID))
	})
	return out
}

// held returns the slots of terminal that an enrolment holds or an orphan is
// recorded in.
func (e *Engine) held(terminal string) map[int]bool {
	out := map[int]bool{}
	for _, en := range e.enrolments {
		if en.Terminal == terminal && en.holds() {
			out[en.Slot] = true
		}
	}
	for _, o := range e.orphans {
		if o.Terminal == terminal {
			out[o.Slot] = true
		}
	}
	return out
}

// holder returns the enrolment holding slot of terminal, if any.
func (e *Engine) holder(terminal string, slot int) *Enrolment {
	for _, en := range e.enrolments {
		if en.Terminal == terminal && en.Slot == slot && en.holds() {
			return en
		}
	}
	return nil
}

// nextID returns the next free id prefix "-<n>" after *last in taken.
func nextID[V any](prefix string, last int, taken map[string]V) string {
	for n := last + 1; ; n++ {
		id := prefix + "-" + strconv.Itoa(n)
		if _, used := taken[id]; !used {
			return id
		}
	}
}

// noteID returns last raised to the n of id "<prefix>-<n>", if it is one.
func noteID(prefix, id string, last int) int {
	digits, ok := strings.CutPrefix(id, prefix+"-")
	if !ok || digits == "" || len(digits) > 9 || strings.Trim(digits, "0123456789") != "" {
		return last
	}
	if n, err := strconv.Atoi(digits); err == nil && n > last {
		return n
	}
	return last
}

// idNumber is the n of an id "X-<n>", or 0.
func idNumber(id string) int {
	_, digits, _ := strings.Cut(id, "-")
	n, _ := strconv.Atoi(digits)
	return n
}

// Checks of arguments.

// checkName returns an ErrInvalid error unless name is a person's name.
func checkName(what, name string) error {
	if !fact.Text(name, 128) {
		return fmt.Errorf("%w: no %s named (or %q is not a name)", ErrInvalid, what, fact.Clip(name))
	}
	return nil
}

// checkTerminal returns an ErrInvalid error unless id is a device id.
func checkTerminal(id string) error {
	if !sitebus.ValidDeviceID(id) {
		return fmt.Errorf("%w: %q is not a terminal id", ErrInvalid, fact.Clip(id))
	}
	return nil
}

// checkSlots returns an ErrInvalid error unless slots are at least one slot, each
// 0..MaxSlots-1, sorted, none twice.
func checkSlots(what string, slots []int, min int) error {
	if len(slots) < min || len(slots) > MaxSlots {
		return fmt.Errorf("%w: %s: %d slots", ErrInvalid, what, len(slots))
	}
	for i, s := range slots {
		if s < 0 || s >= MaxSlots || i > 0 && s <= slots[i-1] {
			return fmt.Errorf("%w: %s: slot %d out of range, out of order or repeated", ErrInvalid, what, s)
		}
	}
	return nil
}
