package substance

import (
	"bytes"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
)

func ptr(v float64) *float64 { return &v }

// decodeOne decodes a whole line (with its CR LF, as a file holds it).
func decodeOne(t testing.TB, b []byte) Record {
	t.Helper()
	rec, err := DecodeLine(bytes.TrimSuffix(b, []byte("\r\n")))
	if err != nil {
		t.Fatalf("%q: %v", b, err)
	}
	return rec
}

// TestBreathGolden: the doc's BR example reads as the reading it says.
func TestBreathGolden(t *testing.T) {
	rec := decodeOne(t, []byte("$APBR,serial=AL9-004211,n=1187,t=2025-11-03T21:47:05Z,ug=0,temp=19.5,cal=2026-03-31,self=pass,id=T-7KQ2*34"))
	r, err := readingFromBreath(rec)
	if err != nil {
		t.Fatal(err)
	}
	want := Reading{Kind: KindBreathAlcohol, Serial: "AL9-004211", CalibrationDue: "2026-03-31", SelfCheck: SelfCheckPass,
		TestNumber: 1187, TestID: "T-7KQ2", MeasuredAt: time.Date(2025, 11, 3, 21, 47, 5, 0, time.UTC),
		AlcoholUg: ptr(0), TemperatureC: ptr(19.5)}
	if !sameReading(r, want) {
		t.Errorf("reading %+v, want %+v", r, want)
	}
	// Offsets are kept; temp may be left out; fields not known are left alone.
	rec = decodeOne(t, signed("APBR,serial=AL9-004211,n=0,t=2025-11-03T22:47:05.5+01:00,ug=41.25,cal=2026-03-31,self=fail,pressure=1013"))
	r, err = readingFromBreath(rec)
	if err != nil {
		t.Fatal(err)
	}
	if !r.MeasuredAt.Equal(time.Date(2025, 11, 3, 21, 47, 5, 5e8, time.UTC)) || r.TemperatureC != nil || *r.AlcoholUg != 41.25 ||
		r.SelfCheck != SelfCheckFail || r.TestID != "" {
		t.Errorf("reading %+v", r)
	}
}

// sameReading compares readings, their times as instants and their figures by
// value.
func sameReading(a, b Reading) bool {
	if !a.MeasuredAt.Equal(b.MeasuredAt) {
		return false
	}
	a.MeasuredAt, b.MeasuredAt = time.Time{}, time.Time{}
	return reflect.DeepEqual(a, b)
}

func TestBreathRoundTrip(t *testing.T) {
	at := time.Date(2025, 11, 3, 21, 47, 5, 0, time.FixedZone("", 3600))
	tests := []struct {
		name string
		r    Reading
	}{
		{"zero", Reading{Serial: "S1", CalibrationDue: "2026-01-01", SelfCheck: SelfCheckPass, MeasuredAt: at, AlcoholUg: ptr(0)}},
		{"full", Reading{Serial: "AL9-004211", CalibrationDue: "2026-03-31", SelfCheck: SelfCheckFail, TestNumber: math.MaxUint32,
			TestID: "T 7,K=Q*2%", MeasuredAt: at, AlcoholUg: ptr(1000), TemperatureC: ptr(-49.75)}},
		{"decimals", Reading{Serial: "S1", CalibrationDue: "2026-01-01", SelfCheck: SelfCheckPass, MeasuredAt: at,
			AlcoholUg: ptr(0.000001), TemperatureC: ptr(-0)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.r.Kind = KindBreathAlcohol
			b, err := breathRecord(tt.r).Encode()
			if err != nil {
				t.Fatal(err)
			}
			got, err := readingFromBreath(decodeOne(t, b))
			if err != nil {
				t.Fatalf("%q: %v", b, err)
			}
			if !sameReading(got, tt.r) {
				t.Errorf("%q reads as %+v, want %+v", b, got, tt.r)
			}
		})
	}
	if s := formatDecimal(12.5); s != "12.5" {
		t.Errorf("formatDecimal(12.5) = %q", s)
	}
	if s := formatDecimal(-0.0000001); s != "0" {
		t.Errorf("formatDecimal(-1e-7) = %q", s)
	}
}

// TestBadBreathCorpus: every testdata/bad/breath-* file is a good line (so it is
// the BR reader that is tested) that readingFromBreath refuses for its content.
func TestBadBreathCorpus(t *testing.T) {
	files := badFiles(t, "breath-")
	if len(files) < 30 {
		t.Fatalf("only %d breath- files in testdata/bad", len(files))
	}
	for name, b := range files {
		t.Run(name, func(t *testing.T) {
			rec := decodeOne(t, b)
			r, err := readingFromBreath(rec)
			if !errors.Is(err, ErrRecord) || CauseOf(err) != CauseContent {
				t.Errorf("readingFromBreath = %+v, %v; want a content error", r, err)
			}
		})
	}
}

func TestIdentity(t *testing.T) {
	rec := decodeOne(t, []byte("$APID,serial=AL9-004211,fw=2.3.1,cal=2026-03-31,self=pass,kind=breath-alcohol*10"))
	id, err := identityFromRecord(rec)
	if err != nil {
		t.Fatal(err)
	}
	want := identity{Serial: "AL9-004211", Firmware: "2.3.1", CalibrationDue: "2026-03-31", SelfCheck: SelfCheckPass, Kind: KindBreathAlcohol}
	if id != want {
		t.Errorf("identity %+v", id)
	}
	if again, err := identityFromRecord(idRecord(id)); err != nil || again != id {
		t.Errorf("round trip %+v, %v", again, err)
	}
	for _, body := range []string{
		"APID,fw=1,cal=2026-03-31,self=pass,kind=oral-fluid",            // no serial
		"APID,serial=S,cal=2026-03-31,self=pass,kind=urine",             // kind
		"APID,serial=S,cal=2026-03-31,self=pass",                        // no kind
		"APID,serial=S,self=pass,kind=oral-fluid",                       // no cal
		"APID,serial=S,cal=2026-03-31,self=maybe,kind=oral-fluid",       // self
		"APID,serial=S,fw=,cal=2026-03-31,self=pass,kind=oral-fluid",    // fw empty
		"APID,serial=S,fw=a b,cal=2026-03-31,self=pass,kind=oral-fluid", // fw space
		"APBR,serial=S,cal=2026-03-31,self=pass,kind=oral-fluid",        // type
	} {
		if id, err := identityFromRecord(decodeOne(t, signed(body))); CauseOf(err) != CauseContent {
			t.Errorf("%s: %+v, %v", body, id, err)
		}
	}
}

func TestErrorRecord(t *testing.T) {
	rec := decodeOne(t, []byte("$APER,serial=AL9-004211,n=1189,t=2025-11-03T22:09:12Z,code=E12,text=blow interrupted%2C try again*5C"))
	r, text, err := readingFromError(rec, KindBreathAlcohol)
	if err != nil {
		t.Fatal(err)
	}
	if r.DeviceError != "E12" || text != "blow interrupted, try again" || r.TestNumber != 1189 || r.Kind != KindBreathAlcohol ||
		r.CalibrationDue != "" || r.SelfCheck != "" || r.AlcoholUg != nil {
		t.Errorf("reading %+v, text %q", r, text)
	}
	r.CalibrationDue, r.SelfCheck = "2026-01-01", SelfCheckFail
	again, text2, err := readingFromError(errorRecord(r, "E12", text), KindBreathAlcohol)
	if err != nil || text2 != text || !sameReading(again, r) {
		t.Errorf("round trip %+v %q, %v", again, text2, err)
	}
	for _, body := range []string{
		"APER,serial=S,n=1,t=2025-11-03T22:09:12Z",                           // no code
		"APER,serial=S,n=1,t=2025-11-03T22:09:12Z,code=",                     // empty code
		"APER,serial=S,n=1,t=2025-11-03T22:09:12Z,code=E 1",                  // space
		"APER,serial=S,n=1,t=2025-11-03T22:09:12Z,code=E1,text=a%0Ab",        // control in text
		"APER,serial=S,n=1,t=2025-11-03T22:09:12Z,code=E1,cal=soon",          // cal
		"APER,serial=S,n=1,t=2025-11-03T22:09:12Z,code=E1,self=",             // self
		"APER,serial=S,t=2025-11-03T22:09:12Z,code=E1",                       // no n
		"APER,serial=S,n=1,t=2025-11-03T22:09:12Z,code=E1,text=" + long(201), // text too long
	} {
		if r, _, err := readingFromError(decodeOne(t, signed(body)), KindOralFluid); CauseOf(err) != CauseContent {
			t.Errorf("%s: %+v, %v", body, r, err)
		}
	}
}

func long(n int) string { return strings.Repeat("x", n) }

// FuzzBreathRecord: the BR reader never panics; what it takes is in the ranges
// sitebus checks, and writes back as a record that reads as the same reading.
func FuzzBreathRecord(f *testing.F) {
	for _, lines := range goodLines(f) {
		for _, l := range lines {
			f.Add(l)
		}
	}
	for _, b := range badFiles(f, "breath-") {
		f.Add(bytes.TrimSuffix(b, []byte("\r\n")))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		rec, err := DecodeLine(line)
		if err != nil {
			return
		}
		r, err := readingFromBreath(rec)
		if err != nil {
			if CauseOf(err) != CauseContent {
				t.Fatalf("error %v", err)
			}
			return
		}
		ug := *r.AlcoholUg
		switch {
		case r.Kind != KindBreathAlcohol, r.Serial == "", len(r.Serial) > 64, len(r.TestID) > 64,
			r.SelfCheck != SelfCheckPass && r.SelfCheck != SelfCheckFail, r.MeasuredAt.IsZero(),
			math.IsNaN(ug), ug < 0, ug > 1000, math.Signbit(ug),
			r.TemperatureC != nil && (math.IsNaN(*r.TemperatureC) || *r.TemperatureC < -50 || *r.TemperatureC > 100):
			t.Fatalf("took %q as %+v", line, r)
		}
		if _, err := time.Parse(time.DateOnly, r.CalibrationDue); err != nil {
			t.Fatalf("took %q: cal %q", line, r.CalibrationDue)
		}
		if _, err := r.MeasuredAt.MarshalJSON(); err != nil {
			t.Fatalf("took %q: a time JSON cannot say: %v", line, err)
		}
		b, err := breathRecord(r).Encode()
		if err != nil {
			t.Fatalf("%+v does not encode: %v", r, err)
		}
		again, err := readingFromBreath(decodeOne(t, b))
		if err != nil || !sameReading(again, r) {
			t.Fatalf("%q: written as %q, reads as %+v, %v", line, b, again, err)
		}
	})
}
