package osdp

import (
	"bytes"
	"fmt"
)

// CheckSCBK checks a configured secure channel base key, for the configuration
// check: it refuses a key that is not KeyLen bytes or is all zero (an unset or
// blanked key), and warns (warning non-empty, err nil) when the key is the OSDP
// default key SCBK-D outside install mode, where anyone who knows the published
// default can read the line and impersonate the reader. In install mode the
// configured key is the one to set, and SCBK-D is what the panel opens with anyway,
// so no warning is given.
func CheckSCBK(key []byte, install bool) (warning string, err error) {
	switch {
	case len(key) != KeyLen:
		return "", fmt.Errorf("osdp: SCBK of %d bytes, want %d (32 hex digits)", len(key), KeyLen)
	case bytes.Equal(key, make([]byte, KeyLen)):
		return "", fmt.Errorf("osdp: SCBK is all zero; generate a random key (e.g. openssl rand -hex 16)")
	case !install && bytes.Equal(key, DefaultSCBK()):
		return "osdp: SCBK is the published OSDP default key SCBK-D (303132333435363738393A3B3C3D3E3F): anyone can read the line and impersonate the reader; generate a random key", nil
	}
	return "", nil
}
