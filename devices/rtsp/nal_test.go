package rtsp

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
)

// annexBUnits splits an Annex-B stream on its start codes (00 00 01, or 00 00 00 01)
// into NAL units, without the zero bytes before each start code.
func annexBUnits(b []byte) [][]byte {
	var out [][]byte
	start := -1
	for i := 0; i+2 < len(b); i++ {
		if b[i] != 0 || b[i+1] != 0 || b[i+2] != 1 {
			continue
		}
		if start >= 0 {
			if nal := bytes.TrimRight(b[start:i], "\x00"); len(nal) > 0 {
				out = append(out, nal)
			}
		}
		start = i + 3
		i += 2
	}
	if start >= 0 && start < len(b) {
		out = append(out, b[start:])
	}
	return out
}

// readUnits reads a fixture's NAL units.
func readUnits(t testing.TB, path string) [][]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	nals := annexBUnits(b)
	if len(nals) == 0 {
		t.Fatalf("%s: no NAL units", path)
	}
	return nals
}

// firstNAL returns the first NAL unit of a fixture whose type is.
func firstNAL(t testing.TB, codec, path string, is func(codec string, t uint8) bool) []byte {
	t.Helper()
	for _, n := range readUnits(t, path) {
		if typ, ok := NALUType(codec, n); ok && is(codec, typ) {
			return n
		}
	}
	t.Fatalf("%s: no such NAL unit", path)
	return nil
}

// accessUnits groups a fixture's NAL units into access units (ITU-T H.264 section
// 7.4.1.2.3, H.265 section 7.4.2.4.4): a new one starts at a parameter set, an AUD or
// an SEI after a picture's slices, or at a slice that is the first of its picture
// (first_mb_in_slice 0, first_slice_segment_in_pic_flag 1).
func accessUnits(t testing.TB, codec string, nals [][]byte) [][][]byte {
	t.Helper()
	var aus [][][]byte
	var cur [][]byte
	sawVCL := false
	for _, n := range nals {
		typ, _ := NALUType(codec, n)
		first := false
		switch {
		case IsVCL(codec, typ):
			hdr := 1
			if codec == CodecH265 {
				hdr = 2
			}
			first = len(n) > hdr && n[hdr]&0x80 != 0
		case IsParameterSet(codec, typ), codec == CodecH264 && (typ == h264AUD || typ == h264SEI),
			codec == CodecH265 && (typ == h265AUD || typ == 39):
			first = true
		}
		if first && sawVCL {
			aus = append(aus, cur)
			cur, sawVCL = nil, false
		}
		cur = append(cur, n)
		sawVCL = sawVCL || IsVCL(codec, typ)
	}
	if len(cur) > 0 {
		aus = append(aus, cur)
	}
	return aus
}

// payloads packetises an access unit with pion's payloader, MTU 1200.
func payloads(codec string, au [][]byte) [][]byte {
	var b []byte
	for _, n := range au {
		b = append(append(b, 0, 0, 0, 1), n...)
	}
	if codec == CodecH265 {
		return (&codecs.H265Payloader{}).Payload(1200, b)
	}
	return (&codecs.H264Payloader{}).Payload(1200, b)
}

// TestDepacketizeFixtures packetises every fixture with pion's payloaders and checks
// that the Depacketizer gives back the very NAL units (but the AUD and filler data
// that the payloaders leave out).
func TestDepacketizeFixtures(t *testing.T) {
	for _, f := range []string{"h264-640x480-10fps.h264", "h264-320x180-high.h264", "h265-640x480-10fps.h265", "h265-320x180.h265"} {
		t.Run(f, func(t *testing.T) {
			codec := CodecH264
			if strings.HasSuffix(f, ".h265") {
				codec = CodecH265
			}
			nals := readUnits(t, filepath.Join("testdata", f))
			var want [][]byte
			for _, n := range nals {
				typ, _ := NALUType(codec, n)
				if skip := codec == CodecH264 && (typ == h264AUD || typ == 12) || codec == CodecH265 && (typ == h265AUD || typ == 38); !skip {
					want = append(want, n)
				}
			}
			d, err := NewDepacketizer(codec)
			if err != nil {
				t.Fatal(err)
			}
			var got [][]byte
			seq := uint16(65500) // across a wrap
			kinds := map[uint8]int{}
			for _, au := range accessUnits(t, codec, nals) {
				for _, pl := range payloads(codec, au) {
					kinds[packetKind(codec, pl)]++
					us, err := d.Push(&rtp.Packet{Header: rtp.Header{SequenceNumber: seq}, Payload: pl})
					if err != nil {
						t.Fatalf("packet %d: %v", seq, err)
					}
					for _, u := range us {
						if typ, _ := NALUType(codec, u.Data); typ != u.Type {
							t.Fatalf("NAL unit of type %d says %d", typ, u.Type)
						}
						got = append(got, bytes.Clone(u.Data))
					}
					seq++
				}
			}
			if len(got) != len(want) {
				t.Fatalf("%d NAL units, want %d", len(got), len(want))
			}
			for i := range got {
				if !bytes.Equal(got[i], want[i]) {
					t.Fatalf("NAL unit %d differs: %x..., want %x...", i, got[i][:min(8, len(got[i]))], want[i][:min(8, len(want[i]))])
				}
			}
			if d.Dropped != 0 {
				t.Errorf("dropped %d", d.Dropped)
			}
			// Parameter sets go in aggregation packets, pictures over 1200 bytes in
			// fragments (and small ones, in most fixtures, in single NAL unit packets).
			if kinds['a'] == 0 || kinds['f'] == 0 {
				t.Errorf("packet kinds %v, want aggregation and fragmentation packets", kinds)
			}
		})
	}
}

// packetKind is 's' for a single NAL unit packet, 'a' for an aggregation packet, 'f'
// for a fragmentation unit.
func packetKind(codec string, pl []byte) uint8 {
	t := pl[0] & 0x1f
	if codec == CodecH265 {
		t = pl[0] >> 1 & 0x3f
	}
	switch {
	case codec == CodecH264 && t == h264STAPA, codec == CodecH265 && t == h265AP:
		return 'a'
	case codec == CodecH264 && t == h264FUA, codec == CodecH265 && t == h265FU:
		return 'f'
	}
	return 's'
}

// fu264 makes an FU-A of a NAL unit of type typ (NRI 3).
func fu264(start, end bool, typ uint8, data string) []byte {
	h := typ
	if start {
		h |= 0x80
	}
	if end {
		h |= 0x40
	}
	return append([]byte{0x60 | h264FUA, h}, data...)
}

// fu265 makes an H.265 FU of a NAL unit of type typ (layer 0, TID 1).
func fu265(start, end bool, typ uint8, data string) []byte {
	h := typ
	if start {
		h |= 0x80
	}
	if end {
		h |= 0x40
	}
	return append([]byte{h265FU << 1, 1, h}, data...)
}

// stap makes an aggregation packet from a header and units.
func stap(hdr []byte, units ...[]byte) []byte {
	b := bytes.Clone(hdr)
	for _, u := range units {
		b = binary.BigEndian.AppendUint16(b, uint16(len(u)))
		b = append(b, u...)
	}
	return b
}

// TestDepacketizer runs sequences of packets through a Depacketizer: each step is a
// packet (its sequence number and payload) and what comes out (NAL units as
// "type:data", an error).
func TestDepacketizer(t *testing.T) {
	type step struct {
		seq     uint16
		payload []byte
		want    string // NAL units "type:hex-of-data-after-header" space separated
		err     error
	}
	idr264 := func(s string) string { return "5:" + s }
	tests := []struct {
		name    string
		codec   string
		steps   []step
		dropped int
	}{
		{"h264 single", "h264", []step{{1, []byte{0x65, 1, 2}, idr264("0102"), nil}}, 0},
		{"h264 STAP-A", "h264", []step{{1, stap([]byte{0x78}, []byte{0x67, 0xaa}, []byte{0x68, 0xbb}), "7:aa 8:bb", nil}}, 0},
		{"h264 FU-A", "h264", []step{{1, fu264(true, false, 5, "\x01"), "", nil}, {2, fu264(false, false, 5, "\x02"), "", nil},
			{3, fu264(false, true, 5, "\x03"), idr264("010203"), nil}}, 0},
		{"h264 FU-A lost middle fragment dropped, next NAL whole", "h264", []step{{1, fu264(true, false, 5, "\x01"), "", nil},
			{3, fu264(false, true, 5, "\x03"), "", nil}, {4, []byte{0x41, 9}, "1:09", nil}}, 1},
		{"h264 FU-A lost start dropped", "h264", []step{{1, fu264(false, false, 5, "\x02"), "", nil}, {2, fu264(false, true, 5, "\x03"), "", nil},
			{3, fu264(true, false, 1, "\x07"), "", nil}, {4, fu264(false, true, 1, "\x08"), "1:0708", nil}}, 1},
		{"h264 FU-A end never sent: next start drops it", "h264", []step{{1, fu264(true, false, 5, "\x01"), "", nil},
			{2, fu264(true, false, 1, "\x07"), "", nil}, {3, fu264(false, true, 1, "\x08"), "1:0708", nil}}, 1},
		{"h264 FU-A start and end", "h264", []step{{1, fu264(true, true, 1, "\x07"), "", ErrBadPayload}}, 0},
		{"h264 FU-A gap across seq wrap", "h264", []step{{65535, fu264(true, false, 5, "\x01"), "", nil}, {0, fu264(false, true, 5, "\x02"), idr264("0102"), nil},
			{1, fu264(true, false, 5, "\x01"), "", nil}, {3, fu264(false, true, 5, "\x02"), "", nil}}, 1},
		{"h264 FU-A interrupted by a single NAL", "h264", []step{{1, fu264(true, false, 5, "\x01"), "", nil}, {2, []byte{0x41, 9}, "1:09", nil}}, 1},
		{"h264 FU-A type changes", "h264", []step{{1, fu264(true, false, 5, "\x01"), "", nil}, {2, fu264(false, true, 1, "\x02"), "", ErrBadPayload}}, 1},
		{"h264 empty", "h264", []step{{1, nil, "", ErrBadPayload}}, 0},
		{"h264 forbidden bit", "h264", []step{{1, []byte{0xe5, 1}, "", ErrBadPayload}}, 0},
		{"h264 STAP-A overrun keeps units before", "h264", []step{{1, append(stap([]byte{0x78}, []byte{0x67, 0xaa}), 0, 9, 0x68), "7:aa", ErrBadPayload}}, 0},
		{"h264 STAP-A odd byte", "h264", []step{{1, append(stap([]byte{0x78}, []byte{0x67, 0xaa}), 0), "7:aa", ErrBadPayload}}, 0},
		{"h264 STAP-A empty", "h264", []step{{1, []byte{0x78}, "", ErrBadPayload}}, 0},
		{"h264 STAP-A zero size", "h264", []step{{1, stap([]byte{0x78}, []byte{}), "", ErrBadPayload}}, 0},
		{"h264 STAP-A nested", "h264", []step{{1, stap([]byte{0x78}, []byte{0x78, 0, 1}), "", ErrBadPayload}}, 0},
		{"h264 FU-A short", "h264", []step{{1, []byte{0x7c}, "", ErrBadPayload}}, 0},
		{"h264 FU-A of an FU-A", "h264", []step{{1, fu264(true, false, 28, "x"), "", ErrBadPayload}}, 0},
		{"h264 STAP-B", "h264", []step{{1, []byte{0x79, 0, 0}, "", ErrUnsupportedPayload}}, 0},
		{"h264 MTAP16", "h264", []step{{1, []byte{0x7a, 0, 0}, "", ErrUnsupportedPayload}}, 0},
		{"h264 FU-B", "h264", []step{{1, []byte{0x7d, 0x85, 0, 0}, "", ErrUnsupportedPayload}}, 0},
		{"h264 reserved 30", "h264", []step{{1, []byte{0x7e}, "", ErrUnsupportedPayload}}, 0},
		{"h264 reserved 0", "h264", []step{{1, []byte{0x00, 1}, "", ErrUnsupportedPayload}}, 0},

		{"h265 single", "h265", []step{{1, []byte{0x26, 0x01, 0xaf}, "19:af", nil}}, 0},
		{"h265 AP", "h265", []step{{1, stap([]byte{h265AP << 1, 1}, []byte{0x40, 1, 0xc}, []byte{0x42, 1, 0xd}, []byte{0x44, 1, 0xe}), "32:0c 33:0d 34:0e", nil}}, 0},
		{"h265 FU", "h265", []step{{7, fu265(true, false, 19, "\x01"), "", nil}, {8, fu265(false, true, 19, "\x02"), "19:0102", nil}}, 0},
		{"h265 FU lost fragment", "h265", []step{{7, fu265(true, false, 19, "\x01"), "", nil}, {9, fu265(false, true, 19, "\x02"), "", nil},
			{10, []byte{0x02, 0x01, 0xee}, "1:ee", nil}}, 1},
		{"h265 FU start and end", "h265", []step{{1, fu265(true, true, 19, "\x01"), "", ErrBadPayload}}, 0},
		{"h265 FU of an AP", "h265", []step{{1, fu265(true, false, 48, "\x01"), "", ErrBadPayload}}, 0},
		{"h265 FU short", "h265", []step{{1, []byte{h265FU << 1, 1}, "", ErrBadPayload}}, 0},
		{"h265 short", "h265", []step{{1, []byte{0x26}, "", ErrBadPayload}}, 0},
		{"h265 TID 0", "h265", []step{{1, []byte{0x26, 0x00, 1}, "", ErrBadPayload}}, 0},
		{"h265 forbidden bit", "h265", []step{{1, []byte{0xa6, 0x01, 1}, "", ErrBadPayload}}, 0},
		{"h265 AP overrun", "h265", []step{{1, append(stap([]byte{h265AP << 1, 1}, []byte{0x40, 1}), 0, 5, 0x42), "32:", ErrBadPayload}}, 0},
		{"h265 AP unit too short", "h265", []step{{1, stap([]byte{h265AP << 1, 1}, []byte{0x40}), "", ErrBadPayload}}, 0},
		{"h265 AP unit TID 0", "h265", []step{{1, stap([]byte{h265AP << 1, 1}, []byte{0x40, 0}), "", ErrBadPayload}}, 0},
		{"h265 PACI", "h265", []step{{1, []byte{h265PACI << 1, 1, 0, 0}, "", ErrUnsupportedPayload}}, 0},
		{"h265 unspecified 60", "h265", []step{{1, []byte{60 << 1, 1, 0}, "", ErrUnsupportedPayload}}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := NewDepacketizer(tt.codec)
			if err != nil {
				t.Fatal(err)
			}
			for i, s := range tt.steps {
				us, err := d.Push(&rtp.Packet{Header: rtp.Header{SequenceNumber: s.seq}, Payload: s.payload})
				if !errors.Is(err, s.err) || (s.err == nil) != (err == nil) {
					t.Errorf("step %d: error %v, want %v", i, err, s.err)
				}
				if got := describeUnits(tt.codec, us); got != s.want {
					t.Errorf("step %d: NAL units %q, want %q", i, got, s.want)
				}
			}
			if d.Dropped != tt.dropped {
				t.Errorf("dropped %d, want %d", d.Dropped, tt.dropped)
			}
		})
	}
}

// describeUnits writes NAL units as "type:hex" of what follows their header.
func describeUnits(codec string, us []NALU) string {
	hdr := 1
	if codec == CodecH265 {
		hdr = 2
	}
	var parts []string
	for _, u := range us {
		parts = append(parts, strconv.Itoa(int(u.Type))+":"+hex.EncodeToString(u.Data[min(hdr, len(u.Data)):]))
	}
	return strings.Join(parts, " ")
}

// TestDepacketizerFragment reports the type of a fragment whose NAL unit is lost, so
// that a keyframe sent is seen even when it cannot be put together.
func TestDepacketizerFragment(t *testing.T) {
	d, _ := NewDepacketizer(CodecH264)
	d.Push(&rtp.Packet{Header: rtp.Header{SequenceNumber: 5}, Payload: fu264(false, false, 5, "x")})
	if typ, ok := d.Fragment(); !ok || typ != 5 || d.Dropped != 1 {
		t.Errorf("fragment %d %v, dropped %d", typ, ok, d.Dropped)
	}
	d.Push(&rtp.Packet{Header: rtp.Header{SequenceNumber: 6}, Payload: []byte{0x41, 1}})
	if _, ok := d.Fragment(); ok {
		t.Error("a single NAL unit packet reported as a fragment")
	}
	if _, err := d.Push(nil); !errors.Is(err, ErrBadPayload) {
		t.Errorf("nil packet: %v", err)
	}
	if _, err := NewDepacketizer("mjpeg"); err == nil {
		t.Error("NewDepacketizer(mjpeg) succeeded")
	}
}

// TestNALTypes checks the classification helpers against ITU-T H.264 and H.265 table
// 7-1.
func TestNALTypes(t *testing.T) {
	for _, tt := range []struct {
		codec           string
		typ             uint8
		key, vcl, ps, s bool
	}{
		{"h264", 1, false, true, false, false}, {"h264", 5, true, true, false, false}, {"h264", 6, false, false, false, false},
		{"h264", 7, false, false, true, true}, {"h264", 8, false, false, true, false},
		{"h265", 1, false, true, false, false}, {"h265", 16, true, true, false, false}, {"h265", 19, true, true, false, false},
		{"h265", 21, true, true, false, false}, {"h265", 24, false, true, false, false}, {"h265", 32, false, false, true, false},
		{"h265", 33, false, false, true, true}, {"h265", 34, false, false, true, false}, {"h265", 39, false, false, false, false},
		{"vp8", 5, false, false, false, false},
	} {
		if IsKeyframe(tt.codec, tt.typ) != tt.key || IsVCL(tt.codec, tt.typ) != tt.vcl || IsParameterSet(tt.codec, tt.typ) != tt.ps || IsSPS(tt.codec, tt.typ) != tt.s {
			t.Errorf("%s type %d misclassified", tt.codec, tt.typ)
		}
	}
	if typ, ok := NALUType(CodecH265, []byte{0x42, 0x01}); !ok || typ != 33 {
		t.Errorf("H.265 type %d %v", typ, ok)
	}
	if _, ok := NALUType(CodecH265, []byte{0x42}); ok {
		t.Error("H.265 header of 1 byte accepted")
	}
}
