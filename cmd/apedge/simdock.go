package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/apedge/apedge/cmd/apedge/internal/cli"
	"github.com/apedge/apedge/devices/bwcdock"
	"github.com/apedge/apedge/formats/sitebus"
	"github.com/apedge/apedge/formats/sitekey"
	"github.com/apedge/apedge/internal/clock"
	"github.com/apedge/apedge/internal/mqttclient"
)

const simDockUsage = `apedge sim dock -broker URL -site CODE [-id dock-1] [-ca F -cert F -key F] [-agentkey F] [-slots 4] [-cameras 4]

Runs a simulated body-worn camera dock and its adapter: it publishes on the site bus
as device:bwc-dock:ID, as a real dock's adapter does (formats/sitebus, bwc.go), with
its status retained and its last will (the status, offline) set at every connect. It
takes the agent's signed indicate commands for its slot LEDs, verified with the site's
public key (-agentkey; without it every command is refused). Its cameras charge and
offload while docked and drain and record while out, on the system clock.

  -broker URL   the site bus, tls://host:8883 (tcp:// for development on this box)
  -ca, -cert, -key  the site CA and the dock's certificate and key (apedge pki issue
                device:bwc-dock:ID)

Commands on standard input, one per line, each answered with one line:
  dock SLOT SERIAL         put the camera SERIAL in SLOT (a new camera is full)
  undock SLOT              take the camera out of SLOT
  drain SERIAL PCT         lower the camera's battery to PCT %
  record SERIAL MINUTES    add footage to a camera that is out
  fail-offload SERIAL      make the camera's next offload fail half way
  fault SERIAL [TEXT]      the camera reports the fault TEXT; no TEXT clears its faults
  badge CARD               show a staff card at the dock's reader, e.g. badge 12:10001
  offline on|off           pull the dock's network cable (the broker publishes its
                           will) and plug it back
  status                   the dock's slots, cameras and LEDs
`

// simDock is apedge sim dock.
func (s sys) simDock(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := cli.Flags("sim dock", simDockUsage, stderr)
	broker := fs.String("broker", "", "the site bus `URL`")
	site := fs.String("site", "", "the site `code`")
	id := fs.String("id", "dock-1", "the dock's device `id`")
	ca := fs.String("ca", "", "the site CA's certificate `file`")
	cert := fs.String("cert", "", "the dock's certificate `file`")
	key := fs.String("key", "", "the dock's key `file` (mode 0600)")
	agentKey := fs.String("agentkey", "", "the site's public key `file`, to verify commands with")
	slots := fs.Int("slots", 4, "how many slots")
	cameras := fs.Int("cameras", 4, "how many cameras are docked at the start (slots 1 and on)")
	serial := fs.String("serial", "SIM-DOCK-1", "the dock's serial `number`")
	if err := cli.Parse(fs, args, 0); err != nil {
		return err
	}
	if err := cli.Required(fs, "broker", *broker); err != nil {
		return err
	}
	if !sitekey.ValidSiteCode(*site) {
		fmt.Fprintf(stderr, "apedge sim dock: -site %q: give the site code, e.g. MAN1\n", *site)
		return cli.ErrUsage
	}
	if !sitebus.ValidDeviceID(*id) {
		fmt.Fprintf(stderr, "apedge sim dock: -id %q: letters, digits, '-' and '_'\n", *id)
		return cli.ErrUsage
	}
	u, err := url.Parse(*broker)
	if err != nil || u.Host == "" {
		fmt.Fprintf(stderr, "apedge sim dock: -broker %q: give tls://host:port\n", *broker)
		return cli.ErrUsage
	}
	if (*cert == "") != (*key == "") {
		fmt.Fprintln(stderr, "apedge sim dock: give -cert and -key together")
		return cli.ErrUsage
	}
	var pub *sitekey.Public
	if *agentKey != "" {
		if pub, err = sitekey.LoadPublic(*agentKey, *site); err != nil {
			return err
		}
	}
	var tc *mqttclient.TLS
	if *ca != "" || *cert != "" || u.Scheme != "tcp" {
		tc = &mqttclient.TLS{CA: *ca, Cert: *cert, Key: *key}
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	d, err := newSimDockRun(clock.Or(s.clock), *site, *id, pub, bwcdock.Config{Serial: *serial, Slots: *slots, Cameras: *cameras}, stdout, log)
	if err != nil {
		fmt.Fprintf(stderr, "apedge sim dock: %v\n", err)
		return cli.ErrUsage
	}
	fmt.Fprintf(stdout, "simulated dock %s (%d slots) publishing on %s as device:%s:%s\n", *id, *slots, *broker, sitebus.ClassBWCDock, *id)
	if err := d.plug(u, tc); err != nil {
		return err
	}
	go d.commands(ctx, s.stdin)
	d.run(ctx)
	return nil
}

// newSimDockRun returns a simulated dock as cfg says, on clk, that publishes as
// device:bwc-dock:id of site once served, verifies the agent's commands with pub
// (nil: every command is refused), says what it did on out and logs its trouble
// on log. apedge sim dock and apedge demo run it.
func newSimDockRun(clk clock.Clock, site, id string, pub *sitekey.Public, cfg bwcdock.Config, out io.Writer, log *slog.Logger) (*simDockRun, error) {
	d := &simDockRun{clk: clk, site: site, id: id, pub: pub, out: out, log: log,
		queue: make(chan dockMsg, 1024), changed: make(chan struct{}, 1)}
	sim, err := bwcdock.NewSim(cfg, clk, d)
	if err != nil {
		return nil, err
	}
	d.sim = sim
	return d, nil
}

// plug makes the dock's cable to the broker at u and its link through it, over TLS
// with tc (its ServerName set from u; nil: plaintext). run connects it.
func (d *simDockRun) plug(u *url.URL, tc *mqttclient.TLS) error {
	var err error
	if d.cable, err = newCable(u.Host); err != nil {
		return err
	}
	d.link = mqttclient.Link{Broker: u.Scheme + "://" + d.cable.Addr(), ClientID: "apedge-dock-" + d.site + "-" + d.id}
	if tc != nil {
		t := *tc
		t.ServerName = u.Hostname()
		d.link.TLS = &t
	}
	return nil
}

// run keeps the plugged dock connected, publishing and advancing on its clock,
// until ctx ends; then it says goodbye and pulls its cable.
func (d *simDockRun) run(ctx context.Context) {
	defer d.cable.Close()
	var wg sync.WaitGroup
	run := func(f func(context.Context)) { wg.Add(1); go func() { defer wg.Done(); f(ctx) }() }
	run(d.connect)
	run(d.send)
	run(d.tick)
	<-ctx.Done()
	wg.Wait()
}

// dockMsg is one message of the dock, queued to go out.
type dockMsg struct {
	at       time.Time
	kind     string // its msgKind
	topic    string // sitebus.KindState, KindEvent or KindCmdResult
	data     any
	retained bool
}

// simDockRun is a running apedge sim dock: the simulated dock, its connection to the
// bus (one client, boot and will per connection) and the queue between them.
type simDockRun struct {
	clk      clock.Clock
	site, id string
	pub      *sitekey.Public
	out      io.Writer
	log      *slog.Logger
	link     mqttclient.Link
	sim      *bwcdock.Sim
	cable    *cable
	queue    chan dockMsg
	changed  chan struct{} // the cable was plugged back

	mu   sync.Mutex
	conn *dockConn // nil while not connected
	outw sync.Mutex
}

// dockConn is one connection: its client and the publisher numbering its messages.
type dockConn struct {
	client mqtt.Client
	pub    *sitebus.Publisher
	lost   chan struct{}
}

// Publish queues a message of the dock (bwcdock.Publisher); it never blocks.
func (d *simDockRun) Publish(kind string, retained bool, v any) {
	topic := sitebus.KindEvent
	if retained {
		topic = sitebus.KindState
	}
	d.enqueue(dockMsg{at: d.clk.Now(), kind: kind, topic: topic, data: v, retained: retained})
}

func (d *simDockRun) enqueue(m dockMsg) {
	select {
	case d.queue <- m:
	default:
		d.log.Warn("dock queue full: message dropped", "kind", m.kind)
	}
}

func (d *simDockRun) notify() {
	select {
	case d.changed <- struct{}{}:
	default:
	}
}

func (d *simDockRun) current() *dockConn {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.conn
}

// lazyClient lets a Publisher number the will before the client that carries it
// exists.
type lazyClient struct{ mqtt.Client }

// connect keeps the dock connected while its cable is in, with a new boot id, will
// and publisher at every connection, until ctx ends.
func (d *simDockRun) connect(ctx context.Context) {
	for ctx.Err() == nil {
		if d.cable.IsCut() {
			select {
			case <-d.changed:
			case <-ctx.Done():
			}
			continue
		}
		c, err := d.dial(ctx)
		if err != nil {
			if ctx.Err() == nil {
				d.log.Warn("dock: connect", "err", err)
			}
			select {
			case <-time.After(time.Second):
			case <-ctx.Done():
			}
			continue
		}
		d.mu.Lock()
		d.conn = c
		d.mu.Unlock()
		d.sim.Announce()
		select {
		case <-c.lost:
		case <-ctx.Done():
			d.goodbye(c)
		}
		d.mu.Lock()
		d.conn = nil
		d.mu.Unlock()
	}
}

// dial makes one connection, with a new boot: its will (seq 1 of its state) and
// its command subscription.
func (d *simDockRun) dial(ctx context.Context) (*dockConn, error) {
	b := make([]byte, 8)
	rand.Read(b)
	lc := &lazyClient{}
	pub := sitebus.NewPublisher(lc, d.site, hex.EncodeToString(b), d.clk)
	will, err := pub.Prepare(d.clk.Now(), sitebus.ClassBWCDock, d.id, sitebus.KindState, sitebus.DockStatusKind, d.sim.OfflineStatus())
	if err != nil {
		return nil, err
	}
	c := &dockConn{pub: pub, lost: make(chan struct{})}
	var once sync.Once
	cmdTopic := sitebus.DeviceTopic(d.site, sitebus.ClassBWCDock, d.id, sitebus.KindCmd)
	client, err := mqttclient.New(mqttclient.Options{Link: d.link, CleanSession: true, Once: true, Logger: d.log,
		Will:   &mqttclient.Will{Topic: will.Topic, Payload: will.Body, Retained: true},
		OnLost: func(error) { pub.ConnectionLost(); once.Do(func() { close(c.lost) }) }})
	if err != nil {
		return nil, err
	}
	lc.Client, c.client = client, client
	if err := mqttclient.WaitTimeout(ctx, client.Connect(), 10*time.Second); err != nil {
		client.Disconnect(0)
		return nil, err
	}
	if err := mqttclient.WaitTimeout(ctx, client.Subscribe(cmdTopic, 1, func(_ mqtt.Client, m mqtt.Message) {
		d.command(m.Payload())
	}), 10*time.Second); err != nil {
		client.Disconnect(0)
		return nil, fmt.Errorf("subscribe %s: %w", cmdTopic, err)
	}
	return c, nil
}

// goodbye is the dock stopping on purpose: it says it is offline, as its will
// would, and disconnects.
func (d *simDockRun) goodbye(c *dockConn) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if _, err := c.pub.Publish(ctx, sitebus.ClassBWCDock, d.id, sitebus.KindState, sitebus.DockStatusKind, d.sim.OfflineStatus()); err != nil {
		d.log.Warn("dock: offline status", "err", err)
	}
	c.client.Disconnect(250)
}

// send publishes the queued messages in order on the connection of the moment,
// waiting for one while there is none.
func (d *simDockRun) send(ctx context.Context) {
	for {
		var m dockMsg
		select {
		case m = <-d.queue:
		case <-ctx.Done():
			return
		}
		for {
			c := d.current()
			if c == nil {
				select {
				case <-time.After(50 * time.Millisecond):
				case <-ctx.Done():
					return
				}
				continue
			}
			pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			_, err := c.pub.PublishAt(pctx, m.at, sitebus.ClassBWCDock, d.id, m.topic, m.kind, m.data)
			cancel()
			if err == nil || ctx.Err() != nil {
				break
			}
		}
	}
}

// tick advances the dock every minute of its clock.
func (d *simDockRun) tick(ctx context.Context) {
	for {
		next := d.clk.Now().Truncate(time.Minute).Add(time.Minute)
		select {
		case <-d.clk.Until(next):
			d.sim.Advance()
		case <-ctx.Done():
			return
		}
	}
}

// command carries out a command from the agent and queues its result.
func (d *simDockRun) command(raw []byte) {
	c, err := sitebus.VerifyDockCommand(raw, d.pub, d.site, d.id)
	var r sitebus.Result
	switch {
	case err != nil:
		r = sitebus.Result{ID: sitebus.ClaimedCommandID(raw), Status: sitebus.ResultFailed, Error: err.Error()}
		if r.ID == "" {
			d.log.Warn("dock: a command with no id refused", "err", err)
			return
		}
	case d.clk.Now().After(c.Deadline):
		r = sitebus.Result{ID: c.ID, Status: sitebus.ResultExpired}
	default:
		r = sitebus.Result{ID: c.ID, Status: sitebus.ResultDone}
		if err := d.sim.Indicate(*c.Slot, c.Pattern, c.Reason); err != nil {
			r = sitebus.Result{ID: c.ID, Status: sitebus.ResultFailed, Error: err.Error()}
		}
	}
	d.say("command %s: %s %s", r.ID, r.Status, r.Error)
	d.enqueue(dockMsg{at: d.clk.Now(), kind: r.Status, topic: sitebus.KindCmdResult, data: r})
}

// say prints one line on the run's output.
func (d *simDockRun) say(format string, a ...any) {
	d.outw.Lock()
	defer d.outw.Unlock()
	fmt.Fprintln(d.out, strings.TrimSpace(fmt.Sprintf(format, a...)))
}

// commands works the dock by the lines read from in, answering each with one line,
// until in ends.
func (d *simDockRun) commands(ctx context.Context, in io.Reader) {
	sc := bufio.NewScanner(in)
	for sc.Scan() && ctx.Err() == nil {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		msg, err := simDockCommand(d.sim, f)
		if err == nil && f[0] == "offline" {
			if d.sim.IsOffline() {
				d.cable.Cut()
			} else {
				d.cable.Restore()
				d.notify()
			}
		}
		if err != nil {
			msg = f[0] + ": " + strings.TrimPrefix(err.Error(), "bwcdock: ")
		}
		d.say("%s", msg)
	}
}

// simDockCommand carries out one command line f on the simulated dock and says
// what it did.
func simDockCommand(sim *bwcdock.Sim, f []string) (string, error) {
	args := func(least, most int, form string) error {
		if n := len(f) - 1; n < least || n > most {
			return fmt.Errorf("say %s %s", f[0], form)
		}
		return nil
	}
	number := func(s, what string) (float64, error) {
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return 0, fmt.Errorf("%q: say %s as a number", s, what)
		}
		return v, nil
	}
	slot := func(s string) (int, error) {
		n, err := strconv.Atoi(s)
		if err != nil {
			return 0, fmt.Errorf("%q: say the slot as a number, 1 to %d", s, sim.Slots())
		}
		return n, nil
	}
	switch f[0] {
	case "dock":
		if err := args(2, 2, "SLOT SERIAL"); err != nil {
			return "", err
		}
		n, err := slot(f[1])
		if err != nil {
			return "", err
		}
		if err := sim.Dock(n, f[2]); err != nil {
			return "", err
		}
		return fmt.Sprintf("slot %d: %s docked", n, f[2]), nil
	case "undock":
		if err := args(1, 1, "SLOT"); err != nil {
			return "", err
		}
		n, err := slot(f[1])
		if err != nil {
			return "", err
		}
		serial, err := sim.Undock(n)
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("slot %d: %s taken out", n, serial), nil
	case "drain", "record":
		form, what := "SERIAL PCT", "the battery %"
		if f[0] == "record" {
			form, what = "SERIAL MINUTES", "minutes"
		}
		if err := args(2, 2, form); err != nil {
			return "", err
		}
		v, err := number(f[2], what)
		if err != nil {
			return "", err
		}
		if f[0] == "drain" {
			if err := sim.Drain(f[1], v); err != nil {
				return "", err
			}
			return fmt.Sprintf("%s: battery %v%%", f[1], v), nil
		}
		if err := sim.Record(f[1], v); err != nil {
			return "", err
		}
		return fmt.Sprintf("%s: %v minutes of footage recorded", f[1], v), nil
	case "fail-offload":
		if err := args(1, 1, "SERIAL"); err != nil {
			return "", err
		}
		if err := sim.FailNextOffload(f[1]); err != nil {
			return "", err
		}
		return fmt.Sprintf("%s: its next offload fails at %d%%", f[1], bwcdock.FailAtPct), nil
	case "fault":
		if err := args(1, 1000, "SERIAL [TEXT]"); err != nil {
			return "", err
		}
		text := strings.Join(f[2:], " ")
		if err := sim.Fault(f[1], text); err != nil {
			return "", err
		}
		if text == "" {
			return fmt.Sprintf("%s: faults cleared", f[1]), nil
		}
		return fmt.Sprintf("%s: fault %q", f[1], text), nil
	case "badge":
		if err := args(1, 1, "CARD"); err != nil {
			return "", err
		}
		if err := sim.Badge(f[1]); err != nil {
			return "", err
		}
		return "card " + f[1] + " shown", nil
	case "offline":
		if err := args(1, 1, "on|off"); err != nil || f[1] != "on" && f[1] != "off" {
			return "", fmt.Errorf("say offline on or offline off")
		}
		sim.Offline(f[1] == "on")
		if f[1] == "on" {
			return "offline: cable pulled", nil
		}
		return "online: cable plugged back", nil
	case "status":
		if err := args(0, 0, ""); err != nil {
			return "", err
		}
		st := sim.Status()
		var b strings.Builder
		state := "online"
		if sim.IsOffline() {
			state = "offline"
		}
		fmt.Fprintf(&b, "dock %s %s:", st.Serial, state)
		for _, s := range st.Slots {
			fmt.Fprintf(&b, " [%d", s.Slot)
			if s.Occupied {
				fmt.Fprintf(&b, " %s %d%% offload %s %d%%", s.Camera, *s.BatteryPct, s.Offload.State, s.Offload.ProgressPct)
				for _, ft := range s.Faults {
					fmt.Fprintf(&b, " fault %q", ft)
				}
			} else {
				b.WriteString(" empty")
			}
			if led := sim.LED(s.Slot); led.Pattern != "" {
				fmt.Fprintf(&b, " LED %s", led.Pattern)
				if led.Reason != "" {
					fmt.Fprintf(&b, " %q", led.Reason)
				}
			}
			b.WriteString("]")
		}
		for _, c := range sim.Cameras() {
			if c.Slot == 0 {
				fmt.Fprintf(&b, " [out %s %d%%]", c.Serial, int(c.BatteryPct))
			}
		}
		return b.String(), nil
	}
	return "", fmt.Errorf("unknown command (dock, undock, drain, record, fail-offload, fault, badge, offline, status)")
}

// cable is the dock's network cable: a relay on loopback between the dock's client
// and the broker, so that pulling it drops the connection without a DISCONNECT, as a
// power or network cut does, and the broker publishes the dock's will.
type cable struct {
	ln     net.Listener
	target string

	mu    sync.Mutex
	cut   bool
	conns map[net.Conn]bool
}

// newCable starts a relay to target (host:port).
func newCable(target string) (*cable, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("sim dock: relay: %w", err)
	}
	c := &cable{ln: ln, target: target, conns: map[net.Conn]bool{}}
	go c.serve()
	return c, nil
}

// Addr is the relay's address, where the dock's client connects.
func (c *cable) Addr() string { return c.ln.Addr().String() }

func (c *cable) serve() {
	for {
		in, err := c.ln.Accept()
		if err != nil {
			return
		}
		go c.relay(in)
	}
}

func (c *cable) relay(in net.Conn) {
	c.mu.Lock()
	cut := c.cut
	c.mu.Unlock()
	if cut {
		in.Close()
		return
	}
	out, err := net.DialTimeout("tcp", c.target, 10*time.Second)
	if err != nil {
		in.Close()
		return
	}
	c.mu.Lock()
	if c.cut {
		c.mu.Unlock()
		in.Close()
		out.Close()
		return
	}
	c.conns[in], c.conns[out] = true, true
	c.mu.Unlock()
	done := make(chan struct{}, 2)
	go func() { io.Copy(out, in); done <- struct{}{} }()
	go func() { io.Copy(in, out); done <- struct{}{} }()
	<-done
	in.Close()
	out.Close()
	c.mu.Lock()
	delete(c.conns, in)
	delete(c.conns, out)
	c.mu.Unlock()
}

// Cut pulls the cable: every connection through it is closed at once and no new
// one is made until Restore.
func (c *cable) Cut() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cut = true
	for conn := range c.conns {
		conn.Close()
	}
}

// Restore plugs the cable back.
func (c *cable) Restore() {
	c.mu.Lock()
	c.cut = false
	c.mu.Unlock()
}

// IsCut says the cable is pulled.
func (c *cable) IsCut() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cut
}

// Close stops the relay.
func (c *cable) Close() error {
	c.Cut()
	return c.ln.Close()
}
