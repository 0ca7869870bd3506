package central

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/apedge/apedge/formats/event"
)

// The writer applies verified batches to the store, one transaction per group of
// batches (apply, applyFree). A transaction:
//
//  1. locks the heads rows of the group's sites that no other receiver is writing
//     (lockFree: SELECT ... FOR UPDATE SKIP LOCKED, in site order; if all are busy it
//     waits for the first; the batches of sites it did not lock go to the next
//     transaction) and reads each head, its held count and its open gap: what another
//     receiver committed is seen here;
//  2. applies each envelope in batch order (accept): a duplicate, a conflict, the next
//     in the chain (store, then release the held envelopes that now follow), or one
//     beyond a gap (hold: into the held table, so that whichever receiver fills the
//     gap releases it);
//  3. records the alarms of gaps now due, writes the heads back, records the alarms,
//     and commits;
//  4. only then acknowledges each site's committed head (committed).
//
// Every event stored goes through txn.store, in seq order, inside the transaction: the
// place for per-event work that must commit with the event. Rows are written in
// multi-row INSERTs (txn.flush) before anything in the transaction reads them back and
// before the commit, and held envelopes are moved to events inside the database, so
// that a PostgreSQL store costs a few round trips per batch rather than one per event.

// siteState is one site's chain as a transaction sees it: read from the site's locked
// heads row when the transaction starts, written back when it commits.
type siteState struct {
	site string
	head uint64   // highest contiguous stored seq (0: nothing stored)
	hash [32]byte // payload hash of head (event.GenesisHash for 0)
	held int64    // envelopes held in the store after a gap
	// lowHeld is the lowest held seq when known (0: unknown, or nothing held).
	lowHeld uint64
	gap     *gapState
	// dirty: the row must be written back; ack: acknowledge head after the commit.
	dirty, ack bool
	// cand are the seqs of the site's verified envelopes in the transaction's group.
	// Once loaded (load), stored and heldHash hold the payload hashes of those stored
	// and held, kept up to date by the transaction: duplicates and conflicts are found
	// with one query per site, not one per envelope.
	cand             []uint64
	loaded           bool
	stored, heldHash map[uint64][32]byte
	// tree is the site's Merkle tree, read when the transaction first stores an event
	// of the site (merkle.go).
	tree *siteTree
}

// gapState is the open gap of a site: the seqs after its head that are missing while
// later ones are held. It stays the same gap until the head passes it.
type gapState struct {
	since   time.Time // when detected
	alarmed bool
}

// txn is the writer's work in one store transaction.
type txn struct {
	r     *Receiver
	s     *store
	ctx   context.Context
	tx    *sql.Tx
	stmts map[string]*sql.Stmt // prepared in this transaction, by query (SQLite)
	sites map[string]*siteState
	order []*siteState // the locked sites, in lock (site) order
	// events and held are rows stored or held but not yet written (flush).
	events, held []row
	// alarms to record with the commit.
	alarms []Alarm
	// tlogRows and checkpoints are Merkle tree hashes and verified checkpoints not yet
	// written (merkle.go).
	tlogRows    []tlogRow
	checkpoints []checkpointRow

	stored, dups, nHeld, gaps, gapAlarms uint64
}

func (r *Receiver) begin(ctx context.Context) (*txn, error) {
	tx, err := r.st.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("begin: %w", err)
	}
	return &txn{r: r, s: r.st, ctx: ctx, tx: tx, stmts: map[string]*sql.Stmt{}, sites: map[string]*siteState{}}, nil
}

// row is an event or held envelope waiting to be written.
type row struct {
	site string
	e    *entry
}

// stmt returns query prepared in the transaction, in the store's dialect, or nil where
// the driver prepares and caches statements itself (pgx).
func (t *txn) stmt(query string) (*sql.Stmt, error) {
	if !t.s.d.prepare {
		return nil, nil
	}
	if s, ok := t.stmts[query]; ok {
		return s, nil
	}
	s, err := t.tx.PrepareContext(t.ctx, t.s.q(query))
	if err != nil {
		return nil, fmt.Errorf("prepare: %w", err)
	}
	t.stmts[query] = s
	return s, nil
}

func (t *txn) exec(query string, args ...any) error {
	s, err := t.stmt(query)
	switch {
	case err != nil:
		return err
	case s == nil:
		_, err = t.tx.ExecContext(t.ctx, t.s.q(query), args...)
	default:
		_, err = s.ExecContext(t.ctx, args...)
	}
	return err
}

func (t *txn) query(query string, args ...any) (*sql.Rows, error) {
	s, err := t.stmt(query)
	switch {
	case err != nil:
		return nil, err
	case s == nil:
		return t.tx.QueryContext(t.ctx, t.s.q(query), args...)
	}
	return s.QueryContext(t.ctx, args...)
}

func (t *txn) queryRow(query string, args ...any) *sql.Row {
	s, err := t.stmt(query)
	if err != nil || s == nil {
		// Unprepared (or a Row carrying the prepare error: sql.Row has no
		// constructor, so the query is sent as is).
		return t.tx.QueryRowContext(t.ctx, t.s.q(query), args...)
	}
	return s.QueryRowContext(t.ctx, args...)
}

// insertChunk is the most rows one INSERT writes.
const insertChunk = 64

// flush writes the events and held envelopes not yet written, in multi-row INSERTs.
func (t *txn) flush() error {
	if err := t.flushRows(&t.events, sqlInsertEvents, func(r row) []any {
		e := r.e
		return []any{r.site, int64(e.seq), e.id, e.source, e.hash[:], e.raw, timeKey(e.at),
			e.f.typ, e.f.occurred, nullable(e.f.crn), nullable(e.f.noms)}
	}); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	if err := t.flushRows(&t.held, sqlInsertHelds, func(r row) []any {
		e := r.e
		return []any{r.site, int64(e.seq), e.id, e.source, e.hash[:], e.prev[:], e.raw, timeKey(e.at),
			e.f.typ, e.f.occurred, nullable(e.f.crn), nullable(e.f.noms)}
	}); err != nil {
		return fmt.Errorf("hold: %w", err)
	}
	return t.flushTree()
}

func (t *txn) flushRows(rows *[]row, insert string, values func(row) []any) error {
	for len(*rows) > 0 {
		chunk := (*rows)[:min(len(*rows), insertChunk)]
		var args []any
		for _, r := range chunk {
			args = append(args, values(r)...)
		}
		if err := t.exec(valuesSQL(insert, len(args)/len(chunk), len(chunk)), args...); err != nil {
			return fmt.Errorf("%s..%s: %w", chunk[0].e.id, chunk[len(chunk)-1].e.id, err)
		}
		*rows = (*rows)[len(chunk):]
	}
	return nil
}

// valuesSQL completes an INSERT ... VALUES with n rows of cols placeholders.
func valuesSQL(insert string, cols, n int) string {
	var b strings.Builder
	b.Grow(len(insert) + n*(2*cols+3))
	b.WriteString(insert)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('(')
		for c := range cols {
			if c > 0 {
				b.WriteByte(',')
			}
			b.WriteByte('?')
		}
		b.WriteByte(')')
	}
	return b.String()
}

func (t *txn) rollback() {
	for _, s := range t.stmts {
		s.Close()
	}
	t.tx.Rollback()
}

// lock locks and reads the heads rows of sites (sorted, without repeats), waiting for
// any another receiver holds, and creating those of sites never seen.
func (t *txn) lock(sites []string) error {
	lock := sqlLockHead + t.s.d.forUpdate
	for _, site := range sites {
		st, err := t.readHead(lock, site)
		if errors.Is(err, sql.ErrNoRows) {
			// A site's first envelope: make its row, then lock it (another receiver may
			// have made it meanwhile; then this waits for that one's commit).
			if err = t.exec(sqlCreateHead, site, event.GenesisHash[:], timeKey(t.r.o.Clock.Now())); err != nil {
				return fmt.Errorf("create head of %s: %w", site, err)
			}
			st, err = t.readHead(lock, site)
		}
		if err != nil {
			return fmt.Errorf("lock head of %s: %w", site, err)
		}
		t.locked(st)
	}
	return nil
}

func (t *txn) locked(st *siteState) {
	t.sites[st.site] = st
	t.order = append(t.order, st)
}

// lockFree locks and reads the heads rows of those of sites (sorted, without repeats)
// that no other transaction holds, without waiting; the others are left for a later
// transaction, so that receivers sharing a store work on different sites at once
// rather than queue behind each other. If every site is held elsewhere (or new), it
// waits for the first. SQLite's write transaction excludes every other writer: there,
// every site is free.
func (t *txn) lockFree(sites []string) error {
	if t.s.d.skipLocked == "" || len(sites) < 2 {
		return t.lock(sites)
	}
	var b strings.Builder
	b.WriteString(`SELECT site, seq, hash, held, gap_since, gap_alarmed FROM heads WHERE site IN (`)
	args := make([]any, len(sites))
	for i, site := range sites {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('?')
		args[i] = site
	}
	b.WriteString(`) ORDER BY site` + t.s.d.skipLocked)
	rows, err := t.query(b.String(), args...)
	if err != nil {
		return fmt.Errorf("lock heads: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var site string
		st, err := scanHead(rows.Scan, &site)
		if err != nil {
			return fmt.Errorf("lock heads: %w", err)
		}
		st.site = site
		t.locked(st)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("lock heads: %w", err)
	}
	if len(t.order) > 0 {
		return nil
	}
	return t.lock(sites[:1])
}

func (t *txn) readHead(query, site string) (*siteState, error) {
	st, err := scanHead(t.queryRow(query, site).Scan)
	if err != nil {
		return nil, err
	}
	st.site = site
	return st, nil
}

// scanHead reads a heads row's seq, hash, held, gap_since and gap_alarmed, after the
// columns in before.
func scanHead(scan func(...any) error, before ...any) (*siteState, error) {
	var (
		seq, held, alarmed int64
		hash               []byte
		since              sql.NullString
	)
	if err := scan(append(before, &seq, &hash, &held, &since, &alarmed)...); err != nil {
		return nil, err
	}
	if seq < 0 || len(hash) != 32 || held < 0 {
		return nil, fmt.Errorf("bad head (seq %d, %d-byte hash, %d held)", seq, len(hash), held)
	}
	st := &siteState{head: uint64(seq), held: held}
	copy(st.hash[:], hash)
	if since.Valid {
		at, err := parseTimeKey(since.String)
		if err != nil {
			return nil, fmt.Errorf("gap_since: %w", err)
		}
		st.gap = &gapState{since: at, alarmed: alarmed != 0}
	}
	return st, nil
}

// sitesOf returns the sites with a verified envelope in group, sorted.
func sitesOf(group []*job) []string {
	var sites []string
	for _, j := range group {
		if needsLock(j) {
			sites = append(sites, j.site)
		}
	}
	slices.Sort(sites)
	return slices.Compact(sites)
}

// needsLock reports whether j has a verified envelope, to apply with its site locked.
func needsLock(j *job) bool {
	if j.refusal != nil || j.site == "" {
		return false
	}
	for i := range j.entries {
		if j.entries[i].reason == "" {
			return true
		}
	}
	return false
}

// apply stores a group of checked batches and acknowledges them: in one transaction,
// or, when receivers sharing the store hold some of its sites, in one per set of sites
// free at the time, each site's batches in order.
func (r *Receiver) apply(ctx context.Context, group []*job) {
	for len(group) > 0 {
		group = r.applyFree(ctx, group)
	}
}

// applyFree applies, in one transaction, the batches of group whose sites it could
// lock (see lockFree) and those that need no lock (refused whole or in full), and
// returns the others in order.
func (r *Receiver) applyFree(ctx context.Context, group []*job) (later []*job) {
	t, err := r.begin(ctx)
	if err == nil {
		if err = t.lockFree(sitesOf(group)); err != nil {
			t.rollback()
		}
	}
	if err == nil {
		now := group[:0:0]
		for _, j := range group {
			switch st, need := t.sites[j.site], needsLock(j); {
			case need && st == nil:
				later = append(later, j)
				continue
			case need:
				for i := range j.entries {
					if e := &j.entries[i]; e.reason == "" {
						st.cand = append(st.cand, e.seq)
					}
				}
			}
			now = append(now, j)
		}
		group = now
	}
	if err != nil {
		// Still count and log what the workers refused; without a transaction the
		// alarms cannot be recorded.
		for _, j := range group {
			if j.refusal != nil {
				r.n.rejected[j.refusal.reason].Add(1)
				r.log.Warn("refused (alarm not recorded: store unavailable)", "site", j.site, "reason", string(j.refusal.reason), "detail", j.refusal.detail)
			}
			for i := range j.entries {
				if e := &j.entries[i]; e.reason != "" {
					r.n.rejected[e.reason].Add(1)
					r.log.Warn("refused (alarm not recorded: store unavailable)", "site", j.site, "seq", e.seq, "id", e.id, "reason", string(e.reason), "detail", e.detail)
				}
			}
		}
		r.storeFailed(ctx, nil, err, group)
		return nil
	}
	var failed error
	for _, j := range group {
		r.n.batches.Add(1)
		if j.refusal != nil {
			t.refuse(j.site, j.refusal)
			continue
		}
		for i := range j.entries {
			e := &j.entries[i]
			switch {
			case e.reason != "":
				// Refusals the workers decided are recorded even after a failure.
				t.refuse(j.site, e)
			case failed == nil:
				failed = t.accept(j.site, e)
			}
		}
	}
	if failed == nil {
		failed = t.alarmGaps()
	}
	if failed == nil {
		failed = t.commit()
	}
	if failed != nil {
		r.storeFailed(ctx, t, failed, group)
		return later
	}
	t.committed()
	return later
}

// alarmGaps records, in a transaction of its own, the alarms of gaps now due: those of
// every site, whichever receiver saw the gap open.
func (r *Receiver) alarmGaps(ctx context.Context) {
	cutoff := timeKey(r.o.Clock.Now().Add(-r.o.GapAlarmAfter))
	rows, err := r.st.db.QueryContext(ctx, r.st.q(sqlDueGaps), cutoff)
	if err != nil {
		r.log.Error("read open gaps", "err", err)
		return
	}
	var due []string
	for rows.Next() {
		var site string
		if err := rows.Scan(&site); err != nil {
			rows.Close()
			r.log.Error("read open gaps", "err", err)
			return
		}
		due = append(due, site)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		r.log.Error("read open gaps", "err", err)
		return
	}
	if len(due) == 0 {
		return
	}
	t, err := r.begin(ctx)
	if err == nil {
		// A site held elsewhere is being written: its writer alarms its gap if due.
		if err = t.lockFree(due); err != nil {
			t.rollback()
		}
	}
	if err != nil {
		r.storeFailed(ctx, nil, err, nil)
		return
	}
	err = t.alarmGaps()
	if err == nil {
		err = t.commit()
	}
	if err != nil {
		r.storeFailed(ctx, t, err, nil)
		return
	}
	t.committed()
}

// accept applies one verified envelope of a locked site: duplicate, conflict, next in
// the chain, or held after a gap.
func (t *txn) accept(site string, e *entry) error {
	st := t.sites[site]
	switch {
	case e.seq <= st.head:
		if err := t.load(st); err != nil {
			return err
		}
		stored, ok := st.stored[e.seq]
		switch {
		case !ok:
			t.refuseAs(site, e, ReasonChainBreak, fmt.Sprintf("seq %d is at or below head %d but not stored: store inconsistent", e.seq, st.head))
		case stored == e.hash:
			t.dups++
			st.ack = true
		default:
			t.refuseAs(site, e, ReasonConflict, fmt.Sprintf("id %s already stored with payload hash %x; this payload hashes to %x", e.id, stored, e.hash))
		}
	case e.seq == st.head+1:
		if err := follows(e, st); err != nil {
			t.refuseAs(site, e, ReasonChainBreak, err.Error())
			return nil
		}
		why, err := t.checkCheckpoint(st, e)
		if err != nil {
			return err
		}
		if why != "" {
			t.refuseAs(site, e, ReasonCheckpoint, why)
			return nil
		}
		if err := t.grow(st, e); err != nil {
			return err
		}
		t.store(st, e, false)
		return t.release(st)
	default:
		if st.held > 0 {
			if err := t.load(st); err != nil {
				return err
			}
			if held, ok := st.heldHash[e.seq]; ok {
				if held == e.hash {
					t.dups++
					st.ack = true
				} else {
					t.refuseAs(site, e, ReasonConflict, fmt.Sprintf("id %s already held with payload hash %x; this payload hashes to %x", e.id, held, e.hash))
				}
				return nil
			}
		}
		if st.held >= int64(t.r.o.MaxHeld) {
			t.refuseAs(site, e, ReasonHeldOverflow, fmt.Sprintf("seq %d after head %d: %d envelopes already held", e.seq, st.head, st.held))
			return nil
		}
		t.held = append(t.held, row{site, e})
		if st.loaded {
			st.heldHash[e.seq] = e.hash
		}
		if st.held == 0 || st.lowHeld != 0 && e.seq < st.lowHeld {
			st.lowHeld = e.seq
		}
		st.held++
		st.dirty = true
		t.nHeld++
		if st.gap == nil {
			t.openGap(st, e.at, e.seq)
		}
	}
	return nil
}

// loadChunk is the most seqs one load query names.
const loadChunk = 500

// load reads, once per transaction, the payload hashes of st's candidate seqs that are
// stored (at or below the head) or held (beyond head+1). Checking an envelope's seq
// against events by (site, seq) is checking its (source, id): a verified event's id and
// source are made of its site and seq.
func (t *txn) load(st *siteState) error {
	if st.loaded {
		return nil
	}
	if err := t.flush(); err != nil {
		return err
	}
	st.stored, st.heldHash = map[uint64][32]byte{}, map[uint64][32]byte{}
	var atOrBelow, beyond []uint64
	for _, q := range st.cand {
		switch {
		case q <= st.head:
			atOrBelow = append(atOrBelow, q)
		case q > st.head+1 && st.held > 0:
			beyond = append(beyond, q)
		}
	}
	if err := t.loadHashes(`SELECT seq, payload_hash FROM events WHERE site = ? AND seq IN `, st.site, atOrBelow, st.stored); err != nil {
		return fmt.Errorf("look up stored events of %s: %w", st.site, err)
	}
	if err := t.loadHashes(`SELECT seq, payload_hash FROM held WHERE site = ? AND seq IN `, st.site, beyond, st.heldHash); err != nil {
		return fmt.Errorf("look up held envelopes of %s: %w", st.site, err)
	}
	st.loaded = true
	return nil
}

func (t *txn) loadHashes(query, site string, seqs []uint64, into map[uint64][32]byte) error {
	seqs = slices.Compact(slices.Sorted(slices.Values(seqs)))
	for len(seqs) > 0 {
		chunk := seqs[:min(len(seqs), loadChunk)]
		seqs = seqs[len(chunk):]
		args := make([]any, 0, len(chunk)+1)
		args = append(args, site)
		var b strings.Builder
		b.WriteString(query)
		b.WriteByte('(')
		for i, q := range chunk {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteByte('?')
			args = append(args, int64(q))
		}
		b.WriteByte(')')
		rows, err := t.query(b.String(), args...)
		if err != nil {
			return err
		}
		for rows.Next() {
			var (
				seq  int64
				hash []byte
			)
			if err := rows.Scan(&seq, &hash); err != nil {
				rows.Close()
				return err
			}
			if len(hash) != 32 {
				rows.Close()
				return fmt.Errorf("seq %d: %d-byte payload hash", seq, len(hash))
			}
			into[uint64(seq)] = [32]byte(hash)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
	}
	return nil
}

// follows checks that e comes straight after st's head, as event.Follows does.
func follows(e *entry, st *siteState) error {
	if e.seq != st.head+1 {
		return fmt.Errorf("%w: seq %d after %d", event.ErrChain, e.seq, st.head)
	}
	if e.prev != st.hash {
		return fmt.Errorf("%w: seq %d prevhash %x, want %x", event.ErrChain, e.seq, e.prev, st.hash)
	}
	return nil
}

// store makes e, which follows st's head, the site's next event. Every event stored
// passes here, in seq order, with its site locked. A held envelope (fromHeld) is moved
// from held to events by release; any other is written by the next flush.
func (t *txn) store(st *siteState, e *entry, fromHeld bool) {
	if !fromHeld {
		t.events = append(t.events, row{st.site, e})
	}
	if st.loaded {
		st.stored[e.seq] = e.hash
	}
	st.head, st.hash = e.seq, e.hash
	st.dirty, st.ack = true, true
	t.stored++
}

// releaseChunk is how many held envelopes release reads at a time.
const releaseChunk = 256

// release stores, in order, the held envelopes that now follow the head, whichever
// receiver held them. One that does not follow is refused; the gap then stays open.
func (t *txn) release(st *siteState) error {
	if st.held == 0 {
		return nil
	}
	if st.lowHeld == 0 {
		if err := t.flush(); err != nil {
			return err
		}
		var low int64
		if err := t.queryRow(sqlLowestHeld, st.site).Scan(&low, new([]byte)); err != nil {
			return fmt.Errorf("read lowest held of %s: %w", st.site, err)
		}
		st.lowHeld = uint64(low)
	}
	if st.lowHeld != st.head+1 {
		return nil // still a gap before the held envelopes
	}
	if err := t.flush(); err != nil {
		return err
	}
	released := false
	first := st.head + 1 // of the run of held envelopes stored
	var next *entry      // the lowest envelope still held after the run, if known
	for next == nil {
		run, err := t.nextHeld(st)
		if err != nil {
			return err
		}
		for i := range run {
			e := &run[i]
			if e.seq != st.head+1 {
				next = e
				break
			}
			released = true
			st.held--
			st.dirty = true
			if err := follows(e, st); err != nil {
				// The run ends here: the next held seq cannot follow an unmoved head.
				t.refuseAs(st.site, e, ReasonChainBreak, err.Error()+" (held)")
				if err := t.exec(sqlDeleteHeld, st.site, int64(e.seq)); err != nil {
					return fmt.Errorf("drop held %s: %w", e.id, err)
				}
				continue
			}
			why, err := t.checkCheckpoint(st, e)
			if err != nil {
				return err
			}
			if why != "" {
				t.refuseAs(st.site, e, ReasonCheckpoint, why+" (held)")
				if err := t.exec(sqlDeleteHeld, st.site, int64(e.seq)); err != nil {
					return fmt.Errorf("drop held %s: %w", e.id, err)
				}
				continue
			}
			if err := t.grow(st, e); err != nil {
				return err
			}
			t.store(st, e, true)
		}
		if len(run) < releaseChunk {
			break
		}
	}
	if st.head >= first {
		if err := t.exec(sqlMoveHeld, st.site, int64(first), int64(st.head)); err != nil {
			return fmt.Errorf("store held %s seq %d..%d: %w", st.site, first, st.head, err)
		}
		if err := t.exec(sqlDeleteHeldTo, st.site, int64(st.head)); err != nil {
			return fmt.Errorf("drop released envelopes of %s: %w", st.site, err)
		}
	}
	if next == nil && st.held != 0 {
		return fmt.Errorf("site %s: head says %d envelopes held, none found past seq %d", st.site, st.held, st.head)
	}
	st.lowHeld = 0
	if next != nil {
		st.lowHeld = next.seq
	}
	if st.gap == nil || !released {
		return nil
	}
	// The head passed the gap; a further one may lie before the next held envelope.
	t.r.log.Info("gap filled", "site", st.site, "head", st.head, "open_for", t.r.o.Clock.Now().Sub(st.gap.since).String())
	st.gap = nil
	if next != nil {
		t.openGap(st, next.at, next.seq)
	}
	return nil
}

// nextHeld reads up to releaseChunk held envelopes of st after its head, in seq order.
func (t *txn) nextHeld(st *siteState) ([]entry, error) {
	rows, err := t.query(sqlNextHeld, st.site, int64(st.head), releaseChunk)
	if err != nil {
		return nil, fmt.Errorf("read held of %s: %w", st.site, err)
	}
	defer rows.Close()
	var run []entry
	for rows.Next() {
		var (
			e          entry
			seq        int64
			hash, prev []byte
			at         string
			crn, noms  sql.NullString
		)
		if err := rows.Scan(&seq, &e.id, &e.source, &hash, &prev, &e.raw, &at, &e.f.typ, &e.f.occurred, &crn, &noms); err != nil {
			return nil, fmt.Errorf("read held of %s: %w", st.site, err)
		}
		if len(hash) != 32 || len(prev) != 32 {
			return nil, fmt.Errorf("read held of %s: seq %d: bad hashes", st.site, seq)
		}
		e.seq = uint64(seq)
		copy(e.hash[:], hash)
		copy(e.prev[:], prev)
		e.f.crn, e.f.noms = crn.String, noms.String
		if e.at, err = parseTimeKey(at); err != nil {
			return nil, fmt.Errorf("read held of %s: seq %d: %w", st.site, seq, err)
		}
		run = append(run, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read held of %s: %w", st.site, err)
	}
	return run, nil
}

func (t *txn) openGap(st *siteState, since time.Time, low uint64) {
	st.gap = &gapState{since: since}
	st.dirty = true
	t.gaps++
	t.r.log.Warn("gap detected", "site", st.site, "head", st.head, "missing_from", st.head+1, "missing_to", low-1)
}

// alarmGaps records an alarm for each open gap of the locked sites that has become
// due and is not yet alarmed.
func (t *txn) alarmGaps() error {
	now := t.r.o.Clock.Now()
	for _, st := range t.order {
		if st.gap == nil || st.gap.alarmed || now.Sub(st.gap.since) < t.r.o.GapAlarmAfter || st.held == 0 {
			continue
		}
		if err := t.flush(); err != nil {
			return err
		}
		var (
			low int64
			raw []byte
		)
		if err := t.queryRow(sqlLowestHeld, st.site).Scan(&low, &raw); err != nil {
			return fmt.Errorf("read lowest held of %s: %w", st.site, err)
		}
		st.gap.alarmed = true
		st.dirty = true
		detail := fmt.Sprintf("seq %d..%d missing for %s (since %s); %d envelopes held after it",
			st.head+1, low-1, now.Sub(st.gap.since).Round(time.Millisecond), st.gap.since.UTC().Format(time.RFC3339Nano), st.held)
		t.gapAlarms++
		t.r.log.Warn("gap alarm", "site", st.site, "seq", st.head+1, "reason", string(ReasonGap), "detail", detail)
		t.alarms = append(t.alarms, Alarm{Time: now, Site: st.site, Seq: st.head + 1, Reason: ReasonGap, Detail: detail, Evidence: raw})
	}
	return nil
}

// refuse counts, logs and records a refusal the workers decided.
func (t *txn) refuse(site string, e *entry) {
	t.r.n.rejected[e.reason].Add(1)
	t.r.log.Warn("refused", "site", site, "seq", e.seq, "id", e.id, "reason", string(e.reason), "detail", e.detail)
	ev, detail := e.raw, e.detail
	if len(ev) > maxEvidence {
		ev = ev[:maxEvidence]
		detail += fmt.Sprintf(" (evidence: first %d of %d bytes)", maxEvidence, len(e.raw))
	}
	t.alarms = append(t.alarms, Alarm{Time: t.r.o.Clock.Now(), Site: site, Seq: e.seq, Reason: e.reason, Detail: detail, Evidence: ev})
}

// refuseAs refuses a verified envelope for a reason found against the store.
func (t *txn) refuseAs(site string, e *entry, reason Reason, detail string) {
	c := *e
	c.reason, c.detail = reason, detail
	t.refuse(site, &c)
}

// commit writes the changed heads and the alarms, and commits.
func (t *txn) commit() error {
	if err := t.flush(); err != nil {
		return err
	}
	now := timeKey(t.r.o.Clock.Now())
	for _, st := range t.order {
		if !st.dirty {
			continue
		}
		var since any
		alarmed := int64(0)
		if st.gap != nil {
			since = timeKey(st.gap.since)
			if st.gap.alarmed {
				alarmed = 1
			}
		}
		if err := t.exec(sqlUpdateHead, int64(st.head), st.hash[:], st.held, since, alarmed, now, st.site); err != nil {
			return fmt.Errorf("update head of %s: %w", st.site, err)
		}
	}
	if err := t.insertAlarms(t.alarms); err != nil {
		return err
	}
	for _, s := range t.stmts {
		s.Close()
	}
	t.stmts = nil
	if err := t.tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

func (t *txn) insertAlarms(alarms []Alarm) error {
	for _, a := range alarms {
		var seq any
		if a.Seq != 0 {
			seq = int64(a.Seq)
		}
		if err := t.exec(sqlInsertAlarm, a.Time.UTC().Format(time.RFC3339Nano), a.Site, seq, string(a.Reason), a.Detail, a.Evidence); err != nil {
			return fmt.Errorf("record %s alarm: %w", a.Reason, err)
		}
	}
	return nil
}

// committed publishes what the commit made durable: counters, the heads as this
// receiver last saw them, and each acknowledged site's committed head, in site order.
func (t *txn) committed() {
	r := t.r
	r.n.stored.Add(t.stored)
	r.n.dups.Add(t.dups)
	r.n.held.Add(t.nHeld)
	r.n.gaps.Add(t.gaps)
	r.n.gapAlarms.Add(t.gapAlarms)
	r.mu.Lock()
	for _, st := range t.order {
		r.heads[st.site] = st.head
		r.n.heldNow.Add(st.held - r.heldBy[st.site])
		r.heldBy[st.site] = st.held
	}
	r.mu.Unlock()
	for _, st := range t.order {
		if st.ack {
			r.o.Publish(st.site, st.head)
		}
	}
}

// storeFailed rolls back t (if any): nothing in it is acknowledged, so the sites resend
// it. The alarms already decided are saved in a transaction of their own.
func (r *Receiver) storeFailed(ctx context.Context, t *txn, err error, group []*job) {
	n := 0
	for _, j := range group {
		n += len(j.entries)
	}
	r.log.Error("store transaction failed: nothing in it acknowledged", "batches", len(group), "envelopes", n, "err", err)
	if t == nil {
		return
	}
	t.rollback()
	if len(t.alarms) == 0 {
		return
	}
	t2, err := r.begin(ctx)
	if err == nil {
		if err = t2.insertAlarms(t.alarms); err == nil {
			err = t2.commit()
		} else {
			t2.rollback()
		}
	}
	if err != nil {
		r.log.Error("alarms lost (they were logged above)", "alarms", len(t.alarms), "err", err)
	}
}
