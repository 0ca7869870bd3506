// Package clitest holds what the tests of apedge's commands (package main and ctl)
// share: a run's result, output checks and file helpers.
package clitest

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// LockedBuffer collects output that several goroutines may write at once, as they may
// to the files it stands in for.
type LockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p, as one write.
func (b *LockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// String returns what was written so far.
func (b *LockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// Result is what one run of a command did.
type Result struct {
	Args           []string
	Code           int
	Stdout, Stderr string
}

// String shows the run for a failure message.
func (r Result) String() string {
	return fmt.Sprintf("apedge %s: exit %d\n--- stdout:\n%s--- stderr:\n%s", strings.Join(r.Args, " "), r.Code, r.Stdout, r.Stderr)
}

// Lines splits output into its lines, without the final newline.
func Lines(s string) []string {
	s = strings.TrimSuffix(s, "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// WantOneLine checks that r failed with code and exactly one line on stderr that starts
// with prefix and contains every string in contains, and printed nothing on stdout.
func WantOneLine(t *testing.T, r Result, code int, prefix string, contains ...string) {
	t.Helper()
	ls := Lines(r.Stderr)
	switch {
	case r.Code != code:
		t.Errorf("exit %d, want %d\n%v", r.Code, code, r)
	case len(ls) != 1:
		t.Errorf("%d lines on stderr, want 1\n%v", len(ls), r)
	case !strings.HasPrefix(ls[0], prefix):
		t.Errorf("stderr %q does not start with %q", ls[0], prefix)
	case r.Stdout != "":
		t.Errorf("stdout %q, want nothing", r.Stdout)
	}
	for _, s := range contains {
		if !strings.Contains(r.Stderr, s) {
			t.Errorf("stderr %q does not mention %q", strings.TrimSpace(r.Stderr), s)
		}
	}
}

// WriteFile writes body to dir/name with mode perm and returns its path.
func WriteFile(t *testing.T, dir, name, body string, perm os.FileMode) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(body), perm); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, perm); err != nil { // WriteFile's mode is subject to the umask
		t.Fatal(err)
	}
	return p
}
