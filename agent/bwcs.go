package agent

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apedge/apedge/agent/bwc"
	"github.com/apedge/apedge/agent/internal/fact"
	"github.com/apedge/apedge/formats/event"
	"github.com/apedge/apedge/formats/sitebus"
	"github.com/apedge/apedge/internal/config"
)

// The body-worn camera register, as the agent runs it (the decisions are
// agent/bwc's):
//
//   - staff issue a camera on the console (Issue); a member of staff on the roster
//     (kind staff) issues one to themself by showing their card at the reader of a
//     dock configured with one (bwcDocks[].reader), the engine choosing the camera.
//     Either way the dock is sent a signed indicate command for the slot: "issue",
//     or "refused" with the engine's reasons. A camera is returned by docking it:
//     there is no return from the console;
//   - a dock is MQTT-native (formats/sitebus, bwc.go): its messages carry its own
//     boot and seq, not the bridge's, and are not acknowledged to the bridge. Only
//     docks of cfg.BWCDocks are heard, and of each only the slots it has. Its
//     retained status becomes one reading a slot (bwc.SlotReading) and its online
//     state (bwc.Engine.DockState); its undocked and offload events become readings
//     of their slot (a docked event says nothing the status that follows does not);
//     its last will (an offline status of the boot of its last online status) puts
//     it offline at its arrival; a will of an earlier boot, come after the dock
//     connected again, is stale and dropped;
//   - every minute on the agent's clock, bwc.Engine.Check: overdue cameras, issues
//     not taken in time.

// bwcDescriptions are the events' one-line descriptions.
var bwcDescriptions = map[string]string{
	bwc.TypeIssued:        "a body-worn camera issued to a member of staff",
	bwc.TypeTaken:         "an issued body-worn camera taken from its dock",
	bwc.TypeReturned:      "a body-worn camera's issue ended: returned to a dock, or not taken from it in time",
	bwc.TypeOffloaded:     "a body-worn camera's footage offloaded by its dock",
	bwc.TypeOffloadFailed: "a body-worn camera's footage failed to offload",
	bwc.TypeOverdue:       "a body-worn camera out longer than a shift",
	bwc.TypeRemoved:       "a body-worn camera taken from a dock with no issue recorded",
}

// bwcEvery is how often the agent runs the register's checks, on its clock.
const bwcEvery = time.Minute

// causeNoReader: a badge event from a dock configured with no card reader.
const causeNoReader = "no-reader"

// BWCRegister is the site's body-worn camera register: which camera is issued to
// whom since when, where each camera is, its battery and offload, and the docks.
// Every change is journaled (signed and forwarded) before it is answered; one that
// cannot be journaled does not stand. Its methods are safe for concurrent use, and
// wait until the journal is replayed.
type BWCRegister struct {
	a *Agent
	// mu orders every change: the engine's change and its journal append happen
	// under it. It guards the fields below too.
	mu  sync.Mutex
	eng *bwc.Engine
	// boots is each dock's boot of its last online status; status its last status
	// and when it came.
	boots  map[string]string
	status map[string]dockStatus
	// runCtx is the agent's run, which the LED commands sent in the background
	// last for.
	runCtx        context.Context
	ready         chan struct{}
	replayRefused atomic.Uint64
}

// dockStatus is a dock's last status and when the agent received it.
type dockStatus struct {
	st sitebus.DockStatus
	at time.Time
}

// bwcConfig maps the configuration's bwc section onto the engine's.
func bwcConfig(c config.BWC) bwc.Config {
	return bwc.Config{MinBatteryPct: c.MinBatteryPct, Shift: c.Shift}
}

// newBWCRegister returns the body-worn camera register of a's configuration.
func newBWCRegister(a *Agent, cfg config.BWC) (*BWCRegister, error) {
	eng, err := bwc.New(bwcConfig(cfg))
	if err != nil {
		return nil, fmt.Errorf("agent: bwc: %w", err)
	}
	return &BWCRegister{a: a, eng: eng, boots: map[string]string{}, status: map[string]dockStatus{}, runCtx: context.Background(),
		ready: make(chan struct{})}, nil
}

// BWC returns the site's body-worn camera register.
func (a *Agent) BWC() *BWCRegister { return a.bwc }

// replay applies one journaled event to the engine, if it is one of its types.
func (b *BWCRegister) replay(seq uint64, ev *event.Event) {
	typ := strings.TrimPrefix(ev.Type, event.TypePrefix)
	if !slices.Contains(bwc.Types(), typ) {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.eng.Apply(bwc.Draft{Type: typ, Info: ev.Data.AdditionalInformation}); err != nil {
		b.replayRefused.Add(1)
		b.a.log.Error("journaled bwc event not applied: the camera register may differ from the journal's", "seq", seq, "type", typ, "err", err)
	}
}

// replayed marks the replay done.
func (b *BWCRegister) replayed() { close(b.ready) }

// wait returns once the journal is replayed, or ctx's error.
func (b *BWCRegister) wait(ctx context.Context) error {
	select {
	case <-b.ready:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("agent: bwc: the journal is not yet replayed: %w", ctx.Err())
	}
}

// change makes one change to the engine with f and journals the drafts it returns,
// in order; if one cannot be journaled, the engine keeps only those before it and
// the error is returned.
func (b *BWCRegister) change(ctx context.Context, f func(e *bwc.Engine) ([]bwc.Draft, error)) ([]bwc.Draft, error) {
	if err := b.wait(ctx); err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.changeLocked(ctx, f)
}

func (b *BWCRegister) changeLocked(ctx context.Context, f func(e *bwc.Engine) ([]bwc.Draft, error)) ([]bwc.Draft, error) {
	before := b.eng.Clone()
	ds, err := f(b.eng)
	if err != nil {
		b.eng = before
		return nil, err
	}
	for i, d := range ds {
		if err := b.journal(ctx, d); err != nil {
			b.eng = before
			for _, done := range ds[:i] {
				if aerr := b.eng.Apply(done); aerr != nil {
					b.a.log.Error("bwc event journaled but not applied again", "type", done.Type, "key", done.Key, "err", aerr)
				}
			}
			return ds[:i], &journalError{err}
		}
		if slices.Contains(bwc.Alarms(), d.Type) {
			b.a.log.Warn("body-worn camera alarm", "type", d.Type, "camera", d.Camera, "staff", d.Staff)
		}
	}
	if len(ds) > 0 {
		b.a.changes.fire()
	}
	return ds, nil
}

// journal appends draft d as a signed event, once: its key is its origin.
func (b *BWCRegister) journal(ctx context.Context, d bwc.Draft) error {
	dr := &event.Draft{Type: d.Type, OccurredAt: d.At, Description: bwcDescriptions[d.Type], Info: d.Info, Origin: "bwc:" + d.Key}
	_, err := b.a.append(context.WithoutCancel(ctx), dr)
	return err
}

// Issue issues camera (its serial) to staff member staff on behalf of staff member
// by, signed in on the console (see bwc.Engine.Issue): journaled as bwc.issued, and
// the camera's dock is sent the "issue" indication for its slot. A refusal is a
// *bwc.Refusal (errors.Is bwc.ErrRefused) saying why, and the dock is sent the
// "refused" indication, with the reasons, for the camera's slot. The LED command
// goes in the background: its outcome is logged. The issue ends when the camera,
// taken, is docked again, or when it is not taken within the engine's TakeWithin.
func (b *BWCRegister) Issue(ctx context.Context, camera, staff, by string) (bwc.Issue, error) {
	var is bwc.Issue
	_, err := b.change(ctx, func(e *bwc.Engine) ([]bwc.Draft, error) {
		var d bwc.Draft
		var err error
		is, d, err = e.Issue(bwc.Request{Camera: camera, Staff: staff, By: by, Via: bwc.ViaConsole, At: b.a.clock.Now()})
		if err != nil {
			return nil, err
		}
		return []bwc.Draft{d}, nil
	})
	b.indicateOutcome(is, err, by)
	return is, err
}

// indicateOutcome sends the dock the LED indication of an issue's outcome: "issue"
// on the issued camera's slot, or "refused" with the reasons on the refused
// camera's slot. A refusal with no slot (a badge with no camera to give, or a dock
// offline) has no LED to show it on.
func (b *BWCRegister) indicateOutcome(is bwc.Issue, err error, by string) {
	var ref *bwc.Refusal
	switch {
	case err == nil:
		go b.indicate(is.Dock, is.Slot, sitebus.PatternIssue, "issued to "+is.Staff, by)
	case errors.As(err, &ref) && ref.Dock != "" && ref.Slot >= 1:
		go b.indicate(ref.Dock, ref.Slot, sitebus.PatternRefused, fact.CleanText(strings.Join(ref.Reasons, "; "), 256), by)
	}
}

// indicate sends dock the signed command to show pattern on slot's LED, for the
// agent's run, and logs what the dock answered.
func (b *BWCRegister) indicate(dock string, slot int, pattern, reason, by string) {
	b.mu.Lock()
	ctx := b.runCtx
	b.mu.Unlock()
	cmd := sitebus.Command{Action: sitebus.ActionIndicate, By: by, Slot: &slot, Pattern: pattern, Reason: reason}
	res, err := b.a.orderTo(ctx, sitebus.ClassBWCDock, dock, &cmd, b.a.clock.Now())
	switch {
	case err != nil && ctx.Err() == nil:
		b.a.log.Warn("dock LED command not answered", "dock", dock, "slot", slot, "pattern", pattern, "command", cmd.ID, "err", err)
	case err == nil && res.Status != sitebus.ResultDone:
		b.a.log.Warn("dock LED command not carried out", "dock", dock, "slot", slot, "pattern", pattern, "command", cmd.ID,
			"status", res.Status, "err", res.Error)
	}
}

// bwcMessage handles a message of a configured dock (prepare has checked its id):
// its command results, its status and its events. A dock's messages carry its own
// boot and seq: they are checked for gaps, but not acknowledged to the bridge. It
// returns a device.refused alarm to journal, or an error only when the journal
// failed.
func (a *Agent) bwcMessage(ctx context.Context, tp sitebus.Topic, msg *sitebus.Message, bad func(error)) (*event.Draft, devMsg, error) {
	a.checkSeq(tp, msg)
	var err error
	switch tp.Kind {
	case sitebus.KindCmdResult:
		a.result(msg.Data)
		return nil, devMsg{}, nil
	case sitebus.KindState:
		err = a.bwc.dockState(ctx, tp, msg)
	case sitebus.KindEvent:
		if r := a.checkTime(msg.Time, a.clock.Now()); r != nil {
			return a.refuse(tp, msg, r), devMsg{}, nil
		}
		err = a.bwc.dockEvent(ctx, tp, msg)
	}
	if r := (*refusedError)(nil); errors.As(err, &r) {
		return a.refuse(tp, msg, r), devMsg{}, nil
	}
	if e := (*badDataError)(nil); errors.As(err, &e) {
		bad(err)
		return nil, devMsg{}, nil
	}
	return nil, devMsg{}, err
}

// dockState takes a dock's status: offline (its will, or its goodbye), the dock's
// cameras' state becomes unknown; online, each configured slot is a reading. It
// returns a badDataError for a status it cannot use, any other error only when the
// journal failed.
func (b *BWCRegister) dockState(ctx context.Context, tp sitebus.Topic, m *sitebus.Message) error {
	if m.Kind != sitebus.DockStatusKind {
		return nil
	}
	st, err := sitebus.DecodeDockStatus(m.Data)
	if err != nil {
		return &badDataError{err}
	}
	if err := b.wait(ctx); err != nil {
		return nil
	}
	dock := b.a.cfg.Dock(tp.ID)
	now := b.a.clock.Now()
	b.mu.Lock()
	defer b.mu.Unlock()
	if !st.Online {
		if boot, ok := b.boots[tp.ID]; ok && boot != m.Boot {
			b.a.log.Info("dock's offline status of an earlier connection, come after it connected again: dropped", "dock", tp.ID,
				"boot", m.Boot, "current", boot)
			return nil
		}
		b.status[tp.ID] = dockStatus{st: *st, at: now}
		if err := b.eng.DockState(tp.ID, false, now); err != nil {
			return &badDataError{err}
		}
		b.a.log.Warn("body-worn camera dock offline", "dock", tp.ID, "lastError", st.LastError)
		b.a.changes.fire()
		return nil
	}
	b.boots[tp.ID] = m.Boot
	b.status[tp.ID] = dockStatus{st: *st, at: now}
	if err := b.eng.DockState(tp.ID, true, now); err != nil {
		return &badDataError{err}
	}
	slots := slices.Clone(st.Slots)
	slices.SortFunc(slots, func(x, y sitebus.DockSlot) int { return cmp.Compare(x.Slot, y.Slot) })
	var extra []int
	_, err = b.changeLocked(ctx, func(e *bwc.Engine) ([]bwc.Draft, error) {
		var out []bwc.Draft
		for _, s := range slots {
			if s.Slot > dock.Slots {
				extra = append(extra, s.Slot)
				continue
			}
			ds, err := e.Reading(slotReading(tp.ID, s, now))
			if err != nil {
				b.a.log.Warn("dock slot's reading not taken", "dock", tp.ID, "slot", s.Slot, "err", err)
				continue
			}
			out = append(out, ds...)
		}
		return out, nil
	})
	if len(extra) > 0 {
		if ok, _ := b.a.badLogs.allow("bwc-slots/"+tp.ID, "bwc-slots", now); ok {
			b.a.log.Warn("dock reports slots it is not configured with: ignored", "dock", tp.ID, "configured", dock.Slots, "slots", extra)
		}
	}
	b.a.changes.fire()
	return err
}

// slotReading maps a dock's slot onto the engine's reading, received at at.
func slotReading(dock string, s sitebus.DockSlot, at time.Time) bwc.SlotReading {
	r := bwc.SlotReading{Dock: dock, Slot: s.Slot, Occupied: s.Occupied, At: at}
	if !s.Occupied {
		return r
	}
	r.Serial, r.Charging, r.Firmware, r.Faults = s.Camera, s.Charging, s.CameraFirmware, s.Faults
	if s.BatteryPct != nil {
		r.BatteryPct = *s.BatteryPct
	}
	if s.Offload != nil {
		r.Offload, r.OffloadDetail = s.Offload.State, s.Offload.Detail
	}
	return r
}

// dockEvent takes a dock's event: a camera undocked, an offload ended, a card at
// its reader. It returns a refusedError for a badge from a dock with no reader
// configured, a badDataError for an event it cannot use, any other error only when
// the journal failed.
func (b *BWCRegister) dockEvent(ctx context.Context, tp sitebus.Topic, m *sitebus.Message) error {
	ev, err := sitebus.DecodeDockEvent(m.Kind, m.Data)
	if err != nil {
		return &badDataError{err}
	}
	dock := b.a.cfg.Dock(tp.ID)
	if ev.Slot > dock.Slots {
		return &badDataError{fmt.Errorf("agent: bwc: %s event of slot %d: dock %s has %d slots", m.Kind, ev.Slot, tp.ID, dock.Slots)}
	}
	now := b.a.clock.Now()
	switch m.Kind {
	case sitebus.DockEventUndocked:
		_, err = b.change(ctx, func(e *bwc.Engine) ([]bwc.Draft, error) {
			return e.Reading(bwc.SlotReading{Dock: tp.ID, Slot: ev.Slot, At: now})
		})
	case sitebus.DockEventOffload:
		_, err = b.change(ctx, func(e *bwc.Engine) ([]bwc.Draft, error) {
			s, ok := b.lastSlot(tp.ID, ev.Slot)
			if !ok || !s.Occupied || s.Camera != ev.Serial {
				b.a.log.Debug("offload event of a camera the dock's last status does not show: its next status says", "dock", tp.ID,
					"slot", ev.Slot, "camera", ev.Serial)
				return nil, nil
			}
			r := slotReading(tp.ID, s, now)
			r.Offload, r.OffloadDetail, r.OffloadBytes = ev.Result, ev.Detail, ev.Bytes
			return e.Reading(r)
		})
	case sitebus.DockEventBadge:
		return b.badge(ctx, dock, ev.Card, now)
	default: // docked: the status that follows says the slot
		return nil
	}
	switch {
	case errors.As(err, new(*journalError)):
		return err
	case err != nil:
		return &badDataError{err}
	}
	return nil
}

// lastSlot returns slot of dock's last status. b.mu is held.
func (b *BWCRegister) lastSlot(dock string, slot int) (sitebus.DockSlot, bool) {
	for _, s := range b.status[dock].st.Slots {
		if s.Slot == slot {
			return s, true
		}
	}
	return sitebus.DockSlot{}, false
}

// badge issues a camera of dock to the member of staff whose card was shown at its
// reader, the engine choosing the camera, and sends the dock the outcome's LED
// indication. A card of no member of staff on the roster issues nothing.
func (b *BWCRegister) badge(ctx context.Context, dock *config.BWCDock, card string, now time.Time) error {
	if dock.Reader == "" {
		return &refusedError{causeNoReader, "dock " + dock.ID + " has no card reader configured (bwcDocks[].reader)"}
	}
	r := b.a.holder(card, now)
	if r == nil || r.Kind != config.KindStaff {
		b.a.log.Warn("card at a dock's reader held by no member of staff on the roster: no camera issued", "dock", dock.ID, "card", card)
		return nil
	}
	var is bwc.Issue
	_, err := b.change(ctx, func(e *bwc.Engine) ([]bwc.Draft, error) {
		var d bwc.Draft
		var err error
		is, d, err = e.Issue(bwc.Request{Dock: dock.ID, Staff: r.Holder(), Via: bwc.ViaBadge, At: now})
		if err != nil {
			return nil, err
		}
		return []bwc.Draft{d}, nil
	})
	b.indicateOutcome(is, err, r.Holder())
	switch {
	case err == nil:
		b.a.log.Info("camera issued by a card at the dock", "dock", dock.ID, "camera", is.Camera, "slot", is.Slot, "staff", is.Staff)
	case errors.Is(err, bwc.ErrRefused):
		b.a.log.Info("no camera issued by a card at the dock", "dock", dock.ID, "staff", r.Holder(), "why", err)
	case errors.As(err, new(*journalError)):
		return err
	default:
		return &badDataError{err}
	}
	return nil
}

// run runs the register's checks (bwc.Engine.Check) every bwcEvery on the agent's
// clock, until ctx ends. It returns an error only when the journal failed.
func (b *BWCRegister) run(ctx context.Context) error {
	if err := b.wait(ctx); err != nil {
		return nil
	}
	b.mu.Lock()
	b.runCtx = ctx
	b.mu.Unlock()
	next := b.a.clock.Now()
	tick := b.a.clock.Until(next)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick:
		}
		if _, err := b.change(ctx, func(e *bwc.Engine) ([]bwc.Draft, error) { return e.Check(b.a.clock.Now()) }); err != nil {
			if errors.As(err, new(*journalError)) {
				return err
			}
			b.a.log.Error("body-worn camera checks", "err", err)
		}
		next = next.Add(bwcEvery)
		if now := b.a.clock.Now(); next.Before(now) {
			next = now.Add(bwcEvery) // a clock moved far on: no catching up tick by tick
		}
		tick = b.a.clock.Until(next)
	}
}

// view returns what f reads of the engine, once the journal is replayed.
func bwcView[T any](ctx context.Context, b *BWCRegister, f func(e *bwc.Engine) T) (T, error) {
	if err := b.wait(ctx); err != nil {
		var zero T
		return zero, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return f(b.eng), nil
}

// Cameras returns every camera the register knows, by serial: where it is, to whom
// it is issued since when, its battery and offload, and whether it may be issued.
func (b *BWCRegister) Cameras(ctx context.Context) ([]bwc.Camera, error) {
	return bwcView(ctx, b, func(e *bwc.Engine) []bwc.Camera { return e.Cameras() })
}

// Camera returns the camera of serial.
func (b *BWCRegister) Camera(ctx context.Context, serial string) (bwc.Camera, bool, error) {
	var ok bool
	c, err := bwcView(ctx, b, func(e *bwc.Engine) bwc.Camera {
		var c bwc.Camera
		c, ok = e.Camera(serial)
		return c
	})
	return c, ok, err
}

// Issued returns the cameras issued now, longest out first.
func (b *BWCRegister) Issued(ctx context.Context) ([]bwc.Camera, error) {
	return bwcView(ctx, b, func(e *bwc.Engine) []bwc.Camera { return e.Issued() })
}

// Overdue returns the cameras issued longer than a shift, longest out first.
func (b *BWCRegister) Overdue(ctx context.Context) ([]bwc.Camera, error) {
	now := b.a.clock.Now()
	return bwcView(ctx, b, func(e *bwc.Engine) []bwc.Camera { return e.Overdue(now) })
}

// DockView is a configured dock: where it is, whether it has a reader, its online
// state as the register has it, and its last status.
type DockView struct {
	ID     string `json:"id"`
	Name   string `json:"name,omitempty"`
	Slots  int    `json:"slots"`
	Reader string `json:"reader,omitempty"`
	// Online and Since are the register's: online since its last status or
	// reading, offline since its last will; both zero until it reports.
	Online bool      `json:"online"`
	Since  time.Time `json:"since,omitzero"`
	// Reported says it has sent a status since the agent started: Status and
	// UpdatedAt are then its last (by the agent's clock).
	Reported  bool                `json:"reported"`
	Status    *sitebus.DockStatus `json:"status,omitempty"`
	UpdatedAt time.Time           `json:"updatedAt,omitzero"`
}

// Docks returns every configured dock, by id.
func (b *BWCRegister) Docks(ctx context.Context) ([]DockView, error) {
	if err := b.wait(ctx); err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	state := map[string]bwc.Dock{}
	for _, d := range b.eng.Docks() {
		state[d.ID] = d
	}
	out := []DockView{}
	for _, d := range b.a.cfg.BWCDocks {
		v := DockView{ID: d.ID, Name: d.Name, Slots: d.Slots, Reader: d.Reader, Online: state[d.ID].Online, Since: state[d.ID].Since}
		if s, ok := b.status[d.ID]; ok {
			st := s.st
			st.Slots = slices.Clone(st.Slots)
			v.Reported, v.Status, v.UpdatedAt = true, &st, s.at
		}
		out = append(out, v)
	}
	slices.SortFunc(out, func(x, y DockView) int { return cmp.Compare(x.ID, y.ID) })
	return out, nil
}

// Config returns the engine's configuration, its defaults set.
func (b *BWCRegister) Config() bwc.Config {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.eng.Config()
}

// ReplayRefused counts the journaled bwc events not applied at start.
func (b *BWCRegister) ReplayRefused() uint64 { return b.replayRefused.Load() }
