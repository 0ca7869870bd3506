package doorio

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apedge/apedge/devices/wiegand"
	"github.com/apedge/apedge/internal/wait"
)

// waitDeadline bounds every wait on a condition: generous, for a loaded machine.
const waitDeadline = 15 * time.Second

// waitFor waits for cond for up to waitDeadline.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	wait.Until(t, waitDeadline, what, cond)
}

var prefixes atomic.Int64

// newSim makes a SimDoor with a name unique to the test, closed at cleanup.
func newSim(t *testing.T) (*SimDoor, Pins) {
	t.Helper()
	name := strings.NewReplacer("/", "-", " ", "_").Replace(t.Name())
	s, pins, err := NewSimDoor(fmt.Sprintf("%s-%d", name, prefixes.Add(1)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	return s, pins
}

// change is one debounced change an Input reported.
type change struct {
	active bool
	at     time.Time
	seen   time.Time // when the handler was called
}

// recorder runs an Input and records what it reports.
type recorder struct {
	mu      sync.Mutex
	changes []change
}

func (r *recorder) get() []change {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]change(nil), r.changes...)
}

func (r *recorder) states() []bool {
	var out []bool
	for _, c := range r.get() {
		out = append(out, c.active)
	}
	return out
}

// runInput runs in until the test ends, and checks that Run returns ctx's error.
func runInput(t *testing.T, in *Input) *recorder {
	t.Helper()
	r := &recorder{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- in.Run(ctx, func(active bool, at time.Time) {
			r.mu.Lock()
			r.changes = append(r.changes, change{active, at, time.Now()})
			r.mu.Unlock()
		})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if !errors.Is(err, context.Canceled) {
				t.Errorf("Input.Run returned %v, want context.Canceled", err)
			}
		case <-time.After(waitDeadline):
			t.Error("Input.Run did not return after cancel")
		}
	})
	waitFor(t, "the initial state", func() bool { return len(r.get()) > 0 })
	return r
}

// read is one Wiegand frame Run reported.
type read struct {
	card wiegand.Card
	err  error
}

type cardRecorder struct {
	mu    sync.Mutex
	reads []read
}

func (r *cardRecorder) get() []read {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]read(nil), r.reads...)
}

// runWiegand runs w until the test ends.
func runWiegand(t *testing.T, w *Wiegand) *cardRecorder {
	t.Helper()
	r := &cardRecorder{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- w.Run(ctx, func(c wiegand.Card, err error) {
			r.mu.Lock()
			r.reads = append(r.reads, read{c, err})
			r.mu.Unlock()
		})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if !errors.Is(err, context.Canceled) {
				t.Errorf("Wiegand.Run returned %v, want context.Canceled", err)
			}
		case <-time.After(waitDeadline):
			t.Error("Wiegand.Run did not return after cancel")
		}
	})
	return r
}
