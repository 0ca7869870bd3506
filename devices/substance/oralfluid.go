package substance

import "strings"

// The OF record: an oral-fluid result.
//
// It is modelled on the Dräger DrugTest 5000 test system, as its published
// documents describe it (the device's own result export is not published; an
// adapter maps it onto this record):
//
//   - The system is an Analyzer and single-use test kits (STK): a test cassette
//     with an integrated sampler, processed only by the Analyzer, for "the
//     simultaneous detection of up to eight drugs of abuse in human oral fluid"
//     (Dräger DrugTest 5000 STK Instructions for Use, 90 33 354, edition 04, April
//     2018, sections 2.1 and 2.2). Hence one record per cassette with one p- field
//     per panel the cassette has, and at least one.
//   - Each test kit carries batch-specific calibration data, which the Analyzer
//     reads before evaluating it (DrugTest 5000 Technical Manual, section 9.1.1):
//     the cassette's lot (lot) is what ties a result to its batch.
//   - The expiry is printed on the pouch as YYYY-MM, meaning the end of that month
//     (STK Instructions for Use, section 2.5): an adapter writes exp as the last
//     day of that month.
//   - Per panel the Analyzer decides whether the signal comes from a preliminarily
//     positive ("non-negative") sample, and a control reaction in each test membrane
//     decides whether the test is valid (STK Instructions for Use, German text, the
//     test principle and quality control, just before section 2.5): hence neg, pos (non-negative) and inv, against the cut-off the
//     panel was read at.
//   - It is used at +5 to +40 °C and 5 to 95 % relative humidity (STK Instructions
//     for Use, section 3.1); it keeps up to 400 results in its memory (Dräger on its
//     UK Home Office approval for roadside cannabis and cocaine screening, ITS
//     International, 27 February 2015). Operating conditions are the agent's to
//     judge and the OF record does not carry them; the device's serial, its test
//     number and its clock do.
//   - Dräger's DrugCheck 3000 is read by eye (two strips, control lines and up to
//     six test lines: MET, AMP, THC, BZO, OPI, COC; DrugCheck 3000 Instructions for
//     Use, section 2.1): it has nothing to export, and its results are entered in
//     the console as a cup's are.
//
// Fields, in the order oralFluidRecord writes them (readingFromOralFluid takes them
// in any order, and refuses any other key and any key twice):
//
//	serial  the device's serial: 1 to 64 printable bytes, no spaces
//	n       the device's test number: a decimal uint32
//	t       the device's clock at the result: RFC 3339
//	cal     the device's calibration due date: YYYY-MM-DD
//	self    its self-check: pass or fail
//	lot     the cassette's lot: 1 to 32 printable bytes, not starting or ending
//	        with a space
//	exp     the cassette's expiry: YYYY-MM-DD
//	id      optional: the test id staff keyed in, at most 64 printable bytes
//	p-...   one per panel read: result "/" cut-off, the result neg, pos or inv and
//	        the cut-off in ng/ml, a decimal over 0 (as the BR record's figures:
//	        up to six digits, a point and up to six more), e.g. p-cocaine=neg/20
//
// A panel's key is "p-" and its name as DrugPanels has it (p-cocaine), where that
// fits in MaxKey bytes. With MaxKey 16, three do not, and are written as the
// abbreviations cup and cassette inserts print: methamphetamine p-mamp,
// benzodiazepines p-bzo, synthetic-cannabinoids p-k2 (the longest name needs
// MaxKey 24).

// maxLot is the longest a cassette lot may be.
const maxLot = 32

// panelKeyShort returns the short key of a panel whose "p-" and name is longer
// than MaxKey.
func panelKeyShort(panel string) (string, bool) {
	switch panel {
	case "methamphetamine":
		return "p-mamp", true
	case "benzodiazepines":
		return "p-bzo", true
	case "synthetic-cannabinoids":
		return "p-k2", true
	}
	return "", false
}

// panelKey returns the OF record's key for panel.
func panelKey(panel string) string {
	k := "p-" + panel
	if len(k) <= MaxKey {
		return k
	}
	if short, ok := panelKeyShort(panel); ok {
		return short
	}
	return k
}

// panelOfKey returns the drug panel whose OF key is key, and whether there is one.
func panelOfKey(key string) (string, bool) {
	for _, p := range DrugPanels() {
		if panelKey(p) == key {
			return p, true
		}
	}
	return "", false
}

// resultCode returns the OF code of a panel result; a result it does not know it
// writes as it is (readingFromOralFluid refuses it).
func resultCode(result string) string {
	switch result {
	case ResultNegative:
		return CodeNegative
	case ResultNonNegative:
		return CodeNonNegative
	case ResultInvalid:
		return CodeInvalid
	}
	return result
}

// oralFluidRecord returns the OF record of r, a reading of kind oral-fluid (the
// simulator's side). Cut-offs are written with at most six decimals; a reading
// readingFromOralFluid would refuse (no panels, a result it does not know, a
// cut-off of 0) makes a record it refuses, or one Encode refuses, not a panic.
func oralFluidRecord(r Reading) Record {
	rec := Record{Type: TypeOralFluid}
	putResultHead(&rec, r)
	putCalSelf(&rec, r)
	rec.Add("lot", r.CassetteLot)
	rec.Add("exp", r.CassetteExpiry)
	if r.TestID != "" {
		rec.Add("id", r.TestID)
	}
	for _, p := range r.Panels {
		rec.Add(panelKey(p.Panel), resultCode(p.Result)+"/"+formatDecimal(p.CutoffNgMl))
	}
	return rec
}

// readingFromOralFluid reads an OF record as an oral-fluid reading (without
// Firmware, which the ID record says). Every field is checked (see the OF record
// above): it refuses, with a *RecordError of cause CauseContent (wrapping
// ErrRecord) that names the field, a record of another type, one missing serial,
// n, t, cal, self, lot, exp or every panel, one with any field out of its form, a
// key it does not know or a key twice. The panels come in the record's order.
func readingFromOralFluid(rec Record) (Reading, error) {
	r := Reading{Kind: KindOralFluid}
	if rec.Type != TypeOralFluid {
		return r, bad(CauseContent, "%s record read as OF", rec.Type)
	}
	seen := make(map[string]bool, len(rec.Fields))
	for _, f := range rec.Fields {
		key := f[0]
		if seen[key] {
			return r, bad(CauseContent, "OF field %q twice", clip([]byte(key)))
		}
		seen[key] = true
		switch key {
		case "serial", "n", "t", "cal", "self", "lot", "exp", "id":
			continue
		}
		panel, ok := panelOfKey(key)
		if !ok {
			return r, bad(CauseContent, "OF field %q: not a field of an OF record", clip([]byte(key)))
		}
		p, err := panelResult(panel, key, f[1])
		if err != nil {
			return r, err
		}
		r.Panels = append(r.Panels, p)
	}
	if err := readResultHead(rec, &r); err != nil {
		return r, err
	}
	if err := readCalSelf(rec, &r); err != nil {
		return r, err
	}
	lot, _ := rec.Get("lot")
	if !printable(lot, 1, maxLot, true) || strings.TrimSpace(lot) != lot {
		return r, bad(CauseContent, "OF lot %q: 1 to %d printable bytes", clip([]byte(lot)), maxLot)
	}
	r.CassetteLot = lot
	var err error
	if r.CassetteExpiry, err = needDate(rec, "exp"); err != nil {
		return r, err
	}
	if len(r.Panels) == 0 {
		return r, bad(CauseContent, "OF record without a p- field: no panel read")
	}
	return r, nil
}

// panelResult reads the value of panel's field key: result "/" cut-off.
func panelResult(panel, key, v string) (PanelResult, error) {
	p := PanelResult{Panel: panel}
	code, cut, ok := strings.Cut(v, "/")
	switch code {
	case CodeNegative:
		p.Result = ResultNegative
	case CodeNonNegative:
		p.Result = ResultNonNegative
	case CodeInvalid:
		p.Result = ResultInvalid
	default:
		return p, bad(CauseContent, "OF %s %q: result neg, pos or inv, then /cut-off", key, clip([]byte(v)))
	}
	c, good := parseDecimal(cut, false)
	if !ok || !good || c <= 0 {
		return p, bad(CauseContent, "OF %s %q: cut-off in ng/ml, a decimal over 0, after the /", key, clip([]byte(v)))
	}
	p.CutoffNgMl = c
	return p, nil
}
