package osdp

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/tarm/serial"
)

// Port is the serial line. *serial.Port from github.com/tarm/serial satisfies it.
// Read must return within a bounded time (a read timeout), with n == 0 when nothing
// arrived; the panel relies on that to notice its context ending.
type Port interface {
	io.Reader
	io.Writer
}

// serialReadTimeout bounds every Read on a port opened by OpenSerial.
const serialReadTimeout = 100 * time.Millisecond

// OpenSerial opens the serial device at path at baud, 8N1, raw, with a read timeout
// of 100 ms: a Read that finds nothing returns 0, nil. (tarm/serial's Close does not
// return while a Read without a timeout is blocked.)
func OpenSerial(path string, baud int) (io.ReadWriteCloser, error) {
	p, err := serial.OpenPort(&serial.Config{Name: path, Baud: baud, ReadTimeout: serialReadTimeout})
	if err != nil {
		return nil, fmt.Errorf("osdp: open %s at %d baud: %w", path, baud, err)
	}
	return timeoutPort{p}, nil
}

// timeoutPort turns the io.EOF that a timed-out read of a terminal returns into
// (0, nil).
type timeoutPort struct{ *serial.Port }

func (p timeoutPort) Read(b []byte) (int, error) {
	n, err := p.Port.Read(b)
	if n == 0 && errors.Is(err, io.EOF) {
		return 0, nil
	}
	return n, err
}

// Paced returns a port whose Write takes as long as the bytes would take on a line at
// baud (10 bits a byte: start, 8 data, stop) before returning, so that a
// pseudo-terminal behaves like a real line: it waits len(b)*10/baud, then writes, so
// the reader sees the frame when its last byte would have arrived. Reads pass
// through.
func Paced(p Port, baud int) Port {
	if baud <= 0 {
		return p
	}
	return &pacedPort{Port: p, baud: baud}
}

type pacedPort struct {
	Port
	baud int
}

// wireTime is how long n bytes take on a line at baud.
func wireTime(n, baud int) time.Duration {
	return time.Duration(int64(n) * 10 * int64(time.Second) / int64(baud))
}

func (p *pacedPort) Write(b []byte) (int, error) {
	// Wait first, then hand the bytes over: the far end sees the frame complete
	// when its last byte would have arrived on a real line.
	time.Sleep(wireTime(len(b), p.baud))
	return p.Port.Write(b)
}

// Close closes the underlying port if it can be closed.
func (p *pacedPort) Close() error {
	if c, ok := p.Port.(io.Closer); ok {
		return c.Close()
	}
	return nil
}
