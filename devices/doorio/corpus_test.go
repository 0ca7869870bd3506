package doorio

import (
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"go/types"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/apedge/apedge/devices/wiegand"
)

// TestBadWiegandFramesRejected checks FuzzWiegandFrame's bad-input corpus: each
// file's bits, assembled as the fuzz target assembles them, make only frames that
// Decode refuses with an error, never a panic. The fuzz engine runs the files as
// seeds too, so a malformed file fails `go test -fuzz` at once.
func TestBadWiegandFramesRejected(t *testing.T) {
	files, err := filepath.Glob("testdata/fuzz/FuzzWiegandFrame/*")
	if err != nil || len(files) == 0 {
		t.Fatalf("no corpus: %v", err)
	}
	for _, file := range files {
		name := filepath.Base(file)
		data, gapMs := readWiegandCorpusFile(t, file)
		frames, a := assembleFuzzFrames(data, gapMs)
		if len(frames) == 0 || a.Pending() != 0 {
			t.Errorf("%s: %d frames, %d bits pending", name, len(frames), a.Pending())
		}
		for i, fr := range frames {
			c, err := decodeNoPanic(fr)
			switch {
			case err == nil:
				t.Errorf("%s: frame %d of %d bits (%x) decoded as %+v", name, i, fr.Bits, fr.Raw, c)
			case (fr.Bits == 26 || fr.Bits == 34) && !errors.Is(err, wiegand.ErrParity):
				t.Errorf("%s: frame %d: %v, want a parity error", name, i, err)
			}
		}
	}
}

func decodeNoPanic(fr WiegandFrame) (c wiegand.Card, err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("panic: %v", v)
		}
	}()
	return fr.Decode()
}

// readWiegandCorpusFile reads a FuzzWiegandFrame corpus file: "go test fuzz v1",
// then []byte(...) and uint16(...).
func readWiegandCorpusFile(t *testing.T, file string) ([]byte, uint16) {
	t.Helper()
	text, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(text)), "\n")
	if len(lines) != 3 || lines[0] != "go test fuzz v1" {
		t.Fatalf("%s: not a corpus file of []byte and uint16", file)
	}
	arg := func(line, typ string, kind token.Token) string {
		e, err := parser.ParseExpr(line)
		call, ok := e.(*ast.CallExpr)
		if err != nil || !ok || len(call.Args) != 1 || types.ExprString(call.Fun) != typ {
			t.Fatalf("%s: %q: want %s(...)", file, line, typ)
		}
		lit, ok := call.Args[0].(*ast.BasicLit)
		if !ok || lit.Kind != kind {
			t.Fatalf("%s: %q: want a %s literal", file, line, kind)
		}
		return lit.Value
	}
	s, err := strconv.Unquote(arg(lines[1], "[]byte", token.STRING))
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	gap, err := strconv.ParseUint(arg(lines[2], "uint16", token.INT), 0, 16)
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return []byte(s), uint16(gap)
}
