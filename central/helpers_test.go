package central

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/apedge/apedge/envelope"
	"github.com/apedge/apedge/event"
	"github.com/apedge/apedge/sitekey"
	"github.com/apedge/apedge/uplink"
)

var update = flag.Bool("update", false, "rewrite testdata/bad and testdata/fuzz from the generators")

// testKey returns site's deterministic test key: seeded from its name, so that
// testdata stays byte-identical across runs (Ed25519 signing is deterministic).
func testKey(t testing.TB, site string) *sitekey.Private {
	t.Helper()
	seed := sha256.Sum256([]byte("apedge central test key " + site))
	k, err := sitekey.FromSeed(site, seed[:])
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// testTrust trusts the test keys of ABC and XYZ.
func testTrust(t testing.TB) envelope.TrustStore {
	ts := envelope.TrustStore{}
	ts.Add(testKey(t, "ABC").Public())
	ts.Add(testKey(t, "XYZ").Public())
	return ts
}

// chain makes a site's signed events in order.
type chain struct {
	t    testing.TB
	key  *sitekey.Private
	b    *event.Builder
	seq  uint64
	prev [32]byte
	tag  string // varies the payloads, to make a fork of the same seqs
}

func newChain(t testing.TB, key *sitekey.Private) *chain {
	t.Helper()
	b, err := event.NewBuilder(key.Site)
	if err != nil {
		t.Fatal(err)
	}
	return &chain{t: t, key: key, b: b, prev: event.GenesisHash}
}

// payload builds the payload of seq chained to prev, deterministically.
func (c *chain) payload(seq uint64, prev [32]byte) []byte {
	c.t.Helper()
	info, _ := json.Marshal(map[string]string{"door": "front", "reader": "R1", "tag": c.tag})
	p, err := c.b.Build(seq, prev, &event.Draft{
		Type:       "movement.entered",
		OccurredAt: time.Date(2025, 3, 30, 0, 0, 0, 0, time.UTC).Add(time.Duration(seq) * time.Minute),
		Person:     &event.PersonReference{Identifiers: []event.Identifier{{Type: "CRN", Value: "X123456"}}},
		Info:       info,
	})
	if err != nil {
		c.t.Fatal(err)
	}
	return p
}

// next returns the signed envelope of the chain's next event.
func (c *chain) next() []byte {
	c.t.Helper()
	p := c.payload(c.seq+1, c.prev)
	c.seq++
	c.prev = event.Hash(p)
	return envelope.Sign(c.key, p)
}

// take returns the next n envelopes.
func (c *chain) take(n int) [][]byte {
	c.t.Helper()
	out := make([][]byte, n)
	for i := range out {
		out[i] = c.next()
	}
	return out
}

// makeChain returns envelopes 1..n of site signed by key.
func makeChain(t testing.TB, key *sitekey.Private, n int) [][]byte {
	t.Helper()
	return newChain(t, key).take(n)
}

// fakeClock is an injectable clock.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

type ack struct {
	site string
	seq  uint64
}

// harness is a running Receiver with a record of its acks.
type harness struct {
	t     *testing.T
	r     *Receiver
	o     Options
	mu    sync.Mutex
	acks  []ack
	ranCh chan error
}

// testLogger logs WARN and above to the test's output.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// start opens a Receiver on o (filling Path, Trust and Logger if empty) and runs it
// until the test ends.
func start(t *testing.T, o Options) *harness {
	t.Helper()
	if o.Path == "" {
		o.Path = filepath.Join(t.TempDir(), "central.db")
	}
	if o.Trust == nil {
		o.Trust = testTrust(t)
	}
	if o.Logger == nil {
		o.Logger = testLogger(t)
	}
	h := &harness{t: t, ranCh: make(chan error, 1)}
	user := o.Publish
	o.Publish = func(site string, seq uint64) {
		if user != nil {
			user(site, seq)
		}
		h.mu.Lock()
		h.acks = append(h.acks, ack{site, seq})
		h.mu.Unlock()
	}
	h.o = o
	r, err := Open(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	h.r = r
	go func() { h.ranCh <- r.Run(context.Background()) }()
	t.Cleanup(func() { h.close() })
	return h
}

// close closes the receiver and checks that Run returned nil. It may be called twice.
func (h *harness) close() {
	h.t.Helper()
	if h.r == nil {
		return
	}
	if err := h.r.Close(); err != nil {
		h.t.Errorf("Close: %v", err)
	}
	if err := <-h.ranCh; err != nil {
		h.t.Errorf("Run: %v", err)
	}
	h.r = nil
}

func (h *harness) send(site string, envs ...[]byte) {
	h.r.Handle(uplink.EventsTopic(site), uplink.EncodeBatch(envs))
}

func (h *harness) lastAck(site string) (uint64, int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	var last uint64
	n := 0
	for _, a := range h.acks {
		if a.site == site {
			last = a.seq
			n++
		}
	}
	return last, n
}

// waitAcks waits until site has been acked n times in all.
func (h *harness) waitAcks(site string, n int) {
	h.t.Helper()
	eventually(h.t, fmt.Sprintf("%d acks of %s", n, site), func() bool { _, got := h.lastAck(site); return got >= n })
}

// waitHead waits until site's head is seq and seq has been acked.
func (h *harness) waitHead(site string, seq uint64) {
	h.t.Helper()
	eventually(h.t, fmt.Sprintf("head of %s at %d", site, seq), func() bool {
		last, _ := h.lastAck(site)
		return h.r.Heads()[site] == seq && last == seq
	})
}

func (h *harness) waitStats(what string, cond func(Stats) bool) {
	h.t.Helper()
	eventually(h.t, what, func() bool { return cond(h.r.Stats()) })
}

// eventually polls cond until it holds or 20 s pass.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// processSync runs one message through the whole pipeline on the calling goroutine,
// for deterministic tests and fuzzing: Run must not be running.
func (r *Receiver) processSync(topic string, msg []byte) {
	j := r.newJob(inMsg{topic: topic, msg: msg, at: r.o.Now()})
	for lo := 0; lo < len(j.entries); lo += chunkLen {
		r.verifyChunk(chunk{j: j, lo: lo, hi: min(lo+chunkLen, len(j.entries))})
	}
	<-j.done
	r.apply(context.Background(), []*job{j})
}

// quietLogger discards logs (for fuzzing and benchmarks).
func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
