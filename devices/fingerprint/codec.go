package fingerprint

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"sync"
)

// Constants of the packet format (see the package doc).
const (
	// HeaderHigh and HeaderLow are the two bytes every packet starts with, EF 01.
	HeaderHigh, HeaderLow = 0xEF, 0x01
	// DefaultAddress is a module's address until it is given another.
	DefaultAddress uint32 = 0xFFFFFFFF
	// DefaultPassword is a module's password until it is given another; a module
	// with it does not ask for it to be verified.
	DefaultPassword uint32 = 0
	// DefaultBaud is the line's rate until SetSysPara changes it: 9600 x 6.
	DefaultBaud = 57600
	// MaxPayload is the most bytes a payload may have: the content of a data
	// packet at packet size code 3.
	MaxPayload = 256
	// headerLen is the bytes before the payload: header, address, identifier,
	// length.
	headerLen = 9
	// minLength and maxLength bound the length field: a payload of at least one
	// byte, and the checksum.
	minLength, maxLength = 3, MaxPayload + 2
)

// Packet identifiers.
const (
	// PIDCommand marks a command, from the host.
	PIDCommand byte = 0x01
	// PIDData marks a data packet with more to follow.
	PIDData byte = 0x02
	// PIDAck marks an acknowledgement, the module's reply to a command.
	PIDAck byte = 0x07
	// PIDEndData marks the last data packet.
	PIDEndData byte = 0x08
)

// validPID says pid is one of the four packet identifiers.
func validPID(pid byte) bool {
	return pid == PIDCommand || pid == PIDData || pid == PIDAck || pid == PIDEndData
}

// Packet is one packet: the module address it is to or from, its identifier
// (PIDCommand, PIDData, PIDAck, PIDEndData) and its payload.
type Packet struct {
	Address uint32
	PID     byte
	Payload []byte
}

// ErrFrame marks bytes that are not a good packet, or a packet that cannot be
// encoded. Errors wrapping it are *FrameError.
var ErrFrame = errors.New("fingerprint: bad frame")

// Causes of bad frames: FrameError's Cause, and the keys of Reader's Bad.
const (
	// CauseGarbage: bytes outside any packet (before a header, or after a
	// packet in what Decode is given).
	CauseGarbage = "garbage"
	// CauseTruncated: a packet the stream (or what Decode is given) ends in the
	// middle of.
	CauseTruncated = "truncated"
	// CausePID: a packet identifier that is none of the four.
	CausePID = "pid"
	// CauseLength: a length below 3 or above MaxPayload+2.
	CauseLength = "length"
	// CauseChecksum: a checksum that does not match the packet.
	CauseChecksum = "checksum"
	// CauseAddress: a good packet for or from another address.
	CauseAddress = "address"
	// CauseStale: a good packet no one was waiting for (a late reply), dropped by
	// Reader.Discard.
	CauseStale = "stale"
)

// FrameError is a bad frame: why (Cause, one of the Cause constants) and what
// exactly (Detail). It wraps ErrFrame.
type FrameError struct {
	Cause, Detail string
}

// Error returns "fingerprint: bad frame (cause): detail".
func (e *FrameError) Error() string {
	return "fingerprint: bad frame (" + e.Cause + "): " + e.Detail
}

// Unwrap returns ErrFrame.
func (e *FrameError) Unwrap() error { return ErrFrame }

// CauseOf returns the cause of a bad frame error, or "" if err is not one.
func CauseOf(err error) string {
	if fe, ok := errors.AsType[*FrameError](err); ok {
		return fe.Cause
	}
	return ""
}

// badFrame returns a *FrameError.
func badFrame(cause, format string, args ...any) *FrameError {
	return &FrameError{Cause: cause, Detail: fmt.Sprintf(format, args...)}
}

// Checksum returns the checksum of a packet with identifier pid and payload:
// the sum of pid, the two bytes of the length field and the payload's bytes,
// modulo 65536.
func Checksum(pid byte, payload []byte) uint16 {
	n := len(payload) + 2
	sum := uint16(pid) + uint16(n>>8&0xFF) + uint16(n&0xFF)
	for _, b := range payload {
		sum += uint16(b)
	}
	return sum
}

// Encode returns the packet's bytes. It refuses, with a *FrameError, an
// identifier that is none of the four (CausePID) or a payload empty or longer
// than MaxPayload (CauseLength).
func (p Packet) Encode() ([]byte, error) {
	if !validPID(p.PID) {
		return nil, badFrame(CausePID, "packet identifier %#02x", p.PID)
	}
	if len(p.Payload) == 0 || len(p.Payload) > MaxPayload {
		return nil, badFrame(CauseLength, "payload of %d bytes, want 1 to %d", len(p.Payload), MaxPayload)
	}
	n := len(p.Payload) + 2
	b := make([]byte, 0, headerLen+n)
	b = append(b, HeaderHigh, HeaderLow,
		byte(p.Address>>24), byte(p.Address>>16), byte(p.Address>>8), byte(p.Address),
		p.PID, byte(n>>8), byte(n))
	b = append(b, p.Payload...)
	sum := Checksum(p.PID, p.Payload)
	return append(b, byte(sum>>8), byte(sum)), nil
}

// String returns the packet as its hex bytes, or why it cannot be encoded.
func (p Packet) String() string {
	b, err := p.Encode()
	if err != nil {
		return err.Error()
	}
	return fmt.Sprintf("% X", b)
}

// parseAt reads the packet at the start of b, which begins with the header.
// more says b ends before the packet does. Otherwise n is the packet's bytes,
// or, for a bad identifier or length, the header's two (a false header: the
// caller looks for the next one from there), and err says why it is bad.
func parseAt(b []byte, addr uint32) (p Packet, n int, err *FrameError, more bool) {
	if len(b) < 7 {
		return Packet{}, 0, nil, true
	}
	if pid := b[6]; !validPID(pid) {
		return Packet{}, 2, badFrame(CausePID, "packet identifier %#02x", pid), false
	}
	if len(b) < headerLen {
		return Packet{}, 0, nil, true
	}
	l := int(b[7])<<8 | int(b[8])
	if l < minLength || l > maxLength {
		return Packet{}, 2, badFrame(CauseLength, "length %d, want %d to %d", l, minLength, maxLength), false
	}
	n = headerLen + l
	if len(b) < n {
		return Packet{}, 0, nil, true
	}
	p = Packet{
		Address: uint32(b[2])<<24 | uint32(b[3])<<16 | uint32(b[4])<<8 | uint32(b[5]),
		PID:     b[6],
		Payload: b[headerLen : n-2],
	}
	got := uint16(b[n-2])<<8 | uint16(b[n-1])
	if want := Checksum(p.PID, p.Payload); got != want {
		return Packet{}, n, badFrame(CauseChecksum, "packet says %04X, its bytes make %04X", got, want), false
	}
	if p.Address != addr {
		return Packet{}, n, badFrame(CauseAddress, "address %08X, want %08X", p.Address, addr), false
	}
	p.Payload = append([]byte(nil), p.Payload...)
	return p, n, nil, false
}

// Decode decodes b, which must be exactly one packet to or from addr. It
// refuses, with a *FrameError wrapping ErrFrame, bytes that do not start with
// the header or go on after the packet (CauseGarbage), end before it does
// (CauseTruncated), or hold a bad identifier, length, checksum or address.
func Decode(b []byte, addr uint32) (Packet, error) {
	switch {
	case len(b) == 0 || len(b) == 1 && b[0] == HeaderHigh:
		return Packet{}, badFrame(CauseTruncated, "%d bytes, no whole header", len(b))
	case len(b) == 1 || b[0] != HeaderHigh || b[1] != HeaderLow:
		return Packet{}, badFrame(CauseGarbage, "starts % X, not EF 01", b[:min(len(b), 2)])
	}
	p, n, err, more := parseAt(b, addr)
	switch {
	case more:
		return Packet{}, badFrame(CauseTruncated, "%d bytes, cut off before the packet's end", len(b))
	case err != nil:
		return Packet{}, err
	case n < len(b):
		return Packet{}, badFrame(CauseGarbage, "%d bytes after the packet", len(b)-n)
	}
	return p, nil
}

// indexHeader returns the index of the first EF 01 in b, or -1.
func indexHeader(b []byte) int {
	for i := 0; i+1 < len(b); i++ {
		if b[i] == HeaderHigh && b[i+1] == HeaderLow {
			return i
		}
	}
	return -1
}

// chunk is what the pump read: bytes, or the source's error.
type chunk struct {
	b   []byte
	err error
}

// Reader reads packets to or from one address from a byte stream: a serial
// line from a module, or the host's commands at a simulated one. It finds its
// way back after noise (see the package doc) and counts each bad frame by
// cause. A goroutine of its own reads the stream, so that Next returns when its
// context ends even if the stream's Read blocks; that goroutine ends when Close
// has been called and Read returns, or Read fails. Next and Discard are not
// safe for concurrent use; Bad is.
type Reader struct {
	addr   uint32
	src    io.Reader
	start  sync.Once
	chunks chan chunk
	done   chan struct{}
	closed sync.Once

	buf       []byte
	garbage   int  // bytes of garbage not yet reported
	absorbing bool // after a false header: skipped bytes are part of it
	err       error
	ended     bool // the stream's end has been reported

	mu  sync.Mutex
	bad map[string]int64
}

// NewReader returns a Reader of packets to or from addr on r.
func NewReader(r io.Reader, addr uint32) *Reader {
	return &Reader{addr: addr, src: r, chunks: make(chan chunk, 16), done: make(chan struct{}),
		buf: make([]byte, 0, 2*(headerLen+maxLength)), bad: map[string]int64{}}
}

// Close stops the reading goroutine once its Read returns. Next then waits
// only for what it had read.
func (r *Reader) Close() { r.closed.Do(func() { close(r.done) }) }

// pump reads the stream until it fails or the Reader is closed. A Read that
// returns nothing and no error is tried again.
func (r *Reader) pump() {
	for {
		b := make([]byte, 512)
		n, err := r.src.Read(b)
		n = max(0, min(n, len(b)))
		if n > 0 {
			select {
			case r.chunks <- chunk{b: b[:n]}:
			case <-r.done:
				return
			}
		}
		if err != nil {
			select {
			case r.chunks <- chunk{err: err}:
			case <-r.done:
			}
			return
		}
		select {
		case <-r.done:
			return
		default:
		}
	}
}

// take appends c to what is read.
func (r *Reader) take(c chunk) {
	r.buf = append(r.buf, c.b...)
	if c.err != nil && r.err == nil {
		r.err = c.err
	}
}

// Next returns the next good packet. A bad frame comes back as a *FrameError
// (wrapping ErrFrame; it is counted): call Next again for the next. Any other
// error is ctx's, or ends the stream: the source's error (io.EOF at its end),
// with a frame cut off there, or garbage before it, counted and returned first.
// A frame still coming when ctx ends is kept for the next call (or Discard).
func (r *Reader) Next(ctx context.Context) (Packet, error) {
	r.start.Do(func() { go r.pump() })
	for {
		if p, err, ok := r.parse(); ok {
			if err != nil {
				return Packet{}, err
			}
			return p, nil
		}
		if r.err != nil {
			if err := r.end(); err != nil {
				return Packet{}, err
			}
			return Packet{}, r.err
		}
		select {
		case c := <-r.chunks:
			r.take(c)
		case <-ctx.Done():
			return Packet{}, ctx.Err()
		}
	}
}

// parse takes the next packet or bad frame from what is read; ok says there
// was one.
func (r *Reader) parse() (p Packet, err error, ok bool) {
	i := indexHeader(r.buf)
	if i < 0 {
		keep := 0
		if len(r.buf) > 0 && r.buf[len(r.buf)-1] == HeaderHigh {
			keep = 1 // perhaps a header's first byte
		}
		r.skip(len(r.buf) - keep)
		return Packet{}, nil, false
	}
	r.skip(i)
	if r.garbage > 0 {
		n := r.garbage
		r.garbage = 0
		return Packet{}, r.count(badFrame(CauseGarbage, "%d bytes before a header", n)), true
	}
	r.absorbing = false
	p, n, fe, more := parseAt(r.buf, r.addr)
	if more {
		return Packet{}, nil, false
	}
	r.drop(n)
	if fe != nil {
		r.absorbing = n == 2
		return Packet{}, r.count(fe), true
	}
	return p, nil, true
}

// skip drops n bytes that are not a packet, counting them as garbage unless
// they follow a false header.
func (r *Reader) skip(n int) {
	if n <= 0 {
		return
	}
	if !r.absorbing {
		r.garbage += n
	}
	r.drop(n)
}

// drop drops the first n bytes read.
func (r *Reader) drop(n int) {
	r.buf = r.buf[:copy(r.buf, r.buf[n:])]
}

// count counts a bad frame and returns it.
func (r *Reader) count(fe *FrameError) error {
	r.mu.Lock()
	r.bad[fe.Cause]++
	r.mu.Unlock()
	return fe
}

// leftover empties what is read, returning what it was as a counted bad frame
// (a frame cut off, or garbage), or nil if it was nothing.
func (r *Reader) leftover(why string) error {
	var err error
	switch {
	case len(r.buf) >= 2 && r.buf[0] == HeaderHigh && r.buf[1] == HeaderLow,
		len(r.buf) == 1 && r.buf[0] == HeaderHigh && r.garbage == 0 && !r.absorbing:
		err = r.count(badFrame(CauseTruncated, "a frame of %d bytes so far, cut off by %s", len(r.buf), why))
	case len(r.buf) > 0 || r.garbage > 0:
		if !r.absorbing {
			r.garbage += len(r.buf)
		}
		if r.garbage > 0 {
			err = r.count(badFrame(CauseGarbage, "%d bytes outside a packet, ended by %s", r.garbage, why))
		}
	}
	r.buf, r.garbage, r.absorbing = r.buf[:0], 0, false
	return err
}

// end reports, once, what the stream's end cut off.
func (r *Reader) end() error {
	if r.ended {
		return nil
	}
	r.ended = true
	return r.leftover("the end of the stream")
}

// Discard drops everything read and not yet returned, and whatever the stream
// has delivered since, without waiting: what was there before a command, so
// that its reply is not confused with a late one. Good packets dropped count as
// CauseStale, a frame cut off as CauseTruncated, bytes outside packets as
// CauseGarbage. It returns the last of these, or nil if there was nothing.
func (r *Reader) Discard() error {
	for drained := false; !drained; {
		select {
		case c := <-r.chunks:
			r.take(c)
		default:
			drained = true
		}
	}
	var last error
	for {
		p, err, ok := r.parse()
		if !ok {
			break
		}
		if err == nil {
			err = r.count(badFrame(CauseStale, "a packet no one waited for: %s", p))
		}
		last = err
	}
	if err := r.leftover("a new command"); err != nil {
		last = err
	}
	return last
}

// Bad returns how many bad frames the Reader has met, by cause.
func (r *Reader) Bad() map[string]int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return maps.Clone(r.bad)
}
