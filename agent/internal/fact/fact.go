// Package fact holds what the agent's event-sourced engines (agent/substance,
// agent/biometric) share: the checks of the values their events carry, the keys
// that make a journal append idempotent, and the reading of a journaled event's
// info. One place, so that a CRN or a name is the same thing in every engine.
package fact

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/apedge/apedge/internal/config"
)

// CRN says s is a CRN exactly as internal/config.ParseCRN makes them (an upper-case
// letter and six digits, X123456).
func CRN(s string) bool {
	n, err := config.ParseCRN(s)
	return err == nil && n == s
}

// ID says s is an id (a test id, an enrolment, a seal number, a lot, a reason
// code): 1 to 64 bytes of printable ASCII, no spaces.
func ID(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}

// control says r is a control character (C0, DEL or C1).
func control(r rune) bool { return r < ' ' || r == 0x7F || r >= 0x80 && r < 0xA0 }

// Text says s is a name or short text: not blank, at most maxLen bytes of valid
// UTF-8, no control characters.
func Text(s string, maxLen int) bool {
	if strings.TrimSpace(s) == "" || len(s) > maxLen || !utf8.ValidString(s) {
		return false
	}
	return !strings.ContainsFunc(s, control)
}

// CleanText returns s as valid UTF-8 with its control characters replaced by
// spaces, trimmed and cut to at most maxLen bytes on a rune boundary.
func CleanText(s string, maxLen int) string {
	s = strings.TrimSpace(strings.Map(func(r rune) rune {
		if control(r) {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(s, "?")))
	for len(s) > maxLen {
		_, n := utf8.DecodeLastRuneInString(s)
		s = s[:len(s)-n]
	}
	return s
}

// Date says s is a date YYYY-MM-DD.
func Date(s string) bool {
	if len(s) != len(time.DateOnly) {
		return false
	}
	_, err := time.Parse(time.DateOnly, s)
	return err == nil
}

// Clip shortens s for an error message.
func Clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

// Stamp formats t for a message: RFC 3339, or "(none)" for the zero time.
func Stamp(t time.Time) string {
	if t.IsZero() {
		return "(none)"
	}
	return t.Format(time.RFC3339)
}

// Key joins an event's idempotency key: its type and the parts that make it
// unique, "substance.tested/T-12".
func Key(typ string, parts ...string) string {
	return typ + "/" + strings.Join(parts, "/")
}

// MaxInfo is the largest event info an engine reads.
const MaxInfo = 1 << 20

// Decode reads info, a JSON object of at most MaxInfo bytes, into v.
func Decode(info json.RawMessage, v any) error {
	if len(info) > MaxInfo {
		return errors.New("info too large")
	}
	b := bytes.TrimSpace(info)
	if len(b) == 0 || b[0] != '{' {
		return errors.New("info is not a JSON object")
	}
	return json.Unmarshal(b, v)
}
