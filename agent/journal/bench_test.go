//go:build unix

package journal

import (
	"context"
	"crypto/ed25519"
	"runtime"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/apedge/apedge/formats/event"
)

// BenchmarkAppend measures signed, durable appends per second with about 128
// concurrent appenders, each with its own origin. Compare its appends/s with
// BenchmarkSignParallel's signs/s from the same run: the target is at least half.
// cpu-us/op is the process CPU time per append, a figure other load on the machine
// disturbs less than the rate.
func BenchmarkAppend(b *testing.B) {
	key := testKey(b)
	j := openTest(b, key, "", Options{})
	var n atomic.Uint64
	b.SetParallelism(max(1, 128/runtime.GOMAXPROCS(0)))
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime()
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		for pb.Next() {
			if _, err := j.Append(ctx, typicalDraft(n.Add(1))); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "appends/s")
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-us/op")
	if err := j.Close(); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkSignParallel measures the parallel Ed25519 signing rate of a typical payload
// on every processor: the yardstick for BenchmarkAppend.
func BenchmarkSignParallel(b *testing.B) {
	key := testKey(b)
	builder, err := event.NewBuilder(key.Site)
	if err != nil {
		b.Fatal(err)
	}
	payload, err := builder.Build(1, event.GenesisHash, typicalDraft(1))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			ed25519.Sign(key.Key, payload)
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "signs/s")
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-us/op")
}

// cpuTime returns the CPU time, user and system, this process has used so far: per
// operation it tells what an append costs even when other processes share the machine.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
