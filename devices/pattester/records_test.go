package pattester

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/apedge/apedge/devices/internal/record"
	"github.com/apedge/apedge/formats/pat"
)

func ptr(v float64) *float64 { return &v }

// goodLines returns the lines of every testdata/good file, without CR LF.
func goodLines(t testing.TB) map[string][][]byte {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "good", "*.txt"))
	if err != nil || len(files) < 3 {
		t.Fatalf("testdata/good: %v, %v", files, err)
	}
	m := map[string][][]byte{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for l := range bytes.Lines(b) {
			line, ok := bytes.CutSuffix(l, []byte("\r\n"))
			if !ok {
				t.Fatalf("%s: a line without CR LF", f)
			}
			m[filepath.Base(f)] = append(m[filepath.Base(f)], bytes.Clone(line))
		}
	}
	return m
}

// badFiles returns the testdata/bad files.
func badFiles(t testing.TB) map[string][]byte {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "bad", "*"))
	if err != nil || len(files) < 40 {
		t.Fatalf("testdata/bad: %d files, %v", len(files), err)
	}
	m := map[string][]byte{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		m[filepath.Base(f)] = b
	}
	return m
}

// decodeOne decodes one whole line (with CR LF) or fails the test.
func decodeOne(t testing.TB, b []byte) record.Record {
	t.Helper()
	rec, err := record.DecodeLine(bytes.TrimSuffix(b, []byte("\r\n")))
	if err != nil {
		t.Fatalf("%q: %v", b, err)
	}
	return rec
}

// TestTestGolden: the golden PT records decode to what they say, and the test
// they decode to encodes back to them byte for byte.
func TestTestGolden(t *testing.T) {
	at := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	want := []pat.Record{
		{AssetID: "AP-00123", Description: "kettle", Class: pat.ClassI, TestedAt: at("2026-06-10T11:00:00Z"), Visual: pat.ResultPass,
			EarthOhm: ptr(0.08), InsulationMOhm: ptr(200.5), InsulationV: 500, LeakageMA: ptr(0.3), Result: pat.ResultPass,
			RetestMonths: 12, Tester: "J Smith"},
		{AssetID: "AP-00124", Description: "phone charger", Class: pat.ClassII, TestedAt: at("2026-06-10T11:04:30Z"), Visual: pat.ResultPass,
			InsulationMOhm: ptr(99.9), InsulationV: 500, LeakageMA: ptr(0.05), Result: pat.ResultPass, RetestMonths: 24, Tester: "J Smith"},
		{AssetID: "AP-00125", Description: "extension lead, 4 way", Class: pat.ClassI, TestedAt: at("2026-06-10T12:10:00+01:00"),
			Visual: pat.ResultPass, EarthOhm: ptr(0.21), InsulationMOhm: ptr(19.99), InsulationV: 250, Polarity: pat.ResultPass,
			Result: pat.ResultPass, RetestMonths: 12, Tester: "J Smith"},
		{AssetID: "AP-00126", Description: "hair straighteners", Class: pat.ClassII, TestedAt: at("2026-06-10T11:15:00Z"),
			Visual: pat.ResultFail, Result: pat.ResultFail, Tester: "J Smith"},
		{AssetID: "AP-00127", Class: pat.ClassIII, TestedAt: at("2026-06-10T11:20:00Z"), Visual: pat.ResultPass, Result: pat.ResultPass, Tester: "A Khan"},
	}
	lines := goodLines(t)["tests.txt"]
	if len(lines) != len(want) {
		t.Fatalf("%d lines in tests.txt, want %d", len(lines), len(want))
	}
	for i, line := range lines {
		serial, n, r, err := testFromRecord(decodeOne(t, line))
		if err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		w := want[i]
		w.InstrumentSerial = "PAT-0042"
		if serial != "PAT-0042" || n != uint32(17+i) || !reflect.DeepEqual(r, w) {
			t.Errorf("%q:\n got %s %d %+v\nwant %+v", line, serial, n, r, w)
		}
		b, err := testRecord(serial, n, r).Encode()
		if err != nil || !bytes.Equal(b, append(bytes.Clone(line), '\r', '\n')) {
			t.Errorf("encodes as\n%q, %v; want\n%q", b, err, line)
		}
	}
}

func TestIdentity(t *testing.T) {
	lines := goodLines(t)["identity.txt"]
	want := []identity{{Serial: "PAT-0042", Model: "Seaward Apollo 600+", Firmware: "3.1.0", CalibrationDue: "2027-01-31"},
		{Serial: "KT77-000311", Model: "Kewtech KT77", CalibrationDue: "2026-09-30"}}
	if len(lines) != len(want) {
		t.Fatalf("%d lines in identity.txt", len(lines))
	}
	for i, line := range lines {
		id, err := identityFromRecord(decodeOne(t, line))
		if err != nil || id != want[i] {
			t.Errorf("%q: %+v, %v; want %+v", line, id, err, want[i])
		}
		if b, err := idRecord(id).Encode(); err != nil || !bytes.Equal(b, append(bytes.Clone(line), '\r', '\n')) {
			t.Errorf("encodes as %q, %v", b, err)
		}
	}
	// An instrument may add fields of its own to its ID.
	if id, err := identityFromRecord(decodeOne(t, signed("APID,serial=X,model=M,cal=2027-01-31,battery=80"))); err != nil || id.Serial != "X" {
		t.Errorf("ID with a field of its own: %+v, %v", id, err)
	}
}

// signed returns "$" body "*" checksum, without CR LF.
func signed(body string) []byte {
	var x byte
	for i := range len(body) {
		x ^= body[i]
	}
	return append([]byte("$"+body+"*"), "0123456789ABCDEF"[x>>4], "0123456789ABCDEF"[x&0xF])
}

// TestGoodCorpus: every line of testdata/good is read by the reader of its type,
// and every example line of the package doc is one of them.
func TestGoodCorpus(t *testing.T) {
	good := map[string]bool{}
	types := map[string]int{}
	for name, lines := range goodLines(t) {
		for _, line := range lines {
			good[string(line)] = true
			rec := decodeOne(t, line)
			types[rec.Type]++
			var err error
			switch rec.Type {
			case TypeID:
				_, err = identityFromRecord(rec)
			case TypeTest:
				_, _, _, err = testFromRecord(rec)
			case TypeRequest:
				if w, _ := rec.Get("what"); w != "id" {
					err = errors.New("what=" + w)
				}
			default:
				err = errors.New("a type the doc does not give")
			}
			if err != nil {
				t.Errorf("%s: %q: %v", name, line, err)
			}
		}
	}
	for _, typ := range []string{TypeID, TypeTest, TypeRequest} {
		if types[typ] == 0 {
			t.Errorf("no %s example in testdata/good", typ)
		}
	}
	if b, _ := requestRecord("id").Encode(); !good[strings.TrimSuffix(string(b), "\r\n")] {
		t.Errorf("the bridge's request %q is not in testdata/good", b)
	}
	doc, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	examples := 0
	for l := range strings.Lines(string(doc)) {
		if ex, ok := strings.CutPrefix(strings.TrimSpace(l), "//\t$AP"); ok {
			examples++
			if !good["$AP"+ex] {
				t.Errorf("the doc's example %q is not in testdata/good", "$AP"+ex)
			}
		}
	}
	if examples != 3 {
		t.Errorf("%d examples in the doc, want 3", examples)
	}
}

// TestBadCorpus: every testdata/bad file is one good line (so it is the record
// readers that refuse it) that the reader of its type refuses with cause content
// and a message saying what is wrong.
func TestBadCorpus(t *testing.T) {
	for name, b := range badFiles(t) {
		t.Run(name, func(t *testing.T) {
			rec := decodeOne(t, b)
			var err error
			switch {
			case strings.HasPrefix(name, "pt-"):
				_, _, _, err = testFromRecord(rec)
			case strings.HasPrefix(name, "id-"):
				_, err = identityFromRecord(rec)
			default:
				t.Fatal("name it pt-... or id-...")
			}
			if record.CauseOf(err) != record.CauseContent {
				t.Fatalf("%v: want a bad record of cause content", err)
			}
			if !strings.HasPrefix(err.Error(), "record: bad record (content): ") || len(err.Error()) < 40 {
				t.Errorf("error text %q", err)
			}
		})
	}
}

// TestTestRoundTrip: a test the simulator could be told encodes to a line the
// reader reads back as the same test.
func TestTestRoundTrip(t *testing.T) {
	base := pat.Record{AssetID: "A-1", Class: pat.ClassI, TestedAt: time.Date(2026, 6, 10, 11, 0, 0, 500_000_000, time.UTC),
		Visual: pat.ResultPass, Result: pat.ResultPass, Tester: "O'Brien, K"}
	tests := []struct {
		name string
		edit func(*pat.Record)
	}{
		{"bare", func(*pat.Record) {}},
		{"all figures", func(r *pat.Record) {
			r.EarthOhm, r.InsulationMOhm, r.InsulationV, r.LeakageMA = ptr(0), ptr(10000), 1000, ptr(99.999999)
			r.Polarity, r.RetestMonths, r.Description = pat.ResultFail, 120, "50% duty, = * $ ,"
		}},
		{"failing", func(r *pat.Record) {
			r.Visual, r.Result, r.InsulationMOhm, r.InsulationV = pat.ResultFail, pat.ResultFail, ptr(0.5), 250
		}},
		{"class III", func(r *pat.Record) { r.Class = pat.ClassIII }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := base
			tt.edit(&r)
			b, err := testRecord("SN-1", 4294967295, r).Encode()
			if err != nil {
				t.Fatal(err)
			}
			serial, n, got, err := testFromRecord(decodeOne(t, b))
			if err != nil {
				t.Fatalf("%q: %v", b, err)
			}
			r.InstrumentSerial = "SN-1"
			if serial != "SN-1" || n != 4294967295 || !reflect.DeepEqual(got, r) {
				t.Errorf("%q:\n got %+v\nwant %+v", b, got, r)
			}
		})
	}
}

// FuzzTestRecord: the readers of PT and ID records never panic; what the PT
// reader takes is within the protocol's bounds and encodes back to a line that
// reads as the same test.
func FuzzTestRecord(f *testing.F) {
	for _, lines := range goodLines(f) {
		for _, l := range lines {
			f.Add(l)
		}
	}
	for _, b := range badFiles(f) {
		f.Add(bytes.TrimSuffix(b, []byte("\r\n")))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		rec, err := record.DecodeLine(line)
		if err != nil {
			return
		}
		if id, err := identityFromRecord(rec); err == nil && (id.Serial == "" || id.Model == "" || id.CalibrationDue == "") {
			t.Fatalf("ID %q read as %+v", line, id)
		}
		serial, n, r, err := testFromRecord(rec)
		if err != nil {
			if record.CauseOf(err) != record.CauseContent {
				t.Fatalf("%q: %v is not a bad record of cause content", line, err)
			}
			return
		}
		if serial == "" || r.AssetID == "" || r.Tester == "" || r.TestedAt.IsZero() ||
			r.EarthOhm != nil && (*r.EarthOhm < 0 || *r.EarthOhm > maxEarthOhm) ||
			(r.InsulationMOhm == nil) != (r.InsulationV == 0) {
			t.Fatalf("%q read as %+v", line, r)
		}
		b, err := testRecord(serial, n, r).Encode()
		if err != nil {
			t.Fatalf("%q read as %+v, which does not encode: %v", line, r, err)
		}
		serial2, n2, r2, err := testFromRecord(decodeOne(t, b))
		if err != nil || serial2 != serial || n2 != n || !reflect.DeepEqual(r2, r) || !r2.TestedAt.Equal(r.TestedAt) {
			t.Fatalf("%q: encoded %q reads as %+v, %v", line, b, r2, err)
		}
	})
}
