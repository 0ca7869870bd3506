package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/apedge/apedge/formats/event"
	"github.com/apedge/apedge/formats/sitebus"
)

// Holds and lockdown, as the agent orders and journals them (the bridge carries them
// out: see formats/sitebus's hold.go). Journaled, signed and sent to central:
//
//   - door.held: staff ordered a door held unlocked or locked until a time (by,
//     reason, mode, until, the command and the bridge's result);
//   - door.hold-ended: staff ended a door's hold early (released: true, by, reason,
//     result), or the bridge reported a hold that ran out by itself (ranOut: true);
//   - site.lockdown: a manager locked the site down (by, reason, until, and each
//     door's result);
//   - site.lockdown-released: a manager released it (by, reason, each door's result).
//
// A lockdown is one hold (mode lockdown) per door, each signed for its door and
// answered on its own, so a door that did not take it is seen and named. Whatever the
// outcome, an order is journaled.

// LockdownFor is how long a lockdown lasts unless released: the bridge's default
// maxHold. It ends by itself on the bridge then, and must be ordered again to go on.
const LockdownFor = 12 * time.Hour

// Errors of the hold orders, tested with errors.Is.
var (
	// ErrInLockdown: a door's own hold cannot be placed or ended while the site is
	// locked down; release the lockdown first.
	ErrInLockdown = errors.New("agent: the site is in lockdown")
	// ErrNoDoors: no door has reported to the agent, so there is nothing to lock down.
	ErrNoDoors = errors.New("agent: no door has reported")
)

// HoldDoor orders door held in mode (sitebus.HoldUnlocked or sitebus.HoldLocked)
// until until, on behalf of staff member by for reason, or, with mode empty, its hold
// ended now. It waits for the bridge's answer as UnlockDoor does, and journals the
// order and its outcome as door.held (or door.hold-ended) whatever it is. A door in
// the site's lockdown is refused with ErrInLockdown, unjournaled: nothing was ordered.
func (a *Agent) HoldDoor(ctx context.Context, door, by, reason, mode string, until time.Time) (sitebus.Result, error) {
	if !sitebus.ValidDeviceID(door) {
		return sitebus.Result{}, fmt.Errorf("agent: hold: %q is not a door id", door)
	}
	if by == "" {
		return sitebus.Result{}, fmt.Errorf("agent: hold %s: no staff member named", door)
	}
	if mode != "" && mode != sitebus.HoldUnlocked && mode != sitebus.HoldLocked {
		return sitebus.Result{}, fmt.Errorf("agent: hold %s: mode %q, want unlocked, locked or none", door, mode)
	}
	ordered := a.clock.Now()
	if mode != "" && !until.After(ordered) {
		return sitebus.Result{}, fmt.Errorf("agent: hold %s: until %s is not in the future", door, until.Format(time.RFC3339))
	}
	for _, d := range a.Devices().Doors {
		if d.ID == door && d.Hold == sitebus.HoldLockdown {
			return sitebus.Result{}, fmt.Errorf("%w: %s is locked down until the lockdown is released", ErrInLockdown, door)
		}
	}
	cmd := sitebus.Command{Action: sitebus.ActionHold, By: by, Mode: mode, Until: until.UTC(), Reason: reason}
	typ, desc := "door.held", "staff ordered the door held "+mode
	if mode == "" {
		cmd = sitebus.Command{Action: sitebus.ActionRelease, By: by, Reason: reason}
		typ, desc = "door.hold-ended", "staff ended the door's hold"
	}
	res, err := a.order(ctx, door, &cmd, ordered)
	if errors.Is(err, errSign) {
		return res, err
	}
	info := map[string]any{"door": door, "by": by, "reason": reason, "command": cmd.ID,
		"result": resultOf(res, err), "error": res.Error, "orderedAt": ordered.UTC()}
	if mode != "" {
		info["mode"], info["until"] = mode, until.UTC()
	} else {
		info["released"] = true
	}
	b, _ := json.Marshal(info)
	if _, jerr := a.append(context.WithoutCancel(ctx), &event.Draft{Type: typ, OccurredAt: ordered, Description: desc, Info: b}); jerr != nil {
		return res, jerr
	}
	if err != nil {
		return res, fmt.Errorf("agent: hold %s: %w", door, err)
	}
	if res.Status != sitebus.ResultDone {
		return res, fmt.Errorf("agent: hold %s: %s: %s", door, res.Status, res.Error)
	}
	return res, nil
}

// resultOf is an order's outcome in one word: the bridge's status, or no-answer.
func resultOf(res sitebus.Result, err error) string {
	if err != nil && res.Status == "" {
		return "no-answer"
	}
	return res.Status
}

// DoorResult is one door's answer to a lockdown or its release.
type DoorResult struct {
	Door   string `json:"door"`
	Result string `json:"result"`
	Error  string `json:"error,omitempty"`
}

// LockdownOrder is what became of a lockdown or release order.
type LockdownOrder struct {
	// Type is the journal's event type: site.lockdown or site.lockdown-released.
	Type      string       `json:"type"`
	By        string       `json:"by"`
	Reason    string       `json:"reason"`
	OrderedAt time.Time    `json:"orderedAt"`
	Until     time.Time    `json:"until,omitzero"`
	Doors     []DoorResult `json:"doors"`
}

// Failed lists the doors that did not answer done.
func (o LockdownOrder) Failed() []string {
	var f []string
	for _, d := range o.Doors {
		if d.Result != sitebus.ResultDone {
			f = append(f, d.Door)
		}
	}
	return f
}

// Lockdown locks every door that has reported down for LockdownFor, on behalf of
// by for reason: entry is refused at each, exit never (see formats/sitebus). It sends
// each door its own hold, waits for every answer and journals the order with each
// door's result as site.lockdown. It returns an error naming the doors that did not
// take it, if any did not: the others are locked down all the same.
func (a *Agent) Lockdown(ctx context.Context, by, reason string) (LockdownOrder, error) {
	ordered := a.clock.Now()
	return a.siteOrder(ctx, "site.lockdown", "a manager locked the site down", by, reason, ordered, func() sitebus.Command {
		return sitebus.Command{Action: sitebus.ActionHold, By: by, Mode: sitebus.HoldLockdown, Until: ordered.Add(LockdownFor).UTC(), Reason: reason}
	})
}

// ReleaseLockdown ends the site's lockdown at every door that has reported, on behalf
// of by for reason, and journals it with each door's result as
// site.lockdown-released. A door's own hold (not a lockdown) is left as it is.
func (a *Agent) ReleaseLockdown(ctx context.Context, by, reason string) (LockdownOrder, error) {
	return a.siteOrder(ctx, "site.lockdown-released", "a manager released the site's lockdown", by, reason, a.clock.Now(), func() sitebus.Command {
		return sitebus.Command{Action: sitebus.ActionRelease, By: by, Mode: sitebus.HoldLockdown, Reason: reason}
	})
}

// siteOrder sends every reported door the command mk makes, at once, and journals the
// order as typ with each door's result.
func (a *Agent) siteOrder(ctx context.Context, typ, desc, by, reason string, ordered time.Time, mk func() sitebus.Command) (LockdownOrder, error) {
	o := LockdownOrder{Type: typ, By: by, Reason: reason, OrderedAt: ordered.UTC()}
	if by == "" {
		return o, fmt.Errorf("agent: %s: no staff member named", typ)
	}
	var doors []string
	for _, d := range a.Devices().Doors {
		doors = append(doors, d.ID)
	}
	slices.Sort(doors)
	if len(doors) == 0 {
		return o, fmt.Errorf("%w: %s", ErrNoDoors, typ)
	}
	o.Doors = make([]DoorResult, len(doors))
	var wg sync.WaitGroup
	for i, door := range doors {
		cmd := mk()
		if o.Until.IsZero() {
			o.Until = cmd.Until
		}
		wg.Go(func() {
			res, err := a.order(ctx, door, &cmd, ordered)
			r := DoorResult{Door: door, Result: resultOf(res, err), Error: res.Error}
			if err != nil && r.Error == "" {
				r.Error = err.Error()
			}
			o.Doors[i] = r
		})
	}
	wg.Wait()
	info := map[string]any{"by": by, "reason": reason, "orderedAt": o.OrderedAt, "doors": o.Doors}
	if !o.Until.IsZero() {
		info["until"] = o.Until
	}
	b, _ := json.Marshal(info)
	if _, err := a.append(context.WithoutCancel(ctx), &event.Draft{Type: typ, OccurredAt: ordered, Description: desc, Info: b}); err != nil {
		return o, err
	}
	if f := o.Failed(); len(f) > 0 {
		return o, fmt.Errorf("agent: %s: not taken by %s", typ, strings.Join(f, ", "))
	}
	return o, nil
}

// LockdownView is the site's lockdown as its doors report it.
type LockdownView struct {
	// Active says at least one door reports itself locked down.
	Active bool `json:"active"`
	// Doors lists the doors locked down; NotLocked those that have reported and are
	// not (a door that missed the order, or was released alone).
	Doors     []string `json:"doors"`
	NotLocked []string `json:"notLocked"`
	// By, Reason and Until are the lockdown's, as the doors say (the latest ending).
	By     string    `json:"by,omitempty"`
	Reason string    `json:"reason,omitempty"`
	Until  time.Time `json:"until,omitzero"`
}

// LockdownState returns the site's lockdown as its doors last reported it: the doors'
// own state, so it survives an agent restart and shows a door that missed the order.
func (a *Agent) LockdownState() LockdownView {
	v := LockdownView{Doors: []string{}, NotLocked: []string{}}
	doors := a.Devices().Doors
	slices.SortFunc(doors, func(x, y DoorView) int { return strings.Compare(x.ID, y.ID) })
	for _, d := range doors {
		if d.Hold != sitebus.HoldLockdown {
			v.NotLocked = append(v.NotLocked, d.ID)
			continue
		}
		v.Active = true
		v.Doors = append(v.Doors, d.ID)
		if d.HoldUntil.After(v.Until) {
			v.By, v.Reason, v.Until = d.HoldBy, d.HoldReason, d.HoldUntil
		}
	}
	return v
}

// holdRanOut journals a door's report that its hold ended by itself at its time as
// door.hold-ended (ranOut: true). A hold a staff member ended was journaled with the
// order (door.hold-ended, site.lockdown-released): its report, which names who, makes
// no event.
func (a *Agent) holdRanOut(tp sitebus.Topic, m *sitebus.Message) (*event.Draft, error) {
	var ev sitebus.DoorEvent
	if err := json.Unmarshal(m.Data, &ev); err != nil {
		return nil, fmt.Errorf("%w: door hold ended: %v", sitebus.ErrMessage, err)
	}
	if ev.By != "" {
		return nil, nil
	}
	b, err := json.Marshal(map[string]any{"door": tp.ID, "mode": ev.Hold, "reason": ev.HoldReason, "ranOut": true, "endedAt": m.Time,
		"device": map[string]any{"class": tp.Class, "id": tp.ID, "boot": m.Boot, "seq": m.Seq, "time": m.Time}})
	if err != nil {
		return nil, err
	}
	return &event.Draft{Type: "door.hold-ended", OccurredAt: m.Time, Description: "the door's hold ran out at its time", Info: b}, nil
}
