package main

import (
	"bytes"
	"io"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/apedge/apedge/cmd/apedge/internal/cli"
)

// progress shows how far long work has got on a terminal (the same progress bar as
// apedge ctl export). Its zero value, and a nil *progress, show nothing, so that
// callers need not ask whether there is a terminal.
type progress struct {
	bar *progressbar.ProgressBar
}

// newProgress is a progress bar on stderr when stderr is a terminal (else one that
// shows nothing) for work of total units (-1: not known), described as description;
// bytes says the units are bytes, else they are unit (e.g. "events").
func newProgress(stderr io.Writer, total int64, description, unit string, bytes bool) *progress {
	if !cli.IsTerminal(stderr) {
		return &progress{}
	}
	opts := []progressbar.Option{
		progressbar.OptionSetWriter(stderr),
		progressbar.OptionSetDescription(description),
		progressbar.OptionThrottle(100 * time.Millisecond),
		progressbar.OptionSetPredictTime(total >= 0),
		progressbar.OptionClearOnFinish(), // at 100%; done clears a bar that is not
	}
	if bytes {
		opts = append(opts, progressbar.OptionShowBytes(true))
	} else {
		opts = append(opts, progressbar.OptionSetItsString(unit), progressbar.OptionShowCount(), progressbar.OptionShowIts())
	}
	return &progress{bar: progressbar.NewOptions64(total, opts...)}
}

// add counts n more units done (after done, nothing).
func (p *progress) add(n int64) {
	if p != nil && p.bar != nil && n > 0 {
		p.bar.Add64(n)
	}
}

// done stops the bar and erases it, for the command's own last line; again, it does
// nothing.
func (p *progress) done() {
	if p != nil && p.bar != nil {
		p.bar.Exit()
		p.bar.Clear()
		p.bar = nil
	}
}

// reader counts what is read from r as done.
func (p *progress) reader(r io.Reader) io.Reader {
	if p == nil || p.bar == nil {
		return r
	}
	return &countingReader{r: r, p: p}
}

// countingReader is a reader whose bytes count as progress.
type countingReader struct {
	r io.Reader
	p *progress
}

// Read reads from the underlying reader and counts the bytes.
func (c *countingReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.p.add(int64(n))
	return n, err
}

// lineWriter counts the lines written through it to w as done.
type lineWriter struct {
	w io.Writer
	p *progress
}

// Write writes b to the underlying writer and counts its newlines.
func (l *lineWriter) Write(b []byte) (int, error) {
	n, err := l.w.Write(b)
	l.p.add(int64(bytes.Count(b[:n], []byte{'\n'})))
	return n, err
}

// fileSize is the size of f, or -1 when it is not known (a pipe).
func fileSize(f *os.File) int64 {
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		return -1
	}
	return st.Size()
}
