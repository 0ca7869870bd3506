package config

import (
	"fmt"
	"slices"
	"time"
)

// FingerprintTerminal is a fingerprint terminal of the R30x / ZFM-20 / AS608 family
// on a serial line: at a door (Door set: at an Enhanced Security site a card read at
// that door needs the card holder's finger on it too) or at an enrolment desk.
type FingerprintTerminal struct {
	// ID names the terminal on the site bus (class biometric).
	ID string `yaml:"id"`
	// Port is the serial device (e.g. /dev/ttyUSB3), or "simulated".
	Port string `yaml:"port"`
	// Baud is the line speed (default 57600, the modules' own default).
	Baud int `yaml:"baud,omitempty"`
	// Address is the module's 32-bit address (default 0xFFFFFFFF).
	Address uint32 `yaml:"address,omitempty"`
	// PasswordFile holds the module's 32-bit password as 8 hex digits (mode 0600);
	// without it the modules' default password 0 is used.
	PasswordFile string `yaml:"passwordFile,omitempty"`
	// Door is the door it guards, if any.
	Door string `yaml:"door,omitempty"`
	// Name says where it is, for people ("front door", "office: enrolment desk").
	Name string `yaml:"name,omitempty"`
}

// EnhancedSecurity is the site's Enhanced Security setting (AP Policy Framework,
// Annex A): with On, a card read at a door with a fingerprint terminal is granted
// only with a finger of the same person matched on that terminal within Window.
type EnhancedSecurity struct {
	On bool `yaml:"on"`
	// Window is how long after the card the finger may come (default 10s).
	Window time.Duration `yaml:"window,omitempty"`
}

// Default fingerprint settings.
const (
	DefaultFingerprintBaud    = 57600
	DefaultFingerprintAddress = 0xFFFFFFFF
	DefaultFingerWindow       = 10 * time.Second
)

// fingerprintBauds are the speeds the modules take: N x 9600 for N 1..12.
var fingerprintBauds = []int{9600, 19200, 28800, 38400, 48000, 57600, 67200, 76800, 86400, 96000, 105600, 115200}

// checkFingerprint sets the terminals' defaults and checks them, resolving paths
// against dir.
func (b *Bridge) checkFingerprint(c *checker, dir string) {
	ids := map[string]string{}
	doors := map[string]bool{}
	for _, d := range b.Doors {
		doors[d.ID] = true
	}
	guarded := map[string]string{}
	for i := range b.FingerprintTerminals {
		t := &b.FingerprintTerminals[i]
		f := fmt.Sprintf("fingerprintTerminals[%d]", i)
		checkDeviceID(c, ids, f+".id", t.ID, "terminal")
		if t.Baud == 0 {
			t.Baud = DefaultFingerprintBaud
		}
		if t.Address == 0 {
			t.Address = DefaultFingerprintAddress
		}
		if !slices.Contains(fingerprintBauds, t.Baud) {
			c.add(f+".baud", fmt.Sprint(t.Baud), fmt.Sprintf("use one of %v (the module's N x 9600)", fingerprintBauds))
		}
		switch {
		case t.Port == "":
			c.add(f+".port", "missing", "name the serial device, e.g. /dev/ttyUSB3, or simulated")
		case t.Port == SimulatedPort && b.Simulate == nil:
			c.add(f+".port", "simulated, but there is no simulate section", "add simulate: or name a serial device")
		case t.Port != SimulatedPort:
			t.Port = resolve(dir, t.Port)
		}
		if t.PasswordFile != "" {
			t.PasswordFile = resolve(dir, t.PasswordFile)
			checkSecretFile(c, f+".passwordFile", t.PasswordFile)
		}
		if t.Door != "" {
			switch {
			case !doors[t.Door]:
				c.add(f+".door", fmt.Sprintf("%q is not a door of doors:", t.Door), "name one of the doors, or leave door out for an enrolment desk")
			case guarded[t.Door] != "":
				c.add(f+".door", fmt.Sprintf("%q already has terminal %s", t.Door, guarded[t.Door]), "give each door one terminal")
			default:
				guarded[t.Door] = t.ID
			}
		}
	}
	if b.EnhancedSecurity.Window == 0 {
		b.EnhancedSecurity.Window = DefaultFingerWindow
	}
	if w := b.EnhancedSecurity.Window; w < time.Second || w > time.Minute {
		c.add("enhancedSecurity.window", w.String(), "use 1s to 1m, e.g. 10s")
	}
}

// DoorTerminal returns the id of the fingerprint terminal guarding door, if any.
func (b *Bridge) DoorTerminal(door string) (string, bool) {
	for _, t := range b.FingerprintTerminals {
		if t.Door == door {
			return t.ID, true
		}
	}
	return "", false
}

// BiometricPlace is where a fingerprint terminal is, as the agent knows it.
type BiometricPlace struct {
	// Door is the door it guards; empty for an enrolment desk.
	Door string
	// Name says where it is, for people.
	Name string
}

// Biometrics configures the agent's biometrics (agent/biometric): when the console
// offers the alternative to a finger, and when a deletion not yet proven is an
// alarm. Zero fields take the defaults.
type Biometrics struct {
	// MaxAttempts is how many failed enrolment attempts (since the resident's last
	// success) make the agent offer the alternative: card and a member of staff's
	// confirmation at the door (default 3).
	MaxAttempts int `yaml:"maxAttempts,omitempty"`
	// DeletionOverdue is how long a deletion of a resident's templates may wait for
	// a terminal's confirmation before it is an alarm (default 24h).
	DeletionOverdue time.Duration `yaml:"deletionOverdue,omitempty"`
}

// Default biometrics settings.
const (
	DefaultMaxAttempts     = 3
	DefaultDeletionOverdue = 24 * time.Hour
)

func (b *Biometrics) check(c *checker) {
	if b.MaxAttempts == 0 {
		b.MaxAttempts = DefaultMaxAttempts
	}
	if b.DeletionOverdue == 0 {
		b.DeletionOverdue = DefaultDeletionOverdue
	}
	if b.MaxAttempts < 1 || b.MaxAttempts > 100 {
		c.add("biometrics.maxAttempts", fmt.Sprint(b.MaxAttempts), "use 1 to 100; 3 is usual")
	}
	if b.DeletionOverdue < time.Minute || b.DeletionOverdue > 30*24*time.Hour {
		c.add("biometrics.deletionOverdue", b.DeletionOverdue.String(), "use 1m to 720h; 24h is usual")
	}
}
