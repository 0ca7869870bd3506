package doorio

import (
	"errors"
	"fmt"
	"strings"
	"sync"

	"periph.io/x/conn/v3/gpio"
)

// LockMode says how a lock's relay maps to locked and unlocked.
type LockMode int

const (
	// FailSafe locks are locked while the relay is energised, so a power loss
	// unlocks them (magnetic locks, fire escape doors).
	FailSafe LockMode = iota
	// FailSecure locks are unlocked while the relay is energised, so a power loss
	// leaves them locked (electric strikes on secure doors).
	FailSecure
)

// String returns "fail-safe" or "fail-secure".
func (m LockMode) String() string {
	switch m {
	case FailSafe:
		return "fail-safe"
	case FailSecure:
		return "fail-secure"
	}
	return fmt.Sprintf("LockMode(%d)", int(m))
}

// ParseLockMode parses "fail-safe" or "fail-secure" (case and surrounding space
// ignored; "failsafe", "fail_safe" and the like are accepted too).
func ParseLockMode(s string) (LockMode, error) {
	norm := strings.NewReplacer("-", "", "_", "", " ", "").Replace(strings.ToLower(strings.TrimSpace(s)))
	switch norm {
	case "failsafe":
		return FailSafe, nil
	case "failsecure":
		return FailSecure, nil
	}
	return 0, fmt.Errorf("doorio: lock mode %q: want %q or %q", s, "fail-safe", "fail-secure")
}

// MarshalText implements encoding.TextMarshaler.
func (m LockMode) MarshalText() ([]byte, error) {
	if m != FailSafe && m != FailSecure {
		return nil, fmt.Errorf("doorio: invalid lock mode %d", int(m))
	}
	return []byte(m.String()), nil
}

// UnmarshalText implements encoding.TextUnmarshaler with ParseLockMode.
func (m *LockMode) UnmarshalText(b []byte) error {
	v, err := ParseLockMode(string(b))
	if err != nil {
		return err
	}
	*m = v
	return nil
}

// Lock drives a lock relay on an output pin.
type Lock struct {
	pin       gpio.PinOut
	mode      LockMode
	activeLow bool

	mu     sync.Mutex
	locked bool
}

// NewLock drives a relay on pin (High energises it) for a lock of the given mode,
// and starts locked.
func NewLock(pin gpio.PinOut, mode LockMode) (*Lock, error) {
	return NewRelayLock(pin, mode, false)
}

// NewRelayLock is NewLock for a relay board whose input may be active low
// (activeLow: Low energises the relay), as many opto-isolated boards are.
func NewRelayLock(pin gpio.PinOut, mode LockMode, activeLow bool) (*Lock, error) {
	l, err := newLock(pin, mode, activeLow)
	if err != nil {
		return nil, fmt.Errorf("doorio: lock %s: %w", pinName(pin), err)
	}
	return l, nil
}

func newLock(pin gpio.PinOut, mode LockMode, activeLow bool) (*Lock, error) {
	if pin == nil {
		return nil, errors.New("nil pin")
	}
	if mode != FailSafe && mode != FailSecure {
		return nil, fmt.Errorf("invalid lock mode %d", int(mode))
	}
	l := &Lock{pin: pin, mode: mode, activeLow: activeLow}
	if err := l.set(true); err != nil {
		return nil, err
	}
	return l, nil
}

// Set locks (true) or unlocks (false) the door by driving the relay.
func (l *Lock) Set(locked bool) error {
	if err := l.set(locked); err != nil {
		return fmt.Errorf("doorio: lock %s: %w", pinName(l.pin), err)
	}
	return nil
}

func (l *Lock) set(locked bool) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	energise := locked == (l.mode == FailSafe)
	level := gpio.Level(energise != l.activeLow)
	if err := l.pin.Out(level); err != nil {
		return fmt.Errorf("set %s (relay energised %t): %w", level, energise, err)
	}
	l.locked = locked
	return nil
}

// Locked reports the state last set successfully.
func (l *Lock) Locked() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.locked
}

// Energised reports whether the relay is driven on.
func (l *Lock) Energised() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.locked == (l.mode == FailSafe)
}

// Mode returns the lock's mode.
func (l *Lock) Mode() LockMode { return l.mode }
