package agent_test

import (
	"fmt"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apedge/apedge/formats/sitebus"
	"github.com/apedge/apedge/internal/testlog"
	"github.com/apedge/apedge/internal/wait"
)

// TestBadMessagesLoggedOncePerTopic: a flood of malformed messages on one topic is
// every one counted and one warning a minute, by the agent's clock, not one per message.
func TestBadMessagesLoggedOncePerTopic(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	s.startCentral() // a clean stop waits for central's ack
	var warned *atomic.Int64
	s.log, warned = testlog.Count(s.log, slog.LevelWarn, "bad site bus message")
	a, _, _ := s.startAgent()
	subscribed(t, a)
	topic := sitebus.DeviceTopic(site, sitebus.ClassReader, "r1", sitebus.KindEvent)
	flood := func(n int) {
		for range n {
			s.publish(topic, false, []byte(`{"time":`))
		}
	}
	flood(50)
	wait.For(t, timeout, "50 bad messages counted", func() (bool, string) {
		return a.Stats().BadMessages == 50, fmt.Sprintf("%+v", a.Stats())
	})
	if n := warned.Load(); n != 1 {
		t.Errorf("%d warnings for 50 bad messages on one topic, want 1", n)
	}
	s.clock.Add(time.Minute)
	flood(5)
	wait.For(t, timeout, "55 bad messages counted", func() (bool, string) {
		return a.Stats().BadMessages == 55, fmt.Sprintf("%+v", a.Stats())
	})
	if n := warned.Load(); n != 2 {
		t.Errorf("%d warnings a minute on, want 2", n)
	}
}
