package central

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apedge/apedge/formats/envelope"
	"github.com/apedge/apedge/formats/event"
	"github.com/apedge/apedge/formats/uplink"
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
		envs := c.signMore(more)
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
	verifies := verifyRate(b, "ABC", envs[:min(len(envs), 20000)])
	b.ReportMetric(ingest, "events/s")
	b.ReportMetric(verifies, "verifies/s")
	b.ReportMetric(ingest/verifies, "ingest/verify")
}

// verifyRate measures Ed25519 verifications per second of envs, signed by site's test
// key, on every core.
func verifyRate(b *testing.B, site string, envs [][]byte) float64 {
	pub, msgs, sigs := verifyInputs(b, site, envs)
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

func verifyInputs(b *testing.B, site string, envs [][]byte) (ed25519.PublicKey, [][]byte, [][]byte) {
	pub := testKey(b, site).Public().Key
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
	pub, msgs, sigs := verifyInputs(b, "ABC", benchChain(b, 1024))
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

// benchSites are the sites of BenchmarkIngestStores, each with its own key.
var benchSites = []string{"BS1", "BS2", "BS3", "BS4"}

// siteChains holds one long chain per bench site, signed once per test binary run and
// extended as benchmarks ask for more.
var siteChains struct {
	sync.Mutex
	c    map[string]*chain
	envs map[string][][]byte
}

// siteChain returns site's envelopes 1..n (one of benchSites).
func siteChain(b *testing.B, site string, n int) [][]byte {
	siteChains.Lock()
	defer siteChains.Unlock()
	if siteChains.c == nil {
		siteChains.c, siteChains.envs = map[string]*chain{}, map[string][][]byte{}
	}
	c := siteChains.c[site]
	if c == nil {
		c = newChain(b, testKey(b, site))
		siteChains.c[site] = c
	}
	c.t = b
	if more := n - len(siteChains.envs[site]); more > 0 {
		envs := c.signMore(more)
		siteChains.envs[site] = append(siteChains.envs[site], envs...)
	}
	return siteChains.envs[site][:n]
}

// BenchmarkIngestStores measures central's ingest on each store, with one receiver and,
// on PostgreSQL, with three receivers sharing the store as they would share an MQTT
// subscription: the batches of four sites, interleaved, are dealt to the receivers in
// turn (Mosquitto's round robin), so that one site's consecutive batches land on
// different receivers. One op is one batch of 256 envelopes; events/s is timed from the
// first Handle to the last site's final ack, from whichever receiver.
func BenchmarkIngestStores(b *testing.B) {
	for _, tc := range []struct {
		kind      storeKind
		receivers int
	}{
		{storeKinds[0], 1},
		{storeKinds[1], 1},
		{storeKinds[1], 3},
	} {
		b.Run(fmt.Sprintf("store=%s,receivers=%d", tc.kind.name, tc.receivers), func(b *testing.B) {
			benchIngestShared(b, tc.kind.newStore(b), tc.receivers)
		})
	}
}

func benchIngestShared(b *testing.B, addr string, receivers int) {
	const batchLen = 256
	trust := envelope.TrustStore{}
	for _, s := range benchSites {
		trust.Add(testKey(b, s).Public())
	}
	perSite := (b.N + len(benchSites) - 1) / len(benchSites)
	var msgs []struct {
		topic string
		msg   []byte
	}
	totals := map[string]uint64{}
	var all [][]byte
	chains := map[string][][]byte{}
	for _, s := range benchSites {
		chains[s] = siteChain(b, s, perSite*batchLen)
		totals[s] = uint64(perSite * batchLen)
		all = append(all, chains[s]...)
	}
	for i := range perSite {
		for _, s := range benchSites {
			msgs = append(msgs, struct {
				topic string
				msg   []byte
			}{uplink.EventsTopic(s), uplink.EncodeBatch(chains[s][i*batchLen : (i+1)*batchLen])})
		}
	}
	var (
		mu      sync.Mutex
		acked   = map[string]uint64{}
		pending = len(benchSites)
	)
	done := make(chan struct{})
	publish := func(site string, seq uint64) {
		mu.Lock()
		defer mu.Unlock()
		if seq > acked[site] {
			acked[site] = seq
			if seq == totals[site] {
				if pending--; pending == 0 {
					close(done)
				}
			}
		}
	}
	rs := make([]*Receiver, receivers)
	ran := make(chan error, receivers)
	for i := range rs {
		r, err := Open(context.Background(), Options{Path: addr, Trust: trust, Logger: quietLogger(), Publish: publish})
		if err != nil {
			b.Fatal(err)
		}
		rs[i] = r
		go func() { ran <- r.Run(context.Background()) }()
	}

	b.ResetTimer()
	start := time.Now()
	for i, m := range msgs {
		rs[i%receivers].Handle(m.topic, m.msg)
	}
	select {
	case <-done:
	case <-time.After(10 * time.Minute):
		b.Fatalf("not every site acknowledged: %v of %v", acked, totals)
	}
	elapsed := time.Since(start)
	b.StopTimer()

	var stored uint64
	for _, r := range rs {
		if err := r.Close(); err != nil {
			b.Fatal(err)
		}
		if err := <-ran; err != nil {
			b.Fatal(err)
		}
		stored += r.Stats().Stored
	}
	if want := uint64(len(all)); stored != want {
		b.Fatalf("stored %d of %d", stored, want)
	}
	ingest := float64(len(all)) / elapsed.Seconds()
	verifies := verifyRate(b, benchSites[0], chains[benchSites[0]][:min(perSite*batchLen, 20000)])
	b.ReportMetric(ingest, "events/s")
	b.ReportMetric(verifies, "verifies/s")
	b.ReportMetric(ingest/verifies, "ingest/verify")
}

// signMore returns the chain's next n envelopes, signed on four goroutines.
func (c *chain) signMore(n int) [][]byte {
	payloads := make([][]byte, n)
	for i := range payloads {
		payloads[i] = c.payload(c.seq+1, c.prev)
		c.seq++
		c.prev = event.Hash(payloads[i])
	}
	envs := make([][]byte, n)
	var wg sync.WaitGroup
	var next atomic.Int64
	for range 4 {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				envs[i] = envelope.Sign(c.key, payloads[i])
			}
		})
	}
	wg.Wait()
	return envs
}
