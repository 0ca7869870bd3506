// Package central is apedge's reference receiver of site events: it verifies the signed
// envelopes that sites' agents publish in batches, dedupes them, checks each site's hash
// chain, stores every event exactly once and in order, and acknowledges the highest
// contiguous seq it has durably stored, only after the commit that stored it.
//
// The store is SQLite (a file, for one receiver) or PostgreSQL (a URL), with the same
// tables and the same writer. Several receivers may share one PostgreSQL store, each
// taking some of the batches (an MQTT shared subscription): a receiver keeps nothing of
// a site's chain in memory between transactions. Each transaction locks the heads rows
// of its sites and reads them again; envelopes that arrive after a gap are held in the
// store, so whichever receiver fills the gap stores them; and an ack is the head that
// the acknowledging receiver committed. See writer.go.
//
// Anything it refuses (an undecodable batch or envelope, a signature by no trusted key or
// a bad one, an envelope of the wrong site, a different payload under an id already
// known, an event that does not follow the chain, more out-of-order envelopes than it
// holds) is counted in Stats, logged at WARN and recorded as an Alarm in the store with
// the offending bytes as evidence; it is never stored as an event, and the valid
// envelopes around it are unaffected.
//
// Processing is a pipeline: Handle enqueues messages; Run decodes each batch and
// verifies its envelopes on runtime.GOMAXPROCS workers while a single writer applies
// the previous, already verified batches in order, in one transaction per group of
// batches, then calls Options.Publish.
package central

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apedge/apedge/formats/envelope"
	"github.com/apedge/apedge/formats/sitekey"
	"github.com/apedge/apedge/internal/clock"
)

// Reason says why an envelope or a batch was refused, or what an alarm is about.
type Reason string

// Reasons for refusing an envelope or batch, and for alarms.
const (
	// ReasonMalformed: the batch, the envelope or the signed event cannot be decoded,
	// or the envelope is not in canonical form.
	ReasonMalformed Reason = "malformed"
	// ReasonUnknownKey: no signature by a key in the trust store.
	ReasonUnknownKey Reason = "unknown-key"
	// ReasonBadSignature: the trusted key's signature does not verify.
	ReasonBadSignature Reason = "bad-signature"
	// ReasonWrongSite: the signing key's site differs from the topic's or the event's.
	ReasonWrongSite Reason = "wrong-site"
	// ReasonConflict: a different payload under an event id already stored or held.
	ReasonConflict Reason = "conflict"
	// ReasonChainBreak: the event is next in seq but does not follow the site's head.
	ReasonChainBreak Reason = "chain-break"
	// ReasonHeldOverflow: an out-of-order envelope beyond Options.MaxHeld held for its
	// site.
	ReasonHeldOverflow Reason = "held-overflow"
	// ReasonBadTopic: the message came on a topic that is not a site's events topic.
	ReasonBadTopic Reason = "bad-topic"
	// ReasonKeyPeriod: signed by a site key outside the period it is valid for (a key
	// retired by a rotation, or not yet in use).
	ReasonKeyPeriod Reason = "key-period"
	// ReasonCheckpoint: a signed checkpoint of the site's Merkle log that does not
	// match the events central has stored (history rewritten), or cannot be opened.
	// The checkpoint is not stored, and the site's chain stops there until it is
	// resolved.
	ReasonCheckpoint Reason = "checkpoint"
	// ReasonGap is not a refusal: it is the alarm for a gap in a site's seqs that is
	// still open Options.GapAlarmAfter after it was detected.
	ReasonGap Reason = "gap"
)

// rejectReasons are the reasons Stats.Rejected counts.
func rejectReasons() []Reason {
	return []Reason{ReasonMalformed, ReasonUnknownKey, ReasonBadSignature, ReasonWrongSite,
		ReasonConflict, ReasonChainBreak, ReasonHeldOverflow, ReasonBadTopic, ReasonKeyPeriod, ReasonCheckpoint}
}

// Options configure a Receiver.
type Options struct {
	// Path is the store: an SQLite database file (created if missing), or a PostgreSQL
	// database's URL (postgres://... or postgresql://..., see IsPostgres) whose schema
	// is created if missing.
	Path string
	// Trust holds the sites' public keys, by key id; each key's Site must be set.
	Trust envelope.TrustStore
	// Logger receives the receiver's logs (default slog.Default()).
	Logger *slog.Logger
	// GapAlarmAfter is how long a gap in a site's seqs may stay open before it is
	// alarmed (default 30s). Detection itself is counted at once in Stats.Gaps.
	GapAlarmAfter time.Duration
	// MaxHeld bounds the out-of-order envelopes held in the store per site while a gap
	// is open (default 100000); beyond it they are refused with ReasonHeldOverflow.
	MaxHeld int
	// Publish, if set, is called with a site's ack (highest contiguous stored seq) only
	// after the store commit that made it durable, and also after a batch that held only
	// duplicates, so that the sender learns where central is. It is called from Run's
	// writer and must not block for long.
	Publish func(site string, seq uint64)
	// KeyPeriods bounds, by key id, when each site key may sign (a key without one is
	// valid always): a rotated site's old key stays trusted for what it signed while
	// it was the site's key.
	KeyPeriods map[string]KeyPeriod
	// Clock dates what central records (arrivals, alarms, gaps); nil means the system
	// clock.
	Clock clock.Clock
}

// Defaults for Options fields left zero.
const (
	DefaultGapAlarmAfter = 30 * time.Second
	DefaultMaxHeld       = 100000
)

// Tuning of the pipeline.
const (
	queueLen        = 64   // messages waiting for Run
	pipelineDepth   = 4    // batches being verified ahead of the writer
	chunkLen        = 32   // envelopes per verification task
	maxGroupEntries = 4096 // envelopes per store transaction
	maxEvidence     = envelope.MaxSize
)

// ErrClosed is returned by Run on a closed Receiver.
var ErrClosed = errors.New("central: receiver closed")

// Stats are a Receiver's counters since Open.
type Stats struct {
	// Batches counts messages processed (including refused ones).
	Batches uint64
	// Stored counts envelopes stored (committed).
	Stored uint64
	// Duplicates counts byte-identical copies of events already stored or held.
	Duplicates uint64
	// Held counts envelopes this receiver put on hold because they came after a gap.
	Held uint64
	// HeldNow is the number of envelopes held across sites, as this receiver last saw
	// each site's (exact with a single receiver).
	HeldNow int64
	// Gaps counts gaps this receiver detected; GapAlarms those it alarmed for staying
	// open.
	Gaps, GapAlarms uint64
	// Rejected counts refusals by reason; every rejection reason is present.
	Rejected map[Reason]uint64
}

// Alarm is a recorded refusal or gap.
type Alarm struct {
	// ID orders alarms: it increases with each one recorded.
	ID int64
	// Time is when the alarm was raised.
	Time time.Time
	// Site is the site of the topic ("" if the topic named none).
	Site string
	// Seq is the seq concerned, as far as known (0 if not); for a refused envelope
	// whose signature did not verify, it is only what the envelope claims.
	Seq uint64
	// Reason says what is wrong; Detail says it in words.
	Reason Reason
	Detail string
	// Evidence is the offending envelope exactly as received (for ReasonGap, the
	// lowest held envelope; for a refused batch, the message, truncated to
	// envelope.MaxSize bytes).
	Evidence []byte
}

// Receiver is central's receiver of site events. Its methods are safe for concurrent
// use; Run runs once.
type Receiver struct {
	o     Options
	log   *slog.Logger
	st    *store
	trust envelope.TrustStore
	tick  time.Duration

	queue    chan inMsg
	stop     chan struct{}
	stopOnce sync.Once

	mu sync.Mutex // guards heads, heldBy, running, closed, runDone
	// heads and heldBy are each site's head and held count as this receiver last
	// committed or read them.
	heads   map[string]uint64
	heldBy  map[string]int64
	running bool
	closed  bool
	runDone chan struct{}

	n counters
}

type counters struct {
	batches, stored, dups, held, gaps, gapAlarms atomic.Uint64
	heldNow                                      atomic.Int64
	rejected                                     map[Reason]*atomic.Uint64 // fixed keys
}

// inMsg is one message from Handle.
type inMsg struct {
	topic string
	msg   []byte
	at    time.Time
}

// Open opens (creating or migrating) the store at o.Path and reads every site's head.
func Open(ctx context.Context, o Options) (*Receiver, error) {
	if o.Path == "" {
		return nil, errors.New("central: Options.Path is empty")
	}
	if o.Trust == nil {
		return nil, errors.New("central: Options.Trust is nil")
	}
	trust := make(envelope.TrustStore, len(o.Trust))
	for id, p := range o.Trust {
		switch {
		case p == nil:
			return nil, fmt.Errorf("central: trust store key %s is nil", id)
		case p.ID != id:
			return nil, fmt.Errorf("central: trust store holds key %s under id %s", p.ID, id)
		case !sitekey.ValidSiteCode(p.Site):
			return nil, fmt.Errorf("central: trusted key %s has site %q, want a site code", id, p.Site)
		}
		trust[id] = p
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.GapAlarmAfter <= 0 {
		o.GapAlarmAfter = DefaultGapAlarmAfter
	}
	if o.MaxHeld <= 0 {
		o.MaxHeld = DefaultMaxHeld
	}
	if o.Publish == nil {
		o.Publish = func(string, uint64) {}
	}
	o.Clock = clock.Or(o.Clock)
	st, err := openStore(ctx, o.Path)
	if err != nil {
		return nil, fmt.Errorf("central: %w", err)
	}
	r := &Receiver{
		o:      o,
		log:    o.Logger.With("component", "central"),
		st:     st,
		trust:  trust,
		tick:   min(max(o.GapAlarmAfter/4, 10*time.Millisecond), 250*time.Millisecond),
		queue:  make(chan inMsg, queueLen),
		stop:   make(chan struct{}),
		heads:  map[string]uint64{},
		heldBy: map[string]int64{},
	}
	r.n.rejected = map[Reason]*atomic.Uint64{}
	for _, reason := range rejectReasons() {
		r.n.rejected[reason] = new(atomic.Uint64)
	}
	heads, err := st.readHeads(ctx)
	if err != nil {
		st.db.Close()
		return nil, fmt.Errorf("central: %s: %w", st.name, err)
	}
	for site, h := range heads {
		r.heads[site] = h.seq
		r.heldBy[site] = h.held
		r.n.heldNow.Add(h.held)
	}
	if len(trust) == 0 {
		r.log.Warn("trust store is empty: every envelope will be refused")
	}
	r.log.Info("store open", "store", st.name, "kind", st.d.name, "sites", len(r.heads), "keys", len(trust))
	return r, nil
}

// Handle enqueues one message received on topic for Run. It copies msg and returns
// quickly, blocking only while the queue is full. After Close it drops the message,
// which is safe: nothing is acknowledged that was not stored, so the site resends.
func (r *Receiver) Handle(topic string, msg []byte) {
	m := inMsg{topic: topic, msg: bytes.Clone(msg), at: r.o.Clock.Now()}
	select {
	case <-r.stop:
		r.log.Warn("receiver closed: message dropped", "topic", topic)
		return
	default:
	}
	select {
	case r.queue <- m:
	case <-r.stop:
		r.log.Warn("receiver closed: message dropped", "topic", topic)
	}
}

// Run processes messages from Handle until ctx is done or Close is called, then
// finishes the batches already being verified and returns nil. It returns an error only
// if the Receiver is closed or already running. A failed store transaction is logged,
// rolled back and not acknowledged (the sites resend); Run goes on.
func (r *Receiver) Run(ctx context.Context) error {
	r.mu.Lock()
	switch {
	case r.closed:
		r.mu.Unlock()
		return ErrClosed
	case r.running:
		r.mu.Unlock()
		return errors.New("central: Run called twice")
	}
	r.running = true
	r.runDone = make(chan struct{})
	done := r.runDone
	r.mu.Unlock()
	defer close(done)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-r.stop:
			cancel()
		case <-ctx.Done():
		}
	}()

	workers := runtime.GOMAXPROCS(0)
	work := make(chan chunk, workers*4)
	ordered := make(chan *job, pipelineDepth)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for c := range work {
				r.verifyChunk(c)
			}
		})
	}
	wg.Go(func() {
		defer close(work)
		defer close(ordered)
		for {
			select {
			case <-ctx.Done():
				return
			case m := <-r.queue:
				j := r.newJob(m)
				for lo := 0; lo < len(j.entries); lo += chunkLen {
					work <- chunk{j: j, lo: lo, hi: min(lo+chunkLen, len(j.entries))}
				}
				ordered <- j
			}
		}
	})
	r.log.Info("receiving", "workers", workers)
	r.write(context.WithoutCancel(ctx), ordered)
	wg.Wait()
	st := r.Stats()
	r.log.Info("stopped receiving", "batches", st.Batches, "stored", st.Stored, "duplicates", st.Duplicates, "held", st.Held)
	return nil
}

// write is the single writer: it applies verified batches in order, grouping those
// already verified into one transaction, and checks open gaps on a ticker.
func (r *Receiver) write(ctx context.Context, ordered <-chan *job) {
	tick := time.NewTicker(r.tick)
	defer tick.Stop()
	var next *job
	for {
		if next == nil {
			select {
			case j, ok := <-ordered:
				if !ok {
					return
				}
				next = j
			case <-tick.C:
				r.alarmGaps(ctx)
				continue
			}
		}
		<-next.done
		group, n := []*job{next}, len(next.entries)
		next = nil
	gather:
		for n < maxGroupEntries {
			select {
			case j, ok := <-ordered:
				if !ok {
					break gather
				}
				select {
				case <-j.done:
					group = append(group, j)
					n += len(j.entries)
				default:
					next = j
					break gather
				}
			default:
				break gather
			}
		}
		r.apply(ctx, group)
	}
}

// Heads returns the highest contiguous stored seq of every site the store knows, as
// this receiver last committed or read it: exact with a single receiver; with several
// sharing a store, StoredHeads reads the store.
func (r *Receiver) Heads() map[string]uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]uint64, len(r.heads))
	for s, q := range r.heads {
		out[s] = q
	}
	return out
}

// Stats returns a snapshot of the counters.
func (r *Receiver) Stats() Stats {
	s := Stats{
		Batches:    r.n.batches.Load(),
		Stored:     r.n.stored.Load(),
		Duplicates: r.n.dups.Load(),
		Held:       r.n.held.Load(),
		HeldNow:    r.n.heldNow.Load(),
		Gaps:       r.n.gaps.Load(),
		GapAlarms:  r.n.gapAlarms.Load(),
		Rejected:   make(map[Reason]uint64, len(r.n.rejected)),
	}
	for reason, c := range r.n.rejected {
		s.Rejected[reason] = c.Load()
	}
	return s
}

// StoredHeads reads every site's committed head from the store.
func (r *Receiver) StoredHeads(ctx context.Context) (map[string]uint64, error) {
	heads, err := r.st.readHeads(ctx)
	if err != nil {
		return nil, fmt.Errorf("central: %w", err)
	}
	out := make(map[string]uint64, len(heads))
	for site, h := range heads {
		out[site] = h.seq
	}
	return out, nil
}

// Alarms returns the recorded alarms of site (every site if site is ""), oldest first.
func (r *Receiver) Alarms(ctx context.Context, site string) ([]Alarm, error) {
	return r.st.queryAlarms(ctx, site)
}

// Close stops Run, waits for it to finish the batches in hand, and closes the store.
// Messages still queued are dropped unacknowledged.
func (r *Receiver) Close() error {
	r.stopOnce.Do(func() { close(r.stop) })
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	done := r.runDone
	r.mu.Unlock()
	if done != nil {
		<-done
	}
	if err := r.st.db.Close(); err != nil {
		return fmt.Errorf("central: close store: %w", err)
	}
	return nil
}
