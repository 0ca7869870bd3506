package sitebus_test

import (
	"errors"
	"testing"
	"time"

	"github.com/apedge/apedge/formats/sitebus"
)

func TestDecodeHoldCommands(t *testing.T) {
	const dl = `"deadline":"2026-11-22T23:00:00Z"`
	tests := []struct {
		name, body string
		ok         bool
	}{
		{"hold unlocked", `{"id":"h1","action":"hold","mode":"unlocked",` + dl + `,"until":"2026-11-22T23:30:00Z","reason":"deliveries","by":"mgr"}`, true},
		{"hold locked", `{"id":"h2","action":"hold","mode":"locked",` + dl + `,"until":"2026-11-23T08:00:00Z"}`, true},
		{"lockdown", `{"id":"h3","action":"hold","mode":"lockdown",` + dl + `,"until":"2026-11-23T11:00:00Z","reason":"police"}`, true},
		{"release", `{"id":"r1","action":"release",` + dl + `,"by":"mgr"}`, true},
		{"release lockdown", `{"id":"r2","action":"release","mode":"lockdown",` + dl + `}`, true},
		{"hold without mode", `{"id":"h4","action":"hold",` + dl + `,"until":"2026-11-22T23:30:00Z"}`, false},
		{"hold mode open", `{"id":"h5","action":"hold","mode":"open",` + dl + `,"until":"2026-11-22T23:30:00Z"}`, false},
		{"hold without until", `{"id":"h6","action":"hold","mode":"locked",` + dl + `}`, false},
		{"hold ended already", `{"id":"h7","action":"hold","mode":"locked",` + dl + `,"until":"2026-11-22T20:00:00Z"}`, false},
		{"hold with forMs", `{"id":"h8","action":"hold","mode":"locked",` + dl + `,"until":"2026-11-22T23:30:00Z","forMs":1000}`, false},
		{"release mode unlocked", `{"id":"r3","action":"release","mode":"unlocked",` + dl + `}`, false},
		{"release with until", `{"id":"r4","action":"release",` + dl + `,"until":"2026-11-22T23:30:00Z"}`, false},
		{"unlock with mode", `{"id":"u1","action":"unlock","mode":"locked",` + dl + `}`, false},
		{"reason too long", `{"id":"h9","action":"hold","mode":"locked",` + dl + `,"until":"2026-11-22T23:30:00Z","reason":"` + longReason + `"}`, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := sitebus.DecodeCommand([]byte(tc.body))
			switch {
			case tc.ok && err != nil:
				t.Fatalf("refused: %v", err)
			case !tc.ok && err == nil:
				t.Fatalf("accepted %+v", c)
			case !tc.ok && !errors.Is(err, sitebus.ErrMessage):
				t.Fatalf("error %v is not ErrMessage", err)
			}
		})
	}
	c, err := sitebus.DecodeCommand([]byte(tests[0].body))
	if err != nil {
		t.Fatal(err)
	}
	if c.Mode != sitebus.HoldUnlocked || c.Reason != "deliveries" || !c.Until.Equal(time.Date(2026, 11, 22, 23, 30, 0, 0, time.UTC)) {
		t.Errorf("hold decoded as %+v", c)
	}
}

var longReason = func() string {
	b := make([]byte, sitebus.MaxHoldReason+1)
	for i := range b {
		b[i] = 'x'
	}
	return string(b)
}()
