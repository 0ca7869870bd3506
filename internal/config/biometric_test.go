package config_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/apedge/apedge/internal/config"
)

func TestLoadBridgeFingerprintTerminals(t *testing.T) {
	dir := t.TempDir()
	writeKeys(t, dir, "MAN1")
	writeFile(t, dir, "front-in.scbk", "000102030405060708090a0b0c0d0e0f", 0o600)
	writeFile(t, dir, "fp.pw", "0000002a", 0o600)
	b, err := config.LoadBridge(writeFile(t, dir, "bridge.yaml", siteBridge+`fingerprintTerminals:
  - {id: fp-front, port: /dev/ttyUSB3, door: front, name: front door, passwordFile: fp.pw}
  - {id: fp-desk, port: /dev/ttyUSB4, baud: 115200, address: 0x12345678, name: office}
enhancedSecurity: {on: true}
`, 0o644))
	if err != nil {
		t.Fatal(err)
	}
	f, d := b.FingerprintTerminals[0], b.FingerprintTerminals[1]
	if f.Baud != 57600 || f.Address != 0xFFFFFFFF || d.Baud != 115200 || d.Address != 0x12345678 || !b.EnhancedSecurity.On || b.EnhancedSecurity.Window != 10*time.Second {
		t.Errorf("terminals %+v, enhanced security %+v", b.FingerprintTerminals, b.EnhancedSecurity)
	}
	if id, ok := b.DoorTerminal("front"); !ok || id != "fp-front" {
		t.Errorf("front door's terminal %q %v", id, ok)
	}
	if _, ok := b.DoorTerminal("side"); ok {
		t.Error("the side door has a terminal")
	}
	for _, c := range []struct{ yaml, field string }{
		{"fingerprintTerminals: [{id: fp1}]\n", "fingerprintTerminals[0].port"},
		{"fingerprintTerminals: [{id: fp1, port: simulated}]\n", "fingerprintTerminals[0].port"},
		{"fingerprintTerminals: [{id: fp1, port: /dev/ttyS0, baud: 1234}]\n", "fingerprintTerminals[0].baud"},
		{"fingerprintTerminals: [{id: fp1, port: /dev/ttyS0, door: back}]\n", "fingerprintTerminals[0].door"},
		{"fingerprintTerminals: [{id: fp1, port: /dev/ttyS0, door: front}, {id: fp2, port: /dev/ttyS1, door: front}]\n", "fingerprintTerminals[1].door"},
		{"fingerprintTerminals: [{id: fp1, port: /dev/ttyS0}, {id: fp1, port: /dev/ttyS1}]\n", "fingerprintTerminals[1].id"},
		{"enhancedSecurity: {on: true, window: 5m}\n", "enhancedSecurity.window"},
	} {
		_, err := config.LoadBridge(writeFile(t, dir, "bad.yaml", siteBridge+c.yaml, 0o644))
		var ce *config.Error
		if !errors.As(err, &ce) || !slices.ContainsFunc(ce.Problems, func(p config.Problem) bool { return p.Field == c.field }) {
			t.Errorf("%s: %v, want a problem with %s", c.yaml, err, c.field)
		}
	}
}

func TestLoadAgentBiometrics(t *testing.T) {
	dir := t.TempDir()
	writeAgentFiles(t, dir)
	a, err := config.LoadAgent(writeFile(t, dir, "agent.yaml", minimalAgent, 0o644))
	if err != nil {
		t.Fatal(err)
	}
	if b := a.Biometrics; b.MaxAttempts != 3 || b.DeletionOverdue != 24*time.Hour {
		t.Errorf("defaults %+v, want 3 attempts and 24h", b)
	}
	a, err = config.LoadAgent(writeFile(t, dir, "agent.yaml", minimalAgent+"biometrics: {maxAttempts: 5, deletionOverdue: 12h}\n", 0o644))
	if err != nil {
		t.Fatal(err)
	}
	if b := a.Biometrics; b.MaxAttempts != 5 || b.DeletionOverdue != 12*time.Hour {
		t.Errorf("biometrics %+v, want 5 attempts and 12h", b)
	}
	for _, c := range []struct{ yaml, field string }{
		{"biometrics: {maxAttempts: -1}\n", "biometrics.maxAttempts"},
		{"biometrics: {maxAttempts: 1000}\n", "biometrics.maxAttempts"},
		{"biometrics: {deletionOverdue: 10s}\n", "biometrics.deletionOverdue"},
		{"biometrics: {deletionOverdue: 2000h}\n", "biometrics.deletionOverdue"},
	} {
		_, err := config.LoadAgent(writeFile(t, dir, "bad.yaml", minimalAgent+c.yaml, 0o644))
		var ce *config.Error
		if !errors.As(err, &ce) || !slices.ContainsFunc(ce.Problems, func(p config.Problem) bool { return p.Field == c.field }) {
			t.Errorf("%s: %v, want a problem with %s", c.yaml, err, c.field)
		}
	}
}
