package doorio

import (
	"testing"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"
)

func TestLockPolarity(t *testing.T) {
	tests := []struct {
		mode         LockMode
		lockedEnerg  bool // relay energised while locked
		unlockEnerg  bool
		modeAsString string
	}{
		{FailSafe, true, false, "fail-safe"},
		{FailSecure, false, true, "fail-secure"},
	}
	for _, tc := range tests {
		t.Run(tc.modeAsString, func(t *testing.T) {
			t.Parallel()
			sim, pins := newSim(t)
			d, err := OpenDoor(DoorConfig{Pins: Pins{Lock: pins.Lock}, LockMode: tc.mode})
			if err != nil {
				t.Fatal(err)
			}
			if d.Contact != nil || d.Exit != nil || d.Wiegand != nil {
				t.Fatalf("parts not configured are fitted: %+v", d)
			}
			if !d.Lock.Locked() || sim.LockEnergised() != tc.lockedEnerg {
				t.Fatalf("new lock: Locked %t, energised %t; want locked, energised %t", d.Lock.Locked(), sim.LockEnergised(), tc.lockedEnerg)
			}
			for _, locked := range []bool{false, true, false, false, true} {
				if err := d.Lock.Set(locked); err != nil {
					t.Fatal(err)
				}
				want := tc.unlockEnerg
				if locked {
					want = tc.lockedEnerg
				}
				if d.Lock.Locked() != locked || sim.LockEnergised() != want || d.Lock.Energised() != want {
					t.Fatalf("Set(%t): Locked %t, sim energised %t, Energised %t; want energised %t",
						locked, d.Lock.Locked(), sim.LockEnergised(), d.Lock.Energised(), want)
				}
			}
			if d.Lock.Mode() != tc.mode || tc.mode.String() != tc.modeAsString {
				t.Errorf("Mode %v, String %q", d.Lock.Mode(), tc.mode.String())
			}
		})
	}
}

func TestRelayActiveLow(t *testing.T) {
	p := &gpiotest.Pin{N: "relay-active-low"}
	l, err := NewRelayLock(p, FailSafe, true)
	if err != nil {
		t.Fatal(err)
	}
	if p.Read() != gpio.Low {
		t.Fatalf("fail-safe locked on an active-low relay: pin %s, want Low (energised)", p.Read())
	}
	if err := l.Set(false); err != nil {
		t.Fatal(err)
	}
	if p.Read() != gpio.High {
		t.Fatalf("unlocked: pin %s, want High", p.Read())
	}
}

func TestNewLockErrors(t *testing.T) {
	if _, err := NewLock(nil, FailSafe); err == nil {
		t.Error("nil pin accepted")
	}
	if _, err := NewLock(&gpiotest.Pin{N: "bad-mode"}, LockMode(7)); err == nil {
		t.Error("invalid mode accepted")
	}
}

func TestParseLockMode(t *testing.T) {
	tests := []struct {
		in      string
		want    LockMode
		wantErr bool
	}{
		{"fail-safe", FailSafe, false},
		{"fail-secure", FailSecure, false},
		{" Fail-Secure ", FailSecure, false},
		{"failsafe", FailSafe, false},
		{"fail_secure", FailSecure, false},
		{"", 0, true},
		{"secure", 0, true},
		{"fail-open", 0, true},
	}
	for _, tc := range tests {
		got, err := ParseLockMode(tc.in)
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("ParseLockMode(%q) = %v, %v; want %v, error %t", tc.in, got, err, tc.want, tc.wantErr)
		}
	}
	for _, m := range []LockMode{FailSafe, FailSecure} {
		b, err := m.MarshalText()
		if err != nil {
			t.Fatal(err)
		}
		var back LockMode
		if err := back.UnmarshalText(b); err != nil || back != m {
			t.Errorf("round trip of %v: %v, %v", m, back, err)
		}
	}
	if _, err := LockMode(9).MarshalText(); err == nil {
		t.Error("invalid mode marshalled")
	}
}
