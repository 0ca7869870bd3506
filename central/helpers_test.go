package central

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/apedge/apedge/formats/envelope"
	"github.com/apedge/apedge/formats/event"
	"github.com/apedge/apedge/formats/sitekey"
	"github.com/apedge/apedge/formats/uplink"
	"github.com/apedge/apedge/internal/pgtest"
	"github.com/apedge/apedge/internal/wait"
)

var update = flag.Bool("update", false, "rewrite testdata/bad and testdata/fuzz from the generators")

// pg is the PostgreSQL cluster of this test binary, started by the first test that
// asks for a PostgreSQL store.
var pg pgtest.Shared

func TestMain(m *testing.M) {
	code := m.Run()
	if err := pg.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

// storeKind is one of the store's databases; newStore makes an empty store of that
// kind for t and returns its address (Options.Path).
type storeKind struct {
	name     string
	newStore func(t testing.TB) string
}

// storeKinds are the databases every store test runs against.
var storeKinds = []storeKind{
	{"sqlite", func(t testing.TB) string { return filepath.Join(t.TempDir(), "central.db") }},
	{"postgres", func(t testing.TB) string { return pg.Database(t) }},
}

// eachStore runs test once per store kind, as a subtest named after the kind; test's
// newStore makes an empty store of that kind.
func eachStore(t *testing.T, test func(t *testing.T, newStore func() string)) {
	for _, k := range storeKinds {
		t.Run(k.name, func(t *testing.T) { test(t, func() string { return k.newStore(t) }) })
	}
}

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
	// draft, if set, makes each seq's event instead of the default entry.
	draft func(seq uint64) *event.Draft
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
	d := &event.Draft{
		Type:       "movement.entered",
		OccurredAt: time.Date(2025, 3, 30, 0, 0, 0, 0, time.UTC).Add(time.Duration(seq) * time.Minute),
		Person:     &event.PersonReference{Identifiers: []event.Identifier{{Type: "CRN", Value: "X123456"}}},
		Info:       info,
	}
	if c.draft != nil {
		d = c.draft(seq)
	}
	p, err := c.b.Build(seq, prev, d)
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

// start opens a Receiver on o (filling Trust and Logger if empty) and runs it until the
// test ends. o.Path must name a store (eachStore's newStore).
func start(t *testing.T, o Options) *harness {
	t.Helper()
	if o.Path == "" {
		t.Fatal("start: Options.Path is empty")
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

// eventually waits for cond for up to 20 s.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	wait.Until(t, 20*time.Second, what, cond)
}

// processSync runs one message through the whole pipeline on the calling goroutine,
// for deterministic tests and fuzzing: Run must not be running.
func (r *Receiver) processSync(topic string, msg []byte) {
	j := r.newJob(inMsg{topic: topic, msg: msg, at: r.o.Clock.Now()})
	for lo := 0; lo < len(j.entries); lo += chunkLen {
		r.verifyChunk(chunk{j: j, lo: lo, hi: min(lo+chunkLen, len(j.entries))})
	}
	<-j.done
	r.apply(context.Background(), []*job{j})
}

// quietLogger discards logs (for fuzzing and benchmarks).
func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
