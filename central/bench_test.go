package central

import (
	"context"
	"crypto/ed25519"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apedge/apedge/envelope"
	"github.com/apedge/apedge/event"
	"github.com/apedge/apedge/uplink"
	"github.com/secure-systems-lab/go-securesystemslib/dsse"
)

// benchCache holds one long ABC chain, signed once per test binary run and extended
// as benchmarks ask for more.
var benchCache struct {
	sync.Mutex
	c    *chain
	envs [][]byte
}

// benchChain returns ABC envelopes 1..n; payloads are built in order, signatures in
// parallel.
func benchChain(b *testing.B, n int) [][]byte {
	benchCache.Lock()
	defer benchCache.Unlock()
	if benchCache.c == nil {
		benchCache.c = newChain(b, testKey(b, "ABC"))
	}
	c := benchCache.c
	c.t = b
	if more := n - len(benchCache.envs); more > 0 {
		payloads := make([][]byte, more)
		for i := range payloads {
			payloads[i] = c.payload(c.seq+1, c.prev)
			c.seq++
			c.prev = event.Hash(payloads[i])
		}
		envs := make([][]byte, more)
		var wg sync.WaitGroup
		var next atomic.Int64
		for range 4 {
			wg.Go(func() {
				for i := int(next.Add(1) - 1); i < more; i = int(next.Add(1) - 1) {
					envs[i] = envelope.Sign(c.key, payloads[i])
				}
			})
		}
		wg.Wait()
		benchCache.envs = append(benchCache.envs, envs...)
	}
	return benchCache.envs[:n]
}

// BenchmarkIngest measures central's ingest (verify, dedupe, store, ack) of a backlog:
// one op is one batch of 256 envelopes, from Handle to the Publish of its ack. It
// reports events/s, and beside it the parallel verification rate measured in the same
// run and the ratio of the two (the target is at least 0.40).
func BenchmarkIngest(b *testing.B) {
	const batchLen = 256
	envs := benchChain(b, b.N*batchLen)
	msgs := make([][]byte, b.N)
	for i := range msgs {
		msgs[i] = uplink.EncodeBatch(envs[i*batchLen : (i+1)*batchLen])
	}
	total := uint64(len(envs))
	done := make(chan struct{})
	var once sync.Once
	r, err := Open(context.Background(), Options{
		Path:   filepath.Join(b.TempDir(), "central.db"),
		Trust:  testTrust(b),
		Logger: quietLogger(),
		Publish: func(site string, seq uint64) {
			if seq == total {
				once.Do(func() { close(done) })
			}
		},
	})
	if err != nil {
		b.Fatal(err)
	}
	ran := make(chan error, 1)
	go func() { ran <- r.Run(context.Background()) }()
	topic := uplink.EventsTopic("ABC")

	b.ResetTimer()
	start := time.Now()
	for _, m := range msgs {
		r.Handle(topic, m)
	}
	<-done
	elapsed := time.Since(start)
	b.StopTimer()

	if err := r.Close(); err != nil {
		b.Fatal(err)
	}
	if err := <-ran; err != nil {
		b.Fatal(err)
	}
	if s := r.Stats(); s.Stored != total {
		b.Fatalf("stored %d of %d", s.Stored, total)
	}
	ingest := float64(total) / elapsed.Seconds()
	verifies := verifyRate(b, envs[:min(len(envs), 20000)])
	b.ReportMetric(ingest, "events/s")
	b.ReportMetric(verifies, "verifies/s")
	b.ReportMetric(ingest/verifies, "ingest/verify")
}

// verifyRate measures Ed25519 verifications per second of envs on every core.
func verifyRate(b *testing.B, envs [][]byte) float64 {
	pub, msgs, sigs := verifyInputs(b, envs)
	const rounds = 2
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for i := next.Add(1) - 1; i < int64(rounds*len(msgs)); i = next.Add(1) - 1 {
				k := int(i) % len(msgs)
				if !ed25519.Verify(pub, msgs[k], sigs[k]) {
					b.Error("verify failed")
					return
				}
			}
		})
	}
	wg.Wait()
	return float64(rounds*len(msgs)) / time.Since(start).Seconds()
}

func verifyInputs(b *testing.B, envs [][]byte) (ed25519.PublicKey, [][]byte, [][]byte) {
	pub := testKey(b, "ABC").Public().Key
	msgs := make([][]byte, len(envs))
	sigs := make([][]byte, len(envs))
	for i, e := range envs {
		d, err := envelope.Decode(e)
		if err != nil {
			b.Fatal(err)
		}
		msgs[i], sigs[i] = dsse.PAE(d.PayloadType, d.Payload), d.Signatures[0].Sig
	}
	return pub, msgs, sigs
}

// BenchmarkVerifyParallel measures Ed25519 verification of event envelopes on every
// core (b.RunParallel), the limit BenchmarkIngest is compared with.
func BenchmarkVerifyParallel(b *testing.B) {
	pub, msgs, sigs := verifyInputs(b, benchChain(b, 1024))
	var next atomic.Int64
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			k := int(next.Add(1)) % len(msgs)
			if !ed25519.Verify(pub, msgs[k], sigs[k]) {
				b.Error("verify failed")
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "verifies/s")
}
