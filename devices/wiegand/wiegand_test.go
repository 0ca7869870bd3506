package wiegand_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"testing"

	"github.com/apedge/apedge/devices/wiegand"
)

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDecode(t *testing.T) {
	tests := []struct {
		name     string
		raw      string
		nbits    int
		format   string
		facility uint32
		number   uint32
		id       string
	}{
		// FC 1, card 1: see TestEncode26KnownBits.
		{"26-bit fc 1 card 1", "80800080", 26, wiegand.Format26, 1, 1, "1:1"},
		{"26-bit fc 123 card 45678", hex.EncodeToString(wiegand.Encode26(123, 45678)), 26, wiegand.Format26, 123, 45678, "123:45678"},
		{"34-bit fc 1000 card 65535", hex.EncodeToString(wiegand.Encode34(1000, 65535)), 34, wiegand.Format34, 1000, 65535, "1000:65535"},
		{"37 bits kept raw", "0123456789", 37, wiegand.FormatRaw, 0, 0, "0123456788"},
		{"8 bits raw", "a5", 8, wiegand.FormatRaw, 0, 0, "a5"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := wiegand.Decode(mustHex(t, tc.raw), tc.nbits)
			if err != nil {
				t.Fatal(err)
			}
			if c.Format != tc.format || c.Facility != tc.facility || c.Number != tc.number || c.Bits != tc.nbits {
				t.Errorf("Decode = %+v, want %s fc %d card %d", c, tc.format, tc.facility, tc.number)
			}
			if got := c.ID(); got != tc.id {
				t.Errorf("credential id %q, want %q", got, tc.id)
			}
		})
	}
}

func TestEncode26KnownBits(t *testing.T) {
	// fc 1, card 1 by hand: bits 1-12 (00000001 0000) hold one 1, so the even parity
	// bit 0 is 1; bits 13-24 (000000000001) hold one 1, so the odd parity bit 25 is 0.
	// 1000 0000 | 1000 0000 | 0000 0000 | 10(pad 000000) -> 80 80 00 80.
	if got := hex.EncodeToString(wiegand.Encode26(1, 1)); got != "80800080" {
		t.Errorf("Encode26(1, 1) = %s, want 80800080", got)
	}
}

func TestDecodeRefused(t *testing.T) {
	good := wiegand.Encode26(12, 3456)
	flip := func(i int) []byte {
		b := bytes.Clone(good)
		b[i/8] ^= 1 << (7 - uint(i%8))
		return b
	}
	tests := []struct {
		name   string
		raw    []byte
		nbits  int
		parity bool
	}{
		{"leading parity", flip(0), 26, true},
		{"facility bit", flip(3), 26, true},
		{"card bit", flip(20), 26, true},
		{"trailing parity", flip(25), 26, true},
		{"34-bit flipped", func() []byte { b := wiegand.Encode34(7, 7); b[2] ^= 0x10; return b }(), 34, true},
		{"zero bits", nil, 0, false},
		{"too many bits", make([]byte, 200), 1600, false},
		{"short data", []byte{0xff}, 26, false},
		{"long data", make([]byte, 8), 26, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := wiegand.Decode(tc.raw, tc.nbits)
			if err == nil {
				t.Fatal("Decode succeeded")
			}
			if errors.Is(err, wiegand.ErrParity) != tc.parity {
				t.Errorf("Decode = %v; parity error %v, want %v", err, errors.Is(err, wiegand.ErrParity), tc.parity)
			}
		})
	}
}

func TestRoundTrip(t *testing.T) {
	for fc := 0; fc < 256; fc += 17 {
		for cn := 0; cn < 65536; cn += 4099 {
			c, err := wiegand.Decode(wiegand.Encode26(uint8(fc), uint16(cn)), 26)
			if err != nil || c.Facility != uint32(fc) || c.Number != uint32(cn) {
				t.Fatalf("26-bit %d:%d -> %+v, %v", fc, cn, c, err)
			}
			c, err = wiegand.Decode(wiegand.Encode34(uint16(fc*200), uint16(cn)), 34)
			if err != nil || c.Facility != uint32(fc*200) || c.Number != uint32(cn) {
				t.Fatalf("34-bit %d:%d -> %+v, %v", fc*200, cn, c, err)
			}
		}
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(wiegand.Encode26(1, 1), 26)
	f.Add(wiegand.Encode34(1, 1), 34)
	f.Add([]byte{0xff, 0xff, 0xff, 0xc0}, 26)
	f.Add([]byte{}, 0)
	f.Fuzz(func(t *testing.T, raw []byte, nbits int) {
		c, err := wiegand.Decode(raw, nbits)
		if err != nil {
			return
		}
		if c.Bits != nbits || len(c.Raw) != len(raw) {
			t.Fatalf("Decode kept %d bits in %d bytes from %d in %d", c.Bits, len(c.Raw), nbits, len(raw))
		}
		// Whatever decodes with a facility re-encodes to the same bits.
		switch c.Format {
		case wiegand.Format26:
			if !bytes.Equal(wiegand.Encode26(uint8(c.Facility), uint16(c.Number)), c.Raw) {
				t.Fatalf("26-bit %x does not re-encode", c.Raw)
			}
		case wiegand.Format34:
			if !bytes.Equal(wiegand.Encode34(uint16(c.Facility), uint16(c.Number)), c.Raw) {
				t.Fatalf("34-bit %x does not re-encode", c.Raw)
			}
		}
	})
}

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		id    string
		bits  int
		ok    bool
		fc, n uint32
	}{
		{"12:10001", 26, true, 12, 10001},
		{"1000:65535", 34, true, 1000, 65535},
		{"0:0", 26, true, 0, 0},
		{"256:1", 26, false, 0, 0},
		{"12:65536", 26, false, 0, 0},
		{"012:1", 26, false, 0, 0},
		{"12", 26, false, 0, 0},
		{"12:x", 26, false, 0, 0},
		{"-1:5", 26, false, 0, 0},
		{"12:1", 37, false, 0, 0},
	} {
		c, err := wiegand.Parse(tc.id, tc.bits)
		if (err == nil) != tc.ok || tc.ok && (c.Facility != tc.fc || c.Number != tc.n || c.Bits != tc.bits || c.ID() != tc.id) {
			t.Errorf("Parse(%q, %d) = %+v, %v", tc.id, tc.bits, c, err)
		}
	}
}
