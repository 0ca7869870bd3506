package journal

import (
	"context"
	"os"
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/apedge/apedge/envelope"
	"github.com/apedge/apedge/event"
)

// BenchmarkAppend measures signed, durable appends per second with about 128
// concurrent appenders. Compare its appends/s with BenchmarkSignParallel's signs/s from
// the same run: the target is at least half.
func BenchmarkAppend(b *testing.B) {
	key := testKey(b)
	j := openTest(b, key, "", Options{})
	var n atomic.Uint64
	b.SetParallelism(max(1, 128/runtime.GOMAXPROCS(0)))
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		for pb.Next() {
			d := typicalDraft(n.Add(1))
			if os.Getenv("NOORIGIN") != "" {
				d.Origin = ""
			}
			if _, err := j.Append(ctx, d); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "appends/s")
	if err := j.Close(); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkSignParallel measures the parallel rate of what the journal's signing costs
// per event, envelope.Sign of a typical payload, on every processor.
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
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			envelope.Sign(key, payload)
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "signs/s")
}
