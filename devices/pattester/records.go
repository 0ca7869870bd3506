package pattester

import (
	"strconv"
	"strings"
	"time"

	"github.com/apedge/apedge/devices/internal/record"
	"github.com/apedge/apedge/formats/pat"
)

// Site-bus vocabulary the class speaks, as package sitebus defines it (a test in
// firmware-bridge checks they agree).
const (
	// ClassName is the site-bus class of PAT testers.
	ClassName = "pat-tester"
	// StatusKind is the kind of a tester's retained state, whose data is a Status.
	StatusKind = "status"
	// TestKind is the kind of the event of each test record, whose data is a Test.
	TestKind = "test"
	// ActionIdentify is the command that asks a tester for its identity (an RQ
	// what=id record) and waits for its ID record.
	ActionIdentify = "identify"
)

// Record types of the protocol (see the package doc).
const (
	// TypeID is the instrument's identity, sent at power-on and when asked.
	TypeID = "ID"
	// TypeTest is one test of one item.
	TypeTest = "PT"
	// TypeRequest goes from the bridge to the instrument: what=id asks for its ID.
	TypeRequest = "RQ"
)

// Bounds of a PT record's figures (see the package doc).
const (
	maxEarthOhm       = 100
	maxInsulationMOhm = 10000
	minInsulationV    = 50
	maxInsulationV    = 1000
	maxLeakageMA      = 100
	maxRetestMonths   = 120
)

// Status is a PAT tester's retained state, as sitebus.PATTesterStatus.
type Status struct {
	Online bool `json:"online"`
	// Serial, Model and Firmware are as the instrument reports them in its ID
	// record; CalibrationDue is its next calibration date (YYYY-MM-DD).
	Serial         string `json:"serial,omitempty"`
	Model          string `json:"model,omitempty"`
	Firmware       string `json:"firmware,omitempty"`
	CalibrationDue string `json:"calibrationDue,omitempty"`
	// BadRecords counts lines from the instrument that were not good records;
	// LastError says what went wrong last, for a person.
	BadRecords int64  `json:"badRecords,omitempty"`
	LastError  string `json:"lastError,omitempty"`
	Simulated  bool   `json:"simulated,omitempty"`
}

// Test is one test record a tester sent, as sitebus.PATTest.
type Test struct {
	// Device is the tester's id on the site bus; Serial, Firmware and
	// CalibrationDue the instrument's (Firmware and CalibrationDue from its ID
	// record, empty if none has come).
	Device         string `json:"device"`
	Serial         string `json:"serial"`
	Firmware       string `json:"firmware,omitempty"`
	CalibrationDue string `json:"calibrationDue,omitempty"`
	// TestNumber is the instrument's own running number of the test.
	TestNumber uint32 `json:"testNumber"`
	// Record is the test; Record.InstrumentSerial is Serial and
	// Record.Instrument the model the ID record gave.
	Record pat.Record `json:"record"`
}

// identity is what an ID record says.
type identity struct {
	Serial, Model, Firmware, CalibrationDue string
}

// idRecord returns the ID record of id.
func idRecord(id identity) record.Record {
	rec := record.Record{Type: TypeID}
	rec.Add("serial", id.Serial)
	rec.Add("model", id.Model)
	if id.Firmware != "" {
		rec.Add("fw", id.Firmware)
	}
	rec.Add("cal", id.CalibrationDue)
	return rec
}

// identityFromRecord reads an ID record. Fields it does not know are ignored.
func identityFromRecord(rec record.Record) (identity, error) {
	var id identity
	if rec.Type != TypeID {
		return id, record.Bad(record.CauseContent, "%s record read as ID", rec.Type)
	}
	var err error
	if id.Serial, err = needSerial(rec, "serial"); err != nil {
		return id, err
	}
	if id.Model, err = needText(rec, "model"); err != nil {
		return id, err
	}
	if fw, ok := rec.Get("fw"); ok {
		if !record.Printable(fw, 1, 32, false) {
			return id, record.Bad(record.CauseContent, "ID fw %q", record.Clip([]byte(fw)))
		}
		id.Firmware = fw
	}
	if id.CalibrationDue, err = needDate(rec, "cal"); err != nil {
		return id, err
	}
	return id, nil
}

// requestRecord returns the RQ record asking for what ("id").
func requestRecord(what string) record.Record {
	return record.Record{Type: TypeRequest, Fields: [][2]string{{"what", what}}}
}

// testRecord returns the PT record of test number n of r by the instrument with
// serial. Its figures are written with at most six decimals; what r does not say
// (a nil figure, an empty polarity, description or retest) is left out, and
// r's InsulationV only with its InsulationMOhm. Fields r has that the record does
// not carry (Category, OwnerCRN, Instrument, InstrumentSerial) are not written.
func testRecord(serial string, n uint32, r pat.Record) record.Record {
	rec := record.Record{Type: TypeTest}
	rec.Add("serial", serial)
	rec.Add("n", strconv.FormatUint(uint64(n), 10))
	rec.Add("t", r.TestedAt.Format(time.RFC3339Nano))
	rec.Add("asset", r.AssetID)
	if r.Description != "" {
		rec.Add("desc", r.Description)
	}
	rec.Add("class", string(r.Class))
	rec.Add("visual", string(r.Visual))
	if r.EarthOhm != nil {
		rec.Add("earth", record.FormatDecimal(*r.EarthOhm))
	}
	if r.InsulationMOhm != nil {
		rec.Add("ins", record.FormatDecimal(*r.InsulationMOhm))
		rec.Add("insv", strconv.Itoa(r.InsulationV))
	}
	if r.LeakageMA != nil {
		rec.Add("leak", record.FormatDecimal(*r.LeakageMA))
	}
	if r.Polarity != pat.ResultNotDone {
		rec.Add("pol", string(r.Polarity))
	}
	rec.Add("result", string(r.Result))
	if r.RetestMonths != 0 {
		rec.Add("retest", strconv.Itoa(r.RetestMonths))
	}
	rec.Add("user", r.Tester)
	return rec
}

// ptKey says k is a key a PT record may have.
func ptKey(k string) bool {
	switch k {
	case "serial", "n", "t", "asset", "desc", "class", "visual", "earth", "ins", "insv", "leak", "pol", "result", "retest", "user":
		return true
	}
	return false
}

// testFromRecord reads a PT record: the instrument's serial, the test number and
// the test (its InstrumentSerial the serial; Instrument, which the ID record says,
// empty). It refuses, with a *record.RecordError of cause CauseContent, a record
// without serial, n, t, asset, class, visual, result or user, with any field out
// of its form or range, insv without ins or ins without insv, or a key it does not
// know (see the package doc).
func testFromRecord(rec record.Record) (serial string, n uint32, r pat.Record, err error) {
	if rec.Type != TypeTest {
		return "", 0, r, record.Bad(record.CauseContent, "%s record read as PT", rec.Type)
	}
	for _, f := range rec.Fields {
		if !ptKey(f[0]) {
			return "", 0, r, record.Bad(record.CauseContent, "PT field %q unknown", f[0])
		}
	}
	if serial, err = needSerial(rec, "serial"); err != nil {
		return "", 0, r, err
	}
	r.InstrumentSerial = serial
	if n, err = needTestNumber(rec); err != nil {
		return "", 0, r, err
	}
	t, _ := rec.Get("t")
	if r.TestedAt, err = time.Parse(time.RFC3339, t); err != nil || len(t) > 40 {
		return "", 0, r, record.Bad(record.CauseContent, "PT time %q is not RFC 3339", record.Clip([]byte(t)))
	}
	if r.AssetID, err = needSerial(rec, "asset"); err != nil {
		return "", 0, r, err
	}
	if _, ok := rec.Get("desc"); ok {
		if r.Description, err = needText(rec, "desc"); err != nil {
			return "", 0, r, err
		}
	}
	switch c, _ := rec.Get("class"); pat.Class(c) {
	case pat.ClassI, pat.ClassII, pat.ClassIII:
		r.Class = pat.Class(c)
	default:
		return "", 0, r, record.Bad(record.CauseContent, "PT class %q: I, II or III", record.Clip([]byte(c)))
	}
	if r.Visual, err = needResult(rec, "visual", true); err != nil {
		return "", 0, r, err
	}
	if r.EarthOhm, err = optFigure(rec, "earth", maxEarthOhm); err != nil {
		return "", 0, r, err
	}
	if r.InsulationMOhm, err = optFigure(rec, "ins", maxInsulationMOhm); err != nil {
		return "", 0, r, err
	}
	v, hasV := rec.Get("insv")
	switch {
	case r.InsulationMOhm != nil && !hasV:
		return "", 0, r, record.Bad(record.CauseContent, "PT ins without insv")
	case r.InsulationMOhm == nil && hasV:
		return "", 0, r, record.Bad(record.CauseContent, "PT insv without ins")
	case hasV:
		if r.InsulationV, err = whole(v, minInsulationV, maxInsulationV); err != nil {
			return "", 0, r, record.Bad(record.CauseContent, "PT insv %q: a whole number of volts from %d to %d",
				record.Clip([]byte(v)), minInsulationV, maxInsulationV)
		}
	}
	if r.LeakageMA, err = optFigure(rec, "leak", maxLeakageMA); err != nil {
		return "", 0, r, err
	}
	if r.Polarity, err = needResult(rec, "pol", false); err != nil {
		return "", 0, r, err
	}
	if r.Result, err = needResult(rec, "result", true); err != nil {
		return "", 0, r, err
	}
	if v, ok := rec.Get("retest"); ok {
		if r.RetestMonths, err = whole(v, 1, maxRetestMonths); err != nil {
			return "", 0, r, record.Bad(record.CauseContent, "PT retest %q: a whole number of months from 1 to %d",
				record.Clip([]byte(v)), maxRetestMonths)
		}
	}
	if r.Tester, err = needText(rec, "user"); err != nil {
		return "", 0, r, err
	}
	return serial, n, r, nil
}

// needSerial returns the field key: 1 to 64 printable bytes, no spaces.
func needSerial(rec record.Record, key string) (string, error) {
	s, ok := rec.Get(key)
	if !ok || !record.Printable(s, 1, 64, false) {
		return "", record.Bad(record.CauseContent, "%s %s %q", rec.Type, key, record.Clip([]byte(s)))
	}
	return s, nil
}

// needText returns the field key: 1 to 64 printable bytes, spaces allowed.
func needText(rec record.Record, key string) (string, error) {
	s, ok := rec.Get(key)
	if !ok || !record.Printable(s, 1, 64, true) {
		return "", record.Bad(record.CauseContent, "%s %s %q: 1 to 64 printable bytes", rec.Type, key, record.Clip([]byte(s)))
	}
	return s, nil
}

// needDate returns the date YYYY-MM-DD in field key.
func needDate(rec record.Record, key string) (string, error) {
	s, _ := rec.Get(key)
	if _, err := time.Parse(time.DateOnly, s); err != nil || len(s) != len(time.DateOnly) {
		return "", record.Bad(record.CauseContent, "%s %s %q is not a date YYYY-MM-DD", rec.Type, key, record.Clip([]byte(s)))
	}
	return s, nil
}

// needTestNumber returns the test number in field n.
func needTestNumber(rec record.Record) (uint32, error) {
	n, _ := rec.Get("n")
	if len(n) == 0 || len(n) > 10 || strings.Trim(n, "0123456789") != "" {
		return 0, record.Bad(record.CauseContent, "%s test number %q", rec.Type, record.Clip([]byte(n)))
	}
	v, err := strconv.ParseUint(n, 10, 32)
	if err != nil {
		return 0, record.Bad(record.CauseContent, "%s test number %q", rec.Type, n)
	}
	return uint32(v), nil
}

// needResult returns pass or fail in field key; if the field is optional
// (!required) and absent, ResultNotDone.
func needResult(rec record.Record, key string, required bool) (pat.Result, error) {
	v, ok := rec.Get(key)
	if !ok && !required {
		return pat.ResultNotDone, nil
	}
	switch pat.Result(v) {
	case pat.ResultPass, pat.ResultFail:
		return pat.Result(v), nil
	}
	return "", record.Bad(record.CauseContent, "%s %s %q: pass or fail", rec.Type, key, record.Clip([]byte(v)))
}

// optFigure returns the decimal, 0 to top, in field key, or nil if there is none.
func optFigure(rec record.Record, key string, top float64) (*float64, error) {
	v, ok := rec.Get(key)
	if !ok {
		return nil, nil
	}
	f, good := record.ParseDecimal(v, false)
	if !good || f > top {
		return nil, record.Bad(record.CauseContent, "%s %s %q: a decimal from 0 to %v", rec.Type, key, record.Clip([]byte(v)), top)
	}
	return &f, nil
}

// whole reads a whole number from lo to hi: digits only, no sign.
func whole(s string, lo, hi int) (int, error) {
	if len(s) == 0 || len(s) > 6 || strings.Trim(s, "0123456789") != "" {
		return 0, record.ErrRecord
	}
	v, err := strconv.Atoi(s)
	if err != nil || v < lo || v > hi {
		return 0, record.ErrRecord
	}
	return v, nil
}
