package bwc

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
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
	// Camera is the serial of the camera it is about.
	Camera string
	// Staff is the member of staff it is about (the camera's wearer); empty for
	// an offload or a removal without issue.
	Staff string
	// Key identifies the change stably and uniquely ("bwc.issued/CAM-1/4": the
	// camera's fourth journaled event): an idempotency key for the journal.
	Key string
	// Info is the event's information, a JSON object (see the package doc): the
	// only field Apply reads besides Type.
	Info json.RawMessage
}

// emit marshals info as a draft of typ about serial and applies it: the one way a
// method changes the register.
func (e *Engine) emit(typ string, at time.Time, serial, staff string, info any) (Draft, error) {
	b, err := json.Marshal(info)
	if err != nil {
		return Draft{}, fmt.Errorf("%w: %s: %v", ErrInvalid, typ, err)
	}
	n := 1
	if c, ok := e.cams[serial]; ok {
		n = c.reg.events + 1
	}
	d := Draft{Type: typ, At: at, Camera: serial, Staff: staff, Key: fact.Key(typ, serial, strconv.Itoa(n)), Info: b}
	if err := e.Apply(d); err != nil {
		return Draft{}, err
	}
	return d, nil
}

// atomic runs f, which emits drafts; if f fails, the engine is put back as it was
// before, drafts and readings alike, and no draft is returned.
func (e *Engine) atomic(f func() ([]Draft, error)) ([]Draft, error) {
	before := e.Clone()
	ds, err := f()
	if err != nil {
		*e = *before
		return nil, err
	}
	return ds, nil
}

// Apply applies a journaled draft to the engine: replaying every bwc event of the
// journal, in order, into a new engine rebuilds the register of the engine that
// made them (each camera's issue, offload state and alarms raised, and where the
// journal last placed it; batteries, faults and docks' online states come from the
// docks' next readings). It reads only d.Type and d.Info. It checks that the event
// fits the register (a camera issued is not issued already, a return is of the
// current issue, an offload has footage to offload) but not policy (the battery
// minimum, the shift), and returns an error, changing nothing, for an event that
// does not fit or cannot be read. It never panics.
func (e *Engine) Apply(d Draft) error {
	if len(d.Info) > fact.MaxInfo {
		return fmt.Errorf("%w: %s: info of %d bytes", ErrEvent, fact.Clip(d.Type), len(d.Info))
	}
	switch d.Type {
	case TypeIssued:
		return applyAs(d, e.applyIssued)
	case TypeTaken:
		return applyAs(d, e.applyTaken)
	case TypeReturned:
		return applyAs(d, e.applyReturned)
	case TypeOffloaded:
		return applyAs(d, e.applyOffloaded)
	case TypeOffloadFailed:
		return applyAs(d, e.applyOffloadFailed)
	case TypeOverdue:
		return applyAs(d, e.applyOverdue)
	case TypeRemoved:
		return applyAs(d, e.applyRemoved)
	}
	return fmt.Errorf("%w: type %q is not a bwc event", ErrEvent, fact.Clip(d.Type))
}

// applyAs decodes d's Info as a T and applies it with f.
func applyAs[T any](d Draft, f func(T) error) error {
	var v T
	if err := fact.Decode(d.Info, &v); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrEvent, d.Type, err)
	}
	return f(v)
}

// Issued is the Info of a bwc.issued event: a camera issued to a member of staff.
type Issued struct {
	Camera string `json:"camera"`
	// Dock and Slot are where it was docked when issued.
	Dock string `json:"dock"`
	Slot int    `json:"slot"`
	// Staff is who wears it; By who issued it (the member of staff signed in on the
	// console, or, by a badge, Staff); Via is ViaConsole or ViaBadge.
	Staff string `json:"staff"`
	By    string `json:"by"`
	Via   string `json:"via"`
	// Battery is its battery level when issued, percent.
	Battery int `json:"battery"`
	// Issue numbers the camera's issues, from 1.
	Issue int       `json:"issue"`
	At    time.Time `json:"at"`
}

// Taken is the Info of a bwc.taken event: an issued camera leaving its dock, the
// issue being taken.
type Taken struct {
	Camera   string    `json:"camera"`
	Dock     string    `json:"dock"`
	Slot     int       `json:"slot"`
	Staff    string    `json:"staff"`
	Issue    int       `json:"issue"`
	IssuedAt time.Time `json:"issuedAt"`
	At       time.Time `json:"at"`
}

// Returned is the Info of a bwc.returned event: the end of an issue. Taken says the
// camera was out: docked again at Dock and Slot after OutSeconds since its issue.
// Not taken, the issue lapsed (Config.TakeWithin) with the camera still at Dock
// and Slot, and nothing was recorded on it to offload.
type Returned struct {
	Camera     string    `json:"camera"`
	Staff      string    `json:"staff"`
	Issue      int       `json:"issue"`
	Dock       string    `json:"dock"`
	Slot       int       `json:"slot"`
	Taken      bool      `json:"taken"`
	IssuedAt   time.Time `json:"issuedAt"`
	OutSeconds int64     `json:"outSeconds"`
	At         time.Time `json:"at"`
}

// Offloaded is the Info of a bwc.offloaded event: the dock said all the camera's
// footage since its return (or removal, or failed offload) is transferred. Bytes is
// how much, if the dock said (0: it did not).
type Offloaded struct {
	Camera string    `json:"camera"`
	Dock   string    `json:"dock"`
	Slot   int       `json:"slot"`
	Bytes  int64     `json:"bytes,omitempty"`
	At     time.Time `json:"at"`
}

// OffloadFailure is the Info of a bwc.offload-failed event (an alarm): the dock
// said the transfer of the camera's footage failed, with its Detail.
type OffloadFailure struct {
	Camera string    `json:"camera"`
	Dock   string    `json:"dock"`
	Slot   int       `json:"slot"`
	Detail string    `json:"detail,omitempty"`
	At     time.Time `json:"at"`
}

// Overdue is the Info of a bwc.overdue event (an alarm): a camera issued longer
// than a shift ago and not returned.
type Overdue struct {
	Camera       string    `json:"camera"`
	Staff        string    `json:"staff"`
	Issue        int       `json:"issue"`
	IssuedAt     time.Time `json:"issuedAt"`
	OutSeconds   int64     `json:"outSeconds"`
	ShiftSeconds int64     `json:"shiftSeconds"`
	At           time.Time `json:"at"`
}

// Removed is the Info of a bwc.removed-unissued event (an alarm): a camera that
// left Dock and Slot with no issue recorded.
type Removed struct {
	Camera string    `json:"camera"`
	Dock   string    `json:"dock"`
	Slot   int       `json:"slot"`
	At     time.Time `json:"at"`
}

// current returns the camera of serial and its current issue, checking that the
// event's issue number and time are that issue's.
func (e *Engine) current(typ, serial string, issue int, issuedAt, at time.Time) (*camera, error) {
	if err := checkSerial(serial); err != nil {
		return nil, err
	}
	c, ok := e.cams[serial]
	switch {
	case !ok:
		return nil, fmt.Errorf("%w: %s of %s, which the register does not know", ErrNoCamera, typ, serial)
	case c.reg.issue == nil:
		return nil, fmt.Errorf("%w: %s of %s, which is not issued", ErrState, typ, serial)
	case issue != c.reg.issue.Issue || !issuedAt.Equal(c.reg.issue.At):
		return nil, fmt.Errorf("%w: %s of %s's issue %d of %s; its issue is %d of %s", ErrEvent, typ, serial, issue,
			fact.Stamp(issuedAt), c.reg.issue.Issue, fact.Stamp(c.reg.issue.At))
	case at.Before(c.reg.issue.At):
		return nil, fmt.Errorf("%w: %s of %s at %s, before its issue", ErrInvalid, typ, serial, fact.Stamp(at))
	}
	return c, nil
}

func (e *Engine) applyIssued(i Issued) error {
	if err := checkSerial(i.Camera); err != nil {
		return err
	}
	if err := checkDock(i.Dock, i.Slot); err != nil {
		return err
	}
	if err := checkStaff("member of staff to wear it", i.Staff); err != nil {
		return err
	}
	if err := checkStaff("member of staff issuing it", i.By); err != nil {
		return err
	}
	switch {
	case i.Via != ViaConsole && i.Via != ViaBadge:
		return fmt.Errorf("%w: issued via %q: console or badge", ErrInvalid, fact.Clip(i.Via))
	case i.Battery < 0 || i.Battery > 100:
		return fmt.Errorf("%w: battery %d%%", ErrInvalid, i.Battery)
	case i.At.IsZero():
		return fmt.Errorf("%w: an issue with no time", ErrInvalid)
	}
	var reg register
	if c, ok := e.cams[i.Camera]; ok {
		reg = c.reg
	}
	switch {
	case reg.issue != nil:
		return fmt.Errorf("%w: %s is issued already (to %s, since %s)", ErrState, i.Camera, reg.issue.Staff, fact.Stamp(reg.issue.At))
	case i.Issue != reg.issues+1:
		return fmt.Errorf("%w: issue %d of %s; the next is %d", ErrEvent, i.Issue, i.Camera, reg.issues+1)
	}
	c := e.cam(i.Camera)
	x := i
	c.reg.issue, c.reg.taken, c.reg.overdue = &x, time.Time{}, false
	c.reg.issues = i.Issue
	c.reg.events++
	c.moveTo(i.Dock, i.Slot)
	return nil
}

func (e *Engine) applyTaken(t Taken) error {
	c, err := e.current(TypeTaken, t.Camera, t.Issue, t.IssuedAt, t.At)
	if err != nil {
		return err
	}
	if err := checkDock(t.Dock, t.Slot); err != nil {
		return err
	}
	switch {
	case !c.reg.taken.IsZero():
		return fmt.Errorf("%w: %s was taken already, at %s", ErrState, t.Camera, fact.Stamp(c.reg.taken))
	case t.Staff != c.reg.issue.Staff:
		return fmt.Errorf("%w: %s taken by %q; it is issued to %s", ErrEvent, t.Camera, fact.Clip(t.Staff), c.reg.issue.Staff)
	}
	c.reg.taken = t.At
	c.reg.events++
	c.place = place{known: true}
	return nil
}

func (e *Engine) applyReturned(r Returned) error {
	c, err := e.current(TypeReturned, r.Camera, r.Issue, r.IssuedAt, r.At)
	if err != nil {
		return err
	}
	if err := checkDock(r.Dock, r.Slot); err != nil {
		return err
	}
	switch {
	case r.Taken == c.reg.taken.IsZero():
		return fmt.Errorf("%w: %s returned (taken %v), but its issue was taken %v", ErrEvent, r.Camera, r.Taken, !c.reg.taken.IsZero())
	case r.Staff != c.reg.issue.Staff:
		return fmt.Errorf("%w: %s returned by %q; it is issued to %s", ErrEvent, r.Camera, fact.Clip(r.Staff), c.reg.issue.Staff)
	case r.OutSeconds < 0:
		return fmt.Errorf("%w: %s out for %d s", ErrInvalid, r.Camera, r.OutSeconds)
	}
	c.reg.issue, c.reg.taken, c.reg.overdue = nil, time.Time{}, false
	if r.Taken {
		c.reg.needsOffload, c.reg.failRaised, c.reg.since = true, false, r.At
	}
	c.reg.events++
	c.moveTo(r.Dock, r.Slot)
	return nil
}

func (e *Engine) docked(typ, serial, dock string, slot int, at time.Time) (*camera, error) {
	if err := checkSerial(serial); err != nil {
		return nil, err
	}
	if err := checkDock(dock, slot); err != nil {
		return nil, err
	}
	if at.IsZero() {
		return nil, fmt.Errorf("%w: %s of %s with no time", ErrInvalid, typ, serial)
	}
	c := e.cams[serial]
	if c != nil && c.reg.issue != nil && !c.reg.taken.IsZero() {
		return nil, fmt.Errorf("%w: %s of %s, which is out with %s", ErrState, typ, serial, c.reg.issue.Staff)
	}
	return c, nil
}

func (e *Engine) applyOffloaded(o Offloaded) error {
	c, err := e.docked(TypeOffloaded, o.Camera, o.Dock, o.Slot, o.At)
	switch {
	case err != nil:
		return err
	case o.Bytes < 0:
		return fmt.Errorf("%w: %s offloaded %d bytes", ErrInvalid, o.Camera, o.Bytes)
	case c == nil || !c.reg.needsOffload:
		return fmt.Errorf("%w: %s offloaded, with nothing recorded to offload since its last offload", ErrState, o.Camera)
	}
	c.reg.needsOffload, c.reg.failRaised, c.reg.since = false, false, time.Time{}
	c.reg.events++
	c.moveTo(o.Dock, o.Slot)
	return nil
}

func (e *Engine) applyOffloadFailed(o OffloadFailure) error {
	c, err := e.docked(TypeOffloadFailed, o.Camera, o.Dock, o.Slot, o.At)
	switch {
	case err != nil:
		return err
	case c != nil && c.reg.failRaised:
		return fmt.Errorf("%w: %s's offload failure was raised already", ErrState, o.Camera)
	case o.Detail != "" && !fact.Text(o.Detail, 512):
		return fmt.Errorf("%w: %s's offload failure detail %q", ErrInvalid, o.Camera, fact.Clip(o.Detail))
	}
	c = e.cam(o.Camera)
	if !c.reg.needsOffload {
		c.reg.since = o.At
	}
	c.reg.needsOffload, c.reg.failRaised = true, true
	c.reg.events++
	c.moveTo(o.Dock, o.Slot)
	return nil
}

func (e *Engine) applyOverdue(o Overdue) error {
	c, err := e.current(TypeOverdue, o.Camera, o.Issue, o.IssuedAt, o.At)
	switch {
	case err != nil:
		return err
	case c.reg.overdue:
		return fmt.Errorf("%w: %s's issue %d was raised overdue already", ErrState, o.Camera, o.Issue)
	case o.Staff != c.reg.issue.Staff:
		return fmt.Errorf("%w: %s overdue with %q; it is issued to %s", ErrEvent, o.Camera, fact.Clip(o.Staff), c.reg.issue.Staff)
	case o.OutSeconds < 0 || o.ShiftSeconds <= 0:
		return fmt.Errorf("%w: %s overdue after %d s of a shift of %d s", ErrInvalid, o.Camera, o.OutSeconds, o.ShiftSeconds)
	}
	c.reg.overdue = true
	c.reg.events++
	return nil
}

func (e *Engine) applyRemoved(r Removed) error {
	if err := checkSerial(r.Camera); err != nil {
		return err
	}
	if err := checkDock(r.Dock, r.Slot); err != nil {
		return err
	}
	if r.At.IsZero() {
		return fmt.Errorf("%w: a removal with no time", ErrInvalid)
	}
	if c := e.cams[r.Camera]; c != nil && c.reg.issue != nil {
		return fmt.Errorf("%w: %s is issued to %s: its undock is the issue taken, not a removal", ErrState, r.Camera, c.reg.issue.Staff)
	}
	c := e.cam(r.Camera)
	c.reg.needsOffload, c.reg.failRaised, c.reg.since = true, false, r.At
	c.reg.events++
	c.place = place{known: true}
	return nil
}

// moveTo places c at dock and slot, as an event says; a reading since the agent
// started that put it there stands.
func (c *camera) moveTo(dock string, slot int) {
	if !c.place.at(dock, slot) {
		c.place = place{known: true, docked: true, dock: dock, slot: slot}
	}
}

// sortedFaults returns faults cleaned, without blanks or repeats, sorted.
func sortedFaults(faults []string) []string {
	var out []string
	for _, f := range faults {
		if f = fact.CleanText(f, 64); f != "" {
			out = append(out, f)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}
