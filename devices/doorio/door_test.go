package doorio

import (
	"strings"
	"testing"

	"periph.io/x/conn/v3/gpio/gpioreg"
)

func TestOpenDoorErrors(t *testing.T) {
	t.Parallel()
	_, pins := newSim(t)
	tests := []struct {
		name string
		cfg  DoorConfig
		want string
	}{
		{"missing contact", DoorConfig{Pins: Pins{Contact: "no-such-contact"}},
			`doorio: pin "no-such-contact" (contact): not found`},
		{"missing exit", DoorConfig{Pins: Pins{Contact: pins.Contact, Exit: "no-such-exit"}},
			`doorio: pin "no-such-exit" (exit): not found`},
		{"missing lock", DoorConfig{Pins: Pins{Lock: "no-such-lock"}},
			`doorio: pin "no-such-lock" (lock): not found`},
		{"missing D0", DoorConfig{Pins: Pins{D0: "no-such-d0", D1: pins.D1}},
			`doorio: pin "no-such-d0" (D0): not found`},
		{"missing D1", DoorConfig{Pins: Pins{D0: pins.D0, D1: "no-such-d1"}},
			`doorio: pin "no-such-d1" (D1): not found`},
		{"D0 without D1", DoorConfig{Pins: Pins{D0: pins.D0}},
			`doorio: wiegand needs both D0 and D1 pins, got D0 "` + pins.D0 + `" and D1 ""`},
		{"pin used twice", DoorConfig{Pins: Pins{Contact: pins.Contact, Exit: pins.Contact}},
			`doorio: pin "` + pins.Contact + `" (exit): already used as contact`},
		{"bad lock mode", DoorConfig{Pins: pins, LockMode: 5}, `doorio: invalid lock mode 5`},
		{"negative debounce", DoorConfig{Pins: pins, Debounce: -1}, `doorio: negative debounce -1ns`},
	}
	for _, tc := range tests {
		d, err := OpenDoor(tc.cfg)
		if err == nil || err.Error() != tc.want {
			t.Errorf("%s: OpenDoor = %v, %v; want error %q", tc.name, d, err, tc.want)
		}
	}
}

func TestOpenDoorAllAndNone(t *testing.T) {
	t.Parallel()
	sim, pins := newSim(t)
	d, err := OpenDoor(DoorConfig{Pins: pins, ContactActiveLow: true, ExitActiveLow: true})
	if err != nil {
		t.Fatal(err)
	}
	if d.Contact == nil || d.Exit == nil || d.Lock == nil || d.Wiegand == nil {
		t.Fatalf("a fitted part is nil: %+v", d)
	}
	if !d.Contact.Active() || d.Exit.Active() || !d.Lock.Locked() || !sim.LockEnergised() {
		t.Fatalf("new door: contact %t exit %t locked %t energised %t; want shut, released, locked, energised (fail-safe)",
			d.Contact.Active(), d.Exit.Active(), d.Lock.Locked(), sim.LockEnergised())
	}
	if sim.IsOpen() {
		t.Fatal("new sim door is open")
	}
	none, err := OpenDoor(DoorConfig{})
	if err != nil || none.Contact != nil || none.Exit != nil || none.Lock != nil || none.Wiegand != nil {
		t.Fatalf("door with nothing fitted: %+v, %v", none, err)
	}
}

func TestSimDoorRegistry(t *testing.T) {
	t.Parallel()
	const prefix = "registry-test-door"
	s, pins, err := NewSimDoor(prefix)
	if err != nil {
		t.Fatal(err)
	}
	if pins != s.Pins() || pins.Contact != prefix+"-contact" || pins.D1 != prefix+"-d1" {
		t.Fatalf("pins %+v", pins)
	}
	for _, name := range []string{pins.Contact, pins.Exit, pins.Lock, pins.D0, pins.D1} {
		if gpioreg.ByName(name) == nil {
			t.Errorf("%s not registered", name)
		}
	}
	if _, _, err := NewSimDoor(prefix); err == nil || !strings.Contains(err.Error(), "already registered") {
		t.Fatalf("second sim door with the same prefix: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	for _, name := range []string{pins.Contact, pins.Exit, pins.Lock, pins.D0, pins.D1} {
		if gpioreg.ByName(name) != nil {
			t.Errorf("%s still registered after Close", name)
		}
	}
	if _, err := OpenDoor(DoorConfig{Pins: pins}); err == nil {
		t.Error("OpenDoor found a closed sim door's pins")
	}
	s2, _, err := NewSimDoor(prefix)
	if err != nil {
		t.Fatalf("prefix not reusable after Close: %v", err)
	}
	if err := s2.Close(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := NewSimDoor(""); err == nil {
		t.Error("empty prefix accepted")
	}
}

// TestSimDoorSendWithoutReader checks that SendWiegand gives up, not hangs, once
// the door is closed.
func TestSimDoorSendWithoutReader(t *testing.T) {
	t.Parallel()
	s, _, err := NewSimDoor("no-reader-door")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.SendWiegand([]byte{0xff, 0xff, 0xff, 0xc0}, 26)
	}()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "SendWiegand to give up", func() bool {
		select {
		case <-done:
			return true
		default:
			return false
		}
	})
}
