package hiltests

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/apedge/apedge/devices/camera"
	"github.com/apedge/apedge/devices/rtsp"
	"github.com/apedge/apedge/formats/sitebus"
	"github.com/apedge/apedge/formats/sitekey"
	"github.com/apedge/apedge/internal/clock"
)

// simCameras starts n simulated cameras (apedge sim camera, 640x480 H.264 at 10 fps)
// in a process of their own, so that what they cost is not the figure measured, and
// returns their URLs.
func simCameras(b *testing.B, n int) []string {
	dir := b.TempDir()
	p := startProc(b, dir, "sim-camera", "sim", "camera", "-n", strconv.Itoa(n))
	var urls []string
	waitFor(b, 30*time.Second, fmt.Sprintf("%d camera URLs", n), func() (bool, string) {
		urls = nil
		for _, l := range strings.Split(p.Log(), "\n") {
			if strings.HasPrefix(l, "rtsp://") {
				urls = append(urls, strings.TrimSpace(l))
			}
		}
		return len(urls) >= n, fmt.Sprint(len(urls))
	})
	return urls
}

// writeSiteKey writes a new key of site under dir/keys, where a bridge configuration
// in dir finds the public half by default.
func writeSiteKey(b *testing.B, dir, site string) {
	k, err := sitekey.Generate(site, nil)
	if err != nil {
		b.Fatal(err)
	}
	if _, _, err := sitekey.Write(filepath.Join(dir, "keys"), k); err != nil {
		b.Fatal(err)
	}
}

// usage is what one run of a program cost.
type usage struct{ cpu, wall, rssMB float64 }

// measure runs name with args and returns its CPU (user and system), wall time and
// peak RSS, with its standard output. The peak RSS is the process's own high-water
// mark (VmHWM), read as it runs: the rusage of a child started by os/exec counts
// this process's memory too (the child shares it until it execs).
func measure(b *testing.B, name string, args ...string) (usage, []byte) {
	b.Helper()
	cmd := exec.Command(name, args...)
	var out strings.Builder
	cmd.Stdout = &out
	cmd.Stderr = &out
	start := time.Now()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var hwm float64
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var err error
wait:
	for {
		select {
		case err = <-done:
			break wait
		case <-tick.C:
			if v, perr := peakRSS(cmd.Process.Pid); perr == nil {
				hwm = max(hwm, v)
			}
		}
	}
	if err != nil {
		b.Fatalf("%s %v: %v\n%s", name, args, err, out.String())
	}
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	return usage{cpu: cpu.Seconds(), wall: time.Since(start).Seconds(), rssMB: hwm}, []byte(out.String())
}

func median(u []usage, f func(usage) float64) float64 {
	v := make([]float64, len(u))
	for i, x := range u {
		v[i] = f(x)
	}
	slices.Sort(v)
	return v[len(v)/2]
}

// BenchmarkCameraProbe measures one check of one 640x480 H.264 camera to a verdict
// (2 s of media over TCP) beside ffprobe on the same stream in the same run: the CPU
// seconds the check costs the process that makes it (the bridge's cost of a check,
// measured here in this process, which does nothing else meanwhile); the CPU, wall
// time and peak RSS of apedge camera probe, a process of its own like ffprobe, its
// start-up included; and ffprobe's. The median of five runs each.
func BenchmarkCameraProbe(b *testing.B) {
	ffprobe, err := exec.LookPath("ffprobe")
	if err != nil {
		b.Fatal("ffprobe is not installed: scripts/test-deps.sh installs ffmpeg")
	}
	u := simCameras(b, 1)[0]
	var ours, theirs, inproc []usage
	for range 5 {
		var r0, r1 syscall.Rusage
		syscall.Getrusage(syscall.RUSAGE_SELF, &r0)
		start := time.Now()
		r := camera.Check(context.Background(), camera.Target{URL: u, Transport: rtsp.TransportTCP, Timeout: 5 * time.Second,
			Sample: 2 * time.Second, StallAfter: 2 * time.Second}, clock.System(), nil)
		wall := time.Since(start)
		syscall.Getrusage(syscall.RUSAGE_SELF, &r1)
		if v, reason := camera.Judge(r, camera.Limits{StallAfter: 2 * time.Second, MaxLossPct: 5}); v != camera.Online {
			b.Fatalf("check: %s %s", v, reason)
		}
		cpu := time.Duration(r1.Utime.Nano() + r1.Stime.Nano() - r0.Utime.Nano() - r0.Stime.Nano())
		inproc = append(inproc, usage{cpu: cpu.Seconds(), wall: wall.Seconds()})
		o, out := measure(b, apedgeBin, "camera", "probe", "-json", "-for", "2s", "-transport", "tcp", u)
		var rp struct{ Verdict, Codec string }
		if err := json.Unmarshal(out, &rp); err != nil || rp.Verdict != "online" || rp.Codec != "h264" {
			b.Fatalf("probe: %v %s", err, out)
		}
		ours = append(ours, o)
		t, out := measure(b, ffprobe, "-v", "error", "-rtsp_transport", "tcp", "-show_entries", "stream=codec_name,width,height,r_frame_rate", "-of", "compact", u)
		if !strings.Contains(string(out), "codec_name=h264") {
			b.Fatalf("ffprobe: %s", out)
		}
		theirs = append(theirs, t)
	}
	cpu := func(x usage) float64 { return x.cpu }
	wall := func(x usage) float64 { return x.wall }
	rss := func(x usage) float64 { return x.rssMB }
	b.ReportMetric(median(inproc, cpu), "check-cpu-s")
	b.ReportMetric(median(inproc, wall), "check-wall-s")
	b.ReportMetric(median(ours, cpu), "probe-cpu-s")
	b.ReportMetric(median(ours, wall), "probe-wall-s")
	b.ReportMetric(median(ours, rss), "probe-rss-MB")
	b.ReportMetric(median(theirs, cpu), "ffprobe-cpu-s")
	b.ReportMetric(median(theirs, wall), "ffprobe-wall-s")
	b.ReportMetric(median(theirs, rss), "ffprobe-rss-MB")
}

// cpuTicks returns the user and system clock ticks pid has used.
func cpuTicks(b *testing.B, pid int) float64 {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	s := string(raw)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:]) // fields from 3 on
	ut, _ := strconv.ParseFloat(f[11], 64)                   // field 14: utime
	st, _ := strconv.ParseFloat(f[12], 64)                   // field 15: stime
	return ut + st
}

// BenchmarkCameras64 runs the bridge with 64 cameras checked every 30 s (the cameras
// simulated in another process) and measures, over a minute of checks (two rounds),
// the bridge's CPU as a share of one core and its peak RSS: with the cameras alone
// (doors=0: what the checks cost), and with the demo's kind of site beside them
// (doors=16: 16 doors and 32 secure OSDP readers polled every 50 ms, with people using
// them), whose RSS is held to the bridge's limit.
func BenchmarkCameras64(b *testing.B) {
	for _, doors := range []int{0, 16} {
		b.Run(fmt.Sprintf("doors=%d", doors), func(b *testing.B) { benchCameras(b, 64, doors) })
	}
}

func benchCameras(b *testing.B, n, doors int) {
	site := fmt.Sprintf("BENCH%d", 6+doors)
	urls := simCameras(b, n)
	mq := startMosquitto(b, site)
	dir := b.TempDir()
	benchBridgeYAML(b, dir, site, mq, doors, urls)
	w := watch(b, mq, site)
	br := startProc(b, dir, "bridge", "bridge", "-config", filepath.Join(dir, "bridge.yaml"))
	online := func() int {
		k := 0
		for i := range n {
			st := w.find(sitebus.ClassCamera, fmt.Sprintf("cam%d", i), sitebus.KindState, "status")
			if len(st) > 0 {
				if cs, err := sitebus.DecodeCameraStatus(st[len(st)-1].Data); err == nil && cs.Verdict == sitebus.CameraOnline {
					k++
				}
			}
		}
		return k
	}
	waitFor(b, 90*time.Second, fmt.Sprintf("%d cameras online", n), func() (bool, string) { k := online(); return k == n, fmt.Sprint(k) })
	const window = time.Minute
	hz := 100.0 // USER_HZ on Linux
	t0, c0 := time.Now(), cpuTicks(b, br.cmd.Process.Pid)
	<-time.After(window) // the site running: what is measured
	c1, t1 := cpuTicks(b, br.cmd.Process.Pid), time.Now()
	if k := online(); k != n {
		b.Fatalf("%d of %d cameras online at the end", k, n)
	}
	rss, err := peakRSS(br.cmd.Process.Pid)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(100*(c1-c0)/hz/t1.Sub(t0).Seconds(), "cpu-pct-of-core")
	b.ReportMetric(rss, "rss-MB")
}
