package pat

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// CSV import.
//
// ReadCSV reads the test records of a CSV file (RFC 4180: comma-separated, fields
// with commas, quotes or line breaks in double quotes, lines ended by CR LF or LF;
// a UTF-8 byte order mark before the header, as spreadsheets write it, is
// skipped). It validates the whole file before it returns anything: a bad record
// rejects the file, and the error (an *ImportError) lists every bad line with its
// line number and the reason, so that nothing is half-imported.
//
// # The apedge layout
//
// LayoutApedge is apedge's own, and what WriteCSV writes. Its header row is
// exactly
//
//	asset_id,description,owner_crn,category,class,test_date,visual,earth_ohm,insulation_mohm,insulation_v,leakage_ma,polarity,result,retest_months,instrument,instrument_serial,tester
//
// and each row is one test of one item:
//
//	asset_id           the item's label id: 1 to 64 printable ASCII bytes, no spaces (required)
//	description        what it is, e.g. "kettle"
//	owner_crn          the resident who owns it, a CRN; empty for the AP's own items
//	category           its category, e.g. "kitchen" (the register's retest intervals and prohibited categories use it)
//	class              I, II or III (required)
//	test_date          the date of the test, YYYY-MM-DD (required)
//	visual             the formal visual inspection: pass, fail, or empty if not done
//	earth_ohm          earth continuity, Ω
//	insulation_mohm    insulation resistance, MΩ
//	insulation_v       the insulation test voltage, V d.c., a whole number 1 to 1000; empty if not recorded, and only with insulation_mohm
//	leakage_ma         protective conductor current (Class I) or touch current (Class II), mA
//	polarity           the polarity check of a lead: pass, fail, or empty if not done
//	result             pass or fail (required)
//	retest_months      the retest interval the tester gave, months, 1 to 120; empty if none
//	instrument         the test instrument's make and model
//	instrument_serial  its serial number
//	tester             the person who tested (required)
//
// A figure is empty for a test not done, or a decimal: 1 to 7 digits, optionally
// a point and 1 to 9 more (no sign, no exponent), at most 1000 Ω, 1000000 MΩ or
// 1000 mA. Results and classes are read in either case and kept as pass, fail, I,
// II, III; a CRN is an upper- or lower-case letter and six digits (X123456),
// kept in upper case: the roster's rule (internal/config.ParseCRN), checked here
// by a copy of it because formats import nothing of the agent's configuration.
// Surrounding spaces of a value are dropped. Every text is UTF-8 without control
// characters.
//
// # The PATorganiser layout
//
// LayoutPATorganiser is the "Excel simple" layout of PATorganiser (PAT record
// software by Apptivation), saved as CSV, as its knowledge base documents it:
// "The Excel simple format" (patorganiser.zohodesk.com/portal/en/kb/articles/
// the-excel-simple-format). PATorganiser documents it as the layout it imports
// (its "simple template"); no PAT software's CSV export was found documented
// column by column in public (Seaward PATGuard 3 and PATGuard Elite, Megger
// PowerSuite, Kewtech KEWPAT and Metrel's manuals describe exports without
// naming the columns), so this is the one vendor layout apedge can cite. The
// columns are found by name (trimmed, in any case), in any order:
//
//	Asset Id                           label id, as asset_id (required)
//	Asset Description                  description
//	Asset Class                        class: I, II, III, 1, 2 or 3, optionally after "Class" (required here; optional to PATorganiser)
//	Category or Type, else Asset Type  category
//	Test Date, Last Full Test Date
//	  or Last Test                     the date: YYYY-MM-DD (PATorganiser's recommendation) or DD/MM/YYYY (required)
//	Pass/Fail or Status                P or Pass, F or Fail (required); I or Information, an asset record without a test, is refused
//	Retest (Months)                    retest_months
//	Instrument, Instrument Serial      instrument, instrument_serial
//	Person                             tester (required)
//	Test, Result, Unit, Status         a group of four columns, repeated, one test each (below)
//
// Other columns (Client Name, Site Name, Location Name, Asset Notes, Test Name,
// Test Notes, Test Tag, Asset Make, Asset Model, Asset Serial, Standard, Procedure
// Reference, End of Life, Option_Updateasset, and any not listed) are read past.
// Old Asset Id, which renames an asset, is refused: the register renames no item
// on an import. The layout has no owner: its records have no OwnerCRN, and the
// register matches them to items by label id.
//
// The article's one example of a Test group is Test "Differential Leakage",
// Result "0.21", Unit "mA", Status "Pass"; it does not list the test names. The
// mapping of names below is therefore modelled on the tests' usual names, by the
// words in them (in any case): "visual" is the visual inspection and "polarity"
// the polarity check (their Status is the outcome); "insulation" is insulation
// resistance (Unit MΩ, MOhm or Mohm; a test voltage in the name, as "Insulation
// 500V", is kept as insulation_v); "leakage", "touch current" or "protective
// conductor current" is the leakage figure (mA, or µA or uA); "earth", "bond" or
// "continuity" otherwise is earth continuity (Ω, Ohm or Ohms, or mΩ or mOhm).
// Other tests (load, fuse, RCD) are read past. A figure may be an over- or
// under-range reading on the side that is safe to take as the figure (">299"
// MΩ of insulation is taken as 299; "<0.01" Ω of earth or "<0.1" mA is taken as
// 0.01 or 0.1); the other side is refused. Where a row has two tests of one kind
// (a Class II item's insulation at two probe points), the worse figure is kept.
//
// # Both layouts
//
// A file has at most MaxRecords records, MaxColumns columns and MaxFileBytes
// bytes, and a field at most MaxField bytes. A header row alone is a file of no
// records. A file that tests one asset twice on one date is refused, naming
// both lines: the register cannot order two results of one day, and a double
// export is likelier than a retest; import a same-day retest in a file of its own.

// Layout is a CSV file's column layout.
type Layout int

// Layouts.
const (
	// LayoutDetect has ReadCSV pick the layout from the header row
	// (DetectLayout).
	LayoutDetect Layout = iota
	// LayoutApedge is apedge's own layout.
	LayoutApedge
	// LayoutPATorganiser is PATorganiser's "Excel simple" layout, as CSV.
	LayoutPATorganiser
)

// String names the layout, as `apedge ctl pat import` shows it.
func (l Layout) String() string {
	switch l {
	case LayoutDetect:
		return "detect"
	case LayoutApedge:
		return "apedge"
	case LayoutPATorganiser:
		return "patorganiser"
	}
	return fmt.Sprintf("Layout(%d)", int(l))
}

// Limits on a file.
const (
	MaxRecords   = 100000   // records in a file, the header not counted
	MaxFileBytes = 32 << 20 // bytes in a file
	MaxField     = 256      // bytes in a field
	MaxColumns   = 256      // fields in a row
	// MaxListed is how many bad lines an ImportError lists; it counts the rest.
	MaxListed = 100
	// ProgressEvery is how many records ReadCSVFunc reads between calls of its
	// progress function.
	ProgressEvery = 1000
)

// apedgeColumns is the apedge layout's header row.
var apedgeColumns = []string{"asset_id", "description", "owner_crn", "category", "class", "test_date", "visual",
	"earth_ohm", "insulation_mohm", "insulation_v", "leakage_ma", "polarity", "result", "retest_months",
	"instrument", "instrument_serial", "tester"}

// ApedgeHeader returns the apedge layout's header row, a new slice on every call.
func ApedgeHeader() []string {
	return append([]string(nil), apedgeColumns...)
}

// LineError is one bad line of a file.
type LineError struct {
	// Line is the line's number, from 1 (the header row); a record whose
	// quoted field spans lines is numbered by its first.
	Line int `json:"line"`
	// Reason says what is wrong with it, for a person.
	Reason string `json:"reason"`
}

// ImportError is ReadCSV's refusal of a file: nothing of it is imported.
type ImportError struct {
	// Lines are the bad lines, in file order, at most MaxListed of them.
	Lines []LineError `json:"lines"`
	// More counts the bad lines past those listed.
	More int `json:"more,omitempty"`
}

// Error lists the bad lines.
func (e *ImportError) Error() string {
	var b strings.Builder
	b.WriteString("pat: the file is refused and nothing was imported")
	for i, l := range e.Lines {
		if i == 0 {
			b.WriteString(": ")
		} else {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "line %d: %s", l.Line, l.Reason)
	}
	if e.More > 0 {
		fmt.Fprintf(&b, "; and %d more bad lines", e.More)
	}
	return b.String()
}

// add records a bad line.
func (e *ImportError) add(line int, format string, a ...any) {
	if len(e.Lines) >= MaxListed {
		e.More++
		return
	}
	e.Lines = append(e.Lines, LineError{Line: line, Reason: fmt.Sprintf(format, a...)})
}

// DetectLayout says which layout a header row is: LayoutApedge if it is exactly
// the apedge header, LayoutPATorganiser if it has an Asset Id column. A byte
// order mark before the first name is skipped.
func DetectLayout(header []string) (Layout, error) {
	header = unBOM(header)
	if slicesEqual(header, apedgeColumns) {
		return LayoutApedge, nil
	}
	for _, h := range header {
		if norm(h) == "asset id" {
			return LayoutPATorganiser, nil
		}
	}
	return LayoutDetect, errors.New("pat: the header row is neither apedge's (" + strings.Join(apedgeColumns, ",") +
		") nor PATorganiser's (with an Asset Id column)")
}

// ReadCSV reads every test record of a CSV file in the given layout
// (LayoutDetect: the header row says which), or refuses the whole file with an
// *ImportError listing its bad lines. The records are in file order.
func ReadCSV(r io.Reader, layout Layout) ([]Record, error) {
	return ReadCSVFunc(r, layout, nil)
}

// errTooBig stops a read past MaxFileBytes.
var errTooBig = errors.New("too big")

// limitReader reads from r, failing with errTooBig past n bytes.
type limitReader struct {
	r io.Reader
	n int64
}

func (l *limitReader) Read(p []byte) (int, error) {
	if l.n < 0 {
		return 0, errTooBig
	}
	if int64(len(p)) > l.n+1 {
		p = p[:l.n+1]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	if l.n < 0 {
		return n, errTooBig
	}
	return n, err
}

// ReadCSVFunc is ReadCSV calling progress, if not nil, with the number of records
// read so far every ProgressEvery records, and with the total at the end of a
// file it accepts (unless the last call gave it), so that `apedge ctl pat import`
// can show progress on a long file. It calls progress on its own goroutine.
func ReadCSVFunc(r io.Reader, layout Layout, progress func(records int)) ([]Record, error) {
	cr := csv.NewReader(&limitReader{r: r, n: MaxFileBytes})
	cr.FieldsPerRecord = -1
	bad := &ImportError{}
	refuse := func() ([]Record, error) { return nil, bad }
	last := 0 // the line of the last row read
	// next reads a row; stop says the read cannot go on.
	next := func() (fields []string, line int, stop bool, err error) {
		fields, err = cr.Read()
		var pe *csv.ParseError
		switch {
		case err == io.EOF:
			return nil, 0, true, nil
		case errors.Is(err, errTooBig):
			bad.add(last+1, "the file is over %d MiB; split it", MaxFileBytes>>20)
			return nil, 0, true, nil
		case errors.As(err, &pe):
			bad.add(pe.Line, "%v; the rest of the file was not read", pe.Err)
			return nil, 0, true, nil
		case err != nil:
			return nil, 0, true, fmt.Errorf("pat: reading the file: %w", err)
		}
		line, _ = cr.FieldPos(0)
		last = line
		return fields, line, false, nil
	}
	header, _, stop, err := next()
	if err != nil {
		return nil, err
	}
	if stop {
		if len(bad.Lines) == 0 {
			bad.add(1, "the file is empty: it needs a header row")
		}
		return refuse()
	}
	header = unBOM(header)
	if layout == LayoutDetect {
		if layout, err = DetectLayout(header); err != nil {
			bad.add(1, "%s", strings.TrimPrefix(err.Error(), "pat: "))
			return refuse()
		}
	}
	var parse func([]string) (Record, string)
	switch layout {
	case LayoutApedge:
		if !slicesEqual(header, apedgeColumns) {
			bad.add(1, "the header row is not apedge's: it must be exactly %s", strings.Join(apedgeColumns, ","))
			return refuse()
		}
		parse = parseApedge
	case LayoutPATorganiser:
		cols, reason := patorganiserColumns(header)
		if reason != "" {
			bad.add(1, "%s", reason)
			return refuse()
		}
		parse = cols.parse
	default:
		return nil, fmt.Errorf("pat: unknown layout %v", layout)
	}
	out := []Record{}
	seen := map[string]int{} // asset and date: line
	for n := 1; ; n++ {
		fields, line, stop, err := next()
		if err != nil {
			return nil, err
		}
		if stop {
			break
		}
		if n > MaxRecords {
			bad.add(line, "the file has more than %d records; split it", MaxRecords)
			break
		}
		if reason := checkFields(fields, header); reason != "" {
			bad.add(line, "%s", reason)
			continue
		}
		if layout == LayoutApedge && len(fields) != len(apedgeColumns) {
			bad.add(line, "%d fields; the apedge layout has %d", len(fields), len(apedgeColumns))
			continue
		}
		if len(fields) > len(header) {
			bad.add(line, "%d fields; the header row has %d", len(fields), len(header))
			continue
		}
		rec, reason := parse(fields)
		if reason != "" {
			bad.add(line, "%s", reason)
			continue
		}
		key := rec.AssetID + " " + rec.TestedAt.Format(time.DateOnly)
		if first, ok := seen[key]; ok {
			bad.add(line, "asset %s is tested on %s on line %d too", rec.AssetID, rec.TestedAt.Format(time.DateOnly), first)
			continue
		}
		seen[key] = line
		if len(bad.Lines) == 0 {
			out = append(out, rec)
		}
		if progress != nil && n%ProgressEvery == 0 {
			progress(n)
		}
	}
	if len(bad.Lines) > 0 {
		return refuse()
	}
	if progress != nil && (len(out) == 0 || len(out)%ProgressEvery != 0) {
		progress(len(out))
	}
	return out, nil
}

// checkFields checks what every row of either layout must be; header names
// the fields.
func checkFields(fields, header []string) string {
	if len(fields) > MaxColumns {
		return fmt.Sprintf("%d fields; at most %d", len(fields), MaxColumns)
	}
	for i, f := range fields {
		if len(f) > MaxField {
			name := fmt.Sprintf("field %d", i+1)
			if i < len(header) && len(header[i]) <= 64 {
				name += fmt.Sprintf(" (%s)", strings.TrimSpace(header[i]))
			}
			return fmt.Sprintf("%s is %d bytes long; at most %d", name, len(f), MaxField)
		}
	}
	return ""
}

// parseApedge makes a record of an apedge row of the right length, or says why
// not.
func parseApedge(f []string) (Record, string) {
	v := make([]string, len(f))
	for i := range f {
		v[i] = strings.TrimSpace(f[i])
	}
	var r Record
	var reason string
	// each sets reason from the first bad field.
	each := func(col int, fn func(string) string) {
		if reason != "" {
			return
		}
		if why := fn(v[col]); why != "" {
			reason = apedgeColumns[col] + ": " + why
		}
	}
	each(0, func(s string) (why string) { r.AssetID, why = assetID(s); return })
	each(1, func(s string) (why string) { r.Description, why = text(s, false); return })
	each(2, func(s string) (why string) { r.OwnerCRN, why = crn(s); return })
	each(3, func(s string) (why string) { r.Category, why = text(s, false); return })
	each(4, func(s string) (why string) { r.Class, why = class(s, false); return })
	each(5, func(s string) (why string) { r.TestedAt, why = date(s, false); return })
	each(6, func(s string) (why string) { r.Visual, why = result(s, false); return })
	each(7, func(s string) (why string) { r.EarthOhm, why = figure(s, maxOhm, "Ω"); return })
	each(8, func(s string) (why string) { r.InsulationMOhm, why = figure(s, maxMOhm, "MΩ"); return })
	each(9, func(s string) (why string) {
		r.InsulationV, why = whole(s, 1, 1000)
		if why == "" && s != "" && v[8] == "" {
			why = "a test voltage with no insulation_mohm"
		}
		return
	})
	each(10, func(s string) (why string) { r.LeakageMA, why = figure(s, maxMA, "mA"); return })
	each(11, func(s string) (why string) { r.Polarity, why = result(s, false); return })
	each(12, func(s string) (why string) { r.Result, why = result(s, true); return })
	each(13, func(s string) (why string) { r.RetestMonths, why = whole(s, 1, 120); return })
	each(14, func(s string) (why string) { r.Instrument, why = text(s, false); return })
	each(15, func(s string) (why string) { r.InstrumentSerial, why = text(s, false); return })
	each(16, func(s string) (why string) { r.Tester, why = text(s, true); return })
	return r, reason
}

// The largest figures.
const (
	maxOhm  = 1000
	maxMOhm = 1000000
	maxMA   = 1000
)

// assetID checks a label id: 1 to 64 printable ASCII bytes, no spaces.
func assetID(s string) (string, string) {
	if s == "" {
		return "", "missing: give the item's label id"
	}
	if len(s) > 64 {
		return "", fmt.Sprintf("%d bytes long; a label id is at most 64", len(s))
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return "", fmt.Sprintf("%q is not a label id: 1 to 64 printable ASCII characters, no spaces", s)
		}
	}
	return s, ""
}

// text checks a text: UTF-8, no control characters; required says it may not
// be empty.
func text(s string, required bool) (string, string) {
	if s == "" && required {
		return "", "missing"
	}
	if !utf8.ValidString(s) {
		return "", "not UTF-8 text; save the file as UTF-8"
	}
	for _, c := range s {
		if c < ' ' || c == 0x7F || c >= 0x80 && c < 0xA0 {
			return "", "has a control character"
		}
	}
	return s, ""
}

// crn checks an owner's CRN: empty, or a letter and six digits, as
// internal/config.ParseCRN; it keeps it in upper case.
func crn(s string) (string, string) {
	n := strings.ToUpper(s)
	if n == "" {
		return "", ""
	}
	ok := len(n) == 7 && n[0] >= 'A' && n[0] <= 'Z'
	for i := 1; ok && i < len(n); i++ {
		ok = n[i] >= '0' && n[i] <= '9'
	}
	if !ok {
		return "", fmt.Sprintf("%q is not a CRN: a CRN is a letter and six digits, e.g. X123456; leave it empty for the AP's own items", s)
	}
	return n, ""
}

// class reads a class: I, II or III, in either case; loose also takes 1, 2 or 3
// and a "Class" before it.
func class(s string, loose bool) (Class, string) {
	n := strings.ToUpper(s)
	if loose {
		n = strings.TrimSpace(strings.TrimPrefix(n, "CLASS"))
		if roman, ok := map[string]string{"1": "I", "2": "II", "3": "III"}[n]; ok {
			n = roman
		}
	}
	switch c := Class(n); c {
	case ClassI, ClassII, ClassIII:
		return c, ""
	}
	if s == "" {
		return "", "missing: give the item's class, I, II or III"
	}
	return "", fmt.Sprintf("%q is not a class: I, II or III", s)
}

// date reads a date, YYYY-MM-DD, or, uk, DD/MM/YYYY, as midnight UTC.
func date(s string, uk bool) (time.Time, string) {
	if s == "" {
		return time.Time{}, "missing: give the date of the test"
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil && len(s) == 10 {
		return t, ""
	}
	if uk {
		if t, err := time.Parse("02/01/2006", s); err == nil && len(s) == 10 {
			return t, ""
		}
		return time.Time{}, fmt.Sprintf("%q is not a date: write 2026-11-22 or 22/11/2026", s)
	}
	return time.Time{}, fmt.Sprintf("%q is not a date: write 2026-11-22", s)
}

// result reads pass, fail, or empty (not done) unless required, in either case.
func result(s string, required bool) (Result, string) {
	switch strings.ToLower(s) {
	case "pass":
		return ResultPass, ""
	case "fail":
		return ResultFail, ""
	case "":
		if !required {
			return ResultNotDone, ""
		}
		return "", "missing: pass or fail"
	}
	if required {
		return "", fmt.Sprintf("%q is not a result: pass or fail", s)
	}
	return "", fmt.Sprintf("%q is not a result: pass, fail, or empty if not done", s)
}

// figure reads a figure: empty (not measured) or a decimal, 1 to 7 digits and
// optionally a point and 1 to 9 more, at most max.
func figure(s string, max float64, unit string) (*float64, string) {
	if s == "" {
		return nil, ""
	}
	if !decimal(s) {
		return nil, fmt.Sprintf("%q is not a figure: write it as 0.05, with a point and no sign, or leave it empty if not measured", s)
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || v > max {
		return nil, fmt.Sprintf("%s %s is out of range: at most %v %s", s, unit, max, unit)
	}
	return &v, ""
}

// decimal says s is 1 to 7 digits, optionally a point and 1 to 9 more.
func decimal(s string) bool {
	whole, frac, point := strings.Cut(s, ".")
	return digits(whole, 7) && (!point || digits(frac, 9))
}

// digits says s is 1 to n ASCII digits.
func digits(s string, n int) bool {
	if s == "" || len(s) > n {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// whole reads a whole number lo to hi, or empty as 0.
func whole(s string, lo, hi int) (int, string) {
	if s == "" {
		return 0, ""
	}
	n, err := strconv.Atoi(s)
	if !digits(s, 4) || err != nil || n < lo || n > hi {
		return 0, fmt.Sprintf("%q is not a whole number %d to %d", s, lo, hi)
	}
	return n, ""
}

// patColumns are where a PATorganiser header has the columns apedge reads; -1:
// absent.
type patColumns struct {
	id, description, class, category, date, result, retest, instrument, serial, person int
	tests                                                                              []int // each a Test column, with Result, Unit and Status after it
}

// patorganiserColumns finds the columns of a PATorganiser header.
func patorganiserColumns(header []string) (patColumns, string) {
	if len(header) > MaxColumns {
		return patColumns{}, fmt.Sprintf("%d columns; at most %d", len(header), MaxColumns)
	}
	c := patColumns{id: -1, description: -1, class: -1, category: -1, date: -1, result: -1, retest: -1, instrument: -1, serial: -1, person: -1}
	var assetType, overallStatus = -1, -1
	one := map[string]*int{
		"asset id": &c.id, "asset description": &c.description, "asset class": &c.class, "asset type": &assetType,
		"pass/fail": &c.result, "retest (months)": &c.retest, "instrument": &c.instrument,
		"instrument serial": &c.serial, "person": &c.person,
	}
	// Columns with other names for the same thing, in order of preference.
	alts := map[string][]string{
		"test date": {"test date", "last full test date", "last test"},
		"category":  {"category", "type"},
	}
	altAt := map[string]int{}
	isAlt := map[string]bool{}
	for _, names := range alts {
		for _, n := range names {
			isAlt[n] = true
		}
	}
	for i := 0; i < len(header); i++ {
		h := norm(header[i])
		switch {
		case h == "test":
			if i+3 >= len(header) || norm(header[i+1]) != "result" || norm(header[i+2]) != "unit" || norm(header[i+3]) != "status" {
				return c, fmt.Sprintf("column %d, Test, is not followed by Result, Unit and Status", i+1)
			}
			c.tests = append(c.tests, i)
			i += 3
			continue
		case h == "old asset id":
			return c, "the file renames assets (Old Asset Id); apedge imports tests, not renamings"
		case h == "status":
			if overallStatus >= 0 {
				return c, fmt.Sprintf("two Status columns (%d and %d) outside a Test group", overallStatus+1, i+1)
			}
			overallStatus = i
		case h == "result" || h == "unit":
			return c, fmt.Sprintf("column %d, %s, is not in a Test, Result, Unit, Status group", i+1, header[i])
		}
		if p, ok := one[h]; ok {
			if *p >= 0 {
				return c, fmt.Sprintf("two %s columns (%d and %d)", header[i], *p+1, i+1)
			}
			*p = i
		}
		if isAlt[h] {
			if prev, ok := altAt[h]; ok {
				return c, fmt.Sprintf("two %s columns (%d and %d)", header[i], prev+1, i+1)
			}
			altAt[h] = i
		}
	}
	pick := func(k string) int {
		for _, n := range alts[k] {
			if i, ok := altAt[n]; ok {
				return i
			}
		}
		return -1
	}
	c.date = pick("test date")
	if c.category = pick("category"); c.category < 0 {
		c.category = assetType
	}
	if c.result < 0 {
		c.result = overallStatus
	} else if overallStatus >= 0 {
		return c, "both Pass/Fail and Status columns; give one"
	}
	var missing []string
	for _, m := range []struct {
		col  int
		name string
	}{{c.id, "Asset Id"}, {c.class, "Asset Class"}, {c.date, "Test Date"}, {c.result, "Pass/Fail"}, {c.person, "Person"}} {
		if m.col < 0 {
			missing = append(missing, m.name)
		}
	}
	if len(missing) > 0 {
		return c, "the header has no " + strings.Join(missing, ", ") + " column; apedge needs them"
	}
	return c, ""
}

// parse makes a record of a PATorganiser row, or says why not.
func (c patColumns) parse(f []string) (Record, string) {
	get := func(i int) string {
		if i < 0 || i >= len(f) {
			return ""
		}
		return strings.TrimSpace(f[i])
	}
	var r Record
	var why string
	if r.AssetID, why = assetID(get(c.id)); why != "" {
		return r, "Asset Id: " + why
	}
	if r.Description, why = text(get(c.description), false); why != "" {
		return r, "Asset Description: " + why
	}
	if r.Category, why = text(get(c.category), false); why != "" {
		return r, "Category: " + why
	}
	if r.Class, why = class(get(c.class), true); why != "" {
		return r, "Asset Class: " + why
	}
	if r.TestedAt, why = date(get(c.date), true); why != "" {
		return r, "Test Date: " + why
	}
	switch s := strings.ToLower(get(c.result)); s {
	case "p", "pass":
		r.Result = ResultPass
	case "f", "fail":
		r.Result = ResultFail
	case "i", "information":
		return r, "Pass/Fail: an information record (I) has no test to import; export tests only"
	case "":
		return r, "Pass/Fail: missing: P, Pass, F or Fail"
	default:
		return r, fmt.Sprintf("Pass/Fail: %q is not P, Pass, F or Fail", get(c.result))
	}
	if r.RetestMonths, why = whole(get(c.retest), 1, 120); why != "" {
		return r, "Retest (Months): " + why
	}
	if r.Instrument, why = text(get(c.instrument), false); why != "" {
		return r, "Instrument: " + why
	}
	if r.InstrumentSerial, why = text(get(c.serial), false); why != "" {
		return r, "Instrument Serial: " + why
	}
	if r.Tester, why = text(get(c.person), true); why != "" {
		return r, "Person: " + why
	}
	for _, t := range c.tests {
		name, value, unit, status := get(t), get(t+1), get(t+2), get(t+3)
		if name == "" {
			if value != "" || unit != "" || status != "" {
				return r, fmt.Sprintf("column %d: a test result with no Test name", t+1)
			}
			continue
		}
		if why := r.patTest(name, value, unit, status); why != "" {
			return r, fmt.Sprintf("test %q: %s", name, why)
		}
	}
	return r, ""
}

// patTest adds one PATorganiser test to r, keeping the worse of two of a kind.
func (r *Record) patTest(name, value, unit, status string) string {
	if _, why := text(name, true); why != "" {
		return why
	}
	n := strings.ToLower(name)
	has := func(words ...string) bool {
		for _, w := range words {
			if strings.Contains(n, w) {
				return true
			}
		}
		return false
	}
	outcome := func(into *Result) string {
		var res Result
		switch strings.ToLower(status) {
		case "p", "pass":
			res = ResultPass
		case "f", "fail":
			res = ResultFail
		default:
			return fmt.Sprintf("Status %q is not P, Pass, F or Fail", status)
		}
		if *into != ResultFail {
			*into = res
		}
		return ""
	}
	switch {
	case has("visual"):
		return outcome(&r.Visual)
	case has("polarity"):
		return outcome(&r.Polarity)
	case has("insulation"):
		v, why := patFigure(value, unit, '>', maxMOhm, map[string]int{"mω": 0, "mohm": 0, "mohms": 0, "m ohm": 0})
		if why != "" {
			return why
		}
		volts := testVolts(n)
		if r.InsulationMOhm == nil || *v < *r.InsulationMOhm {
			r.InsulationMOhm, r.InsulationV = v, volts
		}
		return ""
	case has("leakage", "touch current", "protective conductor current"):
		v, why := patFigure(value, unit, '<', maxMA, map[string]int{"ma": 0, "µa": 3, "μa": 3, "ua": 3})
		if why != "" {
			return why
		}
		if r.LeakageMA == nil || *v > *r.LeakageMA {
			r.LeakageMA = v
		}
		return ""
	case has("earth", "bond", "continuity"):
		v, why := patFigure(value, unit, '<', maxOhm, map[string]int{"ω": 0, "ohm": 0, "ohms": 0, "mω": 3, "mohm": 3, "mohms": 3})
		if why != "" {
			return why
		}
		if r.EarthOhm == nil || *v > *r.EarthOhm {
			r.EarthOhm = v
		}
		return ""
	}
	return ""
}

// patFigure reads a PATorganiser figure in one of units (each mapped to the
// power of ten it is below the figure's unit), allowing a range sign safe (>
// or <) before it.
func patFigure(value, unit string, safe byte, max float64, units map[string]int) (*float64, string) {
	u := strings.ToLower(strings.TrimSpace(unit))
	shift, ok := units[u]
	if !ok {
		return nil, fmt.Sprintf("Unit %q is not one apedge reads for this test", unit)
	}
	s := value
	if s != "" && (s[0] == '<' || s[0] == '>') {
		if s[0] != safe {
			return nil, fmt.Sprintf("Result %q is out of the instrument's range on the side that cannot be checked", value)
		}
		s = strings.TrimSpace(s[1:])
	}
	if s == "" {
		return nil, "Result missing: give the figure"
	}
	if !decimal(s) {
		return nil, fmt.Sprintf("Result %q is not a figure: write it as 0.05, with a point and no sign", value)
	}
	s = shiftDown(s, shift)
	if !decimal(s) {
		return nil, fmt.Sprintf("Result %q %s has too many decimals", value, unit)
	}
	return figureOf(s, max, unit)
}

// figureOf reads a checked decimal, at most max.
func figureOf(s string, max float64, unit string) (*float64, string) {
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || v > max {
		return nil, fmt.Sprintf("%s %s is out of range", s, unit)
	}
	return &v, ""
}

// shiftDown divides a decimal by 10^n by moving its point, exactly.
func shiftDown(s string, n int) string {
	if n == 0 {
		return s
	}
	whole, frac, _ := strings.Cut(s, ".")
	whole = strings.Repeat("0", n) + whole
	frac = whole[len(whole)-n:] + frac
	whole = strings.TrimLeft(whole[:len(whole)-n], "0")
	if whole == "" {
		whole = "0"
	}
	frac = strings.TrimRight(frac, "0")
	if frac == "" {
		return whole
	}
	return whole + "." + frac
}

// testVolts finds a test voltage in a test's name ("insulation 500v"), 1 to
// 1000 V; 0 if none.
func testVolts(name string) int {
	for i := 0; i < len(name); i++ {
		if name[i] < '0' || name[i] > '9' || i > 0 && name[i-1] >= '0' && name[i-1] <= '9' {
			continue
		}
		j := i
		for j < len(name) && name[j] >= '0' && name[j] <= '9' {
			j++
		}
		k := j
		if k < len(name) && name[k] == ' ' {
			k++
		}
		if k < len(name) && name[k] == 'v' && (k+1 == len(name) || !isLetter(name[k+1])) {
			if v, err := strconv.Atoi(name[i:j]); err == nil && v >= 1 && v <= 1000 {
				return v
			}
		}
		i = j
	}
	return 0
}

func isLetter(b byte) bool { return b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' }

// norm is a header name as compared: trimmed, in lower case.
func norm(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// unBOM drops a byte order mark before the first name of a header row.
func unBOM(header []string) []string {
	if len(header) > 0 && strings.HasPrefix(header[0], "\uFEFF") {
		header = append([]string{strings.TrimPrefix(header[0], "\uFEFF")}, header[1:]...)
	}
	return header
}

func slicesEqual(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// WriteCSV writes records as a CSV file in the apedge layout (the only layout it
// writes), header row first. A test's time of day is not written: the layout
// carries the date (UTC). It refuses, writing nothing, a set of records
// ReadCSV would not read back as they are: a bad value, a figure with more
// decimals than the layout carries, a value with surrounding spaces, two tests of
// one asset on one date.
func WriteCSV(w io.Writer, layout Layout, records []Record) error {
	if layout != LayoutApedge {
		return fmt.Errorf("pat: WriteCSV writes the apedge layout, not %v", layout)
	}
	var buf bytes.Buffer
	cw := csv.NewWriter(&buf)
	if err := cw.Write(apedgeColumns); err != nil {
		return fmt.Errorf("pat: writing the header: %w", err)
	}
	seen := map[string]int{}
	for i, r := range records {
		row := apedgeRow(r)
		back, why := parseApedge(row)
		if why == "" {
			if reason := checkFields(row, apedgeColumns); reason != "" {
				why = reason
			}
		}
		want, u := r, r.TestedAt.UTC()
		want.TestedAt = time.Date(u.Year(), u.Month(), u.Day(), 0, 0, 0, 0, time.UTC)
		if why == "" && !reflect.DeepEqual(back, want) {
			why = "it would not read back as it is (a value with surrounding spaces, a lower-case CRN or class, or a figure with more than 9 decimals?)"
		}
		if why != "" {
			return fmt.Errorf("pat: record %d (asset %q): %s", i+1, r.AssetID, why)
		}
		key := r.AssetID + " " + row[5]
		if first, ok := seen[key]; ok {
			return fmt.Errorf("pat: record %d (asset %q): tested on %s as record %d is", i+1, r.AssetID, row[5], first)
		}
		seen[key] = i + 1
		if err := cw.Write(row); err != nil {
			return fmt.Errorf("pat: writing record %d: %w", i+1, err)
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("pat: writing: %w", err)
	}
	if _, err := w.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("pat: writing: %w", err)
	}
	return nil
}

// apedgeRow is a record's row in the apedge layout.
func apedgeRow(r Record) []string {
	fig := func(v *float64) string {
		if v == nil {
			return ""
		}
		return strconv.FormatFloat(*v, 'f', -1, 64)
	}
	num := func(n int) string {
		if n == 0 {
			return ""
		}
		return strconv.Itoa(n)
	}
	return []string{r.AssetID, r.Description, r.OwnerCRN, r.Category, string(r.Class), r.TestedAt.UTC().Format(time.DateOnly),
		string(r.Visual), fig(r.EarthOhm), fig(r.InsulationMOhm), num(r.InsulationV), fig(r.LeakageMA), string(r.Polarity),
		string(r.Result), num(r.RetestMonths), r.Instrument, r.InstrumentSerial, r.Tester}
}
