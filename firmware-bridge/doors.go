package bridge

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"time"

	"github.com/apedge/apedge/devices/doorio"
	"github.com/apedge/apedge/firmware-bridge/door"
	"github.com/apedge/apedge/formats/sitebus"
	"github.com/apedge/apedge/internal/clock"
	"github.com/apedge/apedge/internal/config"
)

// doorInput is one input to a door's machine, with where to say it was applied.
type doorInput struct {
	at   time.Time
	in   door.Input
	done chan<- struct{}
}

// doorRun runs one door: its state machine, its lock relay and its inputs.
type doorRun struct {
	cfg   config.Door
	m     *door.Machine
	io    *doorio.Door // nil parts are not fitted
	out   *outbox
	clock clock.Clock
	log   *slog.Logger
	in    chan doorInput
	lock  bool // the lock output as last set
}

func newDoorRun(cfg config.Door, io *doorio.Door, out *outbox, clk clock.Clock, log *slog.Logger) *doorRun {
	hasContact := io != nil && io.Contact != nil
	return &doorRun{
		cfg: cfg,
		m: door.New(door.Config{UnlockFor: cfg.UnlockFor, HeldOpenAfter: cfg.HeldOpenAfter,
			RelockOnClose: cfg.RelockOnClose, HasContact: hasContact}),
		io:    io,
		out:   out,
		clock: clk,
		log:   log.With("door", cfg.ID),
		in:    make(chan doorInput, 64),
	}
}

// send hands in to the door, waiting while its queue is full.
func (d *doorRun) send(ctx context.Context, at time.Time, in door.Input) {
	select {
	case d.in <- doorInput{at: at, in: in}:
	case <-ctx.Done():
	}
}

// run drives the door until ctx ends. Hardware inputs are read by goroutines of their
// own and handed in; the machine itself runs only here.
func (d *doorRun) run(ctx context.Context) {
	d.setLock(true)
	d.publishState(d.clock.Now())
	if d.io != nil {
		if c := d.io.Contact; c != nil {
			go func() {
				// The switch is closed (active) while the door is shut, so a cut wire
				// reads as open: an alarm, never a silently "closed" door.
				err := c.Run(ctx, func(shut bool, at time.Time) { d.send(ctx, at, door.Contact{Open: !shut}) })
				if err != nil && ctx.Err() == nil {
					d.log.Error("door contact stopped", "err", err)
				}
			}()
		}
		if x := d.io.Exit; x != nil {
			go func() {
				err := x.Run(ctx, func(pressed bool, at time.Time) {
					if pressed {
						d.send(ctx, at, door.ExitRequest{})
					}
				})
				if err != nil && ctx.Err() == nil {
					d.log.Error("exit button stopped", "err", err)
				}
			}()
		}
	}
	for {
		// The machine's next deadline (relock, held open), on the bridge's clock.
		var due <-chan time.Time
		if next := d.m.Next(); !next.IsZero() {
			due = d.clock.Until(next)
		}
		select {
		case <-ctx.Done():
			return
		case x := <-d.in:
			at := x.at
			if at.IsZero() {
				at = d.clock.Now()
			}
			// Inputs stamped by hardware can be a moment old; time never runs back.
			d.apply(d.m.Handle(at, x.in))
			if x.done != nil {
				close(x.done)
			}
		case now := <-due:
			d.apply(d.m.Tick(now))
		}
	}
}

func (d *doorRun) apply(evs []door.Event) {
	d.setLock(d.m.Locked())
	for _, ev := range evs {
		lvl := slog.LevelDebug
		if ev.Kind == door.EventForced || ev.Kind == door.EventHeldOpen || ev.Kind == door.EventTailgate {
			lvl = slog.LevelWarn
		}
		d.log.Log(context.Background(), lvl, "door "+ev.Kind, "reason", ev.Reason, "reader", ev.Reader)
		d.out.put(outMsg{at: ev.At, class: sitebus.ClassDoor, id: d.cfg.ID, kind: sitebus.KindEvent, msgKind: ev.Kind, data: ev})
	}
	if len(evs) > 0 {
		d.publishState(evs[len(evs)-1].At)
	}
}

// setLock drives the relay. A relay that cannot be set is logged: nothing else can be
// done from software, and a fail-safe lock without power is open anyway.
func (d *doorRun) setLock(locked bool) {
	d.lock = locked
	if d.io == nil || d.io.Lock == nil {
		return
	}
	if err := d.io.Lock.Set(locked); err != nil {
		d.log.Error("lock relay", "locked", locked, "err", err)
	}
}

func (d *doorRun) publishState(at time.Time) {
	st := d.m.State()
	d.out.put(outMsg{at: at, class: sitebus.ClassDoor, id: d.cfg.ID, kind: sitebus.KindState, msgKind: "status", data: sitebus.DoorStatus{
		Locked: st.Locked, Open: st.Open, PositionKnown: st.Known, Forced: st.Forced, HeldOpen: st.HeldOpen,
		UnlockedUntil: st.UnlockedUntil, Lock: d.lockFitted(), EntryReader: d.cfg.EntryReader, ExitReader: d.cfg.ExitReader,
	}})
}

func (d *doorRun) lockFitted() string {
	if d.cfg.Lock == nil {
		return ""
	}
	return d.cfg.Lock.Mode
}

// openDoorIO opens a door's pins. In a simulation the pins are fakes made here.
func openDoorIO(cfg config.Door, sim bool, clk clock.Clock) (*doorio.Door, *doorio.SimDoor, error) {
	dc := doorio.DoorConfig{Debounce: 20 * time.Millisecond, ContactActiveLow: true, ExitActiveLow: true, Clock: clk}
	var simDoor *doorio.SimDoor
	if sim {
		// Fake pins live in periph's process-wide registry: name them uniquely.
		u := make([]byte, 4)
		rand.Read(u)
		s, pins, err := doorio.NewSimDoor("sim-" + cfg.ID + "-" + hex.EncodeToString(u))
		if err != nil {
			return nil, nil, err
		}
		simDoor = s
		if cfg.Wiegand == nil {
			pins.D0, pins.D1 = "", ""
		}
		dc.Pins = pins
	} else {
		if cfg.Contact != nil {
			dc.Pins.Contact, dc.ContactActiveLow = cfg.Contact.Pin, !cfg.Contact.ActiveHigh
		}
		if cfg.ExitButton != nil {
			dc.Pins.Exit, dc.ExitActiveLow = cfg.ExitButton.Pin, !cfg.ExitButton.ActiveHigh
		}
		if cfg.Lock != nil {
			dc.Pins.Lock = cfg.Lock.Pin
		}
		if cfg.Wiegand != nil {
			dc.Pins.D0, dc.Pins.D1 = cfg.Wiegand.D0, cfg.Wiegand.D1
		}
	}
	if cfg.Lock != nil {
		mode, err := doorio.ParseLockMode(cfg.Lock.Mode)
		if err != nil {
			return nil, nil, err
		}
		dc.LockMode = mode
	}
	d, err := doorio.OpenDoor(dc)
	if err != nil {
		if simDoor != nil {
			simDoor.Close()
		}
		return nil, nil, fmt.Errorf("bridge: door %s: %w", cfg.ID, err)
	}
	return d, simDoor, nil
}
