package record

import (
	"errors"
	"fmt"
	"io"
	"sync"
)

// Line is a simulator's end of a serial line: it writes records and raw lines one
// at a time, and refuses both until Attach gives it the port. Its zero value is
// ready to use; Prefix, if set, begins its errors ("pattester: simulator").
type Line struct {
	Prefix string

	mu sync.Mutex
	w  io.Writer
}

// Attach makes w the line's port.
func (l *Line) Attach(w io.Writer) {
	l.mu.Lock()
	l.w = w
	l.mu.Unlock()
}

// Send encodes rec and writes it.
func (l *Line) Send(rec Record) error {
	b, err := rec.Encode()
	if err != nil {
		return fmt.Errorf("%s: %w", l.Prefix, err)
	}
	return l.Write(b)
}

// Write writes b as it is: a line, or garbage.
func (l *Line) Write(b []byte) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.w == nil {
		return errors.New(l.Prefix + ": not running")
	}
	if _, err := l.w.Write(b); err != nil {
		return fmt.Errorf("%s: %w", l.Prefix, err)
	}
	return nil
}
