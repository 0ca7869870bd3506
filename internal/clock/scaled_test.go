package clock_test

import (
	"testing"
	"time"

	"github.com/apedge/apedge/internal/clock"
	"github.com/apedge/apedge/internal/clock/clocktest"
)

var (
	base0 = time.Date(2031, 3, 4, 9, 0, 0, 0, time.UTC)     // the base clock's start, far from today
	start = time.Date(2026, 11, 22, 22, 55, 0, 0, time.UTC) // what the scaled clock reads then
)

// TestScaledNow: the scaled clock reads start until Run, then moves speed times as far
// as its base.
func TestScaledNow(t *testing.T) {
	tests := []struct {
		speed float64
		moved time.Duration // of the base
		want  time.Time
	}{
		{1, 0, start},
		{1, 90 * time.Second, start.Add(90 * time.Second)},
		{60, time.Second, start.Add(time.Minute)},
		{60, 5 * time.Second, start.Add(5 * time.Minute)},
		{30, 10 * time.Second, start.Add(5 * time.Minute)},
		{0.5, time.Minute, start.Add(30 * time.Second)},
	}
	for _, tt := range tests {
		base := clocktest.New(base0)
		c := clock.Scaled(base, start, tt.speed)
		base.Add(time.Hour) // standing until Run
		c.Run()
		base.Add(tt.moved)
		if got := c.Now(); !got.Equal(tt.want) {
			t.Errorf("speed %v after %v of base: Now %v, want %v", tt.speed, tt.moved, got, tt.want)
		}
	}
}

// TestScaledUntil: a wait ends when the scaled clock, run, reaches the deadline, not
// before, and at once for a deadline passed.
func TestScaledUntil(t *testing.T) {
	base := clocktest.New(base0)
	c := clock.Scaled(base, start, 60)
	at2300 := start.Add(5 * time.Minute) // 5s of base after Run
	ch := c.Until(at2300)
	base.Add(time.Minute) // standing: nothing ends before Run
	if got := c.Now(); !got.Equal(start) {
		t.Errorf("before Run the clock reads %v, want %v", got, start)
	}
	c.Run()
	c.Run()                   // again: nothing changes
	base.Add(4 * time.Second) // the scaled clock reads 22:59
	select {
	case got := <-ch:
		t.Fatalf("Until(23:00) ended at %v", got)
	default:
	}
	// The waiter above may not have started to wait on base yet; Add wakes it either
	// way, since it waits for a moment base has reached.
	base.Add(time.Second)
	select {
	case got := <-ch:
		if got.Before(at2300) {
			t.Errorf("Until(23:00) received %v, before 23:00", got)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("Until(23:00) did not end with the clock at %v", c.Now())
	}
	// A deadline already passed: at once, with the clock's reading.
	if got := <-c.Until(start); !got.Equal(c.Now()) {
		t.Errorf("Until(a passed time) received %v, want %v", got, c.Now())
	}
}

// TestScaledRunning runs a scaled clock on the system clock: a wait of a minute at
// speed 600 takes about a tenth of a second.
func TestScaledRunning(t *testing.T) {
	c := clock.Scaled(clock.System(), start, 600)
	c.Run()
	began := time.Now()
	got := <-c.Until(start.Add(time.Minute))
	took := time.Since(began)
	if got.Before(start.Add(time.Minute)) || c.Now().Before(start.Add(time.Minute)) {
		t.Errorf("Until(start+1m) received %v; the clock reads %v", got, c.Now())
	}
	if took < 90*time.Millisecond || took > 3*time.Second {
		t.Errorf("a minute at speed 600 took %v, want about 100ms", took)
	}
}

// TestScaledSpeed: a speed that is not positive and finite panics.
func TestScaledSpeed(t *testing.T) {
	for _, speed := range []float64{0, -1} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Scaled with speed %v did not panic", speed)
				}
			}()
			clock.Scaled(clock.System(), start, speed)
		}()
	}
}
