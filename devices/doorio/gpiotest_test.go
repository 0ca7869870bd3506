package doorio

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/apedge/apedge/devices/wiegand"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpioreg"
	"periph.io/x/conn/v3/gpio/gpiotest"
)

// TestOpenDoorOnGPIOTestPins opens a door on plain gpiotest.Pin values
// registered in gpioreg directly, with no SimDoor, and drives them as periph
// intends: an edge is a level sent on the pin's EdgesChan (WaitForEdge takes it
// and sets the pin's level to it), and the lock relay is read back from the
// level Out set.
func TestOpenDoorOnGPIOTestPins(t *testing.T) {
	t.Parallel()
	prefix := fmt.Sprintf("gpiotest-door-%d", prefixes.Add(1))
	register := func(role string, edges chan gpio.Level) *gpiotest.Pin {
		t.Helper()
		p := &gpiotest.Pin{N: prefix + "-" + role, Num: int(prefixes.Add(1)), EdgesChan: edges}
		if err := gpioreg.Register(p); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := gpioreg.Unregister(p.N); err != nil {
				t.Error(err)
			}
		})
		return p
	}
	contact := register("contact", make(chan gpio.Level, 8))
	exit := register("exit", make(chan gpio.Level, 8))
	lock := register("lock", nil)
	// Unbuffered, so that each bit is handed to the reader before the next.
	d0 := register("d0", make(chan gpio.Level))
	d1 := register("d1", make(chan gpio.Level))

	d, err := OpenDoor(DoorConfig{
		Pins:             Pins{Contact: contact.N, Exit: exit.N, Lock: lock.N, D0: d0.N, D1: d1.N},
		LockMode:         FailSecure,
		Debounce:         testDebounce,
		ContactActiveLow: true,
		ExitActiveLow:    true,
		WiegandFrameGap:  testFrameGap,
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []*gpiotest.Pin{contact, exit, d0, d1} {
		p.Lock()
		pull := p.P
		p.Unlock()
		if pull != gpio.PullUp || p.Read() != gpio.High {
			t.Errorf("%s after OpenDoor: pull %s, level %s; want PullUp, High", p, pull, p.Read())
		}
	}

	// Lock: fail-secure, so locked is the relay off (Low).
	if !d.Lock.Locked() || lock.Read() != gpio.Low {
		t.Fatalf("new fail-secure lock: Locked %t, pin %s; want locked, Low", d.Lock.Locked(), lock.Read())
	}
	if err := d.Lock.Set(false); err != nil {
		t.Fatal(err)
	}
	if d.Lock.Locked() || lock.Read() != gpio.High {
		t.Fatalf("unlocked: Locked %t, pin %s; want High", d.Lock.Locked(), lock.Read())
	}
	if err := d.Lock.Set(true); err != nil {
		t.Fatal(err)
	}
	if lock.Read() != gpio.Low {
		t.Fatalf("locked again: pin %s, want Low", lock.Read())
	}

	// Contact: the pull-up reads High, an open door. A bouncing shut (edges
	// Low, High, Low), queued before Run starts so that Run takes them back to
	// back, is one change; then the door opens.
	if d.Contact.Active() {
		t.Fatal("contact active before any edge")
	}
	for _, l := range []gpio.Level{gpio.Low, gpio.High, gpio.Low} {
		contact.EdgesChan <- l
	}
	contactRec := runInput(t, d.Contact)
	waitFor(t, "the shut door", func() bool { return len(contactRec.get()) >= 2 })
	if got := contactRec.states(); !slices.Equal(got, []bool{false, true}) || !d.Contact.Active() || contact.Read() != gpio.Low {
		t.Fatalf("after a bouncing shut: reported %v, Active %t, pin %s; want [false true], active, Low", got, d.Contact.Active(), contact.Read())
	}
	contact.EdgesChan <- gpio.High
	waitFor(t, "the open door", func() bool { return len(contactRec.get()) >= 3 })
	if got := contactRec.states(); !slices.Equal(got, []bool{false, true, false}) || d.Contact.Active() {
		t.Fatalf("after opening: reported %v, Active %t; want [false true false], inactive", got, d.Contact.Active())
	}

	// Exit button: press (Low) and release (High).
	exitRec := runInput(t, d.Exit)
	exit.EdgesChan <- gpio.Low
	waitFor(t, "the press", func() bool { return len(exitRec.get()) >= 2 })
	exit.EdgesChan <- gpio.High
	waitFor(t, "the release", func() bool { return len(exitRec.get()) >= 3 })
	if got := exitRec.states(); !slices.Equal(got, []bool{false, true, false}) {
		t.Fatalf("exit reported %v, want [false true false]", got)
	}

	// Wiegand: a 26-bit card, one falling edge (Low) per bit on D0 for a 0 or
	// D1 for a 1. The bits are spaced out well over a reader's 1–2 ms, though
	// far under testFrameGap, so that a reader goroutine stalled between taking
	// one edge and timing it is still not overtaken by the other line's next.
	const bitPeriod = 10 * time.Millisecond
	wiegandRec := runWiegand(t, d.Wiegand)
	raw := wiegand.Encode26(42, 4242)
	for i := range 26 {
		p := d0
		if raw[i/8]>>(7-uint(i%8))&1 == 1 {
			p = d1
		}
		if i > 0 {
			<-time.After(bitPeriod) // a reader's bit period, not synchronisation
		}
		select {
		case p.EdgesChan <- gpio.Low:
		case <-time.After(waitDeadline):
			t.Fatalf("bit %d: no reader took the edge on %s in %v", i, p, waitDeadline)
		}
	}
	waitFor(t, "the card", func() bool { return len(wiegandRec.get()) > 0 })
	got := wiegandRec.get()
	if len(got) != 1 || got[0].err != nil {
		t.Fatalf("reads %+v, want one good card", got)
	}
	if c := got[0].card; c.Format != wiegand.Format26 || c.Bits != 26 || c.Facility != 42 || c.Number != 4242 {
		t.Fatalf("card %+v, want 26-bit facility 42 number 4242", c)
	}
	if s := d.Wiegand.Stats(); s != (WiegandStats{Frames: 1}) {
		t.Errorf("Stats() = %+v, want one good frame", s)
	}
}
