package config_test

import (
	"errors"
	"path/filepath"
	"slices"
	"testing"

	"github.com/apedge/apedge/internal/config"
)

func TestLoadBridgePATTesters(t *testing.T) {
	dir := t.TempDir()
	writeKeys(t, dir, "MAN1")
	b, err := config.LoadBridge(writeFile(t, dir, "bridge.yaml", minimalBridge+"doors: [{id: front}]\nsimulate:\n  cards: [\"12:3456\"]\n"+`patTesters:
  - {id: pat-1, port: ttyUSB3}
  - {id: pat-2, port: /dev/rfcomm0, baud: 115200, name: maintenance office}
  - {id: pat-sim, port: simulated}
`, 0o644))
	if err != nil {
		t.Fatal(err)
	}
	want := []config.PATTester{
		{ID: "pat-1", Port: filepath.Join(dir, "ttyUSB3"), Baud: 9600},
		{ID: "pat-2", Port: "/dev/rfcomm0", Baud: 115200, Name: "maintenance office"},
		{ID: "pat-sim", Port: config.SimulatedPort, Baud: 9600},
	}
	if !slices.Equal(b.PATTesters, want) {
		t.Errorf("PAT testers %+v, want %+v", b.PATTesters, want)
	}
	for _, c := range []struct{ yaml, field string }{
		{"patTesters: [{id: p1}]\n", "patTesters[0].port"},
		{"patTesters: [{id: p1, port: simulated}]\n", "patTesters[0].port"},
		{"patTesters: [{id: p1, port: /dev/ttyS0, baud: 1234}]\n", "patTesters[0].baud"},
		{"patTesters: [{id: p1, port: /dev/ttyS0}, {id: p1, port: /dev/ttyS1}]\n", "patTesters[1].id"},
		{"patTesters: [{id: 'bad id', port: /dev/ttyS0}]\n", "patTesters[0].id"},
		{"patTesters: [{port: /dev/ttyS0}]\n", "patTesters[0].id"},
	} {
		_, err := config.LoadBridge(writeFile(t, dir, "bad.yaml", minimalBridge+c.yaml, 0o644))
		var ce *config.Error
		if !errors.As(err, &ce) || !slices.ContainsFunc(ce.Problems, func(p config.Problem) bool { return p.Field == c.field }) {
			t.Errorf("%s: %v, want a problem with %s", c.yaml, err, c.field)
		}
	}
}

// TestLoadAgentPATTesters: the agent knows the bridge's PAT testers, by id with
// their names.
func TestLoadAgentPATTesters(t *testing.T) {
	dir := t.TempDir()
	writeAgentFiles(t, dir)
	a, err := config.LoadAgent(writeFile(t, dir, "agent.yaml", minimalAgent, 0o644))
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Devices.PATTesters) != 0 {
		t.Errorf("PAT testers %v from a bridge with none", a.Devices.PATTesters)
	}
	writeFile(t, dir, "bridge.yaml", agentBridge+"patTesters:\n  - {id: pat-1, port: /dev/ttyUSB3, name: office}\n  - {id: pat-2, port: /dev/ttyUSB4}\n", 0o644)
	a, err = config.LoadAgent(writeFile(t, dir, "agent.yaml", minimalAgent, 0o644))
	if err != nil {
		t.Fatal(err)
	}
	if got := a.Devices.PATTesters; len(got) != 2 || got["pat-1"] != "office" || got["pat-2"] != "" {
		t.Errorf("PAT testers %v, want pat-1 (office) and pat-2", got)
	}
}
