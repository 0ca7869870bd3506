package osdp

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apedge/apedge/devices/wiegand"
	"github.com/apedge/apedge/internal/clock"
)

// Defaults for PanelConfig.
const (
	DefaultReplyTimeout = 200 * time.Millisecond
	DefaultOfflineAfter = 3
	// DefaultPollInterval is the least time between polls of one PD, as libosdp's
	// control panel does (OSDP_PD_POLL_TIMEOUT_MS, 50 ms): a card read waits at most
	// that long, and the bus is not kept busy for nothing.
	DefaultPollInterval = 50 * time.Millisecond
	// DefaultRetryMin and DefaultRetryMax bound the wait before probing again a PD
	// that answers but refuses to be initialised (a NAK, a wrong secure channel
	// key): the wait doubles from DefaultRetryMin up to DefaultRetryMax.
	DefaultRetryMin = time.Second
	DefaultRetryMax = time.Minute
)

// Errors the panel returns; test with errors.Is.
var (
	ErrTimeout = errors.New("osdp: reply timeout")
	ErrOffline = errors.New("osdp: pd offline")
	ErrUnknown = errors.New("osdp: unknown pd")
)

// PDConfig is one reader on the panel's bus.
type PDConfig struct {
	Address int    // 0..126
	SCBK    []byte // 16-byte secure channel base key; nil = plaintext (no secure channel)
	// Install mode: open the secure channel with SCBK-D, set SCBK with osdp_KEYSET,
	// then reopen it with SCBK. If the SCBK-D handshake fails the panel tries SCBK,
	// in case the key was set before.
	Install bool
}

// PanelConfig configures a Panel.
type PanelConfig struct {
	Port         Port
	PDs          []PDConfig
	ReplyTimeout time.Duration // default 200ms (the spec's reply timeout)
	OfflineAfter int           // missed replies in a row before a PD is offline; default 3
	// PollInterval is the least time between polls of one PD (default
	// DefaultPollInterval); a negative value polls as fast as the line allows.
	// Commands from Send go out at once, whatever the interval.
	PollInterval time.Duration
	// RetryMin and RetryMax bound the backoff before probing again a PD that
	// answered but failed its initialisation (ID, CAP, LSTAT or the secure
	// channel): the wait doubles from RetryMin to RetryMax after each failure.
	// Defaults DefaultRetryMin and DefaultRetryMax. A PD that does not answer at
	// all is probed every 4 reply timeouts, to notice it coming back at once.
	RetryMin, RetryMax time.Duration
	Logger             *slog.Logger // default: discard
	// Clock dates events and replies (Event.Time, PDStatus.LastReply); nil means the
	// system clock. Polls, retries and timeouts are timed on the monotonic clock.
	Clock clock.Clock
}

// EventKind says what an Event reports.
type EventKind int

// Event kinds.
const (
	EventOnline EventKind = iota + 1 // the PD answered and was initialised
	// EventOffline: the PD stopped answering (OfflineAfter replies in a row were
	// missed) or it answered but failed its initialisation (Err is an *InitError
	// naming the step). One event per change of cause: a PD that keeps failing
	// the same way is not reported again.
	EventOffline
	EventCard   // card read: Card (or Err for a misread)
	EventKeypad // keys pressed: Keys
	EventTamper // tamper status changed: Tamper
	EventPower  // power status changed: Power (true: fault)
	EventInputs // input status changed: Inputs
	EventSecure // secure channel established
	// EventSecureFailed: the secure channel failed or was dropped: Err. A
	// handshake that keeps failing the same way is reported once.
	EventSecureFailed
)

// String returns the kind's name.
func (k EventKind) String() string {
	switch k {
	case EventOnline:
		return "online"
	case EventOffline:
		return "offline"
	case EventCard:
		return "card"
	case EventKeypad:
		return "keypad"
	case EventTamper:
		return "tamper"
	case EventPower:
		return "power"
	case EventInputs:
		return "inputs"
	case EventSecure:
		return "secure"
	case EventSecureFailed:
		return "secure-failed"
	}
	return fmt.Sprintf("EventKind(%d)", int(k))
}

// Event is something a PD reported, or a change in its state.
type Event struct {
	Addr int
	Time time.Time
	Kind EventKind
	// Card is the card read for EventCard. osdp_RAW data is decoded with
	// wiegand.Decode; osdp_FMT data is reported as Card{Format: wiegand.FormatRaw,
	// Bits: 8 × characters, Raw: the characters}. A read that does not decode (bad
	// parity) has Card nil and Err set.
	Card          *wiegand.Card
	Keys          string // EventKeypad
	Tamper, Power bool   // current LSTATR values for EventTamper/EventPower
	Inputs        []byte // EventInputs
	Err           error  // why a PD went offline, a secure channel failed, a card misread
}

// PDStatus is what the panel knows of one PD.
type PDStatus struct {
	Address       int
	Online        bool
	Secure        bool
	ID            PDID
	Capabilities  []Capability
	LastReply     time.Time
	Tamper, Power bool
	Inputs        []byte
	Missed        int // replies missed in a row
	// Fault is why the PD is offline (the step of its initialisation that failed
	// and how); empty while it is online or before it first answered.
	Fault string
	// RetryIn is the wait before the next probe of an offline PD.
	RetryIn time.Duration
	Polls   uint64 // frames sent to the PD, retries included
}

// Stats are the panel's counters since NewPanel.
type Stats struct {
	FramesSent     uint64
	FramesReceived uint64 // good frames
	BadFrames      uint64 // all rejected frames: the counters below and undecodable replies
	CRCErrors      uint64 // CRC or checksum
	LengthErrors   uint64
	MACErrors      uint64
	AddressErrors  uint64 // a reply from the wrong PD, or a command echoed back
	SequenceErrors uint64 // a reply with the wrong sequence number
	Noise          uint64 // bytes between frames that are not mark bytes
	Retries        uint64
	Timeouts       uint64
	Naks           uint64
	Busy           uint64
	Panics         uint64 // recovered in frame handling
}

type counters struct {
	sent, received, bad, crc, length, mac, addr, seq, noise, retries, timeouts, naks, busy, panics atomic.Uint64
}

type request struct {
	cmd  Command
	done chan result
}

type result struct {
	reply Reply
	err   error
}

// pdState is the panel's view of one PD. Fields other than status are used only by
// Run's goroutine; status is guarded by Panel.mu.
type pdState struct {
	addr      int
	scbk      []byte
	install   bool
	sqn       int // last sequence number sent; -1: next is 0
	online    bool
	needInit  bool
	sc        *session
	missed    int
	nextProbe time.Time
	nextPoll  time.Time     // no POLL before this
	backoff   time.Duration // current wait between probes of a PD that refuses initialisation
	reported  string        // cause of the last offline report (failureKey); "" while online
	queue     chan *request

	haveLocal bool
	status    PDStatus
}

// Panel is the OSDP control panel: it polls the PDs on one bus.
type Panel struct {
	cfg     PanelConfig
	log     *slog.Logger
	clock   clock.Clock
	pds     []*pdState
	byAddr  map[int]*pdState
	mu      sync.Mutex
	st      counters
	running atomic.Bool
	wake    chan struct{} // a command was queued
}

// NewPanel checks cfg and returns a panel; Run starts it.
func NewPanel(cfg PanelConfig) (*Panel, error) {
	if cfg.Port == nil {
		return nil, errors.New("osdp: no port")
	}
	if len(cfg.PDs) == 0 {
		return nil, errors.New("osdp: no PDs")
	}
	if cfg.ReplyTimeout <= 0 {
		cfg.ReplyTimeout = DefaultReplyTimeout
	}
	if cfg.OfflineAfter <= 0 {
		cfg.OfflineAfter = DefaultOfflineAfter
	}
	if cfg.PollInterval == 0 {
		cfg.PollInterval = DefaultPollInterval
	}
	if cfg.RetryMin <= 0 {
		cfg.RetryMin = DefaultRetryMin
	}
	if cfg.RetryMax <= 0 {
		cfg.RetryMax = DefaultRetryMax
	}
	if cfg.RetryMax < cfg.RetryMin {
		return nil, fmt.Errorf("osdp: RetryMax %v below RetryMin %v", cfg.RetryMax, cfg.RetryMin)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	p := &Panel{cfg: cfg, log: cfg.Logger, clock: clock.Or(cfg.Clock), byAddr: make(map[int]*pdState), wake: make(chan struct{}, 1)}
	for _, c := range cfg.PDs {
		switch {
		case c.Address < 0 || c.Address > 0x7E:
			return nil, fmt.Errorf("osdp: pd %d: address out of range 0..126", c.Address)
		case p.byAddr[c.Address] != nil:
			return nil, fmt.Errorf("osdp: pd %d: address configured twice", c.Address)
		case c.SCBK != nil && len(c.SCBK) != KeyLen:
			return nil, fmt.Errorf("osdp: pd %d: SCBK of %d bytes, want %d", c.Address, len(c.SCBK), KeyLen)
		case c.Install && c.SCBK == nil:
			return nil, fmt.Errorf("osdp: pd %d: install mode needs an SCBK to set", c.Address)
		}
		d := &pdState{addr: c.Address, scbk: slices.Clone(c.SCBK), install: c.Install, sqn: -1,
			queue: make(chan *request, 16), status: PDStatus{Address: c.Address},
			// A PD not yet heard from is presumed offline for want of a reply: it
			// is not reported until it answers, or fails some other way.
			reported: keyNoReply}
		p.pds = append(p.pds, d)
		p.byAddr[c.Address] = d
	}
	return p, nil
}

// Status returns what the panel knows of the PD at addr (zero if unknown).
func (p *Panel) Status(addr int) PDStatus {
	d := p.byAddr[addr]
	if d == nil {
		return PDStatus{Address: addr}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	s := d.status
	s.Capabilities = slices.Clone(s.Capabilities)
	s.Inputs = slices.Clone(s.Inputs)
	return s
}

// Stats returns the panel's counters.
func (p *Panel) Stats() Stats {
	c := &p.st
	return Stats{FramesSent: c.sent.Load(), FramesReceived: c.received.Load(), BadFrames: c.bad.Load(),
		CRCErrors: c.crc.Load(), LengthErrors: c.length.Load(), MACErrors: c.mac.Load(),
		AddressErrors: c.addr.Load(), SequenceErrors: c.seq.Load(), Noise: c.noise.Load(),
		Retries: c.retries.Load(), Timeouts: c.timeouts.Load(), Naks: c.naks.Load(), Busy: c.busy.Load(),
		Panics: c.panics.Load()}
}

// Send queues cmd for the PD at addr, sends it at that PD's next turn and waits for
// its reply: the decoded Reply (Ack for osdp_ACK), a *NakError for osdp_NAK, or an
// error. It returns early with ctx's error when ctx ends.
func (p *Panel) Send(ctx context.Context, addr int, cmd Command) (Reply, error) {
	d := p.byAddr[addr]
	if d == nil {
		return nil, fmt.Errorf("osdp: pd %d: %w", addr, ErrUnknown)
	}
	req := &request{cmd: cmd, done: make(chan result, 1)}
	select {
	case d.queue <- req:
	case <-ctx.Done():
		return nil, fmt.Errorf("osdp: pd %d: %w", addr, ctx.Err())
	}
	select {
	case p.wake <- struct{}{}:
	default:
	}
	select {
	case r := <-req.done:
		return r.reply, r.err
	case <-ctx.Done():
		return nil, fmt.Errorf("osdp: pd %d: %w", addr, ctx.Err())
	}
}

// Run polls every PD in turn until ctx ends, calling h (from Run's goroutine; h
// must not block) for each event. It returns ctx's error when ctx ends, or the
// port's error if reading fails. Only one Run may be active at a time.
func (p *Panel) Run(ctx context.Context, h func(Event)) error {
	if !p.running.CompareAndSwap(false, true) {
		return errors.New("osdp: panel already running")
	}
	defer p.running.Store(false)
	if h == nil {
		h = func(Event) {}
	}
	rctx, cancel := context.WithCancel(ctx)
	r := &runner{p: p, h: h, rx: make(chan []byte, 256), rxErr: make(chan error, 1)}
	var wg sync.WaitGroup
	wg.Go(func() { r.readLoop(rctx) })
	defer wg.Wait()
	defer cancel()
	for {
		busy := false
		for _, d := range p.pds {
			if err := ctx.Err(); err != nil {
				return err
			}
			select {
			case err := <-r.rxErr:
				return fmt.Errorf("osdp: read: %w", err)
			default:
			}
			if r.turn(ctx, d) {
				busy = true
			}
		}
		if !busy { // every PD was polled lately or is offline awaiting its next probe
			wait := 10 * time.Millisecond
			now := time.Now()
			for _, d := range p.pds {
				if d.online && !d.needInit {
					wait = min(wait, max(d.nextPoll.Sub(now), 0))
				}
			}
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
			case <-p.wake:
			case <-t.C:
			}
			t.Stop()
		}
	}
}

// runner is the state of one Run.
type runner struct {
	p     *Panel
	h     func(Event)
	rx    chan []byte
	rxErr chan error
	scan  scanner
}

func (r *runner) readLoop(ctx context.Context) {
	buf := make([]byte, 512)
	for ctx.Err() == nil {
		n, err := r.p.cfg.Port.Read(buf)
		if n > 0 {
			select {
			case r.rx <- slices.Clone(buf[:n]):
			case <-ctx.Done():
				return
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) { // a terminal's read timeout
				time.Sleep(time.Millisecond)
				continue
			}
			if ctx.Err() == nil {
				r.rxErr <- err
			}
			return
		}
	}
}

func (r *runner) emit(e Event) {
	e.Time = r.p.clock.Now()
	r.h(e)
}

// turn gives one PD its turn on the bus; it reports whether anything was sent.
func (r *runner) turn(ctx context.Context, d *pdState) (sent bool) {
	defer func() {
		if v := recover(); v != nil {
			r.p.st.panics.Add(1)
			r.p.log.Error("osdp: recovered panic", "pd", d.addr, "panic", v)
			d.needInit = true
		}
	}()
	if !d.online {
		if time.Now().Before(d.nextProbe) {
			r.failQueued(d)
			return false
		}
		r.initialise(ctx, d)
		return true
	}
	if d.needInit {
		r.initialise(ctx, d)
		return true
	}
	select {
	case req := <-d.queue:
		rep, err := r.exchange(ctx, d, req.cmd)
		req.done <- result{rep, err}
		return true
	default:
	}
	if now := time.Now(); now.Before(d.nextPoll) {
		return false
	} else if iv := r.p.cfg.PollInterval; iv > 0 {
		d.nextPoll = now.Add(iv)
	}
	r.exchange(ctx, d, PollCommand{})
	return true
}

// failQueued answers queued commands for an offline PD.
func (r *runner) failQueued(d *pdState) {
	for {
		select {
		case req := <-d.queue:
			req.done <- result{nil, fmt.Errorf("osdp: pd %d: %w", d.addr, ErrOffline)}
		default:
			return
		}
	}
}

func (r *runner) updateStatus(d *pdState, f func(s *PDStatus)) {
	r.p.mu.Lock()
	f(&d.status)
	r.p.mu.Unlock()
}

// Steps of a PD's initialisation, as InitError.Step names them.
const (
	StepID     = "ID"
	StepCap    = "CAP"
	StepLStat  = "LSTAT"
	StepSecure = "secure channel"
)

// InitError says which step of a PD's initialisation failed and why (Err: a
// *NakError with its reason code, ErrTimeout, an ErrSecure error, ...).
type InitError struct {
	Addr int
	Step string // StepID, StepCap, StepLStat or StepSecure
	Err  error
}

// Error implements error.
func (e *InitError) Error() string {
	return fmt.Sprintf("osdp: pd %d: initialisation failed at %s: %v", e.Addr, e.Step, e.Err)
}

// Unwrap returns the cause.
func (e *InitError) Unwrap() error { return e.Err }

// keyNoReply is failureKey's cause of a PD that does not answer, whatever step.
const keyNoReply = "no reply"

// failureKey names the cause of a failure for deciding whether it is new: the step
// and the kind of error (the NAK's code), not the details that change from one
// attempt to the next.
func failureKey(err error) string {
	if errors.Is(err, ErrTimeout) {
		return keyNoReply
	}
	step := "poll"
	if ie, ok := errors.AsType[*InitError](err); ok {
		step = ie.Step
	}
	switch nak, ok := errors.AsType[*NakError](err); {
	case ok:
		return fmt.Sprintf("%s: NAK %#02x", step, nak.Reason)
	case errors.Is(err, ErrSecure), errors.Is(err, ErrMAC):
		return step + ": secure channel"
	}
	return step + ": error"
}

// goOffline marks d offline because of err and schedules its next probe: soon if it
// did not answer, after a doubling backoff if it answered but refused. It reports
// (log at warning level, EventSecureFailed for a secure channel failure,
// EventOffline) only when the cause differs from the last one reported, so a PD
// that keeps failing the same way is reported once.
func (r *runner) goOffline(d *pdState, err error) {
	wasOnline := d.online
	d.online, d.sc, d.needInit = false, nil, false
	key := failureKey(err)
	var wait time.Duration
	if key == keyNoReply {
		d.backoff = 0
		wait = 4 * r.p.cfg.ReplyTimeout
	} else {
		d.backoff = min(max(2*d.backoff, r.p.cfg.RetryMin), r.p.cfg.RetryMax)
		wait = d.backoff
	}
	d.nextProbe = time.Now().Add(wait)
	r.updateStatus(d, func(s *PDStatus) { s.Online, s.Secure, s.Fault, s.RetryIn = false, false, err.Error(), wait })
	if key == d.reported {
		r.p.log.Debug("osdp: pd still failing", "pd", d.addr, "err", err, "retry_in", wait)
		return
	}
	d.reported = key
	r.p.log.Warn("osdp: pd offline", "pd", d.addr, "cause", key, "err", err, "was_online", wasOnline, "retry_in", wait)
	if errors.Is(err, ErrSecure) || errors.Is(err, ErrMAC) {
		r.emit(Event{Addr: d.addr, Kind: EventSecureFailed, Err: err})
	}
	r.emit(Event{Addr: d.addr, Kind: EventOffline, Err: err})
}

// initialise (re)starts communication with d: sequence number 0, ID, CAP, LSTAT,
// then the secure channel if configured.
func (r *runner) initialise(ctx context.Context, d *pdState) {
	d.sqn, d.sc, d.needInit = -1, nil, false
	r.updateStatus(d, func(s *PDStatus) { s.Secure = false })
	onlineBefore := d.online
	fail := func(step string, err error) {
		if ctx.Err() != nil || (onlineBefore && !d.online) { // transact already took it offline
			return
		}
		r.goOffline(d, &InitError{Addr: d.addr, Step: step, Err: err})
	}
	for _, s := range []struct {
		step string
		cmd  Command
	}{{StepID, IDCommand{}}, {StepCap, CapCommand{}}, {StepLStat, LocalStatusCommand{}}} {
		if _, err := r.exchange(ctx, d, s.cmd); err != nil {
			fail(s.step, err)
			return
		}
	}
	secure := d.scbk != nil
	if secure {
		if err := r.secure(ctx, d); err != nil {
			fail(StepSecure, err)
			return
		}
	}
	wasOnline := d.online
	d.online, d.missed, d.backoff, d.reported = true, 0, 0, ""
	r.updateStatus(d, func(s *PDStatus) { s.Online, s.Secure, s.Missed, s.Fault, s.RetryIn = true, secure, 0, "", 0 })
	if !wasOnline {
		r.p.log.Info("osdp: pd online", "pd", d.addr, "secure", secure)
		r.emit(Event{Addr: d.addr, Kind: EventOnline})
	}
	if secure {
		r.emit(Event{Addr: d.addr, Kind: EventSecure})
	}
}

// secure opens the secure channel, installing the key first in install mode.
func (r *runner) secure(ctx context.Context, d *pdState) error {
	if d.install {
		err := r.handshake(ctx, d, DefaultSCBK(), 0)
		if err == nil {
			if _, err := r.exchange(ctx, d, KeySetCommand{Key: d.scbk}); err != nil {
				return fmt.Errorf("osdp: pd %d: KEYSET: %w", d.addr, err)
			}
			d.install = false
			r.p.log.Info("osdp: pd key installed", "pd", d.addr)
		} else if ctx.Err() != nil || errors.Is(err, ErrTimeout) {
			return err
		} else {
			r.p.log.Info("osdp: SCBK-D refused, trying the configured key", "pd", d.addr, "err", err)
		}
	}
	if err := r.handshake(ctx, d, d.scbk, 1); err != nil {
		return err
	}
	d.install = false
	return nil
}

// handshake runs CHLNG/CCRYPT, SCRYPT/RMAC_I with key; flag is the security block
// data byte: 0 for SCBK-D, 1 for SCBK.
func (r *runner) handshake(ctx context.Context, d *pdState, key []byte, flag byte) error {
	d.sc = nil
	var rndA [8]byte
	if _, err := rand.Read(rndA[:]); err != nil {
		return fmt.Errorf("osdp: pd %d: random: %w", d.addr, err)
	}
	keys, err := deriveKeys(key, rndA)
	if err != nil {
		return err
	}
	f, err := r.transact(ctx, d, &Frame{Addr: d.addr, CRC: true, SCB: []byte{3, SCS11, flag}, Code: CmdCHLNG, Data: rndA[:]})
	if err != nil {
		return err
	}
	rep, err := r.handshakeReply(d, f, ReplyCCRYPT, SCS12)
	if err != nil {
		return err
	}
	cc := rep.(CCryptReply)
	if clientCryptogram(keys, rndA, cc.RNDB) != cc.Cryptogram {
		return fmt.Errorf("osdp: pd %d: %w: client cryptogram does not match (wrong key?)", d.addr, ErrSecure)
	}
	server := serverCryptogram(keys, rndA, cc.RNDB)
	f, err = r.transact(ctx, d, &Frame{Addr: d.addr, CRC: true, SCB: []byte{3, SCS13, flag}, Code: CmdSCRYPT, Data: server[:]})
	if err != nil {
		return err
	}
	rep, err = r.handshakeReply(d, f, ReplyRMACI, SCS14)
	if err != nil {
		return err
	}
	if len(f.SCB) < 3 || f.SCB[2] != 1 {
		return fmt.Errorf("osdp: pd %d: %w: PD refused the server cryptogram", d.addr, ErrSecure)
	}
	rmacI := initialRMAC(keys, server)
	if rep.(RMACIReply).MAC != rmacI {
		return fmt.Errorf("osdp: pd %d: %w: RMAC_I does not match", d.addr, ErrSecure)
	}
	d.sc = newSession(keys, rmacI)
	r.p.log.Info("osdp: secure channel up", "pd", d.addr, "default_key", flag == 0)
	return nil
}

func (r *runner) handshakeReply(d *pdState, f *Frame, code, scs byte) (Reply, error) {
	if f.Code == ReplyNAK {
		rep, err := ParseReply(f.Code, f.Data)
		if err != nil {
			return nil, err
		}
		nak := rep.(*NakError)
		nak.Addr = d.addr
		r.p.st.naks.Add(1)
		return nil, fmt.Errorf("%w: %w", ErrSecure, nak)
	}
	if f.Code != code || f.SCBType() != scs {
		return nil, fmt.Errorf("osdp: pd %d: %w: reply %#02x with security block type %#02x, want %#02x/%#02x", d.addr, ErrSecure, f.Code, f.SCBType(), code, scs)
	}
	rep, err := ParseReply(f.Code, f.Data)
	if err != nil {
		r.p.st.bad.Add(1)
		r.p.st.length.Add(1)
		return nil, fmt.Errorf("osdp: pd %d: %w: %w", d.addr, ErrSecure, err)
	}
	return rep, nil
}

// exchange sends cmd to d (secured when a session is up) and returns its decoded
// reply, absorbing whatever it reports.
func (r *runner) exchange(ctx context.Context, d *pdState, cmd Command) (Reply, error) {
	data, err := cmd.MarshalBinary()
	if err != nil {
		return nil, fmt.Errorf("osdp: pd %d: %w", d.addr, err)
	}
	f, err := r.transact(ctx, d, &Frame{Addr: d.addr, CRC: true, Code: cmd.Code(), Data: data})
	if err != nil {
		return nil, err
	}
	if d.sc != nil {
		switch {
		case f.SCB == nil && f.Code == ReplyNAK:
			// A PD that lost its session (rebooted, or saw a bad MAC) answers in clear.
		case f.SCB == nil && f.Code == ReplyACK && cmd.Code() == CmdKEYSET:
			// Some PDs drop the old session as soon as they take the new key.
		case f.SCB == nil:
			r.p.st.bad.Add(1)
			d.needInit = true
			return nil, fmt.Errorf("osdp: pd %d: %w: reply %#02x in clear inside the secure channel", d.addr, ErrSecure, f.Code)
		default:
			if err := d.sc.openReply(f); err != nil {
				r.p.st.bad.Add(1)
				if errors.Is(err, ErrMAC) {
					r.p.st.mac.Add(1)
				}
				r.p.log.Warn("osdp: secure reply rejected; restarting the secure channel", "pd", d.addr, "err", err)
				err = fmt.Errorf("osdp: pd %d: %w", d.addr, err)
				r.emit(Event{Addr: d.addr, Kind: EventSecureFailed, Err: err})
				d.sc, d.needInit = nil, true
				r.updateStatus(d, func(s *PDStatus) { s.Secure = false })
				return nil, err
			}
		}
	}
	rep, err := ParseReply(f.Code, f.Data)
	if err != nil {
		r.p.st.bad.Add(1)
		r.p.st.length.Add(1)
		r.p.log.Warn("osdp: bad reply", "pd", d.addr, "err", err)
		return nil, fmt.Errorf("osdp: pd %d: %w", d.addr, err)
	}
	if nak, ok := rep.(*NakError); ok {
		nak.Addr = d.addr
		r.p.st.naks.Add(1)
		if nak.Reason == NakSequence || (nak.Reason == NakSCCondition && d.scbk != nil) {
			// The PD restarted or lost its session: start again from sequence 0.
			r.p.log.Warn("osdp: pd lost its state; re-initialising", "pd", d.addr, "err", nak)
			if d.sc != nil {
				r.emit(Event{Addr: d.addr, Kind: EventSecureFailed, Err: nak})
			}
			d.sc, d.needInit = nil, true
			r.updateStatus(d, func(s *PDStatus) { s.Secure = false })
		}
		return nil, nak
	}
	r.absorb(d, rep)
	return rep, nil
}

// absorb records what a reply reports and emits its events.
func (r *runner) absorb(d *pdState, rep Reply) {
	switch v := rep.(type) {
	case PDID:
		r.updateStatus(d, func(s *PDStatus) { s.ID = v })
	case PDCapabilities:
		r.updateStatus(d, func(s *PDStatus) { s.Capabilities = slices.Clone([]Capability(v)) })
	case LocalStatus:
		r.p.mu.Lock()
		first := !d.haveLocal
		old := d.status
		d.haveLocal = true
		d.status.Tamper, d.status.Power = v.Tamper, v.Power
		r.p.mu.Unlock()
		if v.Tamper != old.Tamper || (first && v.Tamper) {
			r.emit(Event{Addr: d.addr, Kind: EventTamper, Tamper: v.Tamper, Power: v.Power})
		}
		if v.Power != old.Power || (first && v.Power) {
			r.emit(Event{Addr: d.addr, Kind: EventPower, Tamper: v.Tamper, Power: v.Power})
		}
	case InputStatus:
		r.p.mu.Lock()
		changed := !slices.Equal(d.status.Inputs, v)
		d.status.Inputs = slices.Clone([]byte(v))
		r.p.mu.Unlock()
		if changed {
			r.emit(Event{Addr: d.addr, Kind: EventInputs, Inputs: slices.Clone([]byte(v))})
		}
	case RawCard:
		c, err := wiegand.Decode(v.Data, v.Bits)
		if err != nil {
			r.p.log.Warn("osdp: card misread", "pd", d.addr, "err", err)
			r.emit(Event{Addr: d.addr, Kind: EventCard, Err: fmt.Errorf("osdp: pd %d: %w", d.addr, err)})
			return
		}
		r.emit(Event{Addr: d.addr, Kind: EventCard, Card: &c})
	case FormattedCard:
		if len(v.Chars) == 0 {
			err := fmt.Errorf("osdp: pd %d: FMT card data with no characters", d.addr)
			r.p.log.Warn("osdp: card misread", "pd", d.addr, "err", err)
			r.emit(Event{Addr: d.addr, Kind: EventCard, Err: err})
			return
		}
		c := wiegand.Card{Format: wiegand.FormatRaw, Bits: 8 * len(v.Chars), Raw: slices.Clone(v.Chars)}
		r.emit(Event{Addr: d.addr, Kind: EventCard, Card: &c})
	case KeypadData:
		r.emit(Event{Addr: d.addr, Kind: EventKeypad, Keys: v.Keys})
	}
}

// nextSQN is the sequence number after s: 0 after a reset, then 1, 2, 3, 1, ...
func nextSQN(s int) int {
	if s < 0 {
		return 0
	}
	return s%3 + 1
}

// transact sends f to d with the next sequence number, sealing it inside a secure
// session (except for the handshake), and returns the reply frame. On a missed or
// bad reply it sends the same bytes again, up to OfflineAfter times in all for an
// online PD (once for an offline one); after that d goes offline. BUSY replies are
// retried after a pause.
func (r *runner) transact(ctx context.Context, d *pdState, f *Frame) (*Frame, error) {
	d.sqn = nextSQN(d.sqn)
	f.SQN = d.sqn
	if d.sc != nil && f.SCB == nil {
		d.sc.sealCommand(f)
	}
	b, err := f.Encode()
	if err != nil {
		return nil, fmt.Errorf("osdp: pd %d: %w", d.addr, err)
	}
	wire := append([]byte{Mark}, b...)
	attempts := 1
	if d.online {
		attempts = r.p.cfg.OfflineAfter
	}
	busy := 0
	for tries := 0; ; {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		r.flush()
		if _, err := r.p.cfg.Port.Write(wire); err != nil {
			return nil, fmt.Errorf("osdp: pd %d: write: %w", d.addr, err)
		}
		r.p.st.sent.Add(1)
		r.updateStatus(d, func(s *PDStatus) { s.Polls++ })
		rf, err := r.waitReply(ctx, d, f.SQN)
		if err == nil && rf.Code == ReplyBUSY && rf.SCB == nil {
			r.p.st.busy.Add(1)
			if busy++; busy > 10 {
				return nil, fmt.Errorf("osdp: pd %d: busy", d.addr)
			}
			r.p.st.retries.Add(1)
			select {
			case <-ctx.Done():
			case <-time.After(20 * time.Millisecond):
			}
			continue
		}
		if err == nil {
			d.missed = 0
			now := r.p.clock.Now()
			r.updateStatus(d, func(s *PDStatus) { s.LastReply, s.Missed = now, 0 })
			return rf, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		d.missed++
		r.updateStatus(d, func(s *PDStatus) { s.Missed = d.missed })
		if tries++; tries >= attempts {
			if d.online {
				r.goOffline(d, err)
			}
			return nil, err
		}
		r.p.st.retries.Add(1)
		r.p.log.Debug("osdp: retrying", "pd", d.addr, "sqn", f.SQN, "err", err)
	}
}

// flush drops bytes left over from earlier exchanges.
func (r *runner) flush() {
	for {
		select {
		case b := <-r.rx:
			r.p.st.noise.Add(uint64(len(b)))
		default:
			if n := len(r.scan.buf); n > 0 {
				r.p.st.noise.Add(uint64(n))
			}
			r.scan.reset()
			return
		}
	}
}

// countBad classifies a rejected frame.
func (r *runner) countBad(d *pdState, err error) {
	st := &r.p.st
	if errors.Is(err, ErrSOM) {
		st.noise.Add(1)
		return
	}
	st.bad.Add(1)
	switch {
	case errors.Is(err, ErrCRC), errors.Is(err, ErrChecksum):
		st.crc.Add(1)
	case errors.Is(err, ErrLength), errors.Is(err, ErrShortFrame):
		st.length.Add(1)
	case errors.Is(err, ErrAddress):
		st.addr.Add(1)
	}
	r.p.log.Warn("osdp: bad frame", "pd", d.addr, "err", err)
}

// waitReply waits up to the reply timeout for d's reply with sequence number sqn.
// A bad frame ends the wait at once (the caller retries); stray frames are counted
// and skipped.
func (r *runner) waitReply(ctx context.Context, d *pdState, sqn int) (*Frame, error) {
	timer := time.NewTimer(r.p.cfg.ReplyTimeout)
	defer timer.Stop()
	for {
		for {
			f, err, ok := r.scan.next()
			if !ok {
				break
			}
			if err != nil {
				r.countBad(d, err)
				if errors.Is(err, ErrSOM) {
					continue
				}
				return nil, fmt.Errorf("osdp: pd %d: %w", d.addr, err)
			}
			switch {
			case !f.Reply || f.Addr != d.addr:
				r.countBad(d, fmt.Errorf("%w: frame for %d (reply %v) while waiting for %d", ErrAddress, f.Addr, f.Reply, d.addr))
				continue
			case f.SQN != sqn && f.Code != ReplyBUSY:
				r.p.st.bad.Add(1)
				r.p.st.seq.Add(1)
				r.p.log.Warn("osdp: stale reply", "pd", d.addr, "sqn", f.SQN, "want", sqn)
				continue
			}
			r.p.st.received.Add(1)
			return f, nil
		}
		select {
		case b := <-r.rx:
			r.scan.feed(b)
		case <-timer.C:
			r.p.st.timeouts.Add(1)
			return nil, fmt.Errorf("osdp: pd %d: %w", d.addr, ErrTimeout)
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}
