package bridge

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/apedge/apedge/sitebus"
)

// outboxSize bounds what the bridge holds while the bus is down: at a busy AP's rate
// of a few hundred door events an hour, days of them.
const outboxSize = 1 << 16

// outMsg is one site-bus message waiting to go out.
type outMsg struct {
	at                       time.Time
	class, id, kind, msgKind string
	data                     any
}

// outbox decouples the devices from the bus: door logic never waits for the broker.
// Messages go out in the order they were put in, each with the time it happened, once
// the broker has taken the one before (sitebus.Publisher resends across reconnects).
type outbox struct {
	pub       *sitebus.Publisher
	log       *slog.Logger
	ch        chan outMsg
	published atomic.Uint64
	dropped   atomic.Uint64
}

func newOutbox(pub *sitebus.Publisher, log *slog.Logger) *outbox {
	return &outbox{pub: pub, log: log, ch: make(chan outMsg, outboxSize)}
}

// put queues m without blocking. A full outbox (the bus down for days) drops m,
// counted and logged: the doors keep working regardless.
func (o *outbox) put(m outMsg) {
	if m.at.IsZero() {
		m.at = time.Now()
	}
	select {
	case o.ch <- m:
	default:
		o.dropped.Add(1)
		o.log.Error("outbox full: site-bus message dropped", "class", m.class, "id", m.id, "kind", m.msgKind)
	}
}

// run publishes until ctx ends, then for up to linger more to empty the outbox.
func (o *outbox) run(ctx context.Context, linger time.Duration) {
	for {
		select {
		case m := <-o.ch:
			o.publish(ctx, m)
		case <-ctx.Done():
			dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), linger)
			defer cancel()
			for {
				select {
				case m := <-o.ch:
					if !o.publish(dctx, m) {
						o.log.Warn("bridge stopping with site-bus messages unsent", "left", len(o.ch)+1)
						return
					}
				default:
					return
				}
			}
		}
	}
}

func (o *outbox) publish(ctx context.Context, m outMsg) bool {
	if _, err := o.pub.PublishAt(ctx, m.at, m.class, m.id, m.kind, m.msgKind, m.data); err != nil {
		if ctx.Err() == nil {
			o.log.Warn("site-bus message not published", "class", m.class, "id", m.id, "kind", m.msgKind, "err", err)
		}
		return false
	}
	o.published.Add(1)
	return true
}
