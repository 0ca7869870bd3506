// Package agent is the site agent: the only process that holds site policy and talks to
// central. It turns device messages from the site bus into domain events, signs and
// journals them, and forwards them to central (packages journal and forwarder).
//
// A device message is acknowledged to the site broker only once the event it became is
// durable in the journal, and the agent's bus session is persistent, so a message whose
// effect was not journaled is redelivered after any crash; each message's origin
// (device, bridge boot, seq) makes that redelivery idempotent.
package agent

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/apedge/apedge/agent/curfew"
	"github.com/apedge/apedge/agent/forwarder"
	"github.com/apedge/apedge/agent/journal"
	"github.com/apedge/apedge/agent/register"
	"github.com/apedge/apedge/formats/event"
	"github.com/apedge/apedge/formats/sitebus"
	"github.com/apedge/apedge/formats/sitekey"
	"github.com/apedge/apedge/internal/clock"
	"github.com/apedge/apedge/internal/config"
	"github.com/apedge/apedge/internal/mqttclient"
)

// Version is reported in agent.started.
const Version = "0.1.0"

// Stats are the agent's counters.
type Stats struct {
	BusMessages  uint64 // device messages received
	BadMessages  uint64 // refused as malformed (counted, logged, acknowledged)
	Duplicates   uint64 // redelivered messages already journaled
	SeqGaps      uint64 // gaps seen in a device's seq
	Journaled    uint64 // events appended by this process
	Overflow     uint64 // messages left unacknowledged because the queue was full
	UnknownCards uint64
	// Refused counts device messages refused (counted, alarmed once per cause per
	// device per minute, acknowledged): not from a configured device of their class,
	// a read naming no configured reader, or dated out of bounds; RefusedTime counts
	// those of them dated too far ahead or too long ago.
	Refused, RefusedTime uint64
	// RefusalAlarms counts the device.refused alarms journaled for them.
	RefusalAlarms uint64
	// Late counts device messages accepted late (older than devices.lateAfter).
	Late uint64
	// Unordered counts command results for commands this agent never ordered, every
	// one (repeats too); UnorderedAlarms counts the command.unordered alarms journaled
	// for them, at most one a minute.
	Unordered, UnorderedAlarms uint64
}

// Agent is a running site agent.
type Agent struct {
	cfg     *config.Agent
	log     *slog.Logger
	key     *sitekey.Private
	journal *journal.Journal
	fwd     *forwarder.Forwarder
	bus     mqtt.Client                 // receives device messages (persistent session)
	out     mqtt.Client                 // publishes the agent's own messages (clean session)
	cards   map[string]*config.Resident // by credential id; guarded by rosterMu
	queue   chan mqtt.Message
	drain   time.Duration // how long a clean stop waits for central's ack

	acks *busAcks // device messages handled, to tell the bridge
	reg  *register.Register

	rosterMu sync.RWMutex
	roster   []config.Resident // the configured roster with the register's changes
	regN     int64             // the last register change applied
	curfew   *curfewRun        // curfew decisions
	subst    *Substances       // substance tests
	bio      *Biometrics       // fingerprint consent, enrolment and deletion
	pat      *PATRegister      // the register of electrical items (PAT)
	bwc      *BWCRegister      // body-worn cameras and their docks (bwcs.go)

	clock   clock.Clock // every time the agent records
	free    FreeSpace   // the journal's free space
	devices deviceState // the devices' last reported status
	changes changes     // fired when devices, presence or the roster change
	started time.Time   // when New ran
	regKick chan struct{}

	// listVersion numbers the credential list given to the bridge.
	listVersion uint64

	mu      sync.Mutex
	lastSeq map[string]devSeq                // per device: last seq seen this bridge boot
	waiting map[string]chan<- sitebus.Result // commands awaiting their result, by id

	busMsgs, bad, dups, gaps, journaled, overflow, unknownCards atomic.Uint64

	refusals                                  refusals // device.refused alarms, rate limited
	badLogs                                   refusals // "bad site bus message" warnings, rate limited
	refused, refusedTime, refusalAlarms, late atomic.Uint64

	unorderedLimit             unorderedLimit // command.unordered alarms, rate limited
	unordered, unorderedAlarms atomic.Uint64

	// busUp is set once the bus session is set up (subscribed, announced) and
	// cleared when it drops: the agent publishes its acks only then.
	busUp atomic.Bool
	// subscribed is set once the receiving client has subscribed.
	subscribed atomic.Bool
}

type devSeq struct {
	boot string
	seq  uint64
}

// Option changes how New makes an agent.
type Option func(*options)

type options struct {
	clock clock.Clock
	check ClockCheck
	free  FreeSpace
	// oralCutoffs and urineCutoffs are the cut-offs of panels substance.* of the
	// configuration does not name.
	oralCutoffs, urineCutoffs map[string]float64
}

// WithClock makes the agent take every time it records (its start, checkpoints, door
// events, curfew decisions, bus acks) from c instead of the system clock. Tests run
// nights on a clock they move.
func WithClock(c clock.Clock) Option { return func(o *options) { o.clock = c } }

// WithClockCheck replaces the configured check that the system clock is right (tests
// use one of their own).
func WithClockCheck(f ClockCheck) Option { return func(o *options) { o.check = f } }

// WithCutoffDefaults gives the drug panels the configuration (substance.oralFluidCutoffs,
// substance.urineCutoffs) does not name their cut-offs, in ng/ml: the published figures
// of devices/substance, which the agent may not import (DefaultOralFluidCutoffs,
// DefaultUrineCutoffs), given by the command that starts it.
func WithCutoffDefaults(oral, urine map[string]float64) Option {
	return func(o *options) { o.oralCutoffs, o.urineCutoffs = oral, urine }
}

// New opens the agent's key and journal. Run starts it; Close releases them.
func New(ctx context.Context, cfg *config.Agent, log *slog.Logger, opts ...Option) (*Agent, error) {
	if log == nil {
		log = slog.Default()
	}
	var o options
	for _, f := range opts {
		f(&o)
	}
	clk := clock.Or(o.clock)
	key, err := sitekey.LoadPrivate(cfg.Key)
	if err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	if key.Site != cfg.Site {
		return nil, fmt.Errorf("agent: key %s is for site %s, config says site %s", cfg.Key, key.Site, cfg.Site)
	}
	j, err := journal.Open(ctx, journal.Options{Path: cfg.Database, Key: key, Logger: log})
	if err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	a := &Agent{
		cfg:     cfg,
		log:     log.With("component", "agent", "site", cfg.Site),
		key:     key,
		journal: j,
		cards:   map[string]*config.Resident{},
		queue:   make(chan mqtt.Message, 1<<16),
		lastSeq: map[string]devSeq{},
		waiting: map[string]chan<- sitebus.Result{},
		acks:    &busAcks{},
		drain:   5 * time.Second,
		devices: deviceState{bridge: BridgeView{Status: "unknown"}, doors: map[string]DoorView{}, readers: map[string]ReaderView{},
			cameras: map[string]*cameraState{}},
		clock:   clk,
		free:    statfsFree,
		started: clk.Now().UTC(),
		regKick: make(chan struct{}, 1),
		// Each start gives the bridge a newer list than any before it.
		listVersion: uint64(clk.Now().UnixMilli()),
	}
	a.setRoster(cfg.Roster)
	if a.reg, err = register.Open(ctx, register.Path(cfg.Database)); err != nil {
		j.Close()
		return nil, fmt.Errorf("agent: %w", err)
	}
	if a.curfew, err = newCurfewRun(a, clk); err != nil {
		j.Close()
		return nil, err
	}
	if a.subst, err = newSubstances(a, cfg.Substance, o.oralCutoffs, o.urineCutoffs); err != nil {
		j.Close()
		return nil, err
	}
	if a.bio, err = newBiometrics(a, cfg.Biometrics); err != nil {
		j.Close()
		return nil, err
	}
	if a.pat, err = newPATRegister(a, cfg.PAT); err != nil {
		j.Close()
		return nil, err
	}
	if a.bwc, err = newBWCRegister(a, cfg.BWC); err != nil {
		j.Close()
		return nil, err
	}
	if o.check != nil {
		a.curfew.check = o.check
	}
	if o.free != nil {
		a.free = o.free
	}
	a.fwd, err = forwarder.New(forwarder.Options{Site: cfg.Site, Journal: j, Link: cfg.Central, Logger: log, Clock: clk, OnAckRefused: a.ackRefused})
	if err != nil {
		j.Close()
		return nil, fmt.Errorf("agent: %w", err)
	}
	a.bus, err = mqttclient.New(mqttclient.Options{
		Link:            cfg.Bus,
		CleanSession:    false, // the broker keeps our QoS 1 messages while we are away
		AutoAckDisabled: true,  // ack each message once its event is durable
		OnConnect:       a.subscribe,
		OnLost:          func(error) { a.subscribed.Store(false) },
		DefaultHandler:  a.receive, // what the session kept arrives before subscribe
		Logger:          a.log,
	})
	if err != nil {
		j.Close()
		return nil, fmt.Errorf("agent: %w", err)
	}
	// What the agent says on the bus (its state, acks, the credential list, commands)
	// goes out on a client of its own with a clean session: paho resends a persistent
	// session's stored publishes on reconnect, racing with any published as it connects.
	pubCfg := cfg.Bus
	pubCfg.ClientID += "-out"
	a.out, err = mqttclient.New(mqttclient.Options{
		Link:         pubCfg,
		CleanSession: true,
		OnConnect: func(mqtt.Client) {
			a.busUp.Store(true)
			a.announceIfReady()
		},
		OnLost: func(error) { a.busUp.Store(false) },
		Will:   &mqttclient.Will{Topic: sitebus.AgentStateTopic(cfg.Site), Payload: agentState("offline", clk.Now()), Retained: true},
		Logger: a.log,
	})
	if err != nil {
		j.Close()
		return nil, fmt.Errorf("agent: %w", err)
	}
	return a, nil
}

// announceIfReady gives the bridge the credential list and says the agent is online,
// once it is both subscribed to the site bus and able to publish on it.
func (a *Agent) announceIfReady() {
	if a.subscribed.Load() && a.busUp.Load() {
		a.publishCredentials(a.out)
		a.announce(a.out, "online")
	}
}

// Journal returns the agent's journal.
func (a *Agent) Journal() *journal.Journal { return a.journal }

// Stats returns the agent's counters.
func (a *Agent) Stats() Stats {
	return Stats{BusMessages: a.busMsgs.Load(), BadMessages: a.bad.Load(), Duplicates: a.dups.Load(),
		SeqGaps: a.gaps.Load(), Journaled: a.journaled.Load(), Overflow: a.overflow.Load(), UnknownCards: a.unknownCards.Load(),
		Refused: a.refused.Load(), RefusedTime: a.refusedTime.Load(), RefusalAlarms: a.refusalAlarms.Load(), Late: a.late.Load(),
		Unordered: a.unordered.Load(), UnorderedAlarms: a.unorderedAlarms.Load()}
}

// Clock is the agent's clock: the site's time, by which it dates every event.
func (a *Agent) Clock() clock.Clock { return a.clock }

// Forwarder returns the agent's forwarder.
func (a *Agent) Forwarder() *forwarder.Forwarder { return a.fwd }

func (a *Agent) subscribe(c mqtt.Client) {
	subs := map[string]byte{
		sitebus.DeviceFilter(a.cfg.Site, sitebus.KindEvent):     1,
		sitebus.DeviceFilter(a.cfg.Site, sitebus.KindState):     1,
		sitebus.DeviceFilter(a.cfg.Site, sitebus.KindCmdResult): 1,
		sitebus.BridgeStateTopic(a.cfg.Site):                    1,
	}
	tok := c.SubscribeMultiple(subs, a.receive)
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		a.log.Error("site bus subscribe failed; reconnecting", "err", tok.Error())
		go c.Disconnect(100)
		return
	}
	a.subscribed.Store(true)
	a.announceIfReady()
}

// receive runs on paho's router goroutine and must not block: it queues.
func (a *Agent) receive(_ mqtt.Client, m mqtt.Message) {
	select {
	case a.queue <- m:
	default:
		// Not acknowledged, so the broker redelivers it on our next session.
		a.overflow.Add(1)
		a.log.Error("site bus queue full; message left unacknowledged", "topic", m.Topic())
	}
}

// Run journals agent.started, then processes the site bus and forwards to central until
// ctx ends or the journal fails. When ctx ends it stops taking device messages and waits
// up to five seconds for central to acknowledge every journaled event.
func (a *Agent) Run(ctx context.Context) error {
	// Staff changes to the roster recorded while the agent was down apply first.
	if err := a.applyRegister(ctx); err != nil {
		return err
	}
	// The curfew and substance engines learn from the journal where they left off
	// before this start is journaled, so that windows that began while the agent was
	// down are caught up.
	if err := a.replayJournal(ctx); err != nil {
		return err
	}
	boot := make([]byte, 8)
	rand.Read(boot)
	info, _ := json.Marshal(map[string]any{"version": Version, "keyId": a.key.ID, "boot": hex.EncodeToString(boot), "curfewEngine": true})
	if _, err := a.append(ctx, &event.Draft{Type: "agent.started", OccurredAt: a.clock.Now(), Description: "agent started", Info: info}); err != nil {
		return err
	}
	fwdCtx, stopFwd := context.WithCancelCause(context.WithoutCancel(ctx))
	defer stopFwd(nil)
	procCtx, stopProc := context.WithCancelCause(ctx)
	defer stopProc(nil)
	fail := func(err error) { stopProc(err); stopFwd(err) }
	fwdDone := make(chan struct{})
	procDone := make(chan struct{})
	go func() {
		defer close(fwdDone)
		if err := a.fwd.Run(fwdCtx); err != nil {
			fail(err)
		}
	}()
	go func() {
		defer close(procDone)
		if err := a.process(procCtx); err != nil {
			fail(err)
		}
	}()
	go func() { _ = mqttclient.Connect(procCtx, a.out) }()
	go func() { _ = mqttclient.Connect(procCtx, a.bus) }()
	go a.watchRegister(procCtx)
	curfewDone := make(chan struct{})
	go func() {
		defer close(curfewDone)
		if err := a.curfew.run(procCtx); err != nil {
			fail(err)
		}
	}()
	checkpointsDone := make(chan struct{})
	go func() {
		defer close(checkpointsDone)
		if err := a.checkpoints(procCtx); err != nil {
			fail(err)
		}
	}()
	diskDone := make(chan struct{})
	go func() {
		defer close(diskDone)
		if err := a.watchDisk(procCtx); err != nil {
			fail(err)
		}
	}()
	bioDone := make(chan struct{})
	go func() {
		defer close(bioDone)
		if err := a.bio.run(procCtx); err != nil {
			fail(err)
		}
	}()
	patDone := make(chan struct{})
	go func() {
		defer close(patDone)
		if err := a.pat.run(procCtx); err != nil {
			fail(err)
		}
	}()
	bwcDone := make(chan struct{})
	go func() {
		defer close(bwcDone)
		if err := a.bwc.run(procCtx); err != nil {
			fail(err)
		}
	}()
	acksDone := make(chan struct{})
	go func() { defer close(acksDone); a.sendAcks(procCtx) }()
	<-procCtx.Done()
	<-procDone
	<-acksDone // the last acks go out before the bus closes
	<-curfewDone
	<-diskDone
	<-bioDone
	<-patDone
	<-bwcDone
	<-checkpointsDone
	a.bus.Disconnect(250)
	if a.busUp.Load() {
		a.announce(a.out, "offline").WaitTimeout(2 * time.Second)
	}
	a.out.Disconnect(250)
	// A clean stop takes no more device messages, then gives central a moment to
	// acknowledge what is journaled; whatever it does not is sent on the next start.
	deadline := time.NewTimer(a.drain)
	defer deadline.Stop()
	for context.Cause(fwdCtx) == nil && a.fwd.Stats().Acked < a.journal.Last() {
		select {
		case <-deadline.C:
			a.log.Info("stopping with events not yet acknowledged by central; they are sent on the next start",
				"last", a.journal.Last(), "acked", a.fwd.Stats().Acked)
			stopFwd(nil)
		case <-time.After(20 * time.Millisecond):
		}
	}
	stopFwd(nil)
	<-fwdDone
	for _, c := range []context.Context{procCtx, fwdCtx} {
		if err := context.Cause(c); err != nil && !errors.Is(err, context.Canceled) {
			return err
		}
	}
	return nil
}

// Close closes the journal and the register after Run has returned.
func (a *Agent) Close() error {
	a.reg.Close()
	return a.journal.Close()
}

// pending is a bus message whose effect is being journaled.
type pending struct {
	m    mqtt.Message
	from devMsg // the device message it is, if it is one
	done chan error
}

// devMsg names one device message: the bridge boot, the device and kind
// ("reader/front-in/event") and its seq.
type devMsg struct {
	boot, dev string
	seq       uint64
}

// process handles queued bus messages concurrently, so their appends share group
// commits, and acknowledges them in arrival order once each is durable (MQTT wants
// QoS 1 acks in order).
func (a *Agent) process(ctx context.Context) error {
	acks := make(chan pending, 4096)
	sem := make(chan struct{}, 1024)
	ackErr := make(chan error, 1)
	go func() {
		for p := range acks {
			if err := <-p.done; err != nil {
				ackErr <- err
				for range acks { // drain without acking: redelivered next session
				}
				return
			}
			p.m.Ack()
			if p.from.dev != "" {
				a.acks.handled(p.from)
			}
		}
		ackErr <- nil
	}()
	var inflight sync.WaitGroup
	defer func() {
		// Every append started is finished before process returns, so that a clean
		// stop's wait for central's ack covers all of them.
		inflight.Wait()
		close(acks)
	}()
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-ackErr:
			return err
		case m := <-a.queue:
			// Decoding and seq checks run here, in arrival order; appends run
			// concurrently so that they share the journal's group commits.
			d, from, err := a.prepare(ctx, m)
			p := pending{m: m, from: from, done: make(chan error, 1)}
			select {
			case acks <- p:
			case <-ctx.Done():
				return nil
			}
			if d == nil {
				p.done <- err // an error here is the journal's: the message stays unacknowledged
				continue
			}
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return nil
			}
			inflight.Add(1)
			go func() {
				defer inflight.Done()
				defer func() { <-sem }()
				// Not cancelled with ctx: a message taken from the bus is journaled
				// (the journal is local and quick) before a clean stop goes on.
				a.curfew.journaling.RLock()
				rec, err := a.append(context.WithoutCancel(ctx), d)
				if err == nil && !rec.Duplicate {
					a.curfew.moved(ctx, d, rec.ID)
				}
				a.curfew.journaling.RUnlock()
				if err == nil && !rec.Duplicate {
					err = a.curfew.nightAlarm(ctx, d, rec.ID)
				}
				p.done <- err
			}()
		}
	}
}

// prepare turns one bus message into the draft of the event it makes, or nil when it
// makes none; bad messages are counted, logged and dropped. A substance tester's
// reading (substances.go) and a fingerprint terminal's event or status
// (biometrics.go) are journaled here, in arrival order; an error is that journal's
// failure, after which the message must not be acknowledged.
func (a *Agent) prepare(ctx context.Context, m mqtt.Message) (*event.Draft, devMsg, error) {
	a.busMsgs.Add(1)
	if m.Topic() == sitebus.BridgeStateTopic(a.cfg.Site) {
		st, err := sitebus.DecodeBridgeState(m.Payload())
		if err != nil {
			a.badMessage(m, err)
			return nil, devMsg{}, nil
		}
		a.log.Info("bridge state", "status", st.Status, "boot", st.Boot)
		a.bridgeStatus(st)
		return nil, devMsg{}, nil
	}
	tp, err := sitebus.ParseTopic(m.Topic())
	if err != nil || tp.Site != a.cfg.Site {
		a.badMessage(m, fmt.Errorf("topic: %v", err))
		return nil, devMsg{}, nil
	}
	msg, err := sitebus.Decode(m.Payload())
	if err != nil {
		a.badMessage(m, err)
		return nil, devMsg{}, nil
	}
	from := devMsg{boot: msg.Boot, dev: tp.Class + "/" + tp.ID + "/" + tp.Kind, seq: msg.Seq}
	// Only a configured device of its class is heard (devicecheck.go); what others
	// say is alarmed, not the bridge's to be told about, and keeps no state.
	if r := a.checkDevice(tp); r != nil {
		if tp.Kind == sitebus.KindCmdResult {
			// The bridge answers a command to a door it has not; the answer is
			// matched to the command by its id, whatever door it names.
			a.result(msg.Data)
			return nil, devMsg{}, nil
		}
		return a.refuse(tp, msg, r), devMsg{}, nil
	}
	if tp.Class == sitebus.ClassBWCDock {
		// A dock is MQTT-native: its messages carry its own boot and seq, not the
		// bridge's, and change the camera register here, in arrival order (bwcs.go).
		return a.bwcMessage(ctx, tp, msg, func(err error) { a.badMessage(m, err) })
	}
	a.checkSeq(tp, msg)
	if tp.Kind == sitebus.KindCmdResult {
		a.result(msg.Data)
		return nil, from, nil
	}
	if tp.Kind == sitebus.KindState {
		if err := a.deviceStatus(tp, msg); err != nil {
			a.badMessage(m, err)
		} else if tp.Class == sitebus.ClassBiometric {
			// A terminal's used slots are checked for orphans, and pending deletions
			// sent when it comes online (biometrics.go); an error is the journal's.
			return nil, from, a.bio.status(ctx, tp, msg)
		}
		return nil, from, nil
	}
	if tp.Kind != sitebus.KindEvent {
		return nil, from, nil
	}
	if tp.Class == sitebus.ClassCamera && msg.Kind == sitebus.CameraThumbnailKind {
		// A camera's picture is kept as its thumbnail, not journaled (cameras.go).
		if err := a.deviceStatus(tp, msg); err != nil {
			a.badMessage(m, err)
		}
		return nil, from, nil
	}
	now := a.clock.Now()
	if r := a.checkTime(msg.Time, now); r != nil {
		return a.refuse(tp, msg, r), from, nil
	}
	if tp.Class == sitebus.ClassBiometric && msg.Kind != sitebus.KindMessagesLost {
		// A terminal's events change the biometrics engine, journaled here in arrival
		// order (biometrics.go), as substance readings are.
		err := a.bio.event(ctx, tp, msg)
		if bad := (*badDataError)(nil); errors.As(err, &bad) {
			a.badMessage(m, err)
			return nil, from, nil
		}
		return nil, from, err
	}
	if tp.Class == sitebus.ClassPATTester && msg.Kind == sitebus.PATTestKind {
		// A PAT tester's test is recorded in the register here, in arrival order
		// (pats.go), as substance readings are.
		err := a.pat.test(ctx, tp, msg)
		if bad := (*badDataError)(nil); errors.As(err, &bad) {
			a.badMessage(m, err)
			return nil, from, nil
		}
		return nil, from, err
	}
	if tp.Class == sitebus.ClassSubstanceTester && msg.Kind == sitebus.SubstanceReadingKind {
		err := a.subst.reading(ctx, tp, msg)
		if bad := (*badDataError)(nil); errors.As(err, &bad) {
			a.badMessage(m, err)
			return nil, from, nil
		}
		return nil, from, err
	}
	d, err := a.translate(tp, msg)
	if r := (*refusedError)(nil); errors.As(err, &r) {
		return a.refuse(tp, msg, r), from, nil
	}
	if err == nil && d != nil {
		err = a.markLate(d, msg.Time, now)
	}
	if err != nil {
		a.badMessage(m, err) // refused, counted and logged: handled
		return nil, from, nil
	}
	if d == nil {
		return nil, from, nil
	}
	d.Origin = fmt.Sprintf("bus:%s/%s/%s/%d", tp.Class, tp.ID, msg.Boot, msg.Seq)
	return d, from, nil
}

func (a *Agent) append(ctx context.Context, d *event.Draft) (journal.Record, error) {
	rec, err := a.journal.Append(ctx, d)
	if err != nil {
		return rec, fmt.Errorf("agent: journal %s: %w", d.Type, err)
	}
	if rec.Duplicate {
		a.dups.Add(1)
	} else {
		a.journaled.Add(1)
		a.log.Debug("journaled", "seq", rec.Seq, "type", d.Type)
	}
	return rec, nil
}

// badMessage counts a message the agent cannot use and logs it, once a minute per
// topic: whoever sends a flood of bad messages gets one warning, not one per message.
func (a *Agent) badMessage(m mqtt.Message, err error) {
	a.bad.Add(1)
	ok, suppressed := a.badLogs.allow(m.Topic(), "bad", a.clock.Now())
	if !ok {
		return
	}
	a.log.Warn("bad site bus message (logged once a minute per topic; all are counted)", "topic", m.Topic(), "bytes", len(m.Payload()),
		"err", err, "badSinceLastWarning", suppressed)
}

// checkSeq notes gaps and repeats in a device's message numbering; neither stops the
// message being used (its origin key keeps repeats from being journaled twice).
func (a *Agent) checkSeq(tp sitebus.Topic, m *sitebus.Message) {
	key := tp.Class + "/" + tp.ID + "/" + tp.Kind
	a.mu.Lock()
	prev, ok := a.lastSeq[key]
	if !ok || prev.boot != m.Boot || m.Seq > prev.seq {
		a.lastSeq[key] = devSeq{m.Boot, m.Seq}
	}
	a.mu.Unlock()
	if ok && prev.boot == m.Boot && m.Seq > prev.seq+1 {
		a.gaps.Add(1)
		a.log.Warn("gap in device messages", "device", key, "after", prev.seq, "got", m.Seq)
	}
}

// translate maps a device event to a domain event, or nil for events that make none.
func (a *Agent) translate(tp sitebus.Topic, m *sitebus.Message) (*event.Draft, error) {
	switch {
	case tp.Class == sitebus.ClassReader && m.Kind == "card-read":
		return a.cardRead(tp, m)
	case tp.Class == sitebus.ClassDoor && m.Kind == sitebus.DoorOpened:
		return a.doorOpened(tp, m)
	case m.Kind == sitebus.KindMessagesLost:
		return a.bridgeLoss(tp, m)
	case tp.Class == sitebus.ClassCamera:
		return a.cameraEvent(tp, m)
	case tp.Class == sitebus.ClassDoor || tp.Class == sitebus.ClassReader:
		d, err := a.translateDoor(tp, m)
		if d == nil && err == nil {
			a.log.Debug("device event with no domain meaning", "class", tp.Class, "id", tp.ID, "kind", m.Kind)
		}
		return d, err
	default:
		a.log.Debug("device event with no domain meaning yet", "class", tp.Class, "id", tp.ID, "kind", m.Kind)
		return nil, nil
	}
}

// Presence returns each resident's presence as the curfew engine knows it.
func (a *Agent) Presence() map[string]curfew.PresenceState {
	a.curfew.mu.Lock()
	defer a.curfew.mu.Unlock()
	return a.curfew.eng.Presence()
}
