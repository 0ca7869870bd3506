package substance

import (
	"io"

	"github.com/apedge/apedge/devices/internal/record"
)

// The line layer of the protocol (see the package doc) is package record's, which
// the PAT testers' protocol shares: these are its names here.

// Limits of a record (see the package doc).
const (
	// MaxLine is the most bytes a line may have, from '$' to LF.
	MaxLine = record.MaxLine
	// MaxFields is the most fields a record may have.
	MaxFields = record.MaxFields
	// MaxKey is the longest a field's key may be.
	MaxKey = record.MaxKey
)

// ErrRecord marks a line that is not a good record, or a record that cannot be
// encoded. Errors wrapping it are *RecordError.
var ErrRecord = record.ErrRecord

// Causes of bad lines: RecordError's Cause, and the keys of Scanner's Bad (see
// package record).
const (
	CauseGarbage  = record.CauseGarbage
	CauseTooLong  = record.CauseTooLong
	CauseFraming  = record.CauseFraming
	CauseChecksum = record.CauseChecksum
	CauseType     = record.CauseType
	CauseField    = record.CauseField
	CauseValue    = record.CauseValue
	// CauseContent: a good record whose fields do not make what its type says (a
	// missing serial, a result out of range); see the record types in the package
	// doc.
	CauseContent = record.CauseContent
)

// RecordError is a bad line or record: why (Cause, one of the Cause constants) and
// what exactly (Detail). It wraps ErrRecord.
type RecordError = record.RecordError

// Record is one record of the protocol: its type (two upper-case letters, "BR")
// and its fields, key and value, in order. Values are as meant, not
// percent-encoded.
type Record = record.Record

// Scanner reads records from a stream: a serial line from a tester, or the
// bridge's requests at a simulated one (see record.Scanner).
type Scanner = record.Scanner

// CauseOf returns the cause of a bad record error, or "" if err is not one.
func CauseOf(err error) string { return record.CauseOf(err) }

// DecodeLine decodes one line, without its CR LF (see record.DecodeLine).
func DecodeLine(line []byte) (Record, error) { return record.DecodeLine(line) }

// NewScanner returns a Scanner reading r.
func NewScanner(r io.Reader) *Scanner { return record.NewScanner(r) }

// bad returns a *RecordError.
func bad(cause, format string, args ...any) error { return record.Bad(cause, format, args...) }

// clip returns b for an error message.
func clip(b []byte) string { return record.Clip(b) }

// printable says s is min to max bytes of printable ASCII (spaces too if spaces).
func printable(s string, minLen, maxLen int, spaces bool) bool {
	return record.Printable(s, minLen, maxLen, spaces)
}

// formatDecimal writes v with at most six decimals and no exponent.
func formatDecimal(v float64) string { return record.FormatDecimal(v) }

// parseDecimal reads a decimal as the package doc says.
func parseDecimal(s string, signed bool) (float64, bool) { return record.ParseDecimal(s, signed) }
