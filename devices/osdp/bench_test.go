package osdp

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/apedge/apedge/devices/wiegand"
)

func benchBus(b *testing.B, baud, n int, poll time.Duration, hook func(Event)) (*bus, []*Reader) {
	var pds []PDConfig
	var readers []*Reader
	for i := range n {
		pds = append(pds, PDConfig{Address: i + 1})
		readers = append(readers, NewReader(ReaderConfig{Address: i + 1}))
	}
	bs := newBus(b, baud, pds, readers, hook, func(c *PanelConfig) { c.PollInterval = poll })
	for i := range n {
		bs.waitOnline(b, i+1)
	}
	return bs, readers
}

func totalPolls(rs []*Reader) uint64 {
	var n uint64
	for _, r := range rs {
		n += r.Stats().Polls
	}
	return n
}

// BenchmarkPollCycle measures a polling round over 8 plaintext readers on a paced
// pseudo-terminal, polling as fast as the line allows, against the wire-time limit of
// the bytes exchanged.
func BenchmarkPollCycle(b *testing.B) {
	for _, baud := range []int{9600, 115200} {
		b.Run(fmt.Sprintf("baud=%d", baud), func(b *testing.B) {
			const readers = 8
			_, rs := benchBus(b, baud, readers, -1, nil)
			poll, _ := (&Frame{Addr: 1, SQN: 1, CRC: true, Code: CmdPOLL}).Encode()
			ack, _ := (&Frame{Addr: 1, Reply: true, SQN: 1, CRC: true, Code: ReplyACK}).Encode()
			wireBytes := len(poll) + len(ack) + 2 // plus two mark bytes
			start := totalPolls(rs)
			b.ResetTimer()
			t0 := time.Now()
			want := start + uint64(b.N*readers)
			tick := time.NewTicker(200 * time.Microsecond)
			for totalPolls(rs) < want {
				<-tick.C // polled: the benchmark's own timeout bounds it
			}
			tick.Stop()
			el := time.Since(t0)
			b.StopTimer()
			perPoll := float64(el) / float64(b.N*readers) / float64(time.Millisecond)
			b.ReportMetric(perPoll*readers, "ms/cycle")
			b.ReportMetric(perPoll, "ms/reader")
			b.ReportMetric(float64(wireBytes*10)/float64(baud)*1000, "wire-ms/reader")
		})
	}
}

// BenchmarkCardToEvent measures the time from Swipe to the panel's event handler
// with 8 readers at 115200 baud (paced), at the default poll interval.
func BenchmarkCardToEvent(b *testing.B) {
	got := make(chan time.Time, 16)
	_, rs := benchBus(b, 115200, 8, 0, func(e Event) {
		if e.Kind == EventCard {
			got <- time.Now()
		}
	})
	card, _ := wiegand.Decode(wiegand.Encode26(1, 2), 26)
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		// Cards come at random moments at random readers, not in step with the polls.
		b.StopTimer()
		<-time.After(rand.N(60 * time.Millisecond)) // a random moment, not a wait for anything
		b.StartTimer()
		t0 := time.Now()
		rs[rand.IntN(len(rs))].Swipe(card)
		select {
		case t1 := <-got:
			lat = append(lat, t1.Sub(t0))
		case <-time.After(20 * time.Second):
			b.Fatal("no card event")
		}
	}
	b.StopTimer()
	slices.Sort(lat)
	pct := func(p float64) float64 {
		return float64(lat[int(p*float64(len(lat)-1))]) / float64(time.Microsecond)
	}
	b.ReportMetric(pct(0.50), "p50-µs")
	b.ReportMetric(pct(0.99), "p99-µs")
}
