package biometric

import (
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/apedge/apedge/agent/internal/fact"
	"github.com/apedge/apedge/formats/sitebus"
)

// Consent is a resident's consent to the enrolment of their fingerprints, or its
// refusal, as recorded by the member of staff who asked: the Info of a
// biometric.consent-recorded event.
type Consent struct {
	CRN   string `json:"crn"`
	Given bool   `json:"given"`
	// By is the member of staff who took it.
	By string `json:"by"`
	// Terminal is the terminal it was asked at, if staff name one.
	Terminal string    `json:"terminal,omitempty"`
	At       time.Time `json:"at"`
}

// Alternative is the alternative to a finger at the door (card and a member of
// staff's confirmation) offered to a resident: the Info of a
// biometric.alternative-offered event.
type Alternative struct {
	CRN string `json:"crn"`
	// Why is WhyDeclined or WhyFailedEnrolment.
	Why string `json:"why"`
	// Attempts is how many enrolment attempts had failed when it was offered.
	Attempts int       `json:"attempts"`
	By       string    `json:"by"`
	At       time.Time `json:"at"`
}

// RecordConsent records c: the resident's consent, or their refusal, which also
// offers them the alternative. It returns the biometric.consent-recorded draft and,
// for a refusal, the biometric.alternative-offered one. A refusal does not itself
// delete templates held: the agent asks for that (RequestDeletion).
func (e *Engine) RecordConsent(c Consent) ([]Draft, error) {
	c.At = c.At.UTC()
	if err := checkConsent(c); err != nil {
		return nil, err
	}
	return e.atomic(func() ([]Draft, error) {
		key := fact.Key(TypeConsent, c.CRN, strconv.Itoa(len(e.consents[c.CRN])+1))
		d, err := e.emit(TypeConsent, c.At, c.CRN, c.Terminal, key, c)
		if err != nil || c.Given {
			return []Draft{d}, err
		}
		a, err := e.offer(c.CRN, WhyDeclined, c.By, c.At)
		return []Draft{d, a}, err
	})
}

func checkConsent(c Consent) error {
	switch {
	case !fact.CRN(c.CRN):
		return fmt.Errorf("%w: %q is not a CRN: a letter and six digits, e.g. X123456", ErrInvalid, fact.Clip(c.CRN))
	case c.Terminal != "" && !sitebus.ValidDeviceID(c.Terminal):
		return fmt.Errorf("%w: %q is not a terminal id", ErrInvalid, fact.Clip(c.Terminal))
	case c.At.IsZero():
		return fmt.Errorf("%w: the consent has no time", ErrInvalid)
	}
	return checkName("member of staff taking consent", c.By)
}

func (e *Engine) applyConsent(c Consent) error {
	if err := checkConsent(c); err != nil {
		return err
	}
	e.consents[c.CRN] = append(e.consents[c.CRN], c)
	return nil
}

// offer emits the alternative's offer to crn.
func (e *Engine) offer(crn, why, by string, at time.Time) (Draft, error) {
	a := Alternative{CRN: crn, Why: why, Attempts: e.failures[crn], By: by, At: at}
	return e.emit(TypeAlternative, at, crn, "", fact.Key(TypeAlternative, crn, strconv.Itoa(e.offered[crn]+1)), a)
}

func (e *Engine) applyAlternative(a Alternative) error {
	switch {
	case !fact.CRN(a.CRN):
		return fmt.Errorf("%w: %q is not a CRN", ErrInvalid, fact.Clip(a.CRN))
	case a.Why != WhyDeclined && a.Why != WhyFailedEnrolment:
		return fmt.Errorf("%w: an alternative offered because %q: declined or failed-enrolment", ErrEvent, fact.Clip(a.Why))
	case a.Attempts != e.failures[a.CRN]:
		return fmt.Errorf("%w: an alternative offered to %s after %d failed attempts; %d are recorded", ErrEvent, a.CRN, a.Attempts, e.failures[a.CRN])
	case a.At.IsZero():
		return fmt.Errorf("%w: the offer has no time", ErrInvalid)
	}
	if err := checkName("member of staff offering the alternative", a.By); err != nil {
		return err
	}
	e.active[a.CRN] = a
	e.offered[a.CRN]++
	e.failures[a.CRN] = 0
	return nil
}

// Request is what staff ask starting an enrolment.
type Request struct {
	CRN string
	// Finger is one of Fingers.
	Finger string
	// Terminal is the terminal it is taken on.
	Terminal string
	// By is the member of staff enrolling.
	By string
	At time.Time
}

// Started is the Info of a biometric.enrolment-started event.
type Started struct {
	Enrolment string `json:"enrolment"`
	CRN       string `json:"crn"`
	Terminal  string `json:"terminal"`
	Slot      int    `json:"slot"`
	Finger    string `json:"finger"`
	By        string `json:"by"`
	// Attempt numbers the resident's attempts since their last success or the
	// alternative's offer, from 1.
	Attempt int       `json:"attempt"`
	At      time.Time `json:"at"`
}

// StartEnrolment starts the enrolment of r.Finger of resident r.CRN on r.Terminal,
// whose library last reported used and capacity (0: unknown). It refuses a resident
// without consent recorded (ErrConsent), a finger that is none (ErrFinger), a
// terminal already enrolling (ErrBusy), a finger enrolled or enrolling there
// already (ErrDuplicate) and a full library (ErrFull). The slot is the lowest free
// both in the engine's records for the terminal and in used. It returns the
// enrolment and its biometric.enrolment-started draft.
func (e *Engine) StartEnrolment(r Request, used []int, capacity int) (Enrolment, Draft, error) {
	r.At = r.At.UTC()
	s := Started{Enrolment: nextID("E", e.lastE, e.enrolments), CRN: r.CRN, Terminal: r.Terminal, Finger: r.Finger, By: r.By,
		Attempt: e.failures[r.CRN] + 1, At: r.At}
	if err := e.checkStart(s, false); err != nil {
		return Enrolment{}, Draft{}, err
	}
	if capacity <= 0 || capacity > MaxSlots {
		capacity = MaxSlots
	}
	taken := e.held(r.Terminal)
	for _, u := range used {
		taken[u] = true
	}
	s.Slot = -1
	for slot := range capacity {
		if !taken[slot] {
			s.Slot = slot
			break
		}
	}
	if s.Slot < 0 {
		return Enrolment{}, Draft{}, fmt.Errorf("%w: %s has all %d slots in use", ErrFull, r.Terminal, capacity)
	}
	d, err := e.emit(TypeStarted, s.At, s.CRN, s.Terminal, fact.Key(TypeStarted, s.Enrolment), s)
	if err != nil {
		return Enrolment{}, Draft{}, err
	}
	en, _ := e.Enrolment(s.Enrolment)
	return en, d, nil
}

// checkStart returns an error unless s starts a new enrolment fitting the state;
// withSlot checks its slot too.
func (e *Engine) checkStart(s Started, withSlot bool) error {
	switch {
	case !fact.ID(s.Enrolment):
		return fmt.Errorf("%w: enrolment id %q: 1 to 64 printable characters, no spaces", ErrInvalid, fact.Clip(s.Enrolment))
	case e.enrolments[s.Enrolment] != nil:
		return fmt.Errorf("%w: enrolment id %s is taken", ErrDuplicate, s.Enrolment)
	case !fact.CRN(s.CRN):
		return fmt.Errorf("%w: %q is not a CRN: a letter and six digits, e.g. X123456", ErrInvalid, fact.Clip(s.CRN))
	case !ValidFinger(s.Finger):
		return fmt.Errorf("%w %q: one of %v", ErrFinger, fact.Clip(s.Finger), fingers)
	case s.At.IsZero():
		return fmt.Errorf("%w: the enrolment has no start time", ErrInvalid)
	case withSlot && (s.Slot < 0 || s.Slot >= MaxSlots):
		return fmt.Errorf("%w: slot %d", ErrInvalid, s.Slot)
	}
	if err := checkTerminal(s.Terminal); err != nil {
		return err
	}
	if err := checkName("member of staff enrolling", s.By); err != nil {
		return err
	}
	if c, ok := e.ConsentOf(s.CRN); !ok || !c.Given {
		return fmt.Errorf("%w: %s has not consented to the enrolment of their fingerprints: ask, and record their answer, first", ErrConsent, s.CRN)
	}
	if busy, ok := e.Enrolling(s.Terminal); ok {
		return fmt.Errorf("%w: %s has enrolment %s (%s's %s), started %s, under way: finish or cancel it first",
			ErrBusy, s.Terminal, busy.ID, busy.CRN, busy.Finger, fact.Stamp(busy.StartedAt))
	}
	for _, en := range e.enrolments {
		if en.CRN == s.CRN && en.Terminal == s.Terminal && en.Finger == s.Finger && (en.State == StateEnrolling || en.State == StateEnrolled) {
			return fmt.Errorf("%w: %s's %s is %s on %s (enrolment %s, slot %d)", ErrDuplicate, s.CRN, s.Finger, en.State, s.Terminal, en.ID, en.Slot)
		}
	}
	if s.Attempt != e.failures[s.CRN]+1 {
		return fmt.Errorf("%w: attempt %d of %s, whose next is %d", ErrEvent, s.Attempt, s.CRN, e.failures[s.CRN]+1)
	}
	if withSlot {
		if h := e.holder(s.Terminal, s.Slot); h != nil {
			return fmt.Errorf("%w: slot %d of %s is enrolment %s's", ErrState, s.Slot, s.Terminal, h.ID)
		}
	}
	return nil
}

func (e *Engine) applyStarted(s Started) error {
	if err := e.checkStart(s, true); err != nil {
		return err
	}
	e.enrolments[s.Enrolment] = &Enrolment{ID: s.Enrolment, CRN: s.CRN, Terminal: s.Terminal, Slot: s.Slot, Finger: s.Finger,
		By: s.By, Attempt: s.Attempt, State: StateEnrolling, StartedAt: s.At}
	e.lastE = noteID("E", s.Enrolment, e.lastE)
	return nil
}

// Stored is the Info of a biometric.enrolled event: the template is stored in the
// slot.
type Stored struct {
	Enrolment string    `json:"enrolment"`
	CRN       string    `json:"crn"`
	Terminal  string    `json:"terminal"`
	Slot      int       `json:"slot"`
	Finger    string    `json:"finger"`
	By        string    `json:"by"`
	At        time.Time `json:"at"`
}

// Enrolled takes terminal's report that enrolment ev.Enrolment stored its template,
// received at at. The enrolment must be under way on that terminal
// (ErrNoEnrolment, ErrState; ErrDuplicate for a report already taken) and the slot
// the one allocated (ErrEvent: the template is then in a slot no enrolment holds,
// an orphan the next reading of the terminal's slots reports). It returns the
// biometric.enrolled draft.
func (e *Engine) Enrolled(terminal string, ev sitebus.Enrolled, at time.Time) (Draft, error) {
	en, err := e.reported(terminal, ev.Enrolment)
	if err != nil {
		return Draft{}, err
	}
	switch {
	case en.State == StateEnrolled && en.Slot == ev.Slot:
		return Draft{}, fmt.Errorf("%w: enrolment %s is enrolled already", ErrDuplicate, en.ID)
	case en.State != StateEnrolling:
		return Draft{}, fmt.Errorf("%w: enrolment %s is %s", ErrState, en.ID, en.State)
	case ev.Slot != en.Slot:
		return Draft{}, fmt.Errorf("%w: %s stored enrolment %s in slot %d, not slot %d as allocated", ErrEvent, terminal, en.ID, ev.Slot, en.Slot)
	}
	s := Stored{Enrolment: en.ID, CRN: en.CRN, Terminal: en.Terminal, Slot: en.Slot, Finger: en.Finger, By: en.By, At: at.UTC()}
	return e.emit(TypeEnrolled, s.At, en.CRN, en.Terminal, fact.Key(TypeEnrolled, en.ID), s)
}

// reported returns enrolment id, which terminal reports on.
func (e *Engine) reported(terminal, id string) (*Enrolment, error) {
	en := e.enrolments[id]
	if en == nil || en.Terminal != terminal {
		return nil, fmt.Errorf("%w: %s reports on enrolment %q, which is not one of its own", ErrNoEnrolment, fact.Clip(terminal), fact.Clip(id))
	}
	return en, nil
}

// ended returns the enrolment an event of id, naming the rest, ends: it must be
// under way, and the event must say what it is.
func (e *Engine) ended(id, crn, terminal string, slot int, finger, by string, at time.Time) (*Enrolment, error) {
	en := e.enrolments[id]
	switch {
	case en == nil:
		return nil, fmt.Errorf("%w: %q", ErrNoEnrolment, fact.Clip(id))
	case en.State != StateEnrolling:
		return nil, fmt.Errorf("%w: enrolment %s is %s", ErrState, en.ID, en.State)
	case crn != en.CRN || terminal != en.Terminal || slot != en.Slot || finger != en.Finger || by != en.By:
		return nil, fmt.Errorf("%w: an event of enrolment %s that names another resident, terminal, slot, finger or member of staff", ErrEvent, en.ID)
	case at.IsZero():
		return nil, fmt.Errorf("%w: no time", ErrInvalid)
	case at.Before(en.StartedAt):
		return nil, fmt.Errorf("%w: %s is before enrolment %s started (%s)", ErrInvalid, fact.Stamp(at), en.ID, fact.Stamp(en.StartedAt))
	}
	return en, nil
}

func (e *Engine) applyStored(s Stored) error {
	en, err := e.ended(s.Enrolment, s.CRN, s.Terminal, s.Slot, s.Finger, s.By, s.At)
	if err != nil {
		return err
	}
	en.State, en.EndedAt = StateEnrolled, s.At
	e.failures[en.CRN] = 0
	delete(e.active, en.CRN) // enrolled: the alternative is not needed any more
	return nil
}

// Failure is the Info of a biometric.enrol-failed event.
type Failure struct {
	Enrolment string `json:"enrolment"`
	CRN       string `json:"crn"`
	Terminal  string `json:"terminal"`
	Slot      int    `json:"slot"`
	Finger    string `json:"finger"`
	// By is the member of staff who started the enrolment.
	By string `json:"by"`
	// Reason is the terminal's code (sitebus.EnrolFailed.Reason: "fingers-do-not-match",
	// "timeout", ...) or one of the Reason constants; Detail says it for a person.
	Reason string `json:"reason"`
	Detail string `json:"detail,omitempty"`
	// Attempt is the enrolment's; Counted says the failure counts towards the
	// alternative (a cancellation or a command not taken does not).
	Attempt int  `json:"attempt"`
	Counted bool `json:"counted"`
	// EndedBy is the member of staff who ended it, for one ended by staff.
	EndedBy string    `json:"endedBy,omitempty"`
	At      time.Time `json:"at"`
}

// counts says a failure for reason counts as a failed attempt.
func counts(reason string) bool {
	switch reason {
	case ReasonCancelled, ReasonNoAnswer, ReasonNotTaken, ReasonDeletion:
		return false
	}
	return true
}

// EnrolFailed takes terminal's report that enrolment ev.Enrolment failed, received
// at at: the biometric.enrol-failed draft and, when the failure makes
// Config.MaxAttempts since the resident's last success and no alternative is in
// force, the biometric.alternative-offered draft. The enrolment must be under way on
// the terminal (ErrNoEnrolment; ErrState for one ended already, as a cancellation
// the terminal reports after staff cancelled it).
func (e *Engine) EnrolFailed(terminal string, ev sitebus.EnrolFailed, at time.Time) ([]Draft, error) {
	en, err := e.reported(terminal, ev.Enrolment)
	if err != nil {
		return nil, err
	}
	if en.State != StateEnrolling {
		return nil, fmt.Errorf("%w: enrolment %s is %s", ErrState, en.ID, en.State)
	}
	return e.fail(en, ev.Reason, ev.Detail, "", at.UTC())
}

// Abandon ends enrolment id, under way, without a template, for reason (one of
// the Reason constants), on behalf of by: staff cancelled it (ReasonCancelled), the
// terminal did not answer the enrol command or the bridge did not take it. It is
// not counted as a failed attempt. It returns the biometric.enrol-failed draft.
func (e *Engine) Abandon(id, reason, detail, by string, at time.Time) (Draft, error) {
	en := e.enrolments[id]
	switch {
	case en == nil:
		return Draft{}, fmt.Errorf("%w: %q", ErrNoEnrolment, fact.Clip(id))
	case en.State != StateEnrolling:
		return Draft{}, fmt.Errorf("%w: enrolment %s is %s, not under way", ErrState, en.ID, en.State)
	case counts(reason):
		return Draft{}, fmt.Errorf("%w: an enrolment is abandoned for one of %s, %s, %s, %s, not %q", ErrInvalid,
			ReasonCancelled, ReasonNoAnswer, ReasonNotTaken, ReasonDeletion, fact.Clip(reason))
	}
	if err := checkName("member of staff ending the enrolment", by); err != nil {
		return Draft{}, err
	}
	ds, err := e.fail(en, reason, detail, by, at.UTC())
	if err != nil {
		return Draft{}, err
	}
	return ds[0], nil
}

// fail emits en's failure, and the alternative's offer if it is due. The detail,
// the terminal's or the bridge's words, is made fit for a record: control
// characters become spaces, and it is cut to 256 bytes.
func (e *Engine) fail(en *Enrolment, reason, detail, endedBy string, at time.Time) ([]Draft, error) {
	f := Failure{Enrolment: en.ID, CRN: en.CRN, Terminal: en.Terminal, Slot: en.Slot, Finger: en.Finger, By: en.By,
		Reason: reason, Detail: fact.CleanText(detail, 256), Attempt: en.Attempt, Counted: counts(reason), EndedBy: endedBy, At: at}
	return e.atomic(func() ([]Draft, error) {
		d, err := e.emit(TypeEnrolFailed, at, en.CRN, en.Terminal, fact.Key(TypeEnrolFailed, en.ID), f)
		if err != nil {
			return nil, err
		}
		out := []Draft{d}
		if _, active := e.active[en.CRN]; f.Counted && !active && e.failures[en.CRN] >= e.cfg.MaxAttempts {
			a, err := e.offer(en.CRN, WhyFailedEnrolment, en.By, at)
			if err != nil {
				return nil, err
			}
			out = append(out, a)
		}
		return out, nil
	})
}

func (e *Engine) applyFailure(f Failure) error {
	en, err := e.ended(f.Enrolment, f.CRN, f.Terminal, f.Slot, f.Finger, f.By, f.At)
	if err != nil {
		return err
	}
	switch {
	case !fact.ID(f.Reason):
		return fmt.Errorf("%w: enrolment %s failed for reason %q: a code", ErrEvent, en.ID, fact.Clip(f.Reason))
	case f.Detail != "" && !fact.Text(f.Detail, 256):
		return fmt.Errorf("%w: enrolment %s: detail %q", ErrEvent, en.ID, fact.Clip(f.Detail))
	case f.Attempt != en.Attempt:
		return fmt.Errorf("%w: enrolment %s is attempt %d, not %d", ErrEvent, en.ID, en.Attempt, f.Attempt)
	case f.Counted != counts(f.Reason):
		return fmt.Errorf("%w: enrolment %s: a failure for %s counted %v", ErrEvent, en.ID, f.Reason, f.Counted)
	case f.EndedBy != "" && !fact.Text(f.EndedBy, 128):
		return fmt.Errorf("%w: enrolment %s ended by %q", ErrInvalid, en.ID, fact.Clip(f.EndedBy))
	}
	en.State, en.EndedAt, en.Reason, en.Detail = StateFailed, f.At, f.Reason, f.Detail
	if f.Counted {
		e.failures[en.CRN]++
	}
	return nil
}

// atomic runs f, a change of several drafts; if it fails, the engine goes back to
// what it was before.
func (e *Engine) atomic(f func() ([]Draft, error)) ([]Draft, error) {
	before := e.Clone()
	ds, err := f()
	if err != nil {
		*e = *before
		return nil, err
	}
	return slices.DeleteFunc(ds, func(d Draft) bool { return d.Type == "" }), nil
}
