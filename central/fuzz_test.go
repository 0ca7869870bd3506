package central

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/apedge/apedge/formats/envelope"
	"github.com/apedge/apedge/formats/sitekey"
	"github.com/apedge/apedge/formats/uplink"
	"github.com/apedge/apedge/formats/verify"
)

// fuzzSep separates the messages of one FuzzBatch input; JSON batches never hold it.
const fuzzSep = 0

// fuzzMaxMessages bounds the messages of one FuzzBatch input.
const fuzzMaxMessages = 8

// FuzzBatch feeds arbitrary bytes, split on NUL bytes into up to 8 messages, as batches
// on ABC's events topic to one receiver on a fresh store, and checks after each
// message that it did not panic and stored nothing invalid: ABC's stored events are a
// chain from seq 1 that verifies against ABC's key, every payload one that ABC really
// signed, the head equals the count, and no other site has anything. Seeds are in
// testdata/fuzz/FuzzBatch (one message each; the fuzzer splices them into sequences).
//
// Each input gets a fresh store (a copy of an empty, migrated one) so that what one
// input does depends on that input only: a store that grew from input to input made
// SQLite's code paths, hence the coverage, differ every time, so that nearly every
// input looked new and the fuzzer spent its time minimising noise (25 executions a
// minute). Several messages per input keep what the shared store exercised: state
// carried from one batch to the next (held events, gaps filled later, duplicates).
func FuzzBatch(f *testing.F) {
	ctx := context.Background()
	abc := makeChain(f, testKey(f, "ABC"), 8)
	f.Add(uplink.EncodeBatch(abc[:3]))
	f.Add(uplink.EncodeBatch(abc[3:]))
	f.Add(bytes.Join([][]byte{uplink.EncodeBatch(abc[4:]), uplink.EncodeBatch(abc[:4])}, []byte{fuzzSep}))
	genuine := map[string]bool{}
	for _, e := range abc {
		d, err := envelope.Decode(e)
		if err != nil {
			f.Fatal(err)
		}
		genuine[string(d.Payload)] = true
	}
	dir := fuzzDir(f)
	path := filepath.Join(dir, "central.db")
	open := func(t testing.TB) *Receiver {
		r, err := Open(ctx, Options{Path: path, Trust: testTrust(t), MaxHeld: 16, Logger: quietLogger()})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	r := open(f)
	if err := r.Close(); err != nil {
		f.Fatal(err)
	}
	empty, err := os.ReadFile(path)
	if err != nil {
		f.Fatal(err)
	}
	pub := testKey(f, "ABC").Public()

	f.Fuzz(func(t *testing.T, input []byte) {
		for _, suffix := range []string{"-wal", "-shm"} {
			if err := os.Remove(path + suffix); err != nil && !os.IsNotExist(err) {
				t.Fatal(err)
			}
		}
		if err := os.WriteFile(path, empty, 0o600); err != nil {
			t.Fatal(err)
		}
		r := open(t)
		defer r.Close()
		for _, msg := range bytes.SplitN(input, []byte{fuzzSep}, fuzzMaxMessages) {
			r.processSync(uplink.EventsTopic("ABC"), msg)
			checkFuzzStore(t, r, genuine, pub)
		}
	})
}

// fuzzDir is a directory for the fuzz store: in memory (/dev/shm) where there is one,
// else the test's temporary directory.
func fuzzDir(t testing.TB) string {
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
		dir, err := os.MkdirTemp("/dev/shm", "apedge-fuzz-")
		if err == nil {
			t.Cleanup(func() { os.RemoveAll(dir) })
			return dir
		}
	}
	return t.TempDir()
}

// checkFuzzStore checks that r's store holds only ABC's events, a chain from seq 1
// that verifies against pub, each with a payload in genuine, and that the head and
// the stats agree with the count.
func checkFuzzStore(t *testing.T, r *Receiver, genuine map[string]bool, pub *sitekey.Public) {
	t.Helper()
	ctx := context.Background()
	rows, err := r.st.db.QueryContext(ctx, `SELECT site, envelope FROM events ORDER BY site, seq`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var export bytes.Buffer
	n := 0
	for rows.Next() {
		var (
			site string
			env  []byte
		)
		if err := rows.Scan(&site, &env); err != nil {
			t.Fatal(err)
		}
		if site != "ABC" {
			t.Fatalf("stored an event of site %s", site)
		}
		d, err := envelope.Decode(env)
		if err != nil || !genuine[string(d.Payload)] {
			t.Fatalf("stored an envelope whose payload ABC never signed: %q", env)
		}
		export.Write(env)
		export.WriteByte('\n')
		n++
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if n > 0 {
		if res, err := verify.Export(&export, pub); err != nil || res.Count != n {
			t.Fatalf("stored events do not verify: %+v, %v", res, err)
		}
	}
	if h := r.Heads()["ABC"]; h != uint64(n) {
		t.Fatalf("head %d with %d stored", h, n)
	}
	if s := r.Stats(); s.Stored != uint64(n) || s.HeldNow > 16 {
		t.Fatalf("stats %+v with %d stored", s, n)
	}
}
