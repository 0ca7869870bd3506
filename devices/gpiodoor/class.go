// Package gpiodoor is the device class of doors wired to GPIO: a door position switch
// (contact), a request-to-exit button, a lock relay and, optionally, a Wiegand reader
// on two inputs D0/D1 (pins through devices/doorio), each door run by its state
// machine (devices/door). It opens the doors of the configuration's doors
// section: a door device (site-bus class "door") for each, and a reader device
// (class "reader") for each Wiegand reader.
//
// In a simulated site every door gets fake pins (doorio.SimDoor), added to Env.Sims
// under the door's Ref, and each Wiegand reader a device.SimReader under its own;
// unless the simulation is quiet, simulated people come to the doors, present cards
// at their readers (of any class) and walk through.
package gpiodoor

import (
	"context"
	"fmt"
	"sync"

	"github.com/apedge/apedge/devices/device"
	"github.com/apedge/apedge/devices/doorio"
	"github.com/apedge/apedge/devices/reader"
	"github.com/apedge/apedge/devices/wiegand"
	"github.com/apedge/apedge/internal/config"
)

// Site-bus vocabulary the class speaks, as package sitebus defines it (a test in
// firmware-bridge checks they agree).
const (
	// DoorClass is the site-bus class of doors.
	DoorClass = "door"
	// StatusKind is the kind of a door's retained state, whose data is a Status.
	StatusKind = "status"
	// ActionUnlock is the command that unlocks a door for a moment; its "forMs" says
	// for how long (0: the door's unlockFor).
	ActionUnlock = "unlock"
	// ActionHold holds a door unlocked or locked until a time ("mode", "until",
	// "reason"); ActionRelease ends its hold ("mode" lockdown: only a lockdown).
	ActionHold    = "hold"
	ActionRelease = "release"
)

// Class is the class of doors on GPIO. Its zero value is ready to use.
type Class struct{}

// Name returns "gpio-door".
func (Class) Name() string { return "gpio-door" }

// Open opens the pins of every door env.Config lists (fake ones in a simulated
// site), or returns nil if it lists none.
func (Class) Open(ctx context.Context, env device.Env) (device.Driver, error) {
	cfg := env.Config
	if len(cfg.Doors) == 0 {
		return nil, nil
	}
	if env.Sims == nil {
		// Real pins: periph's host drivers register them before any is looked up.
		if err := doorio.HostInit(); err != nil {
			return nil, fmt.Errorf("gpiodoor: %w", err)
		}
	}
	places := cfg.Readers()
	drv := &driver{env: env}
	for _, dc := range cfg.Doors {
		io, sim, err := openIO(dc, env.Sims != nil, env)
		if err != nil {
			drv.release()
			return nil, err
		}
		d := newDoor(dc, io, env)
		drv.doors = append(drv.doors, d)
		drv.devs = append(drv.devs, d)
		if sim != nil {
			drv.sims = append(drv.sims, sim)
			env.Sims.Add(d.ref, sim)
		}
		if w := dc.Wiegand; w != nil && io.Wiegand != nil {
			pl := places[w.Reader]
			if pl.Door == "" {
				// Named as neither of its door's readers: it is still on that door.
				pl = config.ReaderPlace{Door: dc.ID, Direction: w.Direction}
			}
			r := newWiegandReader(w.Reader, pl, io.Wiegand, sim != nil, env)
			drv.readers = append(drv.readers, r)
			drv.devs = append(drv.devs, r)
			if sim != nil {
				env.Sims.Add(r.ref, simWiegand{sim})
			}
		}
	}
	if s := cfg.Simulate; s != nil && env.Sims != nil && !s.Quiet {
		p, err := newPeople(s, env)
		if err != nil {
			drv.release()
			return nil, err
		}
		for i, d := range drv.doors {
			p.doors = append(p.doors, simDoor{cfg: d.cfg, io: drv.sims[i]})
		}
		drv.people = p
	}
	return drv, nil
}

// driver runs the doors Open opened.
type driver struct {
	env     device.Env
	doors   []*doorDevice
	readers []*wiegandReader
	devs    []device.Device
	sims    []*doorio.SimDoor // in a simulated site, one per door, in order
	people  *people           // nil unless simulated people use the doors
}

// Devices returns the doors and their Wiegand readers.
func (d *driver) Devices() []device.Device { return d.devs }

// Run runs every door and reader (and the simulated people) until ctx ends, then
// releases the simulated pins.
func (d *driver) Run(ctx context.Context) error {
	if ctx.Err() != nil { // stopped before it started
		d.release()
		return nil
	}
	var wg sync.WaitGroup
	for _, dr := range d.doors {
		wg.Go(func() { dr.run(ctx) })
	}
	for _, r := range d.readers {
		wg.Go(func() { r.run(ctx) })
	}
	if d.people != nil {
		wg.Go(func() { d.people.run(ctx) })
	}
	<-ctx.Done()
	// Closing the simulated pins first stops a simulated reader mid-frame.
	d.release()
	wg.Wait()
	return nil
}

// release closes the simulated pins.
func (d *driver) release() {
	for _, s := range d.sims {
		s.Close()
	}
}

// simWiegand is a simulated Wiegand reader: the door's fake D0/D1 lines.
type simWiegand struct{ d *doorio.SimDoor }

// Swipe sends c's bits on the lines, as the reader would, and returns once sent.
func (s simWiegand) Swipe(c wiegand.Card) { s.d.SendWiegand(c.Raw, c.Bits) }

var _ device.SimReader = simWiegand{}

// readerRef returns the Ref of reader id.
func readerRef(id string) device.Ref { return device.Ref{Class: reader.Class, ID: id} }
