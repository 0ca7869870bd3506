package central

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"

	"github.com/apedge/apedge/formats/envelope"
	"github.com/apedge/apedge/formats/uplink"
	"github.com/apedge/apedge/formats/verify"
)

// FuzzBatch feeds arbitrary bytes as a batch on ABC's events topic to one receiver
// (its state carries over from input to input) and checks after each that it did not
// panic and stored nothing invalid: ABC's stored events are a chain from seq 1 that
// verifies against ABC's key, every payload one that ABC really signed, the head equals
// the count, and no other site has anything. Seeds are in testdata/fuzz/FuzzBatch.
func FuzzBatch(f *testing.F) {
	ctx := context.Background()
	abc := makeChain(f, testKey(f, "ABC"), 8)
	f.Add(uplink.EncodeBatch(abc[:3]))
	f.Add(uplink.EncodeBatch(abc[3:]))
	genuine := map[string]bool{}
	for _, e := range abc {
		d, err := envelope.Decode(e)
		if err != nil {
			f.Fatal(err)
		}
		genuine[string(d.Payload)] = true
	}
	path := filepath.Join(f.TempDir(), "central.db")
	r, err := Open(ctx, Options{Path: path, Trust: testTrust(f), MaxHeld: 16, Logger: quietLogger()})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { r.Close() })
	pub := testKey(f, "ABC").Public()

	f.Fuzz(func(t *testing.T, msg []byte) {
		r.processSync(uplink.EventsTopic("ABC"), msg)

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
	})
}
