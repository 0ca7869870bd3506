package agent_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apedge/apedge/agent"
	"github.com/apedge/apedge/internal/clock/clocktest"
)

// TestDiskLow: the agent journals agent.disk-low once when its journal's filesystem
// falls below disk.minFreeBytes (1 MiB in the tests' configuration), however long it stays there, and agent.disk-ok once
// when the space is back.
func TestDiskLow(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	s.startCentral()
	s.clock = clocktest.New(noon)
	var free, looks atomic.Uint64
	free.Store(10 << 30)
	a, err := agent.New(context.Background(), s.cfg, s.log, agent.WithClock(s.clock),
		agent.WithFreeSpace(func(string) (uint64, error) { looks.Add(1); return free.Load(), nil }))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	start(t, "agent", a.Run)
	subscribed(t, a)
	count := func(typ string) int {
		n := 0
		for _, got := range s.types(a) {
			if got == typ {
				n++
			}
		}
		return n
	}
	look := func() { // move the clock a minute and wait for the agent's next look
		t.Helper()
		n := looks.Load()
		s.clock.Add(time.Minute)
		s.waitFor("the agent's next look at its disk", func() (bool, string) { return looks.Load() > n, "" })
	}
	s.waitFor("the agent's first look at its disk", func() (bool, string) { return looks.Load() > 0, "" })
	free.Store(512 << 10) // below the site's 1 MiB
	for range 3 {         // three looks, a minute apart: one alarm
		look()
	}
	s.waitTypes(a, agent.DiskLowType)
	free.Store(10 << 20)
	look()
	s.waitTypes(a, agent.DiskOKType)
	if low, ok := count(agent.DiskLowType), count(agent.DiskOKType); low != 1 || ok != 1 {
		t.Errorf("%d agent.disk-low and %d agent.disk-ok, want one of each", low, ok)
	}
}
