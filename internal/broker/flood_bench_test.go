package broker

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/apedge/apedge/internal/wait"
)

// The flood the benchmarks below send, to the embedded broker and to Mosquitto alike.
// It is the attack that once took the embedded broker's process to 1.65 GB, three
// 100 MB publishes, and then a flood of small QoS 1 messages far past every
// per-client bound, for a persistent subscriber that is away and a live one that reads
// nothing.
const (
	floodBigClients   = 3         // phase A: clients each claiming a huge publish
	floodBigClaim     = 100 << 20 // the remaining length each claims
	floodPublishers   = 4         // phase B: publishers of small QoS 1 messages
	floodPerPublisher = 50_000
	floodPayload      = 200 // bytes per phase-B message
	floodTopic        = "apedge/v1/FLOOD/dev/reader/r1/event"
	floodFilter       = "apedge/v1/FLOOD/dev/+/+/event"
	floodTimeout      = 30 * time.Second // for any one step of the flood
	floodSampleEvery  = 5 * time.Millisecond
	floodMB           = 1 << 20
)

// floodTarget is a broker under the flood.
type floodTarget struct {
	addr string
	// mem reads the memory figure sampled, in MB.
	mem func() float64
	// live, if not nil, reads the live heap as of the last garbage collection, in MB.
	live func() float64
	// peak, if not nil, reads the highest mem so far, in MB, as the system kept it.
	peak func() float64
	// settled returns once the broker has dropped the flood's clients.
	settled func(testing.TB)
}

// floodResult is what one flood measured.
type floodResult struct {
	baseline, peak, after float64 // MB, as floodTarget.mem reads them
	stagePeak             [floodStages]float64
	livePeak              float64 // MB, as floodTarget.live reads it
	msgsPerSec            float64 // phase-B messages published and acknowledged, per second
	bigDropped            int     // phase-A clients disconnected before their body was all written
	bigWrittenMB          float64 // the most body any phase-A client got written before that
	redelivered           int     // messages the absent subscriber was sent when it came back
}

// BenchmarkFlood floods the embedded broker (DevPlaintext, the default Limits) in this
// test process and reports its memory, measured as runtime.MemStats HeapInuse +
// StackInuse: the heap spans the runtime holds (live objects and the garbage not yet
// collected, which is what the process pays for) and the goroutine stacks (a flood of
// connections grows those, not the heap). live-peak-MB is the live heap as the garbage
// collector last marked it. The flood's own clients are raw MQTT writers of pre-built
// packets and add little. The broker logs to a handler that counts the records and
// drops them: mochi logs a warning per message dropped, and the test log would hold
// them all in memory.
//
// The limit, growth-MB <= 128. The 100 MB publishes are refused at their fixed header
// (MaxPacketSize), before their body is read: a read buffer each. The small messages
// are bounded per subscriber by MaxInflight, 8192 QoS 1 messages (MaxQueued is larger,
// so MaxInflight binds first), and what the broker holds for them at most is
//
//	inflight stores, 2 subscribers x 8192 x 896 B (packets.Packet, 800 B)    15 MB
//	the live subscriber's write queue, 8192 more copies x ~1 KB               8 MB
//	the packets' bodies the copies point into, 8192 x 240 B                   2 MB
//	mochi's copy of each full inflight store, each second (expiry scan)      13 MB
//	a write queue of MaxQueued pointers per connection, 9 x 512 KB            5 MB
//
// about 45 MB live (live-peak-MB measures 42 to 61: the collector counts what is
// allocated while it marks as live). GOGC=100 lets the heap reach twice the live heap
// before it collects, 90 MB, and allocation during the concurrent mark goes past that:
// 75 to 115 MB measured here over a dozen runs, and the same at twice the messages.
// Unbounded, the flood would hold 300 MB for the huge publishes and some 200,000 x 3
// copies of the small ones, over 1 GB: the original attack's 1.65 GB.
func BenchmarkFlood(b *testing.B) {
	var logged atomic.Int64
	br, err := New(b.Context(), Options{Addr: "127.0.0.1:0", DevPlaintext: true,
		Log: slog.New(countingHandler{&logged})})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { br.Close() })
	res := runFlood(b, floodTarget{
		addr: br.Addr(),
		mem: func() float64 {
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			return float64(m.HeapInuse+m.StackInuse) / floodMB
		},
		live: func() float64 {
			s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
			metrics.Read(s)
			return float64(s[0].Value.Uint64()) / floodMB
		},
		settled: func(t testing.TB) {
			wait.For(t, floodTimeout, "the broker to drop the flood's clients", func() (bool, string) {
				n := atomic.LoadInt64(&br.srv.Info.ClientsConnected)
				return n == 0, fmt.Sprintf("%d clients connected", n)
			})
		},
	})
	wait.For(b, floodTimeout, "the huge publishes counted as oversized", func() (bool, string) {
		s := br.Stats()
		return s.Oversized >= floodBigClients, fmt.Sprintf("stats %+v", s)
	})
	st := br.Stats()
	if res.bigDropped != floodBigClients {
		b.Errorf("%d of %d huge publishes were refused", res.bigDropped, floodBigClients)
	}
	// mochi checks the inflight store's size and then adds to it, not atomically: each
	// publisher but one may overshoot MaxInflight by one.
	if bound := DefaultMaxInflight + floodPublishers - 1; res.redelivered == 0 || res.redelivered > bound {
		b.Errorf("the absent subscriber was sent %d queued messages on its return, want 1 to %d (MaxInflight, and one per other publisher racing it)", res.redelivered, bound)
	}
	if st.Dropped == 0 {
		b.Errorf("stats %+v: no messages dropped, but %d were sent to subscribers bounded at %d", st, floodPublishers*floodPerPublisher, DefaultMaxInflight)
	}
	b.ReportMetric(res.baseline, "baseline-MB")
	b.ReportMetric(res.peak, "peak-MB")
	b.ReportMetric(res.peak-res.baseline, "growth-MB")
	b.ReportMetric(res.stagePeak[floodStageBig], "phaseA-peak-MB")
	b.ReportMetric(res.stagePeak[floodStageEarly], "phaseB1-peak-MB")
	b.ReportMetric(res.stagePeak[floodStageLate], "phaseB2-peak-MB")
	b.ReportMetric(res.livePeak, "live-peak-MB")
	b.ReportMetric(res.after, "after-MB")
	b.ReportMetric(res.msgsPerSec, "msgs/s")
	b.ReportMetric(res.bigWrittenMB, "big-body-written-MB")
	b.ReportMetric(float64(res.redelivered), "redelivered")
	b.ReportMetric(float64(st.Oversized), "oversized")
	b.ReportMetric(float64(st.Dropped), "dropped")
	b.ReportMetric(float64(logged.Load()), "log-records")
}

// BenchmarkFloodMosquitto sends the same flood to Mosquitto, run as a child process
// with the bounds, persistence and TCP setting of configs/mosquitto.conf on a plaintext
// loopback listener, and reports its resident set size from /proc: VmRSS sampled, and
// for peak-rss-MB the higher of those and VmHWM at the end of the flood.
// peak-rss-with-redelivery-MB is VmHWM again once the absent subscriber has come back
// and taken its queue.
//
// The limit, peak-rss-MB <= 96. The huge publishes are refused at their fixed header
// (max_packet_size, 256 KiB). Of the small messages Mosquitto queues up to
// max_queued_messages, 100,000, for each subscriber (max_queued_bytes, 64 MB of
// payload, is not reached at 200 bytes a message), and stores one copy of a message
// however many queue it: payload, topic, stored message and a queue entry per
// subscriber, about 630 bytes a message measured here, 63 MB for 100,000, on 8 MB at
// rest (71 MB measured, the same at twice the messages). 96 MB leaves a third for the
// allocator; unbounded, Mosquitto would hold all 200,000.
func BenchmarkFloodMosquitto(b *testing.B) {
	path, err := exec.LookPath("mosquitto")
	if err != nil {
		path = "/usr/sbin/mosquitto"
		if _, err := os.Stat(path); err != nil {
			b.Skip("mosquitto not found in PATH or at /usr/sbin/mosquitto: run scripts/test-deps.sh (make test installs it)")
		}
	}
	conf, err := mosquittoLimits(filepath.Join("..", "..", "configs", "mosquitto.conf"))
	if err != nil {
		b.Fatal(err)
	}
	m := startFloodMosquitto(b, path, conf)
	res := runFlood(b, floodTarget{
		addr: m.addr,
		mem: func() float64 {
			v, err := procStatusMB(m.pid, "VmRSS:")
			if err != nil {
				return 0
			}
			return v
		},
		peak: func() float64 {
			v, err := procStatusMB(m.pid, "VmHWM:")
			if err != nil {
				b.Fatal(err)
			}
			return v
		},
		settled: func(t testing.TB) {
			// Mosquitto handles its sockets in one loop: once a new client has been
			// answered, the closes before it have been handled too.
			c, err := dialMQTT(m.addr, "flood-probe", true)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if _, err := c.Write([]byte{0xc0, 0}); err != nil { // PINGREQ
				t.Fatalf("broker: ping: %v", err)
			}
			if typ, _, err := c.readPacket(); err != nil || typ != 0xd0 {
				t.Fatalf("broker: ping: packet %#x, %v; want PINGRESP", typ, err)
			}
		},
	})
	hwm, err := procStatusMB(m.pid, "VmHWM:")
	if err != nil {
		b.Fatal(err)
	}
	if res.bigDropped != floodBigClients {
		b.Errorf("%d of %d huge publishes were refused", res.bigDropped, floodBigClients)
	}
	maxQ, _ := strconv.Atoi(conf["max_queued_messages"])
	maxIn, _ := strconv.Atoi(conf["max_inflight_messages"])
	if res.redelivered == 0 || (maxQ > 0 && res.redelivered > maxQ+maxIn) {
		b.Errorf("the absent subscriber was sent %d queued messages on its return, want 1 to %d (max_queued_messages, and max_inflight_messages it may count apart)", res.redelivered, maxQ+maxIn)
	}
	b.ReportMetric(res.baseline, "baseline-rss-MB")
	b.ReportMetric(res.peak, "peak-rss-MB")
	b.ReportMetric(res.peak-res.baseline, "growth-MB")
	b.ReportMetric(res.stagePeak[floodStageBig], "phaseA-peak-rss-MB")
	b.ReportMetric(res.stagePeak[floodStageEarly], "phaseB1-peak-rss-MB")
	b.ReportMetric(res.stagePeak[floodStageLate], "phaseB2-peak-rss-MB")
	b.ReportMetric(res.after, "after-rss-MB")
	b.ReportMetric(hwm, "peak-rss-with-redelivery-MB")
	b.ReportMetric(res.msgsPerSec, "msgs/s")
	b.ReportMetric(res.bigWrittenMB, "big-body-written-MB")
	b.ReportMetric(float64(res.redelivered), "redelivered")
	b.ReportMetric(float64(res.bigDropped), "oversized")
}

// runFlood measures t's memory at rest with an absent persistent subscriber, floods
// it, and measures it again once the flood's clients are gone; then it brings the
// subscriber back and counts what it is sent.
func runFlood(b *testing.B, t floodTarget) floodResult {
	b.Helper()
	var res floodResult
	// The persistent subscriber: subscribed, then away, so the broker queues for it.
	agent, err := dialMQTT(t.addr, "agent", false)
	if err != nil {
		b.Fatal(err)
	}
	if err := agent.subscribe(floodFilter); err != nil {
		b.Fatal(err)
	}
	if err := agent.disconnect(); err != nil {
		b.Fatal(err)
	}
	runtime.GC()
	runtime.GC()
	res.baseline = t.mem()

	b.ResetTimer()
	smp := startFloodSampler(t.mem, t.live)
	res.bigDropped, res.bigWrittenMB = floodBig(b, t.addr)
	slow, err := dialMQTT(t.addr, "flood-slow", true) // subscribes, then reads nothing
	if err != nil {
		b.Fatal(err)
	}
	if err := slow.subscribe(floodFilter); err != nil {
		b.Fatal(err)
	}
	smp.enter(floodStageEarly)
	res.msgsPerSec = floodSmall(b, t.addr, func() { smp.enter(floodStageLate) })
	slow.Close()
	t.settled(b)
	p := smp.finish()
	res.stagePeak, res.livePeak = p.mem, p.live
	res.peak = max(p.mem[floodStageBig], p.mem[floodStageEarly], p.mem[floodStageLate])
	if t.peak != nil {
		res.peak = max(res.peak, t.peak())
	}
	b.StopTimer()
	runtime.GC()
	runtime.GC()
	res.after = t.mem()

	back, err := dialMQTT(t.addr, "agent", false)
	if err != nil {
		b.Fatal(err)
	}
	defer back.Close()
	if res.redelivered, err = back.drain(time.Second); err != nil {
		b.Fatal(err)
	}
	return res
}

// floodBig is phase A: floodBigClients clients at once each send a PUBLISH header
// claiming floodBigClaim bytes and write its body until the broker drops them. It
// returns how many were dropped before their body was all written, and the most body
// any got written, in MB.
func floodBig(b *testing.B, addr string) (dropped int, writtenMB float64) {
	b.Helper()
	type result struct {
		n   int64
		err error
	}
	results := make(chan result, floodBigClients)
	chunk := make([]byte, 64<<10)
	for i := range floodBigClients {
		c, err := dialMQTT(addr, fmt.Sprintf("flood-big-%d", i), true)
		if err != nil {
			b.Fatal(err)
		}
		go func() {
			defer c.Close()
			c.SetWriteDeadline(time.Now().Add(floodTimeout))
			hdr := appendMQTTLength([]byte{0x32}, floodBigClaim) // PUBLISH, QoS 1
			if _, err := c.Write(hdr); err != nil {
				results <- result{0, err}
				return
			}
			var n int64
			for n < floodBigClaim {
				w, err := c.Write(chunk[:min(len(chunk), floodBigClaim-int(n))])
				n += int64(w)
				if err != nil {
					results <- result{n, err}
					return
				}
			}
			results <- result{n, nil}
		}()
	}
	for range floodBigClients {
		r := <-results
		if r.err != nil && !errors.Is(r.err, os.ErrDeadlineExceeded) {
			dropped++
		}
		writtenMB = max(writtenMB, float64(r.n)/floodMB)
	}
	return dropped, writtenMB
}

// floodSmall is phase B: floodPublishers publishers each write floodPerPublisher
// QoS 1 messages as fast as the broker reads them, not waiting for acknowledgements
// (they are counted as they come), and calls half once half of all are acknowledged.
// It returns the messages acknowledged per second.
func floodSmall(b *testing.B, addr string, half func()) float64 {
	b.Helper()
	const batch = 250
	payload := strings.Repeat("x", floodPayload)
	one := publishPacket(floodTopic, 1, payload)
	idAt := len(one) - floodPayload - 2
	errs := make(chan error, floodPublishers)
	var acks atomic.Int64
	each := func() {
		if acks.Add(1) == floodPublishers*floodPerPublisher/2 {
			half()
		}
	}
	start := time.Now()
	for p := range floodPublishers {
		c, err := dialMQTT(addr, fmt.Sprintf("flood-pub-%d", p), true)
		if err != nil {
			b.Fatal(err)
		}
		acked := make(chan error, 1)
		go func() { acked <- c.countAcks(floodPerPublisher, each) }()
		go func() {
			defer c.Close()
			buf := make([]byte, 0, batch*len(one))
			for range batch {
				buf = append(buf, one...)
			}
			c.SetWriteDeadline(time.Now().Add(floodTimeout))
			for sent := 0; sent < floodPerPublisher; sent += batch {
				for i := range batch {
					binary.BigEndian.PutUint16(buf[i*len(one)+idAt:], uint16((sent+i)%65535+1))
				}
				if _, err := c.Write(buf); err != nil {
					errs <- fmt.Errorf("broker: publisher %d after %d messages: %w", p, sent, err)
					return
				}
			}
			errs <- <-acked
		}()
	}
	for range floodPublishers {
		if err := <-errs; err != nil {
			b.Fatal(err)
		}
	}
	return float64(floodPublishers*floodPerPublisher) / time.Since(start).Seconds()
}

// The stages of a flood, for its sampler.
const (
	floodStageBig   = iota // phase A, the huge publishes
	floodStageEarly        // phase B until half its messages are acknowledged
	floodStageLate         // the rest of phase B, until the broker has dropped its clients
	floodStages
)

// floodSampler reads a broker's memory every floodSampleEvery and keeps the highest
// reading in each stage of the flood.
type floodSampler struct {
	stage atomic.Int32
	stop  chan struct{}
	out   chan floodPeaks
}

// floodPeaks are a floodSampler's highest readings, in MB.
type floodPeaks struct {
	mem  [floodStages]float64
	live float64
}

// startFloodSampler samples mem, and live if it is not nil, until finish.
func startFloodSampler(mem, live func() float64) *floodSampler {
	s := &floodSampler{stop: make(chan struct{}), out: make(chan floodPeaks, 1)}
	go func() {
		tk := time.NewTicker(floodSampleEvery)
		defer tk.Stop()
		var p floodPeaks
		read := func() {
			st := s.stage.Load()
			p.mem[st] = max(p.mem[st], mem())
			if live != nil {
				p.live = max(p.live, live())
			}
		}
		for {
			read()
			select {
			case <-s.stop:
				read()
				s.out <- p
				return
			case <-tk.C:
			}
		}
	}()
	return s
}

// enter starts stage st.
func (s *floodSampler) enter(st int) { s.stage.Store(int32(st)) }

// finish stops sampling and returns the peaks.
func (s *floodSampler) finish() floodPeaks {
	close(s.stop)
	return <-s.out
}

// mqttConn is a bare MQTT 3.1.1 client connection: the flood's clients write pre-built
// packets, so that they add little to the memory measured in the broker's process.
type mqttConn struct {
	net.Conn
	r *bufio.Reader
}

// dialMQTT connects to addr as id, with a clean or a persistent session, and no keep
// alive (the broker never times a silent client out).
func dialMQTT(addr, id string, clean bool) (*mqttConn, error) {
	conn, err := net.DialTimeout("tcp", addr, floodTimeout)
	if err != nil {
		return nil, fmt.Errorf("broker: dial %s: %w", addr, err)
	}
	c := &mqttConn{Conn: conn, r: bufio.NewReader(conn)}
	flags := byte(0)
	if clean {
		flags = 0x02
	}
	body := appendMQTTString(nil, "MQTT")
	body = append(body, 4, flags, 0, 0) // level 4 (3.1.1), flags, keep alive 0
	body = appendMQTTString(body, id)
	if _, err := c.Write(append(appendMQTTLength([]byte{0x10}, len(body)), body...)); err != nil {
		conn.Close()
		return nil, fmt.Errorf("broker: connect %s: %w", id, err)
	}
	typ, ack, err := c.readPacket()
	if err != nil || typ != 0x20 || len(ack) != 2 || ack[1] != 0 {
		conn.Close()
		return nil, fmt.Errorf("broker: connect %s: packet %#x %x, %v; want CONNACK accepted", id, typ, ack, err)
	}
	return c, nil
}

// subscribe subscribes to filter at QoS 1.
func (c *mqttConn) subscribe(filter string) error {
	body := appendMQTTString([]byte{0, 1}, filter)
	body = append(body, 1)
	if _, err := c.Write(append(appendMQTTLength([]byte{0x82}, len(body)), body...)); err != nil {
		return fmt.Errorf("broker: subscribe %s: %w", filter, err)
	}
	typ, ack, err := c.readPacket()
	if err != nil || typ != 0x90 || len(ack) != 3 || ack[2] != 1 {
		return fmt.Errorf("broker: subscribe %s: packet %#x %x, %v; want SUBACK granting QoS 1", filter, typ, ack, err)
	}
	return nil
}

// disconnect sends DISCONNECT and waits for the broker to close the connection.
func (c *mqttConn) disconnect() error {
	defer c.Close()
	if _, err := c.Write([]byte{0xe0, 0}); err != nil {
		return fmt.Errorf("broker: disconnect: %w", err)
	}
	c.SetReadDeadline(time.Now().Add(floodTimeout))
	if _, err := io.Copy(io.Discard, c.r); err != nil {
		return fmt.Errorf("broker: disconnect: %w", err)
	}
	return nil
}

// countAcks reads n PUBACKs and nothing else, calling each after each one.
func (c *mqttConn) countAcks(n int, each func()) error {
	c.SetReadDeadline(time.Now().Add(floodTimeout))
	var ack [4]byte
	for i := range n {
		if _, err := io.ReadFull(c.r, ack[:]); err != nil {
			return fmt.Errorf("broker: %d of %d messages acknowledged: %w", i, n, err)
		}
		if ack[0] != 0x40 || ack[1] != 2 {
			return fmt.Errorf("broker: packet %x after %d acknowledgements, want PUBACK", ack, i)
		}
		each()
	}
	return nil
}

// drain acknowledges the QoS 1 messages it is sent until idle passes without one, and
// returns how many came.
func (c *mqttConn) drain(idle time.Duration) (int, error) {
	n := 0
	for {
		c.SetReadDeadline(time.Now().Add(idle))
		typ, body, err := c.readPacket()
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return n, nil
		}
		if err != nil {
			return n, fmt.Errorf("broker: after %d messages: %w", n, err)
		}
		if typ>>4 != 3 || len(body) < 2 {
			return n, fmt.Errorf("broker: packet %#x after %d messages, want PUBLISH", typ, n)
		}
		n++
		if typ&0x06 == 0 {
			continue // QoS 0: nothing to acknowledge
		}
		at := 2 + int(binary.BigEndian.Uint16(body))
		if len(body) < at+2 {
			return n, fmt.Errorf("broker: short PUBLISH after %d messages", n)
		}
		if _, err := c.Write([]byte{0x40, 2, body[at], body[at+1]}); err != nil {
			return n, fmt.Errorf("broker: acknowledge: %w", err)
		}
	}
}

// readPacket reads one packet: its first byte and what follows the remaining length.
func (c *mqttConn) readPacket() (byte, []byte, error) {
	typ, err := c.r.ReadByte()
	if err != nil {
		return 0, nil, err
	}
	n, mul := 0, 1
	for i := 0; ; i++ {
		d, err := c.r.ReadByte()
		if err != nil {
			return typ, nil, err
		}
		n += int(d&0x7f) * mul
		if d&0x80 == 0 {
			break
		}
		if mul *= 128; i == 3 {
			return typ, nil, errors.New("broker: malformed remaining length")
		}
	}
	body := make([]byte, n)
	_, err = io.ReadFull(c.r, body)
	return typ, body, err
}

// publishPacket builds a QoS 1 PUBLISH with packet ID id.
func publishPacket(topic string, id uint16, payload string) []byte {
	body := appendMQTTString(nil, topic)
	body = binary.BigEndian.AppendUint16(body, id)
	body = append(body, payload...)
	return append(appendMQTTLength([]byte{0x32}, len(body)), body...)
}

func appendMQTTString(b []byte, s string) []byte {
	return append(binary.BigEndian.AppendUint16(b, uint16(len(s))), s...)
}

// appendMQTTLength appends n as an MQTT remaining length.
func appendMQTTLength(b []byte, n int) []byte {
	for {
		d := byte(n % 128)
		if n /= 128; n > 0 {
			d |= 0x80
		}
		b = append(b, d)
		if n == 0 {
			return b
		}
	}
}

// countingHandler counts log records and drops them.
type countingHandler struct{ n *atomic.Int64 }

// Enabled takes what a site's logger at its default level (info) would write.
func (h countingHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelInfo }

func (h countingHandler) Handle(context.Context, slog.Record) error { h.n.Add(1); return nil }

func (h countingHandler) WithAttrs([]slog.Attr) slog.Handler { return h }

func (h countingHandler) WithGroup(string) slog.Handler { return h }

// mosquittoKeys are the settings of configs/mosquitto.conf the flood runs Mosquitto
// with: its bounds, its persistence and its TCP setting.
var mosquittoKeys = []string{"max_packet_size", "max_queued_messages", "max_queued_bytes",
	"max_inflight_messages", "persistence", "autosave_interval", "set_tcp_nodelay"}

// mosquittoLimits reads mosquittoKeys from the Mosquitto configuration at path.
func mosquittoLimits(path string) (map[string]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("broker: %w", err)
	}
	conf := map[string]string{}
	for line := range strings.Lines(string(data)) {
		k, v, _ := strings.Cut(strings.TrimSpace(line), " ")
		for _, want := range mosquittoKeys {
			if k == want {
				conf[k] = strings.TrimSpace(v)
			}
		}
	}
	for _, k := range mosquittoKeys {
		if conf[k] == "" {
			return nil, fmt.Errorf("broker: %s sets no %s", path, k)
		}
	}
	return conf, nil
}

// floodMosquitto is a Mosquitto child process.
type floodMosquitto struct {
	addr string
	pid  int
}

// startFloodMosquitto runs Mosquitto at path on a free loopback port, plaintext and
// anonymous, with the settings conf, until the end of the benchmark.
func startFloodMosquitto(b *testing.B, path string, conf map[string]string) *floodMosquitto {
	b.Helper()
	dir := b.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	var cfg strings.Builder
	fmt.Fprintf(&cfg, "per_listener_settings false\nallow_anonymous true\nlistener %d 127.0.0.1\n", port)
	if os.Geteuid() == 0 {
		cfg.WriteString("user root\n") // as root (CI), stay root to write the temp dir
	}
	for _, k := range mosquittoKeys {
		fmt.Fprintf(&cfg, "%s %s\n", k, conf[k])
	}
	fmt.Fprintf(&cfg, "persistence_location %s/\nlog_dest file %s\n", dir, filepath.Join(dir, "mosquitto.log"))
	confPath := filepath.Join(dir, "mosquitto.conf")
	if err := os.WriteFile(confPath, []byte(cfg.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(path, "-c", confPath)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		b.Fatalf("broker: start mosquitto: %v", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	b.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(floodTimeout):
			cmd.Process.Kill()
			<-exited
		}
	})
	m := &floodMosquitto{addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), pid: cmd.Process.Pid}
	wait.For(b, floodTimeout, "mosquitto to listen", func() (bool, string) {
		select {
		case <-exited:
			log, _ := os.ReadFile(filepath.Join(dir, "mosquitto.log"))
			b.Fatalf("broker: mosquitto exited at start: %s%s", stderr.String(), log)
		default:
		}
		c, err := net.Dial("tcp", m.addr)
		if err != nil {
			return false, err.Error()
		}
		c.Close()
		return true, ""
	})
	return m
}

// procStatusMB reads a field of /proc/pid/status given in kB (VmRSS:, VmHWM:) in MB.
func procStatusMB(pid int, field string) (float64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("broker: %w", err)
	}
	for line := range strings.Lines(string(data)) {
		if v, ok := strings.CutPrefix(line, field); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			if err != nil {
				return 0, fmt.Errorf("broker: %s %w", field, err)
			}
			return kb / 1024, nil
		}
	}
	return 0, fmt.Errorf("broker: no %s in /proc/%d/status", field, pid)
}
