package pat_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/apedge/apedge/formats/pat"
)

const header = "asset_id,description,owner_crn,category,class,test_date,visual,earth_ohm,insulation_mohm,insulation_v,leakage_ma,polarity,result,retest_months,instrument,instrument_serial,tester\n"

func day(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }

func files(t testing.TB, dir string) []string {
	t.Helper()
	fs, err := filepath.Glob(filepath.Join("testdata", dir, "*.csv"))
	if err != nil {
		t.Fatal(err)
	}
	if len(fs) == 0 {
		t.Fatalf("no files in testdata/%s", dir)
	}
	return fs
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestReadCSVApedge(t *testing.T) {
	recs, err := pat.ReadCSV(bytes.NewReader(readFile(t, "testdata/good/apedge.csv")), pat.LayoutDetect)
	if err != nil {
		t.Fatal(err)
	}
	want := []pat.Record{
		{AssetID: "AP-0001", Description: "Kettle", Category: "kitchen", Class: pat.ClassI, TestedAt: day(2026, 3, 2),
			Visual: pat.ResultPass, EarthOhm: f(0.08), InsulationMOhm: f(299), InsulationV: 500, LeakageMA: f(0.21),
			Result: pat.ResultPass, RetestMonths: 12, Instrument: "Seaward PrimeTest 250+", InstrumentSerial: "3A1234", Tester: "J. Patel"},
		{AssetID: "AP-0002", Description: "Lamp, desk", OwnerCRN: "X123456", Category: "lighting", Class: pat.ClassII, TestedAt: day(2026, 3, 2),
			Visual: pat.ResultPass, InsulationMOhm: f(150.5), InsulationV: 500,
			Result: pat.ResultPass, RetestMonths: 24, Instrument: "Seaward PrimeTest 250+", InstrumentSerial: "3A1234", Tester: "J. Patel"},
		{AssetID: "AP-0003", Description: "Phone charger", OwnerCRN: "X654321", Category: "chargers", Class: pat.ClassIII, TestedAt: day(2026, 3, 2),
			Visual: pat.ResultPass, Result: pat.ResultPass, Tester: "J. Patel"},
		{AssetID: "AP-0004", Description: "Extension lead 4-way", Category: "leads", Class: pat.ClassI, TestedAt: day(2026, 3, 2),
			Visual: pat.ResultPass, EarthOhm: f(0.2), InsulationMOhm: f(1), InsulationV: 250, Polarity: pat.ResultPass,
			Result: pat.ResultPass, RetestMonths: 12, Instrument: "Seaward PrimeTest 250+", InstrumentSerial: "3A1234", Tester: "J. Patel"},
		{AssetID: "AP-0005", Description: "Toaster", Category: "kitchen", Class: pat.ClassI, TestedAt: day(2026, 3, 3),
			Visual: pat.ResultFail, EarthOhm: f(0.05), InsulationMOhm: f(0.4), InsulationV: 500,
			Result: pat.ResultFail, Instrument: "Seaward PrimeTest 250+", InstrumentSerial: "3A1234", Tester: "O'Brien, K."},
	}
	if !reflect.DeepEqual(recs, want) {
		t.Fatalf("ReadCSV =\n%+v\nwant\n%+v", recs, want)
	}
	for _, r := range recs {
		if fs := pat.Check(r); len(fs) > 0 {
			t.Errorf("Check(%s) = %+v; the good file's figures support their results", r.AssetID, fs)
		}
	}
}

func TestReadCSVBOMAndCRLF(t *testing.T) {
	recs, err := pat.ReadCSV(bytes.NewReader(readFile(t, "testdata/good/apedge-bom-crlf.csv")), pat.LayoutApedge)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 || recs[0].AssetID != "AP-0010" || recs[0].Visual != pat.ResultPass || recs[0].Result != pat.ResultPass ||
		*recs[0].LeakageMA != 0.1 || recs[0].Tester != "A. Tester" {
		t.Fatalf("ReadCSV = %+v", recs)
	}
	recs, err = pat.ReadCSV(bytes.NewReader(readFile(t, "testdata/good/apedge-header-only.csv")), pat.LayoutDetect)
	if err != nil || recs == nil || len(recs) != 0 {
		t.Fatalf("header only: %v, %v; want no records", recs, err)
	}
}

func TestReadCSVPATorganiser(t *testing.T) {
	recs, err := pat.ReadCSV(bytes.NewReader(readFile(t, "testdata/good/patorganiser.csv")), pat.LayoutDetect)
	if err != nil {
		t.Fatal(err)
	}
	want := []pat.Record{
		// Insulation ">299" is taken as 299, its voltage from the test's name.
		{AssetID: "PO-100", Description: "Kettle", Category: "kitchen", Class: pat.ClassI, TestedAt: day(2026, 5, 11),
			Visual: pat.ResultPass, EarthOhm: f(0.09), InsulationMOhm: f(299), InsulationV: 500, LeakageMA: f(0.21),
			Result: pat.ResultPass, RetestMonths: 12, Instrument: "Megger PAT450", InstrumentSerial: "PAT450-77", Tester: "S. Jones"},
		// The UK date; the worse of two insulation figures; 120 µA as 0.12 mA.
		{AssetID: "PO-101", Description: "Hair dryer", Category: "personal", Class: pat.ClassII, TestedAt: day(2026, 5, 11),
			Visual: pat.ResultPass, InsulationMOhm: f(9.75), InsulationV: 500, LeakageMA: f(0.12),
			Result: pat.ResultPass, RetestMonths: 12, Instrument: "Megger PAT450", InstrumentSerial: "PAT450-77", Tester: "S. Jones"},
		// "<0.01" Ω as 0.01; an empty group and a load test read past.
		{AssetID: "PO-102", Description: "Monitor", Category: "it", Class: pat.ClassI, TestedAt: day(2026, 5, 11),
			Visual: pat.ResultFail, EarthOhm: f(0.01),
			Result: pat.ResultFail, Instrument: "Megger PAT450", InstrumentSerial: "PAT450-77", Tester: "S. Jones"},
	}
	if !reflect.DeepEqual(recs, want) {
		t.Fatalf("ReadCSV =\n%+v\nwant\n%+v", recs, want)
	}
}

func TestPATorganiserTests(t *testing.T) {
	const h = "Asset Id,Asset Class,Test Date,Pass/Fail,Person,Test,Result,Unit,Status\n"
	for _, c := range []struct {
		name, test string
		check      func(pat.Record) bool
	}{
		{"earth in milliohms", "Earth Continuity,85,mΩ,Pass", func(r pat.Record) bool { return *r.EarthOhm == 0.085 }},
		{"earth bond", "Earth Bond,0.11,Ohms,Pass", func(r pat.Record) bool { return *r.EarthOhm == 0.11 }},
		{"insulation at 250 V", "Insulation 250 V,3.5,MOhm,Pass", func(r pat.Record) bool { return *r.InsulationMOhm == 3.5 && r.InsulationV == 250 }},
		{"insulation with no voltage", "Insulation,3.5,MΩ,Pass", func(r pat.Record) bool { return *r.InsulationMOhm == 3.5 && r.InsulationV == 0 }},
		{"earth leakage is leakage", "Earth Leakage,0.5,mA,Pass", func(r pat.Record) bool { return *r.LeakageMA == 0.5 && r.EarthOhm == nil }},
		{"protective conductor current", "Protective Conductor Current,1.2,mA,Pass", func(r pat.Record) bool { return *r.LeakageMA == 1.2 }},
		{"polarity", "Polarity,,,F", func(r pat.Record) bool { return r.Polarity == pat.ResultFail }},
		{"a test apedge does not read", "Fuse,13,A,Pass", func(r pat.Record) bool { return r.EarthOhm == nil && r.Visual == pat.ResultNotDone }},
	} {
		t.Run(c.name, func(t *testing.T) {
			recs, err := pat.ReadCSV(strings.NewReader(h+"PO-1,I,2026-05-11,P,S. Jones,"+c.test+"\n"), pat.LayoutPATorganiser)
			if err != nil || len(recs) != 1 || !c.check(recs[0]) {
				t.Fatalf("ReadCSV = %+v, %v", recs, err)
			}
		})
	}
}

// TestBadFiles checks that every file in testdata/bad is refused with an
// ImportError that names a line and says why.
func TestBadFiles(t *testing.T) {
	for _, p := range files(t, "bad") {
		t.Run(filepath.Base(p), func(t *testing.T) {
			recs, err := pat.ReadCSV(bytes.NewReader(readFile(t, p)), pat.LayoutDetect)
			var ie *pat.ImportError
			if !errors.As(err, &ie) || recs != nil {
				t.Fatalf("ReadCSV = %+v, %v; want nothing and an ImportError", recs, err)
			}
			if len(ie.Lines) == 0 || ie.Lines[0].Line < 1 || ie.Lines[0].Reason == "" || !strings.HasPrefix(err.Error(), "pat: ") {
				t.Fatalf("ImportError %+v names no line and reason", ie)
			}
			t.Log(err)
		})
	}
}

// TestBadLines checks the line and the reason of some refusals.
func TestBadLines(t *testing.T) {
	row := "AP-0001,Kettle,,kitchen,I,2026-03-02,pass,0.08,299,500,0.21,,pass,12,Seaward,3A1234,J. Patel\n"
	for _, c := range []struct {
		name, file string
		want       []pat.LineError // reasons as substrings
	}{
		{"bad header", "asset,class\n" + row, []pat.LineError{{1, "neither apedge's"}}},
		{"empty", "", []pat.LineError{{1, "empty"}}},
		{"every bad line, nothing imported", header + row +
			strings.Replace(row, "AP-0001", "AP-0002", 1) +
			strings.Replace(strings.Replace(row, "AP-0001", "AP-0003", 1), "2026-03-02", "2026-02-30", 1) +
			strings.Replace(row, "AP-0001", "AP-0004", 1) +
			strings.Replace(strings.Replace(row, "AP-0001", "AP-0005", 1), ",I,", ",IV,", 1),
			[]pat.LineError{{4, `test_date: "2026-02-30" is not a date`}, {6, `class: "IV" is not a class`}}},
		{"a quoted field's line numbers", header + `AP-1,"two` + "\n" + `lines",,,I,2026-03-02,pass,,,,,,pass,,,,T` + "\n" +
			strings.Replace(row, "0.08", "-1", 1), []pat.LineError{{2, "description: has a control character"}, {4, `earth_ohm: "-1" is not a figure`}}},
		{"duplicate", header + row + row, []pat.LineError{{3, "asset AP-0001 is tested on 2026-03-02 on line 2 too"}}},
		{"long field", header + strings.Replace(row, "Kettle", strings.Repeat("k", 257), 1), []pat.LineError{{2, "field 2 (description) is 257 bytes long; at most 256"}}},
		{"wrong count", header + "AP-1,x\n", []pat.LineError{{2, "2 fields; the apedge layout has 17"}}},
		{"bare quote", header + row + `AP-2,a"b` + "\n" + row, []pat.LineError{{3, "the rest of the file was not read"}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			recs, err := pat.ReadCSV(strings.NewReader(c.file), pat.LayoutDetect)
			var ie *pat.ImportError
			if !errors.As(err, &ie) || recs != nil {
				t.Fatalf("ReadCSV = %+v, %v; want an ImportError", recs, err)
			}
			if len(ie.Lines) != len(c.want) {
				t.Fatalf("lines %+v; want %+v", ie.Lines, c.want)
			}
			for i, w := range c.want {
				if ie.Lines[i].Line != w.Line || !strings.Contains(ie.Lines[i].Reason, w.Reason) {
					t.Errorf("line %+v; want %+v", ie.Lines[i], w)
				}
			}
		})
	}
}

func TestImportErrorListsAtMostMaxListed(t *testing.T) {
	var b strings.Builder
	b.WriteString(header)
	for i := range pat.MaxListed + 20 {
		fmt.Fprintf(&b, "AP-%d,,,,IV,2026-03-02,,,,,,,pass,,,,T\n", i)
	}
	_, err := pat.ReadCSV(strings.NewReader(b.String()), pat.LayoutApedge)
	var ie *pat.ImportError
	if !errors.As(err, &ie) || len(ie.Lines) != pat.MaxListed || ie.More != 20 || ie.Lines[pat.MaxListed-1].Line != pat.MaxListed+1 {
		t.Fatalf("%d lines listed, %d more; want %d and 20", len(ie.Lines), ie.More, pat.MaxListed)
	}
	if !strings.HasSuffix(err.Error(), "and 20 more bad lines") {
		t.Fatalf("Error = ...%s", err.Error()[len(err.Error())-60:])
	}
}

func TestReadCSVLimits(t *testing.T) {
	row := "AP-%d,,,,III,2026-03-02,pass,,,,,,pass,,,,T\n"
	var b strings.Builder
	b.WriteString(header)
	for i := range pat.MaxRecords + 1 {
		fmt.Fprintf(&b, row, i)
	}
	_, err := pat.ReadCSV(strings.NewReader(b.String()), pat.LayoutApedge)
	var ie *pat.ImportError
	if !errors.As(err, &ie) || len(ie.Lines) != 1 || ie.Lines[0].Line != pat.MaxRecords+2 || !strings.Contains(ie.Lines[0].Reason, "more than 100000 records") {
		t.Fatalf("too many records: %v", err)
	}

	for name, file := range map[string]string{
		"many lines":          header + strings.Repeat("\n", pat.MaxFileBytes),
		"one long header":     strings.Repeat("x", pat.MaxFileBytes+1),
		"one long quoted row": header + `"` + strings.Repeat("x", pat.MaxFileBytes),
	} {
		_, err = pat.ReadCSV(strings.NewReader(file), pat.LayoutDetect)
		if !errors.As(err, &ie) || len(ie.Lines) != 1 || !strings.Contains(ie.Lines[0].Reason, "over 32 MiB") {
			t.Errorf("too big, %s: %v", name, err)
		}
	}
}

func TestReadCSVFuncProgress(t *testing.T) {
	for _, c := range []struct {
		records int
		want    []int
	}{
		{2*pat.ProgressEvery + 7, []int{pat.ProgressEvery, 2 * pat.ProgressEvery, 2*pat.ProgressEvery + 7}},
		{2 * pat.ProgressEvery, []int{pat.ProgressEvery, 2 * pat.ProgressEvery}},
		{3, []int{3}},
		{0, []int{0}},
	} {
		t.Run(fmt.Sprint(c.records), func(t *testing.T) {
			var b strings.Builder
			b.WriteString(header)
			for i := range c.records {
				fmt.Fprintf(&b, "AP-%d,,,,III,2026-03-02,pass,,,,,,pass,,,,T\n", i)
			}
			var got []int
			recs, err := pat.ReadCSVFunc(strings.NewReader(b.String()), pat.LayoutApedge, func(records int) { got = append(got, records) })
			if err != nil || len(recs) != c.records {
				t.Fatalf("ReadCSVFunc: %d records, %v", len(recs), err)
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Fatalf("progress %v; want %v", got, c.want)
			}
		})
	}
}

func TestDetectLayout(t *testing.T) {
	for _, c := range []struct {
		name   string
		header []string
		want   pat.Layout
		ok     bool
	}{
		{"apedge", pat.ApedgeHeader(), pat.LayoutApedge, true},
		{"apedge after a BOM", append([]string{"\uFEFFasset_id"}, pat.ApedgeHeader()[1:]...), pat.LayoutApedge, true},
		{"patorganiser", []string{"Client Name", " asset ID ", "Test Date"}, pat.LayoutPATorganiser, true},
		{"apedge's columns in another order", append(pat.ApedgeHeader()[1:], "asset_id"), pat.LayoutDetect, false},
		{"neither", []string{"id", "date"}, pat.LayoutDetect, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := pat.DetectLayout(c.header)
			if got != c.want || (err == nil) != c.ok {
				t.Fatalf("DetectLayout = %v, %v; want %v, ok %v", got, err, c.want, c.ok)
			}
		})
	}
	if pat.LayoutPATorganiser.String() != "patorganiser" || pat.LayoutApedge.String() != "apedge" {
		t.Error("Layout.String")
	}
}

func TestWriteCSV(t *testing.T) {
	recs := []pat.Record{classI(), with(func(r *pat.Record) {
		r.AssetID, r.OwnerCRN, r.Description, r.TestedAt = "AP-2", "X123456", `a "quoted", description`, time.Date(2026, 3, 2, 23, 30, 0, 0, time.FixedZone("", -3600))
	})}
	var buf bytes.Buffer
	if err := pat.WriteCSV(&buf, pat.LayoutApedge, recs); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(buf.String(), header+"AP-1,,,,I,2026-03-02,pass,0.05,200,500,0.2,,pass,,,,J. Patel\n") {
		t.Fatalf("WriteCSV wrote\n%s", buf.String())
	}
	back, err := pat.ReadCSV(&buf, pat.LayoutApedge)
	if err != nil {
		t.Fatal(err)
	}
	recs[1].TestedAt = day(2026, 3, 3) // the UTC date
	if !reflect.DeepEqual(back, recs) {
		t.Fatalf("read back\n%+v\nwant\n%+v", back, recs)
	}

	for _, c := range []struct {
		name string
		r    pat.Record
		want string
	}{
		{"no asset id", with(func(r *pat.Record) { r.AssetID = "" }), "asset_id"},
		{"bad class", with(func(r *pat.Record) { r.Class = "IV" }), "class"},
		{"lower-case CRN", with(func(r *pat.Record) { r.OwnerCRN = "x123456" }), "read back"},
		{"negative figure", with(func(r *pat.Record) { r.EarthOhm = f(-1) }), "earth_ohm"},
		{"tiny figure", with(func(r *pat.Record) { r.EarthOhm = f(1e-12) }), "earth_ohm"},
		{"surrounding spaces", with(func(r *pat.Record) { r.Tester = " J. Patel" }), "read back"},
		{"no tester", with(func(r *pat.Record) { r.Tester = "" }), "tester"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var buf bytes.Buffer
			err := pat.WriteCSV(&buf, pat.LayoutApedge, []pat.Record{c.r})
			if err == nil || !strings.Contains(err.Error(), c.want) || buf.Len() != 0 {
				t.Fatalf("WriteCSV = %v, wrote %d bytes; want an error naming %q and nothing written", err, buf.Len(), c.want)
			}
		})
	}
	if err := pat.WriteCSV(&buf, pat.LayoutApedge, []pat.Record{classI(), classI()}); err == nil {
		t.Error("WriteCSV wrote one asset twice on one date")
	}
	if err := pat.WriteCSV(&buf, pat.LayoutPATorganiser, nil); err == nil {
		t.Error("WriteCSV wrote the PATorganiser layout")
	}
}

func FuzzReadCSV(f *testing.F) {
	for _, dir := range []string{"good", "bad"} {
		for _, p := range files(f, dir) {
			f.Add(readFile(f, p))
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		recs, err := pat.ReadCSV(bytes.NewReader(data), pat.LayoutDetect)
		if err != nil {
			var ie *pat.ImportError
			if !errors.As(err, &ie) || recs != nil {
				t.Fatalf("ReadCSV = %+v, %v; want nothing and an ImportError", recs, err)
			}
			if len(ie.Lines) == 0 || len(ie.Lines) > pat.MaxListed {
				t.Fatalf("ImportError lists %d lines", len(ie.Lines))
			}
			for _, l := range ie.Lines {
				if l.Line < 1 || l.Reason == "" {
					t.Fatalf("bad line %+v", l)
				}
			}
			return
		}
		for _, r := range recs {
			if r.AssetID == "" || r.Tester == "" || r.TestedAt.IsZero() ||
				r.Result != pat.ResultPass && r.Result != pat.ResultFail ||
				r.Class != pat.ClassI && r.Class != pat.ClassII && r.Class != pat.ClassIII {
				t.Fatalf("accepted %+v", r)
			}
			pat.Check(r)
		}
		var buf bytes.Buffer
		if err := pat.WriteCSV(&buf, pat.LayoutApedge, recs); err != nil {
			t.Fatalf("WriteCSV of what ReadCSV accepted: %v", err)
		}
		back, err := pat.ReadCSV(&buf, pat.LayoutApedge)
		if err != nil {
			t.Fatalf("ReadCSV(WriteCSV(x)): %v", err)
		}
		if !reflect.DeepEqual(back, recs) {
			t.Fatalf("ReadCSV(WriteCSV(x)) =\n%+v\nwant\n%+v", back, recs)
		}
	})
}
