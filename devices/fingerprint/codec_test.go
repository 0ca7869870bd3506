package fingerprint

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/apedge/apedge/internal/wait"
)

// TestChecksumByHand: the checksum as the ZFM-20 manual 5.1 defines it, on the
// frames it gives checksums for (chapter 6).
func TestChecksumByHand(t *testing.T) {
	tests := []struct {
		c    Command
		want uint16
	}{
		{CmdGenImg(), 0x0005},      // 6.2 (8)
		{CmdRegModel(), 0x0009},    // 6.2 (12)
		{CmdMatch(), 0x0007},       // 6.2 (19)
		{CmdEmpty(), 0x0011},       // 6.2 (18)
		{CmdTemplateNum(), 0x0021}, // 6.1 (7)
		{Command{Instruction: 0x0A}, 0x000E},
		{Command{Instruction: 0x0B}, 0x000F},
		{Command{Instruction: 0x14}, 0x0018},
		{CmdVfyPwd(0), 0x001B},
		{CmdVfyPwd(0xFFFFFFFF), 0x001B + 4*0xFF},
	}
	for _, tt := range tests {
		if got := Checksum(PIDCommand, tt.c.Payload()); got != tt.want {
			t.Errorf("%s: checksum %04X, want %04X", tt.c, got, tt.want)
		}
	}
	// Carries past 16 bits are dropped.
	big := bytes.Repeat([]byte{0xFF}, MaxPayload)
	want := uint16((0x02 + 0x01 + 0x02 + 0xFF*MaxPayload) & 0xFFFF)
	if got := Checksum(PIDData, big); got != want {
		t.Errorf("a full data packet's checksum %04X, want %04X", got, want)
	}
}

func TestEncodeDecodeRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		p    Packet
		hex  string // "": not checked byte for byte
	}{
		{"VfyPwd", Packet{DefaultAddress, PIDCommand, CmdVfyPwd(0).Payload()}, "EF01FFFFFFFF0100071300000000001B"},
		{"ack", Packet{DefaultAddress, PIDAck, []byte{0}}, "EF01FFFFFFFF07000300000A"},
		{"address", Packet{0x12345678, PIDAck, []byte{0x09, 0, 0, 0, 0}}, ""},
		{"data", Packet{DefaultAddress, PIDData, bytes.Repeat([]byte{0xA5}, 128)}, ""},
		{"end of data, most", Packet{0, PIDEndData, bytes.Repeat([]byte{0xFF}, MaxPayload)}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := tt.p.Encode()
			if err != nil {
				t.Fatal(err)
			}
			if tt.hex != "" && fmt.Sprintf("%X", b) != tt.hex {
				t.Errorf("Encode = %X, want %s", b, tt.hex)
			}
			if len(b) != headerLen+len(tt.p.Payload)+2 {
				t.Errorf("%d bytes", len(b))
			}
			got, err := Decode(b, tt.p.Address)
			if err != nil {
				t.Fatalf("Decode(% X): %v", b, err)
			}
			if !reflect.DeepEqual(got, tt.p) {
				t.Errorf("round trip %+v, want %+v", got, tt.p)
			}
		})
	}
}

func TestEncodeRefuses(t *testing.T) {
	tests := []struct {
		name  string
		p     Packet
		cause string
	}{
		{"pid", Packet{DefaultAddress, 0x03, []byte{1}}, CausePID},
		{"empty", Packet{DefaultAddress, PIDCommand, nil}, CauseLength},
		{"too long", Packet{DefaultAddress, PIDData, make([]byte, MaxPayload+1)}, CauseLength},
	}
	for _, tt := range tests {
		if b, err := tt.p.Encode(); !errors.Is(err, ErrFrame) || CauseOf(err) != tt.cause {
			t.Errorf("%s: Encode = % X, %v; want cause %s", tt.name, b, err, tt.cause)
		}
	}
}

// TestDecodeRefuses: every way a frame can be bad, by its cause.
func TestDecodeRefuses(t *testing.T) {
	good := ackFrame(t, Reply{})
	with := func(i int, v byte) []byte { b := bytes.Clone(good); b[i] = v; return b }
	other, _ := Packet{0xFFFFFFFE, PIDAck, []byte{0}}.Encode() // a good frame of another address
	tests := []struct {
		name  string
		b     []byte
		cause string
	}{
		{"empty", nil, CauseTruncated},
		{"EF", []byte{0xEF}, CauseTruncated},
		{"one byte", []byte{0x55}, CauseGarbage},
		{"header only", good[:2], CauseTruncated},
		{"no length", good[:7], CauseTruncated},
		{"no payload", good[:9], CauseTruncated},
		{"no checksum", good[:10], CauseTruncated},
		{"half checksum", good[:11], CauseTruncated},
		{"wrong header", with(1, 0x02), CauseGarbage},
		{"garbage first", append([]byte{0}, good...), CauseGarbage},
		{"garbage after", append(bytes.Clone(good), 0), CauseGarbage},
		{"pid", with(6, 0x04), CausePID},
		{"pid before length", with(6, 0x04)[:7], CausePID},
		{"length 2", with(8, 2), CauseLength},
		{"length over", append(with(7, 0x01), make([]byte, 256)...), CauseLength},
		{"checksum", with(11, 0x0B), CauseChecksum},
		{"payload", with(9, 0x01), CauseChecksum},
		{"address", other, CauseAddress},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Decode(tt.b, DefaultAddress)
			if !errors.Is(err, ErrFrame) {
				t.Fatalf("Decode(% X) = %+v, %v", tt.b, p, err)
			}
			if c := CauseOf(err); c != tt.cause {
				t.Errorf("cause %q, want %q (%v)", c, tt.cause, err)
			}
			if !strings.HasPrefix(err.Error(), "fingerprint: bad frame ("+tt.cause+"): ") {
				t.Errorf("error text %q", err)
			}
		})
	}
}

// TestReaderResynchronises: packets among noise and bad frames come out in
// order, each bad frame counted once by cause, whatever the reads' sizes.
func TestReaderResynchronises(t *testing.T) {
	ok := ackFrame(t, Reply{})
	count := ackFrame(t, ReplyTemplateCount(3))
	params := ackFrame(t, ReplySysParams(SysParams{Capacity: 200, SecurityLevel: 3, Address: DefaultAddress, PacketSizeCode: 2, BaudMultiple: 6}))
	badSum := bytes.Clone(ok)
	badSum[len(badSum)-1]++
	other, _ := Packet{0x01020304, PIDAck, []byte{0}}.Encode()
	stream := join(
		[]byte{0x00, 0x13}, // garbage, reported at the next header
		ok,
		badSum,
		[]byte{0xEF, 0x01, 0xEF, 0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0x03}, // a false header (pid), then a real one cut short...
		[]byte{0x00, 0x03, 0x00, 0x00, 0x0D},                         // ...whose pid is bad too, absorbed
		count,
		other,
		[]byte{0xEF, 0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0x07, 0xFF, 0xFF, 0x00, 0x00, 0x0A}, // length, the rest absorbed
		[]byte{0xEF, 0x01}, ok, // EF 01 EF 01 ...: a false header, and the real one next to it
		params,
		[]byte("AT\r\n"), // garbage
		[]byte{0xEF, 0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0x07, 0x00, 0x03}, // cut off by the end
	)
	wantBad := map[string]int64{CauseGarbage: 2, CauseChecksum: 1, CausePID: 3, CauseAddress: 1, CauseLength: 1, CauseTruncated: 1}
	wantPkts := [][]byte{ok, count, ok, params}
	for _, size := range []int{1, 2, 5, 11, 64, 4096} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			r := NewReader(&chunky{b: bytes.Clone(stream), n: size}, DefaultAddress)
			defer r.Close()
			pkts, bad := drain(t, r)
			var got [][]byte
			for _, p := range pkts {
				b, _ := p.Encode()
				got = append(got, b)
			}
			if !reflect.DeepEqual(got, wantPkts) {
				t.Errorf("packets\n% X\nwant\n% X", got, wantPkts)
			}
			if c := r.Bad(); !reflect.DeepEqual(c, wantBad) {
				t.Errorf("bad %v, want %v (returned %v)", c, wantBad, bad)
			}
			if int64(len(bad)) != 9 {
				t.Errorf("%d bad frames returned, want 9: %v", len(bad), bad)
			}
			if _, err := r.Next(t.Context()); err != io.EOF {
				t.Errorf("after the end: %v", err)
			}
		})
	}
}

// TestReaderDeadline: Next over a pipe whose Read blocks returns when its
// context ends, and a frame half read then is finished by the next call.
func TestReaderDeadline(t *testing.T) {
	pr, pw := io.Pipe()
	defer pr.Close()
	r := NewReader(pr, DefaultAddress)
	defer r.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if _, err := r.Next(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Next on a silent pipe: %v", err)
	}
	frame := ackFrame(t, ReplyTemplateCount(7))
	go pw.Write(frame[:5])
	ctx2, cancel2 := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel2()
	if _, err := r.Next(ctx2); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Next on half a frame: %v", err)
	}
	go pw.Write(frame[5:])
	p, err := r.Next(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if n, err := ParseTemplateCount(Reply{Code: Code(p.Payload[0]), Data: p.Payload[1:]}); err != nil || n != 7 {
		t.Errorf("packet %v: %d, %v", p, n, err)
	}
	if len(r.Bad()) != 0 {
		t.Errorf("bad %v", r.Bad())
	}
}

// TestReaderDiscard: Discard drops what came before a command, counting a late
// good packet as stale and a frame cut off as truncated.
func TestReaderDiscard(t *testing.T) {
	pr, pw := io.Pipe()
	defer pr.Close()
	r := NewReader(pr, DefaultAddress)
	defer r.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Millisecond)
	r.Next(ctx) // starts the reading
	cancel()
	if err := r.Discard(); err != nil {
		t.Errorf("Discard of nothing: %v", err)
	}
	late := ackFrame(t, Reply{})
	go pw.Write(join(late, late[:4]))
	wait.For(t, 2*time.Second, "the late reply discarded", func() (bool, string) {
		r.Discard()
		b := r.Bad()
		return b[CauseStale] == 1 && b[CauseTruncated] == 1, fmt.Sprint(b)
	})
	go pw.Write(late)
	p, err := r.Next(t.Context())
	if err != nil || p.PID != PIDAck {
		t.Errorf("after Discard: %v, %v", p, err)
	}
}

// causeOfFile returns the cause a testdata/bad file's name starts with.
func causeOfFile(t testing.TB, path string) string {
	t.Helper()
	name := filepath.Base(path)
	for _, c := range []string{CauseGarbage, CauseTruncated, CausePID, CauseLength, CauseChecksum, CauseAddress} {
		if strings.HasPrefix(name, c+"-") {
			return c
		}
	}
	t.Fatalf("%s: name it <cause>-....hex", name)
	return ""
}

// TestBadCorpus: every testdata/bad file is refused by Decode for the cause its
// name says, and a Reader of it counts at least one bad frame of that cause.
func TestBadCorpus(t *testing.T) {
	seen := map[string]bool{}
	for _, f := range glob(t, "bad/*.hex", 25) {
		t.Run(filepath.Base(f), func(t *testing.T) {
			b := hexBytes(t, f)
			want := causeOfFile(t, f)
			seen[want] = true
			p, err := Decode(b, DefaultAddress)
			if c := CauseOf(err); c != want {
				t.Errorf("Decode(% X) = %v, %v; want cause %s", b, p, err, want)
			}
			r := NewReader(bytes.NewReader(b), DefaultAddress)
			defer r.Close()
			drain(t, r)
			if r.Bad()[want] == 0 {
				t.Errorf("a Reader counted %v, no %s", r.Bad(), want)
			}
		})
	}
	for _, c := range []string{CauseGarbage, CauseTruncated, CausePID, CauseLength, CauseChecksum, CauseAddress} {
		if !seen[c] {
			t.Errorf("no testdata/bad file of cause %s", c)
		}
	}
}

// seedFrames adds every golden frame and bad file to f.
func seedFrames(f *testing.F) {
	for _, file := range glob(f, "frames/*.hex", 5) {
		for _, st := range readSteps(f, file) {
			f.Add(st.b)
		}
	}
	for _, file := range glob(f, "bad/*.hex", 25) {
		f.Add(hexBytes(f, file))
	}
}

// FuzzDecode: Decode never panics; what it takes re-encodes to the same bytes,
// and what it refuses it refuses with a cause.
func FuzzDecode(f *testing.F) {
	seedFrames(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := Decode(b, DefaultAddress)
		if err != nil {
			switch CauseOf(err) {
			case CauseGarbage, CauseTruncated, CausePID, CauseLength, CauseChecksum, CauseAddress:
			default:
				t.Fatalf("error %v without a cause", err)
			}
			return
		}
		again, err := p.Encode()
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("Decode(% X) = %v, which encodes as % X, %v", b, p, again, err)
		}
	})
}

// FuzzReader: a Reader never panics on any stream, returns only packets that
// encode, and counts every bad frame it returns.
func FuzzReader(f *testing.F) {
	seedFrames(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		r := NewReader(&chunky{b: b, n: 7}, DefaultAddress)
		defer r.Close()
		pkts, bad := drain(t, r)
		for _, p := range pkts {
			if _, err := p.Encode(); err != nil || p.Address != DefaultAddress {
				t.Fatalf("packet %+v: %v", p, err)
			}
		}
		var counted int64
		for _, n := range r.Bad() {
			counted += n
		}
		if counted != int64(len(bad)) {
			t.Fatalf("%d bad frames returned, %d counted", len(bad), counted)
		}
	})
}
