package ctl

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// lockedBuffer collects output that several goroutines may write at once, as they may
// to the files it stands in for.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// result is what one run of the command did.
type result struct {
	args           []string
	code           int
	stdout, stderr string
}

func (r result) String() string {
	return fmt.Sprintf("apedge %s: exit %d\n--- stdout:\n%s--- stderr:\n%s", strings.Join(r.args, " "), r.code, r.stdout, r.stderr)
}

// lines splits output into its lines, without the final newline.
func lines(s string) []string {
	s = strings.TrimSuffix(s, "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// wantOneLine checks that r failed with code and exactly one line on stderr that starts
// with prefix and contains every string in contains, and printed nothing on stdout.
func wantOneLine(t *testing.T, r result, code int, prefix string, contains ...string) {
	t.Helper()
	ls := lines(r.stderr)
	switch {
	case r.code != code:
		t.Errorf("exit %d, want %d\n%v", r.code, code, r)
	case len(ls) != 1:
		t.Errorf("%d lines on stderr, want 1\n%v", len(ls), r)
	case !strings.HasPrefix(ls[0], prefix):
		t.Errorf("stderr %q does not start with %q", ls[0], prefix)
	case r.stdout != "":
		t.Errorf("stdout %q, want nothing", r.stdout)
	}
	for _, s := range contains {
		if !strings.Contains(r.stderr, s) {
			t.Errorf("stderr %q does not mention %q", strings.TrimSpace(r.stderr), s)
		}
	}
}

// writeFile writes body to dir/name with mode perm and returns its path.
func writeFile(t *testing.T, dir, name, body string, perm os.FileMode) string {
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
