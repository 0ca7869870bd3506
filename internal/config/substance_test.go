package config_test

import (
	"errors"
	"path/filepath"
	"slices"
	"testing"

	"github.com/apedge/apedge/internal/config"
)

func TestLoadBridgeSubstanceTesters(t *testing.T) {
	dir := t.TempDir()
	writeKeys(t, dir, "MAN1")
	b, err := config.LoadBridge(writeFile(t, dir, "bridge.yaml", minimalBridge+`substanceTesters:
  - {id: breath-1, kind: breath-alcohol, port: ttyUSB1}
  - {id: drug-1, kind: oral-fluid, port: /dev/ttyUSB2, baud: 115200, name: office}
`, 0o644))
	if err != nil {
		t.Fatal(err)
	}
	if a, o := b.SubstanceTesters[0], b.SubstanceTesters[1]; a.Baud != 9600 || a.Port != filepath.Join(dir, "ttyUSB1") || o.Baud != 115200 || o.Port != "/dev/ttyUSB2" {
		t.Errorf("testers %+v", b.SubstanceTesters)
	}
	for _, c := range []struct{ yaml, field string }{
		{"substanceTesters: [{id: b1, kind: urine, port: /dev/ttyS0}]\n", "substanceTesters[0].kind"},
		{"substanceTesters: [{id: b1, kind: breath-alcohol}]\n", "substanceTesters[0].port"},
		{"substanceTesters: [{id: b1, kind: breath-alcohol, port: simulated}]\n", "substanceTesters[0].port"},
		{"substanceTesters: [{id: b1, kind: breath-alcohol, port: /dev/ttyS0, baud: 1234}]\n", "substanceTesters[0].baud"},
		{"substanceTesters: [{id: b1, kind: breath-alcohol, port: /dev/ttyS0}, {id: b1, kind: oral-fluid, port: /dev/ttyS1}]\n", "substanceTesters[1].id"},
	} {
		_, err := config.LoadBridge(writeFile(t, dir, "bad.yaml", minimalBridge+c.yaml, 0o644))
		var ce *config.Error
		if !errors.As(err, &ce) || !slices.ContainsFunc(ce.Problems, func(p config.Problem) bool { return p.Field == c.field }) {
			t.Errorf("%s: %v, want a problem with %s", c.yaml, err, c.field)
		}
	}
}
