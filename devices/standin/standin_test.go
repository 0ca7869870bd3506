package standin_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apedge/apedge/devices/standin"
)

var (
	readers = []standin.Reader{
		{ID: "front-in", Door: "front", Direction: "entry"},
		{ID: "front-out", Door: "front", Direction: "exit"},
		{ID: "garden-in", Door: "garden", Direction: "entry"},
	}
	cards = []string{"10001", "10002", "10003", "10004"}
)

var errEnough = errors.New("enough reads")

// collect runs s until it has made n reads and returns them.
func collect(t *testing.T, s *standin.Site, n int) []standin.Read {
	t.Helper()
	var got []standin.Read
	err := s.Run(t.Context(), func(ctx context.Context, r standin.Read) error {
		if ctx.Err() != nil {
			t.Errorf("emit called with a context that has ended: %v", ctx.Err())
		}
		got = append(got, r)
		if len(got) == n {
			return errEnough
		}
		return nil
	})
	if !errors.Is(err, errEnough) {
		t.Fatalf("Run = %v, want emit's error", err)
	}
	return got
}

func seeded(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)) }

func TestRunReadsConfiguredReadersAndCards(t *testing.T) {
	const n = 300
	s := &standin.Site{Readers: readers, Cards: cards, Every: time.Microsecond, Rand: seeded(1)}
	got := collect(t, s, n)
	if len(got) != n {
		t.Fatalf("%d reads, want %d", len(got), n)
	}
	seenReaders, seenCards := map[string]int{}, map[string]int{}
	for i, r := range got {
		if !slices.Contains(readers, r.Reader) {
			t.Fatalf("read %d from reader %+v, which is not configured", i, r.Reader)
		}
		if !slices.Contains(cards, r.Data.Credential.Number) {
			t.Fatalf("read %d of card %q, which is not configured", i, r.Data.Credential.Number)
		}
		if r.Data.Door != r.Reader.Door || r.Data.Direction != r.Reader.Direction {
			t.Errorf("read %d: door %q direction %q from reader %+v", i, r.Data.Door, r.Data.Direction, r.Reader)
		}
		if r.Data.Credential.Kind != "card" || r.Data.Credential.Format != "raw" {
			t.Errorf("read %d: credential %+v, want kind card, format raw", i, r.Data.Credential)
		}
		seenReaders[r.Reader.ID]++
		seenCards[r.Data.Credential.Number]++
	}
	// Picks are uniform: over 300 reads every reader and card turns up many times.
	for _, r := range readers {
		if seenReaders[r.ID] < n/len(readers)/3 {
			t.Errorf("reader %s read %d times in %d: %v", r.ID, seenReaders[r.ID], n, seenReaders)
		}
	}
	for _, c := range cards {
		if seenCards[c] < n/len(cards)/3 {
			t.Errorf("card %s read %d times in %d: %v", c, seenCards[c], n, seenCards)
		}
	}
}

func TestRunSeedIsReproducible(t *testing.T) {
	run := func(seed uint64) []standin.Read {
		return collect(t, &standin.Site{Readers: readers, Cards: cards, Every: time.Microsecond, Rand: seeded(seed)}, 50)
	}
	a, b, c := run(7), run(7), run(8)
	if !slices.Equal(a, b) {
		t.Error("two runs with the same seed read differently")
	}
	if slices.Equal(a, c) {
		t.Error("runs with different seeds read the same 50 cards")
	}
}

func TestRunNilRand(t *testing.T) {
	got := collect(t, &standin.Site{Readers: readers[:1], Cards: cards[:1], Every: time.Microsecond}, 5)
	for _, r := range got {
		if r.Reader != readers[0] || r.Data.Credential.Number != cards[0] {
			t.Errorf("read %+v, want reader %s card %s", r, readers[0].ID, cards[0])
		}
	}
}

func TestRunReturnsEmitError(t *testing.T) {
	calls := 0
	s := &standin.Site{Readers: readers, Cards: cards, Every: time.Microsecond, Rand: seeded(3)}
	err := s.Run(t.Context(), func(context.Context, standin.Read) error {
		calls++
		if calls == 3 {
			return errEnough
		}
		return nil
	})
	if !errors.Is(err, errEnough) || calls != 3 {
		t.Errorf("Run = %v after %d reads, want emit's error after 3", err, calls)
	}
}

// TestRunStopsOnCancel: once ctx ends Run returns nil and makes no further read, even
// when reads are due continuously.
func TestRunStopsOnCancel(t *testing.T) {
	for i := range 50 {
		ctx, cancel := context.WithCancel(t.Context())
		var calls, late atomic.Int32
		stopAt := int32(1 + i%5)
		s := &standin.Site{Readers: readers, Cards: cards, Every: time.Nanosecond, Rand: seeded(uint64(i))}
		err := s.Run(ctx, func(ctx context.Context, r standin.Read) error {
			if ctx.Err() != nil {
				late.Add(1)
			}
			if calls.Add(1) == stopAt {
				cancel()
			}
			return nil
		})
		cancel()
		if err != nil {
			t.Fatalf("Run after cancel = %v, want nil", err)
		}
		if n := calls.Load(); n != stopAt || late.Load() != 0 {
			t.Fatalf("run %d: %d reads, %d of them after the context ended; want %d, none after", i, n, late.Load(), stopAt)
		}
	}
}

func TestRunCanceledBeforeStart(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	for i := range 50 {
		s := &standin.Site{Readers: readers, Cards: cards, Every: time.Second, Rand: seeded(uint64(i))}
		calls := 0
		err := s.Run(ctx, func(context.Context, standin.Read) error { calls++; return nil })
		if err != nil || calls != 0 {
			t.Fatalf("Run with an ended context = %v after %d reads, want nil after none", err, calls)
		}
	}
}

// TestRunWaitsBetweenReads: with a long mean gap, the first read comes at once and the
// next does not come before the context ends.
func TestRunWaitsBetweenReads(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	reads := make(chan standin.Read, 10)
	done := make(chan error, 1)
	s := &standin.Site{Readers: readers, Cards: cards, Every: time.Hour, Rand: seeded(5)}
	go func() {
		done <- s.Run(ctx, func(_ context.Context, r standin.Read) error { reads <- r; return nil })
	}()
	select {
	case <-reads:
	case <-time.After(10 * time.Second):
		t.Fatal("no first read")
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run = %v, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	if len(reads) != 0 {
		t.Errorf("%d more reads within a mean gap of an hour", len(reads))
	}
}
