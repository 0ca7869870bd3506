package config

import (
	"fmt"
	"slices"
)

// PATTester is a portable appliance (PAT) tester whose results download over a
// serial line (RS-232, a USB serial adapter, or a Bluetooth serial port), as the
// record protocol of devices/pattester.
type PATTester struct {
	// ID names the device on the site bus (class pat-tester).
	ID string `yaml:"id"`
	// Port is the serial device (e.g. /dev/ttyUSB3, or /dev/rfcomm0 for a tester
	// paired over Bluetooth), or "simulated" for a simulated tester on a
	// pseudo-terminal.
	Port string `yaml:"port"`
	// Baud is the line speed (default 9600).
	Baud int `yaml:"baud,omitempty"`
	// Name says where it is kept or who uses it, for people ("maintenance office").
	Name string `yaml:"name,omitempty"`
}

// checkPATTesters sets the PAT testers' defaults and checks them, resolving ports
// against dir.
func (b *Bridge) checkPATTesters(c *checker, dir string) {
	ids := map[string]string{}
	for i := range b.PATTesters {
		t := &b.PATTesters[i]
		f := fmt.Sprintf("patTesters[%d]", i)
		checkDeviceID(c, ids, f+".id", t.ID, "PAT tester")
		if t.Baud == 0 {
			t.Baud = 9600
		}
		if !slices.Contains(bauds, t.Baud) {
			c.add(f+".baud", fmt.Sprint(t.Baud), fmt.Sprintf("use one of %v", bauds))
		}
		switch {
		case t.Port == "":
			c.add(f+".port", "missing", "name the serial device, e.g. /dev/ttyUSB3, or simulated")
		case t.Port == SimulatedPort && b.Simulate == nil:
			c.add(f+".port", "simulated, but there is no simulate section", "add simulate: or name a serial device")
		case t.Port != SimulatedPort:
			t.Port = resolve(dir, t.Port)
		}
	}
}
