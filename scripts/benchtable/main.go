// Command benchtable reads `go test -bench` output on standard input and prints apedge's
// performance figures as a table, each beside the limit measured in the same run and the
// target from ../shared/design.md. It exits 1 if a figure misses its target or is missing.
package main

import (
	"bufio"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"text/tabwriter"
)

// benchLine matches "BenchmarkName-2   	  123	  456 ns/op	  7.8 unit ..." lines.
var benchLine = regexp.MustCompile(`^(Benchmark[^\s/-]+(?:/\S+?)?)(?:-\d+)?\s+\d+\s+(.*)$`)

type row struct {
	figure, metric string
	ref, refMetric string // reference benchmark and metric, if the target is a ratio
	ratio          float64
	maxRatio       float64 // target is at most this share of the reference when set
	max            float64 // target is an upper bound when set
	pct            bool    // show a reported figure's ratio as a percentage
	refText        string
}

func main() {
	metrics := map[string]map[string]float64{}
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		line := sc.Text()
		fmt.Fprintln(os.Stderr, line)
		m := benchLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		name := m[1]
		f := strings.Fields(m[2])
		for i := 0; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				continue
			}
			if metrics[name] == nil {
				metrics[name] = map[string]float64{}
			}
			metrics[name][f[i+1]] = v
		}
	}
	rows := []row{
		{figure: "journal: signed, durable appends/s", metric: "BenchmarkAppend appends/s", ref: "BenchmarkSignParallel", refMetric: "signs/s", ratio: 0.50, refText: "parallel Ed25519 signs/s"},
		{figure: "site bus -> central stored+acked p50 (ms) at 200 ev/s", metric: "BenchmarkEndToEnd p50-ms", ref: "BenchmarkEndToEnd", refMetric: "broker-p50-ms", refText: "raw Mosquitto QoS1 round trip p50 (ms)"},
		{figure: "site bus -> central stored+acked p99 (ms) at 200 ev/s", metric: "BenchmarkEndToEnd p99-ms", ref: "BenchmarkEndToEnd", refMetric: "broker-p99-ms", max: 5, refText: "raw Mosquitto QoS1 round trip p99 (ms)"},
		{figure: "backlog drained end to end (from central online), events/s", metric: "BenchmarkBacklogDrain events/s", ref: "BenchmarkVerifyParallel", refMetric: "verifies/s", ratio: 0.40, refText: "parallel Ed25519 verifies/s"},
		{figure: "the same, timed from starting central's process", metric: "BenchmarkBacklogDrain with-startup-events/s", ref: "BenchmarkVerifyParallel", refMetric: "verifies/s", pct: true, refText: "parallel Ed25519 verifies/s"},
		{figure: "central ingest (verify+dedupe+store+ack), events/s", metric: "BenchmarkIngest events/s", ref: "BenchmarkVerifyParallel", refMetric: "verifies/s", ratio: 0.40, refText: "parallel Ed25519 verifies/s"},
		{figure: "central ingest, 4 sites, SQLite, 1 receiver, events/s", metric: "BenchmarkIngestStores/store=sqlite,receivers=1 events/s", ref: "BenchmarkVerifyParallel", refMetric: "verifies/s", ratio: 0.40, refText: "parallel Ed25519 verifies/s"},
		{figure: "central ingest, 4 sites, PostgreSQL, 1 receiver, events/s", metric: "BenchmarkIngestStores/store=postgres,receivers=1 events/s", ref: "BenchmarkVerifyParallel", refMetric: "verifies/s", ratio: 0.40, refText: "parallel Ed25519 verifies/s"},
		{figure: "central ingest, 4 sites, PostgreSQL, 3 receivers sharing it, events/s", metric: "BenchmarkIngestStores/store=postgres,receivers=3 events/s", ref: "BenchmarkVerifyParallel", refMetric: "verifies/s", ratio: 0.40, refText: "parallel Ed25519 verifies/s"},
		{figure: "the same, 3 receivers against 1 (all on this box's cores)", metric: "BenchmarkIngestStores/store=postgres,receivers=3 events/s", ref: "BenchmarkIngestStores/store=postgres,receivers=1", refMetric: "events/s", pct: true, refText: "PostgreSQL, 1 receiver, events/s"},
		{figure: "checkpoint: root of a 20,000-event journal from its stored hashes, per second", metric: "BenchmarkJournalProof/root roots/s"},
		{figure: "checkpoint: signed note, per second", metric: "BenchmarkSignCheckpoint checkpoints/s", ref: "BenchmarkSignParallel", refMetric: "signs/s", pct: true, refText: "parallel Ed25519 signs/s"},
		{figure: "inclusion proof from a 20,000-event journal's stored hashes, per second", metric: "BenchmarkJournalProof/prove proofs/s"},
		{figure: "inclusion proof in a 1M-event tree (in memory), per second", metric: "BenchmarkProveRecord proofs/s"},
		{figure: "proof bundle verified offline, per second", metric: "BenchmarkVerifyBundle bundles/s", ref: "BenchmarkVerifyParallel", refMetric: "verifies/s", pct: true, refText: "parallel Ed25519 verifies/s"},
		{figure: "agent RSS under load (MB)", metric: "BenchmarkAgentRSS rss-MB", max: 60},
		{figure: "OSDP poll per reader, 8 readers at 9600 baud (ms)", metric: "BenchmarkPollCycle/baud=9600 ms/reader", ref: "BenchmarkPollCycle/baud=9600", refMetric: "wire-ms/reader", refText: "wire time of its bytes (ms)"},
		{figure: "OSDP poll per reader, 8 readers at 115200 baud (ms)", metric: "BenchmarkPollCycle/baud=115200 ms/reader", ref: "BenchmarkPollCycle/baud=115200", refMetric: "wire-ms/reader", refText: "wire time of its bytes (ms)"},
		{figure: "card read -> site bus p50 (ms), 8 secure readers at 115200", metric: "BenchmarkCardToBus p50-ms", ref: "BenchmarkCardToBus", refMetric: "poll-interval-ms", refText: "poll interval (ms)"},
		{figure: "card read -> site bus p99 (ms), 8 secure readers at 115200", metric: "BenchmarkCardToBus p99-ms", ref: "BenchmarkCardToBus", refMetric: "poll-interval-ms", refText: "poll interval (ms)"},
		{figure: "bridge RSS, 16 doors, 32 secure OSDP readers (MB)", metric: "BenchmarkBridgeRSS rss-MB", max: 60},
		{figure: "curfew decisions at the 23:00 window start, 200 residents (ms)", metric: "BenchmarkWindowStart200 ms/start"},
		{figure: "movements, site bus -> signed journal + curfew engine, per second", metric: "BenchmarkMovements movements/s"},
		{figure: "agent peak RSS during the backlog drain (MB)", metric: "BenchmarkBacklogDrain agent-peak-rss-MB", max: 60},
		{figure: "embedded broker heap growth under a flood: 3 x 100 MB publishes, 200,000 QoS 1 (MB)", metric: "BenchmarkFlood growth-MB", max: 128},
		{figure: "camera check to a verdict, one 640x480 H.264 camera, 2 s of media: CPU (s)", metric: "BenchmarkCameraProbe check-cpu-s", ref: "BenchmarkCameraProbe", refMetric: "ffprobe-cpu-s", maxRatio: 0.10, refText: "ffprobe on the same stream: CPU (s)"},
		{figure: "the same check: wall time (s)", metric: "BenchmarkCameraProbe check-wall-s", ref: "BenchmarkCameraProbe", refMetric: "ffprobe-wall-s", refText: "ffprobe: wall time (s)"},
		{figure: "apedge camera probe, a process like ffprobe, start-up included: CPU (s)", metric: "BenchmarkCameraProbe probe-cpu-s", ref: "BenchmarkCameraProbe", refMetric: "ffprobe-cpu-s", pct: true, refText: "ffprobe: CPU (s)"},
		{figure: "apedge camera probe: peak RSS (MB)", metric: "BenchmarkCameraProbe probe-rss-MB", ref: "BenchmarkCameraProbe", refMetric: "ffprobe-rss-MB", refText: "ffprobe: peak RSS (MB)"},
		{figure: "bridge CPU, 64 cameras checked every 30 s (% of one core)", metric: "BenchmarkCameras64/doors=0 cpu-pct-of-core", max: 10},
		{figure: "bridge CPU, the same with 16 doors and 32 secure OSDP readers in use (% of one core)", metric: "BenchmarkCameras64/doors=16 cpu-pct-of-core"},
		{figure: "bridge RSS, 64 cameras, 16 doors, 32 secure OSDP readers (MB)", metric: "BenchmarkCameras64/doors=16 rss-MB", max: 60},
		{figure: "Mosquitto peak RSS under the same flood, configs/mosquitto.conf bounds (MB)", metric: "BenchmarkFloodMosquitto peak-rss-MB", max: 96},
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight|tabwriter.Debug)
	fmt.Fprintln(tw, "figure\tmeasured\treference (same run)\tvalue\tratio\ttarget\tresult\t")
	fail := false
	for _, r := range rows {
		name, metric, _ := strings.Cut(r.metric, " ")
		v, ok := metrics[name][metric]
		if !ok {
			fmt.Fprintf(tw, "%s\t-\t\t\t\t\tMISSING\t\n", r.figure)
			fail = true
			continue
		}
		refV, refOK := 0.0, false
		if r.ref != "" {
			refV, refOK = metrics[r.ref][r.refMetric]
		}
		ratio, target, result := "", "", "ok"
		switch {
		case r.ratio > 0:
			target = fmt.Sprintf(">= %.0f%% of reference", r.ratio*100)
			if !refOK {
				result, fail = "NO REFERENCE", true
				break
			}
			ratio = fmt.Sprintf("%.0f%%", 100*v/refV)
			if v < r.ratio*refV {
				result, fail = "MISSED", true
			}
		case r.maxRatio > 0:
			target = fmt.Sprintf("<= %g%% of reference", r.maxRatio*100)
			if !refOK {
				result, fail = "NO REFERENCE", true
				break
			}
			ratio = fmt.Sprintf("%.1f%%", 100*v/refV)
			if v > r.maxRatio*refV {
				result, fail = "MISSED", true
			}
		case r.max > 0:
			target = fmt.Sprintf("<= %g", r.max)
			if refOK {
				ratio = fmt.Sprintf("%.1fx", v/refV)
			}
			if v > r.max {
				result, fail = "MISSED", true
			}
		default:
			target = "reported"
			switch {
			case refOK && r.pct:
				ratio = fmt.Sprintf("%.0f%%", 100*v/refV)
			case refOK:
				ratio = fmt.Sprintf("%.1fx", v/refV)
			}
		}
		refCol := ""
		if refOK {
			refCol = num(refV)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", r.figure, num(v), r.refText, refCol, ratio, target, result)
	}
	tw.Flush()
	if fail {
		os.Exit(1)
	}
}

func num(v float64) string {
	switch {
	case v >= 1000:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case v >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	default:
		return strconv.FormatFloat(v, 'f', 3, 64)
	}
}
