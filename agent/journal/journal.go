// Package journal is the agent's durable, signed, hash-chained event log: every event
// the site emits is given the next seq, chained to the payload before it, signed as a
// DSSE envelope with the site key, and committed to SQLite (WAL, synchronous=FULL)
// before the caller is told it was accepted.
//
// One writer appends with group commit, pipelined: a sequencer goroutine takes pending
// appends in arrival order, drops repeated origins, assigns seqs and builds the
// payloads (each names the hash of the one before, so this part is sequential); a pool
// of signers signs them in parallel; a committer writes every waiting event (up to
// Options.MaxBatch) in one transaction and only then answers the callers. While one
// transaction commits, the next one's events are being built and signed, so Ed25519
// and SQLite overlap.
//
// Seqs start at 1 and never skip or repeat, across restarts and crashes: a seq is only
// ever built on a payload that is in the database or ahead of it in the pipeline, and
// if a commit fails the journal refuses every later append (ErrFailed) rather than
// hand out seqs chained to events that may not exist; the process is expected to
// restart, and Open recovers the chain head from the database.
//
// Reads (Read, and the writer's origin lookups) use a separate read-only pool, so WAL
// lets them run while the writer commits.
package journal

import (
	"context"
	"crypto/ed25519"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/apedge/apedge/formats/event"
	"github.com/apedge/apedge/formats/sitekey"
	"github.com/apedge/apedge/internal/sqlitedb"
)

// DefaultMaxBatch is the largest number of drafts committed in one transaction when
// Options.MaxBatch is zero.
const DefaultMaxBatch = 512

// ErrClosed is returned by calls made after Close.
var ErrClosed = errors.New("journal: closed")

// ErrFailed is returned, wrapping the cause, by every Append after a commit has failed.
// The journal cannot tell whether the failed batch reached the disk, so it hands out no
// further seqs; restart the process, and Open recovers the chain from the database.
var ErrFailed = errors.New("journal: a commit failed; restart to recover")

// Options configures Open.
type Options struct {
	// Path is the SQLite database file, created if missing.
	Path string
	// Key is the site signing key; its Site is the site code of every event.
	Key *sitekey.Private
	// Logger receives the journal's logs; nil means slog.Default().
	Logger *slog.Logger
	// MaxBatch is the largest number of drafts committed in one transaction; zero
	// means DefaultMaxBatch.
	MaxBatch int
	// Signers is the number of goroutines that sign in parallel; zero means
	// runtime.GOMAXPROCS(0).
	Signers int
}

// Record is the outcome of an Append: the journaled event.
type Record struct {
	// Seq is the event's place in the site's chain, from 1.
	Seq uint64
	// ID is the event id, "{site}-{seq}".
	ID string
	// Envelope is the signed DSSE envelope JSON, exactly as Read returns it (rebuilt
	// from the stored payload and signature). It must not be modified: duplicates of
	// its origin are copied from it.
	Envelope []byte
	// Hash is the SHA-256 of the payload: what the next event's prevhash names.
	Hash [32]byte
	// Duplicate is true when the draft's Origin had already been journaled: the Record
	// is then the earlier event's, and nothing new was written.
	Duplicate bool
}

// Entry is one journaled event as Read returns it.
type Entry struct {
	// Seq is the event's seq.
	Seq uint64
	// Envelope is the signed DSSE envelope JSON, byte for byte the one Append
	// returned.
	Envelope []byte
}

// Journal is a site's event log. Its methods are safe for concurrent use.
type Journal struct {
	log     *slog.Logger
	key     *sitekey.Private
	builder *event.Builder
	path    string
	keyRow  int64  // key's row in the keys table
	keys    keyIDs // every row of keys; only Open adds to it

	maxBatch int
	chunkMax int

	wdb     *sql.DB                // one connection: the writer's transactions and SetDelivered
	rdb     *sql.DB                // read-only pool: Read and origin lookups
	inserts [insertSizes]*sql.Stmt // on wdb: [k] inserts 1<<k rows
	w       writer                 // the committer's transaction state
	read    *sql.Stmt              // on rdb
	lookups []*sql.Stmt            // on rdb: [n-1] looks up n origins; prepared when first needed

	// mu guards closed and every send on reqs, so that Close can close reqs.
	mu     sync.RWMutex
	closed bool
	reqs   chan *request

	signQ  chan *chunk    // sequencer -> signers
	orderQ chan *chunk    // sequencer -> committer, in seq order
	free   chan *chunk    // committer -> sequencer, for reuse
	signWG sync.WaitGroup // the signers
	done   chan struct{}  // closed when the committer has exited

	// upstream counts the appends handed to the sequencer and not yet passed on to
	// the committer or answered: drafts on their way.
	upstream atomic.Int64
	nudge    chan struct{} // cap 1: upstream fell to 0 without a chunk for the committer

	last    atomic.Uint64 // highest durable seq
	stopped atomic.Bool   // Close has stopped the writer

	failed atomic.Pointer[error] // set once, by the first failed commit

	notifyMu sync.Mutex
	notify   chan struct{} // closed and replaced whenever last advances, on failure and on close

	// pending maps the origins of built but not yet committed events to their
	// requests. The sequencer adds a batch's origins; the committer removes them once
	// the batch is durable, before answering.
	pendMu  sync.Mutex
	pending map[string]*request

	delMu     sync.Mutex // serialises SetDelivered
	delivered atomic.Uint64

	closeOnce sync.Once
	closeErr  error

	gate chan struct{} // tests only: the sequencer waits for it to close before starting

	tree *merkle // the Merkle log's follower (merkle.go)
}

// Open opens, creating if needed, the journal database at o.Path, applies its
// migrations, and recovers the chain head: the last seq and its payload hash. It
// refuses a database whose seqs are not exactly 1..max, or whose last event does not
// match its stored hash or belongs to another site.
func Open(ctx context.Context, o Options) (*Journal, error) {
	return open(ctx, o, nil)
}

func open(ctx context.Context, o Options, gate chan struct{}) (_ *Journal, err error) {
	if o.Path == "" {
		return nil, errors.New("journal: no database path")
	}
	if o.Key == nil || len(o.Key.Key) != ed25519.PrivateKeySize {
		return nil, errors.New("journal: no Ed25519 site key")
	}
	if o.MaxBatch < 0 || o.Signers < 0 {
		return nil, fmt.Errorf("journal: MaxBatch %d and Signers %d must not be negative", o.MaxBatch, o.Signers)
	}
	if o.MaxBatch == 0 {
		o.MaxBatch = DefaultMaxBatch
	}
	if o.Signers == 0 {
		o.Signers = runtime.GOMAXPROCS(0)
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	b, err := event.NewBuilder(o.Key.Site)
	if err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	chunkMax := min(chunkMax, o.MaxBatch)
	// Queue about two transactions' worth of chunks between the stages.
	depth := max(4, 2*o.MaxBatch/chunkMax)
	j := &Journal{
		log:      o.Logger,
		key:      o.Key,
		builder:  b,
		path:     o.Path,
		maxBatch: o.MaxBatch,
		chunkMax: chunkMax,
		reqs:     make(chan *request, o.MaxBatch),
		signQ:    make(chan *chunk, depth),
		orderQ:   make(chan *chunk, depth),
		free:     make(chan *chunk, 2*depth),
		done:     make(chan struct{}),
		nudge:    make(chan struct{}, 1),
		notify:   make(chan struct{}),
		pending:  make(map[string]*request),
		lookups:  make([]*sql.Stmt, chunkMax),
		gate:     gate,
	}
	j.wdb, err = sqlitedb.Open(ctx, o.Path, migrations)
	if err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	defer func() {
		if err != nil {
			j.closeDBs()
		}
	}()
	// One connection: SQLite has one writer anyway, and database/sql then queues
	// SetDelivered behind the writer's transaction instead of spinning on SQLITE_BUSY.
	j.wdb.SetMaxOpenConns(1)
	last, hash, delivered, err := recoverHead(ctx, j.wdb, o.Key.Site)
	if err != nil {
		return nil, fmt.Errorf("journal: %s: %w", o.Path, err)
	}
	filter, err := loadOrigins(ctx, j.wdb)
	if err != nil {
		return nil, fmt.Errorf("journal: %s: %w", o.Path, err)
	}
	if j.keyRow, err = registerKey(ctx, j.wdb, o.Key.ID); err != nil {
		return nil, fmt.Errorf("journal: %s: %w", o.Path, err)
	}
	if j.keys, err = loadKeys(ctx, j.wdb); err != nil {
		return nil, fmt.Errorf("journal: %s: %w", o.Path, err)
	}
	j.rdb, err = sqlitedb.OpenReadOnly(ctx, o.Path)
	if err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	if err := j.prepare(ctx); err != nil {
		return nil, fmt.Errorf("journal: %s: %w", o.Path, err)
	}
	treeSize, edge, err := loadTree(ctx, j.wdb)
	if err != nil {
		return nil, fmt.Errorf("journal: %s: %w", o.Path, err)
	}
	if treeSize > last {
		return nil, fmt.Errorf("journal: %s: the Merkle tree holds %d entries but the journal only %d: database damaged", o.Path, treeSize, last)
	}
	j.last.Store(last)
	j.delivered.Store(delivered)
	j.w.j = j
	s := &sequencer{j: j, seq: last, prev: hash, filter: filter}
	go s.run()
	for range o.Signers {
		j.signWG.Add(1)
		go j.signLoop()
	}
	go j.commitLoop()
	j.startMerkle(treeSize, edge)
	j.log.Info("journal opened", "path", o.Path, "site", o.Key.Site, "last", last, "delivered", delivered)
	return j, nil
}

// Append journals d as the site's next event and returns its Record once the
// transaction holding it is durable. If d.Origin was journaled before, it returns that
// earlier Record with Duplicate set and writes nothing. A draft that event.Builder
// rejects, or whose ctx ends before it is given a seq, is refused without using a seq.
// Once a draft has been given a seq, Append waits for the commit whatever ctx does, so
// an error never hides an event that was journaled (except ErrFailed, after which the
// database is the truth).
func (j *Journal) Append(ctx context.Context, d *event.Draft) (Record, error) {
	if d == nil {
		return Record{}, errors.New("journal: append: nil draft")
	}
	if err := j.failure(); err != nil {
		return Record{}, err
	}
	r := &request{ctx: ctx, d: d}
	r.done.Add(1)
	j.mu.RLock()
	if j.closed {
		j.mu.RUnlock()
		return Record{}, ErrClosed
	}
	j.upstream.Add(1)
	select {
	case j.reqs <- r:
	case <-ctx.Done():
		j.leave()
		j.mu.RUnlock()
		return Record{}, fmt.Errorf("journal: append: %w", ctx.Err())
	}
	j.mu.RUnlock()
	r.done.Wait()
	if r.err != nil {
		return Record{}, r.err
	}
	// r.rec is shared with later duplicates of r's origin: give the caller a copy.
	rec := r.rec
	rec.ID = event.ID(j.builder.Site, rec.Seq)
	return rec, nil
}

// Last returns the highest durable seq, 0 if the journal is empty.
func (j *Journal) Last() uint64 { return j.last.Load() }

// Wait blocks until Last() > after and returns Last(). It returns early with an error
// when ctx ends, when the journal is closed (ErrClosed) and after a failed commit
// (ErrFailed).
func (j *Journal) Wait(ctx context.Context, after uint64) (uint64, error) {
	for {
		j.notifyMu.Lock()
		ch := j.notify
		j.notifyMu.Unlock()
		if l := j.last.Load(); l > after {
			return l, nil
		}
		if err := j.failure(); err != nil {
			return j.last.Load(), err
		}
		if j.stopped.Load() {
			return j.last.Load(), ErrClosed
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return j.last.Load(), fmt.Errorf("journal: wait: %w", ctx.Err())
		}
	}
}

// Read returns consecutive entries from seq from (1 if from is 0): at most maxN of
// them, stopping before the total envelope size would exceed maxBytes, but always at
// least one if any exist. maxN must be at least 1; maxBytes <= 0 means no byte limit.
// It returns no entries, and no error, when from is past the end.
func (j *Journal) Read(ctx context.Context, from uint64, maxN, maxBytes int) ([]Entry, error) {
	if maxN < 1 {
		return nil, fmt.Errorf("journal: read: maxN %d, want at least 1", maxN)
	}
	if from == 0 {
		from = 1
	}
	if j.stopped.Load() {
		return nil, ErrClosed
	}
	rows, err := j.read.QueryContext(ctx, int64(from), maxN)
	if err != nil {
		return nil, fmt.Errorf("journal: read from %d: %w", from, err)
	}
	defer rows.Close()
	var out []Entry
	total := 0
	for rows.Next() {
		var seq, key int64
		var payload, sig sql.RawBytes
		if err := rows.Scan(&seq, &payload, &sig, &key); err != nil {
			return nil, fmt.Errorf("journal: read from %d: %w", from, err)
		}
		if want := from + uint64(len(out)); uint64(seq) != want {
			return nil, fmt.Errorf("journal: read from %d: found seq %d where %d belongs: database damaged", from, seq, want)
		}
		env, err := j.keys.envelope(uint64(seq), payload, sig, key)
		if err != nil {
			return nil, fmt.Errorf("journal: read from %d: %w", from, err)
		}
		if maxBytes > 0 && len(out) > 0 && total+len(env) > maxBytes {
			break
		}
		total += len(env)
		out = append(out, Entry{Seq: uint64(seq), Envelope: env})
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("journal: read from %d: %w", from, err)
	}
	return out, nil
}

// Delivered returns the delivery cursor: the highest seq central has acknowledged.
func (j *Journal) Delivered() uint64 { return j.delivered.Load() }

// SetDelivered moves the delivery cursor forward to seq and persists it. A seq at or
// below Delivered() is ignored, so acks may arrive late or twice; a seq past Last() is
// an error, since central cannot have stored what the site has not journaled.
func (j *Journal) SetDelivered(ctx context.Context, seq uint64) error {
	j.delMu.Lock()
	defer j.delMu.Unlock()
	if j.stopped.Load() {
		return ErrClosed
	}
	if seq <= j.delivered.Load() {
		return nil
	}
	if last := j.last.Load(); seq > last {
		return fmt.Errorf("journal: set delivered %d: past the last journaled seq %d", seq, last)
	}
	if _, err := j.wdb.ExecContext(ctx, `UPDATE delivery SET delivered = ?1 WHERE id = 1 AND delivered < ?1`, int64(seq)); err != nil {
		return fmt.Errorf("journal: set delivered %d: %w", seq, err)
	}
	j.delivered.Store(seq)
	return nil
}

// Close stops accepting appends, lets the writer finish every append already queued,
// and closes the database. It is idempotent: later calls return the first call's
// result.
func (j *Journal) Close() error {
	j.closeOnce.Do(func() {
		j.mu.Lock()
		j.closed = true
		close(j.reqs)
		j.mu.Unlock()
		<-j.done
		j.signWG.Wait()
		j.stopMerkle()
		j.delMu.Lock()
		j.stopped.Store(true)
		j.delMu.Unlock()
		j.wake()
		j.closeErr = j.closeDBs()
		j.log.Info("journal closed", "path", j.path, "last", j.last.Load(), "delivered", j.delivered.Load())
	})
	return j.closeErr
}

func (j *Journal) closeDBs() error {
	var errs []error
	stmts := append([]*sql.Stmt{j.read}, j.lookups...)
	for _, s := range append(stmts, j.inserts[:]...) {
		if s != nil {
			errs = append(errs, s.Close())
		}
	}
	for _, db := range []*sql.DB{j.rdb, j.wdb} {
		if db != nil {
			errs = append(errs, db.Close())
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("journal: close: %w", err)
	}
	return nil
}

// failure returns the error every append gets after a failed commit, or nil.
func (j *Journal) failure() error {
	if p := j.failed.Load(); p != nil {
		return *p
	}
	return nil
}

// fail records the first commit failure and wakes Wait callers.
func (j *Journal) fail(err error) {
	f := fmt.Errorf("%w: %w", ErrFailed, err)
	if j.failed.CompareAndSwap(nil, &f) {
		j.log.Error("journal commit failed; refusing further appends until restart", "path", j.path, "last", j.last.Load(), "err", err)
		j.wake()
	}
}

// notifyCh returns a channel closed at the next advance of Last (or failure, or close).
func (j *Journal) notifyCh() <-chan struct{} {
	j.notifyMu.Lock()
	defer j.notifyMu.Unlock()
	return j.notify
}

// wake releases every Wait call to look at the journal's state again.
func (j *Journal) wake() {
	j.notifyMu.Lock()
	close(j.notify)
	j.notify = make(chan struct{})
	j.notifyMu.Unlock()
}
