package clock

import (
	"fmt"
	"math"
	"sync"
	"time"
)

// Scaled returns a clock that reads start, and stands there until its Run is called;
// from then on it runs speed times as fast as base: a second of base after Run, it
// reads start plus speed seconds. Its Until waits on base for the moment of base that
// corresponds to the deadline. A demonstration runs a site's evening in minutes on it
// (the curfew roll at 23:00 coming round soon, every time of day read from it), made
// before the parts of the site that take it and run once they are all made; base is
// the system clock there and a test's clock in tests. It panics if speed is not
// positive and finite.
func Scaled(base Clock, start time.Time, speed float64) *ScaledClock {
	if !(speed > 0) || math.IsInf(speed, 1) {
		panic(fmt.Sprintf("clock: Scaled: speed %v is not positive and finite", speed))
	}
	return &ScaledClock{base: Or(base), start: start, speed: speed, running: make(chan struct{})}
}

// ScaledClock is Scaled's clock. It is safe for concurrent use.
type ScaledClock struct {
	base    Clock
	start   time.Time // the clock's reading at Run
	speed   float64
	once    sync.Once
	running chan struct{} // closed by Run, once origin is set
	origin  time.Time     // base's reading at Run
}

// Run starts the clock. Later calls do nothing.
func (s *ScaledClock) Run() {
	s.once.Do(func() {
		s.origin = s.base.Now()
		close(s.running)
	})
}

// Now implements Clock.
func (s *ScaledClock) Now() time.Time {
	select {
	case <-s.running:
		return s.at(s.base.Now())
	default:
		return s.start
	}
}

// at is the clock's reading when base reads b, once running.
func (s *ScaledClock) at(b time.Time) time.Time {
	return s.start.Add(time.Duration(float64(b.Sub(s.origin)) * s.speed))
}

// Until implements Clock: the channel receives the clock's reading once it is t or
// later.
func (s *ScaledClock) Until(t time.Time) <-chan time.Time {
	ch := make(chan time.Time, 1)
	if now := s.Now(); !t.After(now) {
		ch <- now
		return ch
	}
	go func() {
		<-s.running
		// The moment of base at which the clock reads t, rounded up; should the
		// rounding of at still fall short of t, the wait goes on a nanosecond of base
		// at a time.
		due := s.origin.Add(time.Duration(math.Ceil(float64(t.Sub(s.start)) / s.speed)))
		for {
			if now := s.at(<-s.base.Until(due)); !now.Before(t) {
				ch <- now
				return
			}
			due = due.Add(time.Nanosecond)
		}
	}()
	return ch
}
