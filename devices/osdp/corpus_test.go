package osdp

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
	"github.com/apedge/apedge/internal/clock"
)

// The bad-input corpora of FuzzCardData and FuzzSecureChannel: every file is an
// input the decoder must refuse with an error, never a panic. The fuzz engine
// runs them as seeds too, so a malformed file fails `go test -fuzz` at once.

// fuzzSCKeys and fuzzSCRMACI are the session FuzzSecureChannel opens frames in,
// shared with TestBadSecureFramesRejected so its corpus is built for them.
func fuzzSCKeys() sessionKeys {
	k, err := deriveKeys(DefaultSCBK(), [8]byte{1, 2, 3, 4, 5, 6, 7, 8})
	if err != nil {
		panic(err)
	}
	return k
}

func fuzzSCRMACI() [16]byte { return [16]byte{9} }

// readCorpusFiles reads the Go fuzz corpus files in dir ("go test fuzz v1", then
// one value a line) whose values have the types of want, in order.
func readCorpusFiles(t *testing.T, dir string, want ...string) map[string][]any {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no corpus in %s: %v", dir, err)
	}
	out := map[string][]any{}
	for _, file := range files {
		text, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(string(text)), "\n")
		if lines[0] != "go test fuzz v1" || len(lines) != 1+len(want) {
			t.Fatalf("%s: not a corpus file of %d values", file, len(want))
		}
		var vals []any
		for i, line := range lines[1:] {
			v, err := parseCorpusValue(line, want[i])
			if err != nil {
				t.Fatalf("%s: line %d: %v", file, i+2, err)
			}
			vals = append(vals, v)
		}
		out[filepath.Base(file)] = vals
	}
	return out
}

// parseCorpusValue parses one corpus line, typ(literal), of the types used here.
func parseCorpusValue(line, typ string) (any, error) {
	e, err := parser.ParseExpr(line)
	if err != nil {
		return nil, err
	}
	call, ok := e.(*ast.CallExpr)
	if !ok || len(call.Args) != 1 {
		return nil, fmt.Errorf("%q: not a conversion", line)
	}
	lit, ok := call.Args[0].(*ast.BasicLit)
	if got := types.ExprString(call.Fun); !ok || got != typ {
		return nil, fmt.Errorf("%q: want a %s literal", line, typ)
	}
	switch {
	case typ == "[]byte" && lit.Kind == token.STRING:
		s, err := strconv.Unquote(lit.Value)
		return []byte(s), err
	case typ == "byte" && lit.Kind == token.CHAR:
		s, err := strconv.Unquote(lit.Value)
		if err != nil || len(s) != 1 {
			return nil, fmt.Errorf("%q: not a byte", line)
		}
		return s[0], nil
	case typ == "byte" && lit.Kind == token.INT:
		n, err := strconv.ParseUint(lit.Value, 0, 8)
		return byte(n), err
	}
	return nil, fmt.Errorf("%q: want a %s literal", line, typ)
}

// refused runs decode, turning a panic into a test failure naming the file, and
// returns its error.
func refused(t *testing.T, name string, decode func() error) (err error) {
	t.Helper()
	defer func() {
		if v := recover(); v != nil {
			t.Errorf("%s: panic: %v", name, v)
			err = errors.New("panic")
		}
	}()
	return decode()
}

// decodeCard decodes card (or keypad) reply data as the panel does: ParseReply,
// then absorb, which decodes RAW bits with wiegand.Decode. The error is
// ParseReply's or that of the misread event absorb emits.
func decodeCard(code byte, data []byte) ([]Event, error) {
	rep, err := ParseReply(code, data)
	if err != nil {
		return nil, err
	}
	var evs []Event
	r := &runner{p: &Panel{log: discardLogger(), clock: clock.System()}, h: func(e Event) { evs = append(evs, e) }}
	r.absorb(&pdState{}, rep)
	for _, e := range evs {
		if e.Err != nil {
			return evs, e.Err
		}
	}
	return evs, nil
}

func TestBadCardDataRejected(t *testing.T) {
	good, _ := RawCard{Format: FormatRawWiegand, Bits: 26, Data: wiegand.Encode26(1, 2)}.MarshalBinary()
	if evs, err := decodeCard(ReplyRAW, good); err != nil || len(evs) != 1 || evs[0].Card == nil {
		t.Fatalf("good RAW read refused: %+v, %v", evs, err)
	}
	corpus := readCorpusFiles(t, "testdata/fuzz/FuzzCardData", "byte", "[]byte")
	for name, v := range corpus {
		code, data := v[0].(byte), v[1].([]byte)
		var evs []Event
		err := refused(t, name, func() (err error) {
			evs, err = decodeCard(code, data)
			return err
		})
		if err == nil {
			t.Errorf("%s: reply %#02x data % x accepted: %+v", name, code, data, evs)
			continue
		}
		for _, e := range evs {
			if e.Card != nil || e.Keys != "" {
				t.Errorf("%s: refused (%v) but reported %+v", name, err, e)
			}
		}
		// Reads of the right length with bad parity fail for that reason.
		if strings.HasPrefix(name, "raw26_") || strings.HasPrefix(name, "raw34_") {
			if !errors.Is(err, wiegand.ErrParity) {
				t.Errorf("%s: %v, want a parity error", name, err)
			}
		}
	}
}

func TestBadSecureFramesRejected(t *testing.T) {
	// Why each named frame is refused by the end it is addressed to (the PD for
	// commands, the panel for replies); unnamed files need only be refused.
	type reason struct {
		err  error
		text string
	}
	var (
		mac     = reason{ErrMAC, ""}
		length  = reason{ErrSecure, "encrypted data of"}
		padding = reason{ErrSecure, "bad padding"}
		scbType = reason{ErrSecure, "security block type"}
	)
	want := map[string]reason{
		"cmd_mac_mismatch":               mac,
		"cmd_ciphertext_tampered":        mac,
		"cmd_truncated_mac":              mac,
		"cmd_mac_wrong_chain":            mac,
		"cmd_mac_wrong_keys":             mac,
		"cmd_checksum_mac_mismatch":      mac,
		"cmd_enc_not_block_multiple":     length,
		"cmd_enc_17_bytes":               length,
		"cmd_enc_empty":                  length,
		"cmd_pad_no_marker":              padding,
		"cmd_pad_no_marker_full_block":   padding,
		"cmd_pad_nonzero_after_marker":   padding,
		"cmd_pad_longer_than_block":      padding,
		"cmd_pad_marker_0x81":            padding,
		"cmd_scb_reply_type":             scbType,
		"cmd_scb_type_16":                scbType,
		"cmd_scb_handshake_type":         scbType,
		"cmd_scb_unknown_type":           scbType,
		"cmd_in_clear":                   scbType,
		"reply_mac_mismatch":             mac,
		"reply_enc_not_block_multiple":   length,
		"reply_enc_empty":                length,
		"reply_pad_no_marker":            padding,
		"reply_pad_nonzero_after_marker": padding,
		"reply_scb_command_type":         scbType,
		"reply_in_clear":                 scbType,
	}
	keys, rmacI := fuzzSCKeys(), fuzzSCRMACI()
	// The same sessions accept frames sealed properly, so the corpus is refused
	// for what was done to it.
	cmd := &Frame{Addr: 1, SQN: 2, CRC: true, Code: CmdLED, Data: make([]byte, 14)}
	newSession(keys, rmacI).sealCommand(cmd)
	rep := &Frame{Addr: 1, Reply: true, SQN: 2, CRC: true, Code: ReplyOSTATR, Data: []byte{1, 0}}
	newSession(keys, rmacI).sealReply(rep)
	for _, c := range []struct {
		f    *Frame
		open func(*session, *Frame) error
	}{{cmd, (*session).openCommand}, {rep, (*session).openReply}} {
		b, _ := c.f.Encode()
		f, err := DecodeFrame(b)
		if err == nil {
			err = c.open(newSession(keys, rmacI), f)
		}
		if err != nil {
			t.Fatalf("good frame %v refused: %v", c.f, err)
		}
	}
	corpus := readCorpusFiles(t, "testdata/fuzz/FuzzSecureChannel", "[]byte")
	for name := range want {
		if _, ok := corpus[name]; !ok {
			t.Errorf("%s: missing from the corpus", name)
		}
	}
	for name, v := range corpus {
		b := v[0].([]byte)
		// Each frame is well formed, so that it reaches the secure channel.
		f, err := DecodeFrame(b)
		if err != nil {
			t.Errorf("%s: DecodeFrame: %v; a secure channel seed must decode", name, err)
			continue
		}
		pd, cp := newSession(keys, rmacI), newSession(keys, rmacI)
		cmdErr := refused(t, name, func() error { g := *f; return pd.openCommand(&g) })
		repErr := refused(t, name, func() error { g := *f; return cp.openReply(&g) })
		if cmdErr == nil {
			t.Errorf("%s: PD end accepted %v", name, f)
		}
		if repErr == nil {
			t.Errorf("%s: panel end accepted %v", name, f)
		}
		if pd.cmac != ([16]byte{}) || cp.rmac != rmacI {
			t.Errorf("%s: a refused frame advanced a MAC chain", name)
		}
		w, ok := want[name]
		if !ok {
			continue
		}
		err = cmdErr
		if f.Reply {
			err = repErr
		}
		if err == nil || !errors.Is(err, w.err) || !strings.Contains(err.Error(), w.text) {
			t.Errorf("%s: refused with %v, want %v %q", name, err, w.err, w.text)
		}
	}
}
