package bridge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apedge/apedge/formats/sitebus"
	"github.com/apedge/apedge/internal/clock/clocktest"
	"github.com/apedge/apedge/internal/wait"
)

// errDiskFull is what the tests' failing disk returns: SQLite's message for SQLITE_FULL.
var errDiskFull = errors.New("sqlite: database or disk is full (13)")

// testOutbox opens an outbox in a temporary directory whose writes fail while *failing
// is set (the failWrites seam), with a small memory bound, retrying every 5ms, and
// logging to h.
func testOutbox(t *testing.T, maxHeld int, failing *atomic.Bool, h slog.Handler) *outbox {
	t.Helper()
	clk := clocktest.Running(time.Date(2026, 6, 10, 11, 0, 0, 0, time.UTC))
	pub := sitebus.NewPublisher(nil, "MAN1", "boot1", clk) // Prepare only: nothing is sent
	o, err := openOutbox(context.Background(), t.TempDir(), pub, clk, slog.New(h))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { o.db.Close() })
	o.maxHeld, o.retryEvery = maxHeld, 5*time.Millisecond
	o.failWrites = func() error {
		if failing.Load() {
			return errDiskFull
		}
		return nil
	}
	return o
}

// rows returns the outbox file's messages, decoded, by device ("class/id/kind").
func rows(t *testing.T, o *outbox) map[string][]*sitebus.Message {
	t.Helper()
	rs, err := o.db.Query(`SELECT dev, body FROM outbox ORDER BY n`)
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	out := map[string][]*sitebus.Message{}
	for rs.Next() {
		var dev string
		var body []byte
		if err := rs.Scan(&dev, &body); err != nil {
			t.Fatal(err)
		}
		m, err := sitebus.Decode(body)
		if err != nil {
			t.Fatal(err)
		}
		out[dev] = append(out[dev], m)
	}
	return out
}

// TestOutboxDiskFull: while the outbox file cannot be written, put never blocks, door
// events are held in memory ahead of states (only the latest state per device is
// kept), the outbox reports itself degraded, and the failure is logged once per cause;
// once it can write again, every door event put is either in the file or counted in
// the door's one messages-lost event, and the outbox is healthy again.
func TestOutboxDiskFull(t *testing.T) {
	tests := []struct {
		name     string
		maxHeld  int
		events   int
		wantLost uint64
	}{
		{"within the bound", 1000, 300, 0},
		{"beyond the bound", 50, 300, 250},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var failing atomic.Bool
			h := &countingHandler{n: map[string]int{}}
			o := testOutbox(t, tt.maxHeld, &failing, h)
			var healthCalls atomic.Int64
			o.onHealth = func() { healthCalls.Add(1) }
			ctx, stop := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { defer close(done); o.write(ctx) }()
			defer func() { stop(); <-done }()

			failing.Store(true)
			start := time.Now()
			for i := range tt.events {
				o.put(outMsg{class: "door", id: "front", kind: sitebus.KindEvent, msgKind: "opened", data: map[string]int{"n": i}})
				for _, id := range []string{"front", "side"} {
					o.put(outMsg{class: "door", id: id, kind: sitebus.KindState, msgKind: "status", data: map[string]int{"n": i}})
				}
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("putting %d messages on a failing disk took %s", 3*tt.events, d)
			}
			wait.For(t, 10*time.Second, "every event taken by the writer", func() (bool, string) {
				ev := int(o.held.ev.Load())
				return len(o.ch) == 0 && ev == min(tt.events, tt.maxHeld), fmt.Sprintf("queued %d, held %d events", len(o.ch), ev)
			})
			wait.For(t, 10*time.Second, "the outbox reporting degraded", func() (bool, string) {
				st := o.stateOf(sitebus.BridgeState{Status: "online"})
				return st.Outbox == OutboxDegraded && st.Lost == tt.wantLost, fmt.Sprintf("%+v", st)
			})
			if n := o.held.len() - int(o.held.ev.Load()); n > 2 {
				t.Errorf("held %d states, want at most one per device", n)
			}

			failing.Store(false)
			wait.For(t, 10*time.Second, "the held messages written", func() (bool, string) {
				return o.held.len() == 0 && !o.degraded.Load(), fmt.Sprintf("held %d", o.held.len())
			})
			if st := o.stateOf(sitebus.BridgeState{Status: "online"}); st.Outbox != "" || st.Held != 0 || st.Lost != 0 {
				t.Errorf("state after recovery %+v, want healthy", st)
			}
			got := rows(t, o)
			var opened, lost uint64
			var reports int
			for _, m := range got["door/front/event"] {
				switch m.Kind {
				case "opened":
					opened++
				case sitebus.KindMessagesLost:
					reports++
					var d sitebus.MessagesLost
					if err := json.Unmarshal(m.Data, &d); err != nil {
						t.Fatal(err)
					}
					lost += d.Count
					if d.From.IsZero() || d.To.Before(d.From) {
						t.Errorf("messages-lost period %s..%s", d.From, d.To)
					}
				}
			}
			if opened+lost != uint64(tt.events) || lost != tt.wantLost {
				t.Errorf("%d door events in the file and %d reported lost, want %d and %d", opened, lost, uint64(tt.events)-tt.wantLost, tt.wantLost)
			}
			if want := min(1, int(tt.wantLost)); reports != want {
				t.Errorf("%d messages-lost events, want %d", reports, want)
			}
			for _, id := range []string{"front", "side"} {
				if tt.wantLost > 0 {
					break // states gave way to events
				}
				st := got["door/"+id+"/state"]
				if len(st) == 0 || string(st[len(st)-1].Data) != fmt.Sprintf(`{"n":%d}`, tt.events-1) {
					t.Errorf("door %s: last state written is not the latest", id)
				}
			}
			h.mu.Lock()
			defer h.mu.Unlock()
			if n := h.n["outbox: cannot write the outbox file; holding site-bus messages in memory and retrying/disk full"]; n != 1 {
				t.Errorf("write failure logged %d times, want once: %v", n, h.n)
			}
			if healthCalls.Load() < 2 {
				t.Errorf("health reported %d times, want at least on degrading and recovering", healthCalls.Load())
			}
		})
	}
}

// TestOutboxHoldPolicy: the memory bound gives up states before events, keeps one state
// per device, and loses an event only when only events are held.
func TestOutboxHoldPolicy(t *testing.T) {
	ev := func(id string) heldMsg { return heldMsg{class: "door", id: id, kind: sitebus.KindEvent} }
	st := func(id string) heldMsg { return heldMsg{class: "door", id: id, kind: sitebus.KindState} }
	tests := []struct {
		name           string
		max            int
		in             []heldMsg
		events, states int
		lost           uint64
	}{
		{"states superseded", 10, []heldMsg{st("a"), st("a"), st("b"), st("a")}, 0, 2, 0},
		{"state gives way to event", 2, []heldMsg{st("a"), st("b"), ev("a"), ev("a")}, 2, 0, 0},
		{"event lost when full of events", 2, []heldMsg{ev("a"), ev("a"), ev("b"), st("c")}, 2, 0, 1},
		{"state refused when full", 1, []heldMsg{ev("a"), st("b")}, 1, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var failing atomic.Bool
			o := testOutbox(t, tt.max, &failing, &countingHandler{n: map[string]int{}})
			o.hold(tt.in)
			if len(o.held.events) != tt.events || len(o.held.states) != tt.states || o.lost() != tt.lost {
				t.Errorf("held %d events, %d states, lost %d; want %d, %d, %d",
					len(o.held.events), len(o.held.states), o.lost(), tt.events, tt.states, tt.lost)
			}
		})
	}
}
