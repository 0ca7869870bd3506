package central

import (
	"syscall"
	"testing"
	"time"
)

func cpuNow() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func TestZZCPU(t *testing.T) {
	res := testing.Benchmark(func(b *testing.B) {
		benchChain(b, 200*256)
		b.ResetTimer()
		c0, w0 := cpuNow(), time.Now()
		BenchmarkIngest(b)
		t.Logf("N=%d cpu util %.2f", b.N, float64(cpuNow()-c0)/float64(time.Since(w0)))
	})
	t.Log(res.String(), res.Extra)
}
