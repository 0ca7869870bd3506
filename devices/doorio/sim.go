package doorio

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpioreg"
	"periph.io/x/conn/v3/gpio/gpiotest"
)

// Timing of the simulated hardware.
const (
	// SimPulseWidth is SendWiegand's default pulse width, as a typical
	// reader's (50–100 µs).
	SimPulseWidth = 80 * time.Microsecond
	// SimPulseInterval is SendWiegand's default bit period, as a typical
	// reader's (1–2 ms).
	SimPulseInterval = 2 * time.Millisecond
	// SimFrameSilence is the default quiet SendWiegand keeps before a frame,
	// well over FrameGap, so that frames sent back to back stay apart.
	SimFrameSilence = 4 * FrameGap
	// simChatter is the time between toggles of Bounce.
	simChatter = time.Millisecond
	// simEdgeWait is how long a simulated Wiegand line waits for a reader to
	// take an edge before SendWiegand gives the frame up.
	simEdgeWait = 5 * time.Second
)

// SimDoor is a door on simulated pins, registered in gpioreg so that OpenDoor
// works on it unchanged. It models the usual wiring: the contact is a switch to
// ground that is closed (pin Low) while the door is shut, the exit button a
// switch to ground closed (Low) while pressed, both read with a pull-up; the
// lock relay is energised by High; the reader's D0/D1 lines idle High and pulse
// Low. So with ContactActiveLow the contact input is active while the door is
// shut, and with ExitActiveLow the exit input is active while pressed.
//
// A new SimDoor is shut, its exit button released and its lock relay off.
//
// The pins are periph's fake pins, gpiotest.Pin, driven as periph intends: a
// change of level is written to the pin's level (L) and offered as an edge on its
// EdgesChan, which WaitForEdge takes (setting L to the edge's level, as
// gpiotest does). The lock and the D0/D1 lines are plain *gpiotest.Pin values;
// the contact and the exit button are simSwitch values, which embed
// *gpiotest.Pin and add only what a switch to ground needs.
type SimDoor struct {
	// PulseWidth, PulseInterval and FrameSilence set SendWiegand's timing;
	// zero means SimPulseWidth, SimPulseInterval and SimFrameSilence. Set them
	// before use.
	PulseWidth, PulseInterval, FrameSilence time.Duration

	pins          Pins
	contact, exit *simSwitch
	lock, d0, d1  *gpiotest.Pin
	done          chan struct{}
	closeOnce     sync.Once
	closeErr      error

	sendMu    sync.Mutex // serialises SendWiegand
	lastFrame time.Time
}

// simPinNumbers numbers simulated pins uniquely within the process.
var simPinNumbers atomic.Int64

// simEdgeBuffer is the EdgesChan capacity of the contact and exit pins.
const simEdgeBuffer = 16

// newSimPin returns a gpiotest.Pin named name at level l, with edges offered on
// edges.
func newSimPin(name string, l gpio.Level, edges chan gpio.Level) *gpiotest.Pin {
	p := &gpiotest.Pin{
		N:         name,
		Num:       int(simPinNumbers.Add(1)),
		Fn:        string(gpio.IN),
		L:         l,
		EdgesChan: edges,
	}
	// gpiotest.Pin.WaitForEdge sets a nil Clock to the real clock on its first
	// call, without locking. Make that first call here, before the pin is
	// shared, so that readers in different goroutines (successive Runs, say)
	// never race on it. The channel is new and empty, so this only sets Clock.
	p.WaitForEdge(0)
	return p
}

// NewSimDoor registers the simulated pins prefix+"-contact", prefix+"-exit",
// prefix+"-lock", prefix+"-d0" and prefix+"-d1" in gpioreg and returns the Pins
// naming them. It fails if any of these names is already registered; Close
// unregisters them, so tests can use distinct prefixes in parallel.
func NewSimDoor(prefix string) (*SimDoor, Pins, error) {
	if prefix == "" {
		return nil, Pins{}, errors.New("doorio: sim door: empty prefix")
	}
	pins := Pins{
		Contact: prefix + "-contact",
		Exit:    prefix + "-exit",
		Lock:    prefix + "-lock",
		D0:      prefix + "-d0",
		D1:      prefix + "-d1",
	}
	s := &SimDoor{pins: pins, done: make(chan struct{})}
	s.contact = newSimSwitch(pins.Contact, true) // shut
	s.exit = newSimSwitch(pins.Exit, false)      // released
	s.lock = newSimPin(pins.Lock, gpio.Low, nil) // relay off
	// The Wiegand lines are unbuffered: SendWiegand hands each pulse's edge to
	// a WaitForEdge call, so that none is lost or reordered.
	s.d0 = newSimPin(pins.D0, gpio.High, make(chan gpio.Level))
	s.d1 = newSimPin(pins.D1, gpio.High, make(chan gpio.Level))

	all := []gpio.PinIO{s.contact, s.exit, s.lock, s.d0, s.d1}
	for _, p := range all {
		if gpioreg.ByName(p.Name()) != nil {
			return nil, Pins{}, fmt.Errorf("doorio: sim door %q: pin %q already registered", prefix, p.Name())
		}
	}
	for i, p := range all {
		if err := gpioreg.Register(p); err != nil {
			for _, q := range all[:i] {
				_ = gpioreg.Unregister(q.Name())
			}
			return nil, Pins{}, fmt.Errorf("doorio: sim door %q: %w", prefix, err)
		}
	}
	return s, pins, nil
}

// Pins returns the names of the door's pins.
func (s *SimDoor) Pins() Pins { return s.pins }

// Open opens the door: the contact switch opens and its pin goes High.
func (s *SimDoor) Open() { s.contact.set(false) }

// Shut shuts the door: the contact switch closes and its pin goes Low. (Close is
// taken by io.Closer.)
func (s *SimDoor) Shut() { s.contact.set(true) }

// IsOpen reports whether the simulated door is open.
func (s *SimDoor) IsOpen() bool { return !s.contact.isClosed() }

// PressExit presses the exit button: its pin goes Low.
func (s *SimDoor) PressExit() { s.exit.set(true) }

// ReleaseExit releases the exit button: its pin goes back High.
func (s *SimDoor) ReleaseExit() { s.exit.set(false) }

// Bounce makes the contact chatter: it toggles n times, a millisecond apart, far
// quicker than any debounce. An odd n leaves the door in the other state (Bounce
// then models a door opening or shutting with a bouncing contact), an even n in
// the state it was.
func (s *SimDoor) Bounce(n int) {
	for i := range n {
		if i > 0 && !s.sleep(simChatter) {
			return
		}
		s.contact.toggle()
	}
}

// LockEnergised reports whether the lock pin is driven High.
func (s *SimDoor) LockEnergised() bool { return s.lock.Read() == gpio.High }

// SendWiegand sends the first nbits bits of raw (most significant first, as
// wiegand.Encode26 packs them; at most len(raw)*8) as a reader does: a pulse
// of PulseWidth on D0 for a 0 or D1 for a 1, one every PulseInterval. It first
// waits until the lines have been quiet for FrameSilence, so calls back to back
// send separate frames. It returns once the frame is sent. Each pulse's falling
// edge is handed to a pin's WaitForEdge in order, so a reader sees the bits in
// order even on a loaded machine; with no one waiting on the lines for 5 s, or
// once the door is closed, the rest of the frame is dropped. Calls are
// serialised.
func (s *SimDoor) SendWiegand(raw []byte, nbits int) {
	s.sendMu.Lock()
	defer s.sendMu.Unlock()
	width := cmp0(s.PulseWidth, SimPulseWidth)
	period := max(cmp0(s.PulseInterval, SimPulseInterval), width)
	if !s.sleep(cmp0(s.FrameSilence, SimFrameSilence) - time.Since(s.lastFrame)) {
		return
	}
	defer func() { s.lastFrame = time.Now() }()
	nbits = min(nbits, len(raw)*8)
	for i := range max(nbits, 0) {
		p := s.d0
		if raw[i/8]>>(7-uint(i%8))&1 == 1 {
			p = s.d1
		}
		start := time.Now()
		if !s.pulse(p, width) {
			return
		}
		if !s.sleep(period - time.Since(start)) {
			return
		}
	}
}

// pulse pulls a Wiegand line Low for width: it hands the falling edge to a
// WaitForEdge call on the line, then lets the line back up. (Readers configure
// only falling edges, and gpiotest.Pin does not filter edges by kind, so the
// rising edge is not offered.) It returns false if the edge was not taken
// within simEdgeWait, or the door was closed.
func (s *SimDoor) pulse(p *gpiotest.Pin, width time.Duration) bool {
	setLevel(p, gpio.Low)
	defer setLevel(p, gpio.High)
	t := time.NewTimer(simEdgeWait)
	defer t.Stop()
	select {
	case p.EdgesChan <- gpio.Low:
	case <-s.done:
		return false
	case <-t.C:
		return false
	}
	return s.sleep(width)
}

// Close unregisters the door's pins and stops any SendWiegand. It is safe to call
// more than once.
func (s *SimDoor) Close() error {
	s.closeOnce.Do(func() {
		close(s.done)
		var errs []error
		for _, name := range []string{s.pins.Contact, s.pins.Exit, s.pins.Lock, s.pins.D0, s.pins.D1} {
			if err := gpioreg.Unregister(name); err != nil {
				errs = append(errs, err)
			}
		}
		if err := errors.Join(errs...); err != nil {
			s.closeErr = fmt.Errorf("doorio: sim door close: %w", err)
		}
	})
	return s.closeErr
}

// sleep waits d, or less if the door is closed meanwhile (then it returns false).
func (s *SimDoor) sleep(d time.Duration) bool {
	if d <= 0 {
		select {
		case <-s.done:
			return false
		default:
			return true
		}
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-s.done:
		return false
	}
}

func cmp0(v, def time.Duration) time.Duration {
	if v <= 0 {
		return def
	}
	return v
}

// setLevel sets p's level, as the hardware outside the pin drives it.
func setLevel(p *gpiotest.Pin, l gpio.Level) {
	p.Lock()
	defer p.Unlock()
	p.L = l
}

// simSwitch is a gpiotest.Pin wired to a switch to ground, as a door contact or
// an exit button is: while the switch is closed the line reads Low whatever its
// pull; while it is open the line reads as pulled (High unless pulled down).
//
// It embeds *gpiotest.Pin and overrides only In, because gpiotest.Pin.In sets
// the level from the pull alone (High for a pull-up), which would lift a line
// that the closed switch holds to ground: a door shut when OpenDoor configures
// its contact would then read as open. Read, WaitForEdge, Out and the rest are
// gpiotest's own; set changes the level and offers the edge on EdgesChan.
type simSwitch struct {
	*gpiotest.Pin

	mu     sync.Mutex // serialises set and In, so levels and edges stay in order
	closed bool
}

func newSimSwitch(name string, closed bool) *simSwitch {
	l := gpio.High
	if closed {
		l = gpio.Low
	}
	return &simSwitch{Pin: newSimPin(name, l, make(chan gpio.Level, simEdgeBuffer)), closed: closed}
}

// levelLocked is the level the line settles at with the switch closed or open.
// The caller holds the pin's lock.
func (s *simSwitch) levelLocked(closed bool) gpio.Level {
	if closed || s.P == gpio.PullDown {
		return gpio.Low
	}
	return gpio.High
}

// In implements gpio.PinIn: gpiotest.Pin.In (which sets the pull, drops
// pending edges and sets the level the pull gives), then the closed switch
// holds the line Low.
func (s *simSwitch) In(pull gpio.Pull, edge gpio.Edge) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.Pin.In(pull, edge); err != nil {
		return err
	}
	if s.closed {
		setLevel(s.Pin, gpio.Low)
	}
	return nil
}

func (s *simSwitch) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// set closes or opens the switch. If that changes the line's level, it sets the
// level and offers the edge on EdgesChan. An edge that finds EdgesChan full
// displaces the oldest one there: WaitForEdge sets the level to the edge it
// takes, so the newest edge must be the last one taken.
func (s *simSwitch) set(closed bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.setLocked(closed)
}

// toggle flips the switch.
func (s *simSwitch) toggle() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.setLocked(!s.closed)
}

func (s *simSwitch) setLocked(closed bool) {
	s.Pin.Lock()
	old, l := s.levelLocked(s.closed), s.levelLocked(closed)
	s.closed = closed
	s.L = l
	s.Pin.Unlock()
	if l == old {
		return
	}
	for {
		select {
		case s.EdgesChan <- l:
			return
		default:
		}
		select {
		case <-s.EdgesChan:
		default:
		}
	}
}
