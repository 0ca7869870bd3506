package device

import (
	"context"
	"log/slog"
	"sync/atomic"
)

// DeciderQueue is how many reads a Decider holds while one is being decided.
const DeciderQueue = 4

// Decider hands one reader's reads to Access.Decide in the order they were read,
// one at a time, on a goroutine of its own: a decision may wait (at an Enhanced
// Security door, for the holder's finger, up to the window), and while it waits
// the loop that read the card must go on polling the line (every reader on an
// OSDP line waits for its polls: a reader not polled for some seconds takes its
// link as lost, and the line's other doors would go unanswered meanwhile) or
// watching the wires (a Wiegand reader's next card). A read that finds
// DeciderQueue reads already waiting is refused by Add: the reader is counted
// busy and the read logged, as a real controller ignores cards shown while it
// waits for a finger. Run it before Add is called.
type Decider struct {
	access Access
	log    *slog.Logger
	reads  chan queuedRead
	// Dropped counts the reads refused because the queue was full.
	Dropped atomic.Uint64
}

type queuedRead struct {
	r    Read
	then func(Decision)
}

// NewDecider returns a Decider for a's decisions, logging to log.
func NewDecider(a Access, log *slog.Logger) *Decider {
	return &Decider{access: a, log: log, reads: make(chan queuedRead, DeciderQueue)}
}

// Add queues r to be decided, then calls then (if not nil) with the decision, on
// the Decider's goroutine. It reports false, and drops r, if the queue is full.
func (d *Decider) Add(r Read, then func(Decision)) bool {
	select {
	case d.reads <- queuedRead{r: r, then: then}:
		return true
	default:
		n := d.Dropped.Add(1)
		d.log.Warn("card read dropped: the reader's earlier reads are still being decided", "door", r.Door, "dropped", n)
		return false
	}
}

// Run decides the queued reads until ctx ends; those still queued then are
// dropped (the bridge is stopping).
func (d *Decider) Run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case q := <-d.reads:
			dec := d.access.Decide(ctx, q.r)
			if q.then != nil {
				q.then(dec)
			}
		}
	}
}
