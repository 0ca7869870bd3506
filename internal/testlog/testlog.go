// Package testlog gives tests a log/slog logger that writes to the test's output.
package testlog

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
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

// Counting passes records on to Handler and counts in N those at Level or above whose
// message starts with Prefix: how a test checks that a flood of something is logged
// once, not once per message.
type Counting struct {
	slog.Handler
	Prefix string
	Level  slog.Level
	N      *atomic.Int64
}

// Handle counts r if it matches, then passes it on.
func (c Counting) Handle(ctx context.Context, r slog.Record) error {
	if r.Level >= c.Level && strings.HasPrefix(r.Message, c.Prefix) {
		c.N.Add(1)
	}
	return c.Handler.Handle(ctx, r)
}

// WithAttrs keeps counting on the derived handler.
func (c Counting) WithAttrs(as []slog.Attr) slog.Handler {
	c.Handler = c.Handler.WithAttrs(as)
	return c
}

// WithGroup keeps counting on the derived handler.
func (c Counting) WithGroup(g string) slog.Handler {
	c.Handler = c.Handler.WithGroup(g)
	return c
}

// Count returns log with a Counting handler around its own, for records at level or
// above starting with prefix, and the counter.
func Count(log *slog.Logger, level slog.Level, prefix string) (*slog.Logger, *atomic.Int64) {
	n := new(atomic.Int64)
	return slog.New(Counting{Handler: log.Handler(), Prefix: prefix, Level: level, N: n}), n
}
