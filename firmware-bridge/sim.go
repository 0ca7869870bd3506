package bridge

import (
	"github.com/apedge/apedge/devices/device"
	"github.com/apedge/apedge/devices/reader"
	"github.com/apedge/apedge/devices/wiegand"
)

// Sim is a bridge's simulated site, for tests and demonstrations to drive: the
// simulators the device classes made instead of opening hardware (OSDP readers on
// the far end of pseudo-terminals, doors on fake GPIO pins, ...), by device. The
// bridge runs the classes' real drivers against them, byte for byte and pin for pin
// as it would against hardware. Typed accessors for the table's classes are in
// classes.go.
type Sim struct {
	sims *device.Sims
}

// Sim returns the bridge's simulated site, or nil if it has none. It is set once Ready
// is closed.
func (b *Bridge) Sim() *Sim { return b.sim }

// Simulator returns the simulator of device ref, or nil: what its class made, e.g.
// an *osdp.Reader for an OSDP reader.
func (s *Sim) Simulator(ref device.Ref) any { return s.sims.Get(ref) }

// Present shows card c at reader id (of any class that simulates its readers), as a
// person would; false if there is no such simulated reader.
func (s *Sim) Present(id string, c wiegand.Card) bool {
	r, ok := s.sims.Get(device.Ref{Class: reader.Class, ID: id}).(device.SimReader)
	if ok {
		r.Swipe(c)
	}
	return ok
}
