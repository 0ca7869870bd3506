package sitebus_test

import (
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/apedge/apedge/formats/pat"
	"github.com/apedge/apedge/formats/sitebus"
)

// goodFiles returns the files of testdata/good/kind.
func goodFiles(t testing.TB, kind string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "good", kind, "*"))
	if err != nil || len(files) == 0 {
		t.Fatalf("testdata/good/%s: %v, %v", kind, files, err)
	}
	return files
}

func TestDecodePATTest(t *testing.T) {
	tests := []struct {
		file  string
		check func(*sitebus.PATTest) bool
	}{
		{"class-i-kettle.json", func(e *sitebus.PATTest) bool {
			r := e.Record
			return e.Device == "pat-1" && e.Serial == "PAT-0042" && e.Firmware == "3.1.0" && e.CalibrationDue == "2027-01-31" &&
				e.TestNumber == 17 && r.AssetID == "AP-00123" && r.Description == "kettle" && r.Class == pat.ClassI &&
				r.TestedAt.Equal(time.Date(2026, 6, 10, 11, 0, 0, 0, time.UTC)) && r.Visual == pat.ResultPass &&
				*r.EarthOhm == 0.08 && *r.InsulationMOhm == 200.5 && r.InsulationV == 500 && *r.LeakageMA == 0.3 &&
				r.Polarity == pat.ResultNotDone && r.Result == pat.ResultPass && r.RetestMonths == 12 &&
				r.Instrument == "apedge sim PAT" && r.InstrumentSerial == "PAT-0042" && r.Tester == "J Smith"
		}},
		{"class-ii-fail.json", func(e *sitebus.PATTest) bool {
			r := e.Record
			return r.Class == pat.ClassII && r.EarthOhm == nil && r.LeakageMA == nil && *r.InsulationMOhm == 0.5 &&
				r.Visual == pat.ResultFail && r.Result == pat.ResultFail && e.Firmware == "" && e.CalibrationDue == ""
		}},
		{"extension-lead.json", func(e *sitebus.PATTest) bool {
			r := e.Record
			return e.TestNumber == 4294967295 && r.Polarity == pat.ResultPass && r.InsulationV == 250 &&
				r.TestedAt.Equal(time.Date(2026, 6, 10, 11, 0, 0, 0, time.UTC))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			e, err := sitebus.DecodePATTest(readFile(t, filepath.Join("testdata", "good", "pattest", tt.file)))
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(e) {
				t.Errorf("decoded %+v", e)
			}
		})
	}
	if n := len(goodFiles(t, "pattest")); n != len(tests) {
		t.Errorf("%d files in testdata/good/pattest, %d checked", n, len(tests))
	}
}

// TestBadPATTestCorpus checks every file in testdata/bad/pattest is refused.
func TestBadPATTestCorpus(t *testing.T) {
	for _, f := range badFiles(t, "pattest") {
		t.Run(filepath.Base(f), func(t *testing.T) {
			if e, err := sitebus.DecodePATTest(readFile(t, f)); !errors.Is(err, sitebus.ErrMessage) || err.Error() == "" {
				t.Fatalf("%+v, %v: want a bad-message error", e, err)
			}
		})
	}
}

func FuzzDecodePATTest(f *testing.F) {
	for _, p := range append(goodFiles(f, "pattest"), badFiles(f, "pattest")...) {
		f.Add(readFile(f, p))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := sitebus.DecodePATTest(data)
		if err != nil {
			if !errors.Is(err, sitebus.ErrMessage) {
				t.Fatalf("error %v is not ErrMessage", err)
			}
			return
		}
		r := e.Record
		if e.Serial == "" || r.AssetID == "" || r.Tester == "" || r.TestedAt.IsZero() || r.InstrumentSerial != e.Serial ||
			r.Result != pat.ResultPass && r.Result != pat.ResultFail || r.EarthOhm != nil && *r.EarthOhm < 0 {
			t.Fatalf("accepted %+v", e)
		}
		roundTrip(t, e, func(b []byte) (any, error) { return sitebus.DecodePATTest(b) })
	})
}

func TestDecodePATTesterStatus(t *testing.T) {
	st, err := sitebus.DecodePATTesterStatus(readFile(t, filepath.Join("testdata", "good", "pattesterstatus", "online.json")))
	if err != nil {
		t.Fatal(err)
	}
	if want := (sitebus.PATTesterStatus{Online: true, Serial: "PAT-0042", Model: "apedge sim PAT", Firmware: "3.1.0",
		CalibrationDue: "2027-01-31", BadRecords: 2, LastError: "pattester: bad record (checksum): line says 1A, its bytes make 1B",
		Simulated: true}); *st != want {
		t.Errorf("status %+v, want %+v", *st, want)
	}
	st, err = sitebus.DecodePATTesterStatus(readFile(t, filepath.Join("testdata", "good", "pattesterstatus", "offline.json")))
	if err != nil || st.Online || st.LastError == "" {
		t.Errorf("offline status %+v, %v", st, err)
	}
	for _, f := range badFiles(t, "pattesterstatus") {
		t.Run(filepath.Base(f), func(t *testing.T) {
			if st, err := sitebus.DecodePATTesterStatus(readFile(t, f)); !errors.Is(err, sitebus.ErrMessage) {
				t.Fatalf("%+v, %v: want a bad-message error", st, err)
			}
		})
	}
}

func FuzzDecodePATTesterStatus(f *testing.F) {
	for _, p := range append(goodFiles(f, "pattesterstatus"), badFiles(f, "pattesterstatus")...) {
		f.Add(readFile(f, p))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		st, err := sitebus.DecodePATTesterStatus(data)
		if err != nil {
			if !errors.Is(err, sitebus.ErrMessage) {
				t.Fatalf("error %v is not ErrMessage", err)
			}
			return
		}
		if st.BadRecords < 0 || st.Online && st.Serial == "" {
			t.Fatalf("accepted %+v", st)
		}
		roundTrip(t, st, func(b []byte) (any, error) { return sitebus.DecodePATTesterStatus(b) })
	})
}
