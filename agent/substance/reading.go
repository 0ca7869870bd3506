package substance

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/apedge/apedge/agent/internal/fact"
	"github.com/apedge/apedge/formats/sitebus"
)

// Screen is a test's screening result, a device's reading or a urine cup's entered
// result, and the Info of its substance.tested event.
type Screen struct {
	TestID        string         `json:"testId"`
	CRN           string         `json:"crn"`
	Reason        string         `json:"reason"`
	SampleType    string         `json:"sampleType"`
	Device        string         `json:"device,omitempty"`
	Authorisation *Authorisation `json:"authorisation,omitempty"`
	// Staff and Witness are the test's; EnteredBy, for a urine cup, who entered its
	// result.
	Staff     string `json:"staff"`
	Witness   string `json:"witness"`
	EnteredBy string `json:"enteredBy,omitempty"`
	// BoundBy says how the result came to this test: BoundByTestID, BoundByWindow or
	// BoundByEntered.
	BoundBy string `json:"boundBy"`

	// The device's, as it reported them (none for a urine cup): its serial,
	// firmware and running test number, its time of measurement, its calibration
	// due date, and Calibration, whether that was CalibrationInDate,
	// CalibrationOverdue or CalibrationUnknown on the reading's date; its self-check
	// (pass or fail); the ambient temperature; the error it reported instead of a
	// result.
	Serial         string    `json:"serial,omitempty"`
	Firmware       string    `json:"firmware,omitempty"`
	TestNumber     uint32    `json:"testNumber,omitempty"`
	MeasuredAt     time.Time `json:"measuredAt,omitzero"`
	CalibrationDue string    `json:"calibrationDue,omitempty"`
	Calibration    string    `json:"calibration,omitempty"`
	SelfCheck      string    `json:"selfCheck,omitempty"`
	TemperatureC   *float64  `json:"temperatureC,omitempty"`
	DeviceError    string    `json:"deviceError,omitempty"`
	// Lot and Expiry (YYYY-MM-DD) are the oral-fluid cassette's or the urine cup's.
	Lot    string `json:"lot,omitempty"`
	Expiry string `json:"expiry,omitempty"`
	// AlcoholUg is a breath reading's µg of alcohol per 100 ml of breath, and LimitUg
	// the limit it was judged against (at or over it: non-negative).
	AlcoholUg *float64 `json:"alcoholUgPer100ml,omitempty"`
	LimitUg   *float64 `json:"limitUgPer100ml,omitempty"`

	// Panels is the outcome of each panel, in sitebus.Panels order, with the cut-off
	// it was read against (ng/ml) where known; breath has the one panel alcohol.
	Panels []sitebus.PanelResult `json:"panels"`
	// Outcome is OutcomeNonNegative if any panel is, else OutcomeInvalid if any
	// panel is (or the result is invalid, or has no panel), else OutcomeNegative.
	Outcome string `json:"outcome"`
	// Valid is false when the whole result is invalid, every panel with it;
	// InvalidReasons then says why, a sentence each.
	Valid          bool     `json:"valid"`
	InvalidReasons []string `json:"invalidReasons,omitempty"`
	// At is when the reading was received, or the result entered.
	At time.Time `json:"at"`
}

func (s Screen) clone() Screen {
	c := s
	c.Authorisation = cloneAuth(s.Authorisation)
	c.TemperatureC = cloneFloat(s.TemperatureC)
	c.AlcoholUg = cloneFloat(s.AlcoholUg)
	c.LimitUg = cloneFloat(s.LimitUg)
	c.Panels = slices.Clone(s.Panels)
	c.InvalidReasons = slices.Clone(s.InvalidReasons)
	return c
}

func cloneFloat(f *float64) *float64 {
	if f == nil {
		return nil
	}
	v := *f
	return &v
}

// UnboundReading is a device's reading that matched no test, held bound to no one,
// and the Info of its substance.reading-unbound event (an alarm).
type UnboundReading struct {
	// Device is the site-bus id of the device it came from.
	Device string `json:"device"`
	// Reading is the reading as the device sent it (figures that are not numbers
	// left out).
	Reading sitebus.SubstanceReading `json:"reading"`
	// Why says why it matched no test.
	Why string `json:"why"`
	// At is when it was received.
	At time.Time `json:"at"`
}

func (u UnboundReading) clone() UnboundReading {
	c := u
	c.Reading.AlcoholUg = cloneFloat(u.Reading.AlcoholUg)
	c.Reading.TemperatureC = cloneFloat(u.Reading.TemperatureC)
	c.Reading.Panels = slices.Clone(u.Reading.Panels)
	return c
}

// readingKey identifies a device's reading: its serial, test number and time. It is
// empty for a reading without a serial.
func readingKey(serial string, n uint32, at time.Time) string {
	if serial == "" {
		return ""
	}
	return serial + "/" + strconv.FormatUint(uint64(n), 10) + "/" + at.UTC().Format(time.RFC3339Nano)
}

// sanitize returns r without what JSON cannot carry: figures that are not numbers,
// a time outside years 0 to 9999.
func sanitize(r sitebus.SubstanceReading) sitebus.SubstanceReading {
	fin := func(f *float64) *float64 {
		if f == nil || !finite(*f) {
			return nil
		}
		v := *f
		return &v
	}
	r.AlcoholUg, r.TemperatureC = fin(r.AlcoholUg), fin(r.TemperatureC)
	r.Panels = slices.Clone(r.Panels)
	for i := range r.Panels {
		if !finite(r.Panels[i].CutoffNgMl) {
			r.Panels[i].CutoffNgMl = 0
		}
	}
	if y := r.MeasuredAt.Year(); y < 1 || y > 9999 {
		r.MeasuredAt = time.Time{}
	}
	r.MeasuredAt = r.MeasuredAt.UTC()
	return r
}

// kindOf is the reading kind of a sample type's device.
func kindOf(sampleType string) string {
	switch sampleType {
	case SampleBreath:
		return sitebus.TesterBreathAlcohol
	case SampleOralFluid:
		return sitebus.TesterOralFluid
	}
	return ""
}

// Reading binds a reading from device, received at receivedAt, to the test awaiting
// its sample there, judges it and returns its substance.tested draft; or, if it
// matches no test, holds it unbound and returns its substance.reading-unbound draft
// (an alarm to raise). See the package doc for how a reading is bound and judged.
// It refuses (with ErrDuplicate, no draft) a reading already recorded, bound or not:
// the same device serial, test number and time of measurement.
func (e *Engine) Reading(device string, r sitebus.SubstanceReading, receivedAt time.Time) (Draft, error) {
	if !sitebus.ValidDeviceID(device) {
		return Draft{}, fmt.Errorf("%w: a reading from %q, which is not a device id", ErrInvalid, fact.Clip(device))
	}
	if receivedAt.IsZero() {
		return Draft{}, fmt.Errorf("%w: a reading from %s with no time of receipt", ErrInvalid, device)
	}
	receivedAt = receivedAt.UTC()
	r = sanitize(r)
	if k := readingKey(r.Serial, r.TestNumber, r.MeasuredAt); k != "" && e.seen[k] {
		return Draft{}, fmt.Errorf("%w: %s's reading %d of %s is already recorded", ErrDuplicate, device, r.TestNumber, fact.Stamp(r.MeasuredAt))
	}
	t, by, why := e.bind(device, r, receivedAt)
	if t == nil {
		u := UnboundReading{Device: device, Reading: r, Why: why, At: receivedAt}
		key := fact.Key(TypeUnbound, device, readingKey(r.Serial, r.TestNumber, r.MeasuredAt))
		if r.Serial == "" {
			key = fact.Key(TypeUnbound, device, receivedAt.Format(time.RFC3339Nano))
		}
		return e.emit(TypeUnbound, receivedAt, "", "", key, u)
	}
	s := e.screenOf(t, by, receivedAt)
	e.judge(&s, r, receivedAt)
	return e.emit(TypeTested, receivedAt, t.CRN, t.ID, fact.Key(TypeTested, t.ID), s)
}

// bind returns the test r, from device and received at receivedAt, is for and how,
// or nil and why it is for none.
func (e *Engine) bind(device string, r sitebus.SubstanceReading, receivedAt time.Time) (*Test, string, string) {
	fits := func(t *Test) string {
		if k := kindOf(t.SampleType); r.Kind != k {
			return fmt.Sprintf("a reading of kind %q cannot be test %s's %s sample", fact.Clip(r.Kind), t.ID, t.SampleType)
		}
		if receivedAt.Before(t.StartedAt) {
			return fmt.Sprintf("it was received at %s, before test %s started at %s", fact.Stamp(receivedAt), t.ID, fact.Stamp(t.StartedAt))
		}
		return ""
	}
	if r.TestID != "" {
		t := e.tests[r.TestID]
		switch {
		case t == nil:
			return nil, "", fmt.Sprintf("the test id %q keyed into the device is no test here", fact.Clip(r.TestID))
		case t.Device != device:
			return nil, "", fmt.Sprintf("the test id keyed into the device is test %s's, which is at %s, not %s", t.ID, deviceName(t.Device), device)
		case t.State != StateAwaitingSample:
			return nil, "", fmt.Sprintf("the test id keyed into the device is test %s's, which is not awaiting a sample (%s)", t.ID, t.State)
		}
		if why := fits(t); why != "" {
			return nil, "", why
		}
		return t, BoundByTestID, ""
	}
	open := e.awaiting(device)
	switch {
	case len(open) == 0:
		return nil, "", fmt.Sprintf("no test is awaiting a sample at %s", device)
	case len(open) > 1:
		return nil, "", fmt.Sprintf("%d tests are awaiting a sample at %s: whose it is cannot be told", len(open), device)
	}
	t := open[0]
	if why := fits(t); why != "" {
		return nil, "", why
	}
	if age := receivedAt.Sub(t.StartedAt); age > e.cfg.BindWindow {
		return nil, "", fmt.Sprintf("test %s at %s started %s before the reading, longer than the %s binding window: key the test id into the device",
			t.ID, device, age.Round(time.Second), e.cfg.BindWindow)
	}
	if !r.MeasuredAt.IsZero() && r.MeasuredAt.Before(t.StartedAt.Add(-e.cfg.ClockSkew)) {
		return nil, "", fmt.Sprintf("the device measured it at %s, before test %s started at %s: an earlier test's reading, arriving late?",
			fact.Stamp(r.MeasuredAt), t.ID, fact.Stamp(t.StartedAt))
	}
	return t, BoundByWindow, ""
}

func deviceName(d string) string {
	if d == "" {
		return "no device (a urine cup)"
	}
	return d
}

// screenOf starts the screen of test t.
func (e *Engine) screenOf(t *Test, by string, at time.Time) Screen {
	return Screen{TestID: t.ID, CRN: t.CRN, Reason: t.Reason, SampleType: t.SampleType, Device: t.Device,
		Authorisation: cloneAuth(t.Authorisation), Staff: t.Staff, Witness: t.Witness, BoundBy: by, At: at}
}

// dateOf is t's date, YYYY-MM-DD, in its own location.
func dateOf(t time.Time) string { return t.Format(time.DateOnly) }

// readingDate is the date a reading is judged on: the later of the device's date of
// measurement and the date it was received.
func readingDate(measured, received time.Time) string {
	d := dateOf(received)
	if !measured.IsZero() && dateOf(measured) > d {
		d = dateOf(measured)
	}
	return d
}

// judge fills s with reading r and what it says: validity, panels, outcome.
func (e *Engine) judge(s *Screen, r sitebus.SubstanceReading, receivedAt time.Time) {
	s.Serial, s.Firmware, s.TestNumber, s.MeasuredAt = r.Serial, r.Firmware, r.TestNumber, r.MeasuredAt
	s.CalibrationDue, s.SelfCheck, s.TemperatureC, s.DeviceError = r.CalibrationDue, r.SelfCheck, r.TemperatureC, r.DeviceError
	var reasons []string
	bad := func(format string, a ...any) { reasons = append(reasons, fmt.Sprintf(format, a...)) }
	date := readingDate(r.MeasuredAt, receivedAt)
	if r.DeviceError != "" {
		bad("the device reported error %q instead of a result", fact.Clip(r.DeviceError))
	}
	if r.Serial == "" {
		bad("the device gave no serial number")
	}
	if r.MeasuredAt.IsZero() {
		bad("the device gave no time of measurement")
	}
	switch {
	case !fact.Date(r.CalibrationDue):
		s.Calibration = CalibrationUnknown
		bad("the device gave no calibration date")
	case r.CalibrationDue < date:
		s.Calibration = CalibrationOverdue
		bad("the device's calibration was due on %s, before the reading's date, %s", r.CalibrationDue, date)
	default:
		s.Calibration = CalibrationInDate
	}
	switch r.SelfCheck {
	case "pass":
	case "fail":
		bad("the device's self-check failed")
	default:
		bad("the device reported no self-check")
	}
	if tc := r.TemperatureC; tc != nil && (*tc < e.cfg.MinTemperatureC || *tc > e.cfg.MaxTemperatureC) {
		bad("the ambient temperature, %.1f °C, was outside the operating range of %g to %g °C", *tc, e.cfg.MinTemperatureC, e.cfg.MaxTemperatureC)
	}
	switch s.SampleType {
	case SampleBreath:
		limit := e.cfg.BreathLimitUg
		s.LimitUg = &limit
		result := sitebus.ResultInvalid
		switch ug := r.AlcoholUg; {
		case r.DeviceError != "":
		case ug == nil:
			bad("the device gave no alcohol figure")
		case *ug < 0 || *ug > 1000:
			bad("the alcohol figure, %g µg/100 ml, is not a possible one", *ug)
		case *ug >= limit:
			result = sitebus.ResultNonNegative
		default:
			result = sitebus.ResultNegative
		}
		s.AlcoholUg = cloneFloat(r.AlcoholUg)
		s.Panels = []sitebus.PanelResult{{Panel: sitebus.PanelAlcohol, Result: result}}
	case SampleOralFluid:
		s.Lot, s.Expiry = r.CassetteLot, r.CassetteExpiry
		if r.DeviceError == "" {
			if r.CassetteLot == "" {
				bad("the device gave no cassette lot")
			}
			switch {
			case !fact.Date(r.CassetteExpiry):
				bad("the device gave no cassette expiry date")
			case r.CassetteExpiry < date:
				bad("the cassette expired on %s, before the reading's date, %s", r.CassetteExpiry, date)
			}
			if len(r.Panels) == 0 {
				bad("the device gave no panel results")
			}
		}
		seen := map[string]bool{}
		for _, p := range r.Panels {
			if !isDrugPanel(p.Panel) || seen[p.Panel] {
				bad("the device reported panel %q, which is not a drug panel or came twice", fact.Clip(p.Panel))
				continue
			}
			seen[p.Panel] = true
			switch p.Result {
			case sitebus.ResultNegative, sitebus.ResultNonNegative, sitebus.ResultInvalid:
			default:
				bad("the device reported %q for panel %s", fact.Clip(p.Result), p.Panel)
				p.Result = sitebus.ResultInvalid
			}
			if p.CutoffNgMl <= 0 || p.CutoffNgMl > 1e6 {
				p.CutoffNgMl = e.cfg.OralFluidCutoffs[p.Panel]
			}
			s.Panels = append(s.Panels, p)
		}
		sortPanels(s.Panels)
	}
	finish(s, reasons)
}

// finish sets s's validity and outcome from reasons: any reason makes every panel
// invalid.
func finish(s *Screen, reasons []string) {
	s.Valid = len(reasons) == 0
	s.InvalidReasons = reasons
	if !s.Valid {
		for i := range s.Panels {
			s.Panels[i].Result = sitebus.ResultInvalid
		}
	}
	if s.Panels == nil {
		s.Panels = []sitebus.PanelResult{}
	}
	s.Outcome = outcomeOf(s.Panels, s.Valid)
}

// outcomeOf is the outcome of a screen of panels.
func outcomeOf(panels []sitebus.PanelResult, valid bool) string {
	if !valid || len(panels) == 0 {
		return OutcomeInvalid
	}
	out := OutcomeNegative
	for _, p := range panels {
		switch p.Result {
		case sitebus.ResultNonNegative:
			return OutcomeNonNegative
		case sitebus.ResultInvalid:
			out = OutcomeInvalid
		}
	}
	return out
}

// sortPanels puts panels in sitebus.Panels order.
func sortPanels(panels []sitebus.PanelResult) {
	slices.SortStableFunc(panels, func(a, b sitebus.PanelResult) int {
		return slices.Index(sitebus.Panels, a.Panel) - slices.Index(sitebus.Panels, b.Panel)
	})
}

// UrineResult records the result of test testID's urine cup as staff member staff
// read it at at: the cup's lot and expiry date (YYYY-MM-DD) and a result per drug
// panel (sitebus.ResultNegative, ResultNonNegative or ResultInvalid). A cup past
// its expiry on at's date makes the whole result invalid. Cut-offs are recorded from
// Config.UrineCutoffs. It returns the substance.tested draft.
func (e *Engine) UrineResult(testID, lot, expiry string, panels map[string]string, staff string, at time.Time) (Draft, error) {
	t, err := e.test(testID)
	if err != nil {
		return Draft{}, err
	}
	if t.SampleType != SampleUrine {
		return Draft{}, fmt.Errorf("%w: test %s is a %s test: its result comes from its device, %s", ErrSampleType, t.ID, t.SampleType, t.Device)
	}
	if err := checkName("member of staff entering the result", staff); err != nil {
		return Draft{}, err
	}
	switch {
	case !fact.ID(lot):
		return Draft{}, fmt.Errorf("%w: the cup's lot number %q: 1 to 64 printable characters, no spaces", ErrInvalid, fact.Clip(lot))
	case !fact.Date(expiry):
		return Draft{}, fmt.Errorf("%w: the cup's expiry date %q: write it as 2026-11-22", ErrInvalid, fact.Clip(expiry))
	case len(panels) == 0:
		return Draft{}, fmt.Errorf("%w: no panel results entered", ErrInvalid)
	}
	if at.IsZero() {
		return Draft{}, fmt.Errorf("%w: the result has no time", ErrInvalid)
	}
	s := e.screenOf(t, BoundByEntered, at.UTC())
	s.EnteredBy, s.Lot, s.Expiry = staff, lot, expiry
	for p, res := range panels {
		if !isDrugPanel(p) {
			return Draft{}, fmt.Errorf("%w: %q is not a drug panel of a urine cup", ErrInvalid, fact.Clip(p))
		}
		switch res {
		case sitebus.ResultNegative, sitebus.ResultNonNegative, sitebus.ResultInvalid:
		default:
			return Draft{}, fmt.Errorf("%w: panel %s: %q: negative, non-negative or invalid", ErrInvalid, p, fact.Clip(res))
		}
		s.Panels = append(s.Panels, sitebus.PanelResult{Panel: p, Result: res, CutoffNgMl: e.cfg.UrineCutoffs[p]})
	}
	sortPanels(s.Panels)
	var reasons []string
	if date := dateOf(at); expiry < date {
		reasons = append(reasons, fmt.Sprintf("the cup expired on %s, before the test's date, %s", expiry, date))
	}
	finish(&s, reasons)
	return e.emit(TypeTested, s.At, t.CRN, t.ID, fact.Key(TypeTested, t.ID), s)
}

// applyScreen records a screen on its test.
func (e *Engine) applyScreen(s Screen) error {
	t, err := e.eventTest(s.TestID, s.CRN, s.At)
	if err != nil {
		return err
	}
	if t.State != StateAwaitingSample {
		return fmt.Errorf("%w: test %s is not awaiting a sample (it is %s)", ErrState, t.ID, t.State)
	}
	if s.SampleType != t.SampleType || s.Device != t.Device {
		return fmt.Errorf("%w: a result of a %s test at %q for test %s, a %s test at %q", ErrEvent, fact.Clip(s.SampleType), fact.Clip(s.Device), t.ID, t.SampleType, t.Device)
	}
	switch {
	case t.SampleType == SampleUrine && s.BoundBy != BoundByEntered,
		t.SampleType != SampleUrine && s.BoundBy != BoundByTestID && s.BoundBy != BoundByWindow:
		return fmt.Errorf("%w: test %s's result bound by %q", ErrEvent, t.ID, fact.Clip(s.BoundBy))
	case s.BoundBy == BoundByEntered && !fact.Text(s.EnteredBy, 128):
		return fmt.Errorf("%w: test %s's cup result entered by no one", ErrEvent, t.ID)
	}
	if err := checkPanels(t.SampleType, s.Panels); err != nil {
		return fmt.Errorf("test %s: %w", t.ID, err)
	}
	switch {
	case s.Valid != (len(s.InvalidReasons) == 0):
		return fmt.Errorf("%w: test %s's result is valid %v with %d reasons it is not", ErrEvent, t.ID, s.Valid, len(s.InvalidReasons))
	case s.Outcome != outcomeOf(s.Panels, s.Valid):
		return fmt.Errorf("%w: test %s's outcome %q is not its panels'", ErrEvent, t.ID, fact.Clip(s.Outcome))
	}
	key := ""
	if s.BoundBy != BoundByEntered {
		key = readingKey(s.Serial, s.TestNumber, s.MeasuredAt)
		if key != "" && e.seen[key] {
			return fmt.Errorf("%w: the reading %s is recorded already", ErrDuplicate, key)
		}
	}
	sc := s.clone()
	t.Screen, t.Outcome = &sc, s.Outcome
	if s.Outcome == OutcomeNonNegative && drugTest(t.SampleType) {
		t.State = StateAwaitingConfirmation
	} else {
		t.State, t.ClosedAt = StateClosed, s.At
	}
	if key != "" {
		e.seen[key] = true
	}
	return nil
}

// checkPanels returns an error unless panels are a screen's of sampleType: breath
// the one panel alcohol; drugs, drug panels each once; every result a result; no
// cut-off that is not a number.
func checkPanels(sampleType string, panels []sitebus.PanelResult) error {
	if sampleType == SampleBreath && (len(panels) != 1 || panels[0].Panel != sitebus.PanelAlcohol) {
		return fmt.Errorf("%w: a breath result has the one panel alcohol", ErrEvent)
	}
	seen := map[string]bool{}
	for _, p := range panels {
		if sampleType != SampleBreath && (!isDrugPanel(p.Panel) || seen[p.Panel]) {
			return fmt.Errorf("%w: panel %q", ErrEvent, fact.Clip(p.Panel))
		}
		seen[p.Panel] = true
		switch p.Result {
		case sitebus.ResultNegative, sitebus.ResultNonNegative, sitebus.ResultInvalid:
		default:
			return fmt.Errorf("%w: panel %s result %q", ErrEvent, p.Panel, fact.Clip(p.Result))
		}
		if !finite(p.CutoffNgMl) || p.CutoffNgMl < 0 {
			return fmt.Errorf("%w: panel %s cut-off", ErrEvent, p.Panel)
		}
	}
	return nil
}

// applyUnbound holds an unbound reading.
func (e *Engine) applyUnbound(u UnboundReading) error {
	switch {
	case !sitebus.ValidDeviceID(u.Device):
		return fmt.Errorf("%w: an unbound reading from %q", ErrEvent, fact.Clip(u.Device))
	case u.At.IsZero():
		return fmt.Errorf("%w: an unbound reading with no time", ErrEvent)
	case strings.TrimSpace(u.Why) == "":
		return fmt.Errorf("%w: an unbound reading that says not why", ErrEvent)
	}
	key := readingKey(u.Reading.Serial, u.Reading.TestNumber, u.Reading.MeasuredAt)
	if key != "" && e.seen[key] {
		return fmt.Errorf("%w: the reading %s is recorded already", ErrDuplicate, key)
	}
	e.unbound = append(e.unbound, u.clone())
	if key != "" {
		e.seen[key] = true
	}
	return nil
}
