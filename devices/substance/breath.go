package substance

import (
	"math"
	"strconv"
	"strings"
)

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

// formatDecimal writes v with at most six decimals and no exponent.
func formatDecimal(v float64) string {
	s := strconv.FormatFloat(v, 'f', 6, 64)
	s = strings.TrimRight(s, "0")
	s = strings.TrimSuffix(s, ".")
	if s == "-0" {
		s = "0"
	}
	return s
}

// parseDecimal reads a decimal of one to six digits, optionally a point and one
// to six more, and, if signed, an optional leading '-': no exponent, no '+', no
// spaces.
func parseDecimal(s string, signed bool) (float64, bool) {
	t := s
	if signed && strings.HasPrefix(t, "-") {
		t = t[1:]
	}
	whole, frac, dot := strings.Cut(t, ".")
	digits := func(d string) bool { return len(d) >= 1 && len(d) <= 6 && strings.Trim(d, "0123456789") == "" }
	if !digits(whole) || dot && !digits(frac) {
		return 0, false
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(v, 0) || math.IsNaN(v) {
		return 0, false
	}
	if v == 0 {
		v = 0 // no -0
	}
	return v, true
}
