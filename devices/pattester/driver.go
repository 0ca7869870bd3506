package pattester

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/apedge/apedge/devices/device"
	"github.com/apedge/apedge/devices/internal/record"
	"github.com/apedge/apedge/devices/serialport"
	"github.com/apedge/apedge/internal/config"
)

// timing is how often a tester's driver does what it does on its own.
type timing struct {
	// tick is how often it looks at the time: to ask for the ID, to see a silent
	// device, to publish a changed status.
	tick time.Duration
	// askEvery is how often it asks for the ID while it has none; heartbeat how
	// often while it has one.
	askEvery, heartbeat time.Duration
	// silence is how long without a good record makes the tester offline.
	silence time.Duration
	// reopen is how long it waits to open a port again after it failed.
	reopen time.Duration
}

// defaultTiming returns the timing of a real bridge.
func defaultTiming() timing {
	return timing{tick: time.Second, askEvery: 5 * time.Second, heartbeat: 20 * time.Second,
		silence: 60 * time.Second, reopen: 5 * time.Second}
}

// plausibleAhead is how far ahead of the bridge's clock an instrument's clock may
// be for a test to be dated by it. There is no bound behind: a download of an
// instrument's memory sends tests done days or months ago.
const plausibleAhead = 10 * time.Minute

// driver runs the testers Open opened.
type driver struct {
	testers []*tester
}

// Devices returns the testers.
func (d *driver) Devices() []device.Device {
	out := make([]device.Device, len(d.testers))
	for i, t := range d.testers {
		out[i] = t
	}
	return out
}

// Run runs every tester until ctx ends, then closes their ports and simulators.
func (d *driver) Run(ctx context.Context) error {
	if ctx.Err() != nil { // stopped before it started
		for _, t := range d.testers {
			t.release()
		}
		return nil
	}
	var wg sync.WaitGroup
	for _, t := range d.testers {
		wg.Go(func() { t.run(ctx) })
	}
	wg.Wait()
	return nil
}

// simPort is a pseudo-terminal with a simulated tester on its far end.
type simPort struct {
	ptmx, tty *os.File
	sim       *Sim
}

// tester is one PAT tester on its serial line.
type tester struct {
	cfg  config.PATTester
	ref  device.Ref
	env  device.Env
	log  *slog.Logger
	tm   timing
	path string   // the port to open
	sim  *simPort // nil for hardware

	wmu sync.Mutex // one record written at a time

	mu        sync.Mutex
	conn      io.ReadWriteCloser // nil while the port is closed
	st        Status
	published Status
	sent      bool          // published was sent
	idSeen    chan struct{} // closed at the next ID record, then replaced
	logged    map[string]bool
	// sinceAsked and sinceHeard count the ticks since the last RQ and the last
	// good record: durations measured by the ticker, not read from a clock.
	sinceAsked, sinceHeard int
}

func newTester(cfg config.PATTester, env device.Env, tm timing) *tester {
	ref := device.Ref{Class: ClassName, ID: cfg.ID}
	return &tester{cfg: cfg, ref: ref, env: env, log: env.Log.With("tester", cfg.ID), tm: tm, path: cfg.Port,
		idSeen: make(chan struct{}), logged: map[string]bool{}}
}

// Ref names the tester.
func (t *tester) Ref() device.Ref { return t.ref }

// Command carries out ActionIdentify: it sends RQ what=id and waits for the ID
// record.
func (t *tester) Command(ctx context.Context, cmd device.Command) error {
	if cmd.Action != ActionIdentify {
		return device.Unsupported(t.ref, cmd.Action)
	}
	t.mu.Lock()
	conn, seen, why := t.conn, t.idSeen, t.st.LastError
	t.mu.Unlock()
	if conn == nil {
		return fmt.Errorf("pattester: tester %s: port not open: %s", t.cfg.ID, why)
	}
	if err := t.ask(conn); err != nil {
		return err
	}
	select {
	case <-seen:
		return nil
	case <-ctx.Done():
		return device.Expired("the tester did not say who it is before the deadline")
	}
}

// Health is down while the tester is offline (as it is, switched off, between
// jobs), degraded while its calibration date has passed (by the bridge's clock).
func (t *tester) Health() device.Health {
	t.mu.Lock()
	st := t.st
	t.mu.Unlock()
	switch {
	case !st.Online:
		d := "no identity from the tester yet"
		if st.LastError != "" {
			d = st.LastError
		}
		return device.Health{Status: device.HealthDown, Detail: d}
	case st.CalibrationDue != "" && st.CalibrationDue < t.env.Clock.Now().Format(time.DateOnly):
		return device.Health{Status: device.HealthDegraded, Detail: "calibration was due " + st.CalibrationDue}
	}
	return device.Health{Status: device.HealthOK}
}

// run runs the tester until ctx ends: it opens its port (again after a failure),
// reads it, and serves the simulator on the far end of a simulated one.
func (t *tester) run(ctx context.Context) {
	var served sync.WaitGroup
	defer served.Wait() // after release, which ends the simulator's reads
	defer t.release()
	if s := t.sim; s != nil {
		served.Go(func() {
			if err := s.sim.Serve(ctx, s.ptmx); err != nil && ctx.Err() == nil {
				t.log.Error("simulated tester stopped", "err", err)
			}
		})
	}
	t.flush(true)
	for {
		t.mu.Lock()
		conn := t.conn
		t.mu.Unlock()
		if conn == nil {
			c, err := serialport.Open(t.path, t.cfg.Baud)
			if err != nil {
				t.portFailed(fmt.Errorf("pattester: tester %s: %w", t.cfg.ID, err))
				if !sleep(ctx, t.tm.reopen) {
					return
				}
				continue
			}
			t.mu.Lock()
			t.conn, conn = c, c
			t.mu.Unlock()
		}
		err := t.session(ctx, conn)
		if ctx.Err() != nil {
			return
		}
		t.mu.Lock()
		t.conn = nil
		t.mu.Unlock()
		conn.Close()
		t.portFailed(fmt.Errorf("pattester: tester %s: port %s: %w", t.cfg.ID, t.path, err))
		if !sleep(ctx, t.tm.reopen) {
			return
		}
	}
}

// sleep waits d or until ctx ends, and says it was d.
func sleep(ctx context.Context, d time.Duration) bool {
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-tm.C:
		return true
	}
}

// item is what the scanner read: a record, or an error.
type item struct {
	rec record.Record
	err error
}

// session reads conn until it fails (returning why) or ctx ends.
func (t *tester) session(ctx context.Context, conn io.ReadWriter) error {
	var reading sync.WaitGroup
	defer reading.Wait()
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	items := make(chan item, 16)
	reading.Go(func() {
		sc := record.NewScanner(conn)
		for {
			rec, err := sc.Next(sctx)
			select {
			case items <- item{rec, err}:
			case <-sctx.Done():
				return
			}
			if err != nil && !errors.Is(err, record.ErrRecord) {
				return
			}
		}
	})
	t.mu.Lock()
	t.sinceHeard = 0
	t.mu.Unlock()
	if err := t.ask(conn); err != nil {
		return err
	}
	tick := time.NewTicker(t.tm.tick)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case it := <-items:
			if it.err != nil && !errors.Is(it.err, record.ErrRecord) {
				if errors.Is(it.err, io.EOF) {
					return errors.New("closed")
				}
				return it.err
			}
			t.handle(it)
		case <-tick.C:
			if err := t.housekeep(conn); err != nil {
				return err
			}
		}
	}
}

// ask sends RQ what=id on conn.
func (t *tester) ask(conn io.Writer) error {
	b, err := requestRecord("id").Encode()
	if err != nil {
		return fmt.Errorf("pattester: tester %s: %w", t.cfg.ID, err)
	}
	t.mu.Lock()
	t.sinceAsked = 0
	t.mu.Unlock()
	t.wmu.Lock()
	defer t.wmu.Unlock()
	if _, err := conn.Write(b); err != nil {
		return fmt.Errorf("pattester: tester %s: write: %w", t.cfg.ID, err)
	}
	return nil
}

// housekeep asks for the ID when it is time, makes a silent tester offline, and
// publishes a changed status.
func (t *tester) housekeep(conn io.Writer) error {
	t.mu.Lock()
	t.sinceAsked++
	t.sinceHeard++
	since := time.Duration(t.sinceAsked) * t.tm.tick
	due := since >= t.tm.askEvery && !t.st.Online || since >= t.tm.heartbeat
	if t.st.Online && time.Duration(t.sinceHeard)*t.tm.tick >= t.tm.silence {
		t.st.Online = false
		t.st.LastError = fmt.Sprintf("nothing from the tester for %v", t.tm.silence)
		t.log.Warn("tester offline", "why", t.st.LastError)
		due = true
	}
	t.mu.Unlock()
	t.flush(false)
	if due {
		return t.ask(conn)
	}
	return nil
}

// portFailed makes the tester offline because its port failed, logging it once
// until the port works again.
func (t *tester) portFailed(err error) {
	t.mu.Lock()
	t.st.Online = false
	t.st.LastError = err.Error()
	first := !t.logged["port"]
	t.logged["port"] = true
	t.mu.Unlock()
	if first {
		t.log.Error("tester port failed; trying again", "err", err, "every", t.tm.reopen)
	}
	t.flush(false)
}

// flush publishes the status if it changed since it was last published (or, if
// always, anyway).
func (t *tester) flush(always bool) {
	t.mu.Lock()
	st := t.st
	changed := always || !t.sent || st != t.published
	t.published, t.sent = st, true
	t.mu.Unlock()
	if changed {
		t.env.Sink.State(t.ref, StatusKind, st, t.env.Clock.Now())
	}
}

// handle takes one record, or one bad line, from the tester. A panic in reading a
// record (a bug: the readers are fuzzed not to) counts the record as bad and is
// logged; it never stops the tester.
func (t *tester) handle(it item) {
	defer func() {
		if p := recover(); p != nil {
			t.log.Error("panic reading a record from the tester", "panic", p, "type", it.rec.Type)
			t.badRecord(record.Bad(record.CauseContent, "%s record the bridge could not read", it.rec.Type))
		}
	}()
	if it.err != nil {
		t.badRecord(it.err)
		return
	}
	rec := it.rec
	t.mu.Lock()
	t.sinceHeard = 0
	t.mu.Unlock()
	switch rec.Type {
	case TypeID:
		id, err := identityFromRecord(rec)
		if err != nil {
			t.badRecord(err)
			return
		}
		t.identified(id)
	case TypeTest:
		t.test(rec)
	case TypeRequest:
		// An instrument does not ask the bridge anything; an echo of our own, perhaps.
		t.once("type-RQ", slog.LevelInfo, "RQ record from the tester, ignored")
	default:
		t.once("type-"+rec.Type, slog.LevelInfo, "record of a type this bridge does not know, ignored", "type", rec.Type)
	}
}

// identified takes an ID record.
func (t *tester) identified(id identity) {
	t.mu.Lock()
	if !t.st.Online {
		t.st.LastError = ""
		t.logged["port"] = false
		t.log.Info("tester online", "serial", id.Serial, "model", id.Model, "firmware", id.Firmware, "calibrationDue", id.CalibrationDue)
	}
	t.st.Online = true
	t.st.Serial, t.st.Model, t.st.Firmware, t.st.CalibrationDue = id.Serial, id.Model, id.Firmware, id.CalibrationDue
	close(t.idSeen)
	t.idSeen = make(chan struct{})
	t.mu.Unlock()
	t.flush(false)
}

// test takes a PT record: it publishes it as a test event.
func (t *tester) test(rec record.Record) {
	serial, n, r, err := testFromRecord(rec)
	if err != nil {
		t.badRecord(err)
		return
	}
	ev := Test{Device: t.cfg.ID, Serial: serial, TestNumber: n, Record: r}
	now := t.env.Clock.Now()
	t.mu.Lock()
	if st := t.st; serial == st.Serial {
		ev.Firmware, ev.CalibrationDue, ev.Record.Instrument = st.Firmware, st.CalibrationDue, st.Model
	}
	t.mu.Unlock()
	if ev.Record.TestedAt.After(now.Add(plausibleAhead)) {
		t.once("clock", slog.LevelWarn, "the tester's clock is ahead: its tests are dated by the bridge's",
			"testerTime", ev.Record.TestedAt, "bridgeTime", now)
		ev.Record.TestedAt = now
	}
	t.log.Info("tester test record", "testNumber", n, "asset", r.AssetID, "result", r.Result)
	t.env.Sink.Event(t.ref, TestKind, ev, ev.Record.TestedAt)
	t.flush(false)
}

// badRecord counts a bad line or record, logging the first of each cause.
func (t *tester) badRecord(err error) {
	cause := record.CauseOf(err)
	t.mu.Lock()
	t.st.BadRecords++
	t.st.LastError = err.Error()
	t.mu.Unlock()
	t.once("bad-"+cause, slog.LevelWarn, "bad record from the tester; more of this cause are counted in its status, not logged",
		"cause", cause, "err", err)
	// Published at the next tick: a burst of noise makes one status, not one each.
}

// once logs msg the first time key comes.
func (t *tester) once(key string, level slog.Level, msg string, args ...any) {
	t.mu.Lock()
	first := !t.logged[key]
	t.logged[key] = true
	t.mu.Unlock()
	if first {
		t.log.Log(context.Background(), level, msg, args...)
	}
}

// release closes the port and the simulator's pseudo-terminal. It may be called
// more than once.
func (t *tester) release() {
	t.mu.Lock()
	conn := t.conn
	t.conn = nil
	t.mu.Unlock()
	if conn != nil {
		conn.Close()
	}
	if s := t.sim; s != nil {
		s.ptmx.Close()
		s.tty.Close()
	}
}
