package osdp

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/apedge/apedge/devices/wiegand"
)

// ReaderConfig configures a simulated PD.
type ReaderConfig struct {
	Address int
	// SCBK is the reader's secure channel base key; nil with AcceptDefaultKey false
	// means the reader has no secure channel.
	SCBK []byte
	// AcceptDefaultKey is install mode: the reader accepts SCBK-D until a KEYSET
	// sets its key.
	AcceptDefaultKey bool
	ID               PDID
	// Capabilities reported by osdp_PDCAP; a default set when nil.
	Capabilities []Capability
}

// Faults makes a simulated reader misbehave on the wire.
type Faults struct {
	Delay      time.Duration // wait this long before each reply
	GarbleNext int           // corrupt one byte in each of the next n replies
	BadCRCNext int           // spoil the check characters of the next n replies
	BusyNext   int           // answer the next n commands with osdp_BUSY
	// NakCommands answers every command whose code is a key with osdp_NAK of the
	// value's reason (e.g. {CmdLSTAT: NakUnknownCmd}: a reader that refuses LSTAT).
	// The map is read, never changed, by the reader.
	NakCommands map[byte]byte
}

// LEDState is the last LED command a reader received.
type LEDState struct {
	Last  LEDCommand
	Count int
}

// BuzzerState is the last buzzer command a reader received.
type BuzzerState struct {
	Last  BuzzerCommand
	Count int
}

// OutputState is the reader's outputs: the last command and each output's level.
type OutputState struct {
	Last   OutputCommand
	Count  int
	Levels []byte // one byte per output, 1 active
}

// ReaderStats are a simulated reader's counters.
type ReaderStats struct {
	Received    uint64 // frames addressed to the reader while powered
	Ignored     uint64 // frames addressed to the reader while powered off
	Replies     uint64
	Retransmits uint64 // replies sent again for a repeated command
	Naks        uint64
	MACErrors   uint64
	Handshakes  uint64 // secure channels established
	Polls       uint64
}

// Reader is a simulated OSDP PD (a card reader with a keypad, an LED, a buzzer and
// outputs) that answers a panel with the same codec and secure channel code.
type Reader struct {
	mu sync.Mutex

	addr          int
	key           []byte
	acceptDefault bool
	id            PDID
	caps          []Capability

	off     bool
	sqn     int // last sequence number accepted; -1: fresh
	lastCmd []byte
	lastRep []byte
	sc      *session
	hs      *pdHandshake

	events        []Reply // cards and keypad data, reported at POLL
	tamper, power bool
	repTamper     bool
	repPower      bool
	inputs        []byte
	repInputs     []byte

	led     LEDState
	buzzer  BuzzerState
	outputs OutputState
	comset  *ComSetCommand
	faults  Faults
	stats   ReaderStats
}

type pdHandshake struct {
	keys       sessionKeys
	rndA, rndB [8]byte
	flag       byte
}

// NewReader returns a powered-on reader in its initial state.
func NewReader(cfg ReaderConfig) *Reader {
	caps := cfg.Capabilities
	if caps == nil {
		sec := byte(0)
		if cfg.SCBK != nil || cfg.AcceptDefaultKey {
			sec = 1
		}
		caps = []Capability{{CapContactStatus, 1, 2}, {CapOutputControl, 1, 2}, {CapCardFormat, 1, 0},
			{CapReaderLED, 1, 1}, {CapReaderAudible, 1, 1}, {CapCheckCharacter, 1, 0},
			{CapCommSecurity, sec, 0}, {CapReceiveBuffer, 0x80, 0x00}, {CapOSDPVersion, 2, 0}}
	}
	return &Reader{addr: cfg.Address, key: slices.Clone(cfg.SCBK), acceptDefault: cfg.AcceptDefaultKey,
		id: cfg.ID, caps: slices.Clone(caps), sqn: -1, inputs: []byte{0, 0}, repInputs: []byte{0, 0},
		outputs: OutputState{Levels: []byte{0, 0}}}
}

// Address returns the reader's bus address.
func (r *Reader) Address() int { return r.addr }

// Swipe queues a card read, reported as osdp_RAW (Wiegand format) at the next POLL.
func (r *Reader) Swipe(c wiegand.Card) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, RawCard{Format: FormatRawWiegand, Bits: c.Bits, Data: slices.Clone(c.Raw)})
}

// Keypad queues key presses, reported as osdp_KEYPAD at the next POLL.
func (r *Reader) Keypad(keys string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, KeypadData{Keys: keys})
}

// SetTamper sets the tamper switch; the change is reported as osdp_LSTATR.
func (r *Reader) SetTamper(on bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.tamper = on
}

// SetPowerFault sets the power-fault status; the change is reported as osdp_LSTATR.
func (r *Reader) SetPowerFault(on bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.power = on
}

// SetInputs sets the input levels; a change is reported as osdp_ISTATR.
func (r *Reader) SetInputs(levels []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.inputs = slices.Clone(levels)
}

// PowerOff cuts (on) or restores the reader's power. A reader without power does
// not answer; restoring power is a reboot.
func (r *Reader) PowerOff(on bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.off && !on {
		r.rebootLocked()
	}
	r.off = on
}

// Reboot makes the reader lose its session, sequence number and queued events, as
// after a restart. It keeps its key.
func (r *Reader) Reboot() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.rebootLocked()
}

func (r *Reader) rebootLocked() {
	r.sqn, r.lastCmd, r.lastRep, r.sc, r.hs = -1, nil, nil, nil, nil
	r.events = nil
	r.repTamper, r.repPower, r.repInputs = false, false, slices.Clone(r.inputs)
}

// SetFaults sets the faults the reader will show.
func (r *Reader) SetFaults(f Faults) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.faults = f
}

// LED returns the last LED command received.
func (r *Reader) LED() LEDState {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.led
}

// Buzzer returns the last buzzer command received.
func (r *Reader) Buzzer() BuzzerState {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.buzzer
}

// Outputs returns the outputs' state.
func (r *Reader) Outputs() OutputState {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.outputs
	s.Levels = slices.Clone(s.Levels)
	return s
}

// ComSet returns the last COMSET received, if any. The simulated reader answers
// with the new settings but keeps its address and speed.
func (r *Reader) ComSet() (ComSetCommand, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.comset == nil {
		return ComSetCommand{}, false
	}
	return *r.comset, true
}

// Key returns the reader's current secure channel base key (nil if none).
func (r *Reader) Key() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.key)
}

// Secure reports whether the reader has a secure session.
func (r *Reader) Secure() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.sc != nil
}

// Stats returns the reader's counters.
func (r *Reader) Stats() ReaderStats {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stats
}

// handle answers one command frame. It returns the bytes to send (nil for no
// answer) and how long to wait first.
func (r *Reader) handle(f *Frame) (out []byte, delay time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.off {
		r.stats.Ignored++
		return nil, 0
	}
	r.stats.Received++
	delay = r.faults.Delay
	if r.faults.BusyNext > 0 {
		r.faults.BusyNext--
		return r.encode(f, &Frame{Addr: r.addr, Reply: true, SQN: f.SQN, CRC: f.CRC, Code: ReplyBUSY}, false), delay
	}
	// A repeated command (same sequence number, same bytes): the panel missed our
	// reply, so send it again without acting twice.
	if f.SQN != 0 && f.SQN == r.sqn && r.lastRep != nil && bytes.Equal(f.raw, r.lastCmd) {
		r.stats.Retransmits++
		return r.spoil(slices.Clone(r.lastRep)), delay
	}
	switch {
	case f.SQN == 0:
		r.sc, r.hs = nil, nil // the panel restarts the conversation
	case r.sqn < 0 || f.SQN != nextSQN(r.sqn):
		return r.nak(f, NakSequence), delay
	}
	r.sqn = f.SQN
	rep, scb, seal := r.process(f)
	data, err := rep.MarshalBinary()
	if err != nil {
		return r.nak(f, NakRecord), delay
	}
	out = r.encode(f, &Frame{Addr: r.addr, Reply: true, SQN: f.SQN, CRC: f.CRC, SCB: scb, Code: rep.Code(), Data: data}, seal)
	return out, delay
}

// nak answers in clear with a NAK (the sequence number is not taken).
func (r *Reader) nak(f *Frame, reason byte) []byte {
	r.stats.Naks++
	return r.encode(f, &Frame{Addr: r.addr, Reply: true, SQN: f.SQN, CRC: f.CRC, Code: ReplyNAK, Data: []byte{reason}}, false)
}

// encode finishes a reply, remembers it for a retransmission and applies faults.
func (r *Reader) encode(cmd, rep *Frame, seal bool) []byte {
	if seal && r.sc != nil {
		r.sc.sealReply(rep)
	}
	b, err := rep.Encode()
	if err != nil {
		return nil
	}
	r.lastCmd, r.lastRep = cmd.raw, b
	r.stats.Replies++
	return r.spoil(slices.Clone(b))
}

// spoil applies the garbling faults to b.
func (r *Reader) spoil(b []byte) []byte {
	switch {
	case r.faults.GarbleNext > 0:
		r.faults.GarbleNext--
		b[len(b)/2] ^= 0x5A
	case r.faults.BadCRCNext > 0:
		r.faults.BadCRCNext--
		b[len(b)-1] ^= 0xFF
	}
	return b
}

// process acts on a command and returns the reply, its security block (for the
// handshake) and whether to seal it in the session.
func (r *Reader) process(f *Frame) (rep Reply, scb []byte, seal bool) {
	nak := func(reason byte) (Reply, []byte, bool) {
		r.stats.Naks++
		return &NakError{Reason: reason}, nil, false
	}
	switch f.SCBType() {
	case 0:
		if r.sc != nil {
			r.sc = nil // clear text inside a session: drop it
			return nak(NakSCCondition)
		}
	case SCS11:
		return r.challenge(f)
	case SCS13:
		return r.scrypt(f)
	case SCS15, SCS17:
		if r.sc == nil {
			return nak(NakSCCondition)
		}
		if err := r.sc.openCommand(f); err != nil {
			r.stats.MACErrors++
			r.sc = nil
			return nak(NakSCCondition)
		}
		seal = true
	default:
		return nak(NakSCCondition)
	}
	if reason, ok := r.faults.NakCommands[f.Code]; ok {
		rep, scb, _ = nak(reason)
		return rep, scb, seal
	}
	cmd, err := ParseCommand(f.Code, f.Data)
	if err != nil {
		rep, scb, _ = nak(NakLength)
		return rep, scb, seal
	}
	return r.command(cmd), nil, seal
}

func (r *Reader) command(cmd Command) Reply {
	switch c := cmd.(type) {
	case PollCommand:
		r.stats.Polls++
		if len(r.events) > 0 {
			e := r.events[0]
			r.events = r.events[1:]
			return e
		}
		if r.tamper != r.repTamper || r.power != r.repPower {
			r.repTamper, r.repPower = r.tamper, r.power
			return LocalStatus{Tamper: r.tamper, Power: r.power}
		}
		if !bytes.Equal(r.inputs, r.repInputs) {
			r.repInputs = slices.Clone(r.inputs)
			return InputStatus(slices.Clone(r.inputs))
		}
		return Ack{}
	case IDCommand:
		return r.id
	case CapCommand:
		return PDCapabilities(slices.Clone(r.caps))
	case LocalStatusCommand:
		r.repTamper, r.repPower = r.tamper, r.power
		return LocalStatus{Tamper: r.tamper, Power: r.power}
	case InputStatusCommand:
		r.repInputs = slices.Clone(r.inputs)
		return InputStatus(slices.Clone(r.inputs))
	case OutputStatusCommand:
		return OutputStatus(slices.Clone(r.outputs.Levels))
	case LEDCommand:
		r.led.Last, r.led.Count = c, r.led.Count+1
		return Ack{}
	case BuzzerCommand:
		r.buzzer.Last, r.buzzer.Count = c, r.buzzer.Count+1
		return Ack{}
	case OutputCommand:
		if int(c.Number) >= len(r.outputs.Levels) {
			r.stats.Naks++
			return &NakError{Reason: NakRecord}
		}
		r.outputs.Last, r.outputs.Count = c, r.outputs.Count+1
		switch c.Control {
		case 1, 3, 6:
			r.outputs.Levels[c.Number] = 0
		case 2, 4, 5:
			r.outputs.Levels[c.Number] = 1
		}
		return OutputStatus(slices.Clone(r.outputs.Levels))
	case ComSetCommand:
		r.comset = &c
		return ComReply(c)
	case KeySetCommand:
		if r.sc == nil {
			r.stats.Naks++
			return &NakError{Reason: NakSCCondition}
		}
		r.key, r.acceptDefault = slices.Clone(c.Key), false
		return Ack{}
	}
	r.stats.Naks++
	return &NakError{Reason: NakUnknownCmd}
}

// challenge answers osdp_CHLNG with osdp_CCRYPT.
func (r *Reader) challenge(f *Frame) (Reply, []byte, bool) {
	r.sc, r.hs = nil, nil
	nak := func(reason byte) (Reply, []byte, bool) {
		r.stats.Naks++
		return &NakError{Reason: reason}, nil, false
	}
	if f.Code != CmdCHLNG || len(f.Data) != 8 || len(f.SCB) != 3 {
		return nak(NakSCCondition)
	}
	var key []byte
	switch {
	case f.SCB[2] == 0 && r.acceptDefault:
		key = DefaultSCBK()
	case f.SCB[2] == 1 && r.key != nil:
		key = r.key
	case r.key == nil && !r.acceptDefault:
		return nak(NakSCBUnsup)
	default:
		return nak(NakSCCondition)
	}
	hs := &pdHandshake{flag: f.SCB[2]}
	copy(hs.rndA[:], f.Data)
	if _, err := rand.Read(hs.rndB[:]); err != nil {
		return nak(NakRecord)
	}
	keys, err := deriveKeys(key, hs.rndA)
	if err != nil {
		return nak(NakSCCondition)
	}
	hs.keys = keys
	r.hs = hs
	rep := CCryptReply{RNDB: hs.rndB, Cryptogram: clientCryptogram(keys, hs.rndA, hs.rndB)}
	uid := []byte{byte(r.id.Vendor), byte(r.id.Vendor >> 8), r.id.Model, r.id.Version,
		byte(r.id.Serial), byte(r.id.Serial >> 8), byte(r.id.Serial >> 16), byte(r.id.Serial >> 24)}
	copy(rep.UID[:], uid)
	return rep, []byte{3, SCS12, hs.flag}, false
}

// scrypt answers osdp_SCRYPT with osdp_RMAC_I and opens the session.
func (r *Reader) scrypt(f *Frame) (Reply, []byte, bool) {
	hs := r.hs
	r.hs = nil
	if hs == nil || f.Code != CmdSCRYPT || len(f.Data) != 16 {
		r.stats.Naks++
		return &NakError{Reason: NakSCCondition}, nil, false
	}
	want := serverCryptogram(hs.keys, hs.rndA, hs.rndB)
	if !bytes.Equal(want[:], f.Data) {
		r.stats.Naks++
		return &NakError{Reason: NakSCCondition}, nil, false
	}
	rmacI := initialRMAC(hs.keys, want)
	r.sc = newSession(hs.keys, rmacI)
	r.stats.Handshakes++
	return RMACIReply{MAC: rmacI}, []byte{3, SCS14, 1}, false
}

// ServeBus answers frames on port for every reader by its address (RS-485
// multi-drop: many PDs, one line) until ctx ends, then returns nil. A broadcast
// (address 0x7F) is answered only when there is one reader. ServeBus reads port
// from a goroutine of its own; if port's Read blocks without a timeout, that
// goroutine ends when the port is closed.
func ServeBus(ctx context.Context, port Port, readers ...*Reader) error {
	byAddr := make(map[int]*Reader, len(readers))
	for _, r := range readers {
		if byAddr[r.addr] != nil {
			return fmt.Errorf("osdp: two readers at address %d", r.addr)
		}
		byAddr[r.addr] = r
	}
	rx := make(chan []byte, 64)
	rxErr := make(chan error, 1)
	go func() {
		buf := make([]byte, 512)
		for {
			n, err := port.Read(buf)
			if n > 0 {
				select {
				case rx <- slices.Clone(buf[:n]):
				case <-ctx.Done():
					return
				}
			}
			if err != nil {
				rxErr <- err
				return
			}
			if ctx.Err() != nil {
				return
			}
		}
	}()
	var sc scanner
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-rxErr:
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("osdp: bus read: %w", err)
		case b := <-rx:
			sc.feed(b)
		}
		for {
			f, err, ok := sc.next()
			if !ok {
				break
			}
			if err != nil || f.Reply {
				continue
			}
			r := byAddr[f.Addr]
			if f.Addr == BroadcastAddr && len(readers) == 1 {
				r = readers[0]
			}
			if r == nil {
				continue
			}
			out, delay := r.safeHandle(f)
			if out == nil {
				continue
			}
			if delay > 0 {
				select {
				case <-ctx.Done():
					return nil
				case <-time.After(delay):
				}
			}
			if sc.mark {
				out = append([]byte{Mark}, out...)
			}
			if _, err := port.Write(out); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return fmt.Errorf("osdp: bus write: %w", err)
			}
		}
	}
}

// safeHandle is handle with a recover, so that a bad frame never stops the bus.
func (r *Reader) safeHandle(f *Frame) (out []byte, delay time.Duration) {
	defer func() {
		if v := recover(); v != nil {
			out, delay = nil, 0
		}
	}()
	return r.handle(f)
}
