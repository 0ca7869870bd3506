package agent

import (
	"fmt"
	"testing"
	"time"
)

// TestRefusalsBounded: alarms are limited to one per key a minute, and keys chosen by
// a sender (unknown device ids) cannot grow the limiter without bound.
func TestRefusalsBounded(t *testing.T) {
	t0 := time.Date(2026, 6, 15, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name       string
		keys       int           // distinct keys, each refused twice
		later      time.Duration // then each refused once more, this much later
		wantAlarms int
		wantMax    int // the most keys remembered
	}{
		{"a few devices", 5, 0, 5, 5},
		{"a few devices a minute on", 5, time.Minute, 10, 5},
		{"more devices than remembered", 10 * refusalKeys, 0, refusalKeys + 1, refusalKeys + 1},
		{"more devices, a minute on", 10 * refusalKeys, time.Minute, 2 * (refusalKeys + 1), refusalKeys + 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var r refusals
			alarms := 0
			refuse := func(at time.Time) {
				for i := range tc.keys {
					for range 2 {
						if ok, _ := r.allow(fmt.Sprintf("unknown-device/reader/ghost-%d", i), "unknown-device", at); ok {
							alarms++
						}
					}
					if n := len(r.keys); n > tc.wantMax {
						t.Fatalf("%d keys remembered, want at most %d", n, tc.wantMax)
					}
				}
			}
			refuse(t0)
			if tc.later > 0 {
				refuse(t0.Add(tc.later))
			}
			if alarms != tc.wantAlarms {
				t.Errorf("%d alarms, want %d", alarms, tc.wantAlarms)
			}
		})
	}
}
