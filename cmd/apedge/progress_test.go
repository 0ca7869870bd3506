package main

import (
	"bytes"
	"io"
	"regexp"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/creack/pty"

	"github.com/apedge/apedge/cmd/apedge/internal/clitest"
)

// onTerminal runs f with a terminal as its stderr and returns what the terminal showed.
func onTerminal(t *testing.T, f func(stderr io.Writer)) string {
	t.Helper()
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Skipf("no pty: %v", err)
	}
	defer ptmx.Close()
	var seen clitest.LockedBuffer
	done := make(chan struct{})
	go func() { io.Copy(&seen, ptmx); close(done) }()
	f(tty)
	tty.Close()
	<-done
	return seen.String()
}

// TestVerifyProgress: apedge verify shows its progress through the file on a
// terminal, and erases it before the result; elsewhere it shows nothing.
func TestVerifyProgress(t *testing.T) {
	var stdout clitest.LockedBuffer
	var err error
	seen := onTerminal(t, func(stderr io.Writer) {
		err = cmdVerify(t.Context(), []string{"-pubkey", otherDemoPub, otherDemoExport}, &stdout, stderr)
	})
	if err != nil || !verifyOK.MatchString(stdout.String()) {
		t.Fatalf("verify on a terminal: %v\n%s", err, stdout.String())
	}
	// The small export is read at one go: a bar, if drawn, is erased.
	if seen != "" && !strings.HasSuffix(seen, "\r") {
		t.Errorf("the terminal showed %q, want nothing left of a progress bar", seen)
	}

	var out, errs bytes.Buffer
	if err := cmdVerify(t.Context(), []string{"-pubkey", otherDemoPub, otherDemoExport}, &out, &errs); err != nil || errs.Len() != 0 {
		t.Errorf("verify with stderr not a terminal: %v, stderr %q", err, errs.String())
	}
}

// TestReaderProgress: a file read a little at a time shows how far it has got, and
// the bar is erased at the end.
func TestReaderProgress(t *testing.T) {
	const size = 1000
	seen := onTerminal(t, func(stderr io.Writer) {
		p := newProgress(stderr, size, "verifying", "", true)
		n, err := io.Copy(io.Discard, p.reader(iotest.OneByteReader(strings.NewReader(strings.Repeat("x", size)))))
		if n != size || err != nil {
			t.Errorf("read %d, %v", n, err)
		}
		p.done()
	})
	if !regexp.MustCompile(`^\rverifying +\d+% \|`).MatchString(seen) || !strings.HasSuffix(seen, "\r") || strings.Contains(seen, "100%") {
		t.Errorf("the terminal showed %q, want the bar part way, erased at 100%%", seen)
	}
}

// TestLineProgress: what central export writes is counted in events on a terminal.
func TestLineProgress(t *testing.T) {
	var sink bytes.Buffer
	seen := onTerminal(t, func(stderr io.Writer) {
		p := newProgress(stderr, -1, "exporting", "events", false)
		w := &lineWriter{w: &sink, p: p}
		for i := range 3 {
			io.WriteString(w, strings.Repeat("x", i)+"\n")
		}
		p.done()
		p.done() // again: nothing
		p.add(5) // after done: nothing
	})
	if sink.String() != "\nx\nxx\n" {
		t.Errorf("wrote %q", sink.String())
	}
	if !regexp.MustCompile(`exporting \(\d/-, \d+ events/s\)`).MatchString(seen) || !strings.HasSuffix(seen, "\r") {
		t.Errorf("the terminal showed %q, want the events counted, then erased", seen)
	}
	var nothing bytes.Buffer
	p := newProgress(&nothing, 10, "exporting", "events", false)
	(&lineWriter{w: io.Discard, p: p}).Write([]byte("a\nb\n"))
	p.done()
	if nothing.Len() != 0 {
		t.Errorf("not a terminal, but it showed %q", nothing.String())
	}
}
