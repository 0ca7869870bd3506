// Package serialport opens the serial lines device classes talk over (RS-485 to OSDP
// readers, RS-232 or USB serial to testers) with github.com/tarm/serial: 8N1, raw,
// and always with a read timeout, so that a driver's loop notices its context ending.
package serialport

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/tarm/serial"
)

// ReadTimeout bounds every Read on a port opened by Open.
const ReadTimeout = 100 * time.Millisecond

// Open opens the serial device at path at baud, 8N1, raw, with a read timeout of
// ReadTimeout: a Read that finds nothing returns 0, nil. (tarm/serial's Close does not
// return while a Read without a timeout is blocked.)
func Open(path string, baud int) (io.ReadWriteCloser, error) {
	p, err := serial.OpenPort(&serial.Config{Name: path, Baud: baud, ReadTimeout: ReadTimeout})
	if err != nil {
		return nil, fmt.Errorf("serialport: open %s at %d baud: %w", path, baud, err)
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
