package bridge

import (
	"context"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apedge/apedge/formats/sitebus"
)

// When the outbox file cannot be written (the disk is full or failing), the writer
// holds what the devices said in memory and tries again every outboxRetry. It holds at
// most outboxMaxHeld messages: events and command results first, and of each device's
// state only the latest (a state is retained and superseded by the next). Past the
// bound a held state makes room for an event; with no state left to give up, the new
// event is lost, counted per device. Once the file can be written again the writer
// writes what it held, in order, then reports each device's lost events, once, as a
// messages-lost event of that device (sitebus.MessagesLost); the agent journals it as
// the alarm bridge.messages-lost. Doors never wait for any of this: they decide in
// memory and put never blocks.
const (
	outboxRetry   = 5 * time.Second
	outboxMaxHeld = 1 << 14
)

// OutboxDegraded is the value of sitebus.BridgeState's Outbox while the outbox holds
// messages in memory because it cannot write its file.
const OutboxDegraded = "degraded"

// heldMsg is one numbered message not yet written.
type heldMsg struct {
	class, id, kind string
	at              time.Time
	pm              *sitebus.Prepared
}

// dev is the message's device and kind as the outbox file and acks name it.
func (m heldMsg) dev() string { return m.class + "/" + m.id + "/" + m.kind }

// heldQueue is what the writer holds in memory; only the writer touches it except n.
type heldQueue struct {
	events []heldMsg          // events and command results, in order
	states map[string]heldMsg // the latest state of each device
	n, ev  atomic.Int64       // len(events)+len(states) and len(events), for reports
	// superseded counts held states replaced by a newer one or given up for an event.
	superseded uint64
}

func (h *heldQueue) len() int { return int(h.n.Load()) }

func (h *heldQueue) count() {
	h.n.Store(int64(len(h.events) + len(h.states)))
	h.ev.Store(int64(len(h.events)))
}

// losses are the events lost per device ("class/id") since they were last reported.
type losses struct {
	mu     sync.Mutex
	byDev  map[string]*lossRecord
	causes map[string]bool // causes logged since the last report
}

type lossRecord struct {
	class, id string
	data      sitebus.MessagesLost
}

// noteLost counts an event of class/id dated at as lost, logging the first loss of each
// cause until the losses are reported.
func (o *outbox) noteLost(class, id string, at time.Time, cause string) {
	l := &o.losses
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.byDev == nil {
		l.byDev, l.causes = map[string]*lossRecord{}, map[string]bool{}
	}
	r := l.byDev[class+"/"+id]
	if r == nil {
		r = &lossRecord{class: class, id: id, data: sitebus.MessagesLost{From: at, To: at, Cause: cause}}
		l.byDev[class+"/"+id] = r
	}
	r.data.Count++
	if at.Before(r.data.From) {
		r.data.From = at
	}
	if at.After(r.data.To) {
		r.data.To = at
	}
	if !strings.Contains(r.data.Cause, cause) {
		r.data.Cause += ", " + cause
	}
	if !l.causes[cause] {
		l.causes[cause] = true
		o.log.Error("outbox: site-bus events lost; each device's loss is reported on the bus once the outbox can write",
			"cause", cause, "class", class, "id", id)
	}
}

// takeLosses returns the losses to report and forgets them.
func (o *outbox) takeLosses() []*lossRecord {
	l := &o.losses
	l.mu.Lock()
	defer l.mu.Unlock()
	rs := make([]*lossRecord, 0, len(l.byDev))
	for _, r := range l.byDev {
		rs = append(rs, r)
	}
	slices.SortFunc(rs, func(a, b *lossRecord) int { return strings.Compare(a.class+"/"+a.id, b.class+"/"+b.id) })
	l.byDev, l.causes = nil, nil
	return rs
}

// Lost is how many events the outbox has lost and not yet reported.
func (o *outbox) lost() uint64 {
	l := &o.losses
	l.mu.Lock()
	defer l.mu.Unlock()
	var n uint64
	for _, r := range l.byDev {
		n += r.data.Count
	}
	return n
}

// writeCause names why a write failed, for logging once per cause.
func writeCause(err error) string {
	s := strings.ToLower(err.Error())
	switch {
	case strings.Contains(s, "full"):
		return "disk full"
	case strings.Contains(s, "i/o") || strings.Contains(s, "disk i/o"):
		return "I/O error"
	case strings.Contains(s, "readonly") || strings.Contains(s, "read-only"):
		return "read-only"
	default:
		return "write failed"
	}
}

// degrade notes that the file cannot be written: logged once per cause until it can.
func (o *outbox) degrade(err error) {
	cause := writeCause(err)
	if o.degradedCauses == nil {
		o.degradedCauses = map[string]bool{}
	}
	if !o.degradedCauses[cause] {
		o.degradedCauses[cause] = true
		o.log.Error("outbox: cannot write the outbox file; holding site-bus messages in memory and retrying",
			"cause", cause, "every", o.retryEvery, "atMost", o.maxHeld, "err", err)
	}
	if !o.degraded.Swap(true) {
		o.degradedSince = o.clock.Now()
		o.health()
	}
}

// hold keeps msgs in memory within the bound: states superseded by the latest of their
// device, states given up for events, and events lost only when no state is left.
func (o *outbox) hold(msgs []heldMsg) {
	h := &o.held
	for _, m := range msgs {
		if m.kind == sitebus.KindState {
			if _, ok := h.states[m.dev()]; ok {
				h.superseded++
				h.states[m.dev()] = m
				continue
			}
			if len(h.events)+len(h.states) >= o.maxHeld {
				h.superseded++ // the device's next state supersedes it
				continue
			}
			h.states[m.dev()] = m
			continue
		}
		if len(h.events)+len(h.states) >= o.maxHeld && len(h.states) > 0 {
			for dev := range h.states {
				delete(h.states, dev)
				h.superseded++
				break
			}
		}
		if len(h.events)+len(h.states) >= o.maxHeld {
			o.noteLost(m.class, m.id, m.at, "outbox file not writable and memory bound reached")
			continue
		}
		h.events = append(h.events, m)
	}
	h.count()
}

// retry writes what is held; once it is written, it writes the loss reports.
func (o *outbox) retry(ctx context.Context) {
	h := &o.held
	msgs := slices.Concat(h.events, o.heldStates())
	if err := o.insert(ctx, msgs); err != nil {
		o.degrade(err)
		o.health()
		return
	}
	wrote := len(msgs)
	h.events, h.states = nil, map[string]heldMsg{}
	h.count()
	lost := o.reportLosses(ctx)
	o.degraded.Store(h.len() > 0)
	if h.len() == 0 {
		o.log.Warn("outbox: the outbox file can be written again; messages held in memory written",
			"messages", wrote, "lostEvents", lost, "since", o.degradedSince, "statesSuperseded", h.superseded)
		o.degradedCauses, h.superseded = nil, 0
	}
	o.wrote()
	o.health()
}

// reportLosses writes a messages-lost event for each device that lost events, holding
// them (beyond the bound: they are few) if the write fails; it returns how many events
// they report.
func (o *outbox) reportLosses(ctx context.Context) uint64 {
	rs := o.takeLosses()
	if len(rs) == 0 {
		return 0
	}
	var batch []outMsg
	var n uint64
	now := o.clock.Now()
	for _, r := range rs {
		n += r.data.Count
		batch = append(batch, outMsg{at: now, class: r.class, id: r.id, kind: sitebus.KindEvent, msgKind: sitebus.KindMessagesLost, data: r.data})
	}
	msgs := o.prepare(batch)
	if err := o.insert(ctx, msgs); err != nil {
		o.degrade(err)
		o.held.events = append(o.held.events, msgs...)
		o.held.count()
	}
	return n
}

// heldStates returns the held states in a stable order.
func (o *outbox) heldStates() []heldMsg {
	devs := make([]string, 0, len(o.held.states))
	for d := range o.held.states {
		devs = append(devs, d)
	}
	slices.Sort(devs)
	out := make([]heldMsg, 0, len(devs))
	for _, d := range devs {
		out = append(out, o.held.states[d])
	}
	return out
}

// stopHeld tries once more to write what is held as the bridge stops; what it cannot
// write is lost with the process, and said so.
func (o *outbox) stopHeld(ctx context.Context) {
	if o.held.len() == 0 {
		return
	}
	o.retry(ctx)
	if n := o.held.len(); n > 0 {
		o.log.Error("outbox: stopping with site-bus messages the outbox file could not keep; they are lost",
			"messages", n, "lostEvents", len(o.held.events), "since", o.degradedSince)
	}
}

// health calls onHealth, if set.
func (o *outbox) health() {
	if o.onHealth != nil {
		o.onHealth()
	}
}

// stateOf fills st's outbox fields: degraded, with the messages held in memory and the
// events lost, while the outbox cannot write its file.
func (o *outbox) stateOf(st sitebus.BridgeState) sitebus.BridgeState {
	if o == nil || !o.degraded.Load() {
		return st
	}
	st.Outbox = OutboxDegraded
	st.Held = uint64(o.held.len())
	st.Lost = o.lost()
	return st
}
