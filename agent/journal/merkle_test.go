package journal

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/apedge/apedge/formats/envelope"
	"github.com/apedge/apedge/internal/sqlitedb"
)

// memTree is an independent Merkle tree over payloads, built with tlog in memory.
type memTree struct{ hashes []tlog.Hash }

func (m *memTree) add(t testing.TB, payload []byte) {
	hs, err := tlog.StoredHashes(int64(tlog.StoredHashCount(0)+int64(m.n())), payload, m)
	if err != nil {
		t.Fatal(err)
	}
	m.hashes = append(m.hashes, hs...)
}

// n is the number of records: the inverse of StoredHashCount.
func (m *memTree) n() int {
	n := 0
	for tlog.StoredHashCount(int64(n)) < int64(len(m.hashes)) {
		n++
	}
	return n
}

func (m *memTree) ReadHashes(idx []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(idx))
	for i, x := range idx {
		if x >= int64(len(m.hashes)) {
			return nil, fmt.Errorf("no hash %d", x)
		}
		out[i] = m.hashes[x]
	}
	return out, nil
}

// payloads reads the payloads of entries 1..n.
func payloads(t testing.TB, j *Journal, n uint64) [][]byte {
	t.Helper()
	var out [][]byte
	for next := uint64(1); next <= n; {
		es, err := j.Read(context.Background(), next, 512, 0)
		if err != nil || len(es) == 0 {
			t.Fatalf("read from %d: %v", next, err)
		}
		for _, e := range es {
			env, err := envelope.Decode(e.Envelope)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, env.Payload)
			next = e.Seq + 1
		}
	}
	return out[:n]
}

// appendN journals n drafts from concurrent callers, so that they share commits.
func appendN(t testing.TB, j *Journal, from, n uint64) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			if _, err := j.Append(context.Background(), typicalDraft(from+i)); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func waitTree(t testing.TB, j *Journal, n uint64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := j.WaitTree(ctx, n); err != nil {
		t.Fatalf("wait for tree size %d: %v (size %d, last %d)", n, err, j.TreeSize(), j.Last())
	}
}

// TestMerkleTree checks the journal's stored tree against one built independently from
// its payloads: the root at every size, and inclusion and consistency proofs at the
// edge sizes (1, 2, powers of two, one past them).
func TestMerkleTree(t *testing.T) {
	j := openTest(t, testKey(t), "", Options{})
	const n = 600
	appendN(t, j, 0, n)
	waitTree(t, j, n)
	if j.TreeSize() != n {
		t.Fatalf("tree size %d, want %d", j.TreeSize(), n)
	}
	var mem memTree
	ctx := context.Background()
	for i, p := range payloads(t, j, n) {
		mem.add(t, p)
		size := uint64(i + 1)
		want, err := tlog.TreeHash(int64(size), &mem)
		if err != nil {
			t.Fatal(err)
		}
		got, err := j.TreeHash(ctx, size)
		if err != nil || got != want {
			t.Fatalf("tree hash of size %d: %v, %v; want %v", size, got, err, want)
		}
	}
	sizes := []uint64{1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 128, 129, 255, 256, 257, 511, 512, 513, n}
	pays := payloads(t, j, n)
	for _, size := range sizes {
		root, _ := j.TreeHash(ctx, size)
		for _, seq := range []uint64{1, 2, size / 2, size - 1, size} {
			if seq < 1 || seq > size {
				continue
			}
			p, err := j.ProveRecord(ctx, size, seq)
			if err != nil {
				t.Fatalf("prove %d in %d: %v", seq, size, err)
			}
			if err := tlog.CheckRecord(p, int64(size), root, int64(seq-1), tlog.RecordHash(pays[seq-1])); err != nil {
				t.Errorf("proof of %d in %d does not check: %v", seq, size, err)
			}
			if err := tlog.CheckRecord(p, int64(size), root, int64(seq-1), tlog.RecordHash(append([]byte("x"), pays[seq-1]...))); err == nil {
				t.Errorf("proof of %d in %d checks for another payload", seq, size)
			}
		}
		for _, old := range sizes {
			if old > size {
				break
			}
			oldRoot, _ := j.TreeHash(ctx, old)
			p, err := j.ProveTree(ctx, size, old)
			if err != nil {
				t.Fatalf("prove tree %d in %d: %v", old, size, err)
			}
			if err := tlog.CheckTree(p, int64(size), root, int64(old), oldRoot); err != nil {
				t.Errorf("tree %d in %d does not check: %v", old, size, err)
			}
		}
	}
	if _, err := j.ProveRecord(ctx, n+1, 1); err == nil {
		t.Error("a proof in a tree larger than the journal's")
	}
}

// TestMerkleRestartAndBackfill: the tree survives a restart and grows on; and a journal
// whose tree is missing (made before the Merkle log) gets it back at Open.
func TestMerkleRestartAndBackfill(t *testing.T) {
	path := filepath.Join(t.TempDir(), "journal.db")
	key := testKey(t)
	j := openTest(t, key, path, Options{})
	appendN(t, j, 0, 100)
	waitTree(t, j, 100)
	root100, _ := j.TreeHash(context.Background(), 100)
	j.Close()

	j = openTest(t, key, path, Options{})
	if j.TreeSize() != 100 {
		t.Fatalf("tree size %d after reopening, want 100", j.TreeSize())
	}
	appendN(t, j, 100, 50)
	waitTree(t, j, 150)
	root150, _ := j.TreeHash(context.Background(), 150)
	if got, _ := j.TreeHash(context.Background(), 100); got != root100 {
		t.Errorf("root of size 100 changed across a restart")
	}
	j.Close()

	// Forget the tree, as in a journal made before it existed.
	db, err := sqlitedb.Open(context.Background(), path, migrations)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`DELETE FROM tlog; UPDATE tlog_size SET size = 0`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	j = openTest(t, key, path, Options{})
	waitTree(t, j, 150)
	if got, _ := j.TreeHash(context.Background(), 150); got != root150 {
		t.Errorf("backfilled root of size 150 differs")
	}
	checkStoredCount(t, path, 150)
}

// checkStoredCount checks the tlog table holds exactly the stored hashes of n records.
func checkStoredCount(t *testing.T, path string, n int64) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var count int64
	if err := db.QueryRow(`SELECT count(*) FROM tlog`).Scan(&count); err != nil {
		t.Fatal(err)
	}
	if want := tlog.StoredHashCount(n); count != want {
		t.Errorf("%d stored hashes for %d records, want %d", count, n, want)
	}
}

// TestMerkleRefusesTreePastJournal: a tree that claims more entries than the journal
// holds is damage, refused at Open.
func TestMerkleRefusesTreePastJournal(t *testing.T) {
	path := filepath.Join(t.TempDir(), "journal.db")
	j := openTest(t, testKey(t), path, Options{})
	appendN(t, j, 0, 3)
	waitTree(t, j, 3)
	j.Close()
	db, _ := sqlitedb.Open(context.Background(), path, migrations)
	db.Exec(`UPDATE tlog_size SET size = 9`)
	db.Close()
	if _, err := Open(context.Background(), Options{Path: path, Key: testKey(t)}); err == nil {
		t.Fatal("opened a journal whose tree is larger than it")
	}
}

// BenchmarkJournalProof measures the Merkle log's costs on a journal of 20,000
// entries: the root of the whole tree (what a checkpoint signs) and an inclusion
// proof of a random entry, both read from the stored hashes.
func BenchmarkJournalProof(b *testing.B) {
	const n = 20000
	j := openTest(b, testKey(b), "", Options{})
	appendN(b, j, 0, n)
	waitTree(b, j, n)
	ctx := context.Background()
	b.Run("root", func(b *testing.B) {
		for b.Loop() {
			if _, err := j.TreeHash(ctx, n); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "roots/s")
	})
	b.Run("prove", func(b *testing.B) {
		i := uint64(0)
		for b.Loop() {
			i = (i*7919 + 1) % n
			if _, err := j.ProveRecord(ctx, n, i+1); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "proofs/s")
	})
}
