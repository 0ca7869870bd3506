package substance

// Bounds of a breath reading's figures, as sitebus checks them.
const (
	maxAlcoholUg = 1000
	minTempC     = -50
	maxTempC     = 100
)

// breathRecord returns the BR record of breath reading r. Its figures are written
// with at most six decimals; AlcoholUg nil writes no ug (which readingFromBreath
// refuses), TemperatureC nil no temp.
func breathRecord(r Reading) Record {
	rec := Record{Type: TypeBreath}
	putResultHead(&rec, r)
	if r.AlcoholUg != nil {
		rec.Add("ug", formatDecimal(*r.AlcoholUg))
	}
	if r.TemperatureC != nil {
		rec.Add("temp", formatDecimal(*r.TemperatureC))
	}
	putCalSelf(&rec, r)
	if r.TestID != "" {
		rec.Add("id", r.TestID)
	}
	return rec
}

// readingFromBreath reads a BR record as a breath reading (without Firmware, which
// the ID record says). It refuses, with a *RecordError of cause CauseContent, a
// record without serial, n, t, ug, cal or self, or with any of them, temp or id
// out of their forms and ranges (see the package doc). Fields it does not know
// are left alone.
func readingFromBreath(rec Record) (Reading, error) {
	r := Reading{Kind: KindBreathAlcohol}
	if rec.Type != TypeBreath {
		return r, bad(CauseContent, "%s record read as BR", rec.Type)
	}
	if err := readResultHead(rec, &r); err != nil {
		return r, err
	}
	v, _ := rec.Get("ug")
	ug, ok := parseDecimal(v, false)
	if !ok || ug > maxAlcoholUg {
		return r, bad(CauseContent, "BR ug %q: a decimal from 0 to %d", clip([]byte(v)), maxAlcoholUg)
	}
	r.AlcoholUg = &ug
	if v, present := rec.Get("temp"); present {
		t, ok := parseDecimal(v, true)
		if !ok || t < minTempC || t > maxTempC {
			return r, bad(CauseContent, "BR temp %q: a decimal from %d to %d", clip([]byte(v)), minTempC, maxTempC)
		}
		r.TemperatureC = &t
	}
	if err := readCalSelf(rec, &r); err != nil {
		return r, err
	}
	return r, nil
}
