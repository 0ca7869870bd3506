package agent_test

import (
	"testing"
	"time"

	"github.com/apedge/apedge/formats/sitebus"
	"github.com/apedge/apedge/internal/clock/clocktest"
)

// BenchmarkMovements measures movement processing from the site bus to the journal:
// card reads published as the bridge does, for residents going in and out, until the
// agent has journaled every movement (signed and durable) and run the curfew engine on
// it.
func BenchmarkMovements(b *testing.B) {
	s := newSite(b)
	s.startCentral()
	s.clock = clocktest.New(noon) // the publisher dates the reads by it too
	a, _, _ := s.startAgent()
	subscribed(b, a)
	pub := sitebus.NewPublisher(s.bus, site, "boot-bench", s.clock)
	n := max(b.N, 2000)
	cards := []string{"10001", "10002"}
	b.ResetTimer()
	start := time.Now()
	for i := range n {
		dir, reader := "entry", "front-in"
		if (i/len(cards))%2 == 1 {
			dir, reader = "exit", "front-out" // a reader's direction is its configured one
		}
		if _, err := pub.Publish(b.Context(), sitebus.ClassReader, reader, sitebus.KindEvent, "card-read", cardRead("front", dir, cards[i%len(cards)])); err != nil {
			b.Fatal(err)
		}
	}
	tick := time.NewTicker(time.Millisecond)
	for a.Stats().Journaled < uint64(n)+1 {
		<-tick.C // polled: the benchmark's own timeout bounds it
	}
	tick.Stop()
	el := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(n)/el.Seconds(), "movements/s")
}
