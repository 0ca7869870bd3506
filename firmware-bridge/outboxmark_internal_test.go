package bridge

import (
	"context"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apedge/apedge/formats/sitebus"
	"github.com/apedge/apedge/internal/broker/brokertest"
	"github.com/apedge/apedge/internal/clock/clocktest"
)

// TestOutboxSentMarksOnFullDisk: messages kept before the disk filled are sent once,
// not again every second while their sent marks cannot be written; the marks are
// written once there is room, and the failure is logged once.
func TestOutboxSentMarksOnFullDisk(t *testing.T) {
	brk := brokertest.Start(t)
	msgs := brokertest.Subscribe(t, brokertest.Client(t, brk.URL(), "agent"), "apedge/v1/MAN1/#")
	clk := clocktest.Running(time.Date(2026, 6, 10, 11, 0, 0, 0, time.UTC))
	pub := sitebus.NewPublisher(brokertest.Client(t, brk.URL(), "bridge"), "MAN1", "boot1", clk)
	h := &countingHandler{n: map[string]int{}}
	o, err := openOutbox(context.Background(), t.TempDir(), pub, clk, slog.New(h))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { o.db.Close() })
	var failing atomic.Bool
	o.failWrites = func() error {
		if failing.Load() {
			return errDiskFull
		}
		return nil
	}
	ev := func(i int) outMsg {
		return outMsg{at: clk.Now(), class: "door", id: "front", kind: sitebus.KindEvent, msgKind: "opened", data: map[string]int{"n": i}}
	}
	ctx := context.Background()
	if err := o.keep(ctx, []outMsg{ev(1), ev(2)}); err != nil {
		t.Fatal(err)
	}

	failing.Store(true) // the disk fills after they were kept
	for try := range 4 {
		n, err := o.sendKept(ctx)
		if err != nil {
			t.Fatalf("try %d: %v", try, err)
		}
		if want := map[int]int{0: 2}[try]; n != want {
			t.Errorf("try %d sent %d, want %d", try, n, want)
		}
	}
	for range 2 {
		brokertest.Receive(t, 10*time.Second, "a kept message", msgs)
	}
	if len(o.unmarked) != 2 {
		t.Errorf("%d marks held in memory, want 2", len(o.unmarked))
	}

	failing.Store(false)
	if err := o.keep(ctx, []outMsg{ev(3)}); err != nil {
		t.Fatal(err)
	}
	if n, err := o.sendKept(ctx); err != nil || n != 1 {
		t.Fatalf("after room: sent %d (%v), want only the new one", n, err)
	}
	m := brokertest.Receive(t, 10*time.Second, "the new message", msgs)
	if got, _ := sitebus.Decode(m.Payload()); got == nil || got.Seq != 3 {
		t.Fatalf("next message on the bus %s, want the new one (seq 3): the first two were sent again", m.Payload())
	}
	var unsent int
	if err := o.db.QueryRow(`SELECT count(*) FROM outbox WHERE sent = 0`).Scan(&unsent); err != nil || unsent != 0 || len(o.unmarked) != 0 {
		t.Errorf("%d rows unmarked on disk, %d in memory (%v); want every mark written", unsent, len(o.unmarked), err)
	}
	if n := logged(h, "outbox: cannot mark messages sent"); n != 1 {
		t.Errorf("the failure logged %d times, want once", n)
	}
}

// logged counts the records h took whose message starts with prefix.
func logged(h *countingHandler, prefix string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for k, v := range h.n {
		if strings.HasPrefix(k, prefix) {
			n += v
		}
	}
	return n
}
