// Package proof is apedge's per-site Merkle log: an RFC 6962 Merkle tree over a site's
// journal, signed checkpoints of it, and proof bundles that prove one event offline.
//
// Leaf i of a site's tree is the journal entry with seq i+1, and the leaf's data is the
// payload its DSSE envelope signs (the exact CloudEvents JSON bytes, not the envelope),
// so leaf i's hash is SHA-256(0x00 || payload) and interior nodes are
// SHA-256(0x01 || left || right) (RFC 6962 section 2.1). Hashing and proofs come from
// golang.org/x/mod/sumdb/tlog: the stored-hash layout of [Tree] is tlog's (see
// [tlog.StoredHashIndex]), so a store that keeps the same hashes can serve the same proofs.
//
// A checkpoint ([Checkpoint], checkpoint.go) is a C2SP tlog-checkpoint
// (https://c2sp.org/tlog-checkpoint) signed as a note (golang.org/x/mod/sumdb/note) with
// the site's Ed25519 key under the key name "apedge/{site}", which is also its origin
// line. A proof bundle ([Bundle], bundle.go) carries one envelope exactly as stored, its
// inclusion proof and the signed checkpoint it leads to, for [VerifyBundle] to check with
// nothing but the site's public keys. [CheckExport] checks a whole export against a
// checkpoint.
//
// Nothing here keeps global state, and nothing panics on any input.
package proof

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/bits"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/apedge/apedge/formats/envelope"
	"github.com/apedge/apedge/formats/event"
	"github.com/apedge/apedge/formats/sitekey"
	"github.com/apedge/apedge/formats/verify"
)

// MaxTreeSize is the largest tree a site's log can have: one leaf per seq, and seqs stop
// at event.MaxSeq. Larger sizes are refused wherever they appear, which also keeps every
// size well inside the int64 that tlog computes with.
const MaxTreeSize = event.MaxSeq

// kindError is a sentinel error that also matches a broader sentinel (its parent) under
// errors.Is, e.g. ErrUnknownSigner is also an ErrCheckpoint.
type kindError struct {
	msg    string
	parent error
}

func (e *kindError) Error() string { return e.msg }
func (e *kindError) Unwrap() error { return e.parent }

// Errors that the failures of this package wrap, to tell them apart with errors.Is.
// VerifyBundle wraps exactly one of ErrBundleFormat, ErrEnvelope, ErrSignature,
// ErrEvent, ErrSeq, ErrCheckpoint and ErrProof, for the first check that fails. Each
// error message starts with the error it wraps ("proof: malformed proof bundle: ...").
var (
	// ErrBundleFormat marks a bundle that does not decode: not JSON, too large, an
	// unknown, missing or repeated field, a wrong format string, a malformed hash.
	ErrBundleFormat = errors.New("proof: malformed proof bundle")
	// ErrEnvelope marks an envelope that does not decode or is not in the one encoding
	// apedge stores (see envelope.Encode).
	ErrEnvelope = errors.New("proof: envelope not valid")
	// ErrSignature marks an envelope with no valid signature by a key of the site.
	ErrSignature = errors.New("proof: envelope not signed by a key of the site")
	// ErrEvent marks a signed payload that is not a valid event of the bundle's site.
	ErrEvent = errors.New("proof: event not valid")
	// ErrSeq marks an event that is not at the place in the log the bundle says.
	ErrSeq = errors.New("proof: event not at the bundle's place in the log")
	// ErrProof marks an inclusion proof that does not lead from the event to the
	// checkpoint's root.
	ErrProof = errors.New("proof: inclusion proof does not lead to the checkpoint root")
	// ErrCheckpoint marks a checkpoint that is refused; the errors below say why, and
	// each of them is also an ErrCheckpoint.
	ErrCheckpoint = errors.New("proof: checkpoint not valid")

	// ErrMalformedCheckpoint marks a checkpoint body or signed note that does not parse.
	ErrMalformedCheckpoint error = &kindError{"proof: malformed checkpoint", ErrCheckpoint}
	// ErrUnknownSigner marks a checkpoint with no signature by any key given for the site.
	ErrUnknownSigner error = &kindError{"proof: checkpoint not signed by a known key of the site", ErrCheckpoint}
	// ErrCheckpointSignature marks a checkpoint whose signature by a known key is wrong.
	ErrCheckpointSignature error = &kindError{"proof: bad checkpoint signature", ErrCheckpoint}
	// ErrWrongOrigin marks a checkpoint of another log than the site's.
	ErrWrongOrigin error = &kindError{"proof: checkpoint of another log", ErrCheckpoint}

	// ErrShortExport marks an export with fewer events than the checkpoint's tree size.
	ErrShortExport = errors.New("proof: export shorter than the checkpoint")
	// ErrRootMismatch marks an export whose first events do not hash to the
	// checkpoint's root.
	ErrRootMismatch = errors.New("proof: export does not match the checkpoint root")
)

// LeafHash returns the Merkle leaf hash of an event payload: SHA-256(0x00 || payload),
// which is tlog.RecordHash.
func LeafHash(payload []byte) tlog.Hash { return tlog.RecordHash(payload) }

// TreeHashOf returns the root of the tree whose leaves are payloads, in order. It is for
// tests and small trees; use a Tree to build a large one.
func TreeHashOf(payloads [][]byte) (tlog.Hash, error) {
	var t Tree
	for _, p := range payloads {
		if err := t.Append(p); err != nil {
			return tlog.Hash{}, err
		}
	}
	return t.Root(), nil
}

// Tree is an in-memory Merkle tree that grows one leaf at a time. It keeps the hashes
// tlog stores (about two per leaf, 32 bytes each), in tlog's stored-hash order, so it
// can give the root and proofs of any of its prefixes. The zero Tree is empty and ready
// to use. A Tree is not safe for concurrent use while it grows.
type Tree struct {
	size   int64
	hashes []tlog.Hash
}

// Size returns the number of leaves.
func (t *Tree) Size() uint64 { return uint64(t.size) }

// Append adds the leaf for payload (an event's signed payload bytes).
func (t *Tree) Append(payload []byte) error { return t.AppendLeafHash(LeafHash(payload)) }

// AppendLeafHash adds a leaf by its hash (LeafHash of its payload), for a caller that
// has stored the leaf hashes rather than the payloads.
func (t *Tree) AppendLeafHash(h tlog.Hash) error {
	if t.size >= MaxTreeSize {
		return fmt.Errorf("proof: tree is full at %d leaves", t.size)
	}
	hs, err := tlog.StoredHashesForRecordHash(t.size, h, t.HashReader())
	if err != nil {
		return fmt.Errorf("proof: append leaf %d: %w", t.size, err)
	}
	t.hashes = append(t.hashes, hs...)
	t.size++
	return nil
}

// HashReader returns a tlog.HashReader over the tree's stored hashes. It refuses
// indexes the tree does not hold. It reads the tree as it is at each call.
func (t *Tree) HashReader() tlog.HashReader {
	return tlog.HashReaderFunc(func(indexes []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(indexes))
		for i, x := range indexes {
			if x < 0 || x >= int64(len(t.hashes)) {
				return nil, fmt.Errorf("proof: stored hash %d not in a tree of %d leaves", x, t.size)
			}
			out[i] = t.hashes[x]
		}
		return out, nil
	})
}

// Root returns the root hash of the whole tree (SHA-256 of the empty string for an
// empty tree).
func (t *Tree) Root() tlog.Hash {
	h, err := tlog.TreeHash(t.size, t.HashReader())
	if err != nil { // cannot happen: the tree holds every hash of its own size
		return tlog.Hash{}
	}
	return h
}

// RootAt returns the root hash of the tree's first size leaves.
func (t *Tree) RootAt(size uint64) (tlog.Hash, error) {
	if size > t.Size() {
		return tlog.Hash{}, fmt.Errorf("proof: root of %d leaves asked of a tree of %d", size, t.size)
	}
	h, err := tlog.TreeHash(int64(size), t.HashReader())
	if err != nil {
		return tlog.Hash{}, fmt.Errorf("proof: %w", err)
	}
	return h, nil
}

// ProveRecord returns the inclusion proof of leaf index in the tree of the first size
// leaves, for tlog.CheckRecord.
func (t *Tree) ProveRecord(size, index uint64) (tlog.RecordProof, error) {
	if size > t.Size() || index >= size {
		return nil, fmt.Errorf("proof: no leaf %d in a tree of %d leaves (tree holds %d)", index, size, t.size)
	}
	p, err := tlog.ProveRecord(int64(size), int64(index), t.HashReader())
	if err != nil {
		return nil, fmt.Errorf("proof: %w", err)
	}
	return p, nil
}

// ProveTree returns the consistency proof that the tree of the first newSize leaves
// extends the tree of the first oldSize, for tlog.CheckTree. It needs
// 1 <= oldSize <= newSize <= Size.
func (t *Tree) ProveTree(newSize, oldSize uint64) (tlog.TreeProof, error) {
	if oldSize < 1 || oldSize > newSize || newSize > t.Size() {
		return nil, fmt.Errorf("proof: no consistency proof from %d to %d leaves in a tree of %d", oldSize, newSize, t.size)
	}
	p, err := tlog.ProveTree(int64(newSize), int64(oldSize), t.HashReader())
	if err != nil {
		return nil, fmt.Errorf("proof: %w", err)
	}
	return p, nil
}

// ExportResult describes an export checked against a checkpoint.
type ExportResult struct {
	// Site is the site whose events they are.
	Site string
	// Count is the number of events in the export, and LastSeq the seq of the last one
	// (they are equal: an export starts at seq 1).
	Count   int
	LastSeq uint64
	// CheckpointSize and Root are the checkpoint's tree size and root, which the
	// export's first CheckpointSize events hash to.
	CheckpointSize uint64
	Root           tlog.Hash
	// CheckpointKeyID is the id of the key that signed the checkpoint.
	CheckpointKeyID string
	// ExportRoot is the root of the tree of all the export's events, to sign or compare
	// with a later checkpoint.
	ExportRoot tlog.Hash
	// KeyIDs are the ids of the keys that signed the export's envelopes, in the order
	// first seen (more than one when the site rotated its key).
	KeyIDs []string
}

// CheckExport reads an export from r (JSON lines of envelopes from seq 1, as written by
// `apedge central export` and the agent's journal export) and checks it against a signed
// checkpoint of site: the checkpoint opens with one of keys; every line is checked by
// verify.Lines (canonical envelope, signed by a key of the site, an event of the site,
// the hash chain from seq 1), so any of the site's keys may sign a line and an export
// that spans a key rotation passes; the export holds at least the checkpoint's size of
// events; and the tree of those first events has the checkpoint's root. Keys of other
// sites in keys are ignored.
//
// A failed line is reported as a *verify.LineError wrapping the same errors verify.Export
// uses (event.ErrChain, verify.ErrNotCanonical, envelope.ErrBadSignature...). A short
// export wraps ErrShortExport, a root that differs ErrRootMismatch, and a refused
// checkpoint ErrCheckpoint. The result is nil on any error. With a nil checkpoint it
// checks the lines alone, as verify.Export does but with any of the site's keys.
func CheckExport(r io.Reader, checkpoint []byte, site string, keys []*sitekey.Public) (*ExportResult, error) {
	if r == nil {
		return nil, errors.New("proof: export: no reader")
	}
	var c Checkpoint
	res := &ExportResult{Site: site}
	if checkpoint != nil {
		var ckey *sitekey.Public
		var err error
		if c, ckey, err = OpenCheckpoint(checkpoint, site, keys); err != nil {
			return nil, err
		}
		res.CheckpointSize, res.Root, res.CheckpointKeyID = c.Size, c.Root, ckey.ID
	}
	var tree Tree
	seenKeys := map[string]bool{}
	err := verify.Lines(r, site, trustStore(site, keys), func(l verify.Line) error {
		if err := tree.Append(l.Payload); err != nil {
			return err
		}
		if !seenKeys[l.Key.ID] {
			seenKeys[l.Key.ID] = true
			res.KeyIDs = append(res.KeyIDs, l.Key.ID)
		}
		res.Count++
		res.LastSeq = l.Event.Seq
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("proof: export: %w", err)
	}
	if checkpoint == nil {
		if res.Count == 0 {
			return nil, fmt.Errorf("proof: export: %w", verify.ErrEmpty)
		}
		res.ExportRoot = tree.Root()
		return res, nil
	}
	if tree.Size() < c.Size {
		if res.Count == 0 {
			return nil, fmt.Errorf("%w: %w, checkpoint has %d", ErrShortExport, verify.ErrEmpty, c.Size)
		}
		return nil, fmt.Errorf("%w: %d events, checkpoint has %d", ErrShortExport, tree.Size(), c.Size)
	}
	root, err := tree.RootAt(c.Size)
	if err != nil {
		return nil, err
	}
	if root != c.Root {
		return nil, fmt.Errorf("%w: first %d events hash to %s, checkpoint root is %s", ErrRootMismatch, c.Size, root, c.Root)
	}
	res.ExportRoot = tree.Root()
	return res, nil
}

// siteKeys returns the usable keys of site in keys: well-formed Ed25519 public keys whose
// Site is site, each once.
func siteKeys(site string, keys []*sitekey.Public) []*sitekey.Public {
	var out []*sitekey.Public
	seen := map[string]bool{}
	for _, k := range keys {
		if k == nil || k.Site != site || len(k.Key) != 32 || k.ID != sitekey.KeyID(k.Key) || seen[k.ID] {
			continue
		}
		seen[k.ID] = true
		out = append(out, k)
	}
	return out
}

// trustStore returns the envelope trust store of site's keys.
func trustStore(site string, keys []*sitekey.Public) envelope.TrustStore {
	ts := envelope.TrustStore{}
	for _, k := range siteKeys(site, keys) {
		ts.Add(k)
	}
	return ts
}

// EdgeIndexes returns the stored-hash indexes (tlog.StoredHashIndex) of the complete
// subtrees that make up a tree of size n, largest first: its right edge.
func EdgeIndexes(n uint64) []int64 {
	var out []int64
	var start int64
	for level := bits.Len64(n) - 1; level >= 0; level-- {
		if n&(1<<level) != 0 {
			out = append(out, tlog.StoredHashIndex(level, start>>level))
			start += 1 << level
		}
	}
	return out
}

// Edge is the right edge of a Merkle tree kept in tlog's stored-hash layout: the
// hashes of its complete subtrees, largest first. It is all a writer needs to append
// to the tree, and to know its root, without reading stored hashes back.
type Edge struct {
	size  uint64
	nodes []edgeNode
}

type edgeNode struct {
	level int
	hash  tlog.Hash
}

// NewEdge returns the edge of a tree of size n whose edge hashes, at EdgeIndexes(n)
// in that order, are hashes.
func NewEdge(n uint64, hashes []tlog.Hash) (*Edge, error) {
	idx := EdgeIndexes(n)
	if len(hashes) != len(idx) {
		return nil, fmt.Errorf("proof: edge of size %d: %d hashes, want %d", n, len(hashes), len(idx))
	}
	e := &Edge{size: n}
	for level, i := bits.Len64(n)-1, 0; level >= 0; level-- {
		if n&(1<<level) != 0 {
			e.nodes = append(e.nodes, edgeNode{level, hashes[i]})
			i++
		}
	}
	return e, nil
}

// Size is the tree's size.
func (e *Edge) Size() uint64 { return e.size }

// Clone returns a copy of e, to append to without changing e.
func (e *Edge) Clone() *Edge {
	return &Edge{size: e.size, nodes: append([]edgeNode(nil), e.nodes...)}
}

// Append adds the record whose leaf hash is leaf, calling store with each stored hash
// it makes, in tlog.StoredHashes's order and with its indexes: the leaf, then every
// subtree the leaf completes.
func (e *Edge) Append(leaf tlog.Hash, store func(idx int64, h tlog.Hash)) {
	n := int64(e.size)
	store(tlog.StoredHashCount(n), leaf)
	cur := edgeNode{0, leaf}
	for len(e.nodes) > 0 && e.nodes[len(e.nodes)-1].level == cur.level {
		left := e.nodes[len(e.nodes)-1]
		e.nodes = e.nodes[:len(e.nodes)-1]
		cur = edgeNode{cur.level + 1, tlog.NodeHash(left.hash, cur.hash)}
		store(tlog.StoredHashIndex(cur.level, n>>cur.level), cur.hash)
	}
	e.nodes = append(e.nodes, cur)
	e.size++
}

// Root is the tree's root hash (that of the empty tree for size 0).
func (e *Edge) Root() tlog.Hash {
	if len(e.nodes) == 0 {
		return tlog.Hash(sha256.Sum256(nil))
	}
	h := e.nodes[len(e.nodes)-1].hash
	for i := len(e.nodes) - 2; i >= 0; i-- {
		h = tlog.NodeHash(e.nodes[i].hash, h)
	}
	return h
}
