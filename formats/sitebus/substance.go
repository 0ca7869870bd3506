package sitebus

import (
	"encoding/json"
	"fmt"

	"slices"
	"time"
)

// Substance testers: the breath-alcohol meters and oral-fluid analysers the bridge
// reads (class substance-tester). Each publishes a retained status (kind "status",
// data SubstanceTesterStatus) and an event of kind "reading" (data SubstanceReading)
// for each test it completes. The bridge says what the device said; whether a
// reading is valid (calibration, self-check, conditions, expiry) and whose it is are
// the agent's to decide.
const (
	SubstanceStatusKind  = "status"
	SubstanceReadingKind = "reading"
)

// Tester kinds.
const (
	TesterBreathAlcohol = "breath-alcohol"
	TesterOralFluid     = "oral-fluid"
)

// Panels: what a test screens for. PanelAlcohol is the breath meter's; the others
// are drug panels of oral-fluid cassettes and urine cups.
const (
	PanelAmphetamine          = "amphetamine"
	PanelMethamphetamine      = "methamphetamine"
	PanelMDMA                 = "mdma"
	PanelCocaine              = "cocaine"
	PanelOpiates              = "opiates"
	PanelMorphine             = "morphine"
	PanelMethadone            = "methadone"
	PanelBuprenorphine        = "buprenorphine"
	PanelBenzodiazepines      = "benzodiazepines"
	PanelCannabis             = "thc"
	PanelSyntheticCannabinoid = "synthetic-cannabinoids"
	PanelPregabalin           = "pregabalin"
	PanelGabapentin           = "gabapentin"
	PanelKetamine             = "ketamine"
	PanelFentanyl             = "fentanyl"
	PanelAlcohol              = "alcohol"
)

// Panels lists every panel, in the order screens show them.
var Panels = []string{PanelAmphetamine, PanelMethamphetamine, PanelMDMA, PanelCocaine, PanelOpiates, PanelMorphine,
	PanelMethadone, PanelBuprenorphine, PanelBenzodiazepines, PanelCannabis, PanelSyntheticCannabinoid,
	PanelPregabalin, PanelGabapentin, PanelKetamine, PanelFentanyl, PanelAlcohol}

// Panel results, as a device reports them (qualitative, against its cut-off).
const (
	ResultNegative    = "negative"
	ResultNonNegative = "non-negative" // preliminary until a laboratory confirms it
	ResultInvalid     = "invalid"      // no control line, or the device says so
)

// SubstanceTesterStatus is a substance tester's retained state.
type SubstanceTesterStatus struct {
	Online bool   `json:"online"`
	Kind   string `json:"kind"`
	// Serial and Firmware are as the device reports them; CalibrationDue is its next
	// calibration date (YYYY-MM-DD); SelfCheck is "pass" or "fail" at its last start.
	Serial         string `json:"serial,omitempty"`
	Firmware       string `json:"firmware,omitempty"`
	CalibrationDue string `json:"calibrationDue,omitempty"`
	SelfCheck      string `json:"selfCheck,omitempty"`
	// BadRecords counts records from the device that did not parse; LastError says
	// what went wrong last, for a person.
	BadRecords int64  `json:"badRecords,omitempty"`
	LastError  string `json:"lastError,omitempty"`
	Simulated  bool   `json:"simulated,omitempty"`
}

// SubstanceReading is one completed test on a device, as it reported it.
type SubstanceReading struct {
	Kind string `json:"kind"`
	// Serial, Firmware, CalibrationDue and SelfCheck are the device's, as with the
	// reading.
	Serial         string `json:"serial"`
	Firmware       string `json:"firmware,omitempty"`
	CalibrationDue string `json:"calibrationDue"`
	SelfCheck      string `json:"selfCheck"`
	// TestNumber is the device's own running number; TestID the test id staff keyed
	// into the device (empty if none: the agent binds by device and time).
	TestNumber uint32 `json:"testNumber"`
	TestID     string `json:"testId,omitempty"`
	// MeasuredAt is the device's clock at the reading.
	MeasuredAt time.Time `json:"measuredAt"`
	// Breath: AlcoholUg is µg of alcohol per 100 ml of breath; the ambient
	// conditions of the measurement.
	AlcoholUg    *float64 `json:"alcoholUgPer100ml,omitempty"`
	TemperatureC *float64 `json:"temperatureC,omitempty"`
	// Oral fluid: the cassette's lot and expiry (YYYY-MM-DD) and a result per panel.
	CassetteLot    string        `json:"cassetteLot,omitempty"`
	CassetteExpiry string        `json:"cassetteExpiry,omitempty"`
	Panels         []PanelResult `json:"panels,omitempty"`
	// DeviceError is an error code the device reported instead of a result.
	DeviceError string `json:"deviceError,omitempty"`
}

// PanelResult is one panel's qualitative result with the cut-off it was read
// against (ng/ml of oral fluid).
type PanelResult struct {
	Panel      string  `json:"panel"`
	Result     string  `json:"result"`
	CutoffNgMl float64 `json:"cutoffNgMl,omitempty"`
}

// DecodeSubstanceReading parses and checks a substance reading. It never panics.
func DecodeSubstanceReading(b []byte) (*SubstanceReading, error) {
	var r SubstanceReading
	if len(b) > MaxMessage {
		return nil, fmt.Errorf("%w: substance reading of %d bytes", ErrMessage, len(b))
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%w: substance reading: %v", ErrMessage, err)
	}
	bad := func(what string) (*SubstanceReading, error) {
		return nil, fmt.Errorf("%w: substance reading: %s", ErrMessage, what)
	}
	switch {
	case r.Kind != TesterBreathAlcohol && r.Kind != TesterOralFluid:
		return bad(fmt.Sprintf("kind %q", r.Kind))
	case r.Serial == "" || len(r.Serial) > 64:
		return bad("no device serial")
	case r.MeasuredAt.IsZero():
		return bad("no time")
	case !validDate(r.CalibrationDue):
		return bad(fmt.Sprintf("calibration date %q", r.CalibrationDue))
	case r.SelfCheck != "pass" && r.SelfCheck != "fail":
		return bad(fmt.Sprintf("self-check %q", r.SelfCheck))
	case len(r.TestID) > 64:
		return bad("test id too long")
	}
	if r.DeviceError != "" {
		return &r, nil
	}
	switch r.Kind {
	case TesterBreathAlcohol:
		if r.AlcoholUg == nil || !finite(*r.AlcoholUg) || *r.AlcoholUg < 0 || *r.AlcoholUg > 1000 || len(r.Panels) > 0 {
			return bad("a breath reading needs alcoholUgPer100ml, 0 to 1000, and no panels")
		}
	case TesterOralFluid:
		if len(r.Panels) == 0 || len(r.Panels) > len(Panels) || !validDate(r.CassetteExpiry) || r.CassetteLot == "" || r.AlcoholUg != nil {
			return bad("an oral-fluid reading needs panels, a cassette lot and expiry, and no alcohol figure")
		}
		seen := map[string]bool{}
		for _, p := range r.Panels {
			if !slices.Contains(Panels, p.Panel) || seen[p.Panel] || p.Panel == PanelAlcohol {
				return bad(fmt.Sprintf("panel %q", p.Panel))
			}
			seen[p.Panel] = true
			if p.Result != ResultNegative && p.Result != ResultNonNegative && p.Result != ResultInvalid {
				return bad(fmt.Sprintf("panel %s result %q", p.Panel, p.Result))
			}
			if !finite(p.CutoffNgMl) || p.CutoffNgMl < 0 || p.CutoffNgMl > 1e6 {
				return bad(fmt.Sprintf("panel %s cut-off", p.Panel))
			}
		}
	}
	if t := r.TemperatureC; t != nil && (!finite(*t) || *t < -50 || *t > 100) {
		return bad("temperature")
	}
	return &r, nil
}

// validDate says s is a date YYYY-MM-DD.
func validDate(s string) bool {
	_, err := time.Parse(time.DateOnly, s)
	return err == nil
}

// DecodeSubstanceTesterStatus parses and checks a substance tester's status. It
// never panics.
func DecodeSubstanceTesterStatus(b []byte) (*SubstanceTesterStatus, error) {
	var st SubstanceTesterStatus
	if len(b) > MaxMessage {
		return nil, fmt.Errorf("%w: substance tester status of %d bytes", ErrMessage, len(b))
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("%w: substance tester status: %v", ErrMessage, err)
	}
	switch {
	case st.Kind != TesterBreathAlcohol && st.Kind != TesterOralFluid:
		return nil, fmt.Errorf("%w: substance tester status: kind %q", ErrMessage, st.Kind)
	case st.CalibrationDue != "" && !validDate(st.CalibrationDue):
		return nil, fmt.Errorf("%w: substance tester status: calibration date %q", ErrMessage, st.CalibrationDue)
	case st.SelfCheck != "" && st.SelfCheck != "pass" && st.SelfCheck != "fail":
		return nil, fmt.Errorf("%w: substance tester status: self-check %q", ErrMessage, st.SelfCheck)
	case st.BadRecords < 0:
		return nil, fmt.Errorf("%w: substance tester status: negative badRecords", ErrMessage)
	}
	return &st, nil
}
