// Package pat is the record of a portable appliance test (PAT) as apedge keeps it,
// whichever way it arrives: from a PAT tester over serial (devices/pattester), from
// a PAT software's CSV export (ReadCSV), or keyed in by staff. Its fields are what
// the IET Code of Practice for In-service Inspection and Testing of Electrical
// Equipment (5th edition, 2020) has a test record hold: the formal visual
// inspection, earth continuity, insulation resistance and its test voltage,
// protective conductor or touch current, polarity where it applies, the result,
// who tested, with which instrument, and when. Check holds a record's figures
// against the limits for the item's class, so that a "pass" whose figures fail is
// flagged, not accepted.
package pat

import "time"

// Class is an item's class of protection against electric shock (BS EN 61140).
type Class string

// Classes.
const (
	// ClassI: basic insulation and a protective earth (an earthed metal case).
	ClassI Class = "I"
	// ClassII: double or reinforced insulation, no earth (the square-in-square
	// mark).
	ClassII Class = "II"
	// ClassIII: supplied at safety extra-low voltage (SELV), e.g. from a
	// separate charger; only the visual inspection applies.
	ClassIII Class = "III"
)

// Result is a test's or one check's outcome.
type Result string

// Results. A check not done (not applicable to the class, or skipped) is
// ResultNotDone, never a pass.
const (
	ResultPass    Result = "pass"
	ResultFail    Result = "fail"
	ResultNotDone Result = ""
)

// Record is one test of one item.
type Record struct {
	// AssetID is the item's label id (the barcode on its PAT label).
	AssetID string `json:"assetId"`
	// Description and Category say what it is ("kettle", category "kitchen").
	Description string `json:"description,omitempty"`
	Category    string `json:"category,omitempty"`
	// OwnerCRN is the resident who owns it; empty for the AP's own items.
	OwnerCRN string `json:"ownerCrn,omitempty"`
	Class    Class  `json:"class"`
	// TestedAt is when it was tested (a date, at midnight UTC, when the source
	// gives only the date).
	TestedAt time.Time `json:"testedAt"`
	// Visual is the formal visual inspection's outcome.
	Visual Result `json:"visual"`
	// EarthOhm is the protective earth continuity resistance in ohms (Class I);
	// nil: not measured.
	EarthOhm *float64 `json:"earthOhm,omitempty"`
	// InsulationMOhm is the insulation resistance in megohms, measured at
	// InsulationV volts (usually 500 V d.c., or 250 V for items with surge
	// protection); nil: not measured.
	InsulationMOhm *float64 `json:"insulationMOhm,omitempty"`
	InsulationV    int      `json:"insulationV,omitempty"`
	// LeakageMA is the protective conductor current (Class I) or touch current
	// (Class II) in milliamps; nil: not measured.
	LeakageMA *float64 `json:"leakageMA,omitempty"`
	// Polarity is the polarity check of an extension lead or IEC lead, where it
	// applies.
	Polarity Result `json:"polarity,omitempty"`
	// Result is the outcome the tester (the person or the instrument) gave.
	Result Result `json:"result"`
	// RetestMonths is the interval to the next test the tester gave, if any.
	RetestMonths int `json:"retestMonths,omitempty"`
	// Instrument and InstrumentSerial are the test instrument's make and model
	// and its serial number.
	Instrument       string `json:"instrument,omitempty"`
	InstrumentSerial string `json:"instrumentSerial,omitempty"`
	// Tester is the person who tested.
	Tester string `json:"tester"`
}
