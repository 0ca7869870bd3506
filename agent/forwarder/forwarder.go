// Package forwarder sends a site's journal to central over MQTT and advances the
// delivery cursor only on central's application-level ack.
//
// It reads batches of signed envelopes from the journal from just past central's ack,
// publishes them at QoS 1 to apedge/v1/central/{site}/events with at most Window batches
// unacknowledged, and listens on the retained apedge/v1/central/{site}/ack. Nothing is
// held only in memory: every event it sends is already durable in the journal. After any
// restart or reconnect, or when central announces it is online, it rewinds to the ack and
// sends again; after a silence from central longer than ResendAfter (backed off with
// jitter) it resends the oldest unacknowledged batch, since central holds what came after
// a hole. Duplicates are expected on the wire; central stores exactly once.
//
// Anyone who can publish on the ack topic could otherwise stop delivery: an ack beyond
// the journal's last seq would make the forwarder believe central holds events it was
// never sent. So an ack is taken only if it decodes, names this site and claims no more
// than the journal holds; any other is refused, counted (Stats.AcksRefused), logged and
// reported to Options.OnAckRefused, each at most once a minute per cause. An ack below
// the current one changes nothing.
package forwarder

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/apedge/apedge/agent/journal"
	"github.com/apedge/apedge/formats/uplink"
	"github.com/apedge/apedge/internal/clock"
	"github.com/apedge/apedge/internal/config"
	"github.com/apedge/apedge/internal/mqttclient"
)

// Journal is what the forwarder needs of the journal.
type Journal interface {
	Last() uint64
	Wait(ctx context.Context, after uint64) (uint64, error)
	Read(ctx context.Context, from uint64, maxN, maxBytes int) ([]journal.Entry, error)
	Delivered() uint64
	SetDelivered(ctx context.Context, seq uint64) error
}

// Options configure a Forwarder.
type Options struct {
	Site    string
	Journal Journal
	Link    config.Forward
	Logger  *slog.Logger
	// InitialAckWait is how long to wait for central's retained ack after connecting
	// before starting from the locally stored cursor (default 2s).
	InitialAckWait time.Duration
	// Clock dates refused acks and times the once-a-minute limit on reporting them; nil
	// means the system clock.
	Clock clock.Clock
	// OnAckRefused, if set, is told of refused acks: the first of each cause, then at
	// most one a minute per cause, each with how many were refused since the last
	// report. It runs on Run's goroutine with Run's context, so it may journal; an error
	// from it (other than ctx's end) stops Run with that error.
	OnAckRefused func(ctx context.Context, r AckRefusal) error
}

// Why an ack was refused (AckRefusal.Cause).
const (
	// RefusedMalformed: the message on the ack topic is not an ack this version reads.
	RefusedMalformed = "malformed"
	// RefusedOtherSite: the ack names another site.
	RefusedOtherSite = "other-site"
	// RefusedBeyondJournal: the ack claims a seq beyond the journal's last: central
	// cannot have stored what was never sent.
	RefusedBeyondJournal = "beyond-journal"
)

// refusalCauses are the causes, in the order of the forwarder's per-cause state.
var refusalCauses = [...]string{RefusedMalformed, RefusedOtherSite, RefusedBeyondJournal}

// reportEvery is the least time between two reports (log line, OnAckRefused) of one
// cause.
const reportEvery = time.Minute

// AckRefusal is a report of refused acks of one cause.
type AckRefusal struct {
	// Cause is why: RefusedMalformed, RefusedOtherSite or RefusedBeyondJournal.
	Cause string
	// Topic is the topic the ack came on.
	Topic string
	// Retained is whether the broker delivered it as a retained message.
	Retained bool
	// Site and Seq are what the ack claims; empty and 0 if it did not decode.
	Site string
	Seq  uint64
	// Last is the journal's last seq when the ack arrived.
	Last uint64
	// Acked is the forwarder's ack then, which the refused ack did not move.
	Acked uint64
	// Err says why a malformed ack did not decode.
	Err string
	// At is when the ack arrived, by Options.Clock.
	At time.Time
	// Refused is how many acks of this cause were refused since the last report, this
	// one included.
	Refused uint64
}

// refusals is the forwarder's record of refused acks, per cause.
type refusals struct {
	mu         sync.Mutex
	reported   [len(refusalCauses)]time.Time // when each cause was last reported
	suppressed [len(refusalCauses)]uint64    // refused since then, unreported
	pending    []AckRefusal                  // reports Run has yet to hand to OnAckRefused
}

// Stats are the forwarder's counters.
type Stats struct {
	Published uint64 // batches published
	Sent      uint64 // envelopes published, resends included
	Rewinds   uint64 // times it went back to central's ack after a (re)connect
	Resends   uint64 // oldest batches sent again after central was silent
	Acked     uint64 // highest seq central acknowledged
	// AcksRefused counts messages on the ack topic refused as not central's ack of
	// this journal (any cause).
	AcksRefused uint64
}

// Forwarder sends one site's journal to central.
type Forwarder struct {
	o      Options
	log    *slog.Logger
	clock  clock.Clock
	client mqtt.Client

	ack       atomic.Uint64 // highest seq central has acknowledged
	wake      chan struct{} // something changed: ack, connection, new events
	connected chan struct{} // closed at first connect
	connOnce  sync.Once
	rewind    atomic.Bool // a (re)connect happened: start again from the ack
	centralUp atomic.Bool // central came online: reset the resend back-off
	gotAck    atomic.Bool

	published, sent, rewinds, resends, refused atomic.Uint64
	refusals                                   refusals
}

// New returns a Forwarder; Run starts it.
func New(o Options) (*Forwarder, error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.InitialAckWait == 0 {
		o.InitialAckWait = 2 * time.Second
	}
	f := &Forwarder{
		o:         o,
		log:       o.Logger.With("component", "forwarder"),
		clock:     clock.Or(o.Clock),
		wake:      make(chan struct{}, 1),
		connected: make(chan struct{}),
	}
	c, err := mqttclient.New(mqttclient.Options{
		Link:         o.Link.MQTT,
		CleanSession: true,
		OnConnect:    f.onConnect,
		Logger:       f.log,
	})
	if err != nil {
		return nil, fmt.Errorf("forwarder: %w", err)
	}
	f.client = c
	return f, nil
}

// Stats returns the forwarder's counters.
func (f *Forwarder) Stats() Stats {
	return Stats{Published: f.published.Load(), Sent: f.sent.Load(), Rewinds: f.rewinds.Load(), Resends: f.resends.Load(),
		Acked: f.ack.Load(), AcksRefused: f.refused.Load()}
}

// Connected reports whether the link to central's broker is up now.
func (f *Forwarder) Connected() bool { return f.client.IsConnectionOpen() }

func (f *Forwarder) signal() {
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

// onConnect subscribes to the ack again (a clean session loses subscriptions) and asks
// the send loop to rewind: anything in flight on the old connection may be lost.
func (f *Forwarder) onConnect(c mqtt.Client) {
	tok := c.SubscribeMultiple(map[string]byte{uplink.AckTopic(f.o.Site): 1, uplink.StatusTopic: 1}, f.onMessage)
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		f.log.Warn("subscribe to central ack failed; reconnecting", "err", tok.Error())
		// Without the ack subscription nothing can be delivered: force a new connection.
		go c.Disconnect(100)
		return
	}
	f.rewind.Store(true)
	f.connOnce.Do(func() { close(f.connected) })
	f.signal()
}

// onMessage runs on paho's router goroutine: it only records and signals.
func (f *Forwarder) onMessage(_ mqtt.Client, m mqtt.Message) {
	if m.Topic() == uplink.StatusTopic {
		st, err := uplink.DecodeStatus(m.Payload())
		if err != nil {
			f.log.Warn("ignoring bad central status", "err", err)
			return
		}
		f.log.Info("central status", "status", st.Status, "id", st.ID)
		if st.Status == "online" {
			// Whatever was sent while central was away may be gone: start again from
			// its ack now rather than after the back-off.
			f.centralUp.Store(true)
			f.rewind.Store(true)
			f.signal()
		}
		return
	}
	a, err := uplink.DecodeAck(m.Payload())
	last := f.o.Journal.Last()
	switch {
	case err != nil:
		f.refuse(AckRefusal{Cause: RefusedMalformed, Topic: m.Topic(), Retained: m.Retained(), Last: last, Err: err.Error()})
		return
	case a.Site != f.o.Site:
		f.refuse(AckRefusal{Cause: RefusedOtherSite, Topic: m.Topic(), Retained: m.Retained(), Site: a.Site, Seq: a.Seq, Last: last})
		return
	case a.Seq > last:
		// Entries are journaled before they are sent, so central cannot have stored a
		// seq this journal does not yet hold. Taking it would stop delivery for good.
		f.refuse(AckRefusal{Cause: RefusedBeyondJournal, Topic: m.Topic(), Retained: m.Retained(), Site: a.Site, Seq: a.Seq, Last: last})
		return
	}
	for {
		cur := f.ack.Load()
		if a.Seq <= cur || f.ack.CompareAndSwap(cur, a.Seq) {
			break
		}
	}
	f.gotAck.Store(true)
	f.signal()
}

// refuse counts a refused ack and, if its cause was not reported in the last minute,
// logs it and queues it for OnAckRefused. It runs on paho's router goroutine and does
// not block.
func (f *Forwarder) refuse(r AckRefusal) {
	f.refused.Add(1)
	r.Acked = f.ack.Load()
	r.At = f.clock.Now()
	i := 0
	for i < len(refusalCauses)-1 && refusalCauses[i] != r.Cause {
		i++
	}
	rs := &f.refusals
	rs.mu.Lock()
	rs.suppressed[i]++
	prev := rs.reported[i]
	// A clock set back also lets a report through, rather than none for as long.
	due := prev.IsZero() || r.At.Sub(prev) >= reportEvery || r.At.Before(prev)
	if due {
		r.Refused, rs.suppressed[i] = rs.suppressed[i], 0
		rs.reported[i] = r.At
		if f.o.OnAckRefused != nil {
			rs.pending = append(rs.pending, r)
		}
	}
	rs.mu.Unlock()
	if !due {
		return
	}
	f.log.Warn("refusing a message on central's ack topic; the delivery cursor stays where it is (reported at most once a minute per cause)",
		"cause", r.Cause, "topic", r.Topic, "retained", r.Retained, "site", r.Site, "seq", r.Seq,
		"last", r.Last, "acked", r.Acked, "err", r.Err, "refused", r.Refused)
	f.signal()
}

// reportRefusals hands the queued refusal reports to OnAckRefused.
func (f *Forwarder) reportRefusals(ctx context.Context) error {
	rs := &f.refusals
	rs.mu.Lock()
	pending := rs.pending
	rs.pending = nil
	rs.mu.Unlock()
	for _, r := range pending {
		if err := f.o.OnAckRefused(ctx, r); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("forwarder: report refused ack: %w", err)
		}
	}
	return nil
}

// Run connects and forwards until ctx ends. It returns nil on cancellation and an error
// only when the journal fails.
func (f *Forwarder) Run(ctx context.Context) error {
	defer f.client.Disconnect(250)
	go func() { _ = mqttclient.Connect(ctx, f.client) }()

	// New journal entries wake the loop.
	go func() {
		seen := f.o.Journal.Last()
		for {
			last, err := f.o.Journal.Wait(ctx, seen)
			if err != nil {
				return
			}
			seen = last
			f.signal()
		}
	}()

	select {
	case <-f.connected:
	case <-ctx.Done():
		return nil
	}
	// Central's retained ack arrives on subscribe; give it a moment before falling back
	// to the cursor stored from the last ack this journal saw.
	deadline := time.NewTimer(f.o.InitialAckWait)
	for !f.gotAck.Load() {
		select {
		case <-f.wake:
			continue
		case <-deadline.C:
		case <-ctx.Done():
			return nil
		}
		break
	}
	deadline.Stop()
	if !f.gotAck.Load() {
		f.log.Info("no ack from central yet; starting from the local delivery cursor", "delivered", f.o.Journal.Delivered())
	}
	if d := f.o.Journal.Delivered(); d > f.ack.Load() {
		// A stored cursor beyond central's retained ack means central lost its state:
		// trust central and resend, duplicates are harmless.
		if f.gotAck.Load() {
			f.log.Warn("central's ack is behind this site's delivery cursor; resending from central's ack", "ack", f.ack.Load(), "delivered", d)
		} else {
			f.ack.Store(d)
		}
	}
	return f.loop(ctx)
}

func (f *Forwarder) loop(ctx context.Context) error {
	var (
		next         = f.ack.Load() + 1 // next seq to publish
		stored       = f.o.Journal.Delivered()
		lastProgress = time.Now()
		lastAck      = f.ack.Load()
		quiet        = f.o.Link.ResendAfter // current resend interval, backed off
		maxInFlight  = uint64(f.o.Link.Window * f.o.Link.Batch)
		timer        = time.NewTimer(time.Hour)
	)
	defer timer.Stop()
	for {
		if ctx.Err() != nil {
			return nil
		}
		if err := f.reportRefusals(ctx); err != nil {
			return err
		}
		ack := f.ack.Load()
		last := f.o.Journal.Last()
		if ack > last {
			f.log.Error("central acknowledges events this journal does not have; is this the right site database?", "ack", ack, "last", last)
			ack = last
		}
		if ack != lastAck {
			lastAck, lastProgress, quiet = ack, time.Now(), f.o.Link.ResendAfter
		}
		if ack > stored {
			if err := f.o.Journal.SetDelivered(ctx, ack); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return fmt.Errorf("forwarder: %w", err)
			}
			stored = ack
		}
		if f.centralUp.Swap(false) {
			lastProgress, quiet = time.Now(), f.o.Link.ResendAfter
		}
		if f.rewind.Swap(false) {
			if next != ack+1 {
				f.rewinds.Add(1)
			}
			next = ack + 1
		}
		if next <= ack {
			next = ack + 1
		}
		outstanding := next - 1 - ack
		if outstanding > 0 && time.Since(lastProgress) >= quiet && f.client.IsConnectionOpen() {
			// Resend only the oldest unacknowledged batch: central holds what came after
			// a hole and stores it once the hole is filled, so resending the whole window
			// would only make a slow central slower.
			f.log.Warn("no ack from central; resending the oldest unacknowledged batch", "from", ack+1, "outstanding", outstanding, "waited", quiet.Round(time.Millisecond))
			if _, err := f.publish(ctx, ack+1, f.o.Link.Batch); err != nil {
				return err
			}
			f.resends.Add(1)
			lastProgress = time.Now()
			quiet = backoff(quiet, 8*f.o.Link.ResendAfter)
			continue
		}
		if next <= last && outstanding < maxInFlight && f.client.IsConnectionOpen() {
			n := f.o.Link.Batch
			if room := maxInFlight - outstanding; uint64(n) > room {
				n = int(room)
			}
			sent, err := f.publish(ctx, next, n)
			if err != nil {
				return err
			}
			if outstanding == 0 {
				lastProgress = time.Now()
			}
			next += uint64(sent)
			continue
		}
		// Sleep until something changes, or until it is time to resend.
		wait := time.Hour
		switch {
		case !f.client.IsConnectionOpen() && (outstanding > 0 || next <= last):
			wait = jitter(100 * time.Millisecond) // not connected: poll the link
		case outstanding > 0:
			wait = max(quiet-time.Since(lastProgress), time.Millisecond)
		}
		timer.Reset(wait)
		select {
		case <-f.wake:
		case <-timer.C:
		case <-ctx.Done():
			return nil
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
	}
}

// publish sends up to n journal entries from seq from as one batch and returns how many.
// The token is not waited on: a completed token proves nothing end to end and central's
// ack drives everything; a failed publish shows up as a lost connection, which rewinds.
func (f *Forwarder) publish(ctx context.Context, from uint64, n int) (int, error) {
	// Leave room for the batch framing: 22 bytes plus a comma per envelope.
	entries, err := f.o.Journal.Read(ctx, from, n, uplink.MaxBatchBytes-64-n)
	if err != nil {
		if ctx.Err() != nil {
			return 0, nil
		}
		return 0, fmt.Errorf("forwarder: read journal from %d: %w", from, err)
	}
	if len(entries) == 0 || entries[0].Seq != from {
		return 0, fmt.Errorf("forwarder: journal has no entry %d though last is %d", from, f.o.Journal.Last())
	}
	envs := make([][]byte, len(entries))
	for i, e := range entries {
		envs[i] = e.Envelope
	}
	f.client.Publish(uplink.EventsTopic(f.o.Site), 1, false, uplink.EncodeBatch(envs))
	f.published.Add(1)
	f.sent.Add(uint64(len(entries)))
	return len(entries), nil
}

// backoff doubles d up to limit, with ±20% jitter so that many sites do not resend in
// step after central returns.
func backoff(d, limit time.Duration) time.Duration {
	return jitter(min(2*d, limit))
}

func jitter(d time.Duration) time.Duration {
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}
