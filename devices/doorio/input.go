package doorio

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"periph.io/x/conn/v3/gpio"

	"github.com/apedge/apedge/internal/clock"
)

// DefaultDebounce is the debounce OpenDoor uses when DoorConfig.Debounce is zero.
const DefaultDebounce = 20 * time.Millisecond

// idlePoll bounds each WaitForEdge call so that Run notices the end of its context
// and re-reads the level even on a pin whose edges get lost.
const idlePoll = 100 * time.Millisecond

// Input is a debounced digital input, such as a door contact or an exit button.
type Input struct {
	pin       gpio.PinIn
	activeLow bool
	debounce  time.Duration
	clock     clock.Clock // dates the changes Run reports
	active    atomic.Bool
	running   atomic.Bool
}

// NewInput configures pin as an input with pull-up and detection of both edges.
// activeLow says the input is active when the pin reads Low, as for a switch to
// ground with a pull-up. A new level counts only once it has been stable for
// debounce (20ms is typical); zero reports every level seen. The times Run reports are
// read from clk (the system clock if nil); debouncing is timed on the monotonic clock.
func NewInput(pin gpio.PinIn, activeLow bool, debounce time.Duration, clk clock.Clock) (*Input, error) {
	in, err := newInput(pin, activeLow, debounce, clk)
	if err != nil {
		return nil, fmt.Errorf("doorio: input %s: %w", pinName(pin), err)
	}
	return in, nil
}

func newInput(pin gpio.PinIn, activeLow bool, debounce time.Duration, clk clock.Clock) (*Input, error) {
	if pin == nil {
		return nil, errors.New("nil pin")
	}
	if debounce < 0 {
		return nil, fmt.Errorf("negative debounce %v", debounce)
	}
	if err := pin.In(gpio.PullUp, gpio.BothEdges); err != nil {
		return nil, fmt.Errorf("configure pull-up and both edges: %w", err)
	}
	in := &Input{pin: pin, activeLow: activeLow, debounce: debounce, clock: clock.Or(clk)}
	in.active.Store(in.isActive(pin.Read()))
	return in, nil
}

func (in *Input) isActive(l gpio.Level) bool { return l != gpio.Level(in.activeLow) }

// Active reports the last debounced state: the state Run last reported, or before
// Run the level read by NewInput.
func (in *Input) Active() bool { return in.active.Load() }

// Run calls h with each debounced change of the input until ctx ends, then returns
// ctx.Err(). It first reports the state at the start. The time given with a change
// is when the new level was last seen to change, which is when it began to be
// stable. h is called from Run's goroutine, one call at a time. Only one Run may
// be active on an Input at once.
func (in *Input) Run(ctx context.Context, h func(active bool, at time.Time)) error {
	if h == nil {
		return fmt.Errorf("doorio: input %s: nil handler", pinName(in.pin))
	}
	if !in.running.CompareAndSwap(false, true) {
		return fmt.Errorf("doorio: input %s: Run already running", pinName(in.pin))
	}
	defer in.running.Store(false)

	stable := in.pin.Read()
	now := in.clock.Now()
	in.active.Store(in.isActive(stable))
	h(in.isActive(stable), now)
	// candAt dates the candidate level for the report; candSeen times its stability.
	cand, candAt, candSeen := stable, now, time.Now()
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		wait := idlePoll
		if cand != stable {
			left := in.debounce - time.Since(candSeen)
			if left <= 0 {
				stable = cand
				in.active.Store(in.isActive(stable))
				h(in.isActive(stable), candAt)
				continue
			}
			wait = min(wait, left)
		}
		edge := in.pin.WaitForEdge(wait)
		lvl := in.pin.Read()
		// Any edge restarts the stability window, even if the level read is the
		// same: the line moved in between. A level change without an edge (a lost
		// edge) counts too.
		if edge || lvl != cand {
			cand, candAt, candSeen = lvl, in.clock.Now(), time.Now()
		}
	}
}

// pinName names a pin in errors, tolerating nil.
func pinName(p interface{ String() string }) string {
	if p == nil {
		return "<nil>"
	}
	return p.String()
}
