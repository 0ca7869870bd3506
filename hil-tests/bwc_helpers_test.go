package hiltests

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/url"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/apedge/apedge/agent/bwc"
	"github.com/apedge/apedge/devices/bwcdock"
	"github.com/apedge/apedge/formats/sitebus"
	"github.com/apedge/apedge/formats/sitekey"
	"github.com/apedge/apedge/internal/clock/clocktest"
	"github.com/apedge/apedge/internal/config"
	"github.com/apedge/apedge/internal/mqttclient"
	"github.com/apedge/apedge/internal/pki"
)

// bwcNoon is when the body-worn camera tests' clocks start: a quiet hour on a quiet
// day, far from the day the tests run.
var bwcNoon = time.Date(2026, 6, 10, 11, 0, 0, 0, time.UTC)

// The site's dock, as bwcAgentYAML configures it, and the member of staff who
// wears its cameras.
const (
	dockID     = "dock-1"
	annStaff   = "s-ann"
	annCard    = "12:90001"
	consoleBy  = "keyworker-1" // the member of staff signed in on the console
	bwcCameras = 3             // docked at the start, BWC-0001 to BWC-0003, in slots 1 to 3
)

// bwcRoster is the agent's roster of a BWC site: the default resident and Ann, a
// member of staff with her card.
const bwcRoster = `  - {crn: X100001, noms: A1001AA, cards: ["12:10001"]}
  - {kind: staff, id: s-ann, name: Ann Officer, cards: ["12:90001"]}
`

// bwcAgentYAML adds to the agent the dock dock-1 (four slots, with a card reader)
// and the register's figures.
const bwcAgentYAML = `bwcDocks:
  - {id: dock-1, slots: 4, name: staff office, reader: "HID iCLASS, front panel"}
bwc: {minBatteryPct: 80, shift: 12h}
`

// bwcSite is a site on a real Mosquitto whose body-worn camera dock joins the bus
// itself with its own certificate (hilDock); its agent runs in this process on the
// test clock (so that the test issues cameras through agent.BWC), central is its
// own process, and no bridge runs (a dock is MQTT-native).
type bwcSite struct {
	*substanceSite
	dock *hilDock
}

// newBWCSite starts Mosquitto (its ACL with the dock's identity), central, the
// agent and the dock of site code, and waits until the agent has the dock's
// cameras, eligible.
func newBWCSite(t *testing.T, code string) *bwcSite {
	t.Helper()
	id := pki.Identity{Role: pki.RoleDevice, Class: sitebus.ClassBWCDock, ID: dockID}
	mq := startMosquittoFor(t, busSpec{sites: []string{code}, devices: []pki.Identity{id}})
	s := &bwcSite{substanceSite: &substanceSite{Site: newSite(t, code, mq, siteOptions{roster: bwcRoster}), t: t, mq: mq,
		clock: clocktest.Running(bwcNoon)}}
	f, err := os.OpenFile(s.AgentYAML, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(bwcAgentYAML); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if cfg, err := config.LoadAgent(s.AgentYAML); err != nil || cfg.Dock(dockID) == nil {
		t.Fatalf("the agent's docks: %v", err)
	}
	s.bus = watchDevices(t, mq, code)
	startProc(t, s.Dir, "central", "central", "-config", s.CentralYAM)
	s.startAgent()
	t.Cleanup(func() {
		if s.agent != nil {
			s.stopAgent()
		}
	})
	s.dock = startDock(t, mq, code, dockID, s.Key.Public(), s.clock, 4, bwcCameras)
	for i := 1; i <= bwcCameras; i++ {
		s.waitCamera(fmt.Sprintf("BWC-%04d", i), "docked and eligible", func(c bwc.Camera) bool { return dockedAt(i)(c) && c.Eligible })
	}
	return s
}

// camera is the register's camera serial.
func (s *bwcSite) camera(serial string) (bwc.Camera, bool) {
	s.t.Helper()
	c, ok, err := s.agent.BWC().Camera(s.t.Context(), serial)
	if err != nil {
		s.t.Fatal(err)
	}
	return c, ok
}

// waitCamera waits until the register's camera serial satisfies ok, and returns it.
func (s *bwcSite) waitCamera(serial, what string, ok func(bwc.Camera) bool) bwc.Camera {
	s.t.Helper()
	var c bwc.Camera
	waitFor(s.t, 30*time.Second, serial+" "+what+" at the agent", func() (bool, string) {
		var found bool
		c, found = s.camera(serial)
		return found && ok(c), fmt.Sprintf("%+v", c)
	})
	return c
}

// dockView is the register's view of the dock.
func (s *bwcSite) dockView() (online, reported bool) {
	s.t.Helper()
	ds, err := s.agent.BWC().Docks(s.t.Context())
	if err != nil || len(ds) != 1 || ds[0].ID != dockID {
		s.t.Fatalf("docks %+v (%v)", ds, err)
	}
	return ds[0].Online, ds[0].Reported
}

// waitDockOnline waits until the register has the dock online or offline.
func (s *bwcSite) waitDockOnline(online bool) {
	s.t.Helper()
	waitFor(s.t, 30*time.Second, fmt.Sprintf("%s online=%v at the agent", dockID, online), func() (bool, string) {
		on, reported := s.dockView()
		return reported && on == online, fmt.Sprintf("online %v, reported %v", on, reported)
	})
}

// dockedAt reports whether a camera is docked in the dock's slot.
func dockedAt(slot int) func(bwc.Camera) bool {
	return func(c bwc.Camera) bool { return c.Location == bwc.LocationDocked && c.Dock == dockID && c.Slot == slot }
}

// waitStoredBWC waits until central stores the bwc events of types, in that order,
// and no others, each signed, and returns them.
func (s *bwcSite) waitStoredBWC(types ...string) []storedSubstanceEvent {
	s.t.Helper()
	got := s.waitStoredOf("bwc.", types...)
	for i, e := range got {
		if !e.Signed {
			s.t.Errorf("seq %d %s: its signature does not verify with the site's key", e.Seq, e.Type)
		}
		if i > 0 && e.Seq <= got[i-1].Seq {
			s.t.Errorf("seq %d %s stored after seq %d", e.Seq, e.Type, got[i-1].Seq)
		}
	}
	return got
}

// dockStatuses are the dock's statuses on the site bus (its retained state and its
// wills), in the order the broker delivered them.
func (s *bwcSite) dockStatuses() []*sitebus.Message {
	return s.bus.find(sitebus.ClassBWCDock, dockID, sitebus.KindState, sitebus.DockStatusKind)
}

// hilDock is a simulated dock (devices/bwcdock) joined to the site bus as its
// adapter joins it (cmd/apedge/simdock.go, which is package main): a client of its
// own with the dock's certificate (identity device:bwc-dock:{id}), a new boot and a
// publisher (sitebus.Publisher) at every connection, its last will (the status,
// offline, seq 1 of its state) set on the connection, its messages sent in the
// order the dock says them, and the agent's signed LED commands verified with the
// site's public key, carried out and answered. Its clock is the test's.
type hilDock struct {
	t        *testing.T
	b        Broker
	site, id string
	key      *sitekey.Public
	clk      *clocktest.Clock
	sim      *bwcdock.Sim
	out      chan dockOut
	// pending counts the messages queued or in flight.
	pending atomic.Int64

	mu    sync.Mutex
	conn  *dockConn   // nil while the cable is pulled
	conns []*dockConn // every connection, to disconnect at the end
	boots []string    // every connection's boot, in order
	cmds  []sitebus.Command
}

// dockOut is one message of the dock, queued to go out.
type dockOut struct {
	at          time.Time
	kind, msgOf string // the topic's kind (state, event, cmd/result) and the message's
	data        any
}

// dockConn is one connection of the dock: its client, its publisher and the TCP
// connection under its TLS, whose closing is the cable pulled.
type dockConn struct {
	client mqtt.Client
	pub    *sitebus.Publisher

	mu  sync.Mutex
	tcp net.Conn
}

// lazyClient lets a Publisher number the will before the client that carries it
// exists, as the adapter does.
type lazyClient struct{ mqtt.Client }

// startDock joins a simulated dock id with slots slots, cameras of them holding
// BWC-0001 and on, to b's bus of site, and announces it; it leaves the bus at the
// end of the test.
func startDock(t *testing.T, b Broker, site, id string, key *sitekey.Public, clk *clocktest.Clock, slots, cameras int) *hilDock {
	t.Helper()
	d := &hilDock{t: t, b: b, site: site, id: id, key: key, clk: clk, out: make(chan dockOut, 1024)}
	sim, err := bwcdock.NewSim(bwcdock.Config{Slots: slots, Cameras: cameras}, clk, d)
	if err != nil {
		t.Fatal(err)
	}
	d.sim = sim
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); d.send(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
		d.mu.Lock()
		conns := slices.Clone(d.conns)
		d.mu.Unlock()
		for _, c := range conns {
			c.client.Disconnect(100)
		}
	})
	d.plugIn()
	sim.Announce()
	return d
}

// Publish queues a message of the dock (bwcdock.Publisher): it never blocks.
func (d *hilDock) Publish(kind string, retained bool, v any) {
	topic := sitebus.KindEvent
	if retained {
		topic = sitebus.KindState
	}
	d.enqueue(dockOut{at: d.clk.Now(), kind: topic, msgOf: kind, data: v})
}

func (d *hilDock) enqueue(m dockOut) {
	d.pending.Add(1)
	select {
	case d.out <- m:
	default:
		d.pending.Add(-1)
		d.t.Errorf("dock %s: queue full", d.id)
	}
}

func (d *hilDock) current() *dockConn {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.conn
}

// send publishes the queued messages in order on the connection of the moment.
func (d *hilDock) send(ctx context.Context) {
	for {
		var m dockOut
		select {
		case m = <-d.out:
		case <-ctx.Done():
			return
		}
		if c := d.current(); c == nil {
			d.t.Errorf("dock %s: %s %s with its cable pulled", d.id, m.kind, m.msgOf)
		} else {
			pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			_, err := c.pub.PublishAt(pctx, m.at, sitebus.ClassBWCDock, d.id, m.kind, m.msgOf, m.data)
			cancel()
			if err != nil && ctx.Err() == nil {
				d.t.Errorf("dock %s: %v", d.id, err)
			}
		}
		d.pending.Add(-1)
	}
}

// plugIn connects the dock with a new boot, its will set and its commands
// subscribed to.
func (d *hilDock) plugIn() {
	d.t.Helper()
	identity := "device:" + sitebus.ClassBWCDock + ":" + d.id
	cert, key := d.b.PKI().files(identity)
	pair, err := tls.LoadX509KeyPair(cert, key)
	if err != nil {
		d.t.Fatal(err)
	}
	tc, err := pkiClientTLS(d.b, &pair)
	if err != nil {
		d.t.Fatal(err)
	}
	d.mu.Lock()
	boot := fmt.Sprintf("dock-boot-%d", len(d.boots)+1)
	d.boots = append(d.boots, boot)
	d.mu.Unlock()
	lc := &lazyClient{}
	pub := sitebus.NewPublisher(lc, d.site, boot, d.clk)
	will, err := pub.Prepare(d.clk.Now(), sitebus.ClassBWCDock, d.id, sitebus.KindState, sitebus.DockStatusKind, d.sim.OfflineStatus())
	if err != nil {
		d.t.Fatal(err)
	}
	c := &dockConn{pub: pub}
	o := mqtt.NewClientOptions().AddBroker(d.b.URL()).SetClientID("apedge-dock-"+d.site+"-"+d.id).SetCleanSession(true).
		SetAutoReconnect(false).SetConnectRetry(false).SetConnectTimeout(10*time.Second).SetKeepAlive(15*time.Second).
		SetOrderMatters(true).SetBinaryWill(will.Topic, will.Body, 1, true).
		SetConnectionLostHandler(func(mqtt.Client, error) { pub.ConnectionLost() }).
		SetCustomOpenConnectionFn(func(u *url.URL, _ mqtt.ClientOptions) (net.Conn, error) {
			raw, err := net.DialTimeout("tcp", u.Host, 10*time.Second)
			if err != nil {
				return nil, err
			}
			c.mu.Lock()
			c.tcp = raw
			c.mu.Unlock()
			cfg := tc.Clone()
			cfg.ServerName = u.Hostname()
			conn := tls.Client(raw, cfg)
			if err := conn.Handshake(); err != nil {
				raw.Close()
				return nil, err
			}
			return conn, nil
		})
	client := mqtt.NewClient(o)
	lc.Client, c.client = client, client
	ctx, cancel := context.WithTimeout(d.t.Context(), 20*time.Second)
	defer cancel()
	if err := mqttclient.Connect(ctx, client); err != nil {
		d.t.Fatalf("dock %s: connect as %s: %v", d.id, identity, err)
	}
	cmdTopic := sitebus.DeviceTopic(d.site, sitebus.ClassBWCDock, d.id, sitebus.KindCmd)
	if err := mqttclient.Wait(ctx, client.Subscribe(cmdTopic, 1, func(_ mqtt.Client, m mqtt.Message) { d.command(m.Payload()) })); err != nil {
		d.t.Fatalf("dock %s: subscribe %s: %v", d.id, cmdTopic, err)
	}
	d.mu.Lock()
	d.conn = c
	d.conns = append(d.conns, c)
	d.mu.Unlock()
}

// command carries out a command from the agent, as the adapter does: verified with
// the site's public key, in date by the dock's clock, and answered.
func (d *hilDock) command(raw []byte) {
	c, err := sitebus.VerifyDockCommand(raw, d.key, d.site, d.id)
	var r sitebus.Result
	switch {
	case err != nil:
		d.t.Errorf("dock %s: a command that does not verify: %v", d.id, err)
		r = sitebus.Result{ID: sitebus.ClaimedCommandID(raw), Status: sitebus.ResultFailed, Error: err.Error()}
		if r.ID == "" {
			return
		}
	case d.clk.Now().After(c.Deadline):
		r = sitebus.Result{ID: c.ID, Status: sitebus.ResultExpired}
	default:
		d.mu.Lock()
		d.cmds = append(d.cmds, *c)
		d.mu.Unlock()
		r = sitebus.Result{ID: c.ID, Status: sitebus.ResultDone}
		if err := d.sim.Indicate(*c.Slot, c.Pattern, c.Reason); err != nil {
			r = sitebus.Result{ID: c.ID, Status: sitebus.ResultFailed, Error: err.Error()}
		}
	}
	d.enqueue(dockOut{at: d.clk.Now(), kind: sitebus.KindCmdResult, msgOf: r.Status, data: r})
}

// commands are the verified commands the dock has carried out, in order.
func (d *hilDock) commands() []sitebus.Command {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.cmds)
}

// waitCmd waits for the nth command the dock carries out and returns it.
func (d *hilDock) waitCmd(n int) sitebus.Command {
	d.t.Helper()
	var got []sitebus.Command
	waitFor(d.t, 30*time.Second, fmt.Sprintf("command %d to %s", n, d.id), func() (bool, string) {
		got = d.commands()
		return len(got) >= n, fmt.Sprintf("%+v", got)
	})
	return got[n-1]
}

// boot is the boot of the dock's nth connection (from 1).
func (d *hilDock) boot(n int) string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.boots[n-1]
}

// pullCable takes the dock off the bus as a power or network cut does: it says
// nothing more, and once what it said has gone out its TCP connection is closed
// with no DISCONNECT, so that the broker publishes its will.
func (d *hilDock) pullCable() {
	d.t.Helper()
	d.sim.Offline(true)
	waitFor(d.t, 30*time.Second, "the dock's messages sent before its cable is pulled", func() (bool, string) {
		n := d.pending.Load()
		return n == 0, fmt.Sprint(n)
	})
	d.mu.Lock()
	c := d.conn
	d.conn = nil
	d.mu.Unlock()
	c.mu.Lock()
	c.tcp.Close()
	c.mu.Unlock()
}

// plugBack connects the dock again (a new boot, will and publisher) and has it
// announce its status.
func (d *hilDock) plugBack() {
	d.t.Helper()
	d.plugIn()
	d.sim.Offline(false)
}
