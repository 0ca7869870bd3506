// Package osdpline is the device class of OSDP reader lines: RS-485 lines, each with
// its readers (OSDP PDs) polled by a control panel (devices/osdp), from the
// configuration's osdp section. Each reader is a device of site-bus class "reader":
// its status is its retained state; card reads go to the bridge to decide (and the
// reader then shows the grant or deny pattern); keypad, tamper, power, online and
// offline changes are its events; it takes the indicate command.
//
// A line whose port is "simulated" gets a pseudo-terminal with simulated readers
// (osdp.Reader, added to Env.Sims under each reader's Ref) on its far end; the panel
// speaks to them byte for byte as it would to hardware.
package osdpline

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"

	"github.com/creack/pty"

	"github.com/apedge/apedge/devices/device"
	"github.com/apedge/apedge/devices/osdp"
	"github.com/apedge/apedge/devices/reader"
	"github.com/apedge/apedge/devices/serialport"
	"github.com/apedge/apedge/internal/config"
)

// Class is the class of OSDP reader lines. Its zero value is ready to use.
type Class struct{}

// Name returns "osdp-line".
func (Class) Name() string { return "osdp-line" }

// Open opens every line env.Config lists, or returns nil if it lists none. It says
// loudly which readers run without secure channel.
func (Class) Open(ctx context.Context, env device.Env) (device.Driver, error) {
	cfg := env.Config
	if len(cfg.OSDP) == 0 {
		return nil, nil
	}
	logInsecure(env.Log, cfg)
	places := cfg.Readers()
	drv := &driver{}
	for i, bus := range cfg.OSDP {
		ln, err := openLine(i, bus, places, env)
		if err != nil {
			for _, l := range drv.lines {
				l.release()
			}
			return nil, err
		}
		drv.lines = append(drv.lines, ln)
		for _, r := range ln.readers {
			drv.devs = append(drv.devs, r)
		}
	}
	return drv, nil
}

// logInsecure says loudly, at start, which readers run without secure channel.
func logInsecure(log *slog.Logger, cfg *config.Bridge) {
	for _, id := range cfg.Insecure() {
		log.Error("SECURE CHANNEL OFF: card numbers cross the wire in clear and the reader can be impersonated; give it scbkFile", "reader", id)
	}
}

// driver runs the lines Open opened.
type driver struct {
	lines []*line
	devs  []device.Device
}

// Devices returns every reader of every line.
func (d *driver) Devices() []device.Device { return d.devs }

// Run polls every line until ctx ends, then closes the lines.
func (d *driver) Run(ctx context.Context) error {
	if ctx.Err() != nil { // stopped before it started
		for _, l := range d.lines {
			l.release()
		}
		return nil
	}
	var wg sync.WaitGroup
	for _, l := range d.lines {
		wg.Go(func() { l.run(ctx) })
	}
	wg.Wait()
	return nil
}

// line is one RS-485 line: its port, its panel and its readers.
type line struct {
	name    string // the port, for logs
	conn    io.ReadWriteCloser
	panel   *osdp.Panel
	readers []*readerDevice
	byAddr  map[int]*readerDevice
	env     device.Env
	log     *slog.Logger
	sim     *simLine // nil for hardware
}

// simLine is a pseudo-terminal with simulated readers on its far end.
type simLine struct {
	ptmx, tty *os.File
	baud      int
	readers   []*osdp.Reader
}

// openSim makes a pseudo-terminal pair and the simulated readers of bus, and adds
// them to sims.
func openSim(bus config.OSDPBus, sims *device.Sims) (*simLine, error) {
	var rs []*osdp.Reader
	for _, rc := range bus.Readers {
		cfg := osdp.ReaderConfig{Address: rc.Address, AcceptDefaultKey: rc.Install}
		if rc.SCBKFile != "" && !rc.Install {
			key, err := config.ReadHexKey(rc.SCBKFile, osdp.KeyLen)
			if err != nil {
				return nil, fmt.Errorf("simulated reader %s: %w", rc.ID, err)
			}
			cfg.SCBK = key
		}
		rs = append(rs, osdp.NewReader(cfg))
	}
	ptmx, tty, err := pty.Open()
	if err != nil {
		return nil, fmt.Errorf("simulated line: %w", err)
	}
	for i, rc := range bus.Readers {
		sims.Add(readerRef(rc.ID), rs[i])
	}
	return &simLine{ptmx: ptmx, tty: tty, baud: bus.Baud, readers: rs}, nil
}

// openLine opens line i and makes its panel and readers.
func openLine(i int, bus config.OSDPBus, places map[string]config.ReaderPlace, env device.Env) (*line, error) {
	port := bus.Port
	l := &line{name: port, env: env, byAddr: map[int]*readerDevice{}}
	if port == config.SimulatedPort {
		if env.Sims == nil {
			return nil, fmt.Errorf("osdpline: osdp[%d]: port %q in a site that is not simulated", i, port)
		}
		sim, err := openSim(bus, env.Sims)
		if err != nil {
			return nil, fmt.Errorf("osdpline: osdp[%d]: %w", i, err)
		}
		l.sim = sim
		// The far end stays open for the line's life, so the line never hangs up.
		port = sim.tty.Name()
		l.name = port
	}
	l.log = env.Log.With("osdp", port)
	conn, err := serialport.Open(port, bus.Baud)
	if err != nil {
		l.release()
		return nil, fmt.Errorf("osdpline: osdp[%d]: %w", i, err)
	}
	l.conn = conn
	pcfg := osdp.PanelConfig{Port: conn, ReplyTimeout: bus.ReplyTimeout, OfflineAfter: bus.OfflineAfter, PollInterval: bus.PollInterval,
		Logger: l.log, Clock: env.Clock}
	for _, rc := range bus.Readers {
		pd := osdp.PDConfig{Address: rc.Address, Install: rc.Install}
		secure := "off"
		if rc.SCBKFile != "" {
			key, err := config.ReadHexKey(rc.SCBKFile, osdp.KeyLen)
			if err != nil {
				l.release()
				return nil, fmt.Errorf("osdpline: reader %s: %w", rc.ID, err)
			}
			warn, err := osdp.CheckSCBK(key, rc.Install)
			if err != nil {
				l.release()
				return nil, fmt.Errorf("osdpline: reader %s: %s: %w", rc.ID, rc.SCBKFile, err)
			}
			if warn != "" {
				l.log.Warn("osdp reader key", "reader", rc.ID, "warning", warn)
			}
			pd.SCBK = key
			secure = "on"
			if rc.Install {
				secure = "install"
			}
		}
		pcfg.PDs = append(pcfg.PDs, pd)
		r := newReader(rc, places[rc.ID], secure, l)
		l.byAddr[rc.Address] = r
		l.readers = append(l.readers, r)
	}
	if l.panel, err = osdp.NewPanel(pcfg); err != nil {
		l.release()
		return nil, fmt.Errorf("osdpline: osdp[%d]: %w", i, err)
	}
	return l, nil
}

// run polls the line until ctx ends (serving its simulated readers meanwhile), then
// closes it.
func (l *line) run(ctx context.Context) {
	defer l.release()
	for _, r := range l.readers {
		r.update(l.env.Clock.Now(), func(*reader.Status) {})
	}
	var served sync.WaitGroup
	defer served.Wait() // before the far end closes
	for _, r := range l.readers {
		served.Go(func() { r.decide.Run(ctx) })
	}
	if s := l.sim; s != nil {
		served.Go(func() {
			if err := osdp.ServeBus(ctx, osdp.Paced(s.ptmx, s.baud), s.readers...); err != nil && ctx.Err() == nil {
				l.log.Error("simulated osdp line stopped", "err", err)
			}
		})
	}
	err := l.panel.Run(ctx, func(ev osdp.Event) { l.onEvent(ctx, ev) })
	if err != nil && ctx.Err() == nil {
		l.log.Error("osdp line stopped", "port", l.name, "err", err)
		for _, r := range l.readers {
			r.stopped(err)
		}
	}
}

// release closes the line and its simulation. It may be called more than once.
func (l *line) release() {
	if l.conn != nil {
		l.conn.Close()
	}
	if l.sim != nil {
		l.sim.ptmx.Close()
		l.sim.tty.Close()
	}
}

// onEvent handles one event of the panel.
func (l *line) onEvent(ctx context.Context, ev osdp.Event) {
	r := l.byAddr[ev.Addr]
	if r == nil {
		l.log.Warn("osdp event from an unconfigured address", "addr", ev.Addr, "kind", ev.Kind)
		return
	}
	r.onEvent(ctx, ev)
}
