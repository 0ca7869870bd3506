package fingerprint

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"
)

// DefaultTimeout is how long a Terminal waits for a reply unless told
// otherwise (see the package doc).
const DefaultTimeout = 2 * time.Second

// LEDKind is which LED commands a module has.
type LEDKind int

// The kinds of LED control.
const (
	// LEDNone: the host cannot control the LED (the ZFM-20 and R307 light it
	// themselves as they take an image).
	LEDNone LEDKind = iota
	// LEDOnOff: LEDOn and LEDOff (ZFM-60 and DY50 style green-LED modules).
	LEDOnOff
	// LEDAura: AuraLedConfig (the R503 and R502's ring).
	LEDAura
)

// String returns "none", "on-off" or "aura".
func (k LEDKind) String() string {
	switch k {
	case LEDNone:
		return "none"
	case LEDOnOff:
		return "on-off"
	case LEDAura:
		return "aura"
	}
	return fmt.Sprintf("LEDKind(%d)", int(k))
}

// Options configure a Terminal.
type Options struct {
	// Address is the module's; zero means DefaultAddress (so a module whose
	// address is 0x00000000 cannot be talked to: give it another).
	Address uint32
	// Password is the module's password, which VerifyPassword gives.
	Password uint32
	// Timeout is how long each command waits for its reply; zero means
	// DefaultTimeout.
	Timeout time.Duration
	// LED is which LED commands the module has.
	LED LEDKind
}

// ErrNoReply marks a command the module did not answer in time.
var ErrNoReply = errors.New("fingerprint: no reply from the module")

// ErrArgument marks a call with an argument the protocol cannot carry (a
// buffer other than 1 or 2, a page id over 65535).
var ErrArgument = errors.New("fingerprint: bad argument")

// Terminal is the host's side of a fingerprint module on port: a serial line
// opened elsewhere (serialport.Open at the module's baud, DefaultBaud unless it
// was changed), or the far end of a simulator's pipe. It sends one command at a
// time (callers wait their turn, or until their context ends), waits for its
// acknowledgement for the Options' timeout, and returns the module's refusals as
// *ModuleError. Whatever comes from the port, it never panics: bad frames are
// counted (Bad) and skipped. Before each command it drops what came since the
// last reply (a reply that came after its command's timeout counts as
// CauseStale); the protocol has no sequence numbers, so a reply later still,
// after the next command went, would be taken for that command's. It is safe
// for concurrent use.
type Terminal struct {
	port    io.Writer
	r       *Reader
	addr    uint32
	timeout time.Duration
	led     LEDKind
	turn    chan struct{} // holds a token while a command is under way

	mu       sync.Mutex
	password uint32
	capacity int // from the last ReadSysParams; 0: not read
}

// NewTerminal returns a Terminal of the module on port. It starts reading port
// at once; Close stops that.
func NewTerminal(port io.ReadWriter, opts Options) *Terminal {
	if opts.Address == 0 {
		opts.Address = DefaultAddress
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	t := &Terminal{port: port, r: NewReader(port, opts.Address), addr: opts.Address, timeout: opts.Timeout,
		led: opts.LED, turn: make(chan struct{}, 1), password: opts.Password}
	return t
}

// Close stops reading the port (once a Read in progress returns). It does not
// close the port, which is its opener's.
func (t *Terminal) Close() error {
	t.r.Close()
	return nil
}

// Bad returns how many bad frames have come from the port, by cause (the
// Cause constants).
func (t *Terminal) Bad() map[string]int64 { return t.r.Bad() }

// Exchange sends c and returns the module's reply, whatever its code: the
// building block of the methods below, and a way to send instructions they do
// not cover. It fails with ErrNoReply wrapped (and the last bad frame seen, if
// any) when no acknowledgement comes within the timeout, with ctx's error if ctx
// ends first, or with the port's error.
func (t *Terminal) Exchange(ctx context.Context, c Command) (Reply, error) {
	select {
	case t.turn <- struct{}{}:
	case <-ctx.Done():
		return Reply{}, fmt.Errorf("fingerprint: %s: waiting for the line: %w", c.Instruction, ctx.Err())
	}
	defer func() { <-t.turn }()
	frame, err := Packet{Address: t.addr, PID: PIDCommand, Payload: c.Payload()}.Encode()
	if err != nil {
		return Reply{}, fmt.Errorf("fingerprint: %s: %w", c.Instruction, err)
	}
	t.r.Discard() // what came since the last reply is no reply to this
	if _, err := t.port.Write(frame); err != nil {
		return Reply{}, fmt.Errorf("fingerprint: %s: write: %w", c.Instruction, err)
	}
	rctx, cancel := context.WithTimeout(ctx, t.timeout)
	defer cancel()
	var last error // the last bad frame or unexpected packet
	for {
		p, err := t.r.Next(rctx)
		switch {
		case errors.Is(err, ErrFrame):
			last = err
			continue
		case err != nil && rctx.Err() != nil: // the timeout, or ctx
			if ctx.Err() != nil {
				return Reply{}, fmt.Errorf("fingerprint: %s: %w", c.Instruction, ctx.Err())
			}
			if d := t.r.Discard(); d != nil {
				last = d
			}
			if last != nil {
				return Reply{}, fmt.Errorf("fingerprint: %s: %w within %v (%w)", c.Instruction, ErrNoReply, t.timeout, last)
			}
			return Reply{}, fmt.Errorf("fingerprint: %s: %w within %v", c.Instruction, ErrNoReply, t.timeout)
		case err != nil:
			return Reply{}, fmt.Errorf("fingerprint: %s: read: %w", c.Instruction, err)
		case p.PID != PIDAck:
			last = fmt.Errorf("%w: a packet with identifier %#02x instead of an acknowledgement", ErrReply, p.PID)
			continue
		}
		return ParseReply(p.Payload)
	}
}

// do sends c and returns its reply if its code is CodeOK, else a *ModuleError.
func (t *Terminal) do(ctx context.Context, c Command) (Reply, error) {
	r, err := t.Exchange(ctx, c)
	if err != nil {
		return Reply{}, err
	}
	if r.Code != CodeOK {
		return Reply{}, &ModuleError{Instruction: c.Instruction, Code: r.Code}
	}
	return r, nil
}

// simple sends c and checks that it succeeded.
func (t *Terminal) simple(ctx context.Context, c Command) error {
	_, err := t.do(ctx, c)
	return err
}

// wrap prefixes a parser's error with its instruction.
func wrap(in Instruction, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("fingerprint: %s: %w", in, err)
}

// argument returns an error wrapping ErrArgument.
func argument(in Instruction, format string, args ...any) error {
	return fmt.Errorf("fingerprint: %s: %w: %s", in, ErrArgument, fmt.Sprintf(format, args...))
}

// page16 checks that v is a page id or count the protocol carries.
func page16(in Instruction, what string, v int) (uint16, error) {
	if v < 0 || v > 0xFFFF {
		return 0, argument(in, "%s %d is not 0 to 65535", what, v)
	}
	return uint16(v), nil
}

// VerifyPassword gives the module the password of the Options (or the last
// SetPassword). A wrong one fails with ErrWrongPassword.
func (t *Terminal) VerifyPassword(ctx context.Context) error {
	t.mu.Lock()
	pw := t.password
	t.mu.Unlock()
	return t.simple(ctx, CmdVfyPwd(pw))
}

// SetPassword sets the module's password to pw, and the Terminal's, which
// VerifyPassword gives from then on.
func (t *Terminal) SetPassword(ctx context.Context, pw uint32) error {
	if err := t.simple(ctx, CmdSetPwd(pw)); err != nil {
		return err
	}
	t.mu.Lock()
	t.password = pw
	t.mu.Unlock()
	return nil
}

// ReadSysParams reads the status register and the system parameters.
func (t *Terminal) ReadSysParams(ctx context.Context) (SysParams, error) {
	r, err := t.do(ctx, CmdReadSysPara())
	if err != nil {
		return SysParams{}, err
	}
	p, err := ParseSysParams(r)
	if err != nil {
		return SysParams{}, wrap(InstrReadSysPara, err)
	}
	t.mu.Lock()
	t.capacity = p.Capacity
	t.mu.Unlock()
	return p, nil
}

// SetSysParam sets a system parameter. The module answers before it changes
// it: after ParamBaud, the port's rate must change too.
func (t *Terminal) SetSysParam(ctx context.Context, p SysParam, value byte) error {
	return t.simple(ctx, CmdSetSysPara(p, value))
}

// TemplateCount returns how many templates the library holds.
func (t *Terminal) TemplateCount(ctx context.Context) (int, error) {
	r, err := t.do(ctx, CmdTemplateNum())
	if err != nil {
		return 0, err
	}
	n, err := ParseTemplateCount(r)
	return n, wrap(InstrTemplateNum, err)
}

// ReadIndexTable returns the page ids that hold a template, in order: it reads
// every index page up to the library's capacity (read with ReadSysParams first
// if it has not been).
func (t *Terminal) ReadIndexTable(ctx context.Context) ([]int, error) {
	t.mu.Lock()
	capacity := t.capacity
	t.mu.Unlock()
	if capacity == 0 {
		p, err := t.ReadSysParams(ctx)
		if err != nil {
			return nil, err
		}
		capacity = p.Capacity
	}
	var used []int
	for page := 0; page*IndexPageSlots < capacity && page < 4; page++ {
		r, err := t.do(ctx, CmdReadIndexTable(byte(page)))
		if err != nil {
			return nil, err
		}
		slots, err := ParseIndexTable(r, page)
		if err != nil {
			return nil, wrap(InstrReadIndexTable, err)
		}
		for _, s := range slots {
			if s < capacity {
				used = append(used, s)
			}
		}
	}
	return used, nil
}

// CaptureImage takes an image of the finger on the sensor (GenImg). With none
// there it fails with ErrNoFinger.
func (t *Terminal) CaptureImage(ctx context.Context) error { return t.simple(ctx, CmdGenImg()) }

// Image2Tz makes the features of the captured image in buffer b.
func (t *Terminal) Image2Tz(ctx context.Context, b Buffer) error {
	if !b.Valid() {
		return argument(InstrImg2Tz, "buffer %d", b)
	}
	return t.simple(ctx, CmdImg2Tz(b))
}

// CreateModel combines the features in buffers 1 and 2 into a template, left in
// both (RegModel). Features of two fingers fail with ErrMergeFailed.
func (t *Terminal) CreateModel(ctx context.Context) error { return t.simple(ctx, CmdRegModel()) }

// Store stores buffer b's template in the library at slot.
func (t *Terminal) Store(ctx context.Context, b Buffer, slot int) error {
	if !b.Valid() {
		return argument(InstrStore, "buffer %d", b)
	}
	s, err := page16(InstrStore, "slot", slot)
	if err != nil {
		return err
	}
	return t.simple(ctx, CmdStore(b, s))
}

// Load loads the template at slot into buffer b (LoadChar).
func (t *Terminal) Load(ctx context.Context, b Buffer, slot int) error {
	if !b.Valid() {
		return argument(InstrLoadChar, "buffer %d", b)
	}
	s, err := page16(InstrLoadChar, "slot", slot)
	if err != nil {
		return err
	}
	return t.simple(ctx, CmdLoadChar(b, s))
}

// search sends a Search or HighSpeedSearch.
func (t *Terminal) search(ctx context.Context, in Instruction, b Buffer, start, count int) (slot, score int, err error) {
	if !b.Valid() {
		return 0, 0, argument(in, "buffer %d", b)
	}
	s, err := page16(in, "start", start)
	if err != nil {
		return 0, 0, err
	}
	n, err := page16(in, "count", count)
	if err != nil {
		return 0, 0, err
	}
	c := CmdSearch(b, s, n)
	c.Instruction = in
	r, err := t.do(ctx, c)
	if err != nil {
		return 0, 0, err
	}
	f, err := ParseSearch(r)
	if err != nil {
		return 0, 0, wrap(in, err)
	}
	return f.Slot, f.Score, nil
}

// Search searches count slots from start for buffer b's features, returning
// the slot holding the finger and the score of the match. Finding none fails
// with ErrNotFound.
func (t *Terminal) Search(ctx context.Context, b Buffer, start, count int) (slot, score int, err error) {
	return t.search(ctx, InstrSearch, b, start, count)
}

// HighSpeedSearch is Search by the module's fast search.
func (t *Terminal) HighSpeedSearch(ctx context.Context, b Buffer, start, count int) (slot, score int, err error) {
	return t.search(ctx, InstrHighSpeedSearch, b, start, count)
}

// Match compares buffer 1's features with buffer 2's, returning the score;
// two fingers fail with ErrNotMatched.
func (t *Terminal) Match(ctx context.Context) (int, error) {
	r, err := t.do(ctx, CmdMatch())
	if err != nil {
		return 0, err
	}
	score, err := ParseMatch(r)
	return score, wrap(InstrMatch, err)
}

// Delete deletes n templates from slot (DeletChar).
func (t *Terminal) Delete(ctx context.Context, slot, n int) error {
	s, err := page16(InstrDeletChar, "slot", slot)
	if err != nil {
		return err
	}
	c, err := page16(InstrDeletChar, "count", n)
	if err != nil {
		return err
	}
	return t.simple(ctx, CmdDeletChar(s, c))
}

// Empty deletes every template.
func (t *Terminal) Empty(ctx context.Context) error { return t.simple(ctx, CmdEmpty()) }

// SetLED switches the LED of a module with LEDOn and LEDOff on or off. Another
// kind fails with ErrUnsupported, sending nothing.
func (t *Terminal) SetLED(ctx context.Context, on bool) error {
	if t.led != LEDOnOff {
		return fmt.Errorf("fingerprint: LEDOn: %w (its LED control is %s)", ErrUnsupported, t.led)
	}
	if on {
		return t.simple(ctx, CmdLEDOn())
	}
	return t.simple(ctx, CmdLEDOff())
}

// SetAura sets the LED ring of a module with AuraLedConfig. Another kind fails
// with ErrUnsupported, sending nothing.
func (t *Terminal) SetAura(ctx context.Context, a Aura) error {
	if t.led != LEDAura {
		return fmt.Errorf("fingerprint: AuraLedConfig: %w (its LED control is %s)", ErrUnsupported, t.led)
	}
	if !a.Valid() {
		return argument(InstrAuraLedConfig, "control %d, colour %d", a.Control, a.Color)
	}
	return t.simple(ctx, CmdAuraLedConfig(a))
}
