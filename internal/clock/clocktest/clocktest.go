// Package clocktest is the twin of package clock for tests: a clock (clock.Clock) set
// to a time the test chooses, far from the day the test runs, so that a night at an AP
// is run in seconds and never slept through, and a test passes on any date.
//
// A clock from New stands still until the test moves it (Set, Add). A clock from
// Running starts at the chosen time and goes on with real time, for tests of parts
// that time themselves (a door relocking, a command's deadline across two processes)
// while still dating everything from the test's chosen day; Set and Add move it on too.
package clocktest

import (
	"sync"
	"time"

	"github.com/apedge/apedge/internal/clock"
)

var _ clock.Clock = (*Clock)(nil)

// Clock is a test's clock. It is safe for concurrent use.
type Clock struct {
	mu      sync.Mutex
	now     time.Time // the time at started (running) or now (standing)
	running bool
	started time.Time // monotonic reading when now was last set, if running
	waiters []waiter
}

type waiter struct {
	at time.Time
	ch chan time.Time
}

// New returns a clock standing at t.
func New(t time.Time) *Clock { return &Clock{now: t} }

// Running returns a clock that reads t now and goes on with real time.
func Running(t time.Time) *Clock {
	return &Clock{now: t, running: true, started: time.Now()}
}

// Now implements clock.Clock.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nowLocked()
}

func (c *Clock) nowLocked() time.Time {
	if !c.running {
		return c.now
	}
	return c.now.Add(time.Since(c.started))
}

// Until implements clock.Clock: the channel receives once the clock reads t or later,
// because it was Set there or, for a running clock, because that much real time passed.
func (c *Clock) Until(t time.Time) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	now := c.nowLocked()
	if !t.After(now) {
		ch <- now
		return ch
	}
	c.waiters = append(c.waiters, waiter{t, ch})
	if c.running {
		time.AfterFunc(t.Sub(now), c.wake)
	}
	return ch
}

// wake hands the time to every waiter due by now.
func (c *Clock) wake() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.wakeLocked(c.nowLocked())
}

func (c *Clock) wakeLocked(now time.Time) {
	kept := c.waiters[:0]
	for _, w := range c.waiters {
		if !w.at.After(now) {
			w.ch <- now
		} else {
			kept = append(kept, w)
		}
	}
	c.waiters = kept
}

// Set moves the clock forward to t (never back) and wakes what waited for it.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t.Before(c.nowLocked()) {
		return
	}
	c.now = t
	if c.running {
		c.started = time.Now()
	}
	c.wakeLocked(t)
}

// Add moves the clock forward by d and returns the new time.
func (c *Clock) Add(d time.Duration) time.Time {
	c.mu.Lock()
	t := c.nowLocked().Add(d)
	c.mu.Unlock()
	c.Set(t)
	return t
}
