// Package testlog gives tests a log/slog logger that writes to the test's output.
package testlog

import (
	"log/slog"
	"sync"
	"testing"
)

// testWriter passes log output to the test until the test's cleanups have run, and
// drops whatever background goroutines write after that.
type testWriter struct {
	mu   sync.Mutex
	t    testing.TB
	done bool
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Output().Write(p)
	}
	return len(p), nil
}

// New returns a logger that writes warnings and errors to t's output until t's
// cleanups have run, and drops what background goroutines log after that.
func New(t testing.TB) *slog.Logger {
	w := &testWriter{t: t}
	t.Cleanup(func() {
		w.mu.Lock()
		w.done = true
		w.mu.Unlock()
	})
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelWarn}))
}
