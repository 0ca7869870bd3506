package osdp

import (
	"bytes"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/apedge/apedge/devices/wiegand"
	"github.com/apedge/apedge/internal/clock"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Annex E CRC and checksum examples, as carried by libosdp
// tests/unit-tests/test-sc-sia-vectors.c.
func TestCRCAndChecksumVectors(t *testing.T) {
	for _, tc := range []struct {
		msg  string
		crc  uint16
		name string
	}{
		{"53 7F 0D 00 04 6E 00 80 25 00 00", 0x386E, "annexE crc 1"},
		{"53 00 09 00 04 61 00", 0x66C0, "annexE crc 2"},
		{"31 32 33 34 35 36 37 38 39", 0xE5CC, "CRC-16/AUG-CCITT check value"},
	} {
		if got := CRC16(unhex(t, tc.msg)); got != tc.crc {
			t.Errorf("%s: CRC16 = %#04x, want %#04x", tc.name, got, tc.crc)
		}
	}
	for _, tc := range []struct {
		msg string
		sum byte
	}{
		{"53 7F 0C 00 00 6E 00 80 25 00 00", 0x0F},
		{"53 00 08 00 00 61 00", 0x44},
	} {
		if got := Checksum(unhex(t, tc.msg)); got != tc.sum {
			t.Errorf("Checksum(%s) = %#02x, want %#02x", tc.msg, got, tc.sum)
		}
	}
}

func TestGoldenFrames(t *testing.T) {
	want := map[string]Frame{
		"annexE_crc_id":          {Addr: 0, SQN: 0, CRC: true, Code: CmdID, Data: []byte{0}},
		"annexE_checksum_id":     {Addr: 0, SQN: 0, CRC: false, Code: CmdID, Data: []byte{0}},
		"annexE_crc_comset":      {Addr: 0x7F, SQN: 0, CRC: true, Code: CmdCOMSET, Data: []byte{0, 0x80, 0x25, 0, 0}},
		"annexE_checksum_comset": {Addr: 0x7F, SQN: 0, CRC: false, Code: CmdCOMSET, Data: []byte{0, 0x80, 0x25, 0, 0}},
		"poll_addr1_sqn1_crc":    {Addr: 1, SQN: 1, CRC: true, Code: CmdPOLL, Data: []byte{}},
		"ack_addr1_sqn1_crc":     {Addr: 1, Reply: true, SQN: 1, CRC: true, Code: ReplyACK, Data: []byte{}},
		"nak_seq_addr0_cksum":    {Addr: 0, Reply: true, SQN: 1, Code: ReplyNAK, Data: []byte{NakSequence}},
	}
	files, _ := filepath.Glob("testdata/golden/*.hex")
	if len(files) < len(want) {
		t.Fatalf("%d golden files, want at least %d", len(files), len(want))
	}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".hex")
		t.Run(name, func(t *testing.T) {
			text, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			b := unhex(t, string(text))
			f, err := DecodeFrame(b)
			if err != nil {
				t.Fatalf("DecodeFrame: %v", err)
			}
			if w, ok := want[name]; ok {
				if f.Addr != w.Addr || f.Reply != w.Reply || f.SQN != w.SQN || f.CRC != w.CRC || f.Code != w.Code || !bytes.Equal(f.Data, w.Data) {
					t.Errorf("decoded %v, want %v", f, &w)
				}
			}
			// Re-encoding the decoded fields gives the same bytes.
			g := *f
			g.raw = nil
			again, err := g.Encode()
			if err != nil || !bytes.Equal(again, b) {
				t.Errorf("re-encoded % x (%v), want % x", again, err, b)
			}
		})
	}
	// The ID command of annex E, built by the command codec.
	data, _ := IDCommand{}.MarshalBinary()
	b, _ := (&Frame{Addr: 0, CRC: true, Code: CmdID, Data: data}).Encode()
	if got := hex.EncodeToString(b); got != "53000900046100c066" {
		t.Errorf("ID frame %s", got)
	}
	data, _ = ComSetCommand{Address: 0, Baud: 9600}.MarshalBinary()
	b, _ = (&Frame{Addr: BroadcastAddr, Code: CmdCOMSET, Data: data}).Encode()
	if got := hex.EncodeToString(b); got != "537f0c00006e00802500000f" {
		t.Errorf("COMSET frame %s", got)
	}
}

// readCorpus reads Go fuzz corpus files of one []byte argument.
func readCorpus(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no corpus in %s: %v", dir, err)
	}
	out := map[string][]byte{}
	for _, file := range files {
		text, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(string(text)), "\n")
		if len(lines) != 2 || lines[0] != "go test fuzz v1" || !strings.HasPrefix(lines[1], "[]byte(") {
			t.Fatalf("%s: not a one-[]byte corpus file", file)
		}
		s, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(lines[1], "[]byte("), ")"))
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		out[filepath.Base(file)] = []byte(s)
	}
	return out
}

func TestBadFramesRejected(t *testing.T) {
	for name, b := range readCorpus(t, "testdata/fuzz/FuzzDecodeFrame") {
		if f, err := DecodeFrame(b); err == nil {
			t.Errorf("%s: DecodeFrame(% x) = %v, want an error", name, b, f)
		}
	}
	// Specific reasons.
	good, _ := (&Frame{Addr: 1, SQN: 1, CRC: true, Code: CmdPOLL}).Encode()
	bad := append([]byte(nil), good...)
	bad[len(bad)-1] ^= 1
	if _, err := DecodeFrame(bad); !errors.Is(err, ErrCRC) {
		t.Errorf("bad CRC: %v", err)
	}
	if _, err := DecodeFrame(good[:len(good)-1]); !errors.Is(err, ErrLength) {
		t.Errorf("truncated: %v", err)
	}
}

func TestScannerResync(t *testing.T) {
	a, _ := (&Frame{Addr: 1, SQN: 1, CRC: true, Code: CmdPOLL}).Encode()
	b, _ := (&Frame{Addr: 2, SQN: 2, CRC: true, Code: CmdLSTAT}).Encode()
	bad := append([]byte(nil), a...)
	bad[6] ^= 0xFF
	var stream []byte
	stream = append(stream, 0x00, 0x12, Mark)
	stream = append(stream, bad...)
	stream = append(stream, Mark)
	stream = append(stream, a...)
	stream = append(stream, 0x53, 0x01) // a false start that never completes...
	stream = append(stream, Mark)
	stream = append(stream, b...)
	var s scanner
	var got []*Frame
	var errs int
	for i := 0; i < len(stream); i++ { // byte by byte, as a slow line delivers them
		s.feed(stream[i : i+1])
		for {
			f, err, ok := s.next()
			if !ok {
				break
			}
			if err != nil {
				errs++
				continue
			}
			got = append(got, f)
		}
	}
	if len(got) < 1 || got[0].Code != CmdPOLL || !s.mark {
		t.Fatalf("frames %v, errors %d", got, errs)
	}
	if errs == 0 {
		t.Error("no errors reported for noise and a bad frame")
	}
}

func TestCommandRoundTrip(t *testing.T) {
	for _, c := range []Command{
		PollCommand{}, IDCommand{}, CapCommand{}, LocalStatusCommand{}, InputStatusCommand{}, OutputStatusCommand{},
		LEDCommand{Reader: 0, Number: 1, Temporary: LEDTemporary{Control: 2, OnTime: 3, OffTime: 4, OnColor: ColorRed, OffColor: ColorBlack, Timer: 0x1234},
			Permanent: LEDPermanent{Control: 1, OnTime: 1, OffTime: 0, OnColor: ColorGreen, OffColor: ColorBlack}},
		BuzzerCommand{Reader: 0, Tone: 2, OnTime: 5, OffTime: 5, Count: 3},
		OutputCommand{Number: 1, Control: 5, Timer: 50},
		ComSetCommand{Address: 5, Baud: 115200},
		KeySetCommand{Key: DefaultSCBK()},
		UnknownCommand{Cmd: 0x6B, Data: []byte{1, 2}},
	} {
		data, err := c.MarshalBinary()
		if err != nil {
			t.Fatalf("%T: %v", c, err)
		}
		got, err := ParseCommand(c.Code(), data)
		if err != nil || !reflect.DeepEqual(got, c) {
			t.Errorf("%T: round trip %#v (%v), want %#v", c, got, err, c)
		}
	}
	// LED layout: libosdp src/osdp_pd.c decodes 14 bytes in this order.
	data, _ := LEDCommand{Reader: 1, Number: 2, Temporary: LEDTemporary{Control: 3, OnTime: 4, OffTime: 5, OnColor: 6, OffColor: 7, Timer: 0x0908},
		Permanent: LEDPermanent{Control: 10, OnTime: 11, OffTime: 12, OnColor: 13, OffColor: 14}}.MarshalBinary()
	if want := []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14}; !bytes.Equal(data, want) {
		t.Errorf("LED data % x", data)
	}
	if _, err := ParseCommand(CmdLED, data[:13]); err == nil {
		t.Error("short LED accepted")
	}
}

func TestReplyRoundTrip(t *testing.T) {
	for _, r := range []Reply{
		Ack{}, Busy{}, &NakError{Reason: NakSequence},
		PDID{Vendor: 0x0A0B0C, Model: 1, Version: 2, Serial: 0xDEADBEEF, Firmware: [3]byte{1, 2, 3}},
		PDCapabilities{{CapCheckCharacter, 1, 0}, {CapCommSecurity, 1, 0}},
		LocalStatus{Tamper: true}, InputStatus{0, 1}, OutputStatus{1, 0},
		RawCard{Reader: 0, Format: FormatRawWiegand, Bits: 26, Data: wiegand.Encode26(12, 3456)},
		FormattedCard{Chars: []byte("12345")},
		KeypadData{Keys: "12*#"},
		ComReply{Address: 3, Baud: 9600},
		CCryptReply{UID: [8]byte{1}, RNDB: [8]byte{2}, Cryptogram: [16]byte{3}},
		RMACIReply{MAC: [16]byte{4}},
		UnknownReply{Reply: 0x90, Data: []byte{1}},
	} {
		data, err := r.MarshalBinary()
		if err != nil {
			t.Fatalf("%T: %v", r, err)
		}
		got, err := ParseReply(r.Code(), data)
		if err != nil || !reflect.DeepEqual(got, r) {
			t.Errorf("%T: round trip %#v (%v), want %#v", r, got, err, r)
		}
	}
	// Keypad: '*' is 0x7F and '#' is 0x0D on the wire.
	data, _ := KeypadData{Keys: "1*#"}.MarshalBinary()
	if want := []byte{0, 3, '1', 0x7F, 0x0D}; !bytes.Equal(data, want) {
		t.Errorf("keypad data % x", data)
	}
}

// FuzzDecodeFrame: decoding arbitrary bytes never panics, and whatever decodes
// re-encodes to the same bytes when its control byte is canonical.
func FuzzDecodeFrame(f *testing.F) {
	for _, s := range []string{"53000900046100c066", "537f0c00006e00802500000f", "5300080000610044"} {
		b, _ := hex.DecodeString(s)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, err := DecodeFrame(b)
		if err != nil {
			return
		}
		if b[4]&^(ctrlSQN|ctrlCRC|ctrlSCB) != 0 {
			return
		}
		g := *fr
		g.raw = nil
		again, err := g.Encode()
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("re-encoded % x (%v), want % x", again, err, b)
		}
		var s scanner
		s.feed(b)
		if _, err, ok := s.next(); !ok || err != nil {
			t.Fatalf("scanner: ok %v err %v", ok, err)
		}
	})
}

// FuzzCardData: any RAW or FMT reply data decodes or fails without panicking, and
// the panel's card decoding of it never panics.
func FuzzCardData(f *testing.F) {
	d, _ := RawCard{Format: 1, Bits: 26, Data: wiegand.Encode26(1, 2)}.MarshalBinary()
	f.Add(byte(ReplyRAW), d)
	d, _ = RawCard{Format: 1, Bits: 34, Data: wiegand.Encode34(1, 2)}.MarshalBinary()
	f.Add(byte(ReplyRAW), d)
	f.Add(byte(ReplyFMT), []byte{0, 0, 3, '1', '2', '3'})
	f.Add(byte(ReplyKEYPAD), []byte{0, 2, '1', 0x7F})
	f.Fuzz(func(t *testing.T, code byte, data []byte) {
		rep, err := ParseReply(code, data)
		if err != nil {
			return
		}
		if rc, ok := rep.(RawCard); ok {
			_, _ = wiegand.Decode(rc.Data, rc.Bits)
		}
		r := &runner{p: &Panel{log: discardLogger(), clock: clock.System()}, h: func(Event) {}}
		r.absorb(&pdState{}, rep)
	})
}

// FuzzSecureChannel: checking and decrypting arbitrary frames inside a session
// never panics and never accepts a frame whose MAC was not made with the keys.
func FuzzSecureChannel(f *testing.F) {
	keys := fuzzSCKeys()
	seed := newSession(keys, fuzzSCRMACI())
	fr := &Frame{Addr: 1, SQN: 1, CRC: true, Code: CmdLED, Data: make([]byte, 14)}
	seed.sealCommand(fr)
	b, _ := fr.Encode()
	f.Add(b)
	f.Add([]byte{0x53, 0x01, 0x0E, 0x00, 0x0D, 0x02, 0x17, 0x69, 1, 2, 3, 4, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, err := DecodeFrame(b)
		if err != nil {
			return
		}
		pd := newSession(keys, fuzzSCRMACI())
		_ = pd.openCommand(fr)
		cp := newSession(keys, fuzzSCRMACI())
		_ = cp.openReply(fr)
		_, _ = cp.decryptData([16]byte{}, fr.Data)
	})
}
