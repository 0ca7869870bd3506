package osdp

import (
	"bytes"
	"encoding/hex"
	"testing"
)

func TestCheckSCBK(t *testing.T) {
	sia, _ := hex.DecodeString("303132333435363738393A3B3C3D3E3F")
	tests := []struct {
		name    string
		key     []byte
		install bool
		warn    bool
		err     bool
	}{
		{"random key", testKey(1), false, false, false},
		{"random key, install", testKey(1), true, false, false},
		{"short", make([]byte, 15), false, false, true},
		{"long", make([]byte, 17), false, false, true},
		{"empty", nil, false, false, true},
		{"all zero", make([]byte, 16), false, false, true},
		{"all zero, install", make([]byte, 16), true, false, true},
		{"SCBK-D", sia, false, true, false},
		{"SCBK-D, install", sia, true, false, false},
	}
	if !bytes.Equal(sia, DefaultSCBK()) {
		t.Fatalf("DefaultSCBK % x, want SIA's SCBK-D", DefaultSCBK())
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			warn, err := CheckSCBK(tc.key, tc.install)
			if (warn != "") != tc.warn || (err != nil) != tc.err {
				t.Errorf("CheckSCBK = %q, %v; want warning %v, error %v", warn, err, tc.warn, tc.err)
			}
		})
	}
}
