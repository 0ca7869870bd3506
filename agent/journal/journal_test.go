package journal

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apedge/apedge/formats/envelope"
	"github.com/apedge/apedge/formats/event"
	"github.com/apedge/apedge/formats/sitekey"
	"github.com/apedge/apedge/internal/sqlitedb"
)

func TestConcurrentAppends(t *testing.T) {
	tests := []struct {
		name          string
		opts          Options
		goroutines, n int
	}{
		{"defaults", Options{}, 32, 40},
		{"one at a time", Options{MaxBatch: 1, Signers: 1}, 8, 20},
		{"small batches", Options{MaxBatch: 7, Signers: 3}, 16, 30},
		{"big batches", Options{MaxBatch: 4096, Signers: 8}, 64, 20},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			key := testKey(t)
			j := openTest(t, key, "", tc.opts)
			total := tc.goroutines * tc.n
			recs := make([]Record, total)
			var wg sync.WaitGroup
			for g := range tc.goroutines {
				wg.Go(func() {
					for i := range tc.n {
						k := g*tc.n + i
						d := typicalDraft(uint64(k))
						if k%2 == 1 {
							d.Origin = "" // half with no idempotency key
						}
						rec, err := j.Append(context.Background(), d)
						if err != nil {
							t.Errorf("Append %d: %v", k, err)
							return
						}
						recs[k] = rec
					}
				})
			}
			wg.Wait()
			if t.Failed() {
				t.FailNow()
			}
			envs, hashes := verifyChain(t, j, key, uint64(total))
			seen := make([]bool, total+1)
			for k, rec := range recs {
				switch {
				case rec.Seq < 1 || rec.Seq > uint64(total):
					t.Fatalf("append %d: seq %d out of 1..%d", k, rec.Seq, total)
				case seen[rec.Seq]:
					t.Fatalf("seq %d handed out twice", rec.Seq)
				case rec.Duplicate:
					t.Fatalf("append %d: Duplicate set on a fresh origin", k)
				case rec.ID != event.ID(testSite, rec.Seq):
					t.Fatalf("seq %d: ID %q", rec.Seq, rec.ID)
				case !bytes.Equal(rec.Envelope, envs[rec.Seq]):
					t.Fatalf("seq %d: returned envelope differs from the stored one", rec.Seq)
				case rec.Hash != hashes[rec.Seq]:
					t.Fatalf("seq %d: returned hash differs from the payload's", rec.Seq)
				}
				seen[rec.Seq] = true
			}
		})
	}
}

func TestReopenContinuesChain(t *testing.T) {
	key := testKey(t)
	path := filepath.Join(t.TempDir(), "journal.db")
	ctx := context.Background()
	var last Record
	for round := range 3 {
		j := openTest(t, key, path, Options{})
		if got, want := j.Last(), uint64(round*10); got != want {
			t.Fatalf("round %d: Last() = %d after reopen, want %d", round, got, want)
		}
		for i := range 10 {
			rec, err := j.Append(ctx, typicalDraft(uint64(round*10+i)))
			if err != nil {
				t.Fatal(err)
			}
			env, err := envelope.Decode(rec.Envelope)
			if err != nil {
				t.Fatal(err)
			}
			ev, err := event.Parse(env.Payload)
			if err != nil {
				t.Fatal(err)
			}
			prevHash := event.GenesisHash
			if last.Seq > 0 {
				prevHash = last.Hash
			}
			if err := ev.Follows(last.Seq, prevHash); err != nil {
				t.Fatalf("round %d append %d: %v", round, i, err)
			}
			last = rec
		}
		if err := j.Close(); err != nil {
			t.Fatal(err)
		}
	}
	j := openTest(t, key, path, Options{})
	verifyChain(t, j, key, 30)
}

func TestAppendRejects(t *testing.T) {
	key := testKey(t)
	j := openTest(t, key, "", Options{})
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name string
		ctx  context.Context
		d    func() *event.Draft
		want string
	}{
		{"nil draft", context.Background(), func() *event.Draft { return nil }, "nil draft"},
		{"bad type", context.Background(), func() *event.Draft { d := typicalDraft(1); d.Type = "Movement Entered"; return d }, "type"},
		{"no time", context.Background(), func() *event.Draft { d := typicalDraft(2); d.OccurredAt = time.Time{}; return d }, "occurredAt"},
		{"info not an object", context.Background(), func() *event.Draft { d := typicalDraft(3); d.Info = []byte(`[1]`); return d }, "info"},
		{"cancelled", cancelled, func() *event.Draft { return typicalDraft(4) }, "context canceled"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := j.Append(tc.ctx, tc.d())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Append: %v, want an error about %q", err, tc.want)
			}
			if j.Last() != 0 {
				t.Fatalf("a refused draft used seq %d", j.Last())
			}
		})
	}
	// A refused draft neither uses a seq nor claims its origin.
	rec, err := j.Append(context.Background(), typicalDraft(1))
	if err != nil || rec.Seq != 1 || rec.Duplicate {
		t.Fatalf("Append after refusals = %+v, %v; want seq 1", rec, err)
	}
	verifyChain(t, j, key, 1)
}

func TestOriginDedupe(t *testing.T) {
	ctx := context.Background()
	draft := func(origin string) *event.Draft { d := typicalDraft(0); d.Origin = origin; return d }
	tests := []struct {
		name string
		run  func(t *testing.T, key *sitekey.Private, path string) (rows uint64)
	}{
		{"again after commit", func(t *testing.T, key *sitekey.Private, path string) uint64 {
			j := openTest(t, key, path, Options{})
			first := mustAppend(t, j, draft("o-1"))
			mustAppend(t, j, draft("o-2"))
			again := mustAppend(t, j, draft("o-1"))
			checkDuplicate(t, again, first)
			return 2
		}},
		{"again after reopen", func(t *testing.T, key *sitekey.Private, path string) uint64 {
			j := openTest(t, key, path, Options{})
			first := mustAppend(t, j, draft("o-1"))
			if err := j.Close(); err != nil {
				t.Fatal(err)
			}
			j = openTest(t, key, path, Options{})
			checkDuplicate(t, mustAppend(t, j, draft("o-1")), first)
			mustAppend(t, j, draft("o-3"))
			return 2
		}},
		{"empty origin is not a key", func(t *testing.T, key *sitekey.Private, path string) uint64 {
			j := openTest(t, key, path, Options{})
			for i := range 3 {
				if rec := mustAppend(t, j, draft("")); rec.Seq != uint64(i+1) || rec.Duplicate {
					t.Fatalf("append %d = seq %d duplicate %v", i, rec.Seq, rec.Duplicate)
				}
			}
			return 3
		}},
		{"same batch", func(t *testing.T, key *sitekey.Private, path string) uint64 {
			// Hold the writer until every append is queued, so they form one batch.
			gate := make(chan struct{})
			j, err := open(ctx, Options{Path: path, Key: key, Logger: slog.New(slog.DiscardHandler)}, gate)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { j.Close() })
			origins := []string{"a", "b", "a", "", "a", "b", "c"}
			recs := make([]Record, len(origins))
			var wg sync.WaitGroup
			for i, o := range origins {
				wg.Go(func() { recs[i] = tryAppend(t, j, draft(o)) })
			}
			waitFor(t, "appends to queue", func() bool { return len(j.reqs) == len(origins) })
			close(gate)
			wg.Wait()
			byOrigin := map[string][]Record{}
			for i, o := range origins {
				if o != "" {
					byOrigin[o] = append(byOrigin[o], recs[i])
				}
			}
			for o, rs := range byOrigin {
				fresh := 0
				for _, r := range rs {
					if !r.Duplicate {
						fresh++
					}
					if r.Seq != rs[0].Seq || !bytes.Equal(r.Envelope, rs[0].Envelope) {
						t.Fatalf("origin %q: records for seqs %d and %d", o, r.Seq, rs[0].Seq)
					}
				}
				if fresh != 1 {
					t.Fatalf("origin %q journaled %d times", o, fresh)
				}
			}
			return 4
		}},
		{"many appenders, few origins, tiny batches", func(t *testing.T, key *sitekey.Private, path string) uint64 {
			j := openTest(t, key, path, Options{MaxBatch: 3})
			const origins = 25
			var mu sync.Mutex
			seqOf := map[string]uint64{}
			fresh := map[string]int{}
			var wg sync.WaitGroup
			for g := range 40 {
				wg.Go(func() {
					for i := range 10 {
						o := fmt.Sprintf("o-%d", (g*7+i)%origins)
						rec := tryAppend(t, j, draft(o))
						mu.Lock()
						if s, ok := seqOf[o]; ok && s != rec.Seq {
							t.Errorf("origin %q: seqs %d and %d", o, s, rec.Seq)
						}
						seqOf[o] = rec.Seq
						if !rec.Duplicate {
							fresh[o]++
						}
						mu.Unlock()
					}
				})
			}
			wg.Wait()
			for o, n := range fresh {
				if n != 1 {
					t.Errorf("origin %q journaled %d times", o, n)
				}
			}
			return origins
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			key := testKey(t)
			path := filepath.Join(t.TempDir(), "journal.db")
			rows := tc.run(t, key, path)
			j := openTest(t, key, path, Options{})
			verifyChain(t, j, key, rows)
		})
	}
}

func mustAppend(t *testing.T, j *Journal, d *event.Draft) Record {
	t.Helper()
	rec, err := j.Append(context.Background(), d)
	if err != nil {
		t.Fatalf("Append(origin %q): %v", d.Origin, err)
	}
	return rec
}

// tryAppend is mustAppend for goroutines other than the test's.
func tryAppend(t *testing.T, j *Journal, d *event.Draft) Record {
	t.Helper()
	rec, err := j.Append(context.Background(), d)
	if err != nil {
		t.Errorf("Append(origin %q): %v", d.Origin, err)
	}
	return rec
}

func checkDuplicate(t *testing.T, got, first Record) {
	t.Helper()
	if !got.Duplicate || got.Seq != first.Seq || got.ID != first.ID || got.Hash != first.Hash || !bytes.Equal(got.Envelope, first.Envelope) {
		t.Fatalf("repeated origin gave %+v, want the record of seq %d marked Duplicate", got, first.Seq)
	}
}

func TestReadLimits(t *testing.T) {
	key := testKey(t)
	j := openTest(t, key, "", Options{})
	const n = 20
	for i := range n {
		mustAppend(t, j, typicalDraft(uint64(i)))
	}
	envs, _ := verifyChain(t, j, key, n)
	size := func(from, to int) (s int) { // total envelope bytes of seqs from..to
		for i := from; i <= to; i++ {
			s += len(envs[i])
		}
		return s
	}
	tests := []struct {
		name            string
		from            uint64
		maxN, maxBytes  int
		wantFirst, want int // first seq and count expected
	}{
		{"maxN", 1, 5, 0, 1, 5},
		{"from zero means from one", 0, 3, 0, 1, 3},
		{"tail", 18, 10, 0, 18, 3},
		{"past the end", 21, 10, 0, 0, 0},
		{"maxBytes exact", 4, 100, size(4, 6), 4, 3},
		{"maxBytes one short", 4, 100, size(4, 6) - 1, 4, 2},
		{"maxBytes below one envelope", 7, 100, 10, 7, 1},
		{"maxN before maxBytes", 1, 2, 1 << 20, 1, 2},
		{"everything", 1, 1000, 1 << 20, 1, n},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			es, err := j.Read(context.Background(), tc.from, tc.maxN, tc.maxBytes)
			if err != nil {
				t.Fatal(err)
			}
			if len(es) != tc.want {
				t.Fatalf("got %d entries, want %d", len(es), tc.want)
			}
			for i, e := range es {
				if want := uint64(tc.wantFirst + i); e.Seq != want || !bytes.Equal(e.Envelope, envs[want]) {
					t.Fatalf("entry %d is seq %d, want seq %d as stored", i, e.Seq, want)
				}
			}
		})
	}
	if _, err := j.Read(context.Background(), 1, 0, 0); err == nil {
		t.Fatal("Read with maxN 0 succeeded")
	}
}

func TestWait(t *testing.T) {
	key := testKey(t)
	j := openTest(t, key, "", Options{})
	ctx := context.Background()
	mustAppend(t, j, typicalDraft(1))

	if got, err := j.Wait(ctx, 0); got != 1 || err != nil {
		t.Fatalf("Wait(0) = %d, %v; want 1 at once", got, err)
	}

	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if got, err := j.Wait(short, 1); got != 1 || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait(1) with nothing new = %d, %v; want 1, deadline exceeded", got, err)
	}

	woke := make(chan uint64, 1)
	go func() {
		got, err := j.Wait(ctx, 1)
		if err != nil {
			t.Error(err)
		}
		woke <- got
	}()
	mustAppend(t, j, typicalDraft(2))
	select {
	case got := <-woke:
		if got != 2 {
			t.Fatalf("Wait(1) = %d, want 2", got)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Wait(1) did not return after seq 2 was appended")
	}

	closed := make(chan error, 1)
	go func() {
		_, err := j.Wait(ctx, 2)
		closed <- err
	}()
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-closed:
		if !errors.Is(err, ErrClosed) {
			t.Fatalf("Wait across Close = %v, want ErrClosed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Wait did not return after Close")
	}
}

func TestSetDelivered(t *testing.T) {
	key := testKey(t)
	path := filepath.Join(t.TempDir(), "journal.db")
	ctx := context.Background()
	j := openTest(t, key, path, Options{})
	if err := j.SetDelivered(ctx, 1); err == nil {
		t.Fatal("SetDelivered(1) on an empty journal succeeded")
	}
	for i := range 5 {
		mustAppend(t, j, typicalDraft(uint64(i)))
	}
	steps := []struct {
		set     uint64
		wantErr bool
		want    uint64
	}{
		{3, false, 3},
		{2, false, 3}, // late ack: ignored
		{3, false, 3},
		{6, true, 3}, // past Last
		{5, false, 5},
		{0, false, 5},
	}
	for _, s := range steps {
		err := j.SetDelivered(ctx, s.set)
		if (err != nil) != s.wantErr {
			t.Fatalf("SetDelivered(%d) = %v, want error %v", s.set, err, s.wantErr)
		}
		if got := j.Delivered(); got != s.want {
			t.Fatalf("after SetDelivered(%d): Delivered() = %d, want %d", s.set, got, s.want)
		}
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	j = openTest(t, key, path, Options{})
	if got := j.Delivered(); got != 5 {
		t.Fatalf("Delivered() after reopen = %d, want 5", got)
	}
}

func TestClose(t *testing.T) {
	key := testKey(t)
	path := filepath.Join(t.TempDir(), "journal.db")
	ctx := context.Background()
	j := openTest(t, key, path, Options{MaxBatch: 8})

	// Close while appends are in flight: each either completes durably or is refused
	// with ErrClosed, and the completed ones are exactly 1..Last.
	var wg sync.WaitGroup
	var mu sync.Mutex
	var done []uint64
	for g := range 16 {
		wg.Go(func() {
			for i := 0; ; i++ {
				rec, err := j.Append(ctx, typicalDraft(uint64(g*1000+i)))
				if errors.Is(err, ErrClosed) {
					return
				}
				if err != nil {
					t.Errorf("Append: %v", err)
					return
				}
				mu.Lock()
				done = append(done, rec.Seq)
				mu.Unlock()
			}
		})
	}
	waitFor(t, "some appends", func() bool { return j.Last() >= 50 })
	if err := j.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	wg.Wait()
	if err := j.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	last := j.Last()
	if uint64(len(done)) != last {
		t.Fatalf("%d appends succeeded but Last() = %d", len(done), last)
	}
	if _, err := j.Append(ctx, typicalDraft(1)); !errors.Is(err, ErrClosed) {
		t.Fatalf("Append after Close = %v, want ErrClosed", err)
	}
	if _, err := j.Read(ctx, 1, 1, 0); !errors.Is(err, ErrClosed) {
		t.Fatalf("Read after Close = %v, want ErrClosed", err)
	}
	if err := j.SetDelivered(ctx, 1); !errors.Is(err, ErrClosed) {
		t.Fatalf("SetDelivered after Close = %v, want ErrClosed", err)
	}
	j = openTest(t, key, path, Options{})
	verifyChain(t, j, key, last)
}

func TestCommitFailure(t *testing.T) {
	key := testKey(t)
	path := filepath.Join(t.TempDir(), "journal.db")
	ctx := context.Background()
	j := openTest(t, key, path, Options{})
	// The writer has one connection; a temporary trigger on it fails the insert of
	// seq 5 as a full disk or I/O error would.
	if _, err := j.wdb.ExecContext(ctx, `CREATE TEMP TRIGGER fail5 BEFORE INSERT ON entries WHEN NEW.seq = 5
		BEGIN SELECT RAISE(ABORT, 'injected failure'); END`); err != nil {
		t.Fatal(err)
	}
	for i := range 4 {
		mustAppend(t, j, typicalDraft(uint64(i)))
	}
	for i := range 3 {
		if _, err := j.Append(ctx, typicalDraft(uint64(10+i))); !errors.Is(err, ErrFailed) {
			t.Fatalf("Append %d after the failure = %v, want ErrFailed", i, err)
		}
	}
	if got := j.Last(); got != 4 {
		t.Fatalf("Last() = %d after a failed commit, want 4", got)
	}
	if _, err := j.Wait(ctx, 4); !errors.Is(err, ErrFailed) {
		t.Fatalf("Wait after a failed commit = %v, want ErrFailed", err)
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	// Restart: the chain resumes from what is durable.
	j = openTest(t, key, path, Options{})
	if rec := mustAppend(t, j, typicalDraft(10)); rec.Seq != 5 {
		t.Fatalf("first append after restart = seq %d, want 5", rec.Seq)
	}
	verifyChain(t, j, key, 5)
}

func TestOpenRefuses(t *testing.T) {
	ctx := context.Background()
	other, err := sitekey.FromSeed("AP-MAN-02", bytes.Repeat([]byte{9}, 32))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		damage string // SQL run on a journal of seqs 1..5
		key    *sitekey.Private
		want   string
	}{
		{"gap", `DELETE FROM entries WHERE seq = 3`, nil, "not contiguous"},
		{"lost tail and gap", `DELETE FROM entries WHERE seq IN (1, 5)`, nil, "not contiguous"},
		{"hash mismatch", `UPDATE entries SET hash = zeroblob(32) WHERE seq = 5`, nil, "does not match"},
		{"cursor past end", `UPDATE delivery SET delivered = 9`, nil, "delivery cursor"},
		{"another site's journal", ``, other, "belongs to site"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			key := testKey(t)
			path := filepath.Join(t.TempDir(), "journal.db")
			j := openTest(t, key, path, Options{})
			for i := range 5 {
				mustAppend(t, j, typicalDraft(uint64(i)))
			}
			if err := j.Close(); err != nil {
				t.Fatal(err)
			}
			if tc.damage != "" {
				db, err := sqlitedb.Open(ctx, path, migrations)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := db.ExecContext(ctx, tc.damage); err != nil {
					t.Fatal(err)
				}
				db.Close()
			}
			k := key
			if tc.key != nil {
				k = tc.key
			}
			j, err := Open(ctx, Options{Path: path, Key: k, Logger: slog.New(slog.DiscardHandler)})
			if err == nil {
				j.Close()
				t.Fatal("Open succeeded")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Open: %v, want an error about %q", err, tc.want)
			}
		})
	}
}

// TestReadWhileAppending follows the journal as the forwarder does, Wait then Read,
// while appenders run: every entry arrives once, in order, chained.
func TestReadWhileAppending(t *testing.T) {
	key := testKey(t)
	j := openTest(t, key, "", Options{MaxBatch: 16})
	const goroutines, each = 8, 60
	const total = goroutines * each
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range each {
				tryAppend(t, j, typicalDraft(uint64(g*each+i)))
			}
		})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pub := key.Public()
	prevSeq, prevHash := uint64(0), event.GenesisHash
	for prevSeq < total {
		if _, err := j.Wait(ctx, prevSeq); err != nil {
			t.Fatalf("Wait(%d): %v", prevSeq, err)
		}
		es, err := j.Read(ctx, prevSeq+1, 7, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(es) == 0 {
			t.Fatalf("Wait said there is more than %d, Read found nothing", prevSeq)
		}
		for _, e := range es {
			env, err := envelope.Decode(e.Envelope)
			if err != nil {
				t.Fatal(err)
			}
			if err := env.Verify(pub); err != nil {
				t.Fatal(err)
			}
			ev, err := event.Parse(env.Payload)
			if err != nil {
				t.Fatal(err)
			}
			if err := ev.Follows(prevSeq, prevHash); err != nil {
				t.Fatal(err)
			}
			prevSeq, prevHash = ev.Seq, event.Hash(env.Payload)
		}
	}
	wg.Wait()
	if got := j.Last(); got != total {
		t.Fatalf("Last() = %d, want %d", got, total)
	}
}
