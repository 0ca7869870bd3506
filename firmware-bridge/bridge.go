// Package bridge is firmware-bridge: the only process that talks to devices. It runs
// the device classes of its table (Classes: doors on GPIO with their Wiegand readers,
// OSDP readers on RS-485, and each class to come) through the contract of package
// devices/device, and publishes their normalised telemetry on the site MQTT bus
// (package sitebus). It knows no class by name: it opens what each class finds in
// the configuration, routes commands from the bus to devices by class and id, keeps
// what devices publish in its outbox until the agent has it, and asks devices how
// they are (Health).
//
// The bridge decides card reads itself, from the last credential list the agent
// published signed by the site key (agentKey), so that doors keep working while the agent or the bus is down; what
// happened meanwhile is kept in order and published, with the time it happened, once
// the bus is back. It carries out only commands the site key signed for the device,
// once each, and no unlock longer than maxUnlock. It holds no other site policy. Its retained bridge/state says
// online, and its last will says offline.
package bridge

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/apedge/apedge/devices/device"
	"github.com/apedge/apedge/formats/sitebus"
	"github.com/apedge/apedge/formats/sitekey"
	"github.com/apedge/apedge/internal/clock"
	"github.com/apedge/apedge/internal/config"
	"github.com/apedge/apedge/internal/mqttclient"
)

// Bridge is a running firmware bridge.
type Bridge struct {
	cfg    *config.Bridge
	log    *slog.Logger
	clock  clock.Clock
	access *access
	out    *outbox

	classes []device.Class

	mu    sync.RWMutex
	devs  map[device.Ref]device.Device // every device, once started
	doors map[string]device.Door       // the devices that are doors, by id
	sim   *Sim
	ready chan struct{}

	agentOnline atomic.Bool

	// agentKey verifies what the agent sends: credential lists and commands.
	agentKey *sitekey.Public
	commands ledger   // command ids taken, against replays
	refused  refusals // refused lists and commands, logged once per cause a minute
	// refusedLists and refusedCommands count what did not verify or was refused.
	refusedLists, refusedCommands atomic.Uint64
}

// Option changes how New makes a bridge.
type Option func(*Bridge)

// WithClock makes the bridge date everything it reports (card reads, door events,
// device state) and judge commands' deadlines by c instead of the system clock.
func WithClock(c clock.Clock) Option { return func(b *Bridge) { b.clock = c } }

// WithClasses makes the bridge run the device classes cs instead of those of Classes:
// for tests, and for a build that runs other classes.
func WithClasses(cs ...device.Class) Option {
	return func(b *Bridge) { b.classes = slices.Clone(cs) }
}

// New returns a bridge for cfg.
func New(cfg *config.Bridge, log *slog.Logger, opts ...Option) *Bridge {
	if log == nil {
		log = slog.Default()
	}
	b := &Bridge{cfg: cfg, log: log.With("component", "bridge", "site", cfg.Site), ready: make(chan struct{}), classes: Classes()}
	for _, o := range opts {
		o(b)
	}
	b.clock = clock.Or(b.clock)
	return b
}

// Published is how many device messages the broker has taken from this bridge.
func (b *Bridge) Published() uint64 {
	if b.out == nil {
		return 0
	}
	return b.out.published.Load()
}

// Refused is how many credential lists and commands from the bus the bridge refused:
// not signed by the site key, signed for another device, replayed, or an unlock longer
// than maxUnlock.
func (b *Bridge) Refused() (lists, commands uint64) {
	return b.refusedLists.Load(), b.refusedCommands.Load()
}

// Ready is closed once the bridge's devices are running.
func (b *Bridge) Ready() <-chan struct{} { return b.ready }

// Run connects to the site bus and runs the configured devices until ctx ends.
func (b *Bridge) Run(ctx context.Context) error {
	key, err := sitekey.LoadPublic(b.cfg.AgentKey, b.cfg.Site)
	if err != nil {
		return fmt.Errorf("bridge: agentKey: %w", err)
	}
	b.agentKey = key
	acc, refused, err := loadAccess(b.cfg.StateDir, key)
	if err != nil {
		return err
	}
	if refused != nil {
		b.log.Error("credential list kept from before does not verify with the site key; not using it, waiting for the agent's", "err", refused)
	}
	b.access = acc
	if v := acc.version(); v > 0 {
		b.log.Info("credential list kept from before", "version", v)
	}

	bootB := make([]byte, 8)
	rand.Read(bootB)
	boot := hex.EncodeToString(bootB)
	offline, _ := json.Marshal(sitebus.BridgeState{Status: "offline", Boot: boot})
	acks := make(chan []byte, 1024)
	lost := &lossNotice{}
	c, err := b.busClient(ctx, boot, offline, acks, lost)
	if err != nil {
		return err
	}
	pub := sitebus.NewPublisher(c, b.cfg.Site, boot, b.clock)
	lost.set(pub)
	if err := os.MkdirAll(b.cfg.StateDir, 0o700); err != nil {
		return fmt.Errorf("bridge: state directory: %w", err)
	}
	b.openLedger(b.clock.Now())
	if b.out, err = openOutbox(ctx, b.cfg.StateDir, pub, b.clock, b.log); err != nil {
		return err
	}
	b.watchOutbox(c, boot)
	defer b.out.db.Close()
	if n, err := b.out.pending(ctx); err == nil && n > 0 {
		b.log.Info("site-bus messages kept from before; sending them first", "messages", n)
	}
	writeCtx, stopWrite := context.WithCancel(context.WithoutCancel(ctx))
	writeDone := make(chan struct{})
	go func() { defer close(writeDone); b.out.write(writeCtx) }()
	defer func() { stopWrite(); <-writeDone }() // before the file closes

	// The devices start before the bus is up: doors work without it.
	devCtx, stopDevices := context.WithCancel(ctx)
	defer stopDevices()
	var wg sync.WaitGroup
	if err := b.startDevices(devCtx, &wg); err != nil {
		return err
	}
	close(b.ready)

	// Connecting retries in the background; messages wait in the outbox meanwhile.
	// The outbox starts once connected: paho drops what was published while a
	// clean session was connecting, and its tokens never complete.
	outCtx, stopOut := context.WithCancel(context.WithoutCancel(ctx))
	outDone := make(chan struct{})
	go func() {
		defer close(outDone)
		if err := mqttclient.Connect(ctx, c); err != nil {
			return
		}
		b.out.send(outCtx, 2*time.Second)
	}()
	ackDone := make(chan struct{})
	go func() { defer close(ackDone); b.applyAcks(outCtx, acks) }()
	b.log.Info("bridge running", append([]any{"boot", boot, "broker", b.cfg.Bus.Broker}, b.deviceCounts()...)...)

	<-ctx.Done()
	stopDevices()
	wg.Wait()
	stopWrite() // the writer keeps what the devices said last
	<-writeDone
	stopOut() // the sender lingers to send it; what it cannot send waits for the next run
	<-outDone
	<-ackDone
	// A clean stop says offline itself; the will covers an unclean one.
	if c.IsConnectionOpen() {
		tok := c.Publish(sitebus.BridgeStateTopic(b.cfg.Site), 1, true, offline)
		tok.WaitTimeout(2 * time.Second)
	}
	c.Disconnect(250)
	return nil
}

// lossNotice tells the publisher, once there is one, that the bus connection was lost.
type lossNotice struct {
	mu  sync.Mutex
	pub *sitebus.Publisher
}

func (n *lossNotice) set(p *sitebus.Publisher) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.pub = p
}

func (n *lossNotice) lost(error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.pub != nil {
		n.pub.ConnectionLost()
	}
}

// busClient makes the bridge's client of the site bus, with offline as its last will.
// On every connect it says the bridge is online and subscribes to what the agent
// sends the bridge: credential lists, commands, its state and acks, which it queues
// on acks.
func (b *Bridge) busClient(ctx context.Context, boot string, offline []byte, acks chan<- []byte, lost *lossNotice) (mqtt.Client, error) {
	cmdFilter := sitebus.DeviceFilter(b.cfg.Site, sitebus.KindCmd)
	c, err := mqttclient.New(mqttclient.Options{
		OnLost: lost.lost,
		OnConnect: func(c mqtt.Client) {
			online, _ := json.Marshal(b.onlineState(boot))
			c.Publish(sitebus.BridgeStateTopic(b.cfg.Site), 1, true, online)
			c.Subscribe(sitebus.CredentialsTopic(b.cfg.Site), 1, func(_ mqtt.Client, m mqtt.Message) { b.onCredentials(m.Payload()) })
			c.Subscribe(cmdFilter, 1, func(_ mqtt.Client, m mqtt.Message) { b.onCommand(ctx, m.Topic(), m.Payload()) })
			c.Subscribe(sitebus.AgentStateTopic(b.cfg.Site), 1, func(_ mqtt.Client, m mqtt.Message) { b.onAgentState(m.Payload()) })
			c.Subscribe(sitebus.AckTopic(b.cfg.Site), 1, func(_ mqtt.Client, m mqtt.Message) {
				select {
				case acks <- m.Payload():
				default:
					b.log.Warn("agent acks arriving faster than they are applied; those messages will be resent")
				}
			})
		},
		Link:         b.cfg.Bus,
		CleanSession: true,
		Will:         &mqttclient.Will{Topic: sitebus.BridgeStateTopic(b.cfg.Site), Payload: offline, Retained: true},
		Logger:       b.log,
	})
	if err != nil {
		return nil, fmt.Errorf("bridge: %w", err)
	}
	return c, nil
}

// onCredentials takes a credential list from the agent: only one signed by the site
// key; any other is counted and logged once per cause per minute.
func (b *Bridge) onCredentials(raw []byte) {
	changed, err := b.access.update(raw)
	switch {
	case errors.Is(err, sitebus.ErrMessage):
		b.refusedLists.Add(1)
		b.refused.note(b.log, b.clock.Now(), "credential list", cause(err), "version", b.access.version(), "bytes", len(raw), "err", err)
	case err != nil:
		b.log.Error("credential list refused; keeping the one held", "version", b.access.version(), "err", err)
	case changed:
		b.log.Info("credential list updated", "version", b.access.version())
	}
}

// onAgentState notes whether the agent is online: unacknowledged messages are sent
// again only while it is (the broker keeps them for it while it is away).
func (b *Bridge) onAgentState(raw []byte) {
	st, err := sitebus.DecodeAgentState(raw)
	if err != nil {
		b.log.Warn("bad agent state", "err", err)
		return
	}
	b.agentOnline.Store(st.Status == "online")
	b.log.Info("agent state", "status", st.Status)
}

// applyAcks deletes what the agent acknowledges and, while the agent is online, sends
// again what it has not acknowledged within ResendAfter, until ctx ends.
func (b *Bridge) applyAcks(ctx context.Context, acks <-chan []byte) {
	t := time.NewTicker(max(b.cfg.ResendAfter/4, 25*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case raw := <-acks:
			a, err := sitebus.DecodeAck(raw)
			if err != nil {
				b.log.Warn("bad agent ack", "err", err)
				continue
			}
			if err := b.out.ack(ctx, a); err != nil && ctx.Err() == nil {
				b.log.Error("outbox: applying the agent's ack", "err", err)
			}
		case now := <-t.C:
			if !b.agentOnline.Load() {
				continue
			}
			n, err := b.out.resend(ctx, now.Add(-b.cfg.ResendAfter))
			switch {
			case err != nil && ctx.Err() == nil:
				b.log.Error("outbox: resend", "err", err)
			case n > 0:
				b.log.Warn("messages not acknowledged by the agent; sending them again", "messages", n, "after", b.cfg.ResendAfter)
			}
		}
	}
}

// Unacknowledged counts the device messages kept until the agent acknowledges them.
func (b *Bridge) Unacknowledged(ctx context.Context) (int, error) {
	if b.out == nil {
		return 0, nil
	}
	return b.out.pending(ctx)
}
