package central

import (
	"container/heap"
	"context"
	"database/sql"
	"fmt"
	"slices"
	"time"

	"github.com/apedge/apedge/event"
)

// siteState is the writer's view of one site's chain.
type siteState struct {
	site string
	head uint64   // highest contiguous stored seq (0: nothing stored)
	hash [32]byte // payload hash of head (event.GenesisHash for 0)
	// held are verified envelopes after a gap, by seq; low orders their seqs.
	held map[uint64]*entry
	low  seqHeap
	gap  *gapState // open gap, if any
}

// gapState is the open gap of a site: the seqs after its head that are missing while
// later ones are held. It stays the same gap until the head passes it.
type gapState struct {
	since   time.Time // when detected
	alarmed bool
}

// seqHeap is a min-heap of held seqs. Held envelopes leave only from its top: the
// head advances one seq at a time.
type seqHeap []uint64

func (h seqHeap) Len() int           { return len(h) }
func (h seqHeap) Less(i, j int) bool { return h[i] < h[j] }
func (h seqHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *seqHeap) Push(x any)        { *h = append(*h, x.(uint64)) }
func (h *seqHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// saved is a site's head before a transaction touched it, to roll back to.
type saved struct {
	head uint64
	hash [32]byte
}

// txn is the writer's work in one store transaction.
type txn struct {
	r       *Receiver
	ctx     context.Context
	tx      *sql.Tx
	insert  *sql.Stmt
	lookup  *sql.Stmt
	touched map[*siteState]saved
	dirty   map[*siteState]bool // head moved
	ack     map[*siteState]bool // to publish after commit
	alarms  []Alarm

	stored, dups, held uint64

	lastAt  time.Time // cache of the last received_at formatted
	lastAtS string
}

func (r *Receiver) begin(ctx context.Context) (*txn, error) {
	tx, err := r.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("begin: %w", err)
	}
	ins, err := tx.PrepareContext(ctx, sqlInsertEvent)
	if err != nil {
		tx.Rollback()
		return nil, fmt.Errorf("prepare insert: %w", err)
	}
	return &txn{
		r: r, ctx: ctx, tx: tx, insert: ins,
		touched: map[*siteState]saved{},
		dirty:   map[*siteState]bool{},
		ack:     map[*siteState]bool{},
	}, nil
}

// apply stores a group of checked batches in one transaction and acknowledges them.
func (r *Receiver) apply(ctx context.Context, group []*job) {
	t, err := r.begin(ctx)
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
		return
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
		t.alarmGaps()
		failed = t.commit()
	}
	if failed != nil {
		r.storeFailed(ctx, t, failed, group)
		return
	}
	t.committed()
}

// alarmGaps records, in a transaction of its own, the alarms of gaps now due.
func (r *Receiver) alarmGaps(ctx context.Context) {
	if !r.gapsDue() {
		return
	}
	t, err := r.begin(ctx)
	if err != nil {
		r.storeFailed(ctx, nil, err, nil)
		return
	}
	t.alarmGaps()
	if err := t.commit(); err != nil {
		r.storeFailed(ctx, t, err, nil)
		return
	}
	t.committed()
}

func (r *Receiver) gapsDue() bool {
	now := r.o.Now()
	for _, st := range r.gapped {
		if !st.gap.alarmed && now.Sub(st.gap.since) >= r.o.GapAlarmAfter {
			return true
		}
	}
	return false
}

// site returns the state of site, remembering its head for a rollback.
func (t *txn) site(site string) *siteState {
	st := t.r.sites[site]
	if st == nil {
		st = &siteState{site: site, hash: event.GenesisHash}
		t.r.sites[site] = st
	}
	if _, ok := t.touched[st]; !ok {
		t.touched[st] = saved{st.head, st.hash}
	}
	return st
}

// accept applies one verified envelope: duplicate, conflict, next in the chain, or
// held after a gap.
func (t *txn) accept(site string, e *entry) error {
	st := t.site(site)
	switch {
	case e.seq <= st.head:
		lookup, err := t.lookupStmt()
		if err != nil {
			return err
		}
		var stored []byte
		err = lookup.QueryRowContext(t.ctx, e.source, e.id).Scan(&stored)
		switch {
		case err == sql.ErrNoRows:
			t.refuseAs(site, e, ReasonChainBreak, fmt.Sprintf("seq %d is at or below head %d but not stored: store inconsistent", e.seq, st.head))
		case err != nil:
			return fmt.Errorf("look up %s: %w", e.id, err)
		case string(stored) == string(e.hash[:]):
			t.dups++
			t.ack[st] = true
		default:
			t.refuseAs(site, e, ReasonConflict, fmt.Sprintf("id %s already stored with payload hash %x; this payload hashes to %x", e.id, stored, e.hash))
		}
	case e.seq == st.head+1:
		if err := e.ev.Follows(st.head, st.hash); err != nil {
			t.refuseAs(site, e, ReasonChainBreak, err.Error())
			return nil
		}
		if err := t.store(st, e); err != nil {
			return err
		}
		return t.release(st)
	default:
		if h, ok := st.held[e.seq]; ok {
			if h.hash == e.hash {
				t.dups++
				t.ack[st] = true
			} else {
				t.refuseAs(site, e, ReasonConflict, fmt.Sprintf("id %s already held with payload hash %x; this payload hashes to %x", e.id, h.hash, e.hash))
			}
			return nil
		}
		if len(st.held) >= t.r.o.MaxHeld {
			t.refuseAs(site, e, ReasonHeldOverflow, fmt.Sprintf("seq %d after head %d: %d envelopes already held", e.seq, st.head, len(st.held)))
			return nil
		}
		if st.held == nil {
			st.held = map[uint64]*entry{}
		}
		h := *e
		st.held[e.seq] = &h
		heap.Push(&st.low, e.seq)
		t.held++
		t.r.n.heldNow.Add(1)
		if st.gap == nil {
			t.openGap(st, e.at)
		}
	}
	return nil
}

// store inserts e as the site's next event.
func (t *txn) store(st *siteState, e *entry) error {
	if !e.at.Equal(t.lastAt) || t.lastAtS == "" {
		t.lastAt, t.lastAtS = e.at, e.at.UTC().Format(time.RFC3339Nano)
	}
	if _, err := t.insert.ExecContext(t.ctx, st.site, int64(e.seq), e.id, e.source, e.hash[:], e.raw, t.lastAtS); err != nil {
		return fmt.Errorf("store %s: %w", e.id, err)
	}
	st.head, st.hash = e.seq, e.hash
	t.stored++
	t.dirty[st] = true
	t.ack[st] = true
	return nil
}

// release stores the held envelopes that now follow the head, in order. One that does
// not follow is refused; the gap then stays open.
func (t *txn) release(st *siteState) error {
	released := false
	for len(st.low) > 0 && st.low[0] == st.head+1 {
		seq := heap.Pop(&st.low).(uint64)
		e := st.held[seq]
		delete(st.held, seq)
		t.r.n.heldNow.Add(-1)
		released = true
		if err := e.ev.Follows(st.head, st.hash); err != nil {
			t.refuseAs(st.site, e, ReasonChainBreak, err.Error()+" (held)")
			continue
		}
		if err := t.store(st, e); err != nil {
			return err
		}
	}
	if st.gap == nil || !released {
		return nil
	}
	// The head passed the gap; a further one may lie before the next held envelope.
	t.r.log.Info("gap filled", "site", st.site, "head", st.head, "open_for", t.r.o.Now().Sub(st.gap.since).String())
	st.gap = nil
	delete(t.r.gapped, st.site)
	if len(st.low) > 0 {
		t.openGap(st, st.held[st.low[0]].at)
	}
	return nil
}

func (t *txn) openGap(st *siteState, since time.Time) {
	st.gap = &gapState{since: since}
	t.r.gapped[st.site] = st
	t.r.n.gaps.Add(1)
	t.r.log.Warn("gap detected", "site", st.site, "head", st.head, "missing_from", st.head+1, "missing_to", st.low[0]-1)
}

// alarmGaps records an alarm for each open gap that has become due.
func (t *txn) alarmGaps() {
	now := t.r.o.Now()
	sites := make([]string, 0, len(t.r.gapped))
	for site := range t.r.gapped {
		sites = append(sites, site)
	}
	slices.Sort(sites)
	for _, site := range sites {
		st := t.r.gapped[site]
		if st.gap.alarmed || now.Sub(st.gap.since) < t.r.o.GapAlarmAfter {
			continue
		}
		st.gap.alarmed = true
		low := st.held[st.low[0]]
		detail := fmt.Sprintf("seq %d..%d missing for %s (since %s); %d envelopes held after it",
			st.head+1, low.seq-1, now.Sub(st.gap.since).Round(time.Millisecond), st.gap.since.UTC().Format(time.RFC3339Nano), len(st.held))
		t.r.n.gapAlarms.Add(1)
		t.r.log.Warn("gap alarm", "site", site, "seq", st.head+1, "reason", string(ReasonGap), "detail", detail)
		t.alarms = append(t.alarms, Alarm{Time: now, Site: site, Seq: st.head + 1, Reason: ReasonGap, Detail: detail, Evidence: low.raw})
	}
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
	t.alarms = append(t.alarms, Alarm{Time: t.r.o.Now(), Site: site, Seq: e.seq, Reason: e.reason, Detail: detail, Evidence: ev})
}

// refuseAs refuses a verified envelope for a reason found against the store.
func (t *txn) refuseAs(site string, e *entry, reason Reason, detail string) {
	c := *e
	c.reason, c.detail = reason, detail
	t.refuse(site, &c)
}

func (t *txn) lookupStmt() (*sql.Stmt, error) {
	if t.lookup == nil {
		s, err := t.tx.PrepareContext(t.ctx, sqlLookupEvent)
		if err != nil {
			return nil, fmt.Errorf("prepare lookup: %w", err)
		}
		t.lookup = s
	}
	return t.lookup, nil
}

// commit writes the moved heads and the alarms, and commits.
func (t *txn) commit() error {
	now := t.r.o.Now().UTC().Format(time.RFC3339Nano)
	for st := range t.dirty {
		if _, err := t.tx.ExecContext(t.ctx, sqlUpsertHead, st.site, int64(st.head), st.hash[:], now); err != nil {
			return fmt.Errorf("update head of %s: %w", st.site, err)
		}
	}
	if err := insertAlarms(t.ctx, t.tx, t.alarms); err != nil {
		return err
	}
	if err := t.tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// committed publishes what the commit made durable.
func (t *txn) committed() {
	r := t.r
	r.n.stored.Add(t.stored)
	r.n.dups.Add(t.dups)
	r.n.held.Add(t.held)
	if len(t.dirty) > 0 {
		r.mu.Lock()
		for st := range t.dirty {
			r.heads[st.site] = st.head
		}
		r.mu.Unlock()
	}
	acks := make([]*siteState, 0, len(t.ack))
	for st := range t.ack {
		acks = append(acks, st)
	}
	slices.SortFunc(acks, func(a, b *siteState) int {
		switch {
		case a.site < b.site:
			return -1
		case a.site > b.site:
			return 1
		}
		return 0
	})
	for _, st := range acks {
		r.o.Publish(st.site, st.head)
	}
}

// storeFailed rolls back t (if any): the sites it touched go back to their stored heads
// and drop what they held (none of it was acknowledged, so the sites resend it). The
// alarms already decided are saved in a transaction of their own.
func (r *Receiver) storeFailed(ctx context.Context, t *txn, err error, group []*job) {
	n := 0
	for _, j := range group {
		n += len(j.entries)
	}
	r.log.Error("store transaction failed: nothing in it acknowledged", "batches", len(group), "envelopes", n, "err", err)
	if t == nil {
		return
	}
	t.tx.Rollback()
	for st, s := range t.touched {
		st.head, st.hash = s.head, s.hash
		r.n.heldNow.Add(-int64(len(st.held)))
		st.held, st.low, st.gap = nil, nil, nil
		delete(r.gapped, st.site)
	}
	if len(t.alarms) == 0 {
		return
	}
	tx, err := r.db.BeginTx(ctx, nil)
	if err == nil {
		if err = insertAlarms(ctx, tx, t.alarms); err == nil {
			err = tx.Commit()
		} else {
			tx.Rollback()
		}
	}
	if err != nil {
		r.log.Error("alarms lost (they were logged above)", "alarms", len(t.alarms), "err", err)
	}
}

func insertAlarms(ctx context.Context, tx *sql.Tx, alarms []Alarm) error {
	if len(alarms) == 0 {
		return nil
	}
	stmt, err := tx.PrepareContext(ctx, sqlInsertAlarm)
	if err != nil {
		return fmt.Errorf("prepare alarm: %w", err)
	}
	defer stmt.Close()
	for _, a := range alarms {
		var seq any
		if a.Seq != 0 {
			seq = int64(a.Seq)
		}
		if _, err := stmt.ExecContext(ctx, a.Time.UTC().Format(time.RFC3339Nano), a.Site, seq, string(a.Reason), a.Detail, a.Evidence); err != nil {
			return fmt.Errorf("record %s alarm: %w", a.Reason, err)
		}
	}
	return nil
}
