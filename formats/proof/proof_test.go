package proof

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/apedge/apedge/formats/envelope"
	"github.com/apedge/apedge/formats/event"
	"github.com/apedge/apedge/formats/sitekey"
	"github.com/apedge/apedge/formats/verify"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// GoldenSite is the site of the golden vectors.
const goldenSite = "GOLD1"

// seedKey returns site's key made from the 32-byte seed first, first+1, ...
func seedKey(t testing.TB, site string, first byte) *sitekey.Private {
	t.Helper()
	seed := make([]byte, 32)
	for i := range seed {
		seed[i] = first + byte(i)
	}
	k, err := sitekey.FromSeed(site, seed)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// goldenKey is the golden site key: seed 0x00..0x1f, as in envelope/testdata.
func goldenKey(t testing.TB) *sitekey.Private { return seedKey(t, goldenSite, 0x00) }

// rotatedKey is the golden site's second key (seed 0x20..0x3f), as after a rotation.
func rotatedKey(t testing.TB) *sitekey.Private { return seedKey(t, goldenSite, 0x20) }

// otherKey is the key of another site (seed 0x40..0x5f).
func otherKey(t testing.TB) *sitekey.Private { return seedKey(t, "OTHER", 0x40) }

// goldenKeys are the public keys a verifier of the golden site holds.
func goldenKeys(t testing.TB) []*sitekey.Public {
	return []*sitekey.Public{goldenKey(t).Public(), rotatedKey(t).Public()}
}

// makePayloads returns the payloads of events 1..n of site, fixed for a given n.
func makePayloads(t testing.TB, site string, n int) [][]byte {
	t.Helper()
	b, err := event.NewBuilder(site)
	if err != nil {
		t.Fatal(err)
	}
	types := []string{"movement.entered", "curfew.breached", "movement.left", "visitor.signed-in", "curfew.returned"}
	doors := []string{"front", "rear", "front", "reception", "front"}
	prev := event.GenesisHash
	out := make([][]byte, n)
	base := time.Date(2026, 3, 29, 0, 30, 0, 0, time.UTC) // the clocks go forward at 01:00 UTC
	for i := range out {
		seq := uint64(i + 1)
		info, _ := json.Marshal(map[string]any{"door": doors[i%len(doors)], "reader": fmt.Sprintf("osdp-%d", i%3)})
		p, err := b.Build(seq, prev, &event.Draft{
			Type:       types[i%len(types)],
			OccurredAt: base.Add(time.Duration(i) * 17 * time.Minute),
			Person:     &event.PersonReference{Identifiers: []event.Identifier{{Type: "NOMS", Value: "A1234BC"}, {Type: "CRN", Value: "X123456"}}},
			Info:       info,
		})
		if err != nil {
			t.Fatal(err)
		}
		prev = event.Hash(p)
		out[i] = p
	}
	return out
}

// signAll returns the envelopes of payloads, signed by keys[i] for payload i if given,
// else by the last key.
func signAll(keys []*sitekey.Private, payloads [][]byte) [][]byte {
	out := make([][]byte, len(payloads))
	for i, p := range payloads {
		k := keys[min(i, len(keys)-1)]
		out[i] = envelope.Sign(k, p)
	}
	return out
}

func joinLines(lines [][]byte) []byte {
	var b bytes.Buffer
	for _, l := range lines {
		b.Write(l)
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// leafPayloads returns n distinct small leaves.
func leafPayloads(n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = []byte(fmt.Sprintf("leaf %d", i))
	}
	return out
}

// refRoot is RFC 6962's MTH, computed directly from its recursive definition.
func refRoot(leaves [][]byte) tlog.Hash {
	switch len(leaves) {
	case 0:
		return sha256.Sum256(nil)
	case 1:
		return tlog.RecordHash(leaves[0])
	}
	k := 1
	for k*2 < len(leaves) {
		k *= 2
	}
	return tlog.NodeHash(refRoot(leaves[:k]), refRoot(leaves[k:]))
}

// rfc9162Inclusion verifies an inclusion proof with the iterative algorithm of RFC 9162
// section 2.1.3.2, independently of tlog.CheckRecord.
func rfc9162Inclusion(index, size uint64, leaf tlog.Hash, path []tlog.Hash, root tlog.Hash) bool {
	if index >= size {
		return false
	}
	fn, sn, r := index, size-1, leaf
	for _, p := range path {
		if sn == 0 {
			return false
		}
		if fn&1 == 1 || fn == sn {
			r = tlog.NodeHash(p, r)
			for fn&1 == 0 && fn != 0 {
				fn >>= 1
				sn >>= 1
			}
		} else {
			r = tlog.NodeHash(r, p)
		}
		fn >>= 1
		sn >>= 1
	}
	return sn == 0 && r == root
}

var edgeSizes = []uint64{1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 255, 256, 257, 1024, 1025}

// buildTree returns a Tree of the given leaves.
func buildTree(t testing.TB, leaves [][]byte) *Tree {
	t.Helper()
	var tr Tree
	for _, l := range leaves {
		if err := tr.Append(l); err != nil {
			t.Fatal(err)
		}
	}
	return &tr
}

func TestTreeRoots(t *testing.T) {
	leaves := leafPayloads(1025)
	big := buildTree(t, leaves)
	if got, want := (&Tree{}).Root(), tlog.Hash(sha256.Sum256(nil)); got != want {
		t.Errorf("empty root %s, want %s", got, want)
	}
	for _, n := range append([]uint64{0}, edgeSizes...) {
		want := refRoot(leaves[:n])
		tr := buildTree(t, leaves[:n])
		if tr.Size() != n || tr.Root() != want {
			t.Errorf("size %d: tree of %d, root %s, want %s", n, tr.Size(), tr.Root(), want)
		}
		if got, err := TreeHashOf(leaves[:n]); err != nil || got != want {
			t.Errorf("TreeHashOf(%d) = %s, %v, want %s", n, got, err, want)
		}
		if got, err := big.RootAt(n); err != nil || got != want {
			t.Errorf("RootAt(%d) of 1025 = %s, %v, want %s", n, got, err, want)
		}
		if got, err := tlog.TreeHash(int64(n), tr.HashReader()); err != nil || got != want {
			t.Errorf("tlog.TreeHash(%d) = %s, %v", n, got, err)
		}
	}
	if _, err := big.RootAt(1026); err == nil {
		t.Error("RootAt beyond the tree succeeded")
	}
	if _, err := big.HashReader().ReadHashes([]int64{-1}); err == nil {
		t.Error("ReadHashes(-1) succeeded")
	}
	if _, err := big.HashReader().ReadHashes([]int64{tlog.StoredHashCount(1025)}); err == nil {
		t.Error("ReadHashes past the end succeeded")
	}
	// The tree stores exactly tlog's stored hashes, at tlog's indexes.
	if got, want := int64(len(big.hashes)), tlog.StoredHashCount(1025); got != want {
		t.Errorf("%d stored hashes, want %d", got, want)
	}
	for i, l := range leaves[:20] {
		if got := big.hashes[tlog.StoredHashIndex(0, int64(i))]; got != LeafHash(l) {
			t.Errorf("leaf %d stored as %s", i, got)
		}
	}
}

// sampleIndexes returns every index below size when it is small, else the edges of
// each power-of-two subtree and a few random ones.
func sampleIndexes(size uint64, r *rand.Rand) []uint64 {
	if size <= 257 {
		out := make([]uint64, size)
		for i := range out {
			out[i] = uint64(i)
		}
		return out
	}
	set := map[uint64]bool{0: true, 1: true, size - 1: true, size - 2: true}
	for p := uint64(1); p < size; p *= 2 {
		for _, x := range []uint64{p - 1, p, p + 1} {
			if x < size {
				set[x] = true
			}
		}
	}
	for range 40 {
		set[r.Uint64N(size)] = true
	}
	out := make([]uint64, 0, len(set))
	for x := range set {
		out = append(out, x)
	}
	return out
}

func TestInclusionProofs(t *testing.T) {
	leaves := leafPayloads(1025)
	big := buildTree(t, leaves)
	r := rand.New(rand.NewPCG(1, 2))
	for _, size := range edgeSizes {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			own := buildTree(t, leaves[:size])
			root := own.Root()
			for _, i := range sampleIndexes(size, r) {
				for _, tr := range []*Tree{own, big} { // a whole tree and a prefix of a bigger one
					p, err := tr.ProveRecord(size, i)
					if err != nil {
						t.Fatalf("ProveRecord(%d, %d): %v", size, i, err)
					}
					leaf := LeafHash(leaves[i])
					if err := tlog.CheckRecord(p, int64(size), root, int64(i), leaf); err != nil {
						t.Fatalf("CheckRecord(size %d, leaf %d): %v", size, i, err)
					}
					if !rfc9162Inclusion(i, size, leaf, p, root) {
						t.Fatalf("RFC 9162 refuses the proof of leaf %d in %d", i, size)
					}
					if tlog.CheckRecord(p, int64(size), root, int64(i), LeafHash([]byte("other"))) == nil {
						t.Fatalf("proof of leaf %d in %d accepts another leaf", i, size)
					}
					if size > 1 {
						j := (i + 1) % size
						if tlog.CheckRecord(p, int64(size), root, int64(j), leaf) == nil && leaves[j] != nil && !bytes.Equal(leaves[i], leaves[j]) {
							t.Fatalf("proof of leaf %d in %d also proves it at %d", i, size, j)
						}
						bad := append(tlog.RecordProof{}, p...)
						bad[len(bad)/2][0] ^= 1
						if tlog.CheckRecord(bad, int64(size), root, int64(i), leaf) == nil {
							t.Fatalf("altered proof of leaf %d in %d verifies", i, size)
						}
					}
				}
			}
		})
	}
	var empty Tree
	for _, c := range [][2]uint64{{0, 0}, {1, 1}, {5, 5}, {1026, 0}} {
		if _, err := big.ProveRecord(c[0], c[1]); err == nil {
			t.Errorf("ProveRecord(%d, %d) succeeded", c[0], c[1])
		}
	}
	if _, err := empty.ProveRecord(1, 0); err == nil {
		t.Error("ProveRecord on an empty tree succeeded")
	}
}

func TestConsistencyProofs(t *testing.T) {
	leaves := leafPayloads(1025)
	big := buildTree(t, leaves)
	roots := map[uint64]tlog.Hash{}
	for _, n := range edgeSizes {
		roots[n] = refRoot(leaves[:n])
	}
	pairs := 0
	for _, newSize := range edgeSizes {
		for _, oldSize := range edgeSizes {
			if oldSize > newSize {
				continue
			}
			p, err := big.ProveTree(newSize, oldSize)
			if err != nil {
				t.Fatalf("ProveTree(%d, %d): %v", newSize, oldSize, err)
			}
			if err := tlog.CheckTree(p, int64(newSize), roots[newSize], int64(oldSize), roots[oldSize]); err != nil {
				t.Fatalf("CheckTree(%d, %d): %v", newSize, oldSize, err)
			}
			if oldSize < newSize {
				// A proof from another old tree, or to another new tree, fails.
				wrong := roots[oldSize]
				wrong[0] ^= 1
				if tlog.CheckTree(p, int64(newSize), roots[newSize], int64(oldSize), wrong) == nil {
					t.Fatalf("CheckTree(%d, %d) accepts a wrong old root", newSize, oldSize)
				}
				if tlog.CheckTree(p, int64(newSize), wrong, int64(oldSize), roots[oldSize]) == nil {
					t.Fatalf("CheckTree(%d, %d) accepts a wrong new root", newSize, oldSize)
				}
			}
			pairs++
		}
	}
	t.Logf("%d consistency proofs checked", pairs)
	for _, c := range [][2]uint64{{5, 0}, {4, 5}, {1026, 3}} {
		if _, err := big.ProveTree(c[0], c[1]); err == nil {
			t.Errorf("ProveTree(%d, %d) succeeded", c[0], c[1])
		}
	}
}

// checkpointOf returns the signed checkpoint of the first n payloads by k.
func checkpointOf(t testing.TB, k *sitekey.Private, payloads [][]byte, n int) []byte {
	t.Helper()
	root, err := TreeHashOf(payloads[:n])
	if err != nil {
		t.Fatal(err)
	}
	msg, err := SignCheckpoint(k, Checkpoint{Origin: Origin(k.Site), Size: uint64(n), Root: root})
	if err != nil {
		t.Fatal(err)
	}
	return msg
}

func TestCheckExport(t *testing.T) {
	key, rot, other := goldenKey(t), rotatedKey(t), otherKey(t)
	keys := goldenKeys(t)
	payloads := makePayloads(t, goldenSite, 6)
	export := joinLines(signAll([]*sitekey.Private{key}, payloads))
	rotated := joinLines(signAll([]*sitekey.Private{key, key, key, rot}, payloads))
	fork := makePayloads(t, goldenSite, 6)
	fork[2] = bytes.Replace(fork[2], []byte("front"), []byte("frnt!"), 1)
	wrongRoot := Checkpoint{Origin: Origin(goldenSite), Size: 6, Root: LeafHash([]byte("x"))}
	wrongRootMsg, err := SignCheckpoint(key, wrongRoot)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		export     []byte
		checkpoint []byte
		keys       []*sitekey.Public
		want       error
		wantKeys   int
	}{
		{"whole", export, checkpointOf(t, key, payloads, 6), keys, nil, 1},
		{"longer than the checkpoint", export, checkpointOf(t, key, payloads, 3), keys, nil, 1},
		{"one key only", export, checkpointOf(t, key, payloads, 1), keys[:1], nil, 1},
		{"no final newline", bytes.TrimSuffix(export, []byte("\n")), checkpointOf(t, key, payloads, 6), keys, nil, 1},
		{"rotated key", rotated, checkpointOf(t, rot, payloads, 6), keys, nil, 2},
		{"rotated key not given", rotated, checkpointOf(t, key, payloads, 6), keys[:1], envelope.ErrUnknownKey, 0},
		{"short", joinLines(signAll([]*sitekey.Private{key}, payloads[:4])), checkpointOf(t, key, payloads, 6), keys, ErrShortExport, 0},
		{"empty", nil, checkpointOf(t, key, payloads, 2), keys, verify.ErrEmpty, 0},
		{"root mismatch", export, wrongRootMsg, keys, ErrRootMismatch, 0},
		{"forked export", joinLines(signAll([]*sitekey.Private{key}, fork)), checkpointOf(t, key, payloads, 6), keys, event.ErrChain, 0},
		{"checkpoint of another site", export, checkpointOf(t, other, payloads, 6), append(keys, other.Public()), ErrUnknownSigner, 0},
		{"events of another site", joinLines(signAll([]*sitekey.Private{other}, makePayloads(t, "OTHER", 2))), checkpointOf(t, key, payloads, 1), append(keys, other.Public()), envelope.ErrUnknownKey, 0},
		{"blank line", bytes.Replace(export, []byte("\n"), []byte("\n\n"), 1), checkpointOf(t, key, payloads, 6), keys, verify.ErrBlankLine, 0},
		{"crlf", bytes.Replace(export, []byte("\n"), []byte("\r\n"), 1), checkpointOf(t, key, payloads, 6), keys, verify.ErrNotCanonical, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := CheckExport(bytes.NewReader(tc.export), tc.checkpoint, goldenSite, tc.keys)
			if tc.want != nil {
				if !errors.Is(err, tc.want) || res != nil {
					t.Fatalf("got %+v, %v; want %v", res, err, tc.want)
				}
				if !strings.HasPrefix(err.Error(), "proof: ") {
					t.Errorf("error %q lacks the package prefix", err)
				}
				t.Log(err)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			c, _, _ := OpenCheckpoint(tc.checkpoint, goldenSite, tc.keys)
			all, _ := TreeHashOf(payloads[:res.Count])
			if res.Site != goldenSite || res.LastSeq != uint64(res.Count) || res.CheckpointSize != c.Size || res.Root != c.Root || res.ExportRoot != all || len(res.KeyIDs) != tc.wantKeys {
				t.Fatalf("result %+v", res)
			}
		})
	}
}

// TestCheckExportAgreesWithVerify runs package verify's own test exports through
// CheckExport: each must fail on the same line for the same reason verify gives.
func TestCheckExportAgreesWithVerify(t *testing.T) {
	seed := sha256.Sum256([]byte("apedge verify test key ABC")) // verify's testKey
	key, err := sitekey.FromSeed("ABC", seed[:])
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join("..", "verify", "testdata")
	pub, err := sitekey.LoadPublic(filepath.Join(dir, "ABC.pub"), "")
	if err != nil {
		t.Skip("verify's testdata:", err)
	}
	if pub.ID != key.ID {
		t.Skip("verify's test key changed")
	}
	good, err := os.ReadFile(filepath.Join(dir, "export.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	first, err := envelope.Decode(bytes.SplitN(good, []byte("\n"), 2)[0])
	if err != nil {
		t.Fatal(err)
	}
	cp := checkpointOf(t, key, [][]byte{first.Payload}, 1)
	vres, verr := verify.Export(bytes.NewReader(good), pub)
	res, err := CheckExport(bytes.NewReader(good), cp, "ABC", []*sitekey.Public{pub})
	if verr != nil || err != nil || res.Count != vres.Count || res.LastSeq != vres.LastSeq {
		t.Fatalf("export.jsonl: proof %+v, %v; verify %+v, %v", res, err, vres, verr)
	}
	bad, _ := filepath.Glob(filepath.Join(dir, "bad", "*.jsonl"))
	for _, path := range bad {
		t.Run(filepath.Base(path), func(t *testing.T) {
			in, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			_, verr := verify.Export(bytes.NewReader(in), pub)
			_, err = CheckExport(bytes.NewReader(in), cp, "ABC", []*sitekey.Public{pub})
			if verr == nil || err == nil || !strings.Contains(err.Error(), verr.Error()) {
				t.Fatalf("proof: %v\nverify: %v", err, verr)
			}
		})
	}
}

// BenchmarkTreeAppend measures how fast a Tree takes event payloads.
func BenchmarkTreeAppend(b *testing.B) {
	payload := makePayloads(b, goldenSite, 1)[0]
	var tr Tree
	for b.Loop() {
		if err := tr.Append(payload); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "leaves/s")
	b.ReportMetric(float64(len(tr.hashes)*tlog.HashSize)/float64(tr.Size()), "B/leaf")
}

// BenchmarkProveRecord measures inclusion proofs in an in-memory tree of 1M leaves.
func BenchmarkProveRecord(b *testing.B) {
	const size = 1 << 20
	var tr Tree
	var leaf [8]byte
	for i := range size {
		leaf[0], leaf[1], leaf[2] = byte(i), byte(i>>8), byte(i>>16)
		if err := tr.Append(leaf[:]); err != nil {
			b.Fatal(err)
		}
	}
	r := rand.New(rand.NewPCG(3, 4))
	hashes := 0
	for b.Loop() {
		i := r.Uint64N(size)
		p, err := tr.ProveRecord(size, i)
		if err != nil {
			b.Fatal(err)
		}
		hashes += len(p)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "proofs/s")
	b.ReportMetric(float64(hashes)/float64(b.N), "hashes/proof")
}

// TestEdge: a tree grown on its right edge alone makes tlog's stored hashes and roots,
// at every size, and an edge rebuilt from stored hashes goes on the same.
func TestEdge(t *testing.T) {
	var tree Tree
	var stored []tlog.Hash
	edge, err := NewEdge(0, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 300 {
		payload := []byte(fmt.Sprintf("event %d", i))
		if err := tree.Append(payload); err != nil {
			t.Fatal(err)
		}
		edge.Append(LeafHash(payload), func(idx int64, h tlog.Hash) {
			if idx != int64(len(stored)) {
				t.Fatalf("stored hash %d at index %d", len(stored), idx)
			}
			stored = append(stored, h)
		})
		want, _ := tree.RootAt(uint64(i + 1))
		if edge.Root() != want || edge.Size() != uint64(i+1) {
			t.Fatalf("size %d: root %v, want %v", i+1, edge.Root(), want)
		}
		hs, err := tree.HashReader().ReadHashes(EdgeIndexes(edge.Size()))
		if err != nil {
			t.Fatal(err)
		}
		again, err := NewEdge(edge.Size(), hs)
		if err != nil || again.Root() != want {
			t.Fatalf("size %d: edge rebuilt from stored hashes: %v", i+1, err)
		}
	}
	want, _ := tree.HashReader().ReadHashes(func() []int64 {
		var idx []int64
		for i := range int64(len(stored)) {
			idx = append(idx, i)
		}
		return idx
	}())
	for i := range want {
		if want[i] != stored[i] {
			t.Fatalf("stored hash %d differs from tlog's", i)
		}
	}
}
