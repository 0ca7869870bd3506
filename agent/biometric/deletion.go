package biometric

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/apedge/apedge/agent/internal/fact"
	"github.com/apedge/apedge/formats/sitebus"
)

// DeletionRequest is the Info of a biometric.deletion-requested event: the
// templates of a resident on one terminal are to be deleted.
type DeletionRequest struct {
	Deletion string `json:"deletion"`
	CRN      string `json:"crn"`
	Terminal string `json:"terminal"`
	Slots    []int  `json:"slots"`
	// Why is WhyDeparted or WhyStaff.
	Why string    `json:"why"`
	By  string    `json:"by"`
	At  time.Time `json:"at"`
}

// RequestDeletion asks for every template of crn to be deleted, for why
// (WhyDeparted, WhyStaff), on behalf of by: an enrolment of theirs under way is
// abandoned (biometric.enrol-failed, reason deletion-requested) and each terminal
// holding enrolled templates of theirs gets one biometric.deletion-requested with
// its slots. From then on those templates open no door (Fingers leaves them out).
// It refuses a resident with nothing to delete (ErrNothing).
func (e *Engine) RequestDeletion(crn, why, by string, at time.Time) ([]Draft, error) {
	at = at.UTC()
	switch {
	case !fact.CRN(crn):
		return nil, fmt.Errorf("%w: %q is not a CRN", ErrInvalid, fact.Clip(crn))
	case why != WhyDeparted && why != WhyStaff:
		return nil, fmt.Errorf("%w: a deletion because %q: departed or staff", ErrInvalid, fact.Clip(why))
	case at.IsZero():
		return nil, fmt.Errorf("%w: the deletion has no time", ErrInvalid)
	}
	if err := checkName("member of staff asking for the deletion", by); err != nil {
		return nil, err
	}
	var enrolling []*Enrolment
	slots := map[string][]int{}
	for _, en := range e.enrolments {
		switch {
		case en.CRN != crn:
		case en.State == StateEnrolling:
			enrolling = append(enrolling, en)
		case en.State == StateEnrolled:
			slots[en.Terminal] = append(slots[en.Terminal], en.Slot)
		}
	}
	if len(enrolling) == 0 && len(slots) == 0 {
		return nil, fmt.Errorf("%w: %s has no template on any terminal, nor an enrolment under way", ErrNothing, crn)
	}
	slices.SortFunc(enrolling, func(a, b *Enrolment) int { return idNumber(a.ID) - idNumber(b.ID) })
	return e.atomic(func() ([]Draft, error) {
		var out []Draft
		for _, en := range enrolling {
			d, err := e.Abandon(en.ID, ReasonDeletion, "its templates are being deleted ("+why+")", by, at)
			if err != nil {
				return nil, err
			}
			out = append(out, d)
		}
		for _, term := range slices.Sorted(maps.Keys(slots)) {
			s := slots[term]
			slices.Sort(s)
			r := DeletionRequest{Deletion: nextID("D", e.lastD, e.deletions), CRN: crn, Terminal: term, Slots: s, Why: why, By: by, At: at}
			d, err := e.emit(TypeDeletionRequested, at, crn, term, fact.Key(TypeDeletionRequested, r.Deletion), r)
			if err != nil {
				return nil, err
			}
			out = append(out, d)
		}
		return out, nil
	})
}

func (e *Engine) applyDeletionRequest(r DeletionRequest) error {
	switch {
	case !fact.ID(r.Deletion):
		return fmt.Errorf("%w: deletion id %q", ErrInvalid, fact.Clip(r.Deletion))
	case e.deletions[r.Deletion] != nil:
		return fmt.Errorf("%w: deletion id %s is taken", ErrDuplicate, r.Deletion)
	case !fact.CRN(r.CRN):
		return fmt.Errorf("%w: %q is not a CRN", ErrInvalid, fact.Clip(r.CRN))
	case r.Why != WhyDeparted && r.Why != WhyStaff:
		return fmt.Errorf("%w: a deletion because %q", ErrInvalid, fact.Clip(r.Why))
	case r.At.IsZero():
		return fmt.Errorf("%w: the deletion has no time", ErrInvalid)
	}
	if err := checkTerminal(r.Terminal); err != nil {
		return err
	}
	if err := checkSlots("deletion "+r.Deletion, r.Slots, 1); err != nil {
		return err
	}
	if err := checkName("member of staff asking for the deletion", r.By); err != nil {
		return err
	}
	var ens []*Enrolment
	for _, s := range r.Slots {
		en := e.holder(r.Terminal, s)
		if en == nil || en.CRN != r.CRN || en.State != StateEnrolled {
			return fmt.Errorf("%w: slot %d of %s holds no enrolled template of %s", ErrState, s, r.Terminal, r.CRN)
		}
		ens = append(ens, en)
	}
	for _, en := range ens {
		en.State, en.Deletion = StateDeleting, r.Deletion
	}
	e.deletions[r.Deletion] = &Deletion{ID: r.Deletion, CRN: r.CRN, Terminal: r.Terminal, Slots: slices.Clone(r.Slots), Why: r.Why,
		By: r.By, RequestedAt: r.At}
	e.lastD = noteID("D", r.Deletion, e.lastD)
	return nil
}

// Deleted is the Info of a biometric.deleted event: the terminal's answer to a
// deletion, with its index table read back after it. Confirmed says none of Slots
// reads as used: only then is the deletion done; otherwise it is a failed attempt
// and the deletion stays pending.
type Deleted struct {
	Deletion string `json:"deletion"`
	CRN      string `json:"crn"`
	Terminal string `json:"terminal"`
	Slots    []int  `json:"slots"`
	// Used, Capacity and ReadAt are the index table as the terminal read it back.
	Used      []int     `json:"used"`
	Capacity  int       `json:"capacity"`
	ReadAt    time.Time `json:"readAt"`
	Confirmed bool      `json:"confirmed"`
	// Attempt numbers the terminal's answers to the deletion, from 1.
	Attempt int       `json:"attempt"`
	At      time.Time `json:"at"`
}

func (d Deleted) clone() Deleted {
	d.Slots, d.Used = slices.Clone(d.Slots), slices.Clone(d.Used)
	return d
}

// TemplatesDeleted takes terminal's answer to a deletion (sitebus.TemplatesDeleted),
// received at at: the pending deletion of that terminal, earliest first, whose
// slots the answer deleted (ErrNoDeletion when there is none) gets a biometric.deleted
// draft, confirmed when none of its slots is in the index table read back.
func (e *Engine) TemplatesDeleted(terminal string, ev sitebus.TemplatesDeleted, at time.Time) (Draft, error) {
	var d *Deletion
	for _, p := range e.Pending(terminal) {
		if !slices.ContainsFunc(p.Slots, func(s int) bool { return !slices.Contains(ev.Slots, s) }) {
			d = e.deletions[p.ID]
			break
		}
	}
	if d == nil {
		return Draft{}, fmt.Errorf("%w: %s deleted slots %v, which no pending deletion asked for", ErrNoDeletion, fact.Clip(terminal), ev.Slots)
	}
	used := slices.Sorted(slices.Values(ev.Used))
	used = slices.Compact(used)
	x := Deleted{Deletion: d.ID, CRN: d.CRN, Terminal: d.Terminal, Slots: slices.Clone(d.Slots), Used: used, Capacity: ev.Capacity,
		ReadAt: ev.ReadAt.UTC(), Confirmed: !slices.ContainsFunc(d.Slots, func(s int) bool { return slices.Contains(used, s) }),
		Attempt: d.Attempts + 1, At: at.UTC()}
	if x.Used == nil {
		x.Used = []int{}
	}
	return e.emit(TypeDeleted, x.At, d.CRN, d.Terminal, fact.Key(TypeDeleted, d.ID, strconv.Itoa(x.Attempt)), x)
}

// pending returns the pending deletion an event of id, naming the rest, is about.
func (e *Engine) pending(id, crn, terminal string, slots []int, at time.Time) (*Deletion, error) {
	d := e.deletions[id]
	switch {
	case d == nil:
		return nil, fmt.Errorf("%w: %q", ErrNoDeletion, fact.Clip(id))
	case d.Done():
		return nil, fmt.Errorf("%w: deletion %s is confirmed already", ErrState, d.ID)
	case crn != d.CRN || terminal != d.Terminal || !slices.Equal(slots, d.Slots):
		return nil, fmt.Errorf("%w: an event of deletion %s that names another resident, terminal or slots", ErrEvent, d.ID)
	case at.IsZero():
		return nil, fmt.Errorf("%w: no time", ErrInvalid)
	case at.Before(d.RequestedAt):
		return nil, fmt.Errorf("%w: %s is before deletion %s was requested (%s)", ErrInvalid, fact.Stamp(at), d.ID, fact.Stamp(d.RequestedAt))
	}
	return d, nil
}

func (e *Engine) applyDeleted(x Deleted) error {
	d, err := e.pending(x.Deletion, x.CRN, x.Terminal, x.Slots, x.At)
	if err != nil {
		return err
	}
	if err := checkSlots("the index table read back", x.Used, 0); err != nil {
		return err
	}
	confirmed := !slices.ContainsFunc(d.Slots, func(s int) bool { return slices.Contains(x.Used, s) })
	switch {
	case x.Capacity < 1 || x.Capacity > MaxSlots || len(x.Used) > 0 && x.Used[len(x.Used)-1] >= x.Capacity:
		return fmt.Errorf("%w: deletion %s: capacity %d and used slots %v", ErrEvent, d.ID, x.Capacity, x.Used)
	case x.ReadAt.IsZero():
		return fmt.Errorf("%w: deletion %s: the index table's reading has no time", ErrEvent, d.ID)
	case x.Confirmed != confirmed:
		return fmt.Errorf("%w: deletion %s confirmed %v, but the index table read back says %v", ErrEvent, d.ID, x.Confirmed, confirmed)
	case x.Attempt != d.Attempts+1:
		return fmt.Errorf("%w: deletion %s: answer %d, its next is %d", ErrEvent, d.ID, x.Attempt, d.Attempts+1)
	}
	if x.ReadAt.After(e.lastRead[d.Terminal]) {
		e.lastRead[d.Terminal] = x.ReadAt
	}
	if !confirmed {
		d.Attempts++
		return nil
	}
	p := x.clone()
	d.Proof = &p
	for _, en := range e.enrolments {
		if en.Deletion == d.ID {
			en.State, en.DeletedAt = StateDeleted, x.At
		}
	}
	return nil
}

// Overdue is the Info of a biometric.deletion-overdue event: a deletion pending
// longer than Config.DeletionOverdue.
type Overdue struct {
	Deletion      string    `json:"deletion"`
	CRN           string    `json:"crn"`
	Terminal      string    `json:"terminal"`
	Slots         []int     `json:"slots"`
	Why           string    `json:"why"`
	RequestedAt   time.Time `json:"requestedAt"`
	Attempts      int       `json:"attempts"`
	WaitedSeconds int64     `json:"waitedSeconds"`
	At            time.Time `json:"at"`
}

// Overdue returns a biometric.deletion-overdue draft for each deletion pending
// longer than Config.DeletionOverdue at now and not yet raised, longest waiting
// first.
func (e *Engine) Overdue(now time.Time) ([]Draft, error) {
	now = now.UTC()
	return e.atomic(func() ([]Draft, error) {
		var out []Draft
		for _, p := range e.Pending("") {
			if p.OverdueRaised || p.Waited(now) <= e.cfg.DeletionOverdue {
				continue
			}
			o := Overdue{Deletion: p.ID, CRN: p.CRN, Terminal: p.Terminal, Slots: p.Slots, Why: p.Why, RequestedAt: p.RequestedAt,
				Attempts: p.Attempts, WaitedSeconds: int64(p.Waited(now) / time.Second), At: now}
			d, err := e.emit(TypeDeletionOverdue, now, p.CRN, p.Terminal, fact.Key(TypeDeletionOverdue, p.ID), o)
			if err != nil {
				return nil, err
			}
			out = append(out, d)
		}
		return out, nil
	})
}

func (e *Engine) applyOverdue(o Overdue) error {
	d, err := e.pending(o.Deletion, o.CRN, o.Terminal, o.Slots, o.At)
	switch {
	case err != nil:
		return err
	case d.OverdueRaised:
		return fmt.Errorf("%w: deletion %s was raised overdue already", ErrDuplicate, d.ID)
	case !o.RequestedAt.Equal(d.RequestedAt) || o.Why != d.Why || o.WaitedSeconds < 0:
		return fmt.Errorf("%w: an overdue deletion %s that says another request or wait", ErrEvent, d.ID)
	}
	d.OverdueRaised = true
	return nil
}
