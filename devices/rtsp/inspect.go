package rtsp

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/pion/rtp"
)

// MaxKeyframe bounds the keyframe an Inspector keeps (Keyframe): an access unit
// bigger than this, parameter sets included, is not kept.
const MaxKeyframe = 2 << 20

// Inspector limits.
const (
	// maxDropout and maxMisorder are RFC 3550 appendix A.1's: a sequence number up to
	// maxDropout ahead is in order (the packets between lost), up to maxMisorder
	// behind is late; anything else is a jump, taken as a sender restart once the
	// packet after it follows on.
	maxDropout  = 3000
	maxMisorder = 100
	// fpsWindow is how many of the latest frames the frame rate is measured over.
	fpsWindow = 64
	// maxTimestampJump is the largest RTP timestamp step between two frames taken as
	// time passing (in seconds); a bigger one is a discontinuity that the frame rate
	// and the keyframe interval are not measured across.
	maxTimestampJump = 10
	// maxParameterSet bounds a parameter set kept to prepend to the keyframe.
	maxParameterSet = 64 << 10
	// defaultClockRate is the RTP clock of video (RFC 6184 section 8.2.1, RFC 7798
	// section 7.1).
	defaultClockRate = 90000
)

// Stats is what an Inspector has measured of a video track. Durations are in
// seconds; Since* are measured to the time given to Stats, from the start time when
// there has been no such event yet.
type Stats struct {
	// Codec is "h264" or "h265". Profile, Level and the sizes are from the latest
	// SPS that parsed (in-band, else the SDP's sprop parameter sets); empty or 0 until
	// there is one. SPSFPS is the frame rate its VUI announces, 0 if none.
	Codec       string  `json:"codec"`
	Profile     string  `json:"profile,omitempty"`
	Level       string  `json:"level,omitempty"`
	Width       int     `json:"width"`
	Height      int     `json:"height"`
	CodedWidth  int     `json:"codedWidth"`
	CodedHeight int     `json:"codedHeight"`
	SPSFPS      float64 `json:"spsFps,omitempty"`

	// Packets and Bytes count the RTP packets received and their payload bytes.
	Packets int64 `json:"packets"`
	Bytes   int64 `json:"bytes"`
	// LostPackets is the packets missing from the RTP sequence numbers (16-bit, with
	// wrap; RFC 3550 appendix A.3), less those that came late; LossPercent is them as
	// a share of the packets expected.
	LostPackets int64   `json:"lostPackets"`
	LossPercent float64 `json:"lossPercent"`
	// ReorderedPackets came after a later one; DuplicatePackets came twice.
	ReorderedPackets int64 `json:"reorderedPackets"`
	DuplicatePackets int64 `json:"duplicatePackets"`
	// Restarts counts jumps of sequence number or SSRC, followed on by the next
	// packet, taken as the sender restarting (counting starts afresh, not as loss);
	// StrayPackets are jumps that nothing followed on, dropped.
	Restarts     int64 `json:"restarts"`
	StrayPackets int64 `json:"strayPackets"`

	// Frames counts access units with picture data, one per RTP timestamp; FPS is
	// their rate from the RTP timestamps of the latest frames (fpsWindow).
	Frames int64   `json:"frames"`
	FPS    float64 `json:"fps"`
	// Keyframes counts access units with an IDR (H.264) or IRAP (H.265) picture, seen
	// even when a fragment of it was lost; KeyframeInterval is the mean RTP time
	// between them.
	Keyframes        int64   `json:"keyframes"`
	KeyframeInterval float64 `json:"keyframeIntervalSeconds"`
	// BitrateKbps is Bytes over the time from the first packet's arrival to the last.
	BitrateKbps float64 `json:"bitrateKbps"`

	// BadPayloads and UnsupportedPayloads count payloads the Depacketizer refused
	// (ErrBadPayload, ErrUnsupportedPayload); DroppedNALUs NAL units lost with a
	// fragment; BadParameterSets SPS units that did not parse.
	BadPayloads         int64 `json:"badPayloads"`
	UnsupportedPayloads int64 `json:"unsupportedPayloads"`
	DroppedNALUs        int64 `json:"droppedNalus"`
	BadParameterSets    int64 `json:"badParameterSets"`

	// TimeToFirstPacket and TimeToFirstKeyframe are from the start time; 0 until
	// there is one (see Packets and Keyframes).
	TimeToFirstPacket   float64 `json:"timeToFirstPacketSeconds"`
	TimeToFirstKeyframe float64 `json:"timeToFirstKeyframeSeconds"`
	// FirstPacket and LastPacket are arrival times; LastFrame is when the latest
	// frame began to arrive; LastKeyframe when the latest keyframe did;
	// TimestampChanged when a packet last came with a new RTP timestamp. Packets
	// arriving while TimestampChanged grows old are a stream whose timestamps are
	// frozen.
	FirstPacket      time.Time `json:"firstPacket,omitzero"`
	LastPacket       time.Time `json:"lastPacket,omitzero"`
	LastFrame        time.Time `json:"lastFrame,omitzero"`
	LastKeyframe     time.Time `json:"lastKeyframe,omitzero"`
	TimestampChanged time.Time `json:"timestampChanged,omitzero"`
	// SinceLastPacket, SinceLastFrame and SinceTimestampChanged are the ages of
	// those. A session that is up with SinceLastFrame over a threshold is stalled:
	// no media, or media whose timestamps do not move.
	SinceLastPacket       float64 `json:"sinceLastPacketSeconds"`
	SinceLastFrame        float64 `json:"sinceLastFrameSeconds"`
	SinceTimestampChanged float64 `json:"sinceTimestampChangedSeconds"`

	// KeyframeBytes is the size of the keyframe Keyframe returns, 0 if none yet.
	KeyframeBytes int `json:"keyframeBytes"`
}

// Inspector measures one H.264 or H.265 video track from its RTP packets, without
// decoding: see Stats. Feed it every RTP packet of the track with its arrival time.
// It also keeps the latest keyframe that arrived whole (Keyframe): every packet of
// its access unit in sequence, up to its marker bit or the next timestamp. Its
// methods may be called from several goroutines.
type Inspector struct {
	mu    sync.Mutex
	codec string
	clock int64
	start time.Time
	dep   *Depacketizer

	// The parameter sets in force, VPS (H.265), SPS, PPS, and what the SPS says.
	params    [3][]byte
	sps       SPS
	haveSPS   bool
	badParams int64

	packets, bytes   int64
	firstAt, lastAt  time.Time
	bad, unsupported int64
	seq              seqCounter
	pending          pendingPacket
	droppedSeen      int

	haveTS    bool
	ts        int64 // unwrapped RTP timestamp of the current access unit
	tsAt      time.Time
	frames    int64
	lastFrame time.Time
	ring      [fpsWindow]int64 // unwrapped timestamps of the latest frames
	ringLen   int
	ringNext  int

	keyframes               int64
	firstKeyAt, lastKeyAt   time.Time
	prevKeyTS               int64
	havePrevKey             bool
	intervalSum, intervalsN int64

	au accessUnit
	kf []byte // the latest whole keyframe, Annex-B, parameter sets first
}

// accessUnit is the access unit being received.
type accessUnit struct {
	ts        int64
	clean     bool // every packet in sequence, nothing refused or dropped
	marked    bool // its marker bit came
	vcl, key  bool // it has picture data; a keyframe picture
	keyNAL    bool // a keyframe NAL unit arrived whole
	startAt   time.Time
	capture   bool // it may still be a keyframe to keep: buf holds its NAL units
	buf       []byte
	hasParam  [3]bool
	committed int // len(buf) when last kept
}

// pendingPacket is a packet after a jump, kept until the next tells whether the
// sender restarted.
type pendingPacket struct {
	ok      bool
	p       rtp.Packet
	payload []byte
	at      time.Time
}

// NewInspector returns an Inspector for track (its Codec, ClockRate and
// ParameterSets: an SDP's parameter sets are used until the stream sends its own),
// measuring times from start, when the caller began to connect.
func NewInspector(track Track, start time.Time) (*Inspector, error) {
	dep, err := NewDepacketizer(track.Codec)
	if err != nil {
		return nil, fmt.Errorf("rtsp: inspector: %w", err)
	}
	in := &Inspector{codec: track.Codec, clock: int64(track.ClockRate), start: start, dep: dep}
	if in.clock == 0 {
		in.clock = defaultClockRate
	}
	for _, ps := range track.ParameterSets {
		if t, ok := NALUType(in.codec, ps); ok {
			in.setParam(t, ps)
		}
	}
	return in, nil
}

// Packet feeds one RTP packet of the track, arrived at at. Nothing is an error: what
// cannot be used is counted (Stats).
func (in *Inspector) Packet(p *rtp.Packet, at time.Time) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if p == nil {
		in.bad++
		return
	}
	in.packets++
	in.bytes += int64(len(p.Payload))
	if in.firstAt.IsZero() {
		in.firstAt = at
	}
	if at.After(in.lastAt) {
		in.lastAt = at
	}
	switch v, gap := in.seq.update(p.SSRC, p.SequenceNumber); v {
	case seqInOrder:
		in.pending.ok = false
		in.payload(p, at, gap > 0)
	case seqProbation:
		in.pending = pendingPacket{ok: true, p: *p, payload: append(in.pending.payload[:0], p.Payload...), at: at}
		in.pending.p.Payload = in.pending.payload
	case seqRestart:
		in.restart()
		if in.pending.ok {
			in.payload(&in.pending.p, in.pending.at, false)
			in.pending.ok = false
		}
		in.payload(p, at, false)
	}
	// Late and duplicate packets count for the loss figures only: their access
	// unit has been judged.
}

// restart forgets the stream's timing after a sender restart.
func (in *Inspector) restart() {
	in.endAU(true)
	in.dep.Reset()
	in.droppedSeen = in.dep.Dropped
	in.haveTS = false
	in.discontinuity()
}

// discontinuity forgets the frame and keyframe timestamps that a jump of RTP
// timestamps (or a restart) makes meaningless to measure from.
func (in *Inspector) discontinuity() {
	in.ringLen, in.ringNext = 0, 0
	in.havePrevKey = false
}

// payload handles a packet in sequence; gap is whether packets were lost just before
// it.
func (in *Inspector) payload(p *rtp.Packet, at time.Time, gap bool) {
	if !in.haveTS {
		in.haveTS, in.ts, in.tsAt = true, int64(p.Timestamp), at
		in.startAU(gap, at)
	} else if d := int64(int32(p.Timestamp - uint32(in.ts))); d != 0 {
		in.endAU(gap)
		if d > maxTimestampJump*in.clock || d < -maxTimestampJump*in.clock {
			in.discontinuity()
		}
		in.ts += d
		in.tsAt = at
		in.startAU(gap, at)
	} else {
		if gap {
			in.au.clean = false
		}
		// Packets after the marker bit with its timestamp (a sender repeating itself)
		// are not added to the keyframe kept.
		if in.au.marked {
			in.au.capture = false
		}
	}

	nalus, err := in.dep.Push(p)
	switch {
	case errors.Is(err, ErrUnsupportedPayload):
		in.unsupported++
		in.au.clean = false
	case err != nil:
		in.bad++
		in.au.clean = false
	}
	if in.dep.Dropped != in.droppedSeen {
		in.droppedSeen = in.dep.Dropped
		in.au.clean = false
	}
	for _, n := range nalus {
		in.nalu(n)
	}
	if t, ok := in.dep.Fragment(); ok {
		in.picture(t)
	}
	if p.Marker {
		in.au.marked = true
		in.commit()
	}
}

// startAU begins the access unit of timestamp in.ts.
func (in *Inspector) startAU(gap bool, at time.Time) {
	in.au = accessUnit{ts: in.ts, clean: !gap, capture: true, buf: in.au.buf[:0], startAt: at}
}

// endAU ends the current access unit; gap is whether packets were lost before the
// next, which may have been the end of this one.
func (in *Inspector) endAU(gap bool) {
	if gap && !in.au.marked {
		in.au.clean = false
	}
	in.commit()
}

// picture notes a NAL unit (or fragment) of type t in the current access unit:
// picture data makes it a frame, and a keyframe if t says so, arrived when the access
// unit's first packet did.
func (in *Inspector) picture(t uint8) {
	if !IsVCL(in.codec, t) {
		return
	}
	au := &in.au
	if !au.vcl {
		au.vcl = true
		in.frames++
		in.lastFrame = au.startAt
		in.ring[in.ringNext] = au.ts
		in.ringNext = (in.ringNext + 1) % fpsWindow
		in.ringLen = min(in.ringLen+1, fpsWindow)
	}
	if !IsKeyframe(in.codec, t) {
		au.capture = false
		return
	}
	if au.key {
		return
	}
	au.key = true
	in.keyframes++
	in.lastKeyAt = au.startAt
	if in.firstKeyAt.IsZero() {
		in.firstKeyAt = au.startAt
	}
	if in.havePrevKey {
		if d := au.ts - in.prevKeyTS; d > 0 && d <= maxTimestampJump*in.clock {
			in.intervalSum += d
			in.intervalsN++
		}
	}
	in.prevKeyTS, in.havePrevKey = au.ts, true
}

// nalu handles one NAL unit of the current access unit.
func (in *Inspector) nalu(n NALU) {
	in.picture(n.Type)
	au := &in.au
	if i := in.paramIndex(n.Type); i >= 0 {
		in.setParam(n.Type, n.Data)
		au.hasParam[i] = true
	}
	if !au.capture {
		return
	}
	if len(au.buf)+4+len(n.Data) > MaxKeyframe {
		au.capture = false
		return
	}
	au.buf = append(append(au.buf, 0, 0, 0, 1), n.Data...)
	if IsKeyframe(in.codec, n.Type) {
		au.keyNAL = true
	}
}

// commit keeps the current access unit as the latest keyframe if it is one and
// arrived whole, with the parameter sets it needs before it.
func (in *Inspector) commit() {
	au := &in.au
	if !au.key || !au.keyNAL || !au.clean || !au.capture || len(au.buf) == au.committed {
		return
	}
	need := 2 // SPS, PPS
	if in.codec == CodecH265 {
		need = 3 // VPS too
	}
	size := len(au.buf)
	for i := 3 - need; i < 3; i++ {
		if !au.hasParam[i] {
			if in.params[i] == nil {
				return
			}
			size += 4 + len(in.params[i])
		}
	}
	if size > MaxKeyframe {
		return
	}
	in.kf = in.kf[:0]
	for i := 3 - need; i < 3; i++ {
		if !au.hasParam[i] {
			in.kf = append(append(in.kf, 0, 0, 0, 1), in.params[i]...)
		}
	}
	in.kf = append(in.kf, au.buf...)
	au.committed = len(au.buf)
}

// paramIndex is where a parameter set of type t goes in params (VPS 0, SPS 1, PPS 2),
// -1 for other types.
func (in *Inspector) paramIndex(t uint8) int {
	switch {
	case in.codec == CodecH265 && t == h265VPS:
		return 0
	case IsSPS(in.codec, t):
		return 1
	case in.codec == CodecH264 && t == h264PPS, in.codec == CodecH265 && t == h265PPS:
		return 2
	}
	return -1
}

// setParam keeps a parameter set, parsing it if it is a new SPS.
func (in *Inspector) setParam(t uint8, b []byte) {
	i := in.paramIndex(t)
	if i < 0 || len(b) > maxParameterSet || bytes.Equal(in.params[i], b) {
		return
	}
	in.params[i] = append(in.params[i][:0], b...)
	if i != 1 {
		return
	}
	s, err := ParseSPS(in.codec, b)
	if err != nil {
		in.badParams++
		return
	}
	in.sps, in.haveSPS = s, true
}

// Stats returns what has been measured, with ages as of now.
func (in *Inspector) Stats(now time.Time) Stats {
	in.mu.Lock()
	defer in.mu.Unlock()
	s := Stats{
		Codec:               in.codec,
		Packets:             in.packets,
		Bytes:               in.bytes,
		ReorderedPackets:    in.seq.reordered,
		DuplicatePackets:    in.seq.duplicates,
		Restarts:            in.seq.restarts,
		StrayPackets:        in.seq.stray,
		Frames:              in.frames,
		Keyframes:           in.keyframes,
		BadPayloads:         in.bad,
		UnsupportedPayloads: in.unsupported,
		DroppedNALUs:        int64(in.dep.Dropped),
		BadParameterSets:    in.badParams,
		FirstPacket:         in.firstAt,
		LastPacket:          in.lastAt,
		LastFrame:           in.lastFrame,
		LastKeyframe:        in.lastKeyAt,
		KeyframeBytes:       len(in.kf),
	}
	if in.haveTS {
		s.TimestampChanged = in.tsAt
	}
	if in.haveSPS {
		s.Profile, s.Level, s.SPSFPS = in.sps.Profile, in.sps.Level, in.sps.FPS
		s.Width, s.Height, s.CodedWidth, s.CodedHeight = in.sps.Width, in.sps.Height, in.sps.CodedWidth, in.sps.CodedHeight
	}
	var expected int64
	s.LostPackets, expected = in.seq.loss()
	if expected > 0 {
		s.LossPercent = 100 * float64(s.LostPackets) / float64(expected)
	}
	if in.ringLen >= 2 {
		lo, hi := in.ring[0], in.ring[0]
		for _, ts := range in.ring[:in.ringLen] {
			lo, hi = min(lo, ts), max(hi, ts)
		}
		if hi > lo {
			s.FPS = float64(in.ringLen-1) * float64(in.clock) / float64(hi-lo)
		}
	}
	if in.intervalsN > 0 {
		s.KeyframeInterval = float64(in.intervalSum) / float64(in.intervalsN) / float64(in.clock)
	}
	if span := in.lastAt.Sub(in.firstAt).Seconds(); span > 0 {
		s.BitrateKbps = float64(in.bytes) * 8 / 1000 / span
	}
	if in.packets > 0 {
		s.TimeToFirstPacket = in.firstAt.Sub(in.start).Seconds()
	}
	if in.keyframes > 0 {
		s.TimeToFirstKeyframe = in.firstKeyAt.Sub(in.start).Seconds()
	}
	age := func(t time.Time) float64 {
		if t.IsZero() {
			t = in.start
		}
		return now.Sub(t).Seconds()
	}
	s.SinceLastPacket, s.SinceLastFrame, s.SinceTimestampChanged = age(s.LastPacket), age(s.LastFrame), age(s.TimestampChanged)
	return s
}

// Keyframe returns a copy of the latest keyframe access unit that arrived whole, as
// an Annex-B stream with the parameter sets it needs first (what `ffmpeg -f h264 -i
// pipe:` or `-f hevc` reads), or nil if none has yet.
func (in *Inspector) Keyframe() []byte {
	in.mu.Lock()
	defer in.mu.Unlock()
	if len(in.kf) == 0 {
		return nil
	}
	return bytes.Clone(in.kf)
}

// seqVerdict is what a sequence number says about its packet.
type seqVerdict uint8

const (
	seqInOrder   seqVerdict = iota // next, or ahead with the packets between lost
	seqLate                        // behind the highest, not seen before
	seqDuplicate                   // seen before
	seqProbation                   // a jump: a restart if the next follows on
	seqRestart                     // followed on from a jump: a new sequence
)

// seqCounter counts RTP sequence numbers as RFC 3550 appendix A.1 and A.3 do, over
// segments between sender restarts.
type seqCounter struct {
	started  bool
	ssrc     uint32
	max      uint16
	cycles   int64  // 65536 times the wraps of max
	base     int64  // extended sequence number of the segment's first packet
	received int64  // packets of the segment
	window   uint64 // bit i: packet max-i received

	probation bool
	probSeq   uint16
	probSSRC  uint32

	doneExpected, doneLost                 int64 // of segments before
	restarts, stray, reordered, duplicates int64
}

// init starts a segment at seq.
func (s *seqCounter) init(ssrc uint32, seq uint16) {
	s.started, s.ssrc, s.max, s.cycles = true, ssrc, seq, 0
	s.base, s.received, s.window = int64(seq), 1, 1
}

// update counts a packet, returning its verdict and, in order, how many packets are
// missing just before it.
func (s *seqCounter) update(ssrc uint32, seq uint16) (seqVerdict, int) {
	if !s.started {
		s.init(ssrc, seq)
		return seqInOrder, 0
	}
	if ssrc == s.ssrc {
		delta := seq - s.max
		switch {
		case delta == 0:
			s.duplicates++
			return seqDuplicate, 0
		case delta < maxDropout:
			if seq < s.max {
				s.cycles += 1 << 16
			}
			if delta >= 64 {
				s.window = 0
			} else {
				s.window <<= delta
			}
			s.window |= 1
			s.max = seq
			s.received++
			if s.probation {
				s.probation = false
				s.stray++
			}
			return seqInOrder, int(delta) - 1
		case delta > 1<<16-maxMisorder:
			back := 1<<16 - int(delta)
			if back < 64 {
				if s.window&(1<<back) != 0 {
					s.duplicates++
					return seqDuplicate, 0
				}
				s.window |= 1 << back
			}
			s.reordered++
			if s.cycles+int64(s.max)-int64(back) >= s.base {
				s.received++
			}
			return seqLate, 0
		}
	}
	if s.probation && ssrc == s.probSSRC && seq == s.probSeq+1 {
		expected := s.cycles + int64(s.max) - s.base + 1
		s.doneExpected += expected
		s.doneLost += max(0, expected-s.received)
		s.init(ssrc, seq-1)
		s.max, s.received, s.window = seq, 2, 3
		if seq == 0 {
			s.cycles = 1 << 16
		}
		s.probation = false
		s.restarts++
		return seqRestart, 0
	}
	if s.probation {
		s.stray++
	}
	s.probation, s.probSeq, s.probSSRC = true, seq, ssrc
	return seqProbation, 0
}

// loss returns the packets lost and expected over all segments.
func (s *seqCounter) loss() (lost, expected int64) {
	if !s.started {
		return 0, 0
	}
	e := s.cycles + int64(s.max) - s.base + 1
	return s.doneLost + max(0, e-s.received), s.doneExpected + e
}
