package doorio

import (
	"fmt"
	"time"

	"github.com/apedge/apedge/internal/clock"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpioreg"
	"periph.io/x/host/v3"
)

// HostInit loads periph's host drivers (gpiochip, sysfs and the boards'
// drivers) so that gpioreg, and so OpenDoor, finds the machine's real pins. Call
// it once at start-up on real hardware, before OpenDoor. Tests and simulated
// sites, whose pins SimDoor registers, do not need it.
func HostInit() error {
	if _, err := host.Init(); err != nil {
		return fmt.Errorf("doorio: periph host init: %w", err)
	}
	return nil
}

// Pins names the pins of one door, as gpioreg.ByName looks them up (for example
// "GPIO17"). An empty name means the part is not fitted. D0 and D1 are fitted
// together or not at all.
type Pins struct {
	Contact, Exit, Lock, D0, D1 string
}

// Door is the hardware of one door. A part that is not fitted is nil.
type Door struct {
	// Contact is the door position switch; Exit the request-to-exit button.
	Contact, Exit *Input
	// Lock is the lock relay.
	Lock *Lock
	// Wiegand is the card reader on D0/D1.
	Wiegand *Wiegand
}

// DoorConfig says how to open a door's hardware.
type DoorConfig struct {
	// Pins names the pins.
	Pins Pins
	// LockMode says whether the lock is fail-safe or fail-secure.
	LockMode LockMode
	// LockActiveLow says the lock relay is energised by Low, not High.
	LockActiveLow bool
	// Debounce applies to the contact and exit inputs; zero means
	// DefaultDebounce.
	Debounce time.Duration
	// ContactActiveLow and ExitActiveLow say those inputs are active when their
	// pin reads Low (a switch to ground).
	ContactActiveLow, ExitActiveLow bool
	// WiegandFrameGap ends a Wiegand frame; zero means FrameGap.
	WiegandFrameGap time.Duration
	// Clock dates the inputs' changes; nil means the system clock.
	Clock clock.Clock
}

// OpenDoor looks up the configured pins with gpioreg.ByName and sets them up: the
// inputs with pull-up and edge detection, the lock relay driven locked. An
// error names the pin and its role, for example
//
//	doorio: pin "GPIO17" (contact): not found
func OpenDoor(cfg DoorConfig) (*Door, error) {
	if cfg.Debounce < 0 {
		return nil, fmt.Errorf("doorio: negative debounce %v", cfg.Debounce)
	}
	if cfg.WiegandFrameGap < 0 {
		return nil, fmt.Errorf("doorio: negative wiegand frame gap %v", cfg.WiegandFrameGap)
	}
	if cfg.LockMode != FailSafe && cfg.LockMode != FailSecure {
		return nil, fmt.Errorf("doorio: invalid lock mode %d", int(cfg.LockMode))
	}
	debounce := cfg.Debounce
	if debounce == 0 {
		debounce = DefaultDebounce
	}
	p := cfg.Pins
	if (p.D0 == "") != (p.D1 == "") {
		return nil, fmt.Errorf("doorio: wiegand needs both D0 and D1 pins, got D0 %q and D1 %q", p.D0, p.D1)
	}
	roles := []struct{ role, name string }{
		{"contact", p.Contact}, {"exit", p.Exit}, {"lock", p.Lock}, {"D0", p.D0}, {"D1", p.D1},
	}
	seen := map[string]string{}
	pins := map[string]gpio.PinIO{}
	for _, r := range roles {
		if r.name == "" {
			continue
		}
		if other, ok := seen[r.name]; ok {
			return nil, fmt.Errorf("doorio: pin %q (%s): already used as %s", r.name, r.role, other)
		}
		seen[r.name] = r.role
		pin := gpioreg.ByName(r.name)
		if pin == nil {
			return nil, fmt.Errorf("doorio: pin %q (%s): not found", r.name, r.role)
		}
		pins[r.role] = pin
	}

	d := &Door{}
	var err error
	if pin := pins["contact"]; pin != nil {
		if d.Contact, err = newInput(pin, cfg.ContactActiveLow, debounce, cfg.Clock); err != nil {
			return nil, fmt.Errorf("doorio: pin %q (contact): %w", p.Contact, err)
		}
	}
	if pin := pins["exit"]; pin != nil {
		if d.Exit, err = newInput(pin, cfg.ExitActiveLow, debounce, cfg.Clock); err != nil {
			return nil, fmt.Errorf("doorio: pin %q (exit): %w", p.Exit, err)
		}
	}
	if pin := pins["lock"]; pin != nil {
		if d.Lock, err = newLock(pin, cfg.LockMode, cfg.LockActiveLow); err != nil {
			return nil, fmt.Errorf("doorio: pin %q (lock): %w", p.Lock, err)
		}
	}
	if d0, d1 := pins["D0"], pins["D1"]; d0 != nil {
		if d.Wiegand, err = newWiegand(d0, d1); err != nil {
			return nil, fmt.Errorf("doorio: pins %q/%q (wiegand D0/D1): %w", p.D0, p.D1, err)
		}
		d.Wiegand.Gap = cfg.WiegandFrameGap
	}
	return d, nil
}
