package hiltests

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/apedge/apedge/formats/uplink"
)

// Each benchmark here runs its whole measurement once, whatever b.N: they time real
// processes over a real broker, and report their figures with b.ReportMetric.

func percentile(d []time.Duration, p float64) float64 {
	s := slices.Clone(d)
	slices.Sort(s)
	i := int(p * float64(len(s)-1))
	return float64(s[i]) / float64(time.Millisecond)
}

// ackWatcher follows central's retained ack for a site.
type ackWatcher struct {
	seq  atomic.Uint64
	mu   sync.Mutex
	wake chan struct{}
}

func watchAck(b *testing.B, brk Broker, site string) *ackWatcher {
	w := &ackWatcher{wake: make(chan struct{}, 1)}
	c := connect(b, brk, "bench-ack-"+site, "monitor")
	tok := c.Subscribe(uplink.AckTopic(site), 1, func(_ mqtt.Client, m mqtt.Message) {
		if a, err := uplink.DecodeAck(m.Payload()); err == nil && a.Seq > w.seq.Load() {
			w.seq.Store(a.Seq)
			select {
			case w.wake <- struct{}{}:
			default:
			}
		}
	})
	tok.Wait()
	return w
}

// BenchmarkEndToEnd measures site bus → central stored and acknowledged at 200 events/s,
// and the raw Mosquitto QoS 1 publish→subscribe round trip at the same rate, same run.
func BenchmarkEndToEnd(b *testing.B) {
	const rate, count = 200, 2000
	m := startMosquitto(b, "BENCH1")
	s := newSite(b, "BENCH1", m, siteOptions{})
	startProc(b, s.Dir, "central", "central", "-config", s.CentralYAM)
	startProc(b, s.Dir, "agent", "agent", "-config", s.AgentYAML)
	d := newBusDriver(b, s.Code, m, "front-in")
	acks := watchAck(b, m, s.Code)
	waitFor(b, 60*time.Second, "warm-up", func() (bool, string) {
		d.read(context.Background(), "10001")
		n := acks.seq.Load()
		return n >= 2, fmt.Sprint(n)
	})
	waitFor(b, 30*time.Second, "quiet", func() (bool, string) {
		n := len(s.journalEntries(b))
		return acks.seq.Load() == uint64(n), ""
	})
	base := acks.seq.Load()

	sent := make([]time.Time, count)
	lat := make([]time.Duration, 0, count)
	var mu sync.Mutex
	doneAll := make(chan struct{})
	go func() { // record each event's latency when central's ack first covers it
		next := 0
		for {
			<-acks.wake
			a := acks.seq.Load()
			now := time.Now()
			mu.Lock()
			for next < count && base+uint64(next)+1 <= a && !sent[next].IsZero() {
				lat = append(lat, now.Sub(sent[next]))
				next++
			}
			mu.Unlock()
			if next == count {
				close(doneAll)
				return
			}
		}
	}()
	b.ResetTimer()
	tk := time.NewTicker(time.Second / rate)
	for i := 0; i < count; i++ {
		<-tk.C
		mu.Lock()
		sent[i] = time.Now()
		mu.Unlock()
		if !d.read(context.Background(), "10001") {
			b.Fatal("broker refused a read")
		}
	}
	tk.Stop()
	select {
	case <-doneAll:
	case <-time.After(60 * time.Second):
		b.Fatalf("only %d of %d events acknowledged", len(lat), count)
	}
	b.StopTimer()
	b.ReportMetric(percentile(lat, 0.50), "p50-ms")
	b.ReportMetric(percentile(lat, 0.99), "p99-ms")

	// The raw broker round trip, same broker, same rate.
	sub := connect(b, m, "bench-rtt-sub", "monitor")
	pub := connect(b, m, "bench-rtt-pub", "bridge")
	rttTopic := "apedge/v1/" + s.Code + "/dev/reader/rtt/event"
	got := make(chan time.Time, count)
	sub.Subscribe(rttTopic, 1, func(mqtt.Client, mqtt.Message) { got <- time.Now() }).Wait()
	rtt := make([]time.Duration, 0, count)
	tk = time.NewTicker(time.Second / rate)
	for i := 0; i < count; i++ {
		<-tk.C
		t0 := time.Now()
		pub.Publish(rttTopic, 1, false, []byte("x"))
		select {
		case t1 := <-got:
			rtt = append(rtt, t1.Sub(t0))
		case <-time.After(10 * time.Second):
			b.Fatal("round trip lost")
		}
	}
	tk.Stop()
	b.ReportMetric(percentile(rtt, 0.50), "broker-p50-ms")
	b.ReportMetric(percentile(rtt, 0.99), "broker-p99-ms")
}

// BenchmarkBacklogDrain journals 20,000 events while central is down, then starts central
// and times until its ack covers them all. It also reports the agent's peak RSS.
func BenchmarkBacklogDrain(b *testing.B) {
	const n = 20000
	m := startMosquitto(b, "BENCH2")
	s := newSite(b, "BENCH2", m, siteOptions{})
	agent := startProc(b, s.Dir, "agent", "agent", "-config", s.AgentYAML)
	d := newBusDriver(b, s.Code, m, "front-in")
	waitFor(b, 60*time.Second, "warm-up", func() (bool, string) {
		d.read(context.Background(), "10001")
		return len(s.journalEntries(b)) >= 2, ""
	})
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < n/8; i++ {
				d.read(context.Background(), "10001")
			}
		}()
	}
	wg.Wait()
	var last uint64
	waitFor(b, 120*time.Second, "the backlog to be journaled", func() (bool, string) {
		last = uint64(len(s.journalEntries(b)))
		return last >= n, fmt.Sprint(last)
	})
	acks := watchAck(b, m, s.Code)
	// The drain is timed from central announcing itself online (its retained status),
	// so the figure is the drain, not the central process's start-up; the rate including
	// start-up is reported beside it.
	online := make(chan time.Time, 1)
	watcher := connect(b, m, "bench-status", "monitor")
	watcher.Subscribe(uplink.StatusTopic, 1, func(_ mqtt.Client, msg mqtt.Message) {
		if st, err := uplink.DecodeStatus(msg.Payload()); err == nil && st.Status == "online" {
			select {
			case online <- time.Now():
			default:
			}
		}
	}).Wait()
	b.ResetTimer()
	start := time.Now()
	startProc(b, s.Dir, "central", "central", "-config", s.CentralYAM)
	deadline := time.After(300 * time.Second)
	for acks.seq.Load() < last {
		select {
		case <-acks.wake:
		case <-deadline:
			b.Fatalf("drained %d of %d", acks.seq.Load(), last)
		}
	}
	end := time.Now()
	b.StopTimer()
	var up time.Time
	select {
	case up = <-online:
	default:
		b.Fatal("central never said it was online")
	}
	b.ReportMetric(float64(last)/end.Sub(up).Seconds(), "events/s")
	b.ReportMetric(float64(last)/end.Sub(start).Seconds(), "with-startup-events/s")
	b.ReportMetric(float64(up.Sub(start).Milliseconds()), "central-startup-ms")
	if rss, err := peakRSS(agent.cmd.Process.Pid); err == nil {
		b.ReportMetric(rss, "agent-peak-rss-MB")
	} else {
		b.Error(err)
	}
}

// BenchmarkAgentRSS runs the agent at 200 events/s for 10 s with central up and reports
// its peak resident set size.
func BenchmarkAgentRSS(b *testing.B) {
	m := startMosquitto(b, "BENCH3")
	s := newSite(b, "BENCH3", m, siteOptions{})
	startProc(b, s.Dir, "central", "central", "-config", s.CentralYAM)
	agent := startProc(b, s.Dir, "agent", "agent", "-config", s.AgentYAML)
	d := newBusDriver(b, s.Code, m, "front-in")
	tk := time.NewTicker(5 * time.Millisecond)
	for i := 0; i < 2000; i++ {
		<-tk.C
		d.read(context.Background(), "10001")
	}
	tk.Stop()
	rss, err := peakRSS(agent.cmd.Process.Pid)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(rss, "rss-MB")
}

// peakRSS reads a process's peak resident set size (VmHWM) in MB.
func peakRSS(pid int) (float64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return kb / 1024, err
		}
	}
	return 0, fmt.Errorf("no VmHWM for pid %d", pid)
}
