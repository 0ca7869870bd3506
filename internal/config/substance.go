package config

import (
	"fmt"
	"slices"
)

// SubstanceTester is a breath-alcohol meter or an oral-fluid analyser on a serial
// line.
type SubstanceTester struct {
	// ID names the device on the site bus (class substance-tester).
	ID string `yaml:"id"`
	// Kind is breath-alcohol or oral-fluid.
	Kind string `yaml:"kind"`
	// Port is the serial device (a USB serial adapter, e.g. /dev/ttyUSB1), or
	// "simulated" for a simulated device on a pseudo-terminal.
	Port string `yaml:"port"`
	// Baud is the line speed (default 9600).
	Baud int `yaml:"baud,omitempty"`
	// Name says where it is, for people ("office").
	Name string `yaml:"name,omitempty"`
}

// Substance tester kinds.
const (
	TesterBreathAlcohol = "breath-alcohol"
	TesterOralFluid     = "oral-fluid"
)

// checkSubstanceTesters sets the testers' defaults and checks them, resolving ports
// against dir.
func (b *Bridge) checkSubstanceTesters(c *checker, dir string) {
	ids := map[string]string{}
	for i := range b.SubstanceTesters {
		t := &b.SubstanceTesters[i]
		f := fmt.Sprintf("substanceTesters[%d]", i)
		checkDeviceID(c, ids, f+".id", t.ID, "tester")
		if t.Kind != TesterBreathAlcohol && t.Kind != TesterOralFluid {
			c.add(f+".kind", fmt.Sprintf("%q", t.Kind), "use breath-alcohol or oral-fluid")
		}
		if t.Baud == 0 {
			t.Baud = 9600
		}
		if !slices.Contains(bauds, t.Baud) {
			c.add(f+".baud", fmt.Sprint(t.Baud), fmt.Sprintf("use one of %v", bauds))
		}
		switch {
		case t.Port == "":
			c.add(f+".port", "missing", "name the serial device, e.g. /dev/ttyUSB1, or simulated")
		case t.Port == SimulatedPort && b.Simulate == nil:
			c.add(f+".port", "simulated, but there is no simulate section", "add simulate: or name a serial device")
		case t.Port != SimulatedPort:
			t.Port = resolve(dir, t.Port)
		}
	}
}
