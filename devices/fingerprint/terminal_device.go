package fingerprint

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/apedge/apedge/devices/device"
	"github.com/apedge/apedge/devices/serialport"
	"github.com/apedge/apedge/internal/config"
)

// errorsIsNoReply says err is a command the module did not answer.
func errorsIsNoReply(err error) bool { return errors.Is(err, ErrNoReply) }

// driver runs the terminals Open opened.
type driver struct {
	terminals []*terminal
}

// Devices returns the terminals.
func (d *driver) Devices() []device.Device {
	out := make([]device.Device, len(d.terminals))
	for i, t := range d.terminals {
		out[i] = t
	}
	return out
}

// Run runs every terminal until ctx ends, then closes their ports and
// simulators.
func (d *driver) Run(ctx context.Context) error {
	if ctx.Err() != nil {
		for _, t := range d.terminals {
			t.release()
		}
		return nil
	}
	var wg sync.WaitGroup
	for _, t := range d.terminals {
		wg.Go(func() { t.run(ctx) })
	}
	wg.Wait()
	return nil
}

// simPort is a pseudo-terminal with a simulated module on its far end.
type simPort struct {
	ptmx, tty *os.File
	sim       *Sim
}

// enrolment is an enrolment under way.
type enrolment struct {
	id     string
	slot   int
	cancel context.CancelFunc
}

// terminal is one fingerprint terminal on its serial line.
type terminal struct {
	cfg      config.FingerprintTerminal
	ref      device.Ref
	env      device.Env
	log      *slog.Logger
	tm       timing
	path     string
	password uint32
	sim      *simPort
	poke     chan struct{} // a status refresh wanted now
	runCtx   context.Context
	work     sync.WaitGroup // enrolments under way
	// checking holds one CheckFinger at a time: one sensor, one image buffer, and
	// a door's entry and exit readers decide their reads each on their own.
	checking sync.Mutex

	mu        sync.Mutex
	conn      io.ReadWriteCloser // nil while the port is closed
	term      *Terminal          // on conn
	verified  bool               // the password was given since the terminal came online
	st        Status
	published Status
	sent      bool
	badBase   int64           // bad frames of Terminals before this one
	badLogged map[string]bool // causes of bad frames logged
	logged    map[string]bool // other things logged once
	enrol     *enrolment      // nil: none under way
}

func newTerminal(cfg config.FingerprintTerminal, env device.Env, tm timing, pw uint32) *terminal {
	return &terminal{cfg: cfg, ref: device.Ref{Class: ClassName, ID: cfg.ID}, env: env,
		log: env.Log.With("terminal", cfg.ID), tm: tm, path: cfg.Port, password: pw,
		poke: make(chan struct{}, 1), badLogged: map[string]bool{}, logged: map[string]bool{},
		st: Status{Used: []int{}}, runCtx: context.Background()}
}

// setConn makes conn the terminal's port, with a Terminal on it.
func (t *terminal) setConn(conn io.ReadWriteCloser) {
	t.conn = conn
	t.term = NewTerminal(conn, Options{Address: t.cfg.Address, Password: t.password, Timeout: t.tm.reply})
	t.verified = false
}

// Ref names the terminal.
func (t *terminal) Ref() device.Ref { return t.ref }

// Health is down while the terminal is offline.
func (t *terminal) Health() device.Health {
	t.mu.Lock()
	st := t.st
	t.mu.Unlock()
	if !st.Online {
		d := "the terminal has not answered yet"
		if st.LastError != "" {
			d = st.LastError
		}
		return device.Health{Status: device.HealthDown, Detail: d}
	}
	return device.Health{Status: device.HealthOK}
}

// body is the part of a command's body a terminal reads.
type body struct {
	Enrolment string `json:"enrolment"`
	Slot      *int   `json:"slot"`
	Slots     []int  `json:"slots"`
}

// Command carries out ActionEnrol (which returns at once: the enrolment goes on
// on its own and says how it goes in events), ActionCancelEnrol,
// ActionDeleteTemplates and ActionReadIndex.
func (t *terminal) Command(ctx context.Context, cmd device.Command) error {
	var b body
	if len(cmd.Body) > 0 {
		if err := json.Unmarshal(cmd.Body, &b); err != nil {
			return fmt.Errorf("fingerprint: terminal %s: command %s: %w", t.cfg.ID, cmd.ID, err)
		}
	}
	switch cmd.Action {
	case ActionEnrol:
		if b.Enrolment == "" || b.Slot == nil {
			return fmt.Errorf("fingerprint: terminal %s: enrol needs an enrolment and a slot", t.cfg.ID)
		}
		return t.startEnrol(b.Enrolment, *b.Slot)
	case ActionCancelEnrol:
		t.mu.Lock()
		e := t.enrol
		t.mu.Unlock()
		if e == nil || e.id != b.Enrolment {
			return fmt.Errorf("fingerprint: terminal %s: no enrolment %s under way", t.cfg.ID, b.Enrolment)
		}
		e.cancel()
		return nil
	case ActionDeleteTemplates:
		return t.deleteTemplates(ctx, cmd.ID, b.Slots)
	case ActionReadIndex:
		term, err := t.online()
		if err != nil {
			return err
		}
		used, capacity, err := t.readIndex(ctx, term)
		if err != nil {
			return t.failed(err)
		}
		now := t.env.Clock.Now()
		t.env.Sink.Event(t.ref, IndexKind, IndexTable{Command: cmd.ID, Used: used, Capacity: capacity, ReadAt: now}, now)
		return nil
	}
	return device.Unsupported(t.ref, cmd.Action)
}

// online returns the Terminal of an online terminal, or why there is none.
func (t *terminal) online() (*Terminal, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.term == nil || !t.st.Online {
		why := t.st.LastError
		if why == "" {
			why = "not answering"
		}
		return nil, fmt.Errorf("fingerprint: terminal %s is offline: %s", t.cfg.ID, why)
	}
	return t.term, nil
}

// failed records err of a command the terminal did not answer, and returns it.
func (t *terminal) failed(err error) error {
	if errorsIsNoReply(err) {
		t.wantRefresh()
	}
	return fmt.Errorf("fingerprint: terminal %s: %w", t.cfg.ID, err)
}

// readIndex reads the index table and the capacity.
func (t *terminal) readIndex(ctx context.Context, term *Terminal) ([]int, int, error) {
	p, err := term.ReadSysParams(ctx)
	if err != nil {
		return nil, 0, err
	}
	used, err := term.ReadIndexTable(ctx)
	if err != nil {
		return nil, 0, err
	}
	if used == nil {
		used = []int{}
	}
	return used, p.Capacity, nil
}

// deleteTemplates deletes slots, reads the index table back and publishes
// what it read.
func (t *terminal) deleteTemplates(ctx context.Context, id string, slots []int) error {
	if len(slots) == 0 {
		return fmt.Errorf("fingerprint: terminal %s: delete-templates needs slots", t.cfg.ID)
	}
	term, err := t.online()
	if err != nil {
		return err
	}
	var first error
	for _, s := range slots {
		if err := term.Delete(ctx, s, 1); err != nil && first == nil {
			first = err
		}
	}
	used, capacity, err := t.readIndex(ctx, term)
	if err != nil {
		return t.failed(err)
	}
	confirmed := true
	for _, s := range slots {
		if slices.Contains(used, s) {
			confirmed = false
		}
	}
	now := t.env.Clock.Now()
	t.env.Sink.Event(t.ref, DeletedKind, TemplatesDeleted{Command: id, Slots: slices.Clone(slots), Used: used,
		Capacity: capacity, ReadAt: now, Confirmed: confirmed}, now)
	t.log.Info("templates deleted", "slots", slots, "confirmed", confirmed)
	t.wantRefresh()
	if !confirmed && first != nil {
		return t.failed(first)
	}
	return nil
}

// startEnrol starts enrolment id into slot, unless one is under way.
func (t *terminal) startEnrol(id string, slot int) error {
	term, err := t.online()
	if err != nil {
		return err
	}
	t.mu.Lock()
	if e := t.enrol; e != nil {
		t.mu.Unlock()
		return fmt.Errorf("fingerprint: terminal %s: enrolment %s is under way", t.cfg.ID, e.id)
	}
	ctx, cancel := context.WithCancel(t.runCtx)
	e := &enrolment{id: id, slot: slot, cancel: cancel}
	t.enrol = e
	t.st.Enrolling = id
	t.work.Add(1)
	t.mu.Unlock()
	t.flush(false)
	go func() {
		defer t.work.Done()
		defer cancel()
		t.enrolWith(ctx, term, e)
		t.mu.Lock()
		t.enrol = nil
		t.st.Enrolling = ""
		t.mu.Unlock()
		t.wantRefresh()
	}()
	return nil
}

// errTimeout marks a wait for a finger that took too long.
var errTimeout = errors.New("fingerprint: no finger in time")

// enrolWith runs enrolment e, publishing its steps and its outcome.
func (t *terminal) enrolWith(ctx context.Context, term *Terminal, e *enrolment) {
	step := func(s string) {
		t.env.Sink.Event(t.ref, EnrolStepKind, EnrolStep{Enrolment: e.id, Step: s}, t.env.Clock.Now())
	}
	fail := func(reason string, err error) {
		detail := ""
		if err != nil {
			detail = err.Error()
			if len(detail) > 256 {
				detail = detail[:256]
			}
		}
		t.log.Info("enrolment failed", "enrolment", e.id, "slot", e.slot, "reason", reason, "err", err)
		t.env.Sink.Event(t.ref, EnrolFailedKind, EnrolFailed{Enrolment: e.id, Slot: e.slot, Reason: reason, Detail: detail}, t.env.Clock.Now())
	}
	failErr := func(err error) {
		switch {
		case ctx.Err() != nil:
			fail(ReasonCancelled, nil)
		case errors.Is(err, errTimeout):
			fail(ReasonTimeout, err)
		default:
			fail(Reason(err), err)
		}
	}
	used, _, err := t.readIndex(ctx, term)
	if err != nil {
		failErr(err)
		return
	}
	if slices.Contains(used, e.slot) {
		fail(ReasonSlotInUse, fmt.Errorf("slot %d holds a template already", e.slot))
		return
	}
	step(StepPlaceFinger)
	if err := t.capture(ctx, term, CharBuffer1); err != nil {
		failErr(err)
		return
	}
	step(StepLiftFinger)
	if err := t.waitLifted(ctx, term); err != nil {
		failErr(err)
		return
	}
	step(StepPlaceAgain)
	if err := t.capture(ctx, term, CharBuffer2); err != nil {
		failErr(err)
		return
	}
	if err := term.CreateModel(ctx); err != nil {
		failErr(err)
		return
	}
	step(StepStoring)
	if err := term.Store(ctx, CharBuffer1, e.slot); err != nil {
		failErr(err)
		return
	}
	t.log.Info("enrolled", "enrolment", e.id, "slot", e.slot)
	t.env.Sink.Event(t.ref, EnrolledKind, Enrolled{Enrolment: e.id, Slot: e.slot}, t.env.Clock.Now())
}

// waitFinger captures an image as soon as a finger is on the sensor, trying
// until within has passed (errTimeout).
func (t *terminal) waitFinger(ctx context.Context, term *Terminal, within time.Duration) error {
	deadline := time.NewTimer(within)
	defer deadline.Stop()
	for {
		err := term.CaptureImage(ctx)
		if !errors.Is(err, ErrNoFinger) {
			return err
		}
		if passed(deadline) {
			return fmt.Errorf("%w: %v", errTimeout, within)
		}
		if !sleep(ctx, t.tm.poll) {
			return ctx.Err()
		}
	}
}

// capture waits for a finger and makes its features in buffer b.
func (t *terminal) capture(ctx context.Context, term *Terminal, b Buffer) error {
	if err := t.waitFinger(ctx, term, t.tm.enrol); err != nil {
		return err
	}
	return term.Image2Tz(ctx, b)
}

// waitLifted waits until no finger is on the sensor.
func (t *terminal) waitLifted(ctx context.Context, term *Terminal) error {
	deadline := time.NewTimer(t.tm.enrol)
	defer deadline.Stop()
	for {
		err := term.CaptureImage(ctx)
		switch {
		case errors.Is(err, ErrNoFinger):
			return nil
		case err != nil && !errors.Is(err, ErrModule):
			return err
		case passed(deadline):
			return fmt.Errorf("%w: the finger was not lifted within %v", errTimeout, t.tm.enrol)
		}
		if !sleep(ctx, t.tm.poll) {
			return ctx.Err()
		}
	}
}

// CheckFinger waits up to within for a finger and searches the library for
// it: the second factor of a card read at the terminal's door.
func (t *terminal) CheckFinger(ctx context.Context, within time.Duration) (device.FingerResult, error) {
	t.checking.Lock()
	defer t.checking.Unlock()
	term, err := t.online()
	if err != nil {
		return device.FingerResult{}, err
	}
	t.mu.Lock()
	busy, capacity := t.enrol != nil, t.st.Capacity
	t.mu.Unlock()
	if busy {
		return device.FingerResult{}, fmt.Errorf("fingerprint: terminal %s: an enrolment is under way", t.cfg.ID)
	}
	if capacity == 0 {
		capacity = SimCapacity
	}
	err = t.waitFinger(ctx, term, within)
	if errors.Is(err, errTimeout) {
		return device.FingerResult{}, nil
	}
	if err == nil {
		err = term.Image2Tz(ctx, CharBuffer1)
	}
	if err != nil {
		return device.FingerResult{}, t.failed(err)
	}
	slot, score, err := term.Search(ctx, CharBuffer1, 0, capacity)
	switch {
	case errors.Is(err, ErrNotFound):
		return device.FingerResult{Found: true}, nil
	case err != nil:
		return device.FingerResult{}, t.failed(err)
	}
	return device.FingerResult{Found: true, Matched: true, Slot: slot, Score: score}, nil
}

// wantRefresh asks the run loop to read the status again now.
func (t *terminal) wantRefresh() {
	select {
	case t.poke <- struct{}{}:
	default:
	}
}

// run runs the terminal until ctx ends: it opens its port (again after a
// failure), reads its status every refresh (every retry while offline), and
// serves the simulator on the far end of a simulated port.
func (t *terminal) run(ctx context.Context) {
	var served sync.WaitGroup
	defer served.Wait()
	defer t.release()
	defer t.work.Wait()
	t.mu.Lock()
	t.runCtx = ctx
	t.mu.Unlock()
	if s := t.sim; s != nil {
		served.Go(func() {
			if err := s.sim.Serve(ctx, s.ptmx); err != nil && ctx.Err() == nil {
				t.log.Error("simulated terminal stopped", "err", err)
			}
		})
	}
	t.flush(true)
	for {
		t.refresh(ctx)
		t.mu.Lock()
		next := t.tm.refresh
		if !t.st.Online {
			next = t.tm.retry
		}
		t.mu.Unlock()
		tm := time.NewTimer(next)
		select {
		case <-ctx.Done():
			tm.Stop()
			return
		case <-t.poke:
		case <-tm.C:
		}
		tm.Stop()
	}
}

// refresh opens the port if it is closed, gives the password if it has not
// been given, and reads the status; it publishes the status if it changed.
func (t *terminal) refresh(ctx context.Context) {
	defer t.flush(false)
	t.mu.Lock()
	conn := t.conn
	t.mu.Unlock()
	if conn == nil {
		c, err := serialport.Open(t.path, baudOf(t.cfg))
		if err != nil {
			t.offline(fmt.Errorf("fingerprint: terminal %s: %w", t.cfg.ID, err), "port")
			return
		}
		t.mu.Lock()
		t.setConn(c)
		t.mu.Unlock()
	}
	t.mu.Lock()
	term, verified := t.term, t.verified
	t.mu.Unlock()
	if !verified {
		if err := term.VerifyPassword(ctx); err != nil {
			t.commandFailed(ctx, err)
			return
		}
		t.mu.Lock()
		t.verified = true
		t.mu.Unlock()
	}
	p, err := term.ReadSysParams(ctx)
	if err != nil {
		t.commandFailed(ctx, err)
		return
	}
	n, err := term.TemplateCount(ctx)
	if err != nil {
		t.commandFailed(ctx, err)
		return
	}
	used, err := term.ReadIndexTable(ctx)
	if err != nil {
		t.commandFailed(ctx, err)
		return
	}
	if used == nil {
		used = []int{}
	}
	t.mu.Lock()
	if !t.st.Online {
		t.log.Info("terminal online", "capacity", p.Capacity, "templates", n)
	}
	t.st.Online, t.st.LastError = true, ""
	t.st.Capacity, t.st.Templates, t.st.SecurityLevel = p.Capacity, n, p.SecurityLevel
	t.st.PacketSize, t.st.Baud, t.st.Used = p.PacketSize, p.Baud, used
	t.logged["port"], t.logged["offline"] = false, false
	t.mu.Unlock()
}

// commandFailed takes a status read that failed: a terminal that did not
// answer, or whose port failed, is offline (and must be given its password
// again when it answers); one that refused is online but says why.
func (t *terminal) commandFailed(ctx context.Context, err error) {
	if ctx.Err() != nil {
		return
	}
	var me *ModuleError
	if errors.As(err, &me) && !errors.Is(err, ErrWrongPassword) && !errors.Is(err, ErrPasswordRequired) {
		t.mu.Lock()
		t.st.LastError = err.Error()
		t.mu.Unlock()
		return
	}
	if !errorsIsNoReply(err) && !errors.As(err, &me) {
		// The port failed: close it, and open it again next time.
		t.mu.Lock()
		conn, term := t.conn, t.term
		if t.sim == nil {
			t.conn, t.term = nil, nil
		}
		t.mu.Unlock()
		if t.sim == nil && conn != nil {
			t.addBad(term)
			term.Close()
			conn.Close()
		}
	}
	t.offline(fmt.Errorf("fingerprint: terminal %s: %w", t.cfg.ID, err), "offline")
}

// offline marks the terminal offline because of err, logging it once (by key)
// until it is online again.
func (t *terminal) offline(err error, key string) {
	t.mu.Lock()
	t.st.Online, t.st.LastError, t.verified = false, err.Error(), false
	first := !t.logged[key]
	t.logged[key] = true
	t.mu.Unlock()
	if first {
		t.log.Warn("terminal offline; trying again", "err", err, "every", t.tm.retry)
	}
}

// addBad keeps the bad frames of term, about to be replaced. t.mu is not held.
func (t *terminal) addBad(term *Terminal) {
	if term == nil {
		return
	}
	var n int64
	for _, v := range term.Bad() {
		n += v
	}
	t.mu.Lock()
	t.badBase += n
	t.mu.Unlock()
}

// flush publishes the status if it changed since it was last published (or,
// if always, anyway), with the bad frames counted so far; it logs the first
// bad frame of each cause.
func (t *terminal) flush(always bool) {
	t.mu.Lock()
	var bad map[string]int64
	if t.term != nil {
		bad = t.term.Bad()
	}
	n := t.badBase
	var newCauses []string
	for _, c := range slices.Sorted(maps.Keys(bad)) {
		n += bad[c]
		if bad[c] > 0 && !t.badLogged[c] {
			t.badLogged[c] = true
			newCauses = append(newCauses, c)
		}
	}
	t.st.BadFrames = n
	st := t.st
	st.Used = slices.Clone(st.Used)
	changed := always || !t.sent || !sameStatus(st, t.published)
	t.published, t.sent = st, true
	t.mu.Unlock()
	for _, c := range newCauses {
		t.log.Warn("bad frame from the terminal; more of this cause are counted in its status, not logged", "cause", c)
	}
	if changed {
		t.env.Sink.State(t.ref, StatusKind, st, t.env.Clock.Now())
	}
}

// sameStatus says a and b are the same.
func sameStatus(a, b Status) bool {
	return a.Online == b.Online && a.Capacity == b.Capacity && a.Templates == b.Templates &&
		a.SecurityLevel == b.SecurityLevel && a.PacketSize == b.PacketSize && a.Baud == b.Baud &&
		a.Enrolling == b.Enrolling && a.BadFrames == b.BadFrames && a.LastError == b.LastError &&
		a.Simulated == b.Simulated && slices.Equal(a.Used, b.Used)
}

// passed says tm has fired.
func passed(tm *time.Timer) bool {
	select {
	case <-tm.C:
		return true
	default:
		return false
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

// release closes the port and the simulator's pseudo-terminal. It may be
// called more than once.
func (t *terminal) release() {
	t.mu.Lock()
	conn, term := t.conn, t.term
	t.conn = nil
	t.mu.Unlock()
	if term != nil {
		term.Close()
	}
	if conn != nil {
		conn.Close()
	}
	if s := t.sim; s != nil {
		s.ptmx.Close()
		s.tty.Close()
	}
}
