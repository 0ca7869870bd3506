package substance

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apedge/apedge/devices/internal/record"
)

// ofReading returns a good oral-fluid reading with the given panels.
func ofReading(panels ...PanelResult) Reading {
	return Reading{
		Kind:           KindOralFluid,
		Serial:         "DT5-ARHK-0107",
		CalibrationDue: "2026-01-15",
		SelfCheck:      SelfCheckPass,
		TestNumber:     342,
		TestID:         "T-9XW4",
		MeasuredAt:     time.Date(2025, 11, 4, 10, 12, 30, 0, time.UTC),
		CassetteLot:    "ARJK-0129",
		CassetteExpiry: "2026-06-30",
		Panels:         panels,
	}
}

// ofEveryPanel returns a result for every drug panel at its default cut-off, the
// results taking turns.
func ofEveryPanel() []PanelResult {
	cut := DefaultOralFluidCutoffs()
	results := []string{ResultNegative, ResultNonNegative, ResultInvalid}
	var ps []PanelResult
	for i, p := range DrugPanels() {
		ps = append(ps, PanelResult{Panel: p, Result: results[i%3], CutoffNgMl: cut[p]})
	}
	return ps
}

// ofSame says a and b are the same reading: MeasuredAt the same instant, all
// else equal.
func ofSame(a, b Reading) bool {
	if !a.MeasuredAt.Equal(b.MeasuredAt) {
		return false
	}
	a.MeasuredAt, b.MeasuredAt = time.Time{}, time.Time{}
	return reflect.DeepEqual(a, b)
}

// ofLine encodes r's OF record as a line and decodes it back to a reading.
func ofLine(t *testing.T, r Reading) ([]byte, Reading) {
	t.Helper()
	line, err := oralFluidRecord(r).Encode()
	if err != nil {
		t.Fatalf("Encode: %v", err)
	}
	if !bytes.HasSuffix(line, []byte("\r\n")) {
		t.Fatalf("line %q does not end in CR LF", line)
	}
	rec, err := DecodeLine(line[:len(line)-2])
	if err != nil {
		t.Fatalf("DecodeLine(%q): %v", line, err)
	}
	got, err := readingFromOralFluid(rec)
	if err != nil {
		t.Fatalf("readingFromOralFluid(%q): %v", line, err)
	}
	return line, got
}

func TestOralFluidRoundTrip(t *testing.T) {
	noID := ofReading(PanelResult{Panel: "thc", Result: ResultNegative, CutoffNgMl: 5})
	noID.TestID = ""
	offset := ofReading(PanelResult{Panel: "cocaine", Result: ResultNonNegative, CutoffNgMl: 20})
	offset.MeasuredAt = time.Date(2025, 6, 1, 23, 59, 59, 0, time.FixedZone("", 3600))
	extremes := ofReading(
		PanelResult{Panel: "fentanyl", Result: ResultInvalid, CutoffNgMl: 0.000001},
		PanelResult{Panel: "gabapentin", Result: ResultNegative, CutoffNgMl: 999999.5},
		PanelResult{Panel: "buprenorphine", Result: ResultNonNegative, CutoffNgMl: 2.5},
	)
	extremes.TestNumber = math.MaxUint32
	extremes.SelfCheck = SelfCheckFail
	extremes.CassetteLot = "LOT 7, 2025=A*B%C$" // every byte that is escaped, and a space
	extremes.TestID = "visit 3, room=4"
	extremes.MeasuredAt = time.Date(2025, 12, 31, 23, 0, 0, 500_000_000, time.FixedZone("", -9*3600-30*60))
	zero := ofReading(PanelResult{Panel: "mdma", Result: ResultNegative, CutoffNgMl: 50})
	zero.TestNumber = 0

	for _, tc := range []struct {
		name string
		r    Reading
	}{
		{"every panel", ofReading(ofEveryPanel()...)},
		{"no test id", noID},
		{"time with an offset", offset},
		{"extremes", extremes},
		{"test number 0", zero},
	} {
		t.Run(tc.name, func(t *testing.T) {
			line, got := ofLine(t, tc.r)
			if !ofSame(got, tc.r) {
				t.Errorf("line %q\nread %+v\nwant %+v", line, got, tc.r)
			}
		})
	}
}

// TestOralFluidLine: the line of a reading is the one the protocol says, byte for
// byte, with its checksum worked out here.
func TestOralFluidLine(t *testing.T) {
	r := ofReading(
		PanelResult{Panel: "amphetamine", Result: ResultNegative, CutoffNgMl: 50},
		PanelResult{Panel: "cocaine", Result: ResultNonNegative, CutoffNgMl: 20},
		PanelResult{Panel: "thc", Result: ResultInvalid, CutoffNgMl: 2.5},
	)
	r.TestID = "T,1"
	body := "APOF,serial=DT5-ARHK-0107,n=342,t=2025-11-04T10:12:30Z,cal=2026-01-15,self=pass," +
		"lot=ARJK-0129,exp=2026-06-30,id=T%2C1,p-amphetamine=neg/50,p-cocaine=pos/20,p-thc=inv/2.5"
	var sum byte
	for i := 0; i < len(body); i++ {
		sum ^= body[i]
	}
	want := fmt.Sprintf("$%s*%02X\r\n", body, sum)
	line, _ := ofLine(t, r)
	if string(line) != want {
		t.Errorf("line\n%q\nwant\n%q", line, want)
	}
}

func TestPanelKeys(t *testing.T) {
	seen := map[string]string{}
	for _, p := range DrugPanels() {
		k := panelKey(p)
		if !record.ValidKey(k) || !strings.HasPrefix(k, "p-") {
			t.Errorf("panel %s: key %q is not a record key", p, k)
		}
		if q, ok := seen[k]; ok {
			t.Errorf("panels %s and %s share key %q", q, p, k)
		}
		seen[k] = p
		if got, ok := panelOfKey(k); !ok || got != p {
			t.Errorf("panelOfKey(%q) = %q, %v; want %s", k, got, ok, p)
		}
		if full := "p-" + p; len(full) <= MaxKey && k != full {
			t.Errorf("panel %s: key %q, want %q", p, k, full)
		}
	}
	for _, k := range []string{"p-alcohol", "p-", "p-lsd", "thc", "p-THC"} {
		if p, ok := panelOfKey(k); ok {
			t.Errorf("panelOfKey(%q) = %q", k, p)
		}
	}
}

// TestOralFluidRefused: records that are good lines but not good OF records are
// refused with a content error that names the field.
func TestOralFluidRefused(t *testing.T) {
	base := oralFluidRecord(ofReading(
		PanelResult{Panel: "cocaine", Result: ResultNonNegative, CutoffNgMl: 20},
		PanelResult{Panel: "thc", Result: ResultNegative, CutoffNgMl: 5},
	))
	if _, err := readingFromOralFluid(base); err != nil {
		t.Fatalf("the base record is refused: %v", err)
	}
	// set returns base with key set to value (added if base has none); del without
	// key.
	set := func(key, value string) Record {
		rec := Record{Type: base.Type}
		found := false
		for _, f := range base.Fields {
			if f[0] == key {
				f[1], found = value, true
			}
			rec.Fields = append(rec.Fields, f)
		}
		if !found {
			rec.Add(key, value)
		}
		return rec
	}
	del := func(keys ...string) Record {
		rec := Record{Type: base.Type}
		for _, f := range base.Fields {
			if !slices.Contains(keys, f[0]) {
				rec.Fields = append(rec.Fields, f)
			}
		}
		return rec
	}
	twice := func(key, value string) Record {
		rec := Record{Type: base.Type, Fields: append([][2]string(nil), base.Fields...)}
		rec.Add(key, value)
		return rec
	}
	brType := base
	brType.Type = TypeBreath
	// altMamp is the key methamphetamine does not have: its short one if its
	// whole name fits, else that.
	altMamp := "p-mamp"
	if panelKey("methamphetamine") == altMamp {
		altMamp = "p-methamphetamine"
	}

	for _, tc := range []struct {
		name string
		rec  Record
		want string // in the error: the field it names
	}{
		{"type BR", brType, "read as OF"},
		{"no serial", del("serial"), "serial"},
		{"empty serial", set("serial", ""), "serial"},
		{"serial with a space", set("serial", "DT5 0107"), "serial"},
		{"serial too long", set("serial", strings.Repeat("S", 65)), "serial"},
		{"serial with a control byte", set("serial", "DT5\x00"), "serial"},
		{"no test number", del("n"), "test number"},
		{"empty test number", set("n", ""), "test number"},
		{"negative test number", set("n", "-1"), "test number"},
		{"signed test number", set("n", "+1"), "test number"},
		{"test number over uint32", set("n", "4294967296"), "test number"},
		{"hex test number", set("n", "0x10"), "test number"},
		{"test number with a space", set("n", "34 2"), "test number"},
		{"no time", del("t"), "time"},
		{"time without offset", set("t", "2025-11-04T10:12:30"), "time"},
		{"time with a space", set("t", "2025-11-04 10:12:30Z"), "time"},
		{"time month 13", set("t", "2025-13-04T10:12:30Z"), "time"},
		{"time not a time", set("t", "yesterday"), "time"},
		{"no cal", del("cal"), "cal"},
		{"cal February 30", set("cal", "2026-02-30"), "cal"},
		{"cal one-digit month", set("cal", "2026-1-15"), "cal"},
		{"cal without dashes", set("cal", "20260115"), "cal"},
		{"cal a time", set("cal", "2026-01-15T00:00:00Z"), "cal"},
		{"no self", del("self"), "self"},
		{"self ok", set("self", "ok"), "self"},
		{"self upper case", set("self", "PASS"), "self"},
		{"no lot", del("lot"), "lot"},
		{"empty lot", set("lot", ""), "lot"},
		{"lot too long", set("lot", strings.Repeat("L", 33)), "lot"},
		{"lot with a control byte", set("lot", "AB\x07C"), "lot"},
		{"lot not ASCII", set("lot", "ARJK-é"), "lot"},
		{"lot with a leading space", set("lot", " ARJK"), "lot"},
		{"no exp", del("exp"), "exp"},
		{"exp a month", set("exp", "2026-06"), "exp"},
		{"exp June 31", set("exp", "2026-06-31"), "exp"},
		{"test id too long", set("id", strings.Repeat("i", 65)), "test id"},
		{"test id with a tab", set("id", "T\t9"), "test id"},
		{"no panels", del("p-cocaine", "p-thc"), "p- field"},
		{"result without cut-off", set("p-cocaine", "pos"), "p-cocaine"},
		{"result with an empty cut-off", set("p-cocaine", "pos/"), "p-cocaine"},
		{"cut-off without result", set("p-cocaine", "/20"), "p-cocaine"},
		{"result spelt out", set("p-cocaine", "positive/20"), "p-cocaine"},
		{"result upper case", set("p-cocaine", "POS/20"), "p-cocaine"},
		{"cut-off 0", set("p-cocaine", "pos/0"), "p-cocaine"},
		{"cut-off 0.0", set("p-cocaine", "pos/0.0"), "p-cocaine"},
		{"negative cut-off", set("p-cocaine", "neg/-20"), "p-cocaine"},
		{"cut-off with an exponent", set("p-cocaine", "neg/2e1"), "p-cocaine"},
		{"cut-off with a plus", set("p-cocaine", "neg/+20"), "p-cocaine"},
		{"cut-off with a space", set("p-cocaine", "neg/ 20"), "p-cocaine"},
		{"cut-off NaN", set("p-cocaine", "neg/NaN"), "p-cocaine"},
		{"cut-off Inf", set("p-cocaine", "neg/Inf"), "p-cocaine"},
		{"cut-off seven decimals", set("p-cocaine", "neg/0.0000001"), "p-cocaine"},
		{"cut-off seven digits", set("p-cocaine", "neg/1000000"), "p-cocaine"},
		{"two cut-offs", set("p-cocaine", "neg/20/30"), "p-cocaine"},
		{"alcohol panel", set("p-alcohol", "neg/9"), "p-alcohol"},
		{"unknown panel", set("p-lsd", "neg/1"), "p-lsd"},
		{"methamphetamine by its other key", set(altMamp, "neg/35"), altMamp},
		{"unknown field", set("temp", "21.5"), "temp"},
		{"firmware in an OF record", set("fw", "5.0.12"), "fw"},
		{"serial twice", twice("serial", "DT5-OTHER"), "serial"},
		{"panel twice", twice("p-thc", "pos/5"), "p-thc"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := readingFromOralFluid(tc.rec)
			switch {
			case err == nil:
				t.Fatalf("accepted %v as %+v", tc.rec, r)
			case !errors.Is(err, ErrRecord) || CauseOf(err) != CauseContent:
				t.Errorf("%v: want a bad record of cause %s", err, CauseContent)
			case !strings.Contains(err.Error(), tc.want):
				t.Errorf("%v: does not name %s", err, tc.want)
			}
		})
	}
}

// TestOralFluidGood: the OF records of testdata/good are read.
func TestOralFluidGood(t *testing.T) {
	n := 0
	for _, line := range ofGoodLines(t) {
		if !bytes.HasPrefix(line, []byte("$APOF,")) {
			continue
		}
		n++
		rec, err := DecodeLine(line)
		if err != nil {
			t.Errorf("%q: %v", line, err)
			continue
		}
		r, err := readingFromOralFluid(rec)
		if err != nil {
			t.Errorf("%q: %v", line, err)
			continue
		}
		if _, back := ofLine(t, r); !ofSame(back, r) {
			t.Errorf("%q: read %+v, and again %+v", line, r, back)
		}
	}
	if n == 0 {
		t.Error("no OF record in testdata/good")
	}
}

// ofGoodLines returns the lines of every file in testdata/good, without line ends.
func ofGoodLines(t testing.TB) [][]byte {
	files, _ := filepath.Glob(filepath.Join("testdata", "good", "*"))
	var lines [][]byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for l := range bytes.SplitSeq(b, []byte("\n")) {
			if l = bytes.TrimSuffix(l, []byte("\r")); len(l) > 0 {
				lines = append(lines, l)
			}
		}
	}
	return lines
}

// TestBadOralFluidCorpus: every testdata/bad/oralfluid-* file, one OF line, is
// refused: by DecodeLine, or else by readingFromOralFluid; with a bad-record error,
// and no panic.
func TestBadOralFluidCorpus(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("testdata", "bad", "oralfluid-*"))
	if len(files) < 30 {
		t.Fatalf("only %d oralfluid- files in testdata/bad", len(files))
	}
	content := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		line := bytes.TrimSuffix(bytes.TrimSuffix(b, []byte("\n")), []byte("\r"))
		rec, err := DecodeLine(line)
		if err == nil {
			var r Reading
			if r, err = readingFromOralFluid(rec); err == nil {
				t.Errorf("%s: accepted as %+v", filepath.Base(f), r)
				continue
			}
			content++
		}
		if !errors.Is(err, ErrRecord) {
			t.Errorf("%s: %v, want a bad-record error", filepath.Base(f), err)
		}
	}
	// Most of the corpus is good lines with bad fields: it tests readingFromOralFluid,
	// not only DecodeLine.
	if content < len(files)*2/3 {
		t.Errorf("only %d of %d files get past DecodeLine", content, len(files))
	}
}

// FuzzOralFluidRecord: no line makes DecodeLine and readingFromOralFluid panic; what
// they refuse is a bad record; and a reading they accept writes a line that reads
// back as the same reading.
func FuzzOralFluidRecord(f *testing.F) {
	for _, l := range ofGoodLines(f) {
		f.Add(l)
	}
	for _, r := range []Reading{
		ofReading(ofEveryPanel()...),
		ofReading(PanelResult{Panel: "thc", Result: ResultNegative, CutoffNgMl: 4.5}),
	} {
		line, err := oralFluidRecord(r).Encode()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(line[:len(line)-2])
	}
	files, _ := filepath.Glob(filepath.Join("testdata", "bad", "oralfluid-*"))
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(bytes.TrimRight(b, "\r\n"))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		rec, err := DecodeLine(line)
		if err != nil {
			return
		}
		r, err := readingFromOralFluid(rec)
		if err != nil {
			if !errors.Is(err, ErrRecord) {
				t.Fatalf("%q: %v, not a bad record", line, err)
			}
			return
		}
		if len(r.Panels) == 0 || r.Serial == "" || r.Kind != KindOralFluid {
			t.Fatalf("%q: accepted %+v", line, r)
		}
		for _, p := range r.Panels {
			if !isDrugPanel(p.Panel) || !(p.CutoffNgMl > 0) {
				t.Fatalf("%q: accepted panel %+v", line, p)
			}
		}
		if _, back := ofLine(t, r); !ofSame(back, r) {
			t.Fatalf("%q: read %+v, and again %+v", line, r, back)
		}
	})
}
