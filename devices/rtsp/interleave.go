package rtsp

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// Frame is one interleaved RTP or RTCP packet: "$", the channel, a 16-bit length and
// the packet (RFC 2326 section 10.12). Even channels carry RTP, odd ones RTCP, as the
// SETUP's interleaved= pair gave them.
type Frame struct {
	Channel uint8
	Payload []byte
}

// MaxSkip bounds the garbage skipped looking for the next message: past it the
// connection is not speaking RTSP, and Read gives up.
const MaxSkip = 64 << 10

// Reader reads what a camera sends on an RTSP connection once media flows over it:
// interleaved frames, responses, and requests of the server's own, in any order. It
// resynchronises after garbage on the next '$' (with a channel it expects) or start of
// a response or request, and counts what it skipped.
type Reader struct {
	br *bufio.Reader
	// Channels are the interleaved channels the SETUPs asked for; a '$' with another
	// channel is garbage. Nil accepts every channel.
	Channels map[uint8]bool
	// Skipped counts the bytes skipped as garbage; Resyncs how many times.
	Skipped, Resyncs int
}

// NewReader returns a Reader of br.
func NewReader(br *bufio.Reader) *Reader { return &Reader{br: br} }

// Read returns the next frame (*Frame), response (*Response) or server request
// (*Request). An error wrapping ErrMessage means the bytes could not be made sense of
// within MaxSkip; io.EOF that the connection ended between messages.
func (r *Reader) Read() (any, error) {
	skipped := 0
	for {
		b, err := r.br.Peek(1)
		if err != nil {
			return nil, err
		}
		switch {
		case b[0] == '$':
			hdr, err := r.br.Peek(4)
			if err != nil {
				if timeout(err) {
					return nil, err // nothing consumed: the next Read takes the frame whole
				}
				return nil, fmt.Errorf("%w: a frame header cut short: %w", ErrMessage, err)
			}
			ch, n := hdr[1], int(binary.BigEndian.Uint16(hdr[2:4]))
			if r.Channels == nil || r.Channels[ch] {
				// The whole frame is peeked before any of it is consumed, so that a
				// read deadline in the middle of one loses nothing (the buffer holds
				// the largest frame when the caller sized it so).
				whole, err := r.br.Peek(4 + n)
				switch {
				case err == nil:
					p := make([]byte, n)
					copy(p, whole[4:])
					r.br.Discard(4 + n)
					r.note(skipped)
					return &Frame{Channel: ch, Payload: p}, nil
				case timeout(err):
					return nil, err
				case !errors.Is(err, bufio.ErrBufferFull):
					return nil, fmt.Errorf("%w: a frame of %d bytes cut short: %w", ErrMessage, n, err)
				}
				r.br.Discard(4) // a buffer smaller than the frame: read it through
				p := make([]byte, n)
				if _, err := io.ReadFull(r.br, p); err != nil {
					return nil, fmt.Errorf("%w: a frame of %d bytes cut short: %w", ErrMessage, n, err)
				}
				r.note(skipped)
				return &Frame{Channel: ch, Payload: p}, nil
			}
		case b[0] == 'R' || b[0] == 'r' || (b[0] >= 'A' && b[0] <= 'Z'):
			if start, ok := r.startsMessage(); ok {
				r.note(skipped)
				if start == "response" {
					return ReadResponse(r.br)
				}
				return r.readRequest()
			}
		}
		r.br.Discard(1)
		if skipped++; skipped > MaxSkip {
			r.note(skipped)
			return nil, fmt.Errorf("%w: %d bytes with no frame or message in them", ErrMessage, skipped)
		}
	}
}

// timeout says err is a read deadline passing.
func timeout(err error) bool { return errors.Is(err, os.ErrDeadlineExceeded) }

// note counts a resynchronisation over skipped bytes.
func (r *Reader) note(skipped int) {
	if skipped > 0 {
		r.Skipped += skipped
		r.Resyncs++
	}
}

// startsMessage says whether the buffered bytes begin a status line or a request line.
func (r *Reader) startsMessage() (string, bool) {
	b, _ := r.br.Peek(16)
	if len(b) >= 5 && strings.EqualFold(string(b[:5]), "RTSP/") {
		return "response", true
	}
	for _, m := range methods {
		if bytes.HasPrefix(b, []byte(m+" ")) {
			return "request", true
		}
	}
	return "", false
}

// readRequest reads a server's request.
func (r *Reader) readRequest() (*Request, error) {
	line, err := readLine(r.br)
	if err != nil {
		return nil, err
	}
	m, u, err := parseRequestLine(line)
	if err != nil {
		return nil, err
	}
	h, body, err := readHeaderAndBody(r.br)
	if err != nil {
		return nil, err
	}
	return &Request{Method: m, URL: u, Header: h, Body: body}, nil
}
