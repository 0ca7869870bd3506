package config_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apedge/apedge/internal/config"
)

func TestLoadAgentBWC(t *testing.T) {
	dir := t.TempDir()
	writeAgentFiles(t, dir)
	a, err := config.LoadAgent(writeFile(t, dir, "agent.yaml", minimalAgent, 0o644))
	if err != nil {
		t.Fatal(err)
	}
	if b := a.BWC; b.MinBatteryPct != 80 || b.Shift != 12*time.Hour || len(a.BWCDocks) != 0 {
		t.Errorf("defaults %+v, docks %v; want 80%%, 12h and no docks", b, a.BWCDocks)
	}
	a, err = config.LoadAgent(writeFile(t, dir, "agent.yaml", minimalAgent+`bwcDocks:
  - {id: dock-1, slots: 4, name: staff office, reader: HID iCLASS}
  - {id: dock-2, slots: 8}
bwc: {minBatteryPct: 90, shift: 10h}
`, 0o644))
	if err != nil {
		t.Fatal(err)
	}
	want := []config.BWCDock{{ID: "dock-1", Slots: 4, Name: "staff office", Reader: "HID iCLASS"}, {ID: "dock-2", Slots: 8}}
	if !slices.Equal(a.BWCDocks, want) || a.BWC != (config.BWC{MinBatteryPct: 90, Shift: 10 * time.Hour}) {
		t.Errorf("docks %+v, bwc %+v", a.BWCDocks, a.BWC)
	}
	if d := a.Dock("dock-2"); d == nil || d.Slots != 8 {
		t.Errorf("Dock(dock-2) = %+v", d)
	}
	if d := a.Dock("dock-3"); d != nil {
		t.Errorf("Dock(dock-3) = %+v, want none: an unconfigured dock is not trusted", d)
	}

	for _, c := range []struct{ yaml, field, says string }{
		{"bwcDocks: [{id: dock 1, slots: 4}]\n", "bwcDocks[0].id", "is not a dock id"},
		{"bwcDocks: [{id: d1, slots: 4}, {id: d1, slots: 2}]\n", "bwcDocks[1].id", "d1 already names"},
		{"bwcDocks: [{id: d1}]\n", "bwcDocks[0].slots", "0"},
		{"bwcDocks: [{id: d1, slots: 65}]\n", "bwcDocks[0].slots", "65"},
		{"bwcDocks: [{id: d1, slots: 4, reader: " + strings.Repeat("r", 65) + "}]\n", "bwcDocks[0].reader", "longer than 64"},
		{"bwcDocks: [{id: d1, slots: 4, name: " + strings.Repeat("x", 65) + "}]\n", "bwcDocks[0].name", "longer than 64"},
		{"bwc: {minBatteryPct: 101}\n", "bwc.minBatteryPct", "101"},
		{"bwc: {minBatteryPct: -5}\n", "bwc.minBatteryPct", "-5"},
		{"bwc: {shift: 30m}\n", "bwc.shift", "30m0s"},
		{"bwc: {shift: 48h}\n", "bwc.shift", "48h0m0s"},
	} {
		t.Run(c.field+" "+c.says, func(t *testing.T) {
			_, err := config.LoadAgent(writeFile(t, dir, "bad.yaml", minimalAgent+c.yaml, 0o644))
			var ce *config.Error
			if !errors.As(err, &ce) || !slices.ContainsFunc(ce.Problems, func(p config.Problem) bool {
				return p.Field == c.field && strings.Contains(p.What, c.says) && p.Fix != ""
			}) {
				t.Errorf("%v, want a problem with %s saying %q and how to fix it", err, c.field, c.says)
			}
		})
	}
}
