package clocktest_test

import (
	"testing"
	"time"

	"github.com/apedge/apedge/agent/clocktest"
)

func TestClock(t *testing.T) {
	t0 := time.Date(2026, 11, 22, 22, 0, 0, 0, time.UTC)
	c := clocktest.New(t0)
	soon, later, now := c.Until(t0.Add(time.Minute)), c.Until(t0.Add(time.Hour)), c.Until(t0)
	select {
	case <-now:
	default:
		t.Fatal("Until(now) did not fire at once")
	}
	c.Set(t0.Add(30 * time.Second))
	select {
	case <-soon:
		t.Fatal("fired early")
	default:
	}
	c.Set(t0.Add(2 * time.Minute))
	if got := <-soon; !got.Equal(t0.Add(2 * time.Minute)) {
		t.Errorf("fired with %v", got)
	}
	c.Set(t0) // never back
	if !c.Now().Equal(t0.Add(2 * time.Minute)) {
		t.Errorf("Now = %v after setting it back", c.Now())
	}
	select {
	case <-later:
		t.Fatal("an hour's wait fired after two minutes")
	default:
	}
}
