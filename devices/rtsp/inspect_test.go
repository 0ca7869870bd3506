package rtsp

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pion/rtp"
)

// t0 is when the streams of these tests begin to arrive; any instant would do.
var t0 = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

// rtpStream is a fixture packetised as a camera sends it: 10 frames a second (RTP
// timestamps 9000 apart at 90 kHz), the marker bit on each access unit's last packet,
// access unit i arriving from t0 + i*100ms, its packets 1 ms apart.
type rtpStream struct {
	codec string
	pkts  []*rtp.Packet
	at    []time.Time
	au    []int // the access unit of each packet
	aus   int
}

// newStream packetises a fixture with pion's payloaders (MTU 1200), sequence numbers
// from seq0 and timestamps from ts0. keep, if not nil, filters each access unit's NAL
// units first.
func newStream(t testing.TB, file string, seq0 uint16, ts0 uint32, keep func(codec string, nal []byte) bool) *rtpStream {
	t.Helper()
	codec := CodecH264
	if strings.HasSuffix(file, ".h265") {
		codec = CodecH265
	}
	s := &rtpStream{codec: codec}
	seq := seq0
	for i, au := range accessUnits(t, codec, readUnits(t, filepath.Join("testdata", file))) {
		if keep != nil {
			var kept [][]byte
			for _, n := range au {
				if keep(codec, n) {
					kept = append(kept, n)
				}
			}
			au = kept
		}
		pls := payloads(codec, au)
		for j, pl := range pls {
			s.pkts = append(s.pkts, &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: seq, Timestamp: ts0 + uint32(i)*9000,
				SSRC: 0x5eed, Marker: j == len(pls)-1}, Payload: pl})
			s.at = append(s.at, t0.Add(time.Duration(i)*100*time.Millisecond+time.Duration(j)*time.Millisecond))
			s.au = append(s.au, i)
			seq++
		}
		s.aus = i + 1
	}
	return s
}

// feed gives an Inspector the packets i for which send(i) holds (all if nil).
func (s *rtpStream) feed(in *Inspector, send func(i int) bool) {
	for i, p := range s.pkts {
		if send == nil || send(i) {
			in.Packet(p, s.at[i])
		}
	}
}

// bytes is the payload bytes of the packets i for which send(i) holds.
func (s *rtpStream) bytes(send func(i int) bool) int64 {
	var n int64
	for i, p := range s.pkts {
		if send == nil || send(i) {
			n += int64(len(p.Payload))
		}
	}
	return n
}

// near reports whether a and b agree to within 0.1%.
func near(a, b float64) bool { return math.Abs(a-b) <= 0.001*math.Max(math.Abs(a), math.Abs(b)) }

func newTestInspector(t testing.TB, codec string, start time.Time, sets ...[]byte) *Inspector {
	t.Helper()
	in, err := NewInspector(Track{Codec: codec, ClockRate: 90000, ParameterSets: sets}, start)
	if err != nil {
		t.Fatal(err)
	}
	return in
}

// TestInspectorFixtures feeds each fixture, packetised at 10 fps, to an Inspector and
// checks every figure against what ffprobe says of the file (profile, level, size,
// 40 or 10 frames of which 4 or 1 are I frames) and what was sent. The timestamps
// start 2 frames before their 32-bit wrap.
func TestInspectorFixtures(t *testing.T) {
	tests := []struct {
		file, profile, level string
		w, h                 int
		frames, keyframes    int64
		interval             float64
	}{
		{"h264-640x480-10fps.h264", "Main", "2.2", 640, 480, 40, 4, 1},
		{"h265-640x480-10fps.h265", "Main", "3", 640, 480, 40, 4, 1},
		{"h264-320x180-high.h264", "High", "1.1", 320, 180, 10, 1, 0},
		{"h265-320x180.h265", "Main", "2", 320, 180, 10, 1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			s := newStream(t, tt.file, 100, math.MaxUint32-2*9000+1, nil)
			start := t0.Add(-250 * time.Millisecond)
			in := newTestInspector(t, s.codec, start)
			s.feed(in, nil)
			last := s.at[len(s.at)-1]
			st := in.Stats(last.Add(time.Second))
			if st.Codec != s.codec || st.Profile != tt.profile || st.Level != tt.level || st.Width != tt.w || st.Height != tt.h {
				t.Errorf("codec %s %s %s %dx%d, want %s %s %s %dx%d", st.Codec, st.Profile, st.Level, st.Width, st.Height, s.codec, tt.profile, tt.level, tt.w, tt.h)
			}
			if st.Frames != tt.frames || !near(st.FPS, 10) || st.Keyframes != tt.keyframes || !near(st.KeyframeInterval, tt.interval) && tt.interval != st.KeyframeInterval {
				t.Errorf("%d frames at %.3f fps, %d keyframes every %.3f s; want %d at 10, %d every %v", st.Frames, st.FPS, st.Keyframes, st.KeyframeInterval, tt.frames, tt.keyframes, tt.interval)
			}
			if st.Packets != int64(len(s.pkts)) || st.LostPackets != 0 || st.LossPercent != 0 || st.Restarts != 0 || st.ReorderedPackets != 0 ||
				st.BadPayloads != 0 || st.UnsupportedPayloads != 0 || st.DroppedNALUs != 0 || st.StrayPackets != 0 {
				t.Errorf("packets %d (want %d), lost %d (%.2f%%), restarts %d, reordered %d, bad %d, unsupported %d, dropped %d, stray %d",
					st.Packets, len(s.pkts), st.LostPackets, st.LossPercent, st.Restarts, st.ReorderedPackets, st.BadPayloads, st.UnsupportedPayloads, st.DroppedNALUs, st.StrayPackets)
			}
			wantKbps := float64(s.bytes(nil)) * 8 / 1000 / last.Sub(s.at[0]).Seconds()
			if st.Bytes != s.bytes(nil) || !near(st.BitrateKbps, wantKbps) {
				t.Errorf("%d bytes at %.1f kbps, want %d at %.1f", st.Bytes, st.BitrateKbps, s.bytes(nil), wantKbps)
			}
			if !near(st.TimeToFirstPacket, 0.25) || !near(st.TimeToFirstKeyframe, 0.25) || !near(st.SinceLastPacket, 1) ||
				!st.LastFrame.Equal(t0.Add(time.Duration(tt.frames-1)*100*time.Millisecond)) || !st.TimestampChanged.Equal(st.LastFrame) {
				t.Errorf("first packet after %.3f s, first keyframe after %.3f s, last packet %.3f s ago, last frame at %v, timestamp changed at %v",
					st.TimeToFirstPacket, st.TimeToFirstKeyframe, st.SinceLastPacket, st.LastFrame, st.TimestampChanged)
			}
			wantKey := t0.Add(time.Duration((tt.keyframes-1)*10) * 100 * time.Millisecond)
			if !st.LastKeyframe.Equal(wantKey) {
				t.Errorf("last keyframe at %v, want %v", st.LastKeyframe, wantKey)
			}
			kf := in.Keyframe()
			if len(kf) == 0 || st.KeyframeBytes != len(kf) {
				t.Fatalf("keyframe of %d bytes (stats say %d)", len(kf), st.KeyframeBytes)
			}
			checkKeyframe(t, s.codec, kf, tt.w, tt.h)
		})
	}
}

// checkKeyframe checks that a keyframe is Annex-B with the parameter sets and a
// keyframe NAL unit, and, where ffmpeg is installed, that ffmpeg decodes it to a
// picture of w x h.
func checkKeyframe(t *testing.T, codec string, kf []byte, w, h int) {
	t.Helper()
	if !bytes.HasPrefix(kf, []byte{0, 0, 0, 1}) {
		t.Fatalf("keyframe starts %x", kf[:min(8, len(kf))])
	}
	var types []uint8
	for _, n := range annexBUnits(kf) {
		typ, _ := NALUType(codec, n)
		types = append(types, typ)
	}
	hasKey := false
	for _, typ := range types {
		hasKey = hasKey || IsKeyframe(codec, typ)
	}
	if first := types[0]; !hasKey || codec == CodecH264 && first != h264SPS || codec == CodecH265 && first != h265VPS {
		t.Fatalf("keyframe NAL unit types %v", types)
	}
	ffmpeg, err := exec.LookPath("ffmpeg")
	if err != nil {
		t.Log("no ffmpeg: keyframe not decoded")
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	format := "h264"
	if codec == CodecH265 {
		format = "hevc"
	}
	cmd := exec.CommandContext(ctx, ffmpeg, "-v", "error", "-f", format, "-i", "pipe:0", "-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "gray", "pipe:1")
	cmd.Stdin = bytes.NewReader(kf)
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("ffmpeg: %v: %s", err, stderr.String())
	}
	if out.Len() != w*h {
		t.Errorf("ffmpeg decoded %d bytes of grey, want %dx%d", out.Len(), w, h)
	}
}

// TestInspectorLoss drops packets from the middle of access units (never the whole of
// one), across a sequence number wrap from 65530: the loss is exact, frames and
// keyframes are all still seen and the timing is unchanged.
func TestInspectorLoss(t *testing.T) {
	for _, file := range []string{"h264-640x480-10fps.h264", "h265-640x480-10fps.h265"} {
		t.Run(file, func(t *testing.T) {
			s := newStream(t, file, 65530, 1234, nil)
			perAU := map[int]int{}
			for _, a := range s.au {
				perAU[a]++
			}
			dropped := map[int]bool{}
			for i := range s.pkts {
				if i%4 == 2 && perAU[s.au[i]] > 2 && s.au[i-1] == s.au[i] && s.au[i+1] == s.au[i] {
					dropped[i] = true
				}
			}
			if !dropped[6] || len(dropped) < 10 { // packet 6 has sequence number 0
				t.Fatalf("the test drops %d packets (%v)", len(dropped), dropped)
			}
			in := newTestInspector(t, s.codec, t0)
			s.feed(in, func(i int) bool { return !dropped[i] })
			st := in.Stats(s.at[len(s.at)-1])
			wantPct := 100 * float64(len(dropped)) / float64(len(s.pkts))
			if st.LostPackets != int64(len(dropped)) || !near(st.LossPercent, wantPct) || st.Packets != int64(len(s.pkts)-len(dropped)) {
				t.Errorf("lost %d (%.3f%%) of %d received, want %d (%.3f%%)", st.LostPackets, st.LossPercent, st.Packets, len(dropped), wantPct)
			}
			if st.Frames != 40 || st.Keyframes != 4 || !near(st.FPS, 10) || !near(st.KeyframeInterval, 1) || st.Restarts != 0 {
				t.Errorf("%d frames at %.2f fps, %d keyframes every %.2f s, %d restarts", st.Frames, st.FPS, st.Keyframes, st.KeyframeInterval, st.Restarts)
			}
			if st.DroppedNALUs == 0 {
				t.Error("no NAL unit dropped for its lost fragments")
			}
			// A keyframe kept is one that arrived whole.
			if kf := in.Keyframe(); kf != nil {
				checkKeyframe(t, s.codec, kf, 640, 480)
			}
		})
	}
}

// TestInspectorKeyframeNotKeptWhenCut: with a fragment of every keyframe lost, no
// keyframe is kept (none arrived whole), though all are counted.
func TestInspectorKeyframeNotKeptWhenCut(t *testing.T) {
	s := newStream(t, "h264-640x480-10fps.h264", 1, 1, nil)
	drop := map[int]bool{}
	for i := 1; i < len(s.pkts)-1; i++ {
		if s.au[i]%10 == 0 && s.au[i-1] == s.au[i] && s.au[i+1] == s.au[i] && !drop[i-1] && !drop[i-2] && !drop[i-3] {
			drop[i] = true
		}
	}
	in := newTestInspector(t, s.codec, t0)
	s.feed(in, func(i int) bool { return !drop[i] })
	if st := in.Stats(t0); st.Keyframes != 4 || st.KeyframeBytes != 0 || in.Keyframe() != nil {
		t.Errorf("%d keyframes, kept one of %d bytes", st.Keyframes, st.KeyframeBytes)
	}
}

// TestInspectorReorderAndDuplicates: a packet overtaken by the next, and a packet
// sent twice, are no loss.
func TestInspectorReorderAndDuplicates(t *testing.T) {
	s := newStream(t, "h264-640x480-10fps.h264", 65534, 1, nil)
	in := newTestInspector(t, s.codec, t0)
	order := make([]int, 0, len(s.pkts)+1)
	for i := range s.pkts {
		switch i {
		case 2: // 2 after 3, across the wrap
		case 3:
			order = append(order, 3, 2)
		case 50:
			order = append(order, 50, 50)
		default:
			order = append(order, i)
		}
	}
	for _, i := range order {
		in.Packet(s.pkts[i], s.at[i])
	}
	st := in.Stats(t0)
	if st.LostPackets != 0 || st.ReorderedPackets != 1 || st.DuplicatePackets != 1 || st.Frames != 40 || st.Restarts != 0 {
		t.Errorf("lost %d, reordered %d, duplicates %d, frames %d, restarts %d", st.LostPackets, st.ReorderedPackets, st.DuplicatePackets, st.Frames, st.Restarts)
	}
}

// TestInspectorFrozenTimestamps: after 2 s of video the camera goes on sending the
// last picture's packets for 3 s with the same RTP timestamp. Frames stop, packets do
// not: SinceLastFrame and SinceTimestampChanged grow, SinceLastPacket does not.
func TestInspectorFrozenTimestamps(t *testing.T) {
	s := newStream(t, "h264-640x480-10fps.h264", 1, 1, nil)
	in := newTestInspector(t, s.codec, t0)
	var last []int // the packets of access unit 19
	for i := range s.pkts {
		if s.au[i] < 20 {
			in.Packet(s.pkts[i], s.at[i])
		}
		if s.au[i] == 19 {
			last = append(last, i)
		}
	}
	seq := s.pkts[last[len(last)-1]].SequenceNumber
	var at time.Time
	for round := 1; round <= 30; round++ {
		for _, i := range last {
			seq++
			p := *s.pkts[i]
			p.SequenceNumber = seq
			at = s.at[i].Add(time.Duration(round) * 100 * time.Millisecond)
			in.Packet(&p, at)
		}
	}
	st := in.Stats(at)
	lastFrame := t0.Add(1900 * time.Millisecond)
	if st.Frames != 20 || !st.LastFrame.Equal(lastFrame) || !st.TimestampChanged.Equal(lastFrame) || st.SinceLastPacket != 0 ||
		!near(st.SinceLastFrame, at.Sub(lastFrame).Seconds()) || st.SinceLastFrame < 3 || st.SinceTimestampChanged != st.SinceLastFrame || st.LostPackets != 0 {
		t.Errorf("frames %d, last frame %v, timestamp changed %v; since: packet %.2f s, frame %.2f s, timestamp %.2f s; lost %d",
			st.Frames, st.LastFrame, st.TimestampChanged, st.SinceLastPacket, st.SinceLastFrame, st.SinceTimestampChanged, st.LostPackets)
	}
}

// TestInspectorNoPackets: before any packet the ages run from the start time.
func TestInspectorNoPackets(t *testing.T) {
	in := newTestInspector(t, CodecH265, t0)
	st := in.Stats(t0.Add(7 * time.Second))
	if st.Packets != 0 || st.SinceLastPacket != 7 || st.SinceLastFrame != 7 || st.TimeToFirstPacket != 0 || st.FPS != 0 || st.LossPercent != 0 || in.Keyframe() != nil {
		t.Errorf("%+v", st)
	}
	if _, err := NewInspector(Track{Codec: "mjpeg"}, t0); err == nil {
		t.Error("an Inspector for MJPEG")
	}
}

// TestInspectorRestart: halfway through, the sender restarts: a new SSRC, sequence
// numbers 39000 on, timestamps elsewhere. That is one restart, not 39000 lost, and
// the frame rate and keyframe interval are measured on either side of it.
func TestInspectorRestart(t *testing.T) {
	for _, sameSSRC := range []bool{false, true} {
		s := newStream(t, "h265-640x480-10fps.h265", 1000, 5, nil)
		for i, p := range s.pkts {
			if s.au[i] >= 20 {
				p.SequenceNumber += 39000
				p.Timestamp += 1 << 31
				if !sameSSRC {
					p.SSRC = 0xbeef
				}
			}
		}
		in := newTestInspector(t, s.codec, t0)
		s.feed(in, nil)
		st := in.Stats(t0)
		if st.Restarts != 1 || st.LostPackets != 0 || st.StrayPackets != 0 || st.Frames != 40 || st.Keyframes != 4 || !near(st.FPS, 10) ||
			!near(st.KeyframeInterval, 1) || st.DroppedNALUs != 0 || st.Width != 640 {
			t.Errorf("same SSRC %v: restarts %d, lost %d, stray %d, frames %d, keyframes %d, %.2f fps, keyframe interval %.2f, dropped %d, width %d",
				sameSSRC, st.Restarts, st.LostPackets, st.StrayPackets, st.Frames, st.Keyframes, st.FPS, st.KeyframeInterval, st.DroppedNALUs, st.Width)
		}
	}
}

// TestInspectorStrayPacket: one packet with a wild sequence number in the middle of a
// stream is dropped, not taken for a restart or for loss.
func TestInspectorStrayPacket(t *testing.T) {
	s := newStream(t, "h264-640x480-10fps.h264", 1, 1, nil)
	in := newTestInspector(t, s.codec, t0)
	for i, p := range s.pkts {
		if i == 30 {
			in.Packet(&rtp.Packet{Header: rtp.Header{SequenceNumber: 33333, Timestamp: 77, SSRC: p.SSRC}, Payload: []byte{0x41, 1}}, s.at[i])
		}
		in.Packet(p, s.at[i])
	}
	st := in.Stats(t0)
	if st.StrayPackets != 1 || st.Restarts != 0 || st.LostPackets != 0 || st.Frames != 40 {
		t.Errorf("stray %d, restarts %d, lost %d, frames %d", st.StrayPackets, st.Restarts, st.LostPackets, st.Frames)
	}
}

// TestInspectorParameterSets: the SDP's parameter sets give the size before any
// packet, and serve a stream that sends none in-band (its keyframe gets them
// prepended); parameter sets in-band win over the SDP's.
func TestInspectorParameterSets(t *testing.T) {
	small := filepath.Join("testdata", "h264-320x180-high.h264")
	smallSets := [][]byte{firstNAL(t, "h264", small, IsSPS), firstNAL(t, "h264", small, func(_ string, t uint8) bool { return t == h264PPS })}
	in := newTestInspector(t, CodecH264, t0, smallSets...)
	if st := in.Stats(t0); st.Width != 320 || st.Height != 180 || st.Profile != "High" {
		t.Errorf("from the SDP: %s %dx%d", st.Profile, st.Width, st.Height)
	}
	newStream(t, "h264-640x480-10fps.h264", 1, 1, nil).feed(in, nil)
	if st := in.Stats(t0); st.Width != 640 || st.Height != 480 || st.Profile != "Main" {
		t.Errorf("in-band: %s %dx%d", st.Profile, st.Width, st.Height)
	}

	for _, file := range []string{"h264-640x480-10fps.h264", "h265-640x480-10fps.h265"} {
		s := newStream(t, file, 1, 1, func(codec string, n []byte) bool {
			typ, _ := NALUType(codec, n)
			return !IsParameterSet(codec, typ)
		})
		var sets [][]byte
		for _, n := range readUnits(t, filepath.Join("testdata", file)) {
			if typ, _ := NALUType(s.codec, n); IsParameterSet(s.codec, typ) && len(sets) < 3 {
				sets = append(sets, n)
			}
		}
		in := newTestInspector(t, s.codec, t0, sets...)
		s.feed(in, nil)
		st := in.Stats(t0)
		if st.Width != 640 || st.Frames != 40 || st.Keyframes != 4 {
			t.Errorf("%s without in-band parameter sets: width %d, frames %d, keyframes %d", file, st.Width, st.Frames, st.Keyframes)
		}
		checkKeyframe(t, s.codec, in.Keyframe(), 640, 480)
	}

	in = newTestInspector(t, CodecH264, t0, []byte{0x67, 0xff}, []byte{})
	if st := in.Stats(t0); st.BadParameterSets != 1 || st.Width != 0 {
		t.Errorf("a bad SDP SPS: %+v", st)
	}
}

// TestInspectorBadPayloads: garbage, an unsupported packetisation and nil packets
// among a stream's packets are counted and do not disturb the rest.
func TestInspectorBadPayloads(t *testing.T) {
	s := newStream(t, "h264-640x480-10fps.h264", 1, 1, nil)
	var pkts []*rtp.Packet
	var at []time.Time
	seq := uint16(1)
	for i, p := range s.pkts {
		if s.au[i] == 25 && (i == 0 || s.au[i-1] != 25) { // two bad packets before access unit 25
			for _, pl := range [][]byte{{0x80, 0xff}, {0x79, 0, 1}} {
				pkts = append(pkts, &rtp.Packet{Header: rtp.Header{SequenceNumber: seq, Timestamp: p.Timestamp, SSRC: p.SSRC}, Payload: pl})
				at = append(at, s.at[i])
				seq++
			}
		}
		q := *p
		q.SequenceNumber = seq
		seq++
		pkts = append(pkts, &q)
		at = append(at, s.at[i])
	}
	in := newTestInspector(t, s.codec, t0)
	in.Packet(nil, t0)
	for i, p := range pkts {
		in.Packet(p, at[i])
	}
	st := in.Stats(t0)
	if st.BadPayloads != 2 || st.UnsupportedPayloads != 1 || st.Frames != 40 || st.Keyframes != 4 || st.LostPackets != 0 || !near(st.FPS, 10) {
		t.Errorf("bad %d, unsupported %d, frames %d, keyframes %d, lost %d, fps %.2f", st.BadPayloads, st.UnsupportedPayloads, st.Frames, st.Keyframes, st.LostPackets, st.FPS)
	}
}

// TestStatsJSON: the fields the probe's -json output needs are there, camelCase.
func TestStatsJSON(t *testing.T) {
	b, err := json.Marshal(Stats{Codec: "h264", Width: 640, FPS: 10, BitrateKbps: 512})
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"codec", "width", "height", "fps", "bitrateKbps", "lossPercent", "keyframeIntervalSeconds", "sinceLastFrameSeconds"} {
		if _, ok := m[k]; !ok {
			t.Errorf("no %q in %s", k, b)
		}
	}
	if _, ok := m["lastFrame"]; ok {
		t.Errorf("a zero time is in %s", b)
	}
}

// readRTPFile reads a file of testdata/bad/rtp-*: RTP packets, each preceded by its
// length as 2 bytes big-endian.
func readRTPFile(b []byte) ([]*rtp.Packet, error) {
	var out []*rtp.Packet
	for len(b) > 0 {
		if len(b) < 2 {
			return out, errors.New("a length cut short")
		}
		n := int(binary.BigEndian.Uint16(b))
		if len(b) < 2+n {
			return out, errors.New("a packet cut short")
		}
		p := &rtp.Packet{}
		if err := p.Unmarshal(b[2 : 2+n]); err != nil {
			return out, err
		}
		out = append(out, p)
		b = b[2+n:]
	}
	return out, nil
}

// TestBadRTPCorpus: every testdata/bad/rtp-h264-* and rtp-h265-* file is a sequence
// of well-formed RTP packets with a payload that the Depacketizer refuses (ErrBadPayload
// or ErrUnsupportedPayload), and that an Inspector counts as bad or unsupported; nothing
// panics.
func TestBadRTPCorpus(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("testdata", "bad", "rtp-*"))
	if len(files) < 8 {
		t.Fatalf("only %d rtp- files in testdata/bad", len(files))
	}
	for _, f := range files {
		name := filepath.Base(f)
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		codec := strings.SplitN(name, "-", 3)[1]
		pkts, err := readRTPFile(b)
		if err != nil || len(pkts) == 0 {
			t.Errorf("%s: not a file of RTP packets: %v", name, err)
			continue
		}
		d, err := NewDepacketizer(codec)
		if err != nil {
			t.Errorf("%s: name it rtp-h264-... or rtp-h265-...", name)
			continue
		}
		refused := 0
		for _, p := range pkts {
			if _, err := d.Push(p); errors.Is(err, ErrBadPayload) || errors.Is(err, ErrUnsupportedPayload) {
				refused++
			} else if err != nil {
				t.Errorf("%s: error %v wraps neither", name, err)
			}
		}
		in := newTestInspector(t, codec, t0)
		for i, p := range pkts {
			in.Packet(p, t0.Add(time.Duration(i)*time.Millisecond))
		}
		st := in.Stats(t0)
		if refused == 0 || st.BadPayloads+st.UnsupportedPayloads == 0 {
			t.Errorf("%s: %d of %d packets refused, inspector counted %d bad and %d unsupported", name, refused, len(pkts), st.BadPayloads, st.UnsupportedPayloads)
		}
	}
}

// BenchmarkInspector measures an Inspector's cost per RTP packet on the 640x480 H.264
// and H.265 fixtures (about 1 Mbit/s), sequence numbers and timestamps running on.
func BenchmarkInspector(b *testing.B) {
	for _, file := range []string{"h264-640x480-10fps.h264", "h265-640x480-10fps.h265"} {
		b.Run(file, func(b *testing.B) {
			s := newStream(b, file, 1, 1, nil)
			in := newTestInspector(b, s.codec, t0)
			n := len(s.pkts)
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				k := i % n
				loop := i / n
				p := s.pkts[k]
				p.SequenceNumber = uint16(i + 1)
				p.Timestamp = uint32(1 + (loop*s.aus+s.au[k])*9000)
				in.Packet(p, s.at[k].Add(time.Duration(loop)*4*time.Second))
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "packets/s")
			if st := in.Stats(t0); b.N > n && (st.LostPackets != 0 || !near(st.FPS, 10)) {
				b.Fatalf("lost %d, fps %.2f", st.LostPackets, st.FPS)
			}
		})
	}
}
