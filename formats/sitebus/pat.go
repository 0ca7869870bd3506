package sitebus

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/apedge/apedge/formats/pat"
)

// PAT testers: portable appliance testers whose results download over a serial
// line (class pat-tester; devices/pattester). Each publishes a retained status
// (kind "status", data PATTesterStatus) and an event of kind "test" (data PATTest)
// for each test record it sends. The bridge says what the instrument said: whether
// a "pass" is one (the figures against the limits for the item's class), whether
// the instrument was in calibration and what the item is are the agent's to decide.
const (
	PATStatusKind = "status"
	PATTestKind   = "test"
)

// Bounds of a PAT test's figures as the site bus carries them: wider than any
// tester's ranges (which top out at about 20 Ω, 20 to 300 MΩ and 20 mA), so that
// the bus refuses only nonsense, and the register judges the figures.
const (
	maxEarthOhm       = 100
	maxInsulationMOhm = 10000
	minInsulationV    = 50
	maxInsulationV    = 1000
	maxLeakageMA      = 100
	maxRetestMonths   = 120
	maxPATText        = 64
)

// PATTesterStatus is a PAT tester's retained state.
type PATTesterStatus struct {
	Online bool `json:"online"`
	// Serial, Model and Firmware are as the instrument reports them in its identity
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

// PATTest is one test record a PAT tester sent.
type PATTest struct {
	// Device is the tester's id on the site bus (as in the topic); Serial,
	// Firmware and CalibrationDue the instrument's, as with the record (Firmware and
	// CalibrationDue from its identity record; empty if it has not sent one).
	Device         string `json:"device"`
	Serial         string `json:"serial"`
	Firmware       string `json:"firmware,omitempty"`
	CalibrationDue string `json:"calibrationDue,omitempty"`
	// TestNumber is the instrument's own running number of the test.
	TestNumber uint32 `json:"testNumber"`
	// Record is the test: Record.InstrumentSerial is Serial, Record.Instrument the
	// instrument's make and model.
	Record pat.Record `json:"record"`
}

// DecodePATTesterStatus parses and checks a PAT tester's status. It never panics.
func DecodePATTesterStatus(b []byte) (*PATTesterStatus, error) {
	var st PATTesterStatus
	if len(b) > MaxMessage {
		return nil, fmt.Errorf("%w: PAT tester status of %d bytes", ErrMessage, len(b))
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("%w: PAT tester status: %v", ErrMessage, err)
	}
	bad := func(what string) (*PATTesterStatus, error) {
		return nil, fmt.Errorf("%w: PAT tester status: %s", ErrMessage, what)
	}
	switch {
	case st.CalibrationDue != "" && !validDate(st.CalibrationDue):
		return bad(fmt.Sprintf("calibration date %q", st.CalibrationDue))
	case len(st.Serial) > maxPATText || len(st.Model) > maxPATText || len(st.Firmware) > maxPATText:
		return bad("serial, model or firmware too long")
	case st.Online && st.Serial == "":
		return bad("online without a serial")
	case st.BadRecords < 0:
		return bad("negative badRecords")
	}
	return &st, nil
}

// DecodePATTest parses and checks a PAT test event. It refuses a test without a
// device, serial, asset id, class, time, visual inspection, result or tester, and
// figures that are not numbers within the bus's bounds; it does not judge them
// against the limits of the item's class. It never panics.
func DecodePATTest(b []byte) (*PATTest, error) {
	var e PATTest
	if len(b) > MaxMessage {
		return nil, fmt.Errorf("%w: PAT test of %d bytes", ErrMessage, len(b))
	}
	if err := json.Unmarshal(b, &e); err != nil {
		return nil, fmt.Errorf("%w: PAT test: %v", ErrMessage, err)
	}
	bad := func(format string, args ...any) (*PATTest, error) {
		return nil, fmt.Errorf("%w: PAT test: %s", ErrMessage, fmt.Sprintf(format, args...))
	}
	r := &e.Record
	switch {
	case !ValidDeviceID(e.Device):
		return bad("device %q", e.Device)
	case e.Serial == "" || len(e.Serial) > maxPATText:
		return bad("no instrument serial")
	case r.InstrumentSerial != e.Serial:
		return bad("record's instrument serial %q is not the tester's %q", r.InstrumentSerial, e.Serial)
	case len(e.Firmware) > maxPATText || len(r.Instrument) > maxPATText:
		return bad("firmware or instrument too long")
	case e.CalibrationDue != "" && !validDate(e.CalibrationDue):
		return bad("calibration date %q", e.CalibrationDue)
	case r.AssetID == "" || len(r.AssetID) > maxPATText:
		return bad("asset id %q", r.AssetID)
	case len(r.Description) > maxPATText || len(r.Category) > maxPATText || len(r.OwnerCRN) > maxPATText:
		return bad("description, category or owner too long")
	case r.Class != pat.ClassI && r.Class != pat.ClassII && r.Class != pat.ClassIII:
		return bad("class %q", r.Class)
	case r.TestedAt.IsZero() || r.TestedAt.Year() < 2000 || r.TestedAt.Year() > 9999:
		return bad("time %v", r.TestedAt.Format(time.RFC3339))
	case r.Visual != pat.ResultPass && r.Visual != pat.ResultFail:
		return bad("visual %q", r.Visual)
	case r.Result != pat.ResultPass && r.Result != pat.ResultFail:
		return bad("result %q", r.Result)
	case r.Polarity != pat.ResultNotDone && r.Polarity != pat.ResultPass && r.Polarity != pat.ResultFail:
		return bad("polarity %q", r.Polarity)
	case r.Tester == "" || len(r.Tester) > maxPATText:
		return bad("no tester")
	case !figure(r.EarthOhm, maxEarthOhm):
		return bad("earth continuity")
	case !figure(r.InsulationMOhm, maxInsulationMOhm):
		return bad("insulation resistance")
	case !figure(r.LeakageMA, maxLeakageMA):
		return bad("leakage current")
	case r.InsulationMOhm != nil && (r.InsulationV < minInsulationV || r.InsulationV > maxInsulationV):
		return bad("insulation test voltage %d V", r.InsulationV)
	case r.InsulationMOhm == nil && r.InsulationV != 0:
		return bad("an insulation test voltage without a resistance")
	case r.RetestMonths < 0 || r.RetestMonths > maxRetestMonths:
		return bad("retest %d months", r.RetestMonths)
	}
	return &e, nil
}

// figure says f is not measured (nil) or a number from 0 to top.
func figure(f *float64, top float64) bool {
	return f == nil || finite(*f) && *f >= 0 && *f <= top
}
