package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/apedge/apedge/devices/osdp"
)

func TestSimCommands(t *testing.T) {
	tests := []struct {
		line    string
		wantErr string // "" for ok
	}{
		{"swipe 12:10001", ""},
		{"swipe34 1000:65535", ""},
		{"swipe 256:1", "FACILITY:NUMBER"},
		{"swipe 12:65536", "FACILITY:NUMBER"},
		{"swipe 12", "FACILITY:NUMBER"},
		{"swipe", "missing argument"},
		{"keypad 1234", ""},
		{"tamper on", ""},
		{"tamper maybe", "say on or off"},
		{"power off", ""},
		{"power on", ""},
		{"reboot", ""},
		{"garble 2", ""},
		{"badcrc x", "invalid syntax"},
		{"slow 300ms", ""},
		{"slow soon", "invalid duration"},
		{"status", ""},
		{"dance", "unknown command"},
	}
	r := osdp.NewReader(osdp.ReaderConfig{Address: 1})
	for _, tc := range tests {
		var out bytes.Buffer
		err := simCommand(r, strings.Fields(tc.line), &out)
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("%q: %v", tc.line, err)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("%q: error %v, want one saying %q", tc.line, err, tc.wantErr)
		}
	}
}

func TestSimCommandsAddressing(t *testing.T) {
	one, two := osdp.NewReader(osdp.ReaderConfig{Address: 1}), osdp.NewReader(osdp.ReaderConfig{Address: 2})
	var out bytes.Buffer
	in := strings.NewReader("tamper on\n@2 power off\n@9 reboot\n@2\n\n")
	simCommands(t.Context(), in, &out, one, map[int]*osdp.Reader{1: one, 2: two})
	if got := out.String(); strings.Count(got, "ok\n") != 2 || strings.Count(got, "no reader at") != 2 {
		t.Errorf("output %q, want two oks and two unknown readers", got)
	}
}
