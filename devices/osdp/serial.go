package osdp

import (
	"io"
	"time"
)

// Port is the serial line (devices/serialport opens one). *serial.Port from
// github.com/tarm/serial satisfies it.
// Read must return within a bounded time (a read timeout), with n == 0 when nothing
// arrived; the panel relies on that to notice its context ending.
type Port interface {
	io.Reader
	io.Writer
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
