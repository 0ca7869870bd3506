package agent_test

import (
	"sync"
	"time"
)

// manualClock is a clock that moves only when told to: tests set the hour of the
// night they need, and the agent's curfew decisions follow it, never the wall clock.
type manualClock struct {
	mu      sync.Mutex
	now     time.Time
	waiters []waiter
}

type waiter struct {
	at time.Time
	ch chan time.Time
}

func newManualClock(t time.Time) *manualClock { return &manualClock{now: t} }

// Now implements agent.Clock.
func (c *manualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// After implements agent.Clock.
func (c *manualClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	if d <= 0 {
		ch <- c.now
		return ch
	}
	c.waiters = append(c.waiters, waiter{c.now.Add(d), ch})
	return ch
}

// Set moves the clock to t (forward only) and wakes what waited for it.
func (c *manualClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t.Before(c.now) {
		return
	}
	c.now = t
	kept := c.waiters[:0]
	for _, w := range c.waiters {
		if !w.at.After(t) {
			w.ch <- t
		} else {
			kept = append(kept, w)
		}
	}
	c.waiters = kept
}

// noon is a quiet hour: no curfew window of the tests' roster is near.
var noon = time.Date(2026, 6, 15, 12, 0, 0, 0, time.UTC)
