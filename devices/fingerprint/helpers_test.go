package fingerprint

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// step is one frame of a conversation in testdata/frames: written by the host
// ("> " lines) or answered by the module ("< " lines).
type step struct {
	host bool
	b    []byte
}

// readSteps reads a .hex file: "# " lines are comments, "> " and "< " lines a
// conversation's frames, and bare lines of hex (the bad corpus's) bytes as
// they come, here marked as the module's.
func readSteps(t testing.TB, path string) []step {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var steps []step
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		st := step{}
		switch {
		case strings.HasPrefix(line, ">"):
			st.host, line = true, line[1:]
		case strings.HasPrefix(line, "<"):
			line = line[1:]
		}
		b, err := hex.DecodeString(strings.Join(strings.Fields(line), ""))
		if err != nil {
			t.Fatalf("%s: %q: %v", path, line, err)
		}
		st.b = b
		steps = append(steps, st)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return steps
}

// hexBytes returns every byte of a .hex file, in order.
func hexBytes(t testing.TB, path string) []byte {
	t.Helper()
	var b []byte
	for _, st := range readSteps(t, path) {
		b = append(b, st.b...)
	}
	return b
}

// glob returns the files matching pattern under testdata, at least min of them.
func glob(t testing.TB, pattern string, least int) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", pattern))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < least {
		t.Fatalf("%d files match testdata/%s, want at least %d", len(files), pattern, least)
	}
	return files
}

// end is one end of a pair of pipes: it reads what the other end writes.
type end struct {
	io.Reader
	io.Writer
	closers []io.Closer
}

func (e *end) Close() error {
	for _, c := range e.closers {
		c.Close()
	}
	return nil
}

// pipes returns the two ends of a full-duplex line made of io.Pipes.
func pipes() (host, module *end) {
	hr, mw := io.Pipe()
	mr, hw := io.Pipe()
	host = &end{Reader: hr, Writer: hw, closers: []io.Closer{hr, hw}}
	module = &end{Reader: mr, Writer: mw, closers: []io.Closer{mr, mw}}
	return host, module
}

// rig is a Terminal and a Sim joined by pipes, stopped at the test's end.
func rig(t testing.TB, so SimOptions, to Options) (*Terminal, *Sim) {
	t.Helper()
	if to.Timeout == 0 {
		to.Timeout = time.Second
	}
	sim := NewSim(so)
	host, module := pipes()
	term := NewTerminal(host, to)
	serve(t, sim, module, func() { term.Close(); host.Close() })
	return term, sim
}

// serve runs sim on port until the test ends, then cancels it, runs stop,
// closes port and waits for Serve to return.
func serve(t testing.TB, sim *Sim, port io.ReadWriteCloser, stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := sim.Serve(ctx, port); ctx.Err() == nil {
			t.Errorf("Serve returned early: %v", err)
		}
	})
	t.Cleanup(func() {
		cancel()
		stop()
		port.Close()
		wg.Wait()
	})
}

// readN reads n bytes from r, failing the test if they do not come within
// timeout (the reading goroutine is left to the pipe's closing).
func readN(t testing.TB, r io.Reader, n int, timeout time.Duration) []byte {
	t.Helper()
	type result struct {
		b   []byte
		err error
	}
	done := make(chan result, 1)
	go func() {
		b := make([]byte, n)
		_, err := io.ReadFull(r, b)
		done <- result{b, err}
	}()
	select {
	case res := <-done:
		if res.err != nil {
			t.Fatalf("reading %d bytes: %v", n, res.err)
		}
		return res.b
	case <-time.After(timeout):
		t.Fatalf("no %d bytes within %v", n, timeout)
	}
	return nil
}

// encode returns the frame of command c to DefaultAddress.
func encode(t testing.TB, c Command) []byte {
	t.Helper()
	b, err := Packet{Address: DefaultAddress, PID: PIDCommand, Payload: c.Payload()}.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// ackFrame returns the acknowledgement frame of r from DefaultAddress.
func ackFrame(t testing.TB, r Reply) []byte {
	t.Helper()
	b, err := Packet{Address: DefaultAddress, PID: PIDAck, Payload: r.Payload()}.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// mustIs fails the test unless errors.Is(err, target).
func mustIs(t testing.TB, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Errorf("%s: %v, want %v", what, err, target)
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

// drain reads r to its end, returning the packets and the bad frames' causes.
func drain(t testing.TB, r *Reader) (pkts []Packet, bad []string) {
	t.Helper()
	for range 100000 {
		p, err := r.Next(t.Context())
		switch {
		case err == io.EOF:
			return pkts, bad
		case errors.Is(err, ErrFrame):
			bad = append(bad, CauseOf(err))
		case err != nil:
			t.Fatal(err)
		default:
			pkts = append(pkts, p)
		}
	}
	t.Fatal("the reader never ended")
	return nil, nil
}

// join returns the frames' bytes one after another.
func join(frames ...[]byte) []byte { return bytes.Join(frames, nil) }
