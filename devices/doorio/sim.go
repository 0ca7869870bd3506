package doorio

import (
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpioreg"
	"periph.io/x/conn/v3/physic"
	"periph.io/x/conn/v3/pin"
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
// The pins are modelled on periph's gpiotest.Pin (a level, a pull, an edge
// channel), with switch semantics added: configuring a pull-up does not lift a
// line that the switch holds to ground. periph's gpiotest itself is not used
// because it needs a module (github.com/jonboulle/clockwork) that this module
// does not require.
type SimDoor struct {
	// PulseWidth, PulseInterval and FrameSilence set SendWiegand's timing;
	// zero means SimPulseWidth, SimPulseInterval and SimFrameSilence. Set them
	// before use.
	PulseWidth, PulseInterval, FrameSilence time.Duration

	pins                        Pins
	contact, exit, lock, d0, d1 *simPin
	done                        chan struct{}
	closeOnce                   sync.Once
	closeErr                    error

	sendMu    sync.Mutex // serialises SendWiegand
	lastFrame time.Time
}

// simPinNumbers numbers simulated pins uniquely within the process.
var simPinNumbers atomic.Int64

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
	s.contact = newSimPin(pins.Contact, 16, s.done)
	s.exit = newSimPin(pins.Exit, 16, s.done)
	s.lock = newSimPin(pins.Lock, 16, s.done)
	s.d0 = newSimPin(pins.D0, 0, s.done)
	s.d1 = newSimPin(pins.D1, 0, s.done)
	s.contact.grounded = true // shut

	all := s.all()
	for _, p := range all {
		if gpioreg.ByName(p.name) != nil {
			return nil, Pins{}, fmt.Errorf("doorio: sim door %q: pin %q already registered", prefix, p.name)
		}
	}
	for i, p := range all {
		if err := gpioreg.Register(p); err != nil {
			for _, q := range all[:i] {
				_ = gpioreg.Unregister(q.name)
			}
			return nil, Pins{}, fmt.Errorf("doorio: sim door %q: %w", prefix, err)
		}
	}
	return s, pins, nil
}

func (s *SimDoor) all() []*simPin { return []*simPin{s.contact, s.exit, s.lock, s.d0, s.d1} }

// Pins returns the names of the door's pins.
func (s *SimDoor) Pins() Pins { return s.pins }

// Open opens the door: the contact switch opens and its pin goes High.
func (s *SimDoor) Open() { s.contact.drive(false) }

// Shut shuts the door: the contact switch closes and its pin goes Low. (Close is
// taken by io.Closer.)
func (s *SimDoor) Shut() { s.contact.drive(true) }

// IsOpen reports whether the simulated door is open.
func (s *SimDoor) IsOpen() bool { return !s.contact.isGrounded() }

// PressExit presses the exit button: its pin goes Low.
func (s *SimDoor) PressExit() { s.exit.drive(true) }

// ReleaseExit releases the exit button: its pin goes back High.
func (s *SimDoor) ReleaseExit() { s.exit.drive(false) }

// Bounce makes the contact chatter: it toggles n times, a millisecond apart, far
// quicker than any debounce. An odd n leaves the door in the other state (Bounce
// then models a door opening or shutting with a bouncing contact), an even n in
// the state it was.
func (s *SimDoor) Bounce(n int) {
	for i := range n {
		if i > 0 && !s.sleep(simChatter) {
			return
		}
		s.contact.drive(!s.contact.isGrounded())
	}
}

// LockEnergised reports whether the lock pin is an output driven High.
func (s *SimDoor) LockEnergised() bool {
	s.lock.mu.Lock()
	defer s.lock.mu.Unlock()
	return s.lock.out && s.lock.level == gpio.High
}

// SendWiegand sends the first nbits bits of raw (most significant first, as
// wiegand.Encode26 packs them; at most len(raw)*8) as a reader does: a pulse
// of PulseWidth on D0 for a 0 or D1 for a 1, one every PulseInterval. It first
// waits until the lines have been quiet for FrameSilence, so calls back to back
// send separate frames. It returns once the frame is sent. Each edge is handed
// to a pin's WaitForEdge in order, so a reader sees the bits in order even on a
// loaded machine; with no one waiting on the lines for 5 s, or once the door is
// closed, the rest of the frame is dropped. Calls are serialised.
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
		if !p.drive(true) {
			p.release()
			return
		}
		if !s.sleep(width) || !p.drive(false) {
			p.release()
			return
		}
		if !s.sleep(period - time.Since(start)) {
			return
		}
	}
}

// Close unregisters the door's pins and stops any SendWiegand. It is safe to call
// more than once.
func (s *SimDoor) Close() error {
	s.closeOnce.Do(func() {
		close(s.done)
		var errs []error
		for _, p := range s.all() {
			if err := gpioreg.Unregister(p.name); err != nil {
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

// simPin is a simulated GPIO line implementing gpio.PinIO. Outside it, a switch
// (or a reader's open-collector output) may hold it to ground; otherwise it
// reads as its pull makes it (High unless pulled down). Each change of level is
// offered as an edge: on a buffered line (an input read by level) an edge that
// finds the buffer full is dropped, as edges coalesce in a kernel, since one is
// already pending; on an unbuffered line (a Wiegand line, read by edges alone)
// the edge is handed to a WaitForEdge call directly.
type simPin struct {
	name    string
	num     int
	edges   chan gpio.Level
	handoff bool
	done    <-chan struct{}

	mu       sync.Mutex
	pull     gpio.Pull
	edge     gpio.Edge
	out      bool
	grounded bool
	level    gpio.Level
}

func newSimPin(name string, buffer int, done <-chan struct{}) *simPin {
	return &simPin{
		name:    name,
		num:     int(simPinNumbers.Add(1)),
		edges:   make(chan gpio.Level, buffer),
		handoff: buffer == 0,
		done:    done,
		level:   gpio.High,
	}
}

// levelLocked is the level the line settles at as an input.
func (p *simPin) levelLocked() gpio.Level {
	if p.grounded || p.pull == gpio.PullDown {
		return gpio.Low
	}
	return gpio.High
}

func (p *simPin) isGrounded() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.grounded
}

// drive closes (grounded) or opens the external switch and offers the edge, if
// the level changed. It returns false if a synchronous edge was not taken.
func (p *simPin) drive(grounded bool) bool {
	p.mu.Lock()
	p.grounded = grounded
	if p.out {
		p.mu.Unlock()
		return true
	}
	old := p.level
	p.level = p.levelLocked()
	l := p.level
	p.mu.Unlock()
	if l == old {
		return true
	}
	if !p.handoff {
		select {
		case p.edges <- l:
		default:
		}
		return true
	}
	t := time.NewTimer(simEdgeWait)
	defer t.Stop()
	select {
	case p.edges <- l:
		return true
	case <-p.done:
	case <-t.C:
	}
	return false
}

// release opens the external switch without offering an edge.
func (p *simPin) release() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.grounded = false
	if !p.out {
		p.level = p.levelLocked()
	}
}

// String implements conn.Resource.
func (p *simPin) String() string { return p.name + "(" + strconv.Itoa(p.num) + ")" }

// Halt implements conn.Resource.
func (p *simPin) Halt() error { return nil }

// Name implements pin.Pin.
func (p *simPin) Name() string { return p.name }

// Number implements pin.Pin.
func (p *simPin) Number() int { return p.num }

// Function implements pin.Pin.
func (p *simPin) Function() string { return string(p.Func()) }

// Func returns the pin's function, gpio.IN or gpio.OUT.
func (p *simPin) Func() pin.Func {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.out {
		return gpio.OUT
	}
	return gpio.IN
}

// In implements gpio.PinIn. It drops pending edges.
func (p *simPin) In(pull gpio.Pull, edge gpio.Edge) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.out = false
	if pull != gpio.PullNoChange {
		p.pull = pull
	}
	p.edge = edge
	p.level = p.levelLocked()
	for {
		select {
		case <-p.edges:
		default:
			return nil
		}
	}
}

// Read implements gpio.PinIn.
func (p *simPin) Read() gpio.Level {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.level
}

// WaitForEdge implements gpio.PinIn: it waits for an edge of the kind set by In;
// a negative timeout waits for ever.
func (p *simPin) WaitForEdge(timeout time.Duration) bool {
	var expired <-chan time.Time
	if timeout >= 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		expired = t.C
	}
	for {
		select {
		case l := <-p.edges:
			p.mu.Lock()
			e := p.edge
			p.mu.Unlock()
			if e != gpio.RisingEdge && e != gpio.FallingEdge ||
				e == gpio.RisingEdge && l == gpio.High ||
				e == gpio.FallingEdge && l == gpio.Low {
				return true
			}
		case <-expired:
			return false
		}
	}
}

// Pull implements gpio.PinIn.
func (p *simPin) Pull() gpio.Pull {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pull
}

// DefaultPull implements gpio.PinIn.
func (p *simPin) DefaultPull() gpio.Pull { return gpio.Float }

// Out implements gpio.PinOut.
func (p *simPin) Out(l gpio.Level) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.out = true
	p.level = l
	return nil
}

// PWM implements gpio.PinOut; simulated pins have none.
func (p *simPin) PWM(gpio.Duty, physic.Frequency) error {
	return fmt.Errorf("doorio: sim pin %s: PWM not supported", p.name)
}

var _ gpio.PinIO = (*simPin)(nil)
