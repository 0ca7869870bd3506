// Package record is the line layer of the record protocol apedge's serial
// devices speak (substance testers, devices/substance; PAT testers,
// devices/pattester): one record a line, NMEA 0183 style, of our design.
//
//	'$' "AP" TYPE ',' FIELD (',' FIELD)* '*' HH CR LF
//
// TYPE is two upper-case letters. Each FIELD is key=value; a key is 1 to MaxKey
// of a-z, 0-9 and '-', and appears at most once in a record; a value may be
// empty. HH is the checksum: the exclusive OR of every byte between '$' and '*'
// (both excluded), as two upper-case hex digits, as the checksum field of an NMEA
// 0183 sentence is made. A line is at most MaxLine bytes, '$' to LF, and a record
// has at most MaxFields fields.
//
// In a value, the bytes ',' '*' '$' '%' '=' and every byte outside 0x20 to 0x7E
// are percent-encoded as '%' and two hex digits (RFC 3986, section 2.1). Readers
// accept either case of hex digit in an escape and writers write upper case. So a
// '$' is always the start of a record, which is how a Scanner finds its way back
// after line noise. Readers accept a line ended by LF alone as well as CR LF.
//
// A reader refuses a line that breaks any of this with a *RecordError that says
// why (the Cause constants). What the records of each type hold is the device
// class's business; it refuses a good line whose fields are wrong with
// CauseContent. The common forms of values the classes share are here too:
// decimals (ParseDecimal, FormatDecimal) and printable text (Printable).
package record

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"strconv"
	"strings"
)

// Limits of a record (see the package doc).
const (
	// MaxLine is the most bytes a line may have, from '$' to LF.
	MaxLine = 512
	// MaxFields is the most fields a record may have.
	MaxFields = 40
	// MaxKey is the longest a field's key may be.
	MaxKey = 16
)

// ErrRecord marks a line that is not a good record, or a record that cannot be
// encoded. Errors wrapping it are *RecordError.
var ErrRecord = errors.New("record: bad record")

// Causes of bad lines: RecordError's Cause, and the keys of Scanner's Bad.
const (
	// CauseGarbage: bytes outside any record (before a '$' or on a line of their
	// own).
	CauseGarbage = "garbage"
	// CauseTooLong: a line longer than MaxLine.
	CauseTooLong = "too-long"
	// CauseFraming: not "$AP", no "*HH" at the end, or cut off by the next '$' or
	// the end of the stream.
	CauseFraming = "framing"
	// CauseChecksum: the checksum does not match the line.
	CauseChecksum = "checksum"
	// CauseType: the record type is not two upper-case letters.
	CauseType = "type"
	// CauseField: a field that is not key=value, a bad or repeated key, no fields
	// or too many.
	CauseField = "field"
	// CauseValue: a byte a value may not hold raw, or a bad percent escape.
	CauseValue = "value"
	// CauseContent: a good record whose fields do not make what its type says (a
	// missing serial, a result out of range); see the record types in the package
	// doc.
	CauseContent = "content"
)

// RecordError is a bad line or record: why (Cause, one of the Cause constants) and
// what exactly (Detail). It wraps ErrRecord.
type RecordError struct {
	Cause, Detail string
}

// Error returns "record: bad record (cause): detail".
func (e *RecordError) Error() string {
	return "record: bad record (" + e.Cause + "): " + e.Detail
}

// Unwrap returns ErrRecord.
func (e *RecordError) Unwrap() error { return ErrRecord }

// CauseOf returns the cause of a bad record error, or "" if err is not one.
func CauseOf(err error) string {
	if re, ok := errors.AsType[*RecordError](err); ok {
		return re.Cause
	}
	return ""
}

// Bad returns a *RecordError of cause, its detail formatted as fmt.Sprintf does.
func Bad(cause, format string, args ...any) error {
	return &RecordError{Cause: cause, Detail: fmt.Sprintf(format, args...)}
}

// Record is one record of the protocol: its type (two upper-case letters, "BR")
// and its fields, key and value, in order. Values are as meant, not
// percent-encoded.
type Record struct {
	Type   string
	Fields [][2]string
}

// Get returns the value of the field key, and whether there is one.
func (r Record) Get(key string) (string, bool) {
	for _, f := range r.Fields {
		if f[0] == key {
			return f[1], true
		}
	}
	return "", false
}

// Add appends the field key=value.
func (r *Record) Add(key, value string) { r.Fields = append(r.Fields, [2]string{key, value}) }

// String returns the record as a line without its CR LF, or the reason it cannot
// be encoded, for logs.
func (r Record) String() string {
	b, err := r.Encode()
	if err != nil {
		return err.Error()
	}
	return string(b[:len(b)-2])
}

// Encode returns the record as a whole line: '$', "AP", the type, the fields with
// their values percent-encoded, '*', the checksum and CR LF. It refuses, with an
// error wrapping ErrRecord, a record that breaks the limits of the package doc.
func (r Record) Encode() ([]byte, error) {
	if !ValidType(r.Type) {
		return nil, Bad(CauseType, "type %q", r.Type)
	}
	if len(r.Fields) == 0 || len(r.Fields) > MaxFields {
		return nil, Bad(CauseField, "%s record with %d fields", r.Type, len(r.Fields))
	}
	b := make([]byte, 0, 64)
	b = append(b, '$', 'A', 'P')
	b = append(b, r.Type...)
	seen := make(map[string]bool, len(r.Fields))
	for _, f := range r.Fields {
		if !ValidKey(f[0]) {
			return nil, Bad(CauseField, "key %q", f[0])
		}
		if seen[f[0]] {
			return nil, Bad(CauseField, "key %s twice", f[0])
		}
		seen[f[0]] = true
		b = append(b, ',')
		b = append(b, f[0]...)
		b = append(b, '=')
		b = appendEscaped(b, f[1])
		if len(b)+5 > MaxLine {
			break
		}
	}
	if len(b)+5 > MaxLine {
		return nil, Bad(CauseTooLong, "%s record longer than %d bytes", r.Type, MaxLine)
	}
	sum := checksum(b[1:])
	b = append(b, '*', hexDigits[sum>>4], hexDigits[sum&0xF], '\r', '\n')
	return b, nil
}

const hexDigits = "0123456789ABCDEF"

// appendEscaped appends v to b, percent-encoding the bytes a value may not hold.
func appendEscaped(b []byte, v string) []byte {
	for i := 0; i < len(v); i++ {
		c := v[i]
		if mustEscape(c) {
			b = append(b, '%', hexDigits[c>>4], hexDigits[c&0xF])
			continue
		}
		b = append(b, c)
	}
	return b
}

// mustEscape says c is percent-encoded in a value.
func mustEscape(c byte) bool {
	return c < 0x20 || c > 0x7E || strings.IndexByte(",*$%=", c) >= 0
}

// checksum is the XOR of b's bytes.
func checksum(b []byte) byte {
	var x byte
	for _, c := range b {
		x ^= c
	}
	return x
}

// ValidType says t is a record type: two upper-case letters.
func ValidType(t string) bool {
	return len(t) == 2 && t[0] >= 'A' && t[0] <= 'Z' && t[1] >= 'A' && t[1] <= 'Z'
}

// ValidKey says k is a field key: [a-z0-9-]{1,MaxKey}.
func ValidKey(k string) bool {
	if len(k) == 0 || len(k) > MaxKey {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// unhex returns the value of the hex digit c (either case), or -1.
func unhex(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'A' && c <= 'F':
		return int(c - 'A' + 10)
	case c >= 'a' && c <= 'f':
		return int(c - 'a' + 10)
	}
	return -1
}

// upperHex returns the value of the upper-case hex digit c, or -1.
func upperHex(c byte) int {
	if c >= 'a' && c <= 'f' {
		return -1
	}
	return unhex(c)
}

// DecodeLine decodes one line, without its CR LF. It refuses, with a *RecordError
// wrapping ErrRecord that says what is wrong, anything but a record as the package
// doc describes it: a line too long, not "$AP" and a type, a checksum that is
// missing or does not match, fields that are not key=value with a good key, a key
// twice, more than MaxFields fields, or a value with a byte it may not hold raw or
// a bad percent escape. Fields it does not know are kept: what a type needs is the
// reader of that type's business.
func DecodeLine(line []byte) (Record, error) {
	if len(line) > MaxLine-2 {
		return Record{}, Bad(CauseTooLong, "%d bytes, at most %d before CR LF", len(line), MaxLine-2)
	}
	if len(line) < 4 || line[0] != '$' {
		return Record{}, Bad(CauseFraming, "does not start with $AP")
	}
	star := len(line) - 3
	if line[star] != '*' {
		return Record{}, Bad(CauseFraming, "does not end with *HH")
	}
	body := line[1:star]
	hi, lo := upperHex(line[star+1]), upperHex(line[star+2])
	if hi < 0 || lo < 0 {
		return Record{}, Bad(CauseFraming, "checksum %q is not two upper-case hex digits", line[star+1:])
	}
	if got, want := byte(hi<<4|lo), checksum(body); got != want {
		return Record{}, Bad(CauseChecksum, "line says %02X, its bytes make %02X", got, want)
	}
	if len(body) < 2 || body[0] != 'A' || body[1] != 'P' {
		return Record{}, Bad(CauseFraming, "does not start with $AP")
	}
	if len(body) < 4 || !ValidType(string(body[2:4])) {
		return Record{}, Bad(CauseType, "type %q is not two upper-case letters", Clip(body[2:min(len(body), 4)]))
	}
	rec := Record{Type: string(body[2:4])}
	rest := body[4:]
	if len(rest) == 0 || rest[0] != ',' {
		return Record{}, Bad(CauseField, "%s record without fields", rec.Type)
	}
	rest = rest[1:]
	seen := map[string]bool{}
	for {
		var f []byte
		if i := indexByte(rest, ','); i >= 0 {
			f, rest = rest[:i], rest[i+1:]
		} else {
			f, rest = rest, nil
		}
		if len(rec.Fields) == MaxFields {
			return Record{}, Bad(CauseField, "more than %d fields", MaxFields)
		}
		eq := indexByte(f, '=')
		if eq < 0 {
			return Record{}, Bad(CauseField, "field %d %q is not key=value", len(rec.Fields)+1, Clip(f))
		}
		key := string(f[:eq])
		if !ValidKey(key) {
			return Record{}, Bad(CauseField, "key %q", Clip(f[:eq]))
		}
		if seen[key] {
			return Record{}, Bad(CauseField, "key %s twice", key)
		}
		seen[key] = true
		v, err := unescape(f[eq+1:])
		if err != nil {
			return Record{}, Bad(CauseValue, "%s: %v", key, err)
		}
		rec.Fields = append(rec.Fields, [2]string{key, v})
		if rest == nil {
			return rec, nil
		}
	}
}

// unescape decodes a raw value.
func unescape(raw []byte) (string, error) {
	var b strings.Builder
	b.Grow(len(raw))
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if c == '%' {
			if i+2 >= len(raw) {
				return "", errors.New("percent escape cut short")
			}
			hi, lo := unhex(raw[i+1]), unhex(raw[i+2])
			if hi < 0 || lo < 0 {
				return "", fmt.Errorf("percent escape %q", Clip(raw[i:i+3]))
			}
			b.WriteByte(byte(hi<<4 | lo))
			i += 2
			continue
		}
		if mustEscape(c) {
			return "", fmt.Errorf("byte %#02x at %d must be percent-encoded", c, i)
		}
		b.WriteByte(c)
	}
	return b.String(), nil
}

func indexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
}

// Clip returns b for an error message: at most 24 bytes, and "..." if there
// were more; the caller quotes it.
func Clip(b []byte) string {
	if len(b) > 24 {
		return string(b[:24]) + "..."
	}
	return string(b)
}

// Scanner reads records from a stream: a serial line from a tester, or the
// bridge's requests at a simulated one. A line ends at LF (CR LF, or LF alone); a
// '$' always starts a record (no value holds one raw), so the scanner finds its
// way back after noise: bytes outside a record are garbage up to the next '$' or
// the end of their line, a line cut off by a '$' is bad and the new record read, a
// line longer than MaxLine is bad and skipped to its end or the next '$'. Each bad
// line is counted by cause. It is not safe for concurrent use.
type Scanner struct {
	r     io.Reader
	buf   []byte
	i, n  int // buf[i:n] is read but not looked at
	state scanState
	line  []byte
	bad   map[string]int64
	err   error
}

type scanState int

const (
	hunting  scanState = iota // between records
	garbage                   // in bytes outside a record
	inLine                    // in a record, line holds it so far
	overlong                  // in a line too long, skipping it
)

// NewScanner returns a Scanner reading r.
func NewScanner(r io.Reader) *Scanner {
	return &Scanner{r: r, buf: make([]byte, 1024), line: make([]byte, 0, MaxLine), bad: map[string]int64{}}
}

// Next returns the next record. A bad line comes back as a *RecordError (wrapping
// ErrRecord; it is counted): call Next again for the next. Any other error ends
// the stream: the reader's error (io.EOF at its end, a line cut off there counted
// and returned first) or ctx's, which Next checks between reads (so a reader
// whose Read returns now and then, as serialport's does, lets it notice ctx
// ending). A Read returning nothing and no error is waited past.
func (s *Scanner) Next(ctx context.Context) (Record, error) {
	for {
		for s.i < s.n {
			c := s.buf[s.i]
			s.i++
			if rec, err, ok := s.step(c); ok {
				if err != nil {
					s.bad[CauseOf(err)]++
				}
				return rec, err
			}
		}
		if s.err != nil {
			if err := s.cutOff(); err != nil {
				return Record{}, err
			}
			return Record{}, s.err
		}
		if err := ctx.Err(); err != nil {
			return Record{}, err
		}
		n, err := s.r.Read(s.buf)
		s.i, s.n = 0, max(0, min(n, len(s.buf)))
		if err != nil {
			s.err = err
		}
	}
}

// cutOff ends the stream's last line, returning it as a bad line if it was one.
func (s *Scanner) cutOff() error {
	var err error
	switch s.state {
	case garbage:
		err = Bad(CauseGarbage, "%s", "bytes outside a record at the end of the stream")
	case inLine:
		err = Bad(CauseFraming, "line cut off by the end of the stream")
	}
	s.state = hunting
	if err != nil {
		s.bad[CauseOf(err)]++
	}
	return err
}

// step takes byte c; ok says a record or a bad line is done.
func (s *Scanner) step(c byte) (rec Record, err error, ok bool) {
	switch s.state {
	case hunting:
		switch c {
		case '$':
			s.start()
		case '\r', '\n':
		default:
			s.state = garbage
		}
	case garbage:
		switch c {
		case '$':
			s.start()
			return Record{}, Bad(CauseGarbage, "bytes outside a record"), true
		case '\n':
			s.state = hunting
			return Record{}, Bad(CauseGarbage, "a line that is not a record"), true
		}
	case inLine:
		switch c {
		case '$':
			s.start()
			return Record{}, Bad(CauseFraming, "line cut off by the next $"), true
		case '\n':
			s.state = hunting
			l := s.line
			if len(l) > 0 && l[len(l)-1] == '\r' {
				l = l[:len(l)-1]
			}
			rec, err := DecodeLine(l)
			return rec, err, true
		}
		if len(s.line) == MaxLine-1 {
			s.state = overlong
			return Record{}, Bad(CauseTooLong, "line longer than %d bytes", MaxLine), true
		}
		s.line = append(s.line, c)
	case overlong:
		switch c {
		case '$':
			s.start()
		case '\n':
			s.state = hunting
		}
	}
	return Record{}, nil, false
}

func (s *Scanner) start() {
	s.state = inLine
	s.line = append(s.line[:0], '$')
}

// Bad returns how many bad lines the scanner has met, by cause.
func (s *Scanner) Bad() map[string]int64 { return maps.Clone(s.bad) }

// ParseDecimal reads a decimal of one to six digits, optionally a point and one
// to six more, and, if signed, an optional leading '-': no exponent, no '+', no
// spaces.
func ParseDecimal(s string, signed bool) (float64, bool) {
	t := s
	if signed && strings.HasPrefix(t, "-") {
		t = t[1:]
	}
	whole, frac, dot := strings.Cut(t, ".")
	digits := func(d string) bool { return len(d) >= 1 && len(d) <= 6 && strings.Trim(d, "0123456789") == "" }
	if !digits(whole) || dot && !digits(frac) {
		return 0, false
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(v, 0) || math.IsNaN(v) {
		return 0, false
	}
	if v == 0 {
		v = 0 // no -0
	}
	return v, true
}

// FormatDecimal writes v with at most six decimals and no exponent, as
// ParseDecimal reads it (for v within its range).
func FormatDecimal(v float64) string {
	s := strconv.FormatFloat(v, 'f', 6, 64)
	s = strings.TrimRight(s, "0")
	s = strings.TrimSuffix(s, ".")
	if s == "-0" {
		s = "0"
	}
	return s
}

// Printable says s is minLen to maxLen bytes of printable ASCII, 0x21 to 0x7E,
// and spaces too if spaces.
func Printable(s string, minLen, maxLen int, spaces bool) bool {
	if len(s) < minLen || len(s) > maxLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c > 0x7E || c == ' ' && !spaces {
			return false
		}
	}
	return true
}
