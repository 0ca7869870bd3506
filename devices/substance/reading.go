package substance

import (
	"strconv"
	"strings"
	"time"
)

// Site-bus vocabulary the class speaks, as package sitebus defines it (a test in
// firmware-bridge checks they agree).
const (
	// ClassName is the site-bus class of substance testers.
	ClassName = "substance-tester"
	// StatusKind is the kind of a tester's retained state, whose data is a Status.
	StatusKind = "status"
	// ReadingKind is the kind of the event of each test a tester completes (or
	// reports an error for), whose data is a Reading.
	ReadingKind = "reading"
	// ActionIdentify is the command that asks a tester for its identity (an RQ
	// what=id record) and waits for its ID record.
	ActionIdentify = "identify"
)

// Tester kinds, as config.SubstanceTester's Kind, the ID record's kind field and
// Reading's Kind.
const (
	KindBreathAlcohol = "breath-alcohol"
	KindOralFluid     = "oral-fluid"
)

// Self-check states, as the ID, BR and OF records' self field and Status's and
// Reading's SelfCheck.
const (
	SelfCheckPass = "pass"
	SelfCheckFail = "fail"
)

// Panel results in a Reading (sitebus's), and the codes the OF record writes them
// as.
const (
	// ResultNegative: under the panel's cut-off (code "neg").
	ResultNegative = "negative"
	// ResultNonNegative: at or over the cut-off, preliminary until a laboratory
	// confirms it (code "pos").
	ResultNonNegative = "non-negative"
	// ResultInvalid: no control line, or the device says so (code "inv").
	ResultInvalid = "invalid"

	CodeNegative    = "neg"
	CodeNonNegative = "pos"
	CodeInvalid     = "inv"
)

// Record types of the protocol (see the package doc).
const (
	// TypeID is the device's identity, sent at power-on and when asked.
	TypeID = "ID"
	// TypeBreath is a breath-alcohol result.
	TypeBreath = "BR"
	// TypeOralFluid is an oral-fluid result.
	TypeOralFluid = "OF"
	// TypeError is an error the device reports instead of a result.
	TypeError = "ER"
	// TypeRequest goes from the bridge to the device: what=id asks for its ID.
	TypeRequest = "RQ"
)

// Status is a substance tester's retained state, as sitebus.SubstanceTesterStatus.
type Status struct {
	Online bool   `json:"online"`
	Kind   string `json:"kind"`
	// Serial and Firmware are as the device reports them in its ID record;
	// CalibrationDue is its next calibration date (YYYY-MM-DD); SelfCheck is "pass"
	// or "fail" at its last start.
	Serial         string `json:"serial,omitempty"`
	Firmware       string `json:"firmware,omitempty"`
	CalibrationDue string `json:"calibrationDue,omitempty"`
	SelfCheck      string `json:"selfCheck,omitempty"`
	// BadRecords counts lines from the device that were not good records (garbage,
	// bad checksums, records whose fields do not make a reading); LastError says
	// what went wrong last, for a person.
	BadRecords int64  `json:"badRecords,omitempty"`
	LastError  string `json:"lastError,omitempty"`
	Simulated  bool   `json:"simulated,omitempty"`
}

// Reading is one completed test on a device, as it reported it, as
// sitebus.SubstanceReading. The bridge says what the device said; whether the
// reading is valid (calibration, self-check, conditions, expiry) is the agent's to
// judge.
type Reading struct {
	Kind string `json:"kind"`
	// Serial, Firmware, CalibrationDue and SelfCheck are the device's, as with the
	// reading (Firmware from its last ID record).
	Serial         string `json:"serial"`
	Firmware       string `json:"firmware,omitempty"`
	CalibrationDue string `json:"calibrationDue"`
	SelfCheck      string `json:"selfCheck"`
	// TestNumber is the device's own running number; TestID the test id staff keyed
	// into the device (empty if none).
	TestNumber uint32 `json:"testNumber"`
	TestID     string `json:"testId,omitempty"`
	// MeasuredAt is the device's clock at the reading.
	MeasuredAt time.Time `json:"measuredAt"`
	// Breath: AlcoholUg is µg of alcohol per 100 ml of breath; TemperatureC the
	// ambient temperature of the measurement.
	AlcoholUg    *float64 `json:"alcoholUgPer100ml,omitempty"`
	TemperatureC *float64 `json:"temperatureC,omitempty"`
	// Oral fluid: the cassette's lot and expiry (YYYY-MM-DD) and a result per panel.
	CassetteLot    string        `json:"cassetteLot,omitempty"`
	CassetteExpiry string        `json:"cassetteExpiry,omitempty"`
	Panels         []PanelResult `json:"panels,omitempty"`
	// DeviceError is the error code the device reported instead of a result.
	DeviceError string `json:"deviceError,omitempty"`
}

// PanelResult is one panel's qualitative result with the cut-off it was read
// against (ng/ml of oral fluid), as sitebus.PanelResult.
type PanelResult struct {
	Panel      string  `json:"panel"`
	Result     string  `json:"result"`
	CutoffNgMl float64 `json:"cutoffNgMl,omitempty"`
}

// Fields the record types share (see the package doc).

// identity is what an ID record says.
type identity struct {
	Serial, Firmware, CalibrationDue, SelfCheck, Kind string
}

// idRecord returns the ID record of id.
func idRecord(id identity) Record {
	rec := Record{Type: TypeID}
	rec.Add("serial", id.Serial)
	if id.Firmware != "" {
		rec.Add("fw", id.Firmware)
	}
	rec.Add("cal", id.CalibrationDue)
	rec.Add("self", id.SelfCheck)
	rec.Add("kind", id.Kind)
	return rec
}

// identityFromRecord reads an ID record.
func identityFromRecord(rec Record) (identity, error) {
	var id identity
	if rec.Type != TypeID {
		return id, bad(CauseContent, "%s record read as ID", rec.Type)
	}
	var err error
	if id.Serial, err = needSerial(rec); err != nil {
		return id, err
	}
	if fw, ok := rec.Get("fw"); ok {
		if !printable(fw, 1, 32, false) {
			return id, bad(CauseContent, "ID fw %q", fw)
		}
		id.Firmware = fw
	}
	if id.CalibrationDue, err = needDate(rec, "cal"); err != nil {
		return id, err
	}
	if id.SelfCheck, err = needSelf(rec); err != nil {
		return id, err
	}
	switch k, _ := rec.Get("kind"); k {
	case KindBreathAlcohol, KindOralFluid:
		id.Kind = k
	default:
		return id, bad(CauseContent, "ID kind %q: breath-alcohol or oral-fluid", k)
	}
	return id, nil
}

// requestRecord returns the RQ record asking for what ("id").
func requestRecord(what string) Record {
	return Record{Type: TypeRequest, Fields: [][2]string{{"what", what}}}
}

// errorRecord returns the ER record of r's serial, test number and time, with the
// device's error code and text (text may be empty).
func errorRecord(r Reading, code, text string) Record {
	rec := Record{Type: TypeError}
	putResultHead(&rec, r)
	rec.Add("code", code)
	if text != "" {
		rec.Add("text", text)
	}
	if r.CalibrationDue != "" {
		rec.Add("cal", r.CalibrationDue)
	}
	if r.SelfCheck != "" {
		rec.Add("self", r.SelfCheck)
	}
	return rec
}

// readingFromError reads an ER record as a reading of a device of kind whose error
// code is DeviceError, and returns its text too. Its cal and self are optional:
// empty if the record has none.
func readingFromError(rec Record, kind string) (Reading, string, error) {
	r := Reading{Kind: kind}
	if rec.Type != TypeError {
		return r, "", bad(CauseContent, "%s record read as ER", rec.Type)
	}
	if err := readResultHead(rec, &r); err != nil {
		return r, "", err
	}
	code, _ := rec.Get("code")
	if !printable(code, 1, 32, false) {
		return r, "", bad(CauseContent, "ER code %q", code)
	}
	r.DeviceError = code
	text, _ := rec.Get("text")
	if !printable(text, 0, 200, true) {
		return r, "", bad(CauseContent, "ER text %q", clip([]byte(text)))
	}
	if _, ok := rec.Get("cal"); ok {
		var err error
		if r.CalibrationDue, err = needDate(rec, "cal"); err != nil {
			return r, "", err
		}
	}
	if _, ok := rec.Get("self"); ok {
		var err error
		if r.SelfCheck, err = needSelf(rec); err != nil {
			return r, "", err
		}
	}
	return r, text, nil
}

// putResultHead adds the fields every result and error record starts with:
// serial, n and t.
func putResultHead(rec *Record, r Reading) {
	rec.Add("serial", r.Serial)
	rec.Add("n", strconv.FormatUint(uint64(r.TestNumber), 10))
	rec.Add("t", r.MeasuredAt.Format(time.RFC3339Nano))
}

// readResultHead reads serial, n and t, and the optional id, into r.
func readResultHead(rec Record, r *Reading) error {
	var err error
	if r.Serial, err = needSerial(rec); err != nil {
		return err
	}
	n, _ := rec.Get("n")
	if len(n) == 0 || len(n) > 10 || strings.Trim(n, "0123456789") != "" {
		return bad(CauseContent, "%s test number %q", rec.Type, n)
	}
	v, err := strconv.ParseUint(n, 10, 32)
	if err != nil {
		return bad(CauseContent, "%s test number %q", rec.Type, n)
	}
	r.TestNumber = uint32(v)
	t, _ := rec.Get("t")
	if r.MeasuredAt, err = time.Parse(time.RFC3339, t); err != nil || len(t) > 40 {
		return bad(CauseContent, "%s time %q is not RFC 3339", rec.Type, clip([]byte(t)))
	}
	if id, ok := rec.Get("id"); ok {
		if !printable(id, 0, 64, true) {
			return bad(CauseContent, "%s test id %q", rec.Type, clip([]byte(id)))
		}
		r.TestID = id
	}
	return nil
}

// putCalSelf adds cal and self.
func putCalSelf(rec *Record, r Reading) {
	rec.Add("cal", r.CalibrationDue)
	rec.Add("self", r.SelfCheck)
}

// readCalSelf reads the required cal and self into r.
func readCalSelf(rec Record, r *Reading) error {
	var err error
	if r.CalibrationDue, err = needDate(rec, "cal"); err != nil {
		return err
	}
	r.SelfCheck, err = needSelf(rec)
	return err
}

// needSerial returns the record's serial: 1 to 64 printable bytes, no spaces.
func needSerial(rec Record) (string, error) {
	s, ok := rec.Get("serial")
	if !ok || !printable(s, 1, 64, false) {
		return "", bad(CauseContent, "%s serial %q", rec.Type, clip([]byte(s)))
	}
	return s, nil
}

// needDate returns the date YYYY-MM-DD in field key.
func needDate(rec Record, key string) (string, error) {
	s, _ := rec.Get(key)
	if _, err := time.Parse(time.DateOnly, s); err != nil || len(s) != len(time.DateOnly) {
		return "", bad(CauseContent, "%s %s %q is not a date YYYY-MM-DD", rec.Type, key, clip([]byte(s)))
	}
	return s, nil
}

// needSelf returns the self-check state in field self.
func needSelf(rec Record) (string, error) {
	switch s, _ := rec.Get("self"); s {
	case SelfCheckPass, SelfCheckFail:
		return s, nil
	default:
		return "", bad(CauseContent, "%s self %q: pass or fail", rec.Type, clip([]byte(s)))
	}
}
