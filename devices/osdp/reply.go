package osdp

import (
	"encoding/binary"
	"fmt"
	"strings"
)

// Reply codes (SIA OSDP v2.2, 7 "Reply Messages"; libosdp src/osdp_common.h).
const (
	ReplyACK    = 0x40
	ReplyNAK    = 0x41
	ReplyPDID   = 0x45
	ReplyPDCAP  = 0x46
	ReplyLSTATR = 0x48
	ReplyISTATR = 0x49
	ReplyOSTATR = 0x4A
	ReplyRSTATR = 0x4B
	ReplyRAW    = 0x50
	ReplyFMT    = 0x51
	ReplyKEYPAD = 0x53
	ReplyCOM    = 0x54
	ReplyCCRYPT = 0x76
	ReplyRMACI  = 0x78
	ReplyBUSY   = 0x79
)

// NAK reason codes (SIA OSDP v2.2, 7.3; libosdp get_nac_reason in src/osdp_phy.c).
const (
	NakNone        = 0x00
	NakCheck       = 0x01 // bad checksum or CRC
	NakLength      = 0x02 // command length error
	NakUnknownCmd  = 0x03 // unknown command code
	NakSequence    = 0x04 // unexpected sequence number
	NakSCBUnsup    = 0x05 // security block not supported
	NakSCCondition = 0x06 // communication security conditions not met
	NakBioType     = 0x07 // BIO_TYPE not supported
	NakBioFormat   = 0x08 // BIO_FORMAT not supported
	NakRecord      = 0x09 // unable to process the command record
)

// Reply is a PD's answer to a command.
type Reply interface {
	// Code is the reply code, one of the Reply constants.
	Code() byte
	// MarshalBinary returns the reply's data, the bytes after the code.
	MarshalBinary() ([]byte, error)
}

// Ack is osdp_ACK: the command was accepted, nothing to report.
type Ack struct{}

// Code implements Reply.
func (Ack) Code() byte { return ReplyACK }

// MarshalBinary implements Reply.
func (Ack) MarshalBinary() ([]byte, error) { return nil, nil }

// Busy is osdp_BUSY: the PD cannot answer now; the panel sends the same frame again.
type Busy struct{}

// Code implements Reply.
func (Busy) Code() byte { return ReplyBUSY }

// MarshalBinary implements Reply.
func (Busy) MarshalBinary() ([]byte, error) { return nil, nil }

// NakError is osdp_NAK: the PD refused a command. It is both a Reply and an error.
type NakError struct {
	Addr   int
	Reason byte
}

// Code implements Reply.
func (*NakError) Code() byte { return ReplyNAK }

// MarshalBinary implements Reply.
func (e *NakError) MarshalBinary() ([]byte, error) { return []byte{e.Reason}, nil }

var nakText = map[byte]string{
	NakCheck:       "bad checksum or CRC",
	NakLength:      "command length error",
	NakUnknownCmd:  "unknown command",
	NakSequence:    "unexpected sequence number",
	NakSCBUnsup:    "security block not supported",
	NakSCCondition: "security conditions not met",
	NakBioType:     "BIO_TYPE not supported",
	NakBioFormat:   "BIO_FORMAT not supported",
	NakRecord:      "unable to process command record",
}

// Error implements error.
func (e *NakError) Error() string {
	t, ok := nakText[e.Reason]
	if !ok {
		t = "unknown reason"
	}
	return fmt.Sprintf("osdp: pd %d: NAK %#02x: %s", e.Addr, e.Reason, t)
}

// PDID is osdp_PDID: who made the PD and what it runs.
type PDID struct {
	Vendor   uint32 // IEEE OUI, 24 bits
	Model    byte
	Version  byte
	Serial   uint32
	Firmware [3]byte // major, minor, build
}

// Code implements Reply.
func (PDID) Code() byte { return ReplyPDID }

// MarshalBinary implements Reply.
func (r PDID) MarshalBinary() ([]byte, error) {
	b := []byte{byte(r.Vendor), byte(r.Vendor >> 8), byte(r.Vendor >> 16), r.Model, r.Version, 0, 0, 0, 0,
		r.Firmware[0], r.Firmware[1], r.Firmware[2]}
	binary.LittleEndian.PutUint32(b[5:9], r.Serial)
	return b, nil
}

// Capability is one osdp_PDCAP entry.
type Capability struct {
	Function   byte
	Compliance byte
	Items      byte
}

// Capability function codes used by this package (SIA OSDP v2.2, 7.5).
const (
	CapContactStatus  = 1
	CapOutputControl  = 2
	CapCardFormat     = 3
	CapReaderLED      = 4
	CapReaderAudible  = 5
	CapReaderText     = 6
	CapCheckCharacter = 8
	CapCommSecurity   = 9
	CapReceiveBuffer  = 10
	CapOSDPVersion    = 16
)

// PDCapabilities is osdp_PDCAP.
type PDCapabilities []Capability

// Code implements Reply.
func (PDCapabilities) Code() byte { return ReplyPDCAP }

// MarshalBinary implements Reply.
func (r PDCapabilities) MarshalBinary() ([]byte, error) {
	b := make([]byte, 0, 3*len(r))
	for _, c := range r {
		b = append(b, c.Function, c.Compliance, c.Items)
	}
	return b, nil
}

// LocalStatus is osdp_LSTATR: tamper and power-fault status.
type LocalStatus struct {
	Tamper bool
	Power  bool // true: power failure
}

// Code implements Reply.
func (LocalStatus) Code() byte { return ReplyLSTATR }

// MarshalBinary implements Reply.
func (r LocalStatus) MarshalBinary() ([]byte, error) { return []byte{b2u(r.Tamper), b2u(r.Power)}, nil }

func b2u(b bool) byte {
	if b {
		return 1
	}
	return 0
}

// InputStatus is osdp_ISTATR: one byte per input, 0 inactive, 1 active.
type InputStatus []byte

// Code implements Reply.
func (InputStatus) Code() byte { return ReplyISTATR }

// MarshalBinary implements Reply.
func (r InputStatus) MarshalBinary() ([]byte, error) { return []byte(r), nil }

// OutputStatus is osdp_OSTATR: one byte per output, 0 inactive, 1 active.
type OutputStatus []byte

// Code implements Reply.
func (OutputStatus) Code() byte { return ReplyOSTATR }

// MarshalBinary implements Reply.
func (r OutputStatus) MarshalBinary() ([]byte, error) { return []byte(r), nil }

// Raw card data format codes (SIA OSDP v2.2, 7.10).
const (
	FormatRawUnspecified = 0x00
	FormatRawWiegand     = 0x01 // Wiegand with parity bits included
)

// RawCard is osdp_RAW: card data as read, bits packed most significant first.
type RawCard struct {
	Reader byte
	Format byte
	Bits   int
	Data   []byte
}

// Code implements Reply.
func (RawCard) Code() byte { return ReplyRAW }

// MarshalBinary implements Reply.
func (r RawCard) MarshalBinary() ([]byte, error) {
	if r.Bits < 0 || r.Bits > 0xFFFF || len(r.Data) != (r.Bits+7)/8 {
		return nil, fmt.Errorf("osdp: RAW of %d bits in %d bytes", r.Bits, len(r.Data))
	}
	return append([]byte{r.Reader, r.Format, byte(r.Bits), byte(r.Bits >> 8)}, r.Data...), nil
}

// FormattedCard is osdp_FMT: card data as characters (deprecated by v2.2 but still
// sent by some readers).
type FormattedCard struct {
	Reader    byte
	Direction byte
	Chars     []byte
}

// Code implements Reply.
func (FormattedCard) Code() byte { return ReplyFMT }

// MarshalBinary implements Reply.
func (r FormattedCard) MarshalBinary() ([]byte, error) {
	if len(r.Chars) > 0xFF {
		return nil, fmt.Errorf("osdp: FMT of %d characters", len(r.Chars))
	}
	return append([]byte{r.Reader, r.Direction, byte(len(r.Chars))}, r.Chars...), nil
}

// KeypadData is osdp_KEYPAD. Keys holds the digits as text; on the wire '*' is 0x7F
// and '#' is 0x0D (SIA OSDP v2.2, 7.12).
type KeypadData struct {
	Reader byte
	Keys   string
}

// Code implements Reply.
func (KeypadData) Code() byte { return ReplyKEYPAD }

// MarshalBinary implements Reply.
func (r KeypadData) MarshalBinary() ([]byte, error) {
	if len(r.Keys) > 0xFF {
		return nil, fmt.Errorf("osdp: KEYPAD of %d keys", len(r.Keys))
	}
	b := []byte{r.Reader, byte(len(r.Keys))}
	for i := 0; i < len(r.Keys); i++ {
		c := r.Keys[i]
		switch c {
		case '*':
			c = 0x7F
		case '#':
			c = 0x0D
		}
		b = append(b, c)
	}
	return b, nil
}

func keysFromWire(b []byte) string {
	var s strings.Builder
	for _, c := range b {
		switch c {
		case 0x7F:
			c = '*'
		case 0x0D:
			c = '#'
		}
		s.WriteByte(c)
	}
	return s.String()
}

// ComReply is osdp_COM: the address and baud rate the PD will use.
type ComReply struct {
	Address byte
	Baud    uint32
}

// Code implements Reply.
func (ComReply) Code() byte { return ReplyCOM }

// MarshalBinary implements Reply.
func (r ComReply) MarshalBinary() ([]byte, error) {
	b := []byte{r.Address, 0, 0, 0, 0}
	binary.LittleEndian.PutUint32(b[1:], r.Baud)
	return b, nil
}

// CCryptReply is osdp_CCRYPT, the PD's answer to osdp_CHLNG: its client UID, its
// random number RND.B and the client cryptogram.
type CCryptReply struct {
	UID, RNDB  [8]byte
	Cryptogram [16]byte
}

// Code implements Reply.
func (CCryptReply) Code() byte { return ReplyCCRYPT }

// MarshalBinary implements Reply.
func (r CCryptReply) MarshalBinary() ([]byte, error) {
	b := append(r.UID[:0:0], r.UID[:]...)
	b = append(b, r.RNDB[:]...)
	return append(b, r.Cryptogram[:]...), nil
}

// RMACIReply is osdp_RMAC_I, the PD's answer to osdp_SCRYPT: the initial reply MAC.
type RMACIReply struct {
	MAC [16]byte
}

// Code implements Reply.
func (RMACIReply) Code() byte { return ReplyRMACI }

// MarshalBinary implements Reply.
func (r RMACIReply) MarshalBinary() ([]byte, error) { return append([]byte(nil), r.MAC[:]...), nil }

// UnknownReply is a reply this package does not decode.
type UnknownReply struct {
	Reply byte
	Data  []byte
}

// Code implements Reply.
func (r UnknownReply) Code() byte { return r.Reply }

// MarshalBinary implements Reply.
func (r UnknownReply) MarshalBinary() ([]byte, error) { return r.Data, nil }

// ParseReply decodes a reply's data. Unknown codes decode as UnknownReply. It never
// panics; lengths that do not fit the reply are errors.
func ParseReply(code byte, data []byte) (Reply, error) {
	bad := func(want string) error {
		return fmt.Errorf("osdp: reply %#02x: %d data bytes, want %s", code, len(data), want)
	}
	switch code {
	case ReplyACK:
		return Ack{}, nil
	case ReplyBUSY:
		return Busy{}, nil
	case ReplyNAK:
		if len(data) < 1 {
			return nil, bad("at least 1")
		}
		return &NakError{Reason: data[0]}, nil
	case ReplyPDID:
		if len(data) != 12 {
			return nil, bad("12")
		}
		return PDID{Vendor: uint32(data[0]) | uint32(data[1])<<8 | uint32(data[2])<<16, Model: data[3], Version: data[4],
			Serial: binary.LittleEndian.Uint32(data[5:9]), Firmware: [3]byte{data[9], data[10], data[11]}}, nil
	case ReplyPDCAP:
		if len(data)%3 != 0 {
			return nil, bad("a multiple of 3")
		}
		caps := make(PDCapabilities, 0, len(data)/3)
		for i := 0; i+3 <= len(data); i += 3 {
			caps = append(caps, Capability{Function: data[i], Compliance: data[i+1], Items: data[i+2]})
		}
		return caps, nil
	case ReplyLSTATR:
		if len(data) != 2 {
			return nil, bad("2")
		}
		return LocalStatus{Tamper: data[0] != 0, Power: data[1] != 0}, nil
	case ReplyISTATR:
		return InputStatus(append([]byte{}, data...)), nil
	case ReplyOSTATR:
		return OutputStatus(append([]byte{}, data...)), nil
	case ReplyRAW:
		if len(data) < 4 {
			return nil, bad("at least 4")
		}
		bits := int(binary.LittleEndian.Uint16(data[2:4]))
		if len(data)-4 != (bits+7)/8 {
			return nil, fmt.Errorf("osdp: RAW: %d bits in %d bytes", bits, len(data)-4)
		}
		return RawCard{Reader: data[0], Format: data[1], Bits: bits, Data: append([]byte{}, data[4:]...)}, nil
	case ReplyFMT:
		if len(data) < 3 || len(data)-3 != int(data[2]) {
			return nil, bad("3 plus the character count")
		}
		return FormattedCard{Reader: data[0], Direction: data[1], Chars: append([]byte{}, data[3:]...)}, nil
	case ReplyKEYPAD:
		if len(data) < 2 || len(data)-2 != int(data[1]) {
			return nil, bad("2 plus the key count")
		}
		return KeypadData{Reader: data[0], Keys: keysFromWire(data[2:])}, nil
	case ReplyCOM:
		if len(data) != 5 {
			return nil, bad("5")
		}
		return ComReply{Address: data[0], Baud: binary.LittleEndian.Uint32(data[1:])}, nil
	case ReplyCCRYPT:
		if len(data) != 32 {
			return nil, bad("32")
		}
		var r CCryptReply
		copy(r.UID[:], data[0:8])
		copy(r.RNDB[:], data[8:16])
		copy(r.Cryptogram[:], data[16:32])
		return r, nil
	case ReplyRMACI:
		if len(data) != 16 {
			return nil, bad("16")
		}
		var r RMACIReply
		copy(r.MAC[:], data)
		return r, nil
	}
	return UnknownReply{Reply: code, Data: append([]byte{}, data...)}, nil
}
