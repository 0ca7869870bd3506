package rtsp

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
)

// Codec names, as Track.Codec spells them.
const (
	CodecH264 = "h264"
	CodecH265 = "h265"
)

// MaxNALU bounds one NAL unit reassembled from fragments: a fragmented NAL unit that
// grows beyond it is dropped and its payload counted as bad. An 8-megapixel camera's
// IDR picture at a high bitrate is well under it.
const MaxNALU = 8 << 20

// Errors a Depacketizer returns for a payload it cannot use. Both are wrapped with
// the reason; test them with errors.Is.
var (
	// ErrBadPayload marks an RTP payload that breaks RFC 6184 or RFC 7798: empty,
	// truncated, a length that overruns the packet, a forbidden bit set, a fragment
	// that both starts and ends its NAL unit.
	ErrBadPayload = errors.New("rtsp: bad RTP payload")
	// ErrUnsupportedPayload marks a well-formed payload of a packetisation apedge
	// does not read: H.264 STAP-B, MTAP16, MTAP24 and FU-B (interleaved mode, RFC 6184
	// section 5.4), H.265 PACI (RFC 7798 section 4.4.4), and reserved or unspecified
	// NAL unit types.
	ErrUnsupportedPayload = errors.New("rtsp: unsupported RTP payload")
)

// NALU is one NAL unit out of an RTP stream.
type NALU struct {
	// Type is nal_unit_type: 5 bits for H.264 (ITU-T H.264 table 7-1), 6 bits for
	// H.265 (ITU-T H.265 table 7-1).
	Type uint8
	// Data is the NAL unit with its header (1 byte for H.264, 2 for H.265), without
	// a start code and with its emulation prevention bytes as sent.
	Data []byte
}

// NAL unit types apedge looks at.
const (
	h264NonIDR = 1
	h264IDR    = 5
	h264SEI    = 6
	h264SPS    = 7
	h264PPS    = 8
	h264AUD    = 9
	h264STAPA  = 24
	h264STAPB  = 25
	h264MTAP16 = 26
	h264MTAP24 = 27
	h264FUA    = 28
	h264FUB    = 29

	h265BLAWLP   = 16
	h265CRA      = 21
	h265IRAPMax  = 23 // 22 and 23 are reserved IRAP types
	h265VPS      = 32
	h265SPS      = 33
	h265PPS      = 34
	h265AUD      = 35
	h265AP       = 48
	h265FU       = 49
	h265PACI     = 50
	h265MaxVCL   = 31
	h265MaxValid = 47 // 48..63 are unspecified in ITU-T H.265, used by RFC 7798
)

// IsKeyframe reports whether a NAL unit of type t starts a picture a decoder can
// begin at: an H.264 IDR slice (type 5), an H.265 IRAP picture (types 16 to 23:
// BLA, IDR, CRA and the reserved IRAP types, ITU-T H.265 section 7.4.2.2).
func IsKeyframe(codec string, t uint8) bool {
	switch codec {
	case CodecH264:
		return t == h264IDR
	case CodecH265:
		return t >= h265BLAWLP && t <= h265IRAPMax
	}
	return false
}

// IsVCL reports whether a NAL unit of type t carries coded picture data: H.264 types
// 1 to 5, H.265 types 0 to 31.
func IsVCL(codec string, t uint8) bool {
	switch codec {
	case CodecH264:
		return t >= h264NonIDR && t <= h264IDR
	case CodecH265:
		return t <= h265MaxVCL
	}
	return false
}

// IsParameterSet reports whether a NAL unit of type t is a parameter set: H.264 SPS
// and PPS (7, 8), H.265 VPS, SPS and PPS (32, 33, 34).
func IsParameterSet(codec string, t uint8) bool {
	switch codec {
	case CodecH264:
		return t == h264SPS || t == h264PPS
	case CodecH265:
		return t == h265VPS || t == h265SPS || t == h265PPS
	}
	return false
}

// IsSPS reports whether a NAL unit of type t is a sequence parameter set.
func IsSPS(codec string, t uint8) bool {
	return codec == CodecH264 && t == h264SPS || codec == CodecH265 && t == h265SPS
}

// NALUType returns the nal_unit_type of a NAL unit (header first, no start code), and
// false if b is too short to have a header.
func NALUType(codec string, b []byte) (uint8, bool) {
	switch {
	case codec == CodecH264 && len(b) >= 1:
		return b[0] & 0x1f, true
	case codec == CodecH265 && len(b) >= 2:
		return codecs.H265NALUHeader(binary.BigEndian.Uint16(b)).Type(), true
	}
	return 0, false
}

// fuState is where a Depacketizer is in a fragmented NAL unit.
type fuState uint8

const (
	fuIdle       fuState = iota // between NAL units
	fuAssembling                // start fragment seen, every fragment since in sequence
	fuSkipping                  // a fragment was lost: dropping until the next start
)

// Depacketizer turns the RTP payloads of one H.264 (RFC 6184) or H.265 (RFC 7798)
// stream into NAL units, without decoding. It reads single NAL unit packets,
// aggregation packets (H.264 STAP-A, H.265 AP) and fragmentation units (H.264 FU-A,
// H.265 FU); the interleaved packetisation mode, PACI and DONL fields
// (sprop-max-don-diff > 0) are not read.
//
// A fragmented NAL unit is only put together from fragments in unbroken RTP sequence
// from its start fragment to its end fragment: a sequence gap, a missing start or a
// missing end drops that NAL unit (counted in Dropped) rather than gluing what is left
// into garbage. The types of fragments are still reported (Fragment), so a caller can
// tell that a keyframe was sent even when it cannot be put together.
//
// pion/rtp's codecs.H264Packet and codecs.H265Depacketizer are not used for the
// depacketising itself: they emit Annex-B (start codes to be searched for again,
// ambiguous on corrupt input, and a copy of every payload), keep fragments without
// looking at sequence numbers (H264Packet appends any FU-A to what it holds, start
// bit or not, so a lost fragment glues garbage) and do not say which NAL unit types a
// lost fragment belonged to. The header layouts are read with pion's
// codecs.H265NALUHeader and codecs.H265FragmentationUnitHeader; the rest is the few
// lines of RFC 6184 section 5.7 and 5.8 and RFC 7798 section 4.4.
//
// A Depacketizer is used by one goroutine.
type Depacketizer struct {
	h265 bool

	nalus []NALU // what Push returns, reused

	state   fuState
	fu      []byte // the NAL unit being reassembled, header first
	fuType  uint8
	haveSeq bool
	nextSeq uint16

	fragType uint8 // type of the fragment in the last packet pushed
	fragOK   bool

	// Dropped counts NAL units dropped because a fragment of theirs was lost or
	// came out of order.
	Dropped int
}

// NewDepacketizer returns a Depacketizer for codec "h264" or "h265".
func NewDepacketizer(codec string) (*Depacketizer, error) {
	switch codec {
	case CodecH264:
		return &Depacketizer{}, nil
	case CodecH265:
		return &Depacketizer{h265: true}, nil
	}
	return nil, fmt.Errorf("rtsp: depacketizer: codec %q is neither %s nor %s", clip(codec), CodecH264, CodecH265)
}

// Reset forgets a NAL unit being reassembled and the sequence number expected next,
// as after a sender restart.
func (d *Depacketizer) Reset() {
	if d.state == fuAssembling {
		d.Dropped++
	}
	d.state = fuIdle
	d.fu = d.fu[:0]
	d.haveSeq = false
	d.fragOK = false
}

// Fragment reports the NAL unit type carried by the fragmentation unit in the last
// packet pushed, whether or not its NAL unit could be put together; ok is false when
// that packet was not a fragment (or was refused).
func (d *Depacketizer) Fragment() (naluType uint8, ok bool) { return d.fragType, d.fragOK }

// Push depacketises one RTP packet and returns the NAL units it completes, in order.
// The returned slice, and the Data of NAL units put together from fragments, are
// reused by the next Push; the Data of others aliases p.Payload. An error (wrapping
// ErrBadPayload or ErrUnsupportedPayload) means the payload was refused; the NAL
// units before the fault in an aggregation packet are still returned.
//
// That the packet ends an access unit is its marker bit (RFC 6184 section 5.1, RFC
// 7798 section 4.1); a change of RTP timestamp ends one too, when a marker was lost.
func (d *Depacketizer) Push(p *rtp.Packet) ([]NALU, error) {
	d.nalus = d.nalus[:0]
	d.fragOK = false
	if p == nil {
		return nil, fmt.Errorf("%w: no packet", ErrBadPayload)
	}
	if d.haveSeq && p.SequenceNumber != d.nextSeq && d.state == fuAssembling {
		d.state = fuSkipping
		d.fu = d.fu[:0]
		d.Dropped++
	}
	d.haveSeq, d.nextSeq = true, p.SequenceNumber+1
	var err error
	if d.h265 {
		err = d.push265(p.Payload)
	} else {
		err = d.push264(p.Payload)
	}
	return d.nalus, err
}

// abandon drops a NAL unit being reassembled when a packet that is not its next
// fragment arrives in sequence (a sender that never sent the end fragment).
func (d *Depacketizer) abandon() {
	if d.state == fuAssembling {
		d.Dropped++
	}
	d.state = fuIdle
	d.fu = d.fu[:0]
}

// push264 reads an RFC 6184 payload (section 5.2: the type of its first byte).
func (d *Depacketizer) push264(b []byte) error {
	if len(b) == 0 {
		return fmt.Errorf("%w: empty H.264 payload", ErrBadPayload)
	}
	if b[0]&0x80 != 0 {
		return fmt.Errorf("%w: H.264 forbidden_zero_bit set", ErrBadPayload)
	}
	t := b[0] & 0x1f
	if t != h264FUA {
		d.abandon()
	}
	switch {
	case t >= 1 && t <= 23:
		d.nalus = append(d.nalus, NALU{Type: t, Data: b})
		return nil
	case t == h264STAPA:
		return d.aggregate(b[1:], false)
	case t == h264FUA:
		return d.fragment264(b)
	case t == h264STAPB || t == h264MTAP16 || t == h264MTAP24 || t == h264FUB:
		return fmt.Errorf("%w: H.264 packet type %d (interleaved mode)", ErrUnsupportedPayload, t)
	}
	return fmt.Errorf("%w: reserved H.264 NAL unit type %d", ErrUnsupportedPayload, t)
}

// fragment264 reads an FU-A (RFC 6184 section 5.8): FU indicator, FU header (S, E,
// R, type), then a piece of the NAL unit without its header byte.
func (d *Depacketizer) fragment264(b []byte) error {
	if len(b) < 2 {
		d.abandon()
		return fmt.Errorf("%w: FU-A of %d bytes", ErrBadPayload, len(b))
	}
	start, end, t := b[1]&0x80 != 0, b[1]&0x40 != 0, b[1]&0x1f
	if t == 0 || t >= h264STAPA {
		d.abandon()
		return fmt.Errorf("%w: FU-A carries NAL unit type %d", ErrBadPayload, t)
	}
	return d.fragment(start, end, t, [2]byte{b[0]&0xe0 | t}, 1, b[2:])
}

// fragment265 reads an H.265 FU (RFC 7798 section 4.4.3): payload header (type 49),
// FU header (S, E, type), then a piece of the NAL unit without its 2-byte header.
func (d *Depacketizer) fragment265(b []byte) error {
	if len(b) < 3 {
		d.abandon()
		return fmt.Errorf("%w: H.265 FU of %d bytes", ErrBadPayload, len(b))
	}
	fh := codecs.H265FragmentationUnitHeader(b[2])
	t := fh.FuType()
	if t > h265MaxValid {
		d.abandon()
		return fmt.Errorf("%w: H.265 FU carries NAL unit type %d", ErrBadPayload, t)
	}
	// The NAL unit header is the payload header with the type replaced.
	return d.fragment(fh.S(), fh.E(), t, [2]byte{b[0]&0x81 | t<<1, b[1]}, 2, b[3:])
}

// fragment runs the reassembly of RFC 6184 section 5.8 and RFC 7798 section 4.4.3
// for one fragment of NAL unit type t whose reconstructed header is hdr[:hlen].
func (d *Depacketizer) fragment(start, end bool, t uint8, hdr [2]byte, hlen int, piece []byte) error {
	if start && end {
		d.abandon()
		return fmt.Errorf("%w: fragment with both start and end bits", ErrBadPayload)
	}
	d.fragType, d.fragOK = t, true
	switch {
	case start:
		d.abandon()
		d.state, d.fuType = fuAssembling, t
		d.fu = append(append(d.fu[:0], hdr[:hlen]...), piece...)
	case d.state == fuIdle:
		// The start of this NAL unit was lost (or sent before we joined).
		d.Dropped++
		d.state = fuSkipping
	case d.state == fuSkipping:
	case t != d.fuType:
		d.abandon()
		d.state = fuSkipping
		return fmt.Errorf("%w: fragment of type %d inside a NAL unit of type %d", ErrBadPayload, t, d.fuType)
	case len(d.fu)+len(piece) > MaxNALU:
		d.abandon()
		d.state = fuSkipping
		return fmt.Errorf("%w: fragmented NAL unit over %d bytes", ErrBadPayload, MaxNALU)
	default:
		d.fu = append(d.fu, piece...)
	}
	if end {
		if d.state == fuAssembling {
			d.nalus = append(d.nalus, NALU{Type: t, Data: d.fu})
		}
		d.state = fuIdle
	}
	return nil
}

// aggregate reads the units of an H.264 STAP-A (RFC 6184 section 5.7.1) or an H.265
// AP (RFC 7798 section 4.4.2, without DONL): each a 16-bit size and a NAL unit.
func (d *Depacketizer) aggregate(b []byte, h265 bool) error {
	if len(b) == 0 {
		return fmt.Errorf("%w: aggregation packet without units", ErrBadPayload)
	}
	hdr := 1
	if h265 {
		hdr = 2
	}
	for len(b) > 0 {
		if len(b) < 2 {
			return fmt.Errorf("%w: aggregation packet ends inside a unit size", ErrBadPayload)
		}
		n := int(binary.BigEndian.Uint16(b))
		b = b[2:]
		if n > len(b) {
			return fmt.Errorf("%w: aggregated NAL unit of %d bytes in %d", ErrBadPayload, n, len(b))
		}
		if n < hdr {
			return fmt.Errorf("%w: aggregated NAL unit of %d bytes", ErrBadPayload, n)
		}
		nal := b[:n:n]
		b = b[n:]
		t, err := d.unitType(nal)
		if err != nil {
			return err
		}
		d.nalus = append(d.nalus, NALU{Type: t, Data: nal})
	}
	return nil
}

// unitType checks the header of a NAL unit inside an aggregation packet.
func (d *Depacketizer) unitType(nal []byte) (uint8, error) {
	if d.h265 {
		h := codecs.H265NALUHeader(binary.BigEndian.Uint16(nal))
		switch {
		case h.F():
			return 0, fmt.Errorf("%w: aggregated H.265 NAL unit with forbidden_zero_bit set", ErrBadPayload)
		case h.TID() == 0:
			return 0, fmt.Errorf("%w: aggregated H.265 NAL unit with nuh_temporal_id_plus1 0", ErrBadPayload)
		case h.Type() > h265MaxValid:
			return 0, fmt.Errorf("%w: aggregated H.265 NAL unit of type %d", ErrBadPayload, h.Type())
		}
		return h.Type(), nil
	}
	t := nal[0] & 0x1f
	switch {
	case nal[0]&0x80 != 0:
		return 0, fmt.Errorf("%w: aggregated H.264 NAL unit with forbidden_zero_bit set", ErrBadPayload)
	case t == 0 || t >= h264STAPA:
		return 0, fmt.Errorf("%w: aggregated H.264 NAL unit of type %d", ErrBadPayload, t)
	}
	return t, nil
}

// push265 reads an RFC 7798 payload (section 4.4: the type in its 2-byte payload
// header).
func (d *Depacketizer) push265(b []byte) error {
	if len(b) < 2 {
		return fmt.Errorf("%w: H.265 payload of %d bytes", ErrBadPayload, len(b))
	}
	h := codecs.H265NALUHeader(binary.BigEndian.Uint16(b))
	switch {
	case h.F():
		return fmt.Errorf("%w: H.265 forbidden_zero_bit set", ErrBadPayload)
	case h.TID() == 0:
		return fmt.Errorf("%w: H.265 nuh_temporal_id_plus1 0", ErrBadPayload)
	}
	t := h.Type()
	if t != h265FU {
		d.abandon()
	}
	switch {
	case t <= h265MaxValid:
		d.nalus = append(d.nalus, NALU{Type: t, Data: b})
		return nil
	case t == h265AP:
		return d.aggregate(b[2:], true)
	case t == h265FU:
		return d.fragment265(b)
	case t == h265PACI:
		return fmt.Errorf("%w: H.265 PACI packet", ErrUnsupportedPayload)
	}
	return fmt.Errorf("%w: H.265 payload type %d", ErrUnsupportedPayload, t)
}
