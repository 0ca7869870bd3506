// Package bridge is firmware-bridge: the only process that talks to devices. It runs
// the doors (OSDP readers on RS-485, door contacts, exit buttons, lock relays and
// Wiegand readers on GPIO) and publishes normalised device telemetry on the site MQTT
// bus (package sitebus).
//
// The bridge decides card reads itself, from the last credential list the agent
// published, so that doors keep working while the agent or the bus is down; what
// happened meanwhile is kept in order and published, with the time it happened, once
// the bus is back. It holds no other site policy. Its retained bridge/state says
// online, and its last will says offline.
package bridge

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/apedge/apedge/devices/osdp"
	"github.com/apedge/apedge/devices/wiegand"
	"github.com/apedge/apedge/formats/sitebus"
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

	mu    sync.Mutex
	doors map[string]*doorRun
	rds   *readers
	sim   *Sim
	ready chan struct{}

	agentOnline atomic.Bool
}

// Option changes how New makes a bridge.
type Option func(*Bridge)

// WithClock makes the bridge date everything it reports (card reads, door events,
// device state) and judge commands' deadlines by c instead of the system clock.
func WithClock(c clock.Clock) Option { return func(b *Bridge) { b.clock = c } }

// New returns a bridge for cfg.
func New(cfg *config.Bridge, log *slog.Logger, opts ...Option) *Bridge {
	if log == nil {
		log = slog.Default()
	}
	b := &Bridge{cfg: cfg, log: log.With("component", "bridge", "site", cfg.Site), ready: make(chan struct{})}
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

// Ready is closed once the bridge's devices are running.
func (b *Bridge) Ready() <-chan struct{} { return b.ready }

// Run connects to the site bus and runs the configured devices until ctx ends.
func (b *Bridge) Run(ctx context.Context) error {
	acc, err := loadAccess(b.cfg.StateDir)
	if err != nil {
		return err
	}
	b.access = acc
	if v := acc.version(); v > 0 {
		b.log.Info("credential list kept from before", "version", v)
	}
	logInsecure(b.log, b.cfg)

	bootB := make([]byte, 8)
	rand.Read(bootB)
	boot := hex.EncodeToString(bootB)
	offline, _ := json.Marshal(sitebus.BridgeState{Status: "offline", Boot: boot})
	var pub *sitebus.Publisher
	var pubMu sync.Mutex
	cmdFilter := sitebus.DeviceFilter(b.cfg.Site, sitebus.KindCmd)
	acks := make(chan []byte, 1024)
	c, err := mqttclient.New(mqttclient.Options{
		OnLost: func(error) {
			pubMu.Lock()
			defer pubMu.Unlock()
			if pub != nil {
				pub.ConnectionLost()
			}
		},
		OnConnect: func(c mqtt.Client) {
			online, _ := json.Marshal(sitebus.BridgeState{Status: "online", Boot: boot, Time: b.clock.Now().UTC()})
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
		return fmt.Errorf("bridge: %w", err)
	}
	pubMu.Lock()
	pub = sitebus.NewPublisher(c, b.cfg.Site, boot, b.clock)
	pubMu.Unlock()
	if err := os.MkdirAll(b.cfg.StateDir, 0o700); err != nil {
		return fmt.Errorf("bridge: state directory: %w", err)
	}
	if b.out, err = openOutbox(ctx, b.cfg.StateDir, pub, b.clock, b.log); err != nil {
		return err
	}
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
	b.log.Info("bridge running", "boot", boot, "broker", b.cfg.Bus.Broker, "doors", len(b.doors), "readers", len(b.rds.by))

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

// startDevices opens and runs every door and reader.
func (b *Bridge) startDevices(ctx context.Context, wg *sync.WaitGroup) error {
	b.doors = map[string]*doorRun{}
	b.rds = &readers{b: b, by: map[string]*reader{}}
	places := b.cfg.Readers()
	simulated := b.cfg.Simulate != nil
	if simulated {
		b.sim = newSimSite(b.cfg.Simulate, b.log)
	}
	for _, dc := range b.cfg.Doors {
		io, simDoor, err := openDoorIO(dc, simulated, b.clock)
		if err != nil {
			b.sim.close()
			return err
		}
		d := newDoorRun(dc, io, b.out, b.clock, b.log)
		b.doors[dc.ID] = d
		if simDoor != nil {
			b.sim.addDoor(dc, simDoor)
		}
		wg.Go(func() { d.run(ctx) })
		if w := dc.Wiegand; w != nil {
			r := &reader{id: w.Reader, place: places[w.Reader], door: d, state: sitebus.ReaderStatus{
				Online: true, Interface: "wiegand", Door: dc.ID, Direction: w.Direction, Simulated: simulated}}
			b.rds.by[r.id] = r
			b.rds.update(r, b.clock.Now(), func(*sitebus.ReaderStatus) {})
			if simDoor != nil {
				b.sim.addWiegand(r.id, simDoor)
			}
			wg.Go(func() {
				err := io.Wiegand.Run(ctx, func(c wiegand.Card, err error) {
					if err != nil {
						b.log.Warn("bad wiegand read", "reader", r.id, "err", err)
						b.rds.event(r, b.clock.Now(), "bad-read", map[string]any{"reason": err.Error()})
						return
					}
					b.rds.cardRead(ctx, r, b.clock.Now(), c)
				})
				if err != nil && ctx.Err() == nil {
					b.log.Error("wiegand reader stopped", "reader", r.id, "err", err)
				}
			})
		}
	}
	for i, bus := range b.cfg.OSDP {
		if err := b.startOSDP(ctx, wg, i, bus, places); err != nil {
			b.sim.close()
			return err
		}
	}
	if b.sim != nil {
		wg.Go(func() { b.sim.run(ctx, b) })
	}
	return nil
}

// startOSDP opens one RS-485 line and runs its panel.
func (b *Bridge) startOSDP(ctx context.Context, wg *sync.WaitGroup, i int, bus config.OSDPBus, places map[string]config.ReaderPlace) error {
	port := bus.Port
	if port == config.SimulatedPort {
		p, err := b.sim.addBus(ctx, wg, bus)
		if err != nil {
			return fmt.Errorf("bridge: osdp[%d]: %w", i, err)
		}
		port = p
	}
	line, err := osdp.OpenSerial(port, bus.Baud)
	if err != nil {
		return fmt.Errorf("bridge: osdp[%d]: %w", i, err)
	}
	pcfg := osdp.PanelConfig{Port: line, ReplyTimeout: bus.ReplyTimeout, OfflineAfter: bus.OfflineAfter, PollInterval: bus.PollInterval,
		Logger: b.log.With("osdp", port), Clock: b.clock}
	byAddr := map[int]*reader{}
	var rs []*reader
	for _, rc := range bus.Readers {
		pd := osdp.PDConfig{Address: rc.Address, Install: rc.Install}
		secure := "off"
		if rc.SCBKFile != "" {
			key, err := config.ReadHexKey(rc.SCBKFile, osdp.KeyLen)
			if err != nil {
				line.Close()
				return fmt.Errorf("bridge: reader %s: %w", rc.ID, err)
			}
			pd.SCBK = key
			secure = "on"
			if rc.Install {
				secure = "install"
			}
		}
		pcfg.PDs = append(pcfg.PDs, pd)
		pl := places[rc.ID]
		r := &reader{id: rc.ID, place: pl, door: b.doors[pl.Door], addr: rc.Address, secure: secure,
			state: sitebus.ReaderStatus{Interface: "osdp", Door: pl.Door, Direction: pl.Direction, Address: rc.Address,
				SecureChannel: secure, Simulated: bus.Port == config.SimulatedPort}}
		byAddr[rc.Address] = r
		b.rds.by[rc.ID] = r
		rs = append(rs, r)
	}
	panel, err := osdp.NewPanel(pcfg)
	if err != nil {
		line.Close()
		return fmt.Errorf("bridge: osdp[%d]: %w", i, err)
	}
	for _, r := range rs {
		r.panel = panel
		b.rds.update(r, b.clock.Now(), func(*sitebus.ReaderStatus) {})
	}
	wg.Go(func() {
		defer line.Close()
		err := panel.Run(ctx, func(ev osdp.Event) { b.rds.onOSDP(ctx, byAddr, ev) })
		if err != nil && ctx.Err() == nil {
			b.log.Error("osdp line stopped", "port", port, "err", err)
		}
	})
	return nil
}

// onCredentials takes a credential list from the agent.
func (b *Bridge) onCredentials(raw []byte) {
	changed, err := b.access.update(raw)
	switch {
	case err != nil:
		b.log.Error("credential list refused; keeping the one held", "version", b.access.version(), "err", err)
	case changed:
		b.log.Info("credential list updated", "version", b.access.version())
	}
}

// door returns the running door id, or nil.
func (b *Bridge) door(id string) *doorRun {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.doors[id]
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
