package bridge

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"
)

// countingHandler counts the records logged, by message and cause.
type countingHandler struct {
	mu sync.Mutex
	n  map[string]int
}

func (h *countingHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *countingHandler) Handle(_ context.Context, r slog.Record) error {
	key := r.Message
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "cause" {
			key += "/" + a.Value.String()
		}
		return true
	})
	h.mu.Lock()
	h.n[key]++
	h.mu.Unlock()
	return nil
}
func (h *countingHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *countingHandler) WithGroup(string) slog.Handler      { return h }

// TestRefusalsLoggedOncePerCausePerMinute: a flood of refusals is one log line per
// cause a minute.
func TestRefusalsLoggedOncePerCausePerMinute(t *testing.T) {
	h := &countingHandler{n: map[string]int{}}
	log := slog.New(h)
	var r refusals
	t0 := time.Date(2026, 6, 10, 11, 0, 0, 0, time.UTC)
	for i := range 1000 {
		at := t0.Add(time.Duration(i) * 100 * time.Millisecond) // 100s in all
		r.note(log, at, "command", causeUnsigned)
		r.note(log, at, "command", causeBadSignature)
		r.note(log, at, "credential list", causeUnsigned)
	}
	want := map[string]int{"command refused/unsigned": 2, "command refused/bad-signature": 2, "credential list refused/unsigned": 2}
	for k, n := range want {
		if h.n[k] != n {
			t.Errorf("%s logged %d times, want %d (at 0s and 60s): %v", k, h.n[k], n, h.n)
		}
	}
}

// TestLedgerBounded: a command id is taken once; ids past their deadlines make room
// for new ones, and no more than maxRemembered are held within their deadlines.
func TestLedgerBounded(t *testing.T) {
	var l ledger
	now := time.Date(2026, 6, 10, 11, 0, 0, 0, time.UTC)
	if why, err := l.first("a", now.Add(time.Second), now); why != "" {
		t.Fatalf("first a refused: %s: %v", why, err)
	}
	if why, _ := l.first("a", now.Add(time.Second), now); why != causeReplayed {
		t.Fatalf("a again: %q, want refused as replayed", why)
	}
	for i := range maxRemembered - 1 {
		if why, err := l.first(string(rune('b'+i%20))+time.Duration(i).String(), now.Add(time.Minute), now); why != "" {
			t.Fatalf("command %d refused: %s: %v", i, why, err)
		}
	}
	if why, _ := l.first("full", now.Add(time.Minute), now); why != causeTooMany {
		t.Fatalf("one more than maxRemembered: %q, want too many", why)
	}
	later := now.Add(2 * time.Second) // a's deadline has passed: room for one
	if why, err := l.first("next", later.Add(time.Minute), later); why != "" {
		t.Fatalf("after a deadline passed: refused, %s: %v", why, err)
	}
	if len(l.seen) > maxRemembered {
		t.Errorf("ledger holds %d ids, at most %d", len(l.seen), maxRemembered)
	}
}
