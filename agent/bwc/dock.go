package bwc

import (
	"fmt"
	"slices"
	"time"

	"github.com/apedge/apedge/agent/internal/fact"
	"github.com/apedge/apedge/formats/sitebus"
)

// SlotReading is what a dock says of one of its slots. The agent maps the dock's
// bus payloads (formats/sitebus) onto it; this package does not read them.
type SlotReading struct {
	Dock string
	Slot int
	// Occupied says a camera is in the slot; Serial is its serial (empty when not
	// occupied).
	Occupied bool
	Serial   string
	// BatteryPct (0 to 100), Charging, Firmware and Faults (the camera's fault
	// codes; none when healthy) are the camera's, when occupied.
	BatteryPct int
	Charging   bool
	Firmware   string
	Faults     []string
	// Offload is the state of the transfer of its footage: OffloadIdle,
	// OffloadRunning, OffloadDone or OffloadFailed; OffloadDetail says more (why it
	// failed); OffloadBytes is how much a done offload transferred (0: not said).
	Offload       string
	OffloadDetail string
	OffloadBytes  int64
	// At is when the agent received it, by the agent's clock.
	At time.Time
}

// Reading takes a reading of a slot and returns the drafts it makes:
//
//   - the camera that was in the slot (or, docked now, was in another slot) and is
//     not any more left its dock: bwc.taken if it is issued (the issue taken), else
//     bwc.removed-unissued (an alarm), once per removal;
//   - a camera docked that is issued and was taken: bwc.returned, ending the issue;
//     its footage must then be offloaded before it is issued again;
//   - the dock says its offload is done, and footage was to be offloaded:
//     bwc.offloaded; it says failed: bwc.offload-failed (an alarm), once until the
//     camera's next return, removal or offload.
//
// A reading makes its dock online. A reading of a slot older than the last taken
// for that slot is stale and changes nothing. A malformed reading is ErrInvalid.
func (e *Engine) Reading(r SlotReading) ([]Draft, error) {
	r.At = r.At.UTC()
	if err := checkReading(&r); err != nil {
		return nil, err
	}
	if d := e.docks[r.Dock]; d != nil {
		if last, ok := d.slotAt[r.Slot]; ok && r.At.Before(last) {
			return nil, nil
		}
	}
	return e.atomic(func() ([]Draft, error) {
		d := e.dockOf(r.Dock)
		if !d.online {
			d.online, d.since = true, r.At
		}
		d.slotAt[r.Slot] = r.At
		var out []Draft
		if prev := e.occupant(r.Dock, r.Slot); prev != "" && (!r.Occupied || prev != r.Serial) {
			ds, err := e.left(prev, r.At)
			if err != nil {
				return nil, err
			}
			out = append(out, ds...)
		}
		if !r.Occupied {
			return out, nil
		}
		c := e.cam(r.Serial)
		if !c.place.at(r.Dock, r.Slot) {
			if c.place.docked { // it left the slot it was in, unseen
				ds, err := e.left(r.Serial, r.At)
				if err != nil {
					return nil, err
				}
				out = append(out, ds...)
			}
			if i := c.reg.issue; i != nil && !c.reg.taken.IsZero() {
				ret := Returned{Camera: r.Serial, Staff: i.Staff, Issue: i.Issue, Dock: r.Dock, Slot: r.Slot, Taken: true,
					IssuedAt: i.At, OutSeconds: seconds(r.At.Sub(i.At)), At: r.At}
				dr, err := e.emit(TypeReturned, r.At, r.Serial, i.Staff, ret)
				if err != nil {
					return nil, err
				}
				out = append(out, dr)
			}
		}
		c.place = place{known: true, docked: true, live: true, dock: r.Dock, slot: r.Slot}
		c.tel = telemetry{reported: true, battery: r.BatteryPct, charging: r.Charging, firmware: r.Firmware, faults: r.Faults,
			offload: r.Offload, offloadDetail: r.OffloadDetail, seenAt: r.At}
		switch {
		case r.Offload == OffloadDone && c.reg.needsOffload:
			o := Offloaded{Camera: r.Serial, Dock: r.Dock, Slot: r.Slot, Bytes: r.OffloadBytes, At: r.At}
			dr, err := e.emit(TypeOffloaded, r.At, r.Serial, "", o)
			if err != nil {
				return nil, err
			}
			out = append(out, dr)
		case r.Offload == OffloadFailed && !c.reg.failRaised:
			o := OffloadFailure{Camera: r.Serial, Dock: r.Dock, Slot: r.Slot, Detail: r.OffloadDetail, At: r.At}
			dr, err := e.emit(TypeOffloadFailed, r.At, r.Serial, "", o)
			if err != nil {
				return nil, err
			}
			out = append(out, dr)
		}
		return out, nil
	})
}

// left records that the camera of serial left the dock slot it was in, at: the
// issue taken, or a removal without issue.
func (e *Engine) left(serial string, at time.Time) ([]Draft, error) {
	c := e.cams[serial]
	from := c.place
	c.place = place{known: true}
	c.tel = telemetry{} // not current while out
	i := c.reg.issue
	switch {
	case i != nil && c.reg.taken.IsZero():
		t := Taken{Camera: serial, Dock: from.dock, Slot: from.slot, Staff: i.Staff, Issue: i.Issue, IssuedAt: i.At, At: at}
		d, err := e.emit(TypeTaken, at, serial, i.Staff, t)
		return []Draft{d}, err
	case i != nil:
		return nil, nil // out already
	}
	d, err := e.emit(TypeRemoved, at, serial, "", Removed{Camera: serial, Dock: from.dock, Slot: from.slot, At: at})
	return []Draft{d}, err
}

// DockState records that dock went offline (its last will, or its readings stopped)
// or came back online, at. While a dock is offline the state of the cameras in it
// is unknown: none is issued, and [Engine.Check] lapses no issue there; when it
// comes back, each slot's next reading says what changed meanwhile.
func (e *Engine) DockState(id string, online bool, at time.Time) error {
	at = at.UTC()
	if !sitebus.ValidDeviceID(id) {
		return fmt.Errorf("%w: %q is not a dock id", ErrInvalid, fact.Clip(id))
	}
	if at.IsZero() {
		return fmt.Errorf("%w: dock %s's state with no time", ErrInvalid, id)
	}
	d := e.dockOf(id)
	if d.online != online || d.since.IsZero() {
		d.online, d.since = online, at
	}
	if !online {
		for _, c := range e.cams {
			if c.place.docked && c.place.dock == id {
				c.place.live = false // until its slot reports again
			}
		}
	}
	return nil
}

// dockOf returns the dock of id, adding it (offline) if new.
func (e *Engine) dockOf(id string) *dock {
	d, ok := e.docks[id]
	if !ok {
		d = &dock{slotAt: map[int]time.Time{}}
		e.docks[id] = d
	}
	return d
}

// checkReading returns an ErrInvalid error unless r is a reading; it cleans r's
// texts and sorts its faults.
func checkReading(r *SlotReading) error {
	if err := checkDock(r.Dock, r.Slot); err != nil {
		return err
	}
	if r.At.IsZero() {
		return fmt.Errorf("%w: a reading of %s slot %d with no time", ErrInvalid, r.Dock, r.Slot)
	}
	if !r.Occupied {
		if r.Serial != "" {
			return fmt.Errorf("%w: %s slot %d: empty, with camera %q", ErrInvalid, r.Dock, r.Slot, fact.Clip(r.Serial))
		}
		return nil
	}
	if err := checkSerial(r.Serial); err != nil {
		return err
	}
	switch {
	case r.BatteryPct < 0 || r.BatteryPct > 100:
		return fmt.Errorf("%w: %s's battery at %d%%", ErrInvalid, r.Serial, r.BatteryPct)
	case !slices.Contains([]string{OffloadIdle, OffloadRunning, OffloadDone, OffloadFailed}, r.Offload):
		return fmt.Errorf("%w: %s's offload %q: idle, running, done or failed", ErrInvalid, r.Serial, fact.Clip(r.Offload))
	case r.OffloadBytes < 0:
		return fmt.Errorf("%w: %s offloaded %d bytes", ErrInvalid, r.Serial, r.OffloadBytes)
	case len(r.Faults) > MaxFaults:
		return fmt.Errorf("%w: %s reports %d faults", ErrInvalid, r.Serial, len(r.Faults))
	}
	r.Firmware = fact.CleanText(r.Firmware, 64)
	r.OffloadDetail = fact.CleanText(r.OffloadDetail, 256)
	r.Faults = sortedFaults(r.Faults)
	return nil
}
