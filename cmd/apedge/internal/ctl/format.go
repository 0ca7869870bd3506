package ctl

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/apedge/apedge/agent/curfew"
)

// localTime shows an RFC 3339 instant as UK local time.
func localTime(s string) string {
	if s == "" {
		return "-"
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return s
	}
	return t.In(curfew.London()).Format("2006-01-02 15:04")
}

// newTable is a table written to w in aligned columns.
func newTable(w io.Writer) *tabwriter.Writer { return tabwriter.NewWriter(w, 0, 0, 2, ' ', 0) }

// dash is s, or "-" for nothing.
func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// yesNo is yes if b, else no.
func yesNo(b bool, yes, no string) string {
	if b {
		return yes
	}
	return no
}

// short writes a JSON value on one line of at most n runes.
func short(raw json.RawMessage, n int) string {
	var buf bytes.Buffer
	if len(raw) == 0 || json.Compact(&buf, raw) != nil || buf.String() == "null" || buf.String() == "{}" {
		return ""
	}
	s := buf.String()
	if utf8.RuneCountInString(s) > n {
		r := []rune(s)
		s = string(r[:n-1]) + "…"
	}
	return s
}

// parseTime turns a -from or -to flag into RFC 3339: RFC 3339 as it is, or a UK
// local "2026-11-22 14:00" or date (its midnight).
func parseTime(s string) (string, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC().Format(time.RFC3339), nil
	}
	for _, layout := range []string{"2006-01-02 15:04", "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, curfew.London()); err == nil {
			return t.UTC().Format(time.RFC3339), nil
		}
	}
	return "", fmt.Errorf("%q is not a time: want 2026-11-22 14:00 (UK), 2026-11-22 or RFC 3339", s)
}
