package journal

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/apedge/apedge/formats/envelope"
	"github.com/apedge/apedge/formats/event"
	"github.com/apedge/apedge/formats/sitekey"
	"github.com/apedge/apedge/internal/wait"
)

const testSite = "AP-LDN-01"

// testKey returns a fixed site key, so that runs are reproducible.
func testKey(tb testing.TB) *sitekey.Private {
	tb.Helper()
	k, err := sitekey.FromSeed(testSite, bytes.Repeat([]byte{7}, 32))
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

var typicalInfo = json.RawMessage(`{"door":"front-entrance","reader":"reader-01","direction":"in",` +
	`"credential":{"kind":"card+fingerprint","matchScore":87},` +
	`"devices":{"reader":"OSDP-0042-7781","controller":"DC-0007","firmware":"2.4.1"}}`)

var typicalPerson = &event.PersonReference{Identifiers: []event.Identifier{
	{Type: "CRN", Value: "X123456"},
	{Type: "NOMS", Value: "A1234BC"},
}}

// typicalDraft is a door entry as the agent journals it, with origin n: what both
// benchmarks use, so that their figures compare like with like.
func typicalDraft(n uint64) *event.Draft {
	return &event.Draft{
		Type:        "movement.entered",
		OccurredAt:  time.Date(2025, 10, 26, 1, 30, 15, 123456789, time.UTC),
		Description: "Resident entered through the front entrance",
		Person:      typicalPerson,
		Info:        typicalInfo,
		Origin:      "sitebus:reader-01:" + strconv.FormatUint(n, 10),
	}
}

// openTest opens a journal at path (in a fresh temporary directory if empty) and
// closes it at the end of the test.
func openTest(tb testing.TB, key *sitekey.Private, path string, o Options) *Journal {
	tb.Helper()
	if path == "" {
		path = filepath.Join(tb.TempDir(), "journal.db")
	}
	o.Path, o.Key = path, key
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	j, err := Open(context.Background(), o)
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	tb.Cleanup(func() { j.Close() })
	return j
}

// verifyChain reads the whole journal and checks that it holds exactly seqs 1..want,
// each envelope verifying under key, carrying the right seq and id, and following the
// one before it. It returns the envelopes and payload hashes by seq (index 0 unused).
func verifyChain(tb testing.TB, j *Journal, key *sitekey.Private, want uint64) (envs [][]byte, hashes [][32]byte) {
	tb.Helper()
	pub := key.Public()
	envs = make([][]byte, 1, want+1)
	hashes = make([][32]byte, 1, want+1)
	prevSeq, prevHash := uint64(0), event.GenesisHash
	for {
		es, err := j.Read(context.Background(), prevSeq+1, 1000, 1<<20)
		if err != nil {
			tb.Fatalf("Read from %d: %v", prevSeq+1, err)
		}
		if len(es) == 0 {
			break
		}
		for _, e := range es {
			env, err := envelope.Decode(e.Envelope)
			if err != nil {
				tb.Fatalf("seq %d: %v", e.Seq, err)
			}
			if err := env.Verify(pub); err != nil {
				tb.Fatalf("seq %d: %v", e.Seq, err)
			}
			ev, err := event.Parse(env.Payload)
			if err != nil {
				tb.Fatalf("seq %d: %v", e.Seq, err)
			}
			if ev.Seq != e.Seq || ev.ID != event.ID(key.Site, e.Seq) {
				tb.Fatalf("row seq %d holds event seq %d id %q", e.Seq, ev.Seq, ev.ID)
			}
			if err := ev.Follows(prevSeq, prevHash); err != nil {
				tb.Fatalf("seq %d: %v", e.Seq, err)
			}
			prevSeq, prevHash = ev.Seq, event.Hash(env.Payload)
			envs = append(envs, e.Envelope)
			hashes = append(hashes, prevHash)
		}
	}
	if prevSeq != want {
		tb.Fatalf("journal holds seqs 1..%d, want 1..%d", prevSeq, want)
	}
	if l := j.Last(); l != want {
		tb.Fatalf("Last() = %d, want %d", l, want)
	}
	return envs, hashes
}

// waitFor waits for cond for up to 10 s.
func waitFor(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	wait.Until(tb, 10*time.Second, what, cond)
}
