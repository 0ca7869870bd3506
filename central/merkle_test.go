package central

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/apedge/apedge/formats/envelope"
	"github.com/apedge/apedge/formats/event"
	"github.com/apedge/apedge/formats/proof"
	"github.com/apedge/apedge/formats/sitekey"
)

// checkpointChain is a site's chain that can also sign checkpoints of its own tree,
// as the agent does.
type checkpointChain struct {
	*chain
	tree proof.Tree
}

func newCheckpointChain(t testing.TB, key *sitekey.Private) *checkpointChain {
	return &checkpointChain{chain: newChain(t, key)}
}

// events returns the next n ordinary events.
func (c *checkpointChain) events(n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = c.add(nil)
	}
	return out
}

// add signs the next event (d, or the chain's default) and adds it to the tree.
func (c *checkpointChain) add(d *event.Draft) []byte {
	c.t.Helper()
	if d != nil {
		c.chain.draft = func(uint64) *event.Draft { return d }
		defer func() { c.chain.draft = nil }()
	}
	env := c.next()
	dec, err := envelope.Decode(env)
	if err != nil {
		c.t.Fatal(err)
	}
	if err := c.tree.Append(dec.Payload); err != nil {
		c.t.Fatal(err)
	}
	return env
}

// checkpoint signs a checkpoint of size n with root and journals it as the next event.
func (c *checkpointChain) checkpoint(n uint64, root tlog.Hash) []byte {
	c.t.Helper()
	note, err := proof.SignCheckpoint(c.key, proof.Checkpoint{Origin: proof.Origin(c.key.Site), Size: n, Root: root})
	if err != nil {
		c.t.Fatal(err)
	}
	info, _ := json.Marshal(map[string]any{"size": n, "root": base64.StdEncoding.EncodeToString(root[:]), "checkpoint": string(note)})
	return c.add(&event.Draft{Type: CheckpointType, OccurredAt: time.Date(2025, 3, 30, 12, 0, 0, 0, time.UTC), Info: info})
}

// checkpointNow signs a checkpoint of the whole tree so far.
func (c *checkpointChain) checkpointNow() []byte {
	return c.checkpoint(c.tree.Size(), c.tree.Root())
}

// TestCheckpointsAndProofs: central keeps each site's Merkle tree as it stores events,
// stores the checkpoints that match it, and proves any event covered by the latest
// one with a bundle that verifies offline; on both stores.
func TestCheckpointsAndProofs(t *testing.T) {
	eachStore(t, func(t *testing.T, newStore func() string) {
		path := newStore()
		h := start(t, Options{Path: path})
		key := testKey(t, "ABC")
		c := newCheckpointChain(t, key)
		h.send("ABC", c.events(37)...)
		h.send("ABC", c.checkpointNow())
		h.send("ABC", c.events(5)...)
		// A checkpoint need not cover everything before it (the agent's tree trails).
		root40, _ := c.tree.RootAt(40)
		h.send("ABC", c.checkpoint(40, root40))
		h.send("ABC", c.events(3)...)
		h.waitHead("ABC", 47)
		if al, _ := h.r.Alarms(context.Background(), "ABC"); len(al) != 0 {
			t.Fatalf("alarms %+v", al)
		}
		h.close()

		note, size, err := LatestCheckpoint(context.Background(), path, "ABC")
		if err != nil || size != 40 {
			t.Fatalf("latest checkpoint: size %d, %v", size, err)
		}
		pub := key.Public()
		if cp, _, err := proof.OpenCheckpoint(note, "ABC", []*sitekey.Public{pub}); err != nil || cp.Root != root40 {
			t.Fatalf("latest checkpoint %v: %v", cp, err)
		}
		for _, seq := range []uint64{1, 2, 20, 38, 40} {
			var b bytes.Buffer
			if err := Prove(context.Background(), path, "ABC", seq, &b); err != nil {
				t.Fatalf("prove %d: %v", seq, err)
			}
			v, err := proof.VerifyBundle(b.Bytes(), []*sitekey.Public{pub})
			if err != nil || v.Seq != seq || v.TreeSize != 40 {
				t.Fatalf("bundle of %d: %+v, %v", seq, v, err)
			}
		}
		var b bytes.Buffer
		if err := Prove(context.Background(), path, "ABC", 41, &b); !errors.Is(err, ErrNoCheckpoint) {
			t.Errorf("prove past the latest checkpoint: %v", err)
		}
		if err := Prove(context.Background(), path, "XYZ", 1, &b); !errors.Is(err, ErrNoCheckpoint) {
			t.Errorf("prove for a site with no checkpoint: %v", err)
		}
	})
}

// TestCheckpointRewritingHistoryIsRefused: a site that re-signs an altered old event
// and a checkpoint over its altered history is caught: the checkpoint does not match
// central's stored events, so it is refused and alarmed, never stored, and nothing
// after it is stored either.
func TestCheckpointRewritingHistoryIsRefused(t *testing.T) {
	eachStore(t, func(t *testing.T, newStore func() string) {
		path := newStore()
		h := start(t, Options{Path: path})
		key := testKey(t, "ABC")
		c := newCheckpointChain(t, key)
		h.send("ABC", c.events(10)...)
		h.send("ABC", c.checkpointNow())
		h.waitHead("ABC", 11)

		// The same key signs a fork in which event 4 says something else.
		fork := newCheckpointChain(t, key)
		fork.tag = "altered"
		for range 11 {
			fork.add(nil)
		}
		// The honest chain goes on with a checkpoint over the forked leaves.
		h.send("ABC", c.events(2)...)
		bad := c.checkpoint(11, fork.tree.Root())
		h.send("ABC", bad)
		h.send("ABC", c.events(2)...)
		h.waitStats("the rewritten checkpoint refused", func(s Stats) bool { return s.Rejected[ReasonCheckpoint] == 1 })
		eventually(t, "the checkpoint alarm recorded", func() bool {
			al, err := h.r.Alarms(context.Background(), "ABC")
			if err != nil {
				t.Fatal(err)
			}
			for _, a := range al {
				if a.Reason == ReasonCheckpoint && strings.Contains(a.Detail, "history was rewritten") {
					return true
				}
			}
			return false
		})
		if head := h.r.Heads()["ABC"]; head != 13 {
			t.Errorf("head %d, want 13: nothing from the bad checkpoint on is stored", head)
		}
		h.close()
		if _, size, err := LatestCheckpoint(context.Background(), path, "ABC"); err != nil || size != 10 {
			t.Errorf("latest checkpoint size %d (%v): the refused one must not be stored", size, err)
		}
	})
}

// TestCheckpointSignedByAnotherSiteRefused: a checkpoint not signed by the site's key.
func TestCheckpointSignedByAnotherSiteRefused(t *testing.T) {
	h := start(t, Options{Path: storeKinds[0].newStore(t)})
	c := newCheckpointChain(t, testKey(t, "ABC"))
	h.send("ABC", c.events(3)...)
	other := newCheckpointChain(t, testKey(t, "XYZ"))
	note, _ := proof.SignCheckpoint(other.key, proof.Checkpoint{Origin: proof.Origin("XYZ"), Size: 3, Root: c.tree.Root()})
	info, _ := json.Marshal(map[string]any{"checkpoint": string(note)})
	h.send("ABC", c.add(&event.Draft{Type: CheckpointType, OccurredAt: time.Now(), Info: info}))
	h.waitStats("the foreign checkpoint refused", func(s Stats) bool { return s.Rejected[ReasonCheckpoint] == 1 })
}

// TestTreeBackfill: a store whose trees are missing (made before central kept them)
// gets them back when opened, and proves against a later checkpoint.
func TestTreeBackfill(t *testing.T) {
	path := storeKinds[0].newStore(t)
	key := testKey(t, "ABC")
	c := newCheckpointChain(t, key)
	h := start(t, Options{Path: path})
	h.send("ABC", c.events(20)...)
	h.waitHead("ABC", 20)
	h.close()
	s, err := openStore(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.db.Exec(`DELETE FROM tlog`); err != nil {
		t.Fatal(err)
	}
	s.db.Close()
	h = start(t, Options{Path: path})
	h.send("ABC", c.checkpointNow())
	h.waitHead("ABC", 21)
	h.close()
	var b bytes.Buffer
	if err := Prove(context.Background(), path, "ABC", 7, &b); err != nil {
		t.Fatal(err)
	}
	if _, err := proof.VerifyBundle(b.Bytes(), []*sitekey.Public{key.Public()}); err != nil {
		t.Fatal(err)
	}
}

// TestKeyRotation: a site moves to a new key at 00:05:30. Events the old key signed
// within its period are stored; one it signs dated after is refused; the new key's are
// stored; an export spanning the rotation verifies with both keys, and so does a
// bundle of an old event proved against a checkpoint the new key signed.
func TestKeyRotation(t *testing.T) {
	old := testKey(t, "ABC")
	neu, err := sitekey.FromSeed("ABC", bytes.Repeat([]byte{9}, 32))
	if err != nil {
		t.Fatal(err)
	}
	rotation := time.Date(2025, 3, 30, 0, 5, 30, 0, time.UTC) // the chain's event n is at 00:0n
	trust := envelope.TrustStore{}
	trust.Add(old.Public())
	trust.Add(neu.Public())
	path := storeKinds[0].newStore(t)
	h := start(t, Options{Path: path, Trust: trust,
		KeyPeriods: map[string]KeyPeriod{old.ID: {Until: rotation}, neu.ID: {From: rotation}}})
	c := newCheckpointChain(t, old)
	h.send("ABC", c.events(5)...)
	h.waitHead("ABC", 5)
	// Event 6 is dated after the rotation: the old key may not sign it.
	stale := &chain{t: t, key: old, b: c.b, seq: c.seq, prev: c.prev}
	h.send("ABC", stale.next())
	h.waitStats("the retired key refused", func(s Stats) bool { return s.Rejected[ReasonKeyPeriod] == 1 })
	c.key = neu
	h.send("ABC", c.events(2)...)
	h.send("ABC", c.checkpointNow())
	h.waitHead("ABC", 8)
	h.close()

	keys := []*sitekey.Public{old.Public(), neu.Public()}
	var exp bytes.Buffer
	if _, err := Export(context.Background(), path, "ABC", &exp); err != nil {
		t.Fatal(err)
	}
	note, _, err := LatestCheckpoint(context.Background(), path, "ABC")
	if err != nil {
		t.Fatal(err)
	}
	res, err := proof.CheckExport(bytes.NewReader(exp.Bytes()), note, "ABC", keys)
	if err != nil || len(res.KeyIDs) != 2 {
		t.Fatalf("export across the rotation: %+v, %v", res, err)
	}
	var b bytes.Buffer
	if err := Prove(context.Background(), path, "ABC", 2, &b); err != nil {
		t.Fatal(err)
	}
	v, err := proof.VerifyBundle(b.Bytes(), keys)
	if err != nil || v.KeyID != old.ID || v.CheckpointKeyID != neu.ID {
		t.Fatalf("bundle of an old event: %+v, %v", v, err)
	}
	if _, err := proof.VerifyBundle(b.Bytes(), keys[1:]); err == nil {
		t.Error("a bundle of an old-key event verified without the old key")
	}
}
