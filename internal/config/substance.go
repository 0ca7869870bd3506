package config

import (
	"fmt"
	"slices"
	"time"
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

// Substance configures the agent's substance testing: how readings are bound to
// tests, the breath-alcohol limit, the drug panels' cut-offs and when a laboratory
// is overdue. Zero fields take the engine's defaults (agent/substance).
type Substance struct {
	// BindWindow is how long after a test starts a device's next reading, without
	// the test's id keyed in, may still be bound to it (default 10m).
	BindWindow time.Duration `yaml:"bindWindow,omitempty"`
	// LabOverdue is how long after dispatch a sample may wait for its laboratory's
	// result before the console lists it as overdue (default 336h: 14 days).
	LabOverdue time.Duration `yaml:"labOverdue,omitempty"`
	// BreathLimitUg is the breath-alcohol limit in µg per 100 ml of breath, at or
	// over which a breath test is non-negative (default 9).
	BreathLimitUg float64 `yaml:"breathLimitUgPer100ml,omitempty"`
	// OralFluidCutoffs and UrineCutoffs give, per drug panel (amphetamine, cocaine,
	// thc, ...), its cut-off in ng/ml, recorded with each result; panels not named
	// keep their defaults, the published figures of devices/substance.
	OralFluidCutoffs map[string]float64 `yaml:"oralFluidCutoffs,omitempty"`
	UrineCutoffs     map[string]float64 `yaml:"urineCutoffs,omitempty"`
}

func (s *Substance) check(c *checker) {
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"substance.bindWindow", s.BindWindow}, {"substance.labOverdue", s.LabOverdue}} {
		if d.v < 0 {
			c.add(d.name, d.v.String(), "use a positive duration, or leave it out for the default")
		}
	}
	if s.BreathLimitUg < 0 || s.BreathLimitUg > 1000 {
		c.add("substance.breathLimitUgPer100ml", fmt.Sprint(s.BreathLimitUg), "use 0 (the default, 9) to 1000")
	}
}
