package rtsp

import (
	"encoding/binary"
	"errors"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/pion/rtp"
)

// The fuzz targets read a sequence of RTP packets from their input as records: a
// 10-byte head (sequence number 2 bytes, timestamp 4, flags 1 — bit 0 the marker,
// bit 1 a second SSRC —, milliseconds since the packet before 1, payload length 2;
// big-endian) and the payload.

// encodeRecords writes packets as fuzz records.
func encodeRecords(pkts []*rtp.Packet) []byte {
	var b []byte
	for _, p := range pkts {
		b = binary.BigEndian.AppendUint16(b, p.SequenceNumber)
		b = binary.BigEndian.AppendUint32(b, p.Timestamp)
		flags := byte(0)
		if p.Marker {
			flags |= 1
		}
		if p.SSRC != 0x5eed {
			flags |= 2
		}
		b = append(b, flags, 3)
		b = binary.BigEndian.AppendUint16(b, uint16(len(p.Payload)))
		b = append(b, p.Payload...)
	}
	return b
}

// decodeRecords reads fuzz records, as many as are whole.
func decodeRecords(b []byte, at time.Time) ([]*rtp.Packet, []time.Time) {
	var pkts []*rtp.Packet
	var ats []time.Time
	for len(b) >= 10 {
		n := int(binary.BigEndian.Uint16(b[8:]))
		if len(b) < 10+n {
			break
		}
		ssrc := uint32(0x5eed)
		if b[6]&2 != 0 {
			ssrc = 0xbeef
		}
		at = at.Add(time.Duration(b[7]) * time.Millisecond)
		pkts = append(pkts, &rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: binary.BigEndian.Uint16(b), Timestamp: binary.BigEndian.Uint32(b[2:]),
			Marker: b[6]&1 != 0, SSRC: ssrc}, Payload: b[10 : 10+n]})
		ats = append(ats, at)
		b = b[10+n:]
	}
	return pkts, ats
}

// addRecordSeeds seeds f with the first packets of the fixtures and with the
// testdata/bad/rtp-* files, as (h265, records).
func addRecordSeeds(f *testing.F) {
	for _, file := range []string{"h264-640x480-10fps.h264", "h265-640x480-10fps.h265", "h264-320x180-high.h264", "h265-320x180.h265"} {
		// The first 12 packets, all but aggregation packets (the parameter sets) cut to
		// 32 bytes: the fuzzer minimises what it finds, slowly for big inputs.
		s := newStream(f, file, 65530, math.MaxUint32-9000, nil)
		pkts := s.pkts[:min(12, len(s.pkts))]
		for _, p := range pkts {
			if packetKind(s.codec, p.Payload) != 'a' {
				p.Payload = p.Payload[:min(32, len(p.Payload))]
			}
		}
		f.Add(s.codec == CodecH265, encodeRecords(pkts))
	}
	files, _ := filepath.Glob(filepath.Join("testdata", "bad", "rtp-*"))
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		pkts, _ := readRTPFile(b)
		f.Add(filepath.Base(p)[4:8] == "h265", encodeRecords(pkts))
	}
}

func FuzzDepacketize(f *testing.F) {
	addRecordSeeds(f)
	f.Fuzz(func(t *testing.T, h265 bool, b []byte) {
		codec, hdr := CodecH264, 1
		if h265 {
			codec, hdr = CodecH265, 2
		}
		d, err := NewDepacketizer(codec)
		if err != nil {
			t.Fatal(err)
		}
		pkts, _ := decodeRecords(b, t0)
		for _, p := range pkts {
			us, err := d.Push(p)
			if err != nil && !errors.Is(err, ErrBadPayload) && !errors.Is(err, ErrUnsupportedPayload) {
				t.Fatalf("error %v wraps neither ErrBadPayload nor ErrUnsupportedPayload", err)
			}
			for _, u := range us {
				typ, ok := NALUType(codec, u.Data)
				if !ok || len(u.Data) < hdr || typ != u.Type || len(u.Data) > MaxNALU {
					t.Fatalf("NAL unit of type %d, %d bytes: %x", u.Type, len(u.Data), u.Data[:min(8, len(u.Data))])
				}
			}
		}
		if d.Dropped < 0 || d.Dropped > len(pkts) {
			t.Fatalf("dropped %d of %d packets", d.Dropped, len(pkts))
		}
	})
}

func FuzzInspector(f *testing.F) {
	addRecordSeeds(f)
	f.Fuzz(func(t *testing.T, h265 bool, b []byte) {
		codec := CodecH264
		if h265 {
			codec = CodecH265
		}
		in := newTestInspector(t, codec, t0)
		pkts, ats := decodeRecords(b, t0)
		for i, p := range pkts {
			in.Packet(p, ats[i])
		}
		now := t0.Add(time.Hour)
		st := in.Stats(now)
		finite := func(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) && v >= 0 }
		if st.Packets != int64(len(pkts)) || st.LostPackets < 0 || st.LossPercent < 0 || st.LossPercent > 100 || !finite(st.FPS) ||
			!finite(st.KeyframeInterval) || !finite(st.BitrateKbps) || st.Frames > st.Packets || st.Keyframes > st.Frames ||
			st.KeyframeBytes > MaxKeyframe || st.Width < 0 || st.Height < 0 || st.SinceLastPacket < 0 {
			t.Fatalf("stats out of bounds: %+v", st)
		}
		if kf := in.Keyframe(); len(kf) != st.KeyframeBytes {
			t.Fatalf("keyframe of %d bytes, stats say %d", len(kf), st.KeyframeBytes)
		}
	})
}
