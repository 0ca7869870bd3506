package journal

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/bits"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/apedge/apedge/formats/proof"
)

// The journal is also an RFC 6962 Merkle log (golang.org/x/mod/sumdb/tlog): record n
// (from 0) is the entry with seq n+1, and its data is the entry's signed payload, so a
// leaf's hash is tlog.RecordHash(payload). The tree's stored hashes (tlog's layout:
// every complete subtree's hash, by tlog.StoredHashIndex) are kept in the journal's
// database, table tlog, beside the entries they cover.
//
// The hashes are added by a follower of the journal, not by the writer: an append is
// not held up by them, and the tree (TreeSize) trails Last by at most one batch. The
// follower writes on the writer's own connection, between its transactions, each of
// its transactions covering every entry committed since the one before; it remembers
// only the tree's right edge (one stored hash per level), so it reads nothing back.

// merkleBatch is the most entries the follower hashes in one transaction.
const merkleBatch = 4096

// merklePause is how long the follower waits after extending the tree, unless a
// quarter batch of entries comes sooner, so that its commits do not double the
// journal's.
const merklePause = 100 * time.Millisecond

// merkle is the follower's state.
type merkle struct {
	size atomic.Uint64 // records in the stored tree: entries 1..size are hashed

	mu      sync.Mutex // guards notify and leaves
	notify  chan struct{}
	leaves  []leaf // leaf hashes of committed entries, from the committer, in seq order
	dropped bool   // leaves overflowed: the follower reads payloads back instead

	edge *proof.Edge // the tree's right edge
	stop chan struct{}
	done chan struct{}

	args    []any                  // reused INSERT arguments
	inserts [insertSizes]*sql.Stmt // [k] inserts 1<<k hashes; prepared when first needed
}

// leaf is the leaf hash of the entry seq.
type leaf struct {
	seq  uint64
	hash tlog.Hash
}

// maxLeaves bounds the leaves the committer hands the follower: past it the
// follower reads the payloads back from the database.
const maxLeaves = 1 << 16

// loadTree reads the stored tree's size and its right edge.
func loadTree(ctx context.Context, db *sql.DB) (uint64, *proof.Edge, error) {
	var size int64
	if err := db.QueryRowContext(ctx, `SELECT size FROM tlog_size WHERE id = 1`).Scan(&size); err != nil {
		return 0, nil, fmt.Errorf("read tree size: %w", err)
	}
	var hashes []tlog.Hash
	for _, idx := range proof.EdgeIndexes(uint64(size)) {
		var h []byte
		if err := db.QueryRowContext(ctx, `SELECT hash FROM tlog WHERE idx = ?`, idx).Scan(&h); err != nil {
			return 0, nil, fmt.Errorf("read tree hash %d of size %d: %w", idx, size, err)
		}
		if len(h) != tlog.HashSize {
			return 0, nil, fmt.Errorf("tree hash %d is %d bytes: database damaged", idx, len(h))
		}
		hashes = append(hashes, tlog.Hash(h))
	}
	edge, err := proof.NewEdge(uint64(size), hashes)
	if err != nil {
		return 0, nil, err
	}
	return uint64(size), edge, nil
}

// startMerkle starts the follower, from the tree as stored.
func (j *Journal) startMerkle(size uint64, edge *proof.Edge) {
	j.tree = &merkle{notify: make(chan struct{}), edge: edge, stop: make(chan struct{}), done: make(chan struct{})}
	j.tree.size.Store(size)
	go j.followMerkle()
}

// stopMerkle stops the follower and waits for it.
func (j *Journal) stopMerkle() {
	if j.tree == nil {
		return
	}
	close(j.tree.stop)
	<-j.tree.done
	for _, st := range j.tree.inserts {
		if st != nil {
			st.Close()
		}
	}
}

// offer hands the follower the leaf hashes of rows, just committed.
func (m *merkle) offer(rows []*request) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.dropped {
		return
	}
	if len(m.leaves)+len(rows) > maxLeaves {
		m.leaves, m.dropped = nil, true
		return
	}
	for _, r := range rows {
		m.leaves = append(m.leaves, leaf{r.rec.Seq, r.leaf})
	}
}

// take returns the offered leaves from seq from+1 to to, if it has them all.
func (m *merkle) take(from, to uint64) []leaf {
	m.mu.Lock()
	defer m.mu.Unlock()
	i := 0
	for i < len(m.leaves) && m.leaves[i].seq <= from {
		i++
	}
	m.leaves = m.leaves[i:]
	if m.dropped && len(m.leaves) == 0 {
		m.dropped = false // caught up: take offers again
	}
	if len(m.leaves) == 0 || m.leaves[0].seq != from+1 || uint64(len(m.leaves)) < to-from {
		return nil
	}
	out := append([]leaf(nil), m.leaves[:to-from]...)
	return out
}

func (j *Journal) followMerkle() {
	m := j.tree
	defer close(m.done)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-m.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	for {
		size := m.size.Load()
		if j.last.Load() <= size {
			if _, err := j.Wait(ctx, size); err != nil {
				return // closed, failed or stopped
			}
			continue
		}
		if err := j.hashEntries(ctx, size, min(j.last.Load(), size+merkleBatch)); err != nil {
			if ctx.Err() != nil {
				return
			}
			j.log.Error("journal: Merkle tree not extended; retrying in a second", "size", size, "err", err)
			select {
			case <-m.stop:
				return
			case <-time.After(time.Second):
			}
			continue
		}
		// Each of the tree's transactions is a commit (a sync) that the journal's
		// writer waits behind: while entries keep coming, gather a good many first.
		pause := time.NewTimer(merklePause)
	gather:
		for j.last.Load()-m.size.Load() < merkleBatch/4 {
			select {
			case <-m.stop:
				pause.Stop()
				return
			case <-pause.C:
				break gather
			case <-j.notifyCh():
			}
		}
		pause.Stop()
	}
}

// after returns a channel closed at the tree's next growth.
func (m *merkle) after() <-chan struct{} {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.notify
}

// readLeaves reads the leaf hashes of entries from+1..to back from the database.
func (j *Journal) readLeaves(ctx context.Context, from, to uint64) ([]leaf, error) {
	rows, err := j.rdb.QueryContext(ctx, `SELECT seq, payload FROM entries WHERE seq > ? AND seq <= ? ORDER BY seq`, int64(from), int64(to))
	if err != nil {
		return nil, fmt.Errorf("read entries %d-%d: %w", from+1, to, err)
	}
	defer rows.Close()
	out := make([]leaf, 0, to-from)
	for rows.Next() {
		var seq int64
		var payload sql.RawBytes
		if err := rows.Scan(&seq, &payload); err != nil {
			return nil, fmt.Errorf("read entries %d-%d: %w", from+1, to, err)
		}
		if want := from + 1 + uint64(len(out)); uint64(seq) != want {
			return nil, fmt.Errorf("entry %d where %d belongs: database damaged", seq, want)
		}
		out = append(out, leaf{uint64(seq), tlog.RecordHash(payload)})
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read entries %d-%d: %w", from+1, to, err)
	}
	if uint64(len(out)) != to-from {
		return nil, fmt.Errorf("read entries %d-%d: found %d", from+1, to, len(out))
	}
	return out, nil
}

// hashEntries adds the entries with seqs from+1..to to the stored tree in one
// transaction.
func (j *Journal) hashEntries(ctx context.Context, from, to uint64) error {
	m := j.tree
	leaves := m.take(from, to)
	if leaves == nil {
		var err error
		if leaves, err = j.readLeaves(ctx, from, to); err != nil {
			return err
		}
	}
	// Each leaf is stored, then every subtree it completes, computed on the right
	// edge without reading anything back.
	edge := m.edge.Clone()
	args := m.args[:0]
	for _, l := range leaves {
		edge.Append(l.hash, func(idx int64, h tlog.Hash) { args = append(args, idx, h[:]) })
	}
	n := int64(edge.Size())
	// Statements of power-of-two numbers of rows, prepared once, and before the
	// transaction: the writer's database has one connection, which it holds.
	for k := range m.inserts {
		if m.inserts[k] == nil {
			var err error
			if m.inserts[k], err = j.wdb.PrepareContext(ctx, "INSERT INTO tlog (idx, hash) VALUES (?,?)"+strings.Repeat(",(?,?)", 1<<k-1)); err != nil {
				return fmt.Errorf("prepare: %w", err)
			}
		}
	}
	tx, err := j.wdb.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback()
	for len(args) > 0 {
		k := bits.Len(uint(min(len(args)/2, maxInsertRows))) - 1
		rows := 1 << k
		if _, err := tx.StmtContext(ctx, m.inserts[k]).ExecContext(ctx, args[:2*rows]...); err != nil {
			return fmt.Errorf("store tree hashes: %w", err)
		}
		args = args[2*rows:]
	}
	if _, err := tx.ExecContext(ctx, `UPDATE tlog_size SET size = ? WHERE id = 1`, n); err != nil {
		return fmt.Errorf("store tree size: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit tree of size %d: %w", n, err)
	}
	m.edge = edge
	clear(m.args[:cap(m.args)])
	m.size.Store(uint64(n))
	m.mu.Lock()
	close(m.notify)
	m.notify = make(chan struct{})
	m.mu.Unlock()
	return nil
}

// TreeSize returns the size of the journal's stored Merkle tree: entries 1..TreeSize
// are hashed into it. It trails Last by at most the entries of a recent commit.
func (j *Journal) TreeSize() uint64 { return j.tree.size.Load() }

// WaitTree blocks until TreeSize() >= n, the journal is closed, or ctx ends.
func (j *Journal) WaitTree(ctx context.Context, n uint64) error {
	for {
		ch := j.tree.after()
		if j.tree.size.Load() >= n {
			return nil
		}
		if j.stopped.Load() {
			return ErrClosed
		}
		if n > j.last.Load() {
			if _, err := j.Wait(ctx, n-1); err != nil {
				return err
			}
			continue
		}
		select {
		case <-ch:
		case <-j.tree.done:
			return ErrClosed
		case <-ctx.Done():
			return fmt.Errorf("journal: wait for tree size %d: %w", n, ctx.Err())
		}
	}
}

// hashReader reads stored tree hashes from the database.
func (j *Journal) hashReader(ctx context.Context) tlog.HashReader {
	return tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(idx))
		for i, x := range idx {
			var h []byte
			if err := j.rdb.QueryRowContext(ctx, `SELECT hash FROM tlog WHERE idx = ?`, x).Scan(&h); err != nil {
				if errors.Is(err, sql.ErrNoRows) {
					return nil, fmt.Errorf("tree hash %d not stored", x)
				}
				return nil, err
			}
			if len(h) != tlog.HashSize {
				return nil, fmt.Errorf("tree hash %d is %d bytes: database damaged", x, len(h))
			}
			out[i] = tlog.Hash(h)
		}
		return out, nil
	})
}

// TreeHash returns the root hash of the tree of the first n entries (n <= TreeSize).
func (j *Journal) TreeHash(ctx context.Context, n uint64) (tlog.Hash, error) {
	if n > j.TreeSize() {
		return tlog.Hash{}, fmt.Errorf("journal: tree hash of size %d: the tree has %d entries", n, j.TreeSize())
	}
	h, err := tlog.TreeHash(int64(n), j.hashReader(ctx))
	if err != nil {
		return h, fmt.Errorf("journal: tree hash of size %d: %w", n, err)
	}
	return h, nil
}

// ProveRecord returns the proof that the entry with seq is in the tree of size t.
func (j *Journal) ProveRecord(ctx context.Context, t, seq uint64) (tlog.RecordProof, error) {
	if seq < 1 || seq > t || t > j.TreeSize() {
		return nil, fmt.Errorf("journal: prove seq %d in tree of size %d (the tree has %d entries)", seq, t, j.TreeSize())
	}
	p, err := tlog.ProveRecord(int64(t), int64(seq-1), j.hashReader(ctx))
	if err != nil {
		return nil, fmt.Errorf("journal: prove seq %d in tree of size %d: %w", seq, t, err)
	}
	return p, nil
}

// ProveTree returns the proof that the tree of size n is a prefix of the tree of size t.
func (j *Journal) ProveTree(ctx context.Context, t, n uint64) (tlog.TreeProof, error) {
	if n < 1 || n > t || t > j.TreeSize() {
		return nil, fmt.Errorf("journal: prove tree %d in tree %d (the tree has %d entries)", n, t, j.TreeSize())
	}
	p, err := tlog.ProveTree(int64(t), int64(n), j.hashReader(ctx))
	if err != nil {
		return nil, fmt.Errorf("journal: prove tree %d in tree %d: %w", n, t, err)
	}
	return p, nil
}
