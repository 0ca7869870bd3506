// Package clock is apedge's one source of the time of day. Every time that becomes part
// of an event (when a card was read, a door opened, a curfew window began, the agent
// started) is read from a Clock that the process was given, so that a test can run a
// night at an Approved Premises on a clock it moves, and so that no two parts of one
// process disagree about what time it is.
//
// Durations (a reply timeout, a poll interval, how long a query took) are measured on
// the monotonic clock with the time package's timers and time.Since; they are not times
// of day and do not come from here. Package clocktest is the twin tests move by hand.
package clock

import "time"

// Clock tells the time of day and wakes a waiter at a given time.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// Until returns a channel that receives once the clock reads t or later. A
	// deadline, not a duration: a wait computed from a Now read a moment before
	// cannot miss a clock that moved in between.
	Until(t time.Time) <-chan time.Time
}

// System returns the wall clock of the machine.
func System() Clock { return system{} }

type system struct{}

func (system) Now() time.Time                     { return time.Now() }
func (system) Until(t time.Time) <-chan time.Time { return time.After(time.Until(t)) }

// Or returns c, or the system clock if c is nil: the default of every option that
// takes a Clock.
func Or(c Clock) Clock {
	if c == nil {
		return System()
	}
	return c
}
