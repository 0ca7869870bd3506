// Package wait is the one way apedge's tests wait for something to happen: they poll a
// condition against a deadline, never sleep for a guessed time.
package wait

import (
	"testing"
	"time"
)

// For polls cond until it holds, failing the test once timeout has passed. what names
// what the test waits for, and cond returns, with whether it holds, what it saw (or
// ""): the failure message gives both. Polls start a millisecond apart and back off to
// 50 ms.
func For(t testing.TB, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	delay := time.Millisecond
	for {
		ok, seen := cond()
		if ok {
			return
		}
		next := time.NewTimer(delay)
		select {
		case <-deadline.C:
			next.Stop()
			if seen == "" {
				t.Fatalf("timed out after %v waiting for %s", timeout, what)
			}
			t.Fatalf("timed out after %v waiting for %s (last seen: %s)", timeout, what, seen)
		case <-next.C:
		}
		delay = min(2*delay, 50*time.Millisecond)
	}
}

// Until is For for a condition with nothing to say about what it saw.
func Until(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	For(t, timeout, what, func() (bool, string) { return cond(), "" })
}
