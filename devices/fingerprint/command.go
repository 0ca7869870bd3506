package fingerprint

import (
	"errors"
	"fmt"
)

// Instruction is an instruction code: the first byte of a command's payload.
type Instruction byte

// The instruction codes this package builds, parses and simulates (see the
// package doc for their parameters and replies).
const (
	InstrGenImg          Instruction = 0x01
	InstrImg2Tz          Instruction = 0x02
	InstrMatch           Instruction = 0x03
	InstrSearch          Instruction = 0x04
	InstrRegModel        Instruction = 0x05
	InstrStore           Instruction = 0x06
	InstrLoadChar        Instruction = 0x07
	InstrDeletChar       Instruction = 0x0C
	InstrEmpty           Instruction = 0x0D
	InstrSetSysPara      Instruction = 0x0E
	InstrReadSysPara     Instruction = 0x0F
	InstrSetPwd          Instruction = 0x12
	InstrVfyPwd          Instruction = 0x13
	InstrHighSpeedSearch Instruction = 0x1B
	InstrTemplateNum     Instruction = 0x1D
	InstrReadIndexTable  Instruction = 0x1F
	InstrAuraLedConfig   Instruction = 0x35
	InstrLEDOn           Instruction = 0x50
	InstrLEDOff          Instruction = 0x51
)

// instructions names each instruction, and gives the length of its parameters.
var instructions = map[Instruction]struct {
	name   string
	params int
}{
	InstrGenImg: {"GenImg", 0}, InstrImg2Tz: {"Img2Tz", 1}, InstrMatch: {"Match", 0},
	InstrSearch: {"Search", 5}, InstrRegModel: {"RegModel", 0}, InstrStore: {"Store", 3},
	InstrLoadChar: {"LoadChar", 3}, InstrDeletChar: {"DeletChar", 4}, InstrEmpty: {"Empty", 0},
	InstrSetSysPara: {"SetSysPara", 2}, InstrReadSysPara: {"ReadSysPara", 0}, InstrSetPwd: {"SetPwd", 4},
	InstrVfyPwd: {"VfyPwd", 4}, InstrHighSpeedSearch: {"HighSpeedSearch", 5}, InstrTemplateNum: {"TemplateNum", 0},
	InstrReadIndexTable: {"ReadIndexTable", 1}, InstrAuraLedConfig: {"AuraLedConfig", 4},
	InstrLEDOn: {"LEDOn", 0}, InstrLEDOff: {"LEDOff", 0},
}

// String returns the instruction's mnemonic ("GenImg"), or "instruction 0xNN".
func (i Instruction) String() string {
	if in, ok := instructions[i]; ok {
		return in.name
	}
	return fmt.Sprintf("instruction %#02x", byte(i))
}

// Buffer is a character buffer of the module: CharBuffer1 or CharBuffer2.
type Buffer byte

// The character buffers.
const (
	CharBuffer1 Buffer = 1
	CharBuffer2 Buffer = 2
)

// Valid says b is CharBuffer1 or CharBuffer2.
func (b Buffer) Valid() bool { return b == CharBuffer1 || b == CharBuffer2 }

// SysParam is a parameter SetSysPara sets.
type SysParam byte

// The system parameters.
const (
	// ParamBaud is the line's rate, as its multiple of 9600.
	ParamBaud SysParam = 4
	// ParamSecurityLevel is the matching threshold, 1 (most false accepts) to 5
	// (most false rejects).
	ParamSecurityLevel SysParam = 5
	// ParamPacketSize is the data packets' size code, 0 to 3 (32 to 256 bytes).
	ParamPacketSize SysParam = 6
)

// AuraControl is what AuraLedConfig makes an R503's ring do.
type AuraControl byte

// The aura controls.
const (
	AuraBreathing AuraControl = 0x01
	AuraFlashing  AuraControl = 0x02
	AuraOn        AuraControl = 0x03
	AuraOff       AuraControl = 0x04
	AuraFadeOn    AuraControl = 0x05
	AuraFadeOff   AuraControl = 0x06
)

// AuraColor is the colour of an R503's ring.
type AuraColor byte

// The aura colours (4 to 7 on firmware from 2021, R503 manual 1.2).
const (
	AuraRed    AuraColor = 0x01
	AuraBlue   AuraColor = 0x02
	AuraPurple AuraColor = 0x03
	AuraGreen  AuraColor = 0x04
	AuraYellow AuraColor = 0x05
	AuraCyan   AuraColor = 0x06
	AuraWhite  AuraColor = 0x07
)

// Aura is an AuraLedConfig: what the ring does, how fast (0 to 255; for
// breathing, flashing and fading), its colour, and how many cycles (0: for
// ever; for breathing and flashing).
type Aura struct {
	Control AuraControl
	Speed   byte
	Color   AuraColor
	Count   byte
}

// Valid says a's control and colour are ones the R503 manual gives.
func (a Aura) Valid() bool {
	return a.Control >= AuraBreathing && a.Control <= AuraFadeOff && a.Color >= AuraRed && a.Color <= AuraWhite
}

// Command is a command packet's payload: an instruction and its parameters.
type Command struct {
	Instruction Instruction
	Params      []byte
}

// Payload returns the command's payload: its instruction code and parameters.
func (c Command) Payload() []byte { return append([]byte{byte(c.Instruction)}, c.Params...) }

// String returns the command's mnemonic and its parameters in hex.
func (c Command) String() string {
	if len(c.Params) == 0 {
		return c.Instruction.String()
	}
	return fmt.Sprintf("%s % X", c.Instruction, c.Params)
}

// ErrCommand marks a command payload that is not one of this package's
// instructions with the parameters it takes.
var ErrCommand = errors.New("fingerprint: bad command")

// ParseCommand splits a command's payload into its instruction and parameters.
// It refuses, with an error wrapping ErrCommand, an empty payload and, for an
// instruction this package knows, parameters of a length it does not take; an
// instruction it does not know is returned with its parameters as they came.
func ParseCommand(payload []byte) (Command, error) {
	if len(payload) == 0 {
		return Command{}, fmt.Errorf("%w: empty payload", ErrCommand)
	}
	c := Command{Instruction: Instruction(payload[0]), Params: append([]byte(nil), payload[1:]...)}
	if in, ok := instructions[c.Instruction]; ok && in.params != len(c.Params) {
		return c, fmt.Errorf("%w: %s with %d bytes of parameters, want %d", ErrCommand, c.Instruction, len(c.Params), in.params)
	}
	return c, nil
}

func be16(v uint16) []byte { return []byte{byte(v >> 8), byte(v)} }
func be32(v uint32) []byte { return []byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)} }

// The builders of commands, one for each instruction, named by the manuals'
// mnemonics.

// CmdVfyPwd verifies the module's password.
func CmdVfyPwd(password uint32) Command { return Command{InstrVfyPwd, be32(password)} }

// CmdSetPwd sets the module's password.
func CmdSetPwd(password uint32) Command { return Command{InstrSetPwd, be32(password)} }

// CmdReadSysPara reads the status register and the system parameters.
func CmdReadSysPara() Command { return Command{Instruction: InstrReadSysPara} }

// CmdSetSysPara sets a system parameter.
func CmdSetSysPara(p SysParam, value byte) Command {
	return Command{InstrSetSysPara, []byte{byte(p), value}}
}

// CmdTemplateNum reads how many templates the library holds.
func CmdTemplateNum() Command { return Command{Instruction: InstrTemplateNum} }

// CmdReadIndexTable reads which of page ids 256 x page to 256 x page + 255 hold
// a template.
func CmdReadIndexTable(page byte) Command { return Command{InstrReadIndexTable, []byte{page}} }

// CmdGenImg takes an image of the finger on the sensor into the image buffer.
func CmdGenImg() Command { return Command{Instruction: InstrGenImg} }

// CmdImg2Tz makes the features of the image buffer's image in buffer b.
func CmdImg2Tz(b Buffer) Command { return Command{InstrImg2Tz, []byte{byte(b)}} }

// CmdRegModel combines the two buffers' features into a template, in both.
func CmdRegModel() Command { return Command{Instruction: InstrRegModel} }

// CmdStore stores buffer b's template at page id page.
func CmdStore(b Buffer, page uint16) Command {
	return Command{InstrStore, append([]byte{byte(b)}, be16(page)...)}
}

// CmdLoadChar loads the template at page id page into buffer b.
func CmdLoadChar(b Buffer, page uint16) Command {
	return Command{InstrLoadChar, append([]byte{byte(b)}, be16(page)...)}
}

// CmdSearch searches count page ids from start for buffer b's features.
func CmdSearch(b Buffer, start, count uint16) Command {
	return Command{InstrSearch, append(append([]byte{byte(b)}, be16(start)...), be16(count)...)}
}

// CmdHighSpeedSearch is CmdSearch's fast search.
func CmdHighSpeedSearch(b Buffer, start, count uint16) Command {
	c := CmdSearch(b, start, count)
	c.Instruction = InstrHighSpeedSearch
	return c
}

// CmdMatch compares buffer 1's features with buffer 2's.
func CmdMatch() Command { return Command{Instruction: InstrMatch} }

// CmdDeletChar deletes count templates from page id page.
func CmdDeletChar(page, count uint16) Command {
	return Command{InstrDeletChar, append(be16(page), be16(count)...)}
}

// CmdEmpty deletes every template.
func CmdEmpty() Command { return Command{Instruction: InstrEmpty} }

// CmdAuraLedConfig sets an R503's LED ring.
func CmdAuraLedConfig(a Aura) Command {
	return Command{InstrAuraLedConfig, []byte{byte(a.Control), a.Speed, byte(a.Color), a.Count}}
}

// CmdLEDOn switches a ZFM-60 style module's LED on.
func CmdLEDOn() Command { return Command{Instruction: InstrLEDOn} }

// CmdLEDOff switches it off.
func CmdLEDOff() Command { return Command{Instruction: InstrLEDOff} }

// Reply is an acknowledgement's payload: the confirmation code and what follows.
type Reply struct {
	Code Code
	Data []byte
}

// Payload returns the reply's payload.
func (r Reply) Payload() []byte { return append([]byte{byte(r.Code)}, r.Data...) }

// ErrReply marks an acknowledgement that is not the reply its command has.
var ErrReply = errors.New("fingerprint: bad reply")

// ParseReply splits an acknowledgement's payload into its code and data. It
// refuses an empty payload with an error wrapping ErrReply.
func ParseReply(payload []byte) (Reply, error) {
	if len(payload) == 0 {
		return Reply{}, fmt.Errorf("%w: empty payload", ErrReply)
	}
	return Reply{Code: Code(payload[0]), Data: append([]byte(nil), payload[1:]...)}, nil
}

// ok checks that r is a success with n bytes of data.
func (r Reply) ok(what string, n int) error {
	if r.Code != CodeOK {
		return fmt.Errorf("%w: %s: %s", ErrReply, what, r.Code)
	}
	if len(r.Data) != n {
		return fmt.Errorf("%w: %s with %d bytes of data, want %d", ErrReply, what, len(r.Data), n)
	}
	return nil
}

// The builders of replies and their parsers: the simulator builds, the
// Terminal parses. Each parser takes a reply whose code is CodeOK; it refuses
// any other, and data of another length, with an error wrapping ErrReply.

// SysParams is what ReadSysPara reads.
type SysParams struct {
	// StatusRegister is the system status register (StatusBusy and the rest).
	StatusRegister uint16
	// SystemID is the word the manuals call the system identifier (0x0000 or
	// 0x0009) and the AS608 the sensor type.
	SystemID uint16
	// Capacity is how many templates the library holds: page ids 0 to
	// Capacity-1.
	Capacity int
	// SecurityLevel is the matching threshold, 1 to 5.
	SecurityLevel int
	// Address is the module's address.
	Address uint32
	// PacketSizeCode is the data packets' size code, 0 to 3; PacketSize the
	// bytes it means (32, 64, 128, 256), or 0 for another code.
	PacketSizeCode uint16
	PacketSize     int
	// BaudMultiple is the line's rate as a multiple of 9600; Baud the rate.
	BaudMultiple uint16
	Baud         int
}

// Bits of the status register.
const (
	StatusBusy     uint16 = 1 << 0 // executing a command
	StatusPass     uint16 = 1 << 1 // a finger matched
	StatusPassword uint16 = 1 << 2 // the password was verified
	StatusImage    uint16 = 1 << 3 // a valid image in the image buffer
)

// PacketSizeBytes returns the bytes packet size code c means, or 0.
func PacketSizeBytes(c uint16) int {
	if c > 3 {
		return 0
	}
	return 32 << c
}

// ReplySysParams is ReadSysPara's reply with p. Its sizes are taken from
// PacketSizeCode and BaudMultiple.
func ReplySysParams(p SysParams) Reply {
	d := make([]byte, 0, 16)
	d = append(d, be16(p.StatusRegister)...)
	d = append(d, be16(p.SystemID)...)
	d = append(d, be16(uint16(p.Capacity))...)
	d = append(d, be16(uint16(p.SecurityLevel))...)
	d = append(d, be32(p.Address)...)
	d = append(d, be16(p.PacketSizeCode)...)
	d = append(d, be16(p.BaudMultiple)...)
	return Reply{Data: d}
}

// ParseSysParams parses ReadSysPara's reply.
func ParseSysParams(r Reply) (SysParams, error) {
	if err := r.ok("ReadSysPara", 16); err != nil {
		return SysParams{}, err
	}
	w := func(i int) uint16 { return uint16(r.Data[i])<<8 | uint16(r.Data[i+1]) }
	p := SysParams{StatusRegister: w(0), SystemID: w(2), Capacity: int(w(4)), SecurityLevel: int(w(6)),
		Address: uint32(w(8))<<16 | uint32(w(10)), PacketSizeCode: w(12), BaudMultiple: w(14)}
	p.PacketSize = PacketSizeBytes(p.PacketSizeCode)
	p.Baud = 9600 * int(p.BaudMultiple)
	return p, nil
}

// ReplyTemplateCount is TemplateNum's reply: n templates.
func ReplyTemplateCount(n int) Reply { return Reply{Data: be16(uint16(n))} }

// ParseTemplateCount parses TemplateNum's reply.
func ParseTemplateCount(r Reply) (int, error) {
	if err := r.ok("TemplateNum", 2); err != nil {
		return 0, err
	}
	return int(r.Data[0])<<8 | int(r.Data[1]), nil
}

// IndexPageSlots is how many page ids one page of the index table covers.
const IndexPageSlots = 256

// ReplyIndexTable is ReadIndexTable's reply for index page page: used says
// which page ids hold a template (those outside the page are left out).
func ReplyIndexTable(page int, used func(slot int) bool) Reply {
	d := make([]byte, IndexPageSlots/8)
	for i := range IndexPageSlots {
		if used(page*IndexPageSlots + i) {
			d[i/8] |= 1 << (i % 8)
		}
	}
	return Reply{Data: d}
}

// ParseIndexTable parses ReadIndexTable's reply for index page page: the page
// ids that hold a template, in order.
func ParseIndexTable(r Reply, page int) ([]int, error) {
	if err := r.ok("ReadIndexTable", IndexPageSlots/8); err != nil {
		return nil, err
	}
	var slots []int
	for i, b := range r.Data {
		for bit := range 8 {
			if b&(1<<bit) != 0 {
				slots = append(slots, page*IndexPageSlots+i*8+bit)
			}
		}
	}
	return slots, nil
}

// Found is a search's result: the page id of the template found and its score.
type Found struct {
	Slot, Score int
}

// ReplySearch is Search's and HighSpeedSearch's reply with code c (CodeOK,
// CodeNotFound...) and f (zero when nothing was found, as modules send it).
func ReplySearch(c Code, f Found) Reply {
	return Reply{Code: c, Data: append(be16(uint16(f.Slot)), be16(uint16(f.Score))...)}
}

// ParseSearch parses Search's or HighSpeedSearch's reply.
func ParseSearch(r Reply) (Found, error) {
	if err := r.ok("search", 4); err != nil {
		return Found{}, err
	}
	return Found{Slot: int(r.Data[0])<<8 | int(r.Data[1]), Score: int(r.Data[2])<<8 | int(r.Data[3])}, nil
}

// ReplyMatch is Match's reply with code c (CodeOK, CodeNoMatch) and the score.
func ReplyMatch(c Code, score int) Reply { return Reply{Code: c, Data: be16(uint16(score))} }

// ParseMatch parses Match's reply: the score.
func ParseMatch(r Reply) (int, error) {
	if err := r.ok("Match", 2); err != nil {
		return 0, err
	}
	return int(r.Data[0])<<8 | int(r.Data[1]), nil
}
