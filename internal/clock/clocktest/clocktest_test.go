package clocktest_test

import (
	"testing"
	"time"

	"github.com/apedge/apedge/internal/clock/clocktest"
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

func TestRunning(t *testing.T) {
	t0 := time.Date(2019, 1, 1, 0, 0, 0, 0, time.UTC)
	c := clocktest.Running(t0)
	if now := c.Now(); now.Before(t0) || now.After(t0.Add(time.Minute)) {
		t.Fatalf("Now = %v, want about %v", now, t0)
	}
	select {
	case got := <-c.Until(c.Now().Add(20 * time.Millisecond)):
		if got.Before(t0.Add(20 * time.Millisecond)) {
			t.Errorf("fired at %v", got)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a running clock's Until did not fire as real time passed")
	}
	later := c.Until(t0.Add(time.Hour))
	c.Add(time.Hour)
	select {
	case <-later:
	case <-time.After(10 * time.Second):
		t.Fatal("Until did not fire when the clock was moved past it")
	}
	if now := c.Now(); now.Before(t0.Add(time.Hour)) {
		t.Errorf("Now = %v after Add(1h)", now)
	}
}

// TestNights: the clock-change nights are the nights the clocks change, and the
// curfew's ends exist on every night.
func TestNights(t *testing.T) {
	for _, n := range clocktest.Nights() {
		eve, morning := n.At(0, 23, 0), n.At(1, 6, 0)
		hours := morning.Sub(eve).Hours()
		want := 7.0
		switch n.Name {
		case "2027-03-27-spring-forward":
			want = 6
		case "2027-10-30-fall-back":
			want = 8
		}
		if hours != want {
			t.Errorf("%s: 23:00 to 06:00 is %v hours, want %v", n.Name, hours, want)
		}
		if got := n.At(0, 23, 0).Format("2006-01-02 15:04"); got != n.Date(0)+" 23:00" {
			t.Errorf("%s: evening %s, want %s 23:00", n.Name, got, n.Date(0))
		}
	}
}
