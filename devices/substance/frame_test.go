package substance

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The line layer's own tests (round trips, checksums, escapes, the Scanner, the
// testdata/bad/frame-* corpus and their fuzzers) are package record's.

// badFiles returns the testdata/bad files whose names start with prefix.
func badFiles(t testing.TB, prefix string) map[string][]byte {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "bad", prefix+"*"))
	if err != nil {
		t.Fatal(err)
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

// TestGoodCorpus: the lines of testdata/good decode, encode back to themselves
// and are read by the reader of their type, and every example line of the package
// doc is one of them.
func TestGoodCorpus(t *testing.T) {
	types := map[string]int{}
	good := map[string]bool{}
	for name, lines := range goodLines(t) {
		for _, line := range lines {
			good[string(line)] = true
			rec, err := DecodeLine(line)
			if err != nil {
				t.Errorf("%s: %q: %v", name, line, err)
				continue
			}
			types[rec.Type]++
			if b, err := rec.Encode(); err != nil || !bytes.Equal(b, append(bytes.Clone(line), '\r', '\n')) {
				t.Errorf("%s: %q encodes back as %q, %v", name, line, b, err)
			}
			switch rec.Type {
			case TypeID:
				_, err = identityFromRecord(rec)
			case TypeBreath:
				_, err = readingFromBreath(rec)
			case TypeOralFluid:
				_, err = readingFromOralFluid(rec)
			case TypeError:
				_, _, err = readingFromError(rec, KindBreathAlcohol)
			case TypeRequest:
				if w, _ := rec.Get("what"); w != "id" {
					err = fmt.Errorf("what=%s", w)
				}
			default:
				err = errors.New("a type the doc does not give")
			}
			if err != nil {
				t.Errorf("%s: %q: %v", name, line, err)
			}
		}
	}
	for _, typ := range []string{TypeID, TypeBreath, TypeOralFluid, TypeError, TypeRequest} {
		if types[typ] == 0 {
			t.Errorf("no %s example in testdata/good", typ)
		}
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
	if examples < 5 {
		t.Errorf("%d examples in the doc", examples)
	}
}

// seed adds every good line and every bad file whose name starts with prefix to f.
func seed(f *testing.F, prefix string) {
	for _, lines := range goodLines(f) {
		for _, l := range lines {
			f.Add(l)
		}
	}
	for _, b := range badFiles(f, prefix) {
		f.Add(b)
		f.Add(bytes.TrimSuffix(b, []byte("\r\n")))
	}
}

// signed returns "$" body "*" checksum, without CR LF.
func signed(body string) []byte {
	var x byte
	for i := range len(body) {
		x ^= body[i]
	}
	return fmt.Appendf(nil, "$%s*%02X", body, x)
}
