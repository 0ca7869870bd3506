package doorio

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apedge/apedge/devices/wiegand"
	"periph.io/x/conn/v3/gpio"
)

// FrameGap is how long D0 and D1 stay quiet before a Wiegand frame counts as
// complete. Readers send a pulse every 1–2 ms within a frame.
const FrameGap = 25 * time.Millisecond

// WiegandStats counts the frames a Wiegand has assembled.
type WiegandStats struct {
	// Frames counts every completed frame, good or bad.
	Frames uint64
	// BadFrames counts the frames that failed to decode (parity errors, frames
	// longer than wiegand.MaxBits).
	BadFrames uint64
}

// Wiegand collects pulses on a reader's D0 and D1 lines into frames and decodes
// them. Both lines idle High and pulse Low: a pulse on D0 is a 0 bit, on D1 a 1.
type Wiegand struct {
	// Gap is the silence that ends a frame; zero means FrameGap. Set it before Run.
	Gap time.Duration

	d0, d1    gpio.PinIn
	running   atomic.Bool
	frames    atomic.Uint64
	badFrames atomic.Uint64
}

// NewWiegand configures d0 and d1 as inputs with pull-up and falling-edge
// detection.
func NewWiegand(d0, d1 gpio.PinIn) (*Wiegand, error) {
	w, err := newWiegand(d0, d1)
	if err != nil {
		return nil, fmt.Errorf("doorio: wiegand %s/%s: %w", pinName(d0), pinName(d1), err)
	}
	return w, nil
}

func newWiegand(d0, d1 gpio.PinIn) (*Wiegand, error) {
	if d0 == nil || d1 == nil {
		return nil, errors.New("nil pin")
	}
	if d0 == d1 {
		return nil, errors.New("D0 and D1 are the same pin")
	}
	for i, p := range []gpio.PinIn{d0, d1} {
		if err := p.In(gpio.PullUp, gpio.FallingEdge); err != nil {
			return nil, fmt.Errorf("configure D%d pull-up and falling edge: %w", i, err)
		}
	}
	return &Wiegand{d0: d0, d1: d1}, nil
}

// Stats returns the frame counters.
func (w *Wiegand) Stats() WiegandStats {
	return WiegandStats{Frames: w.frames.Load(), BadFrames: w.badFrames.Load()}
}

// pulse is one falling edge seen on D0 (bit 0) or D1 (bit 1).
type pulse struct {
	bit int
	at  time.Time
}

// Run assembles pulses into frames until ctx ends, then returns ctx.Err(). Each
// frame, complete once the lines have been quiet for Gap, is decoded with
// wiegand.Decode and passed to h; a frame that fails to decode (a parity error,
// say) is passed as an error wrapping the decoder's, and counted in Stats. A
// frame still arriving when ctx ends is dropped. h is called from Run's
// goroutine, one call at a time. Only one Run may be active on a Wiegand at once.
func (w *Wiegand) Run(ctx context.Context, h func(wiegand.Card, error)) error {
	if h == nil {
		return errors.New("doorio: wiegand: nil handler")
	}
	if !w.running.CompareAndSwap(false, true) {
		return fmt.Errorf("doorio: wiegand %s/%s: Run already running", pinName(w.d0), pinName(w.d1))
	}
	defer w.running.Store(false)

	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
	}()
	pulses := make(chan pulse, 256)
	for bit, pin := range []gpio.PinIn{w.d0, w.d1} {
		wg.Go(func() { watchPulses(ctx, pin, bit, pulses) })
	}

	asm := WiegandAssembler{Gap: w.Gap}
	emit := func(f WiegandFrame) {
		w.frames.Add(1)
		card, err := f.Decode()
		if err != nil {
			w.badFrames.Add(1)
			err = fmt.Errorf("doorio: wiegand %s/%s: %w", pinName(w.d0), pinName(w.d1), err)
		}
		h(card, err)
	}
	add := func(p pulse) {
		if f, ok := asm.Add(p.bit, p.at); ok {
			emit(f)
		}
	}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		var timeout <-chan time.Time
		if dl, ok := asm.Deadline(); ok {
			timer.Reset(time.Until(dl))
			timeout = timer.C
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case p := <-pulses:
			add(p)
		case <-timeout:
			// Take the pulses already seen first: framing goes by their
			// timestamps, not by when this loop got to run.
			for drained := false; !drained; {
				select {
				case p := <-pulses:
					add(p)
				default:
					drained = true
				}
			}
			if f, ok := asm.Flush(time.Now()); ok {
				emit(f)
			}
		}
	}
}

// watchPulses forwards each falling edge of pin as a pulse of the given bit,
// stamped with the time it was seen, until ctx ends.
func watchPulses(ctx context.Context, pin gpio.PinIn, bit int, out chan<- pulse) {
	for ctx.Err() == nil {
		if !pin.WaitForEdge(idlePoll) {
			continue
		}
		select {
		case out <- pulse{bit: bit, at: time.Now()}:
		case <-ctx.Done():
			return
		}
	}
}

// WiegandFrame is one completed frame of Wiegand bits.
type WiegandFrame struct {
	// Bits is how many bits arrived; Raw holds them most significant first, as
	// wiegand.Decode takes them. A frame longer than wiegand.MaxBits keeps only
	// its first wiegand.MaxBits bits in Raw.
	Bits int
	Raw  []byte
	// Start and End are when the first and last bits arrived.
	Start, End time.Time
}

// Decode decodes the frame with wiegand.Decode.
func (f WiegandFrame) Decode() (wiegand.Card, error) {
	if f.Bits > wiegand.MaxBits {
		return wiegand.Card{}, fmt.Errorf("wiegand frame of %d bits: longer than %d", f.Bits, wiegand.MaxBits)
	}
	c, err := wiegand.Decode(f.Raw, f.Bits)
	if err != nil {
		return c, fmt.Errorf("%d-bit frame: %w", f.Bits, err)
	}
	return c, nil
}

// WiegandAssembler groups timed bits into frames: a frame ends when no bit has
// arrived for Gap. It is fed bits directly, so any pulse source (or a test) can
// use it. The zero value is ready, with Gap FrameGap. It is not safe for
// concurrent use.
type WiegandAssembler struct {
	// Gap is the silence that ends a frame; zero means FrameGap.
	Gap time.Duration

	raw         []byte
	n           int
	start, last time.Time
}

func (a *WiegandAssembler) gap() time.Duration {
	if a.Gap <= 0 {
		return FrameGap
	}
	return a.Gap
}

// Add feeds one bit (0, or 1 for any non-zero value) that arrived at at. If the
// bits before it had already been quiet for Gap, their frame is returned (ok
// true) and this bit begins the next one.
func (a *WiegandAssembler) Add(bit int, at time.Time) (f WiegandFrame, ok bool) {
	if a.n > 0 && at.Sub(a.last) >= a.gap() {
		f, ok = a.take(), true
	}
	if a.n < wiegand.MaxBits {
		if a.n%8 == 0 {
			a.raw = append(a.raw, 0)
		}
		if bit != 0 {
			a.raw[a.n/8] |= 1 << (7 - uint(a.n%8))
		}
	}
	if a.n == 0 {
		a.start = at
	}
	a.n++
	a.last = at
	return f, ok
}

// Flush returns the frame in progress if no bit has arrived for Gap by now.
func (a *WiegandAssembler) Flush(now time.Time) (WiegandFrame, bool) {
	if a.n == 0 || now.Sub(a.last) < a.gap() {
		return WiegandFrame{}, false
	}
	return a.take(), true
}

// Deadline returns when the frame in progress will be complete if no further bit
// arrives; ok is false when no frame is in progress.
func (a *WiegandAssembler) Deadline() (t time.Time, ok bool) {
	if a.n == 0 {
		return time.Time{}, false
	}
	return a.last.Add(a.gap()), true
}

// Pending returns how many bits the frame in progress has.
func (a *WiegandAssembler) Pending() int { return a.n }

// Reset drops the frame in progress.
func (a *WiegandAssembler) Reset() {
	a.raw, a.n = nil, 0
}

func (a *WiegandAssembler) take() WiegandFrame {
	f := WiegandFrame{Bits: a.n, Raw: a.raw, Start: a.start, End: a.last}
	a.raw, a.n = nil, 0
	return f
}
