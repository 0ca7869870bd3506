package bwc

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/apedge/apedge/agent/internal/fact"
)

// Request is what staff ask issuing a camera.
type Request struct {
	// Camera is the serial of the camera to issue, chosen on the console; empty
	// with a badge, where the engine chooses.
	Camera string
	// Dock is, with a badge, the dock whose reader read the card (ignored on the
	// console).
	Dock string
	// Staff is the staff id of who is to wear it: the signed-in member of staff, or
	// the holder of the card shown.
	Staff string
	// By is who issued it: the member of staff signed in on the console (someone
	// may issue a camera to a colleague); with a badge, empty or Staff.
	By string
	// Via is ViaConsole or ViaBadge.
	Via string
	At  time.Time
}

// Refusal is the error of an issue refused (errors.Is ErrRefused): which camera and
// slot, and why. The agent tells the dock to show its "refused" indication on Slot
// of Dock (on the dock's reader when Slot is -1: a badge with no camera to give)
// and shows Reasons to the member of staff.
type Refusal struct {
	// Camera is the camera refused; empty when a badge found none to give.
	Camera string
	Dock   string
	Slot   int
	Staff  string
	// Reasons are sentences for staff, one per rule the camera (or, by a badge,
	// each camera of the dock) fails.
	Reasons []string
}

// Error says what was refused and why.
func (r *Refusal) Error() string {
	what := "no camera at " + r.Dock
	if r.Camera != "" {
		what = r.Camera
	}
	return fmt.Sprintf("%v: %s is not issued to %s: %s", ErrRefused, what, r.Staff, strings.Join(r.Reasons, "; "))
}

// Unwrap makes a Refusal ErrRefused.
func (r *Refusal) Unwrap() error { return ErrRefused }

// Issue issues a camera to r.Staff: r.Camera on the console, or, by a badge at
// r.Dock, the one the engine chooses there: docked, eligible, the highest battery
// (the lowest slot of those alike). It refuses, with a [*Refusal], a camera that is
// not docked in an online dock, is issued already, has a fault, has footage not
// offloaded since its last return (or its offload is running or failed), or whose
// battery is under Config.MinBatteryPct; and a member of staff who has a camera
// issued already. A serial the register does not know is ErrNoCamera. It returns
// the issue and its bwc.issued draft; the agent then tells the dock to show its
// "issued" indication on the issue's slot. The camera stays issued, docked, until
// its undock (bwc.taken) or, not taken within Config.TakeWithin, [Engine.Check]
// lapses the issue.
func (e *Engine) Issue(r Request) (Issue, Draft, error) {
	r.At = r.At.UTC()
	if r.Via == ViaBadge && r.By == "" {
		r.By = r.Staff
	}
	if err := checkRequest(r); err != nil {
		return Issue{}, Draft{}, err
	}
	serial, err := e.choose(r)
	if err != nil {
		return Issue{}, Draft{}, err
	}
	c := e.cams[serial]
	i := Issued{Camera: serial, Dock: c.place.dock, Slot: c.place.slot, Staff: r.Staff, By: r.By, Via: r.Via,
		Battery: c.tel.battery, Issue: c.reg.issues + 1, At: r.At}
	d, err := e.emit(TypeIssued, r.At, serial, r.Staff, i)
	if err != nil {
		return Issue{}, Draft{}, err
	}
	return Issue{Issued: i}, d, nil
}

func checkRequest(r Request) error {
	if err := checkStaff("member of staff to wear it", r.Staff); err != nil {
		return err
	}
	if err := checkStaff("member of staff issuing it", r.By); err != nil {
		return err
	}
	switch {
	case r.At.IsZero():
		return fmt.Errorf("%w: an issue with no time", ErrInvalid)
	case r.Via == ViaConsole:
		return checkSerial(r.Camera)
	case r.Via == ViaBadge:
		if r.Camera != "" {
			return fmt.Errorf("%w: a badge issues the camera the engine chooses, not %s", ErrInvalid, fact.Clip(r.Camera))
		}
		if r.By != r.Staff {
			return fmt.Errorf("%w: a badge issues a camera to its holder %s, not by %s", ErrInvalid, r.Staff, fact.Clip(r.By))
		}
		return checkDock(r.Dock, 0)
	}
	return fmt.Errorf("%w: issued via %q: console or badge", ErrInvalid, fact.Clip(r.Via))
}

// choose returns the serial of the camera r is to have, or why none.
func (e *Engine) choose(r Request) (string, error) {
	for _, s := range slices.Sorted(maps.Keys(e.cams)) {
		if i := e.cams[s].reg.issue; i != nil && i.Staff == r.Staff {
			ref := &Refusal{Camera: r.Camera, Dock: r.Dock, Slot: -1, Staff: r.Staff,
				Reasons: []string{fmt.Sprintf("%s has camera %s issued since %s: return it first", r.Staff, s, fact.Stamp(i.At))}}
			if c, ok := e.cams[r.Camera]; ok && c.place.docked {
				ref.Dock, ref.Slot = c.place.dock, c.place.slot
			}
			return "", ref
		}
	}
	if r.Via == ViaConsole {
		c, ok := e.cams[r.Camera]
		if !ok {
			return "", fmt.Errorf("%w: %s: no dock has reported it and the register has no record of it", ErrNoCamera, r.Camera)
		}
		if why := e.whyNot(c); len(why) > 0 {
			ref := &Refusal{Camera: r.Camera, Slot: -1, Staff: r.Staff, Reasons: why}
			if c.place.docked {
				ref.Dock, ref.Slot = c.place.dock, c.place.slot
			}
			return "", ref
		}
		return r.Camera, nil
	}
	ref := &Refusal{Dock: r.Dock, Slot: -1, Staff: r.Staff}
	if d := e.docks[r.Dock]; d == nil || !d.online {
		ref.Reasons = []string{fmt.Sprintf("dock %s is offline, or has not reported: its cameras' state is unknown", r.Dock)}
		return "", ref
	}
	best := ""
	for _, s := range slices.Sorted(maps.Keys(e.cams)) {
		c := e.cams[s]
		if !c.place.docked || c.place.dock != r.Dock {
			continue
		}
		if why := e.whyNot(c); len(why) > 0 {
			ref.Reasons = append(ref.Reasons, fmt.Sprintf("%s in slot %d: %s", s, c.place.slot, strings.Join(why, ", ")))
			continue
		}
		if b := e.cams[best]; best == "" || cmp.Or(cmp.Compare(b.tel.battery, c.tel.battery), cmp.Compare(c.place.slot, b.place.slot)) < 0 {
			best = s
		}
	}
	if best == "" {
		if len(ref.Reasons) == 0 {
			ref.Reasons = []string{fmt.Sprintf("no camera is docked in %s", r.Dock)}
		}
		slices.SortFunc(ref.Reasons, strings.Compare)
		return "", ref
	}
	return best, nil
}

// whyNot says why c may not be issued now, each reason a sentence for staff; none
// when it may.
func (e *Engine) whyNot(c *camera) []string {
	var why []string
	if i := c.reg.issue; i != nil {
		why = append(why, fmt.Sprintf("issued to %s since %s", i.Staff, fact.Stamp(i.At)))
	}
	switch loc, unknown := e.location(c); loc {
	case LocationOut:
		return append(why, "not in a dock")
	case LocationUnknown:
		return append(why, "its state is unknown: "+unknown)
	}
	if len(c.tel.faults) > 0 {
		why = append(why, "it reports a fault: "+strings.Join(c.tel.faults, ", "))
	}
	switch {
	case c.tel.offload == OffloadFailed:
		why = append(why, "its footage failed to offload"+detail(c.tel.offloadDetail))
	case c.tel.offload == OffloadRunning:
		why = append(why, "its footage is being offloaded")
	case c.reg.needsOffload:
		why = append(why, "its footage is not yet offloaded (since "+fact.Stamp(c.reg.since)+")")
	}
	if c.tel.battery < e.cfg.MinBatteryPct {
		why = append(why, fmt.Sprintf("its battery is at %d%%, under the minimum of %d%%", c.tel.battery, e.cfg.MinBatteryPct))
	}
	return why
}

func detail(s string) string {
	if s == "" {
		return ""
	}
	return " (" + s + ")"
}

// Check raises what time alone brings, at now (the agent calls it periodically): an
// issue not taken within Config.TakeWithin, its camera still in an online dock,
// lapses (bwc.returned, taken false); a camera issued longer than Config.Shift
// before now is raised bwc.overdue, once per issue. It returns the drafts, by
// camera.
func (e *Engine) Check(now time.Time) ([]Draft, error) {
	now = now.UTC()
	return e.atomic(func() ([]Draft, error) {
		var out []Draft
		for _, s := range slices.Sorted(maps.Keys(e.cams)) {
			c := e.cams[s]
			i := c.reg.issue
			if i == nil {
				continue
			}
			add := func(d Draft, err error) error {
				if err == nil {
					out = append(out, d)
				}
				return err
			}
			if loc, _ := e.location(c); c.reg.taken.IsZero() && loc == LocationDocked && now.Sub(i.At) > e.cfg.TakeWithin {
				r := Returned{Camera: s, Staff: i.Staff, Issue: i.Issue, Dock: c.place.dock, Slot: c.place.slot, IssuedAt: i.At,
					OutSeconds: seconds(now.Sub(i.At)), At: now}
				if err := add(e.emit(TypeReturned, now, s, i.Staff, r)); err != nil {
					return nil, err
				}
				continue
			}
			if !c.reg.overdue && now.Sub(i.At) > e.cfg.Shift {
				o := Overdue{Camera: s, Staff: i.Staff, Issue: i.Issue, IssuedAt: i.At, OutSeconds: seconds(now.Sub(i.At)),
					ShiftSeconds: seconds(e.cfg.Shift), At: now}
				if err := add(e.emit(TypeOverdue, now, s, i.Staff, o)); err != nil {
					return nil, err
				}
			}
		}
		return out, nil
	})
}

func seconds(d time.Duration) int64 { return int64(max(d, 0) / time.Second) }
