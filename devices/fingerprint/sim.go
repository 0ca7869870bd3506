package fingerprint

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"maps"
	"sync"
)

// SimOptions configure a simulated module.
type SimOptions struct {
	// Capacity is how many templates its library holds; zero means 200 (the
	// R503's).
	Capacity int
	// Address is its address; zero means DefaultAddress.
	Address uint32
	// Password is its password: if it is not DefaultPassword the module answers
	// nothing but VfyPwd until VfyPwd gives it.
	Password uint32
	// LED is which LED commands it has; those of other kinds it answers with
	// CodeUnsupported.
	LED LEDKind
	// SystemID is the word at offset 1 of ReadSysPara's reply.
	SystemID uint16
	// SecurityLevel is its matching threshold, 1 to 5; zero means 3.
	SecurityLevel int
}

// The simulator's defaults.
const (
	// SimCapacity is a simulated module's capacity unless told otherwise.
	SimCapacity = 200
	// simPacketSizeCode is the ZFM-20's factory packet size, 128 bytes.
	simPacketSizeCode = 2
	// simBaudMultiple is DefaultBaud's multiple of 9600.
	simBaudMultiple = DefaultBaud / 9600
)

// img2TzCodes are the confirmation codes of a bad image, which Img2Tz answers
// (ZFM-20 6.2 (11); 0x04 and 0x05 the AS608's): FailNextCaptures with one of
// these makes GenImg succeed and the Img2Tz after it fail.
var img2TzCodes = map[Code]bool{CodeImageDry: true, CodeImageWet: true, CodeImageMessy: true,
	CodeFewFeatures: true, CodeNoImage: true}

// Sim is a simulated fingerprint module: the device side of the protocol, byte
// for byte as a real module answers on its serial line, to a Terminal over a
// pseudo-terminal or a pipe (Serve). Its library, buffers and sensor are
// described in the package doc; its controls are the methods below. It is safe
// for concurrent use.
type Sim struct {
	addr uint32
	led  LEDKind

	wmu sync.Mutex // one reply written at a time

	mu        sync.Mutex
	password  uint32
	verified  bool
	sysID     uint16
	security  int
	packet    int
	baud      int
	slots     []string // the library: a finger's id, or ""
	finger    string   // on the sensor, or ""
	image     string   // the image buffer's finger
	imageOK   bool     // the image buffer holds an image
	imageCode Code     // what Img2Tz of it answers
	buffers   [2]string
	pass      bool
	scores    map[string]int
	failN     int
	failCode  Code
	silent    bool
	garbage   int
	noise     uint64
	ledOn     bool
	aura      Aura
	commands  int
}

// NewSim returns a simulated module with an empty library. It answers nothing
// until it is served.
func NewSim(opts SimOptions) *Sim {
	if opts.Capacity <= 0 {
		opts.Capacity = SimCapacity
	}
	if opts.Address == 0 {
		opts.Address = DefaultAddress
	}
	if opts.SecurityLevel == 0 {
		opts.SecurityLevel = 3
	}
	return &Sim{addr: opts.Address, led: opts.LED, password: opts.Password, sysID: opts.SystemID,
		security: opts.SecurityLevel, packet: simPacketSizeCode, baud: simBaudMultiple,
		slots: make([]string, opts.Capacity), scores: map[string]int{}}
}

// Serve is the module on port until ctx ends or port fails, returning ctx's
// error or port's: it answers every command packet to its address, ignores
// packets of other kinds or to other addresses, and answers a frame with a bad
// checksum with CodePacketReceive. It returns when ctx ends even if port's
// reads block; its reading goroutine ends when the port's Read returns after
// that (close the port).
func (s *Sim) Serve(ctx context.Context, port io.ReadWriter) error {
	r := NewReader(port, s.addr)
	defer r.Close()
	for {
		p, err := r.Next(ctx)
		s.mu.Lock()
		silent := s.silent
		s.mu.Unlock()
		var reply Reply
		switch {
		case silent && (err == nil || errors.Is(err, ErrFrame)):
			continue // switched off: it hears nothing
		case errors.Is(err, ErrFrame):
			if CauseOf(err) != CauseChecksum {
				continue
			}
			reply = Reply{Code: CodePacketReceive}
		case err != nil:
			return err
		case p.PID != PIDCommand:
			continue
		default:
			reply = s.Handle(p.Payload)
		}
		if err := s.answer(port, reply); err != nil {
			return err
		}
	}
}

// answer writes reply to w, or garbage in its place.
func (s *Sim) answer(w io.Writer, reply Reply) error {
	s.mu.Lock()
	garble := s.garbage > 0
	var k uint64
	if garble {
		s.garbage--
		s.noise++
		k = s.noise
	}
	s.mu.Unlock()
	b, err := Packet{Address: s.addr, PID: PIDAck, Payload: reply.Payload()}.Encode()
	if err != nil {
		return fmt.Errorf("fingerprint: simulator: %w", err)
	}
	if garble {
		b = s.garbled(b, reply, k)
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if _, err := w.Write(b); err != nil {
		return fmt.Errorf("fingerprint: simulator: %w", err)
	}
	return nil
}

// garbled returns what the line makes of reply frame b, the kth garbled one:
// in turn, noise without a header, the frame with a wrong checksum, the frame
// cut off, a header with a length over the most, and the reply from another
// address.
func (s *Sim) garbled(b []byte, reply Reply, k uint64) []byte {
	switch k % 5 {
	case 1:
		return noise(k)
	case 2:
		b[len(b)-1] ^= 0x5A
		return b
	case 3:
		return b[:len(b)-3]
	case 4:
		return []byte{HeaderHigh, HeaderLow, byte(s.addr >> 24), byte(s.addr >> 16), byte(s.addr >> 8), byte(s.addr),
			PIDAck, 0x0F, 0xFF, 0x00, 0x00, 0x0A}
	default:
		other, _ := Packet{Address: s.addr ^ 0x01, PID: PIDAck, Payload: reply.Payload()}.Encode()
		return other
	}
}

// noise returns 8 to 39 pseudo-random bytes, none 0xEF (so no header).
func noise(seed uint64) []byte {
	x := seed*0x9E3779B97F4A7C15 + 1
	next := func() byte {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		return byte(x >> 24)
	}
	n := 8 + int(next()%32)
	b := make([]byte, 0, n)
	for len(b) < n {
		if c := next(); c != HeaderHigh {
			b = append(b, c)
		}
	}
	return b
}

// Handle carries out the command whose payload is payload and returns the
// module's reply, as Serve does for each command packet (but silent or not).
// It never fails: a payload the module cannot read is answered with
// CodePacketReceive, an instruction it does not have with CodeUnsupported.
func (s *Sim) Handle(payload []byte) Reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.commands++
	c, err := ParseCommand(payload)
	if err != nil {
		return Reply{Code: CodePacketReceive}
	}
	if s.password != DefaultPassword && !s.verified && c.Instruction != InstrVfyPwd {
		return Reply{Code: CodePasswordRequired}
	}
	p := c.Params
	u16 := func(i int) int { return int(p[i])<<8 | int(p[i+1]) }
	u32 := func(i int) uint32 { return uint32(p[i])<<24 | uint32(p[i+1])<<16 | uint32(p[i+2])<<8 | uint32(p[i+3]) }
	switch c.Instruction {
	case InstrVfyPwd:
		if u32(0) != s.password {
			s.verified = false
			return Reply{Code: CodeWrongPassword}
		}
		s.verified = true
	case InstrSetPwd:
		s.password = u32(0)
	case InstrReadSysPara:
		return ReplySysParams(s.sysParams())
	case InstrSetSysPara:
		return Reply{Code: s.setSysPara(SysParam(p[0]), int(p[1]))}
	case InstrTemplateNum:
		n := 0
		for _, f := range s.slots {
			if f != "" {
				n++
			}
		}
		return ReplyTemplateCount(n)
	case InstrReadIndexTable:
		if p[0] > 3 {
			return Reply{Code: CodePacketReceive}
		}
		return ReplyIndexTable(int(p[0]), func(slot int) bool { return slot < len(s.slots) && s.slots[slot] != "" })
	case InstrGenImg:
		return Reply{Code: s.genImg()}
	case InstrImg2Tz:
		return Reply{Code: s.img2Tz(bufferIndex(p[0]))}
	case InstrRegModel:
		if s.buffers[0] == "" || s.buffers[0] != s.buffers[1] {
			return Reply{Code: CodeMergeFailed}
		}
	case InstrStore:
		slot, b := u16(1), s.buffers[bufferIndex(p[0])]
		switch {
		case slot >= len(s.slots):
			return Reply{Code: CodeBadLocation}
		case b == "":
			return Reply{Code: CodePacketReceive} // no template to store
		}
		s.slots[slot] = b
	case InstrLoadChar:
		slot := u16(1)
		switch {
		case slot >= len(s.slots):
			return Reply{Code: CodeBadLocation}
		case s.slots[slot] == "":
			return Reply{Code: CodeTemplateRead}
		}
		s.buffers[bufferIndex(p[0])] = s.slots[slot]
	case InstrSearch, InstrHighSpeedSearch:
		return s.search(s.buffers[bufferIndex(p[0])], u16(1), u16(3))
	case InstrMatch:
		if s.buffers[0] == "" || s.buffers[0] != s.buffers[1] {
			s.pass = false
			return ReplyMatch(CodeNoMatch, 0)
		}
		s.pass = true
		return ReplyMatch(CodeOK, s.score(s.buffers[0]))
	case InstrDeletChar:
		slot, n := u16(0), u16(2)
		switch {
		case slot >= len(s.slots):
			return Reply{Code: CodeBadLocation}
		case n == 0 || slot+n > len(s.slots):
			return Reply{Code: CodeDeleteFailed}
		}
		clear(s.slots[slot : slot+n])
	case InstrEmpty:
		clear(s.slots)
	case InstrAuraLedConfig:
		a := Aura{Control: AuraControl(p[0]), Speed: p[1], Color: AuraColor(p[2]), Count: p[3]}
		switch {
		case s.led != LEDAura:
			return Reply{Code: CodeUnsupported}
		case !a.Valid():
			return Reply{Code: CodePacketReceive}
		}
		s.aura = a
	case InstrLEDOn, InstrLEDOff:
		if s.led != LEDOnOff {
			return Reply{Code: CodeUnsupported}
		}
		s.ledOn = c.Instruction == InstrLEDOn
	default:
		return Reply{Code: CodeUnsupported}
	}
	return Reply{Code: CodeOK}
}

// bufferIndex returns the index in buffers of buffer id b: 1 is CharBuffer1,
// and any other CharBuffer2 (ZFM-20 6.2 (11)).
func bufferIndex(b byte) int {
	if b == byte(CharBuffer1) {
		return 0
	}
	return 1
}

// sysParams returns what ReadSysPara reads. s.mu is held.
func (s *Sim) sysParams() SysParams {
	var status uint16
	if s.pass {
		status |= StatusPass
	}
	if s.verified {
		status |= StatusPassword
	}
	if s.imageOK {
		status |= StatusImage
	}
	return SysParams{StatusRegister: status, SystemID: s.sysID, Capacity: len(s.slots), SecurityLevel: s.security,
		Address: s.addr, PacketSizeCode: uint16(s.packet), BaudMultiple: uint16(s.baud)}
}

// setSysPara sets a system parameter. s.mu is held.
func (s *Sim) setSysPara(p SysParam, v int) Code {
	var field *int
	var lo, hi int
	switch p {
	case ParamBaud:
		field, lo, hi = &s.baud, 1, 12
	case ParamSecurityLevel:
		field, lo, hi = &s.security, 1, 5
	case ParamPacketSize:
		field, lo, hi = &s.packet, 0, 3
	default:
		return CodeInvalidRegister
	}
	if v < lo || v > hi {
		return CodeRegisterContent
	}
	*field = v
	return CodeOK
}

// genImg takes an image of the finger on the sensor. s.mu is held.
func (s *Sim) genImg() Code {
	if s.finger == "" {
		return CodeNoFinger
	}
	s.image, s.imageOK, s.imageCode = s.finger, true, CodeOK
	if s.failN > 0 {
		s.failN--
		if !img2TzCodes[s.failCode] {
			s.imageOK = false
			return s.failCode
		}
		s.imageCode = s.failCode
	}
	return CodeOK
}

// img2Tz makes features of the image in buffers[i]. s.mu is held.
func (s *Sim) img2Tz(i int) Code {
	switch {
	case !s.imageOK:
		return CodeNoImage
	case s.imageCode != CodeOK:
		s.buffers[i] = ""
		return s.imageCode
	}
	s.buffers[i] = s.image
	return CodeOK
}

// search searches count slots from start for finger. s.mu is held.
func (s *Sim) search(finger string, start, count int) Reply {
	if start >= len(s.slots) {
		s.pass = false
		return ReplySearch(CodeBadLocation, Found{})
	}
	if finger != "" {
		for slot := start; slot < min(start+count, len(s.slots)); slot++ {
			if s.slots[slot] == finger {
				s.pass = true
				return ReplySearch(CodeOK, Found{Slot: slot, Score: s.score(finger)})
			}
		}
	}
	s.pass = false
	return ReplySearch(CodeNotFound, Found{})
}

// score returns the score of finger matched: SetScore's, or 50 to 200 by the
// finger's name. s.mu is held.
func (s *Sim) score(finger string) int {
	if v, ok := s.scores[finger]; ok {
		return v
	}
	h := fnv.New32a()
	h.Write([]byte(finger))
	return 50 + int(h.Sum32()%151)
}

// PlaceFinger puts the finger named finger on the sensor (in place of any
// there).
func (s *Sim) PlaceFinger(finger string) {
	s.mu.Lock()
	s.finger = finger
	s.mu.Unlock()
}

// LiftFinger takes the finger off the sensor.
func (s *Sim) LiftFinger() { s.PlaceFinger("") }

// FailNextCaptures makes the next n captures of a finger fail with code: a
// code of a bad image (CodeImageMessy, CodeFewFeatures, CodeNoImage,
// CodeImageDry, CodeImageWet) is answered by the Img2Tz after the capture's
// GenImg, any other by GenImg itself. A GenImg with no finger on the sensor is
// no capture. n <= 0 ends failures to come.
func (s *Sim) FailNextCaptures(n int, code Code) {
	s.mu.Lock()
	s.failN, s.failCode = max(0, n), code
	s.mu.Unlock()
}

// Silent makes the module answer nothing, and carry out nothing (as one
// switched off or unplugged), or answer again.
func (s *Sim) Silent(on bool) {
	s.mu.Lock()
	s.silent = on
	s.mu.Unlock()
}

// Garbage makes the line garble the module's next n replies (the commands are
// carried out): each comes as one bad frame, in turn noise, a wrong checksum, a
// frame cut off, a length over the most, and another address's reply.
func (s *Sim) Garbage(n int) {
	s.mu.Lock()
	s.garbage = max(0, n)
	s.mu.Unlock()
}

// SetPassword gives the module password pw, as after a power cycle: if it is
// not DefaultPassword, the module answers nothing but VfyPwd until VfyPwd gives
// it.
func (s *Sim) SetPassword(pw uint32) {
	s.mu.Lock()
	s.password, s.verified = pw, false
	s.mu.Unlock()
}

// SetScore makes a match of finger score score (in place of the one its name
// gives).
func (s *Sim) SetScore(finger string, score int) {
	s.mu.Lock()
	s.scores[finger] = score
	s.mu.Unlock()
}

// Slots returns the library as the module holds it: each slot that holds a
// template, and whose finger it is.
func (s *Sim) Slots() map[int]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := map[int]string{}
	for i, f := range s.slots {
		if f != "" {
			m[i] = f
		}
	}
	return m
}

// PutTemplate writes finger's template into slot as if it had been stored (an
// orphan, if no one enrolled it), or empties the slot if finger is "". It fails
// for a slot beyond the library.
func (s *Sim) PutTemplate(slot int, finger string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if slot < 0 || slot >= len(s.slots) {
		return fmt.Errorf("fingerprint: simulator: slot %d beyond a library of %d", slot, len(s.slots))
	}
	s.slots[slot] = finger
	return nil
}

// SimState is what a simulated module holds, as (*Sim).State returns it.
type SimState struct {
	// Finger is the finger on the sensor ("" none); Image the finger in the
	// image buffer ("" none or not a valid image); Buffers the fingers whose
	// features or template character buffers 1 and 2 hold.
	Finger, Image string
	Buffers       [2]string
	// Verified says VfyPwd gave the password.
	Verified bool
	// Password is its password.
	Password uint32
	// Params is what ReadSysPara would read now.
	Params SysParams
	// LEDOn is an on-off LED's state; Aura the ring's last AuraLedConfig.
	LEDOn bool
	Aura  Aura
	// Silent and Garbage are the controls' state: silent, and replies still to
	// garble.
	Silent  bool
	Garbage int
	// Commands counts the commands it has carried out or refused.
	Commands int
	// Scores are the scores SetScore set.
	Scores map[string]int
}

// State returns what the module holds now.
func (s *Sim) State() SimState {
	s.mu.Lock()
	defer s.mu.Unlock()
	image := s.image
	if !s.imageOK {
		image = ""
	}
	p := s.sysParams()
	p.PacketSize, p.Baud = PacketSizeBytes(p.PacketSizeCode), 9600*int(p.BaudMultiple)
	return SimState{Finger: s.finger, Image: image, Buffers: s.buffers, Verified: s.verified, Password: s.password,
		Params: p, LEDOn: s.ledOn, Aura: s.aura, Silent: s.silent, Garbage: s.garbage, Commands: s.commands,
		Scores: maps.Clone(s.scores)}
}
