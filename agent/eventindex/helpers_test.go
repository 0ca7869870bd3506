package eventindex

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/apedge/apedge/agent/journal"
	"github.com/apedge/apedge/formats/event"
	"github.com/apedge/apedge/formats/sitekey"
	"github.com/apedge/apedge/internal/wait"
)

const testSite = "AP-LDN-01"

// t0 is when the test events start: 2025-03-30 00:30 UTC, half an hour before the
// clocks go forward in London.
var t0 = time.Date(2025, 3, 30, 0, 30, 0, 0, time.UTC)

// testKey returns a fixed site key made from seed.
func testKey(tb testing.TB, seed byte) *sitekey.Private {
	tb.Helper()
	k, err := sitekey.FromSeed(testSite, bytes.Repeat([]byte{seed}, 32))
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

// openJournal opens the journal at path with a key made from seed, closing it at the
// end of the test.
func openJournal(tb testing.TB, path string, seed byte) *journal.Journal {
	tb.Helper()
	j, err := journal.Open(context.Background(), journal.Options{Path: path, Key: testKey(tb, seed), Logger: quiet()})
	if err != nil {
		tb.Fatalf("journal.Open: %v", err)
	}
	tb.Cleanup(func() { j.Close() })
	return j
}

// openIndex opens the index at path for j, closing it at the end of the test.
func openIndex(tb testing.TB, path string, j *journal.Journal) *Index {
	tb.Helper()
	x, err := Open(context.Background(), path, j, quiet())
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	tb.Cleanup(func() { x.Close() })
	return x
}

// run runs x until the returned stop is called (or the test ends), and stop checks
// that Run returned nil.
func run(tb testing.TB, x *Index) (stop func()) {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- x.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					tb.Errorf("Run: %v", err)
				}
			case <-time.After(10 * time.Second):
				tb.Errorf("Run did not return after its context ended")
			}
		})
	}
	tb.Cleanup(stop)
	return stop
}

// waitFor waits for cond for up to 10 s.
func waitFor(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	wait.Until(tb, 10*time.Second, what, cond)
}

// waitIndexed waits until x has indexed seq.
func waitIndexed(tb testing.TB, x *Index, seq uint64) {
	tb.Helper()
	waitFor(tb, fmt.Sprintf("seq %d indexed", seq), func() bool { return x.Indexed() >= seq })
}

func person(ids ...string) *event.PersonReference {
	p := &event.PersonReference{}
	for i := 0; i+1 < len(ids); i += 2 {
		p.Identifiers = append(p.Identifiers, event.Identifier{Type: ids[i], Value: ids[i+1]})
	}
	return p
}

func info(kv ...any) json.RawMessage {
	m := map[string]any{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i].(string)] = kv[i+1]
	}
	b, err := json.Marshal(m)
	if err != nil {
		panic(err)
	}
	return b
}

func draft(typ string, minute int, p *event.PersonReference, inf json.RawMessage) *event.Draft {
	return &event.Draft{Type: typ, OccurredAt: t0.Add(time.Duration(minute) * time.Minute), Person: p, Info: inf}
}

func ackDraft(alarm uint64, by, note string, minute int) *event.Draft {
	return draft(AckType, minute, nil, info("alarm", alarm, "by", by, "note", note))
}

// fixture is the site's evening, seqs 1..10, one a minute from t0.
func fixture() []*event.Draft {
	dev := map[string]any{"class": "reader", "id": "reader-02", "boot": 1, "seq": 7}
	return []*event.Draft{
		draft("agent.started", 0, nil, info("version", "test")),
		draft("movement.entered", 1, person("CRN", "X123456", "NOMS", "A1234BC"), info("door", "front", "reader", "reader-01", "direction", "entry")),
		draft("door.forced", 2, nil, info("door", "back", "device", map[string]any{"class": "door", "id": "back"})),
		draft("movement.exited", 3, person("CRN", "X123456"), info("door", "front", "direction", "exit")),
		draft("reader.offline", 4, nil, info("reader", "reader-02", "device", dev)),
		draft("curfew.roll", 5, nil, info("in", []string{"X123456"}, "out", []string{"Y654321"})),
		draft("curfew.absent", 6, person("CRN", "Y654321", "NOMS", "B7654CD"), info("decisionKey", "k1")),
		draft("door.held-open", 7, nil, info("door", "front")),
		draft("curfew.roll", 8, nil, info("in", []string{"X123456", "Y654321"})),
		draft("movement.entered", 9, person("CRN", "Y654321", "NOMS", "B7654CD"), info("door", "front", "direction", "entry")),
	}
}

// appendAll appends ds in order and returns the seq of the last.
func appendAll(tb testing.TB, j *journal.Journal, ds ...*event.Draft) uint64 {
	tb.Helper()
	var last uint64
	for _, d := range ds {
		rec, err := j.Append(context.Background(), d)
		if err != nil {
			tb.Fatalf("Append %s: %v", d.Type, err)
		}
		last = rec.Seq
	}
	return last
}

// appendMany appends n movements concurrently, for volume.
func appendMany(tb testing.TB, j *journal.Journal, n int) {
	tb.Helper()
	const workers = 64
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			for i := w; i < n; i += workers {
				d := draft("movement.entered", i%1440, person("CRN", fmt.Sprintf("X%06d", i%500), "NOMS", "A1234BC"),
					info("door", "front-entrance", "reader", "reader-01", "direction", "entry",
						"credential", map[string]any{"kind": "card+fingerprint", "matchScore": 87},
						"device", map[string]any{"class": "reader", "id": "reader-01", "boot": 3, "seq": i}))
				if _, err := j.Append(context.Background(), d); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		tb.Fatalf("Append: %v", err)
	}
}

// rows counts the index's entries rows.
func rows(tb testing.TB, x *Index) int {
	tb.Helper()
	var n int
	if err := x.db.QueryRow(`SELECT count(*) FROM entries`).Scan(&n); err != nil {
		tb.Fatal(err)
	}
	return n
}

func seqs(ss []Summary) []uint64 {
	out := []uint64{}
	for _, s := range ss {
		out = append(out, s.Seq)
	}
	return out
}

func alarmSeqs(as []Alarm) []uint64 {
	out := []uint64{}
	for _, a := range as {
		out = append(out, a.Seq)
	}
	return out
}

// setup opens a journal and an index in a fresh directory, appends the fixture and
// runs the index until it has indexed it.
func setup(t *testing.T) (*journal.Journal, *Index) {
	t.Helper()
	dir := t.TempDir()
	db := filepath.Join(dir, "journal.db")
	j := openJournal(t, db, 7)
	last := appendAll(t, j, fixture()...)
	x := openIndex(t, Path(db), j)
	run(t, x)
	waitIndexed(t, x, last)
	return j, x
}
