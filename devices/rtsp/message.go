// Package rtsp is RTSP 1.0 for apedge's camera health checks, client and simulated
// camera side by side on one codec: the session client (client.go), the stream
// inspection without decoding (nal.go, sps.go, inspect.go), the camera simulator
// (sim.go, server.go) and under them the message codec (RFC 2326 sections 6 and 7,
// with the quirks of real cameras), the
// TCP-interleaved framing of RTP and RTCP (RFC 2326 section 10.12) and Basic and Digest
// authentication (RFC 2617, RFC 7616), each a parser of bytes from the network that
// never panics, bounds what it reads and is fuzzed (testdata/bad holds what it must
// refuse).
//
// Facts about real cameras, read in gortsplib, go2rtc and mediamtx (their code is not
// used here): some answer with "RTSP/1.0" in lower case or with a bare LF; some send
// server requests (GET_PARAMETER, OPTIONS, ANNOUNCE) between interleaved frames; some
// put garbage (a stray CR LF, a truncated frame after a reconnect) before the next
// '$', so the reader resynchronises on the next '$' or "RTSP/" rather than giving up;
// Content-Length is the only framing of a body (there is no chunking in RTSP).
package rtsp

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
)

// Limits on what one message may hold.
const (
	// MaxLine bounds a start line or a header line.
	MaxLine = 8 << 10
	// MaxHeaders bounds the header lines of a message.
	MaxHeaders = 64
	// MaxBody bounds a body (an SDP is a few KiB).
	MaxBody = 1 << 20
)

// ErrMessage marks bytes that are not an RTSP message apedge can use.
var ErrMessage = errors.New("rtsp: bad message")

// Header is a message's header fields, by canonical name ("Cseq" as "CSeq" is kept as
// sent: names are compared case-insensitively by Get).
type Header [][2]string

// Get returns the value of the first field named name (case-insensitive), or "".
func (h Header) Get(name string) string {
	for _, f := range h {
		if strings.EqualFold(f[0], name) {
			return f[1]
		}
	}
	return ""
}

// Values returns every value of the fields named name (case-insensitive).
func (h Header) Values(name string) []string {
	var out []string
	for _, f := range h {
		if strings.EqualFold(f[0], name) {
			out = append(out, f[1])
		}
	}
	return out
}

// Request is an RTSP request: a client's to a camera, or a server's to the client.
type Request struct {
	Method string
	URL    string
	Header Header
	Body   []byte
}

// Response is an RTSP response.
type Response struct {
	Status int
	Reason string
	Header Header
	Body   []byte
}

// CSeq is the response's CSeq, or -1 if it has none or it does not parse.
func (r *Response) CSeq() int {
	n, err := strconv.Atoi(strings.TrimSpace(r.Header.Get("CSeq")))
	if err != nil {
		return -1
	}
	return n
}

// WriteRequest writes r to w with CSeq cseq (replacing any CSeq r has) and, if r has a
// body, its Content-Length.
func WriteRequest(w io.Writer, r *Request, cseq int) error {
	if r.Method == "" || strings.ContainsAny(r.Method, " \r\n") || strings.ContainsAny(r.URL, " \r\n") {
		return fmt.Errorf("rtsp: request %q %q: method and URL may not hold spaces or line breaks", r.Method, r.URL)
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %s RTSP/1.0\r\nCSeq: %d\r\n", r.Method, r.URL, cseq)
	for _, f := range r.Header {
		if strings.EqualFold(f[0], "CSeq") || strings.EqualFold(f[0], "Content-Length") {
			continue
		}
		if strings.ContainsAny(f[0]+f[1], "\r\n") || strings.ContainsAny(f[0], ": ") {
			return fmt.Errorf("rtsp: header %q: no line breaks, and no colon or space in its name", f[0])
		}
		fmt.Fprintf(&b, "%s: %s\r\n", f[0], f[1])
	}
	if len(r.Body) > 0 {
		fmt.Fprintf(&b, "Content-Length: %d\r\n", len(r.Body))
	}
	b.WriteString("\r\n")
	b.Write(r.Body)
	_, err := w.Write(b.Bytes())
	if err != nil {
		return fmt.Errorf("rtsp: write %s: %w", r.Method, err)
	}
	return nil
}

// readLine reads one line ending in LF (a CR before it is dropped), at most MaxLine.
func readLine(br *bufio.Reader) (string, error) {
	var line []byte
	for {
		frag, err := br.ReadSlice('\n')
		line = append(line, frag...)
		if len(line) > MaxLine {
			return "", fmt.Errorf("%w: a line longer than %d bytes", ErrMessage, MaxLine)
		}
		if err == nil {
			break
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if errors.Is(err, io.EOF) && len(line) > 0 {
			return "", fmt.Errorf("%w: the connection ended mid-line", ErrMessage)
		}
		return "", err
	}
	return strings.TrimRight(string(line), "\r\n"), nil
}

// readHeaderAndBody reads header lines up to the blank line, then the body its
// Content-Length gives.
func readHeaderAndBody(br *bufio.Reader) (Header, []byte, error) {
	var h Header
	for {
		line, err := readLine(br)
		if err != nil {
			return nil, nil, err
		}
		if line == "" {
			break
		}
		if len(h) == MaxHeaders {
			return nil, nil, fmt.Errorf("%w: more than %d header lines", ErrMessage, MaxHeaders)
		}
		if (line[0] == ' ' || line[0] == '\t') && len(h) > 0 { // an obsolete folded line
			h[len(h)-1][1] += " " + strings.TrimSpace(line)
			continue
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok || name == "" || strings.ContainsAny(name, " \t") {
			return nil, nil, fmt.Errorf("%w: header line %q", ErrMessage, clip(line))
		}
		h = append(h, [2]string{name, strings.TrimSpace(value)})
	}
	var body []byte
	if cl := h.Get("Content-Length"); cl != "" {
		n, err := strconv.Atoi(strings.TrimSpace(cl))
		if err != nil || n < 0 {
			return nil, nil, fmt.Errorf("%w: Content-Length %q", ErrMessage, clip(cl))
		}
		if n > MaxBody {
			return nil, nil, fmt.Errorf("%w: a body of %d bytes (at most %d)", ErrMessage, n, MaxBody)
		}
		body = make([]byte, n)
		if _, err := io.ReadFull(br, body); err != nil {
			return nil, nil, fmt.Errorf("%w: body: %w", ErrMessage, err)
		}
	}
	return h, body, nil
}

// parseStatusLine parses "RTSP/1.0 200 OK" (the version's case and minor number as
// cameras send them).
func parseStatusLine(line string) (int, string, error) {
	ver, rest, ok := strings.Cut(line, " ")
	if !ok || !strings.HasPrefix(strings.ToUpper(ver), "RTSP/1.") {
		return 0, "", fmt.Errorf("%w: status line %q", ErrMessage, clip(line))
	}
	code, reason, _ := strings.Cut(strings.TrimLeft(rest, " "), " ")
	n, err := strconv.Atoi(code)
	if err != nil || len(code) != 3 || n < 100 || n > 599 {
		return 0, "", fmt.Errorf("%w: status code %q", ErrMessage, clip(code))
	}
	return n, reason, nil
}

// methods are the request methods a server may send a client (RFC 2326 section 10).
var methods = []string{"ANNOUNCE", "DESCRIBE", "GET_PARAMETER", "OPTIONS", "PAUSE", "PLAY", "RECORD", "REDIRECT", "SETUP", "SET_PARAMETER", "TEARDOWN"}

// parseRequestLine parses "OPTIONS rtsp://cam/ RTSP/1.0".
func parseRequestLine(line string) (string, string, error) {
	f := strings.Fields(line)
	if len(f) != 3 || !slices.Contains(methods, f[0]) || !strings.HasPrefix(strings.ToUpper(f[2]), "RTSP/1.") {
		return "", "", fmt.Errorf("%w: request line %q", ErrMessage, clip(line))
	}
	return f[0], f[1], nil
}

// ReadResponse reads one response from br.
func ReadResponse(br *bufio.Reader) (*Response, error) {
	line, err := readLine(br)
	if err != nil {
		return nil, err
	}
	status, reason, err := parseStatusLine(line)
	if err != nil {
		return nil, err
	}
	h, body, err := readHeaderAndBody(br)
	if err != nil {
		return nil, err
	}
	return &Response{Status: status, Reason: reason, Header: h, Body: body}, nil
}

// clip shortens s for an error message.
func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
