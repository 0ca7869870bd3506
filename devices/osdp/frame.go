package osdp

import (
	"encoding/hex"
	"errors"
	"fmt"
)

// Framing constants (SIA OSDP v2.2, 5.7 "Packet Structure").
const (
	// Mark is the optional byte a sender puts before the start of message.
	Mark = 0xFF
	// SOM is the start-of-message byte that begins every frame.
	SOM = 0x53
	// BroadcastAddr is the configuration address every PD answers.
	BroadcastAddr = 0x7F
	// ReplyBit is set in the address byte of every reply from a PD.
	ReplyBit = 0x80

	ctrlSQN = 0x03 // control byte: sequence number
	ctrlCRC = 0x04 // control byte: 16-bit CRC (else 8-bit checksum)
	ctrlSCB = 0x08 // control byte: security control block present

	headerLen = 5 // SOM, ADDR, LEN_LSB, LEN_MSB, CTRL
	macLen    = 4

	// MaxFrameLen is the longest frame this package sends or accepts.
	MaxFrameLen = 1440
	// minFrameLen is SOM, ADDR, LEN(2), CTRL, CODE and a one-byte checksum.
	minFrameLen = headerLen + 2
)

// Security block types (SIA OSDP v2.2, annex D; libosdp src/osdp_common.h).
const (
	SCS11 = 0x11 // CP to PD: osdp_CHLNG
	SCS12 = 0x12 // PD to CP: osdp_CCRYPT
	SCS13 = 0x13 // CP to PD: osdp_SCRYPT
	SCS14 = 0x14 // PD to CP: osdp_RMAC_I
	SCS15 = 0x15 // CP to PD: MAC, data (if any) in clear
	SCS16 = 0x16 // PD to CP: MAC, data (if any) in clear
	SCS17 = 0x17 // CP to PD: MAC, data encrypted
	SCS18 = 0x18 // PD to CP: MAC, data encrypted
)

// Errors that DecodeFrame wraps; test with errors.Is.
var (
	ErrShortFrame = errors.New("osdp: frame too short")
	ErrSOM        = errors.New("osdp: bad start of message")
	ErrLength     = errors.New("osdp: bad frame length")
	ErrCRC        = errors.New("osdp: bad CRC")
	ErrChecksum   = errors.New("osdp: bad checksum")
	ErrSCB        = errors.New("osdp: bad security block")
	ErrMAC        = errors.New("osdp: bad MAC")
	ErrAddress    = errors.New("osdp: unexpected address")
)

// Frame is one OSDP message, command or reply, without its mark byte.
//
// On the wire: SOM, ADDR (bit 7 set in replies), LEN (two bytes, least significant
// first, counting every byte from SOM to the end of the check), CTRL (bits 0–1
// sequence number, bit 2 CRC, bit 3 security block), the security block if any, the
// command or reply code, its data, a 4-byte MAC for security block types SCS_15 to
// SCS_18, then a CRC-16 (2 bytes, least significant first) or a checksum (1 byte).
type Frame struct {
	Addr  int  // 0–127; 0x7F is the broadcast address
	Reply bool // sent by a PD: address bit 7 set
	SQN   int  // sequence number 0–3
	CRC   bool // 16-bit CRC; false means the 8-bit checksum
	// SCB is the whole security control block: its length byte, its type and its
	// data; nil when there is none.
	SCB  []byte
	Code byte
	Data []byte
	// MAC is the first 4 bytes of the message authentication code; present exactly
	// when SCB's type is SCS_15 to SCS_18.
	MAC []byte

	// raw is the frame as decoded, kept so that a MAC is checked over the bytes that
	// were sent rather than a re-encoding.
	raw []byte
}

// hasMAC reports whether a frame with security block scb carries a MAC.
func hasMAC(scb []byte) bool { return len(scb) >= 2 && scb[1] >= SCS15 && scb[1] <= SCS18 }

// SCBType returns the security block type, or 0 when there is no security block.
func (f *Frame) SCBType() byte {
	if len(f.SCB) < 2 {
		return 0
	}
	return f.SCB[1]
}

// checkLen is the size of the frame's check characters.
func (f *Frame) checkLen() int {
	if f.CRC {
		return 2
	}
	return 1
}

// wireLen is the value of the frame's length field.
func (f *Frame) wireLen() int {
	n := headerLen + len(f.SCB) + 1 + len(f.Data) + f.checkLen()
	if hasMAC(f.SCB) {
		n += macLen
	}
	return n
}

func (f *Frame) validate() error {
	switch {
	case f.Addr < 0 || f.Addr > 0x7F:
		return fmt.Errorf("osdp: address %d out of range", f.Addr)
	case f.SQN < 0 || f.SQN > 3:
		return fmt.Errorf("osdp: sequence number %d out of range", f.SQN)
	case f.SCB != nil && (len(f.SCB) < 2 || int(f.SCB[0]) != len(f.SCB)):
		return fmt.Errorf("%w: length %d", ErrSCB, len(f.SCB))
	case f.wireLen() > MaxFrameLen:
		return fmt.Errorf("%w: %d bytes", ErrLength, f.wireLen())
	}
	return nil
}

// header appends everything before the MAC: header, security block, code, data.
func (f *Frame) header(b []byte) []byte {
	addr := byte(f.Addr)
	if f.Reply {
		addr |= ReplyBit
	}
	ctrl := byte(f.SQN) & ctrlSQN
	if f.CRC {
		ctrl |= ctrlCRC
	}
	if f.SCB != nil {
		ctrl |= ctrlSCB
	}
	n := f.wireLen()
	b = append(b, SOM, addr, byte(n), byte(n>>8), ctrl)
	b = append(b, f.SCB...)
	b = append(b, f.Code)
	return append(b, f.Data...)
}

// macInput returns the bytes a MAC covers: the frame from SOM up to the MAC, with
// the length field counting the MAC. For a decoded frame they are the bytes received.
func (f *Frame) macInput() []byte {
	if f.raw != nil {
		end := len(f.raw) - f.checkLen()
		if hasMAC(f.SCB) {
			end -= macLen
		}
		return f.raw[:end]
	}
	return f.header(nil)
}

// Encode returns the frame's bytes, from SOM to the check characters.
func (f *Frame) Encode() ([]byte, error) {
	if err := f.validate(); err != nil {
		return nil, err
	}
	if hasMAC(f.SCB) != (f.MAC != nil) || (f.MAC != nil && len(f.MAC) != macLen) {
		return nil, fmt.Errorf("%w: MAC of %d bytes with security block type %#x", ErrSCB, len(f.MAC), f.SCBType())
	}
	b := f.header(make([]byte, 0, f.wireLen()))
	b = append(b, f.MAC...)
	if f.CRC {
		c := CRC16(b)
		b = append(b, byte(c), byte(c>>8))
	} else {
		b = append(b, Checksum(b))
	}
	return b, nil
}

// String describes the frame for logs.
func (f *Frame) String() string {
	dir := "cmd"
	if f.Reply {
		dir = "reply"
	}
	s := fmt.Sprintf("%s addr=%d sqn=%d code=%#02x data=%s", dir, f.Addr, f.SQN, f.Code, hex.EncodeToString(f.Data))
	if f.SCB != nil {
		s += fmt.Sprintf(" scb=%s", hex.EncodeToString(f.SCB))
	}
	return s
}

// DecodeFrame decodes exactly one frame, b, starting at SOM (a leading mark byte is
// not accepted here). It checks the length field, the check characters and the
// security block's shape; it does not check a MAC. The returned frame's slices do
// not alias b. It never panics.
func DecodeFrame(b []byte) (*Frame, error) {
	if len(b) < minFrameLen {
		return nil, fmt.Errorf("%w: %d bytes", ErrShortFrame, len(b))
	}
	if b[0] != SOM {
		return nil, fmt.Errorf("%w: %#02x", ErrSOM, b[0])
	}
	n := int(b[2]) | int(b[3])<<8
	if n != len(b) || n > MaxFrameLen {
		return nil, fmt.Errorf("%w: field %d, %d bytes", ErrLength, n, len(b))
	}
	raw := append([]byte(nil), b...)
	ctrl := raw[4]
	f := &Frame{Addr: int(raw[1] & 0x7F), Reply: raw[1]&ReplyBit != 0, SQN: int(ctrl & ctrlSQN), CRC: ctrl&ctrlCRC != 0, raw: raw}
	body := raw[:n-f.checkLen()]
	if f.CRC {
		if n < minFrameLen+1 {
			return nil, fmt.Errorf("%w: %d bytes with CRC", ErrShortFrame, n)
		}
		want := uint16(raw[n-2]) | uint16(raw[n-1])<<8
		if got := CRC16(body); got != want {
			return nil, fmt.Errorf("%w: computed %#04x, frame has %#04x", ErrCRC, got, want)
		}
	} else if got := Checksum(body); got != raw[n-1] {
		return nil, fmt.Errorf("%w: computed %#02x, frame has %#02x", ErrChecksum, got, raw[n-1])
	}
	rest := body[headerLen:]
	if ctrl&ctrlSCB != 0 {
		if len(rest) < 1 || rest[0] < 2 || int(rest[0]) >= len(rest) {
			return nil, fmt.Errorf("%w: length byte does not fit the frame", ErrSCB)
		}
		f.SCB = rest[:rest[0]:rest[0]]
		rest = rest[rest[0]:]
		if hasMAC(f.SCB) {
			if len(rest) < 1+macLen {
				return nil, fmt.Errorf("%w: no room for code and MAC", ErrShortFrame)
			}
			f.MAC = rest[len(rest)-macLen:]
			rest = rest[:len(rest)-macLen]
		}
	}
	if len(rest) < 1 {
		return nil, fmt.Errorf("%w: no code byte", ErrShortFrame)
	}
	f.Code = rest[0]
	f.Data = rest[1:len(rest):len(rest)]
	return f, nil
}

// scanner splits a byte stream into frames, resynchronising on SOM after noise or a
// bad frame.
type scanner struct {
	buf  []byte
	mark bool // the last frame returned was preceded by a mark byte
}

// feed appends bytes read from the line.
func (s *scanner) feed(b []byte) { s.buf = append(s.buf, b...) }

// reset drops everything buffered.
func (s *scanner) reset() { s.buf = s.buf[:0] }

// next returns the next complete frame. ok is false when more bytes are needed. A
// non-nil error reports a bad frame (or noise) that was skipped; the caller may call
// next again. skipped counts bytes dropped that were not mark bytes.
func (s *scanner) next() (f *Frame, err error, ok bool) {
	i := 0
	for i < len(s.buf) && s.buf[i] != SOM {
		i++
	}
	// Keep a mark byte just before SOM until the frame is complete.
	mark := i > 0 && s.buf[i-1] == Mark
	drop := i
	if mark {
		drop = i - 1
	}
	noise := drop > 0 && !allMarks(s.buf[:drop])
	s.buf = s.buf[drop:]
	if noise {
		return nil, fmt.Errorf("%w: %d bytes of noise before SOM", ErrSOM, drop), true
	}
	off := 0
	if mark {
		off = 1
	}
	b := s.buf[off:]
	if len(b) < headerLen {
		s.compact()
		return nil, nil, false
	}
	n := int(b[2]) | int(b[3])<<8
	if n < minFrameLen || n > MaxFrameLen {
		s.buf = s.buf[off+1:] // not a real SOM, or a corrupt length: resync
		return nil, fmt.Errorf("%w: field %d", ErrLength, n), true
	}
	if len(b) < n {
		s.compact()
		return nil, nil, false
	}
	f, err = DecodeFrame(b[:n])
	if err != nil {
		if errors.Is(err, ErrCRC) || errors.Is(err, ErrChecksum) {
			s.buf = s.buf[off+n:] // the whole frame is spoilt
		} else {
			s.buf = s.buf[off+1:]
		}
		return nil, err, true
	}
	s.buf = s.buf[off+n:]
	s.mark = mark
	return f, nil, true
}

func allMarks(b []byte) bool {
	for _, c := range b {
		if c != Mark {
			return false
		}
	}
	return true
}

// compact moves buffered bytes to the front so the buffer does not grow forever.
func (s *scanner) compact() {
	if cap(s.buf) > 4*MaxFrameLen && len(s.buf) < MaxFrameLen {
		s.buf = append([]byte(nil), s.buf...)
	}
}
