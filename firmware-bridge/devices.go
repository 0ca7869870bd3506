package bridge

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/apedge/apedge/devices/device"
	"github.com/apedge/apedge/formats/sitebus"
)

// healthEvery is how often the bridge asks its devices how they are, to log changes.
const healthEvery = 5 * time.Second

// opened is a class's driver, opened and not yet run.
type opened struct {
	class device.Class
	drv   device.Driver
}

// startDevices opens every class of the table and runs what each opened.
func (b *Bridge) startDevices(ctx context.Context, wg *sync.WaitGroup) error {
	env := device.Env{Config: b.cfg, Log: b.log, Clock: b.clock, Sink: busSink{b}, Access: cardDesk{b}}
	if b.cfg.Simulate != nil {
		env.Sims = device.NewSims()
		b.sim = &Sim{sims: env.Sims}
	}
	devs := map[device.Ref]device.Device{}
	doors := map[string]device.Door{}
	var drivers []opened
	// fail lets what was opened release what it holds: Run with ctx already done.
	fail := func(err error) error {
		done, cancel := context.WithCancel(ctx)
		cancel()
		for _, o := range drivers {
			o.drv.Run(done)
		}
		return err
	}
	names := map[string]bool{}
	for _, c := range b.classes {
		if names[c.Name()] {
			return fail(fmt.Errorf("bridge: device class %s listed twice", c.Name()))
		}
		names[c.Name()] = true
		drv, err := c.Open(ctx, env)
		if err != nil {
			return fail(fmt.Errorf("bridge: %s: %w", c.Name(), err))
		}
		if drv == nil {
			continue // none configured
		}
		drivers = append(drivers, opened{c, drv})
		for _, d := range drv.Devices() {
			ref := d.Ref()
			if _, err := sitebus.ParseTopic(sitebus.DeviceTopic(b.cfg.Site, ref.Class, ref.ID, sitebus.KindState)); err != nil {
				return fail(fmt.Errorf("bridge: %s: device %s cannot be on the site bus: %w", c.Name(), ref, err))
			}
			if devs[ref] != nil {
				return fail(fmt.Errorf("bridge: %s: device %s opened twice", c.Name(), ref))
			}
			devs[ref] = d
			if dr, ok := d.(device.Door); ok {
				if doors[ref.ID] != nil {
					return fail(fmt.Errorf("bridge: %s: two doors %s", c.Name(), ref.ID))
				}
				doors[ref.ID] = dr
			}
		}
	}
	b.mu.Lock()
	b.devs, b.doors = devs, doors
	b.mu.Unlock()
	for _, o := range drivers {
		wg.Go(func() {
			if err := o.drv.Run(ctx); err != nil && ctx.Err() == nil {
				b.log.Error("device class stopped", "class", o.class.Name(), "err", err)
			}
		})
	}
	wg.Go(func() { b.watchHealth(ctx) })
	return nil
}

// lookup returns the device ref, or nil.
func (b *Bridge) lookup(ref device.Ref) device.Device {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return b.devs[ref]
}

// runsClass says the bridge runs a device of site-bus class class. Commands for a
// class it runs none of are not its to answer: MQTT-native devices (body-worn
// camera docks) take and answer their own.
func (b *Bridge) runsClass(class string) bool {
	b.mu.RLock()
	defer b.mu.RUnlock()
	for ref := range b.devs {
		if ref.Class == class {
			return true
		}
	}
	return false
}

// deviceCounts counts the running devices by site-bus class, for the log: "doors",
// "readers", ...
func (b *Bridge) deviceCounts() []any {
	b.mu.RLock()
	defer b.mu.RUnlock()
	n := map[string]int{}
	for ref := range b.devs {
		n[ref.Class]++
	}
	var attrs []any
	for _, class := range slices.Sorted(maps.Keys(n)) {
		attrs = append(attrs, slog.Int(class+"s", n[class]))
	}
	return attrs
}

// Health says how each device is, by device.
func (b *Bridge) Health() map[device.Ref]device.Health {
	b.mu.RLock()
	devs := slices.Collect(maps.Values(b.devs))
	b.mu.RUnlock()
	h := make(map[device.Ref]device.Health, len(devs))
	for _, d := range devs {
		h[d.Ref()] = d.Health()
	}
	return h
}

// watchHealth logs every change of a device's health until ctx ends.
func (b *Bridge) watchHealth(ctx context.Context) {
	last := map[device.Ref]device.Health{}
	for ref := range b.Health() {
		last[ref] = device.Health{Status: device.HealthOK}
	}
	t := time.NewTicker(healthEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for ref, h := range b.Health() {
			if h == last[ref] {
				continue
			}
			last[ref] = h
			if h.Status == device.HealthOK {
				b.log.Info("device healthy", "device", ref.String())
			} else {
				b.log.Warn("device "+string(h.Status), "device", ref.String(), "detail", h.Detail)
			}
		}
	}
}

// busSink is the devices' device.Sink: the outbox.
type busSink struct{ b *Bridge }

// State keeps a device's state for the bus.
func (s busSink) State(ref device.Ref, kind string, data any, at time.Time) {
	s.b.put(ref, sitebus.KindState, kind, data, at)
}

// Event keeps a device's event for the bus.
func (s busSink) Event(ref device.Ref, kind string, data any, at time.Time) {
	s.b.put(ref, sitebus.KindEvent, kind, data, at)
}

// put keeps a device message in the outbox, if the device is one the bridge runs.
func (b *Bridge) put(ref device.Ref, busKind, kind string, data any, at time.Time) {
	if b.lookup(ref) == nil {
		b.log.Error("device message from a device no class opened; dropped", "device", ref.String(), "kind", kind)
		return
	}
	b.out.put(outMsg{at: at, class: ref.Class, id: ref.ID, kind: busKind, msgKind: kind, data: data})
}

// cardDesk is the devices' device.Access: the bridge's credential list.
type cardDesk struct{ b *Bridge }

// Decide decides a read by the credential list, hands a grant to its door and
// publishes the read.
func (c cardDesk) Decide(ctx context.Context, r device.Read) device.Decision {
	b := c.b
	cred := credential(r.Card)
	cr := sitebus.CardRead{Door: r.Door, Direction: r.Direction, Credential: cred}
	b.mu.RLock()
	d := b.doors[r.Door]
	b.mu.RUnlock()
	if d != nil {
		cr.Granted, cr.Reason, cr.ListVersion = b.access.decide(cred.ID(), r.Door)
		b.refuseHeld(d, r, &cr) // held locked or lockdown: entry refused, exit never
		if cr.Granted {
			b.secondFactor(ctx, r.Door, cred.ID(), &cr)
		}
		cr.DoorContact = d.HasContact()
		if cr.Granted {
			d.Grant(ctx, device.Grant{Reader: r.Reader.ID, Direction: r.Direction, Credential: cred.ID(), At: r.At})
		}
	} else {
		cr.Reason = denyNoDoor
	}
	b.put(r.Reader, sitebus.KindEvent, "card-read", cr, r.At)
	b.log.Debug("card read", "reader", r.Reader.ID, "granted", cr.Granted, "reason", cr.Reason)
	return device.Decision{Granted: cr.Granted, Reason: cr.Reason}
}

// secondFactor applies the second factor to cr, a read at door that the list
// granted credential id: at an Enhanced Security site, at a door with a
// fingerprint terminal, the holder's finger must match one of their slots on
// that terminal within the window. It denies (reason second-factor, or
// staff-confirmation for a holder with the alternative) otherwise, and fills
// cr.SecondFactor with what the terminal said.
func (b *Bridge) secondFactor(ctx context.Context, door, id string, cr *sitebus.CardRead) {
	if !b.cfg.EnhancedSecurity.On {
		return
	}
	term, ok := b.cfg.DoorTerminal(door)
	if !ok {
		return
	}
	sf := &sitebus.SecondFactor{Terminal: term}
	cr.SecondFactor = sf
	e, _ := b.access.entry(id)
	if e.Alternative {
		sf.Result = sitebus.FactorAlternative
		cr.Granted, cr.Reason = false, denyStaffConfirmation
		return
	}
	slots := e.Fingers[term]
	deny := func(result string) {
		sf.Result = result
		cr.Granted, cr.Reason = false, denySecondFactor
	}
	if len(slots) == 0 {
		deny(sitebus.FactorNotEnrolled)
		return
	}
	fc, ok := b.lookup(device.Ref{Class: sitebus.ClassBiometric, ID: term}).(device.FingerChecker)
	if !ok {
		b.log.Error("door's fingerprint terminal is not running", "door", door, "terminal", term)
		deny(sitebus.FactorUnavailable)
		return
	}
	window := b.cfg.EnhancedSecurity.Window
	cctx, cancel := context.WithTimeout(ctx, window+5*time.Second) // the wait, and the search after it
	defer cancel()
	res, err := fc.CheckFinger(cctx, window)
	switch {
	case err != nil:
		b.log.Warn("second factor: terminal unavailable", "door", door, "terminal", term, "err", err)
		deny(sitebus.FactorUnavailable)
	case !res.Found:
		deny(sitebus.FactorNoFinger)
	case !res.Matched:
		deny(sitebus.FactorNotMatched)
	case !slices.Contains(slots, res.Slot):
		slot := res.Slot
		deny(sitebus.FactorOtherPerson)
		sf.Slot, sf.Score = &slot, res.Score
	default:
		slot := res.Slot
		sf.Result, sf.Slot, sf.Score = sitebus.FactorMatched, &slot, res.Score
	}
}
