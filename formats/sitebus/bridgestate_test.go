package sitebus_test

import (
	"encoding/json"
	"testing"

	"github.com/apedge/apedge/formats/sitebus"
)

// TestBridgeStateOutbox: the optional outbox fields round-trip and are absent when the
// outbox is healthy; an unknown outbox value is refused.
func TestBridgeStateOutbox(t *testing.T) {
	tests := []struct {
		name    string
		st      sitebus.BridgeState
		wantRaw string
	}{
		{"healthy", sitebus.BridgeState{Status: "online", Boot: "b1"}, `{"status":"online","boot":"b1"}`},
		{"degraded", sitebus.BridgeState{Status: "online", Boot: "b1", Outbox: "degraded", Held: 7, Lost: 2},
			`{"status":"online","boot":"b1","outbox":"degraded","held":7,"lost":2}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw, err := json.Marshal(tt.st)
			if err != nil {
				t.Fatal(err)
			}
			if string(raw) != tt.wantRaw {
				t.Errorf("encoded %s, want %s", raw, tt.wantRaw)
			}
			got, err := sitebus.DecodeBridgeState(raw)
			if err != nil {
				t.Fatal(err)
			}
			if *got != tt.st {
				t.Errorf("decoded %+v, want %+v", *got, tt.st)
			}
		})
	}
	if _, err := sitebus.DecodeBridgeState([]byte(`{"status":"online","outbox":"full"}`)); err == nil {
		t.Error("outbox \"full\" accepted")
	}
}
