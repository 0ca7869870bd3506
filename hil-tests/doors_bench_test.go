package hiltests

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/apedge/apedge/formats/sitebus"
)

// BenchmarkCardToBus measures card read to site bus: from a card presented at one of
// eight simulated readers on one line at 115200 baud (secure channel on every reader)
// to the bridge's card-read message arriving at a subscriber on a real Mosquitto.
// Cards come at random moments at random readers, so the figures include waiting for
// the reader's next poll (every 50 ms).
func BenchmarkCardToBus(b *testing.B) {
	const site, readers = "BENCH4", 8
	mq := startMosquitto(b, site)
	dir := b.TempDir()
	writeSiteKey(b, dir, site)
	if err := os.WriteFile(filepath.Join(dir, "k.scbk"), []byte("00112233445566778899aabbccddeeff"), 0o600); err != nil {
		b.Fatal(err)
	}
	sim := startSimPD(b, "-addr", "1,2,3,4,5,6,7,8", "-baud", "115200", "-scbk", filepath.Join(dir, "k.scbk"))
	var y strings.Builder
	fmt.Fprintf(&y, "site: %s\nstateDir: state\nbus: %s\nlog: {level: warn}\nosdp:\n  - port: %s\n    baud: 115200\n    readers:\n", site, link(mq, "bridge"), sim.TTY)
	for i := 1; i <= readers; i++ {
		fmt.Fprintf(&y, "      - {id: r%d, address: %d, scbkFile: k.scbk}\n", i, i)
	}
	y.WriteString("doors:\n")
	for d := range readers / 2 {
		fmt.Fprintf(&y, "  - {id: d%d, entryReader: r%d, exitReader: r%d}\n", d, 2*d+1, 2*d+2)
	}
	if err := os.WriteFile(filepath.Join(dir, "bridge.yaml"), []byte(y.String()), 0o600); err != nil {
		b.Fatal(err)
	}
	w := watch(b, mq, site)
	reads := make(chan string, 64)
	c := connect(b, mq, "bench-reads", "monitor")
	c.Subscribe(sitebus.DeviceFilter(site, sitebus.KindEvent), 1, func(_ mqtt.Client, m mqtt.Message) {
		msg, err := sitebus.Decode(m.Payload())
		if err != nil || msg.Kind != "card-read" {
			return
		}
		cr, err := sitebus.DecodeCardRead(msg.Data)
		if err == nil {
			reads <- cr.Credential.ID()
		}
	}).Wait()
	startProc(b, dir, "bridge", "bridge", "-config", filepath.Join(dir, "bridge.yaml"))
	waitFor(b, 60*time.Second, "readers online", func() (bool, string) {
		for i := 1; i <= readers; i++ {
			if !w.readerOnline(fmt.Sprintf("r%d", i)) {
				return false, fmt.Sprintf("r%d", i)
			}
		}
		return true, ""
	})
	n := max(b.N, 200)
	lat := make([]time.Duration, 0, n)
	b.ResetTimer()
	for i := range n {
		b.StopTimer()
		<-time.After(rand.N(60 * time.Millisecond)) // a random moment, not in step with the polls
		b.StartTimer()
		want := fmt.Sprintf("12:%d", i)
		t0 := time.Now()
		sim.Do("@%d swipe %s", 1+rand.IntN(readers), want)
		select {
		case got := <-reads:
			if got != want {
				b.Fatalf("read %s, want %s", got, want)
			}
			lat = append(lat, time.Since(t0))
		case <-time.After(20 * time.Second):
			b.Fatalf("card %s never reached the bus", want)
		}
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(percentile(lat, 0.50), "p50-ms")
	b.ReportMetric(percentile(lat, 0.99), "p99-ms")
	b.ReportMetric(50, "poll-interval-ms")
}

// BenchmarkBridgeRSS runs the bridge for a site of 16 doors, each with an entry and an
// exit OSDP reader (32 readers on 4 simulated lines at 115200 baud, secure channel on
// every one), with simulated people using the doors for 15 s, and reports its peak
// resident set size.
// benchBridgeYAML writes dir/bridge.yaml (and the site key, and the readers' key
// files) for a bench site of doors doors, each with a secure OSDP reader on each side
// (eight to a simulated line at 115200 baud) and simulated people using them, and a
// camera (over TCP) at each of cameras.
func benchBridgeYAML(b *testing.B, dir, site string, mq Broker, doors int, cameras []string) {
	writeSiteKey(b, dir, site)
	var y strings.Builder
	fmt.Fprintf(&y, "site: %s\nstateDir: state\nbus: %s\nlog: {level: warn}\n", site, link(mq, "bridge"))
	if doors > 0 {
		y.WriteString("osdp:\n")
		for line := range (2*doors + 7) / 8 {
			fmt.Fprintf(&y, "  - port: simulated\n    baud: 115200\n    readers:\n")
			for r := range min(8, 2*doors-8*line) {
				id := fmt.Sprintf("r%d", line*8+r)
				key := filepath.Join(dir, id+".scbk")
				if err := os.WriteFile(key, []byte(fmt.Sprintf("%032x", line*8+r+1)), 0o600); err != nil {
					b.Fatal(err)
				}
				fmt.Fprintf(&y, "      - {id: %s, address: %d, scbkFile: %s}\n", id, r+1, key)
			}
		}
		y.WriteString("doors:\n")
		for d := range doors {
			fmt.Fprintf(&y, "  - {id: d%d, entryReader: r%d, exitReader: r%d, lock: {mode: fail-safe}}\n", d, 2*d, 2*d+1)
		}
		y.WriteString("simulate: {every: 200ms, cards: [\"12:10001\", \"12:10002\"]}\n")
	}
	if len(cameras) > 0 {
		y.WriteString("cameras:\n")
		for i, u := range cameras {
			fmt.Fprintf(&y, "  - {id: cam%d, url: %q, transport: tcp}\n", i, u)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "bridge.yaml"), []byte(y.String()), 0o600); err != nil {
		b.Fatal(err)
	}
}

func BenchmarkBridgeRSS(b *testing.B) {
	const site = "BENCH5"
	mq := startMosquitto(b, site)
	dir := b.TempDir()
	benchBridgeYAML(b, dir, site, mq, 16, nil)
	w := watch(b, mq, site)
	br := startProc(b, dir, "bridge", "bridge", "-config", filepath.Join(dir, "bridge.yaml"))
	waitFor(b, 60*time.Second, "32 readers online", func() (bool, string) {
		for i := range 32 {
			if !w.readerOnline(fmt.Sprintf("r%d", i)) {
				return false, fmt.Sprintf("r%d", i)
			}
		}
		return true, ""
	})
	<-time.After(15 * time.Second) // the site running for a while: what is measured
	rss, err := peakRSS(br.cmd.Process.Pid)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(rss, "rss-MB")
}
