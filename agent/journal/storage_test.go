package journal

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"

	"github.com/secure-systems-lab/go-securesystemslib/dsse"

	"github.com/apedge/apedge/formats/envelope"
	"github.com/apedge/apedge/formats/sitekey"
)

// TestStoredEnvelopeExact checks that the envelope rebuilt from a stored payload and
// signature, by Read, ReadAll and a duplicate's Record, is exactly the one Append
// returned, which is exactly what envelope.Sign gives for the payload; also across a
// key change, since each row names its own key.
func TestStoredEnvelopeExact(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "journal.db")
	key := testKey(t)
	other, err := sitekey.FromSeed(testSite, bytes.Repeat([]byte{8}, 32))
	if err != nil {
		t.Fatal(err)
	}
	recs := map[uint64]Record{}
	for round, k := range []*sitekey.Private{key, other} {
		j := openTest(t, k, path, Options{})
		for i := range 10 {
			rec := mustAppend(t, j, typicalDraft(uint64(round*100+i)))
			env, err := envelope.Decode(rec.Envelope)
			if err != nil {
				t.Fatal(err)
			}
			if want := envelope.Sign(k, env.Payload); !bytes.Equal(rec.Envelope, want) {
				t.Fatalf("seq %d: Append's envelope differs from envelope.Sign's", rec.Seq)
			}
			recs[rec.Seq] = rec
		}
		if dup := mustAppend(t, j, typicalDraft(0)); !dup.Duplicate || !bytes.Equal(dup.Envelope, recs[1].Envelope) {
			t.Fatalf("duplicate of seq 1: %+v", dup)
		}
		if err := j.Close(); err != nil {
			t.Fatal(err)
		}
	}
	j := openTest(t, key, path, Options{})
	es, err := j.Read(ctx, 1, 100, 0)
	if err != nil {
		t.Fatal(err)
	}
	all, err := ReadAll(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != len(recs) || len(all) != len(recs) {
		t.Fatalf("Read %d and ReadAll %d entries, want %d", len(es), len(all), len(recs))
	}
	for i, e := range es {
		rec := recs[e.Seq]
		if !bytes.Equal(e.Envelope, rec.Envelope) {
			t.Fatalf("seq %d: Read's envelope differs from Append's", e.Seq)
		}
		if all[i].Seq != e.Seq || !bytes.Equal(all[i].Envelope, rec.Envelope) {
			t.Fatalf("seq %d: ReadAll's envelope differs from Append's", e.Seq)
		}
	}
}

func TestAppendPAE(t *testing.T) {
	for _, p := range [][]byte{nil, []byte("x"), bytes.Repeat([]byte("{}"), 600)} {
		if got, want := appendPAE([]byte("junk"), p)[4:], dsse.PAE(envelope.PayloadType, p); !bytes.Equal(got, want) {
			t.Fatalf("appendPAE(%q) = %q, want %q", p, got, want)
		}
	}
}
