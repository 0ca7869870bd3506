package sitebus_test

import (
	"errors"
	"path/filepath"
	"slices"
	"testing"

	"github.com/apedge/apedge/formats/sitebus"
)

const (
	validBreath = `{"kind":"breath-alcohol","serial":"BA-1001","firmware":"2.1","calibrationDue":"2027-03-01","selfCheck":"pass",` +
		`"testNumber":12,"testId":"T-42","measuredAt":"2026-11-22T23:00:00Z","alcoholUgPer100ml":9.5,"temperatureC":21.5}`
	validOralFluid = `{"kind":"oral-fluid","serial":"DT5K-77","calibrationDue":"2027-03-01","selfCheck":"pass","testNumber":3,` +
		`"measuredAt":"2026-11-22T23:00:00Z","cassetteLot":"LOT9","cassetteExpiry":"2027-01-31",` +
		`"panels":[{"panel":"cocaine","result":"negative","cutoffNgMl":20},{"panel":"thc","result":"non-negative","cutoffNgMl":5}]}`
)

func TestDecodeSubstanceReading(t *testing.T) {
	for _, c := range []struct {
		name, data string
		ok         bool
	}{
		{"breath", validBreath, true},
		{"oral fluid", validOralFluid, true},
		{"device error instead of a result", `{"kind":"breath-alcohol","serial":"BA-1","calibrationDue":"2027-03-01","selfCheck":"fail",` +
			`"testNumber":13,"measuredAt":"2026-11-22T23:00:00Z","deviceError":"E21 blow too short"}`, true},
		{"a failed self-check is the device's word, kept", `{"kind":"breath-alcohol","serial":"BA-1","calibrationDue":"2020-01-01","selfCheck":"fail",` +
			`"testNumber":13,"measuredAt":"2026-11-22T23:00:00Z","alcoholUgPer100ml":0}`, true},
		{"no kind", `{"serial":"x"}`, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			r, err := sitebus.DecodeSubstanceReading([]byte(c.data))
			if (err == nil) != c.ok {
				t.Fatalf("DecodeSubstanceReading = %+v, %v; want ok %v", r, err, c.ok)
			}
			if err != nil && !errors.Is(err, sitebus.ErrMessage) {
				t.Fatalf("error %v is not ErrMessage", err)
			}
		})
	}
	r, _ := sitebus.DecodeSubstanceReading([]byte(validBreath))
	if *r.AlcoholUg != 9.5 || r.TestID != "T-42" || r.TestNumber != 12 || r.MeasuredAt.Hour() != 23 {
		t.Errorf("breath reading %+v", r)
	}
	o, _ := sitebus.DecodeSubstanceReading([]byte(validOralFluid))
	if len(o.Panels) != 2 || o.Panels[1] != (sitebus.PanelResult{Panel: sitebus.PanelCannabis, Result: sitebus.ResultNonNegative, CutoffNgMl: 5}) {
		t.Errorf("oral-fluid reading %+v", o)
	}
	if !slices.Contains(sitebus.Panels, sitebus.PanelFentanyl) || len(sitebus.Panels) != 16 {
		t.Errorf("panels %v", sitebus.Panels)
	}
}

// TestBadSubstanceCorpus checks every file in testdata/bad/substancereading is refused.
func TestBadSubstanceCorpus(t *testing.T) {
	for _, f := range badFiles(t, "substancereading") {
		t.Run(filepath.Base(f), func(t *testing.T) {
			if r, err := sitebus.DecodeSubstanceReading(readFile(t, f)); !errors.Is(err, sitebus.ErrMessage) {
				t.Fatalf("%+v, %v: want a bad-message error", r, err)
			}
		})
	}
}

func FuzzDecodeSubstanceReading(f *testing.F) {
	f.Add([]byte(validBreath))
	f.Add([]byte(validOralFluid))
	for _, p := range badFiles(f, "substancereading") {
		f.Add(readFile(f, p))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := sitebus.DecodeSubstanceReading(data)
		if err != nil {
			if !errors.Is(err, sitebus.ErrMessage) {
				t.Fatalf("error %v is not ErrMessage", err)
			}
			return
		}
		if r.Serial == "" || r.MeasuredAt.IsZero() || r.DeviceError == "" && r.Kind == sitebus.TesterBreathAlcohol && (r.AlcoholUg == nil || *r.AlcoholUg < 0) {
			t.Fatalf("accepted %+v", r)
		}
		roundTrip(t, r, func(b []byte) (any, error) { return sitebus.DecodeSubstanceReading(b) })
	})
}

func TestDecodeSubstanceTesterStatus(t *testing.T) {
	st, err := sitebus.DecodeSubstanceTesterStatus([]byte(`{"online":true,"kind":"breath-alcohol","serial":"BA-1","firmware":"2.1","calibrationDue":"2027-03-01","selfCheck":"pass","badRecords":2}`))
	if err != nil || !st.Online || st.Serial != "BA-1" || st.BadRecords != 2 {
		t.Fatalf("%+v, %v", st, err)
	}
	for _, f := range badFiles(t, "substancestatus") {
		t.Run(filepath.Base(f), func(t *testing.T) {
			if st, err := sitebus.DecodeSubstanceTesterStatus(readFile(t, f)); !errors.Is(err, sitebus.ErrMessage) {
				t.Fatalf("%+v, %v: want a bad-message error", st, err)
			}
		})
	}
}

func FuzzDecodeSubstanceTesterStatus(f *testing.F) {
	f.Add([]byte(`{"online":true,"kind":"oral-fluid","calibrationDue":"2027-03-01","selfCheck":"fail"}`))
	for _, p := range badFiles(f, "substancestatus") {
		f.Add(readFile(f, p))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		st, err := sitebus.DecodeSubstanceTesterStatus(data)
		if err != nil {
			if !errors.Is(err, sitebus.ErrMessage) {
				t.Fatalf("error %v is not ErrMessage", err)
			}
			return
		}
		if st.Kind != sitebus.TesterBreathAlcohol && st.Kind != sitebus.TesterOralFluid || st.BadRecords < 0 {
			t.Fatalf("accepted %+v", st)
		}
		roundTrip(t, st, func(b []byte) (any, error) { return sitebus.DecodeSubstanceTesterStatus(b) })
	})
}
