package record

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestEncodeDecodeRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		rec  Record
		line string // "": not checked byte for byte
	}{
		{"request", Record{Type: "RQ", Fields: [][2]string{{"what", "id"}}}, "$APRQ,what=id*04\r\n"},
		{"empty value", Record{Type: "XX", Fields: [][2]string{{"a", ""}}}, ""},
		{"escapes", Record{Type: "ER", Fields: [][2]string{{"code", "E1"}, {"text", "a,b*c$d%e=f\x00\x7f\r\ncafé"}}},
			"$APER,code=E1,text=a%2Cb%2Ac%24d%25e%3Df%00%7F%0D%0Acaf%C3%A9*2C\r\n"},
		{"keys", Record{Type: "ZZ", Fields: [][2]string{{"p-k2", "neg/30"}, {"0-9", " spaces ok "}, {strings.Repeat("k", MaxKey), "~"}}}, ""},
		{"most fields", Record{Type: "ZZ", Fields: manyFields(MaxFields)}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := tt.rec.Encode()
			if err != nil {
				t.Fatal(err)
			}
			if tt.line != "" && string(b) != tt.line {
				t.Errorf("Encode = %q, want %q", b, tt.line)
			}
			if !bytes.HasSuffix(b, []byte("\r\n")) || len(b) > MaxLine {
				t.Fatalf("Encode = %q", b)
			}
			got, err := DecodeLine(b[:len(b)-2])
			if err != nil {
				t.Fatalf("DecodeLine(%q): %v", b, err)
			}
			if !reflect.DeepEqual(got, tt.rec) {
				t.Errorf("round trip: %+v, want %+v", got, tt.rec)
			}
		})
	}
}

func manyFields(n int) [][2]string {
	var f [][2]string
	for i := range n {
		f = append(f, [2]string{fmt.Sprintf("k%d", i), "v"})
	}
	return f
}

// TestChecksum: the checksum is the XOR of the bytes between '$' and '*', as NMEA
// 0183's; any byte changed is caught.
func TestChecksum(t *testing.T) {
	body := "APRQ,what=id"
	var x byte
	for i := range len(body) {
		x ^= body[i]
	}
	line := fmt.Sprintf("$%s*%02X", body, x)
	if line != "$APRQ,what=id*04" {
		t.Fatalf("checksum by hand: %s", line)
	}
	if _, err := DecodeLine([]byte(line)); err != nil {
		t.Fatal(err)
	}
	for i := 1; i < len(line)-3; i++ {
		b := []byte(line)
		b[i] ^= 0x02
		_, err := DecodeLine(b)
		if c := CauseOf(err); c != CauseChecksum {
			t.Errorf("byte %d changed (%q): cause %q, err %v", i, b, c, err)
		}
	}
}

// TestPercentEncoding: exactly the bytes the doc names are escaped; escapes are
// read in either case.
func TestPercentEncoding(t *testing.T) {
	for c := range 256 {
		b := appendEscaped(nil, string([]byte{byte(c)}))
		want := c < 0x20 || c > 0x7E || strings.ContainsRune(",*$%=", rune(c))
		if escaped := len(b) == 3 && b[0] == '%'; escaped != want {
			t.Errorf("byte %#02x: %q", c, b)
		}
	}
	rec, err := DecodeLine(signed("APER,code=E1,text=a%2cb%c3%A9"))
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := rec.Get("text"); v != "a,bé" {
		t.Errorf("text %q", v)
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

func TestDecodeLineRefuses(t *testing.T) {
	tests := []struct {
		name  string
		line  []byte
		cause string
	}{
		{"empty", nil, CauseFraming},
		{"no dollar", []byte("APRQ,what=id*04"), CauseFraming},
		{"no checksum", []byte("$APRQ,what=id"), CauseFraming},
		{"checksum lower case", []byte("$APID,serial=DT5-ARHK-0107,fw=5.0.12,cal=2026-01-15,self=pass,kind=oral-fluid*0e"), CauseFraming},
		{"checksum wrong", []byte("$APRQ,what=id*05"), CauseChecksum},
		{"not AP", signed("GPGGA,x=1"), CauseFraming},
		{"type lower case", signed("APrq,what=id"), CauseType},
		{"type short", signed("APR"), CauseType},
		{"no fields", signed("APRQ"), CauseField},
		{"no comma", signed("APRQQ,what=id"), CauseField},
		{"no equals", signed("APRQ,what"), CauseField},
		{"empty field", signed("APRQ,what=id,"), CauseField},
		{"key upper case", signed("APRQ,What=id"), CauseField},
		{"key too long", signed("APRQ," + strings.Repeat("k", MaxKey+1) + "=1"), CauseField},
		{"key twice", signed("APRQ,a=1,b=2,a=3"), CauseField},
		{"too many fields", signed("APZZ," + fieldList(MaxFields+1)), CauseField},
		{"raw equals", signed("APRQ,what=a=b"), CauseValue},
		{"raw dollar", signed("APRQ,what=a$b"), CauseValue},
		{"raw star", signed("APRQ,what=a*b"), CauseValue},
		{"raw control", signed("APRQ,what=a\x1fb"), CauseValue},
		{"raw DEL", signed("APRQ,what=a\x7fb"), CauseValue},
		{"raw high", signed("APRQ,what=\xc3\xa9"), CauseValue},
		{"escape short", signed("APRQ,what=%4"), CauseValue},
		{"escape bad", signed("APRQ,what=%4x"), CauseValue},
		{"too long", signed("APER,text=" + strings.Repeat("x", MaxLine-2-13)), CauseTooLong},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec, err := DecodeLine(tt.line)
			if !errors.Is(err, ErrRecord) {
				t.Fatalf("DecodeLine(%q) = %+v, %v", tt.line, rec, err)
			}
			if c := CauseOf(err); c != tt.cause {
				t.Errorf("cause %q, want %q (%v)", c, tt.cause, err)
			}
			if !strings.HasPrefix(err.Error(), "record: bad record ("+tt.cause+"): ") {
				t.Errorf("error text %q", err)
			}
		})
	}
	// The longest line there may be is taken.
	longest := signed("APER,text=" + strings.Repeat("x", MaxLine-2-14))
	if len(longest) != MaxLine-2 {
		t.Fatalf("longest line %d bytes", len(longest))
	}
	if _, err := DecodeLine(longest); err != nil {
		t.Errorf("a line of %d bytes: %v", MaxLine, err)
	}
}

func fieldList(n int) string {
	var f []string
	for i := range n {
		f = append(f, fmt.Sprintf("k%d=v", i))
	}
	return strings.Join(f, ",")
}

func TestEncodeRefuses(t *testing.T) {
	tests := []struct {
		name  string
		rec   Record
		cause string
	}{
		{"no type", Record{Fields: [][2]string{{"a", "b"}}}, CauseType},
		{"type lower case", Record{Type: "br", Fields: [][2]string{{"a", "b"}}}, CauseType},
		{"no fields", Record{Type: "RQ"}, CauseField},
		{"too many fields", Record{Type: "RQ", Fields: manyFields(MaxFields + 1)}, CauseField},
		{"bad key", Record{Type: "RQ", Fields: [][2]string{{"A", "b"}}}, CauseField},
		{"empty key", Record{Type: "RQ", Fields: [][2]string{{"", "b"}}}, CauseField},
		{"key twice", Record{Type: "RQ", Fields: [][2]string{{"a", "b"}, {"a", "c"}}}, CauseField},
		{"too long", Record{Type: "RQ", Fields: [][2]string{{"a", strings.Repeat(",", 200)}}}, CauseTooLong},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := tt.rec.Encode()
			if !errors.Is(err, ErrRecord) || CauseOf(err) != tt.cause {
				t.Errorf("Encode = %q, %v; want cause %s", b, err, tt.cause)
			}
		})
	}
}

// chunky is a reader handing out its bytes a few at a time, with empty reads
// between, as a serial port with a read timeout does.
type chunky struct {
	b     []byte
	n     int
	empty bool
}

func (c *chunky) Read(p []byte) (int, error) {
	if c.empty = !c.empty; c.empty {
		return 0, nil
	}
	if len(c.b) == 0 {
		return 0, io.EOF
	}
	n := min(len(p), c.n, len(c.b))
	copy(p, c.b[:n])
	c.b = c.b[n:]
	return n, nil
}

// TestScanner: records among noise come out in order, each bad line counted once
// by its cause, whatever the reads' sizes.
func TestScanner(t *testing.T) {
	var s bytes.Buffer
	s.WriteString("\r\n\x00\xffnoise") // garbage, ended by the '$'
	s.WriteString("$APRQ,what=id*04\r\n")
	s.WriteString("$APRQ,what=id*05\r\n")                   // checksum
	s.WriteString("$APBR,serial=X,n=1")                     // cut off by the next '$'
	s.WriteString("$APRQ,what=id*04\n")                     // LF alone
	s.WriteString("stray text\r\n")                         // garbage
	s.WriteString("$APER,text=" + strings.Repeat("x", 700)) // too long, skipped to its end
	s.WriteString("\r\n\r\n")
	s.Write(signed("APER,code=E1,text=a%2Cb"))
	s.WriteString("\r\n$APRQ,wh") // cut off by the end
	want := map[string]int64{CauseGarbage: 2, CauseChecksum: 1, CauseFraming: 2, CauseTooLong: 1}
	for _, chunk := range []int{1, 3, 7, 64, 4096} {
		t.Run(fmt.Sprint(chunk), func(t *testing.T) {
			sc := NewScanner(&chunky{b: bytes.Clone(s.Bytes()), n: chunk})
			var recs []string
			var bad int64
			for {
				rec, err := sc.Next(t.Context())
				if errors.Is(err, ErrRecord) {
					bad++
					continue
				}
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				recs = append(recs, rec.String())
			}
			if w := []string{"$APRQ,what=id*04", "$APRQ,what=id*04", string(signed("APER,code=E1,text=a%2Cb"))}; !reflect.DeepEqual(recs, w) {
				t.Errorf("records %q, want %q", recs, w)
			}
			if got := sc.Bad(); !reflect.DeepEqual(got, want) {
				t.Errorf("bad %v, want %v", got, want)
			}
			if bad != 6 {
				t.Errorf("%d bad lines returned, want 6", bad)
			}
			if _, err := sc.Next(t.Context()); err != io.EOF {
				t.Errorf("after the end: %v", err)
			}
		})
	}
}

// silent is a port with nothing to say, as one whose every Read times out; after
// some reads it ends ctx.
type silent struct {
	reads  int
	cancel func()
}

func (s *silent) Read([]byte) (int, error) {
	if s.reads++; s.reads == 100 {
		s.cancel()
	}
	return 0, nil
}

// TestScannerNoticesContext: Next on a silent port returns when ctx ends.
func TestScannerNoticesContext(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	port := &silent{cancel: cancel}
	_, err := NewScanner(port).Next(ctx)
	if !errors.Is(err, context.Canceled) || port.reads != 100 {
		t.Errorf("Next = %v after %d reads", err, port.reads)
	}
}

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

// TestBadFrameCorpus: every testdata/bad/frame-<cause>-* file is refused: the
// Scanner finds no record in it and counts at least one bad line, and a file of
// one line is refused by DecodeLine for the cause its name says.
func TestBadFrameCorpus(t *testing.T) {
	files := badFiles(t, "frame-")
	if len(files) < 30 {
		t.Fatalf("only %d frame- files in testdata/bad", len(files))
	}
	causes := []string{CauseGarbage, CauseTooLong, CauseFraming, CauseChecksum, CauseType, CauseField, CauseValue}
	for name, b := range files {
		t.Run(name, func(t *testing.T) {
			sc := NewScanner(bytes.NewReader(b))
			for {
				rec, err := sc.Next(t.Context())
				if err == io.EOF {
					break
				}
				if err == nil {
					t.Fatalf("record %s found", rec)
				}
			}
			var n int64
			for _, v := range sc.Bad() {
				n += v
			}
			if n == 0 {
				t.Error("no bad line counted")
			}
			body, ok := bytes.CutSuffix(b, []byte("\r\n"))
			if !ok || bytes.ContainsAny(body, "\n") {
				return // not one line: the Scanner's
			}
			want := ""
			for _, c := range causes {
				if strings.HasPrefix(name, "frame-"+c+"-") {
					want = c
				}
			}
			if want == "" {
				t.Fatalf("name it frame-<cause>-..., cause one of %v", causes)
			}
			_, err := DecodeLine(body)
			if want == CauseGarbage {
				want = CauseFraming // DecodeLine sees no '$'
			}
			if c := CauseOf(err); c != want {
				t.Errorf("DecodeLine: cause %q, want %q (%v)", c, want, err)
			}
		})
	}
}

// goodLines returns the lines of every testdata/good file, without CR LF.
func goodLines(t testing.TB) map[string][][]byte {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "good", "*.txt"))
	if err != nil || len(files) < 1 {
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

// FuzzDecodeLine: DecodeLine never panics; what it takes is within the limits,
// encodes, and decodes from that to itself.
func FuzzDecodeLine(f *testing.F) {
	seed(f, "frame-")
	f.Fuzz(func(t *testing.T, line []byte) {
		rec, err := DecodeLine(line)
		if err != nil {
			if !errors.Is(err, ErrRecord) || CauseOf(err) == "" {
				t.Fatalf("error %v is not a RecordError", err)
			}
			return
		}
		if len(line) > MaxLine-2 || len(rec.Fields) == 0 || len(rec.Fields) > MaxFields || !ValidType(rec.Type) {
			t.Fatalf("took %q: %+v", line, rec)
		}
		b, err := rec.Encode()
		if err != nil {
			t.Fatalf("took %q but cannot encode it: %v", line, err)
		}
		again, err := DecodeLine(b[:len(b)-2])
		if err != nil || !reflect.DeepEqual(again, rec) {
			t.Fatalf("%q: encoded %q decodes as %+v, %v", line, b, again, err)
		}
	})
}

// FuzzScanner: the Scanner never panics, returns only good records, and counts
// every bad line it returns.
func FuzzScanner(f *testing.F) {
	seed(f, "frame-")
	f.Add([]byte("noise$APRQ,what=id*04\r\n$AP$APRQ,what=id*04\n\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		sc := NewScanner(&chunky{b: b, n: 5})
		var bad int64
		for range 10 * (len(b) + 2) {
			rec, err := sc.Next(t.Context())
			if err == io.EOF {
				break
			}
			if errors.Is(err, ErrRecord) {
				bad++
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			if _, err := rec.Encode(); err != nil {
				t.Fatalf("record %+v does not encode: %v", rec, err)
			}
		}
		var counted int64
		for _, n := range sc.Bad() {
			counted += n
		}
		if counted != bad {
			t.Fatalf("%d bad lines returned, %d counted", bad, counted)
		}
	})
}
