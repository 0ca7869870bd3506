package central

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/apedge/apedge/formats/envelope"
	"github.com/apedge/apedge/formats/event"
	"github.com/apedge/apedge/formats/proof"
	"github.com/apedge/apedge/formats/sitekey"
)

// Central keeps, beside each site's events, the site's Merkle log (RFC 6962, tlog's
// stored-hash layout, table tlog): record n is the site's event with seq n+1, its data
// the signed payload, exactly as in the agent's journal. The tree grows in txn.store,
// in the transaction that stores the event, so a site's tree always has exactly its
// stored events (its size is the site's head).
//
// A log.checkpoint event carries the site's signed checkpoint of its own tree. Before
// central stores one, it checks the signature (a key of the site's) and that the root
// is the root of the tree of central's own stored events at that size: since those are
// the events central verified one by one, a match is also consistency with every
// checkpoint before it. A checkpoint that does not match means the site has rewritten
// history; it is refused (ReasonCheckpoint) and alarmed, never stored. Each verified
// checkpoint is recorded in table checkpoints; proof bundles are proved against them.

// CheckpointType is the event type of a site's signed checkpoint.
const CheckpointType = "log.checkpoint"

// KeyPeriod is when a site key may sign: From inclusive, Until exclusive; a zero end is
// open.
type KeyPeriod struct{ From, Until time.Time }

// Contains reports whether t is within p.
func (p KeyPeriod) Contains(t time.Time) bool {
	return (p.From.IsZero() || !t.Before(p.From)) && (p.Until.IsZero() || t.Before(p.Until))
}

// String says the period in words, for errors and alarms.
func (p KeyPeriod) String() string {
	f := func(t time.Time, open string) string {
		if t.IsZero() {
			return open
		}
		return t.UTC().Format(time.RFC3339)
	}
	return "from " + f(p.From, "the start") + " until " + f(p.Until, "further notice")
}

// checkpointInfo is an opened checkpoint event.
type checkpointInfo struct {
	cp    proof.Checkpoint
	note  []byte
	keyID string
}

// openCheckpoint opens the checkpoint a log.checkpoint event carries with site's keys.
func (r *Receiver) openCheckpoint(site string, ev *event.Event) (*checkpointInfo, error) {
	var info struct {
		Checkpoint string `json:"checkpoint"`
	}
	if err := json.Unmarshal(ev.Data.AdditionalInformation, &info); err != nil || info.Checkpoint == "" {
		return nil, fmt.Errorf("checkpoint event without a checkpoint (%v)", err)
	}
	var keys []*sitekey.Public
	for _, k := range r.trust {
		if k.Site == site {
			keys = append(keys, k)
		}
	}
	cp, key, err := proof.OpenCheckpoint([]byte(info.Checkpoint), site, keys)
	if err != nil {
		return nil, err
	}
	if cp.Size >= ev.Seq {
		return nil, fmt.Errorf("checkpoint of %d events in event seq %d: a checkpoint covers only events before it", cp.Size, ev.Seq)
	}
	return &checkpointInfo{cp: cp, note: []byte(info.Checkpoint), keyID: key.ID}, nil
}

// siteTree is a site's Merkle tree as a transaction sees it: its right edge (the
// hashes of its complete subtrees, largest first) and the stored hashes this
// transaction made.
type siteTree struct {
	edge    *proof.Edge
	pending map[int64]tlog.Hash
}

// tlogRow is a stored hash waiting to be written.
type tlogRow struct {
	site string
	idx  int64
	hash tlog.Hash
}

// tree returns st's tree, reading its right edge the first time in the transaction.
func (t *txn) tree(st *siteState) (*siteTree, error) {
	if st.tree != nil {
		return st.tree, nil
	}
	var hs []tlog.Hash
	if idx := proof.EdgeIndexes(st.head); len(idx) > 0 {
		var err error
		if hs, err = t.readTlog(st.site, idx); err != nil {
			return nil, fmt.Errorf("read the Merkle tree of %s: %w", st.site, err)
		}
	}
	edge, err := proof.NewEdge(st.head, hs)
	if err != nil {
		return nil, err
	}
	tr := &siteTree{edge: edge, pending: map[int64]tlog.Hash{}}
	st.tree = tr
	return tr, nil
}

// readTlog reads stored hashes of site, from this transaction's pending ones or the
// store.
func (t *txn) readTlog(site string, idx []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(idx))
	var missing []int64
	pos := map[int64][]int{}
	st := t.sites[site]
	for i, x := range idx {
		if st != nil && st.tree != nil {
			if h, ok := st.tree.pending[x]; ok {
				out[i] = h
				continue
			}
		}
		if _, seen := pos[x]; !seen {
			missing = append(missing, x)
		}
		pos[x] = append(pos[x], i)
	}
	for len(missing) > 0 {
		chunk := missing[:min(len(missing), loadChunk)]
		missing = missing[len(chunk):]
		args := []any{site}
		q := `SELECT idx, hash FROM tlog WHERE site = ? AND idx IN (?` + strings.Repeat(",?", len(chunk)-1) + `)`
		for _, x := range chunk {
			args = append(args, x)
		}
		rows, err := t.query(q, args...)
		if err != nil {
			return nil, err
		}
		found := 0
		for rows.Next() {
			var x int64
			var h []byte
			if err := rows.Scan(&x, &h); err != nil {
				rows.Close()
				return nil, err
			}
			if len(h) != tlog.HashSize {
				rows.Close()
				return nil, fmt.Errorf("tree hash %d of %s is %d bytes: store damaged", x, site, len(h))
			}
			for _, i := range pos[x] {
				out[i] = tlog.Hash(h)
			}
			found++
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
		if found != len(chunk) {
			return nil, fmt.Errorf("%d of %d tree hashes of %s missing: store damaged", len(chunk)-found, len(chunk), site)
		}
	}
	return out, nil
}

// grow adds e, the site's next event, to its tree.
func (t *txn) grow(st *siteState, e *entry) error {
	tr, err := t.tree(st)
	if err != nil {
		return err
	}
	if tr.edge.Size() != e.seq-1 {
		return fmt.Errorf("the Merkle tree of %s has %d events, adding seq %d: store damaged", st.site, tr.edge.Size(), e.seq)
	}
	leaf := e.leaf
	if leaf == (tlog.Hash{}) { // released from held: read back from its envelope
		env, err := envelope.Decode(e.raw)
		if err != nil {
			return fmt.Errorf("held %s: %w", e.id, err)
		}
		leaf = tlog.RecordHash(env.Payload)
	}
	tr.edge.Append(leaf, func(idx int64, h tlog.Hash) {
		tr.pending[idx] = h
		t.tlogRows = append(t.tlogRows, tlogRow{st.site, idx, h})
	})
	return nil
}

// root returns the root of st's tree of size n (at most its current size).
func (t *txn) root(st *siteState, n uint64) (tlog.Hash, error) {
	tr, err := t.tree(st)
	if err != nil {
		return tlog.Hash{}, err
	}
	if n == tr.edge.Size() {
		return tr.edge.Root(), nil
	}
	return tlog.TreeHash(int64(n), tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		return t.readTlog(st.site, idx)
	}))
}

// checkCheckpoint checks a checkpoint event about to be stored as st's next event:
// its checkpoint must open with the site's keys and name the root of central's tree
// of the site at its size. It returns the reason to refuse the event, if any.
func (t *txn) checkCheckpoint(st *siteState, e *entry) (string, error) {
	if e.cpErr != nil {
		return e.cpErr.Error(), nil
	}
	if e.cp == nil {
		if e.leaf == (tlog.Hash{}) && e.f.typ == event.TypePrefix+CheckpointType {
			// Released from held: open it now.
			env, err := envelope.Decode(e.raw)
			if err != nil {
				return "", err
			}
			ev, err := event.Parse(env.Payload)
			if err != nil {
				return "", err
			}
			if e.cp, e.cpErr = t.r.openCheckpoint(st.site, ev); e.cpErr != nil {
				return e.cpErr.Error(), nil
			}
		} else {
			return "", nil
		}
	}
	root, err := t.root(st, e.cp.cp.Size)
	if err != nil {
		return "", err
	}
	if root != e.cp.cp.Root {
		return fmt.Sprintf("checkpoint of %d events has root %x, but the %d events stored hash to %x: the site's history was rewritten",
			e.cp.cp.Size, e.cp.cp.Root, e.cp.cp.Size, root), nil
	}
	t.checkpoints = append(t.checkpoints, checkpointRow{site: st.site, seq: e.seq, info: e.cp})
	return "", nil
}

// checkpointRow is a verified checkpoint waiting to be written.
type checkpointRow struct {
	site string
	seq  uint64
	info *checkpointInfo
}

// flushTree writes the pending stored hashes and verified checkpoints.
func (t *txn) flushTree() error {
	for len(t.tlogRows) > 0 {
		chunk := t.tlogRows[:min(len(t.tlogRows), insertChunk)]
		args := make([]any, 0, 3*len(chunk))
		for _, r := range chunk {
			args = append(args, r.site, r.idx, r.hash[:])
		}
		if err := t.exec(valuesSQL(`INSERT INTO tlog (site, idx, hash) VALUES `, 3, len(chunk)), args...); err != nil {
			return fmt.Errorf("store Merkle tree hashes: %w", err)
		}
		t.tlogRows = t.tlogRows[len(chunk):]
	}
	for _, c := range t.checkpoints {
		if err := t.exec(`INSERT INTO checkpoints (site, size, seq, root, note, key_id, verified_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			c.site, int64(c.info.cp.Size), int64(c.seq), c.info.cp.Root[:], string(c.info.note), c.info.keyID, timeKey(t.r.o.Clock.Now())); err != nil {
			return fmt.Errorf("store checkpoint of %s at %d: %w", c.site, c.info.cp.Size, err)
		}
	}
	t.checkpoints = t.checkpoints[:0]
	return nil
}

// backfillTrees builds the Merkle tree of every site whose stored tree does not hold
// exactly its stored events (stores from before the tree was kept), from the stored
// envelopes.
func (s *store) backfillTrees(ctx context.Context) error {
	heads, err := s.readHeads(ctx)
	if err != nil {
		return err
	}
	for site, h := range heads {
		var n int64
		if err := s.db.QueryRowContext(ctx, s.q(`SELECT count(*) FROM tlog WHERE site = ?`), site).Scan(&n); err != nil {
			return fmt.Errorf("tree of %s: %w", site, err)
		}
		if n == tlog.StoredHashCount(int64(h.seq)) {
			continue
		}
		if err := s.rebuildTree(ctx, site, h.seq); err != nil {
			return err
		}
	}
	return nil
}

func (s *store) rebuildTree(ctx context.Context, site string, head uint64) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM tlog WHERE site = ?`), site); err != nil {
		return fmt.Errorf("rebuild tree of %s: %w", site, err)
	}
	var tree proof.Tree
	rows, err := tx.QueryContext(ctx, s.q(`SELECT seq, envelope FROM events WHERE site = ? AND seq <= ? ORDER BY seq`), site, int64(head))
	if err != nil {
		return fmt.Errorf("rebuild tree of %s: %w", site, err)
	}
	var leaves []tlog.Hash
	for rows.Next() {
		var seq int64
		var raw []byte
		if err := rows.Scan(&seq, &raw); err != nil {
			rows.Close()
			return fmt.Errorf("rebuild tree of %s: %w", site, err)
		}
		env, err := envelope.Decode(raw)
		if err != nil {
			rows.Close()
			return fmt.Errorf("rebuild tree of %s: seq %d: %w", site, seq, err)
		}
		leaves = append(leaves, tlog.RecordHash(env.Payload))
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	if uint64(len(leaves)) != head {
		return fmt.Errorf("rebuild tree of %s: %d events stored, head %d", site, len(leaves), head)
	}
	for _, l := range leaves {
		if err := tree.AppendLeafHash(l); err != nil {
			return err
		}
	}
	r := tree.HashReader()
	total := tlog.StoredHashCount(int64(head))
	for lo := int64(0); lo < total; lo += insertChunk {
		hi := min(lo+insertChunk, total)
		idx := make([]int64, 0, hi-lo)
		for x := lo; x < hi; x++ {
			idx = append(idx, x)
		}
		hs, err := r.ReadHashes(idx)
		if err != nil {
			return err
		}
		args := make([]any, 0, 3*len(idx))
		for i, x := range idx {
			args = append(args, site, x, hs[i][:])
		}
		if _, err := tx.ExecContext(ctx, s.q(valuesSQL(`INSERT INTO tlog (site, idx, hash) VALUES `, 3, len(idx))), args...); err != nil {
			return fmt.Errorf("rebuild tree of %s: %w", site, err)
		}
	}
	return tx.Commit()
}

// ErrNoCheckpoint is returned by Prove and LatestCheckpoint when no verified checkpoint
// covers what is asked.
var ErrNoCheckpoint = errors.New("central: no verified checkpoint")

// LatestCheckpoint returns the site's latest verified checkpoint (the signed note text)
// from the store at addr, and its size.
func LatestCheckpoint(ctx context.Context, addr, site string) ([]byte, uint64, error) {
	s, err := openReadOnly(ctx, addr)
	if err != nil {
		return nil, 0, fmt.Errorf("central: %w", err)
	}
	defer s.db.Close()
	var note string
	var size int64
	err = s.db.QueryRowContext(ctx, s.q(`SELECT note, size FROM checkpoints WHERE site = ? ORDER BY size DESC LIMIT 1`), site).Scan(&note, &size)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, 0, fmt.Errorf("%w of site %s yet", ErrNoCheckpoint, site)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("central: checkpoint of %s: %w", site, err)
	}
	return []byte(note), uint64(size), nil
}

// Prove writes to w the proof bundle (package proof) of the site's event seq: its
// envelope as stored, its inclusion proof, and the site's latest verified checkpoint,
// which must cover it.
func Prove(ctx context.Context, addr, site string, seq uint64, w io.Writer) error {
	s, err := openReadOnly(ctx, addr)
	if err != nil {
		return fmt.Errorf("central: %w", err)
	}
	defer s.db.Close()
	var note string
	var size int64
	err = s.db.QueryRowContext(ctx, s.q(`SELECT note, size FROM checkpoints WHERE site = ? ORDER BY size DESC LIMIT 1`), site).Scan(&note, &size)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("%w of site %s yet: prove seq %d", ErrNoCheckpoint, site, seq)
	case err != nil:
		return fmt.Errorf("central: prove %s seq %d: %w", site, seq, err)
	case seq < 1 || int64(seq) > size:
		return fmt.Errorf("%w covers %s seq %d yet (the latest covers %d events)", ErrNoCheckpoint, site, seq, size)
	}
	var raw []byte
	if err := s.db.QueryRowContext(ctx, s.q(`SELECT envelope FROM events WHERE site = ? AND seq = ?`), site, int64(seq)).Scan(&raw); err != nil {
		return fmt.Errorf("central: prove %s seq %d: read the event: %w", site, seq, err)
	}
	reader := tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(idx))
		for i, x := range idx {
			var h []byte
			if err := s.db.QueryRowContext(ctx, s.q(`SELECT hash FROM tlog WHERE site = ? AND idx = ?`), site, x).Scan(&h); err != nil {
				return nil, fmt.Errorf("tree hash %d: %w", x, err)
			}
			if len(h) != tlog.HashSize {
				return nil, fmt.Errorf("tree hash %d is %d bytes", x, len(h))
			}
			out[i] = tlog.Hash(h)
		}
		return out, nil
	})
	p, err := tlog.ProveRecord(size, int64(seq-1), reader)
	if err != nil {
		return fmt.Errorf("central: prove %s seq %d: %w", site, seq, err)
	}
	b, err := proof.EncodeBundle(proof.NewBundle(site, seq, raw, p, uint64(size), []byte(note)))
	if err != nil {
		return fmt.Errorf("central: prove %s seq %d: %w", site, seq, err)
	}
	_, err = w.Write(b)
	return err
}
