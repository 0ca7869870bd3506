package journal

import (
	"context"
	"crypto/ed25519"
	"database/sql"
	"fmt"
	"math/bits"
	"sync"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/apedge/apedge/formats/event"
)

// The writer is three kinds of goroutine joined by channels:
//
//	Append ──reqs──► sequencer ──signQ──► signers (Options.Signers of them)
//	                     │                     │ chunk.signed
//	                     └──────orderQ──────► committer ──► answers, Last, Wait
//
// The sequencer takes requests in arrival order, a chunk at a time, drops repeated
// origins, assigns seqs and builds the payloads, each naming the hash of the one
// before (cheap, and necessarily sequential). Each chunk goes to whichever signer is
// free and, in order, to the committer. The committer takes every chunk that is
// waiting (up to MaxBatch drafts), inserts their rows in one transaction as their
// signatures arrive, commits, and answers their callers. So while one transaction
// commits, the next one's envelopes are being built and signed on every core.

// request is one Append on its way through the writer.
type request struct {
	ctx  context.Context
	d    *event.Draft
	done sync.WaitGroup // done once rec (but for its ID) or err is final

	payload []byte    // built payload
	sig     []byte    // its signature, once signed
	leaf    tlog.Hash // its Merkle leaf hash, computed with the signature
	dupOf   *request  // an earlier, built request with the same origin
	rec     Record
	err     error
}

// chunk is the unit of work between the writer's stages.
type chunk struct {
	// reqs are the requests the committer answers once the chunk is durable: its rows
	// and the duplicates of origins still in the pipeline, in arrival order.
	reqs []*request
	// rows are the requests given a seq, in seq order.
	rows []*request
	// signed receives once every row has its envelope.
	signed chan struct{}
	// isSigned is the committer's note that it has received from signed.
	isSigned bool
}

// chunkMax is the most drafts in one chunk: small enough that the signers share a
// burst evenly and the committer rarely waits on a half-signed chunk, large enough
// that channel traffic per draft is small.
const chunkMax = 8

// minCommitRows is the transaction size (or MaxBatch, if smaller) below which the
// committer waits for more drafts if any are on their way. A commit costs about as
// much CPU as a dozen rows (WAL frames, fsync, checkpoint), so under load a few
// bigger transactions beat many small ones; with nothing on the way it never waits.
const minCommitRows = 64

// newChunk returns an empty chunk, reusing one the committer has finished with.
func (j *Journal) newChunk() *chunk {
	select {
	case c := <-j.free:
		return c
	default:
		return &chunk{
			reqs:   make([]*request, 0, j.chunkMax),
			rows:   make([]*request, 0, j.chunkMax),
			signed: make(chan struct{}, 1),
		}
	}
}

// recycle hands c back for reuse, dropping its references.
func (j *Journal) recycle(c *chunk) {
	clear(c.reqs)
	clear(c.rows)
	c.reqs, c.rows = c.reqs[:0], c.rows[:0]
	c.isSigned = false
	select {
	case j.free <- c:
	default:
	}
}

// answer tells r's caller its outcome is final.
func answer(r *request) { r.done.Done() }

// answerNow answers r from the sequencer, which takes it out of the pipeline.
func (j *Journal) answerNow(r *request) {
	j.leave()
	answer(r)
}

// leave takes one draft out of upstream without passing it to the committer, and
// nudges the committer if it was the last, in case it is waiting for more.
func (j *Journal) leave() {
	if j.upstream.Add(-1) == 0 {
		select {
		case j.nudge <- struct{}{}:
		default:
		}
	}
}

// sequencer is the writer's first stage: it owns the chain head (seq, prev).
type sequencer struct {
	j    *Journal
	seq  uint64   // last seq handed out
	prev [32]byte // hash of its payload

	// filter holds every origin journaled or in the pipeline.
	filter *originFilter

	// scratch, reused from one chunk to the next
	in      []*request
	hits    map[string]*request // origin -> built request (pending, or earlier in this chunk)
	found   map[string]Record   // origin -> earlier record found in the database
	seen    map[string]struct{}
	unknown []string
	args    []any
}

// run turns requests into chunks until Close closes reqs, then closes the queues
// behind it.
func (s *sequencer) run() {
	j := s.j
	defer close(j.orderQ)
	defer close(j.signQ)
	if j.gate != nil {
		<-j.gate
	}
	s.hits = make(map[string]*request)
	s.found = make(map[string]Record)
	s.seen = make(map[string]struct{})
	for {
		r, ok := <-j.reqs
		if !ok {
			return
		}
		s.in = append(s.in[:0], r)
	drain:
		for len(s.in) < j.chunkMax {
			select {
			case r, ok := <-j.reqs:
				if !ok {
					break drain // the next receive returns !ok too
				}
				s.in = append(s.in, r)
			default:
				break drain
			}
		}
		if err := j.failure(); err != nil {
			// Build nothing on a chain that may have lost its head.
			for _, r := range s.in {
				r.err = err
				j.answerNow(r)
			}
			continue
		}
		c := j.newChunk()
		s.process(c)
		clear(s.in)
		if len(c.reqs) == 0 {
			j.recycle(c)
			continue
		}
		if len(c.rows) > 0 {
			j.signQ <- c
		} else {
			c.signed <- struct{}{}
		}
		j.orderQ <- c
	}
}

// process dedupes and builds s.in into c. Requests refused, or found to repeat an
// origin already in the database, are answered at once.
func (s *sequencer) process(c *chunk) {
	j := s.j
	clear(s.hits)
	clear(s.found)
	clear(s.seen)
	s.unknown = s.unknown[:0]

	// Origins pending in the pipeline are known here. Of the rest, those the filter
	// has never seen are new, and the others are looked up in the database in one go.
	// An origin the committer removes from pending after this check is already
	// committed, so the lookup that follows sees it.
	hasOrigin := false
	for _, r := range s.in {
		if r.d.Origin != "" {
			hasOrigin = true
			break
		}
	}
	var lookupErr error
	if hasOrigin {
		j.pendMu.Lock()
		for _, r := range s.in {
			o := r.d.Origin
			if o == "" {
				continue
			}
			if p := j.pending[o]; p != nil {
				s.hits[o] = p
			} else if _, ok := s.seen[o]; !ok && s.filter.MayContain(o) {
				s.seen[o] = struct{}{}
				s.unknown = append(s.unknown, o)
			}
		}
		j.pendMu.Unlock()
		lookupErr = s.lookup(s.unknown)
	}

	for _, r := range s.in {
		if err := r.ctx.Err(); err != nil {
			r.err = fmt.Errorf("journal: append: %w", err)
			j.answerNow(r)
			continue
		}
		o := r.d.Origin
		if o != "" {
			if p := s.hits[o]; p != nil {
				r.dupOf = p // answered once p is durable
				c.reqs = append(c.reqs, r)
				continue
			}
			if rec, ok := s.found[o]; ok {
				r.rec = rec
				j.answerNow(r)
				continue
			}
			if lookupErr != nil {
				r.err = lookupErr
				j.answerNow(r)
				continue
			}
		}
		next := s.seq + 1
		payload, err := j.builder.Build(next, s.prev, r.d)
		if err != nil {
			r.err = fmt.Errorf("journal: append: %w", err)
			j.answerNow(r)
			continue
		}
		h := event.Hash(payload)
		r.payload = payload
		r.rec = Record{Seq: next, Hash: h}
		s.seq, s.prev = next, h
		if o != "" {
			s.hits[o] = r
			s.filter.Add(o)
		}
		c.reqs = append(c.reqs, r)
		c.rows = append(c.rows, r)
	}

	if hasOrigin {
		j.pendMu.Lock()
		for _, r := range c.rows {
			if o := r.d.Origin; o != "" {
				j.pending[o] = r
			}
		}
		j.pendMu.Unlock()
	}
}

// lookup finds which of origins (at most chunkMax of them) are already in the
// database, filling s.found.
func (s *sequencer) lookup(origins []string) error {
	if len(origins) == 0 {
		return nil
	}
	stmt, err := s.j.lookupStmt(len(origins))
	if err != nil {
		return fmt.Errorf("journal: append: look up origins: %w", err)
	}
	s.args = s.args[:0]
	for _, o := range origins {
		s.args = append(s.args, o)
	}
	// context.Background: a cancellable context costs the driver a goroutine per
	// statement.
	err = s.lookupRows(stmt.QueryContext(context.Background(), s.args...))
	clear(s.args)
	if err != nil {
		return fmt.Errorf("journal: append: look up origins: %w", err)
	}
	return nil
}

func (s *sequencer) lookupRows(rows *sql.Rows, err error) error {
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var o string
		var seq, key int64
		var payload, sig, h sql.RawBytes
		if err := rows.Scan(&o, &seq, &payload, &sig, &key, &h); err != nil {
			return err
		}
		env, err := s.j.keys.envelope(uint64(seq), payload, sig, key)
		if err != nil {
			return err
		}
		rec := Record{Seq: uint64(seq), Envelope: env, Duplicate: true}
		copy(rec.Hash[:], h)
		s.found[o] = rec
	}
	return rows.Err()
}

// signLoop is one signer: it signs whole chunks.
func (j *Journal) signLoop() {
	defer j.signWG.Done()
	var pae []byte
	for c := range j.signQ {
		for _, r := range c.rows {
			pae = appendPAE(pae[:0], r.payload)
			r.sig = ed25519.Sign(j.key.Key, pae)
			r.rec.Envelope = encodeEnvelope(j.key.ID, r.payload, r.sig)
			r.leaf = tlog.RecordHash(r.payload)
		}
		c.signed <- struct{}{}
	}
}

// commitLoop is the writer's last stage: it commits every waiting chunk (up to
// MaxBatch drafts) in one transaction, then publishes the new Last and answers.
func (j *Journal) commitLoop() {
	defer close(j.done)
	var (
		queue []*chunk // received from orderQ, not yet committed, in order
		rows  []*request
		open  bool
	)
	for {
		if queue, open = j.gather(queue); !open {
			return
		}
		var chunks []*chunk
		chunks, rows = j.takeBatch(queue, rows[:0])
		j.commit(chunks, rows)
		clear(rows)
		queue = queue[:copy(queue, queue[len(chunks):])]
		clear(queue[len(queue):cap(queue)])
	}
}

// gather adds to queue what the sequencer has ordered and, while that would make a
// small transaction and more drafts are on their way through the sequencer and
// signers, waits for them (minCommitRows). It reports false once the sequencer has
// closed and nothing is left to commit.
func (j *Journal) gather(queue []*chunk) ([]*chunk, bool) {
	queued := 0 // rows in queue
	for _, c := range queue {
		queued += len(c.rows)
	}
	add := func(c *chunk) {
		queue = append(queue, c)
		queued += len(c.rows)
		j.upstream.Add(-int64(len(c.reqs)))
	}
	for {
	drain:
		for {
			select {
			case c, ok := <-j.orderQ:
				if !ok {
					break drain
				}
				add(c)
			default:
				break drain
			}
		}
		if len(queue) > 0 && (queued >= min(minCommitRows, j.maxBatch) || j.upstream.Load() == 0) {
			return queue, true
		}
		select {
		case c, ok := <-j.orderQ:
			if !ok {
				return queue, len(queue) > 0
			}
			add(c)
		case <-j.nudge:
			// The sequencer answered the last drafts on their way itself.
		}
	}
}

// takeBatch takes the oldest chunks of queue, up to MaxBatch drafts, and appends their
// rows to rows. The rows are inserted as their signatures arrive, so the transaction's
// work overlaps the signing.
func (j *Journal) takeBatch(queue []*chunk, rows []*request) ([]*chunk, []*request) {
	take, n := 0, 0
	for _, c := range queue {
		if take > 0 && n+len(c.reqs) > j.maxBatch {
			break
		}
		take++
		n += len(c.reqs)
		rows = append(rows, c.rows...)
	}
	return queue[:take], rows
}

// commit writes chunks' rows in one transaction, publishes the new Last and the
// tree's new leaves, and answers every request of chunks: with its record, its
// original's for a duplicate, or the journal's failure.
func (j *Journal) commit(chunks []*chunk, rows []*request) {
	err := j.failure()
	if err == nil && len(rows) > 0 {
		if werr := j.write(chunks, len(rows)); werr != nil {
			j.fail(werr)
			err = j.failure()
		}
	}
	for _, c := range chunks {
		// Never hand back a chunk a signer may still be writing to; after write
		// this is already done.
		if !c.isSigned {
			<-c.signed
		}
	}
	j.pendMu.Lock()
	for _, r := range rows {
		if o := r.d.Origin; o != "" && j.pending[o] == r {
			delete(j.pending, o)
		}
	}
	j.pendMu.Unlock()
	if err == nil && len(rows) > 0 {
		j.tree.offer(rows)
		j.last.Store(rows[len(rows)-1].rec.Seq)
		j.wake()
	}
	for _, c := range chunks {
		for _, r := range c.reqs {
			switch {
			case err != nil:
				r.err, r.rec = err, Record{}
			case r.dupOf != nil:
				r.rec = r.dupOf.rec
				r.rec.Envelope = append([]byte(nil), r.rec.Envelope...)
				r.rec.Duplicate = true
			}
			answer(r)
		}
		j.recycle(c)
	}
}

// write commits the rows of chunks, nrows of them, in one transaction. It inserts
// each run of signed rows while later chunks are still being signed, with multi-row
// INSERTs of power-of-two sizes.
func (j *Journal) write(chunks []*chunk, nrows int) (err error) {
	// context.Background: a cancellable context would make database/sql and the
	// driver watch it with a goroutine per statement.
	ctx := context.Background()
	tx, err := j.wdb.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("journal: begin: %w", err)
	}
	w := &j.w
	w.tx = tx
	defer func() {
		if err != nil {
			tx.Rollback()
		}
		clear(w.stmts[:])
		clear(w.args)
		clear(w.rows)
		w.tx, w.rows = nil, w.rows[:0]
	}()
	var first, last uint64
	for _, c := range chunks {
		if len(c.rows) == 0 {
			<-c.signed
			c.isSigned = true
			continue
		}
		if first == 0 {
			first = c.rows[0].rec.Seq
		}
		last = c.rows[len(c.rows)-1].rec.Seq
		select {
		case <-c.signed:
		default:
			// Insert what is signed while this chunk is being signed.
			if err := w.flush(ctx); err != nil {
				return err
			}
			<-c.signed
		}
		c.isSigned = true
		w.rows = append(w.rows, c.rows...)
	}
	if err := w.flush(ctx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("journal: commit seqs %d-%d (%d rows): %w", first, last, nrows, err)
	}
	return nil
}

// writer is the committer's state within one transaction.
type writer struct {
	j     *Journal
	tx    *sql.Tx
	stmts [insertSizes]*sql.Stmt // the transaction's INSERT statements, by log2 of rows
	rows  []*request             // signed, not yet inserted
	args  []any
}

// flush inserts w.rows.
func (w *writer) flush(ctx context.Context) error {
	rows := w.rows
	for len(rows) > 0 {
		k := bits.Len(uint(min(len(rows), maxInsertRows))) - 1
		n := 1 << k
		if w.stmts[k] == nil {
			w.stmts[k] = w.tx.StmtContext(ctx, w.j.inserts[k])
		}
		w.args = w.args[:0]
		for _, r := range rows[:n] {
			w.args = w.j.appendRow(w.args, r)
		}
		if _, err := w.stmts[k].ExecContext(ctx, w.args...); err != nil {
			return fmt.Errorf("journal: insert seqs %d-%d: %w", rows[0].rec.Seq, rows[n-1].rec.Seq, err)
		}
		rows = rows[n:]
	}
	clear(w.rows)
	w.rows = w.rows[:0]
	return nil
}

// appendRow appends r's INSERT arguments, in entries column order.
func (j *Journal) appendRow(args []any, r *request) []any {
	var origin any
	if r.d.Origin != "" {
		origin = r.d.Origin
	}
	return append(args, int64(r.rec.Seq), origin, r.payload, r.sig, j.keyRow, r.rec.Hash[:])
}
