package gpiodoor

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/apedge/apedge/devices/device"
	"github.com/apedge/apedge/devices/door"
	"github.com/apedge/apedge/devices/doorio"
	"github.com/apedge/apedge/internal/config"
)

// Status is a door's retained state (kind StatusKind): the state machine's view plus
// what is fitted. It is sitebus.DoorStatus's JSON, field for field.
type Status struct {
	door.State
	// Lock is the relay's mode (fail-safe, fail-secure), empty if none is fitted.
	Lock        string `json:"lock,omitempty"`
	EntryReader string `json:"entryReader,omitempty"`
	ExitReader  string `json:"exitReader,omitempty"`
}

// doorInput is one input to a door's machine, with where to say it was applied.
type doorInput struct {
	at   time.Time
	in   door.Input
	done chan<- struct{}
}

// doorDevice runs one door: its state machine, its lock relay and its inputs.
type doorDevice struct {
	ref        device.Ref
	cfg        config.Door
	hasContact bool
	m          *door.Machine // only run touches it
	io         *doorio.Door  // nil parts are not fitted
	env        device.Env
	log        *slog.Logger
	in         chan doorInput

	mu     sync.Mutex
	health device.Health
	state  door.State // the machine's, after each input, for Refuses
}

func newDoor(cfg config.Door, io *doorio.Door, env device.Env) *doorDevice {
	hasContact := io != nil && io.Contact != nil
	return &doorDevice{
		ref:        device.Ref{Class: DoorClass, ID: cfg.ID},
		cfg:        cfg,
		hasContact: hasContact,
		m: door.New(door.Config{UnlockFor: cfg.UnlockFor, HeldOpenAfter: cfg.HeldOpenAfter,
			RelockOnClose: cfg.RelockOnClose, HasContact: hasContact}),
		io:     io,
		env:    env,
		log:    env.Log.With("door", cfg.ID),
		in:     make(chan doorInput, 64),
		health: device.Health{Status: device.HealthOK},
	}
}

// Ref names the door.
func (d *doorDevice) Ref() device.Ref { return d.ref }

// HasContact says the door has a position switch.
func (d *doorDevice) HasContact() bool { return d.hasContact }

// Grant unlocks the door for a granted credential.
func (d *doorDevice) Grant(ctx context.Context, g device.Grant) {
	d.send(ctx, g.At, door.Grant{Reader: g.Reader, Direction: g.Direction, Credential: g.Credential})
}

// Command carries out ActionUnlock, ActionHold and ActionRelease.
func (d *doorDevice) Command(ctx context.Context, cmd device.Command) error {
	var args struct {
		ForMs  int64     `json:"forMs"`
		Mode   string    `json:"mode"`
		Until  time.Time `json:"until"`
		Reason string    `json:"reason"`
	}
	if len(cmd.Body) > 0 {
		if err := json.Unmarshal(cmd.Body, &args); err != nil {
			return fmt.Errorf("gpiodoor: door %s: %s: %w", d.cfg.ID, cmd.Action, err)
		}
	}
	var di door.Input
	switch cmd.Action {
	case ActionUnlock:
		di = door.Unlock{For: time.Duration(args.ForMs) * time.Millisecond, By: cmd.By}
	case ActionHold:
		di = door.Hold{Mode: args.Mode, Until: args.Until, By: cmd.By, Reason: args.Reason}
	case ActionRelease:
		di = door.Release{Mode: args.Mode, By: cmd.By}
	default:
		return device.Unsupported(d.ref, cmd.Action)
	}
	done := make(chan struct{})
	in := doorInput{at: d.env.Clock.Now(), in: di, done: done}
	select {
	case d.in <- in:
	case <-ctx.Done():
		return device.Expired("door busy until the deadline")
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return device.Expired("door busy until the deadline")
	}
}

// Refuses says why the door's hold refuses a read in direction at now (held-locked,
// lockdown), or "": exit is never refused.
func (d *doorDevice) Refuses(now time.Time, direction string) string {
	d.mu.Lock()
	st := d.state
	d.mu.Unlock()
	return door.Refusal(st, now, direction)
}

// Health is down while the lock relay cannot be set, degraded while an input has
// stopped.
func (d *doorDevice) Health() device.Health {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.health
}

func (d *doorDevice) setHealth(h device.Health) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.health = h
}

// send hands in to the door, waiting while its queue is full.
func (d *doorDevice) send(ctx context.Context, at time.Time, in door.Input) {
	select {
	case d.in <- doorInput{at: at, in: in}:
	case <-ctx.Done():
	}
}

// run drives the door until ctx ends. Hardware inputs are read by goroutines of their
// own and handed in; the machine itself runs only here.
func (d *doorDevice) run(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	d.setLock(true)
	d.publishState(d.env.Clock.Now())
	if d.io != nil {
		if c := d.io.Contact; c != nil {
			wg.Go(func() {
				// The switch is closed (active) while the door is shut, so a cut wire
				// reads as open: an alarm, never a silently "closed" door.
				err := c.Run(ctx, func(shut bool, at time.Time) { d.send(ctx, at, door.Contact{Open: !shut}) })
				if err != nil && ctx.Err() == nil {
					d.log.Error("door contact stopped", "err", err)
					d.setHealth(device.Health{Status: device.HealthDegraded, Detail: "door contact stopped: " + err.Error()})
				}
			})
		}
		if x := d.io.Exit; x != nil {
			wg.Go(func() {
				err := x.Run(ctx, func(pressed bool, at time.Time) {
					if pressed {
						d.send(ctx, at, door.ExitRequest{})
					}
				})
				if err != nil && ctx.Err() == nil {
					d.log.Error("exit button stopped", "err", err)
					d.setHealth(device.Health{Status: device.HealthDegraded, Detail: "exit button stopped: " + err.Error()})
				}
			})
		}
	}
	for {
		// The machine's next deadline (relock, held open), on the bridge's clock.
		var due <-chan time.Time
		if next := d.m.Next(); !next.IsZero() {
			due = d.env.Clock.Until(next)
		}
		select {
		case <-ctx.Done():
			return
		case x := <-d.in:
			at := x.at
			if at.IsZero() {
				at = d.env.Clock.Now()
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

func (d *doorDevice) apply(evs []door.Event) {
	d.setLock(d.m.Locked())
	d.mu.Lock()
	d.state = d.m.State()
	d.mu.Unlock()
	for _, ev := range evs {
		lvl := slog.LevelDebug
		if ev.Kind == door.EventForced || ev.Kind == door.EventHeldOpen || ev.Kind == door.EventTailgate {
			lvl = slog.LevelWarn
		}
		d.log.Log(context.Background(), lvl, "door "+ev.Kind, "reason", ev.Reason, "reader", ev.Reader)
		d.env.Sink.Event(d.ref, ev.Kind, ev, ev.At)
	}
	if len(evs) > 0 {
		d.publishState(evs[len(evs)-1].At)
	}
}

// setLock drives the relay. A relay that cannot be set is logged and makes the door
// down: nothing else can be done from software, and a fail-safe lock without power
// is open anyway.
func (d *doorDevice) setLock(locked bool) {
	if d.io == nil || d.io.Lock == nil {
		return
	}
	if err := d.io.Lock.Set(locked); err != nil {
		d.log.Error("lock relay", "locked", locked, "err", err)
		d.setHealth(device.Health{Status: device.HealthDown, Detail: "lock relay: " + err.Error()})
		return
	}
	d.mu.Lock()
	if d.health.Status == device.HealthDown {
		d.health = device.Health{Status: device.HealthOK}
	}
	d.mu.Unlock()
}

func (d *doorDevice) publishState(at time.Time) {
	st := Status{State: d.m.State(), EntryReader: d.cfg.EntryReader, ExitReader: d.cfg.ExitReader}
	if d.cfg.Lock != nil {
		st.Lock = d.cfg.Lock.Mode
	}
	d.env.Sink.State(d.ref, StatusKind, st, at)
}

// openIO opens a door's pins. In a simulated site the pins are fakes made here.
func openIO(cfg config.Door, sim bool, env device.Env) (*doorio.Door, *doorio.SimDoor, error) {
	dc := doorio.DoorConfig{Debounce: 20 * time.Millisecond, ContactActiveLow: true, ExitActiveLow: true, Clock: env.Clock}
	var simDoor *doorio.SimDoor
	if sim {
		// Fake pins live in periph's process-wide registry: name them uniquely.
		u := make([]byte, 4)
		rand.Read(u)
		s, pins, err := doorio.NewSimDoor("sim-" + cfg.ID + "-" + hex.EncodeToString(u))
		if err != nil {
			return nil, nil, fmt.Errorf("gpiodoor: door %s: %w", cfg.ID, err)
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
			if simDoor != nil {
				simDoor.Close()
			}
			return nil, nil, fmt.Errorf("gpiodoor: door %s: %w", cfg.ID, err)
		}
		dc.LockMode = mode
	}
	d, err := doorio.OpenDoor(dc)
	if err != nil {
		if simDoor != nil {
			simDoor.Close()
		}
		return nil, nil, fmt.Errorf("gpiodoor: door %s: %w", cfg.ID, err)
	}
	return d, simDoor, nil
}
