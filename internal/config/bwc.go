package config

import (
	"fmt"
	"time"
)

// BWCDock is a body-worn camera dock on the site bus (class bwc-dock): an
// MQTT-native device whose adapter publishes as device:bwc-dock:{id} with its own
// certificate (formats/sitebus, bwc.go). The agent hears only the docks listed
// here, and of each only the slots it has.
type BWCDock struct {
	// ID names the dock on the site bus and in its certificate.
	ID string `yaml:"id"`
	// Slots is how many cameras it holds, 1 to 64 (sitebus.MaxDockSlots).
	Slots int `yaml:"slots"`
	// Name says where it is, for people ("staff office").
	Name string `yaml:"name,omitempty"`
	// Reader says the dock has a card reader of its own and what it is, for people
	// ("HID iCLASS, front panel"): the agent takes a dock's badge events (a staff
	// card shown to issue a camera) only from a dock with a reader configured;
	// without one, cameras are issued from the console only.
	Reader string `yaml:"reader,omitempty"`
}

// BWC configures the body-worn camera register. Zero fields take the defaults.
type BWC struct {
	// MinBatteryPct is the battery under which a camera is not issued (default 80:
	// enough for a 12-hour shift with a margin, by vendors' quoted runtimes of 12
	// hours or more from full).
	MinBatteryPct int `yaml:"minBatteryPct,omitempty"`
	// Shift is how long a camera may be out before it is overdue (default 12h, the
	// long day or night shift of an AP's rota).
	Shift time.Duration `yaml:"shift,omitempty"`
}

// Defaults of the BWC section.
const (
	DefaultMinBatteryPct = 80
	DefaultShift         = 12 * time.Hour
	maxDockSlots         = 64 // sitebus.MaxDockSlots
)

// Dock returns the configured dock id, or nil if there is none: the agent trusts
// only the messages of configured docks.
func (a *Agent) Dock(id string) *BWCDock {
	for i := range a.BWCDocks {
		if a.BWCDocks[i].ID == id {
			return &a.BWCDocks[i]
		}
	}
	return nil
}

// checkBWC sets the BWC defaults and checks the docks and the register's figures.
func (a *Agent) checkBWC(c *checker) {
	b := &a.BWC
	if b.MinBatteryPct == 0 {
		b.MinBatteryPct = DefaultMinBatteryPct
	}
	if b.Shift == 0 {
		b.Shift = DefaultShift
	}
	if b.MinBatteryPct < 1 || b.MinBatteryPct > 100 {
		c.add("bwc.minBatteryPct", fmt.Sprint(b.MinBatteryPct), "use 1 to 100; 80 is usual")
	}
	if b.Shift < time.Hour || b.Shift > 24*time.Hour {
		c.add("bwc.shift", b.Shift.String(), "use 1h to 24h; 12h is usual")
	}
	ids := map[string]string{}
	for i := range a.BWCDocks {
		d := &a.BWCDocks[i]
		f := fmt.Sprintf("bwcDocks[%d]", i)
		checkDeviceID(c, ids, f+".id", d.ID, "dock")
		if d.Slots < 1 || d.Slots > maxDockSlots {
			c.add(f+".slots", fmt.Sprint(d.Slots), fmt.Sprintf("give how many cameras it holds, 1 to %d", maxDockSlots))
		}
		if len(d.Name) > 64 {
			c.add(f+".name", "longer than 64 characters", "say where it is in a few words")
		}
		if len(d.Reader) > 64 {
			c.add(f+".reader", "longer than 64 characters", "say what the reader is in a few words, e.g. HID iCLASS")
		}
	}
}
