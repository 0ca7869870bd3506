package osdp

import (
	"encoding/binary"
	"fmt"
)

// Command codes (SIA OSDP v2.2, 6 "Command Messages"; libosdp src/osdp_common.h).
const (
	CmdPOLL   = 0x60
	CmdID     = 0x61
	CmdCAP    = 0x62
	CmdLSTAT  = 0x64
	CmdISTAT  = 0x65
	CmdOSTAT  = 0x66
	CmdRSTAT  = 0x67
	CmdOUT    = 0x68
	CmdLED    = 0x69
	CmdBUZ    = 0x6A
	CmdTEXT   = 0x6B
	CmdCOMSET = 0x6E
	CmdKEYSET = 0x75
	CmdCHLNG  = 0x76
	CmdSCRYPT = 0x77
)

// Command is a command the panel sends to a PD.
type Command interface {
	// Code is the command code, one of the Cmd constants.
	Code() byte
	// MarshalBinary returns the command's data, the bytes after the code.
	MarshalBinary() ([]byte, error)
}

// PollCommand is osdp_POLL: "anything to report?".
type PollCommand struct{}

// IDCommand is osdp_ID: asks for the PD's identification (osdp_PDID).
type IDCommand struct{}

// CapCommand is osdp_CAP: asks for the PD's capabilities (osdp_PDCAP).
type CapCommand struct{}

// LocalStatusCommand is osdp_LSTAT: asks for tamper and power status (osdp_LSTATR).
type LocalStatusCommand struct{}

// InputStatusCommand is osdp_ISTAT: asks for input status (osdp_ISTATR).
type InputStatusCommand struct{}

// OutputStatusCommand is osdp_OSTAT: asks for output status (osdp_OSTATR).
type OutputStatusCommand struct{}

// Code implements Command.
func (PollCommand) Code() byte { return CmdPOLL }

// Code implements Command.
func (IDCommand) Code() byte { return CmdID }

// Code implements Command.
func (CapCommand) Code() byte { return CmdCAP }

// Code implements Command.
func (LocalStatusCommand) Code() byte { return CmdLSTAT }

// Code implements Command.
func (InputStatusCommand) Code() byte { return CmdISTAT }

// Code implements Command.
func (OutputStatusCommand) Code() byte { return CmdOSTAT }

// MarshalBinary implements Command: no data.
func (PollCommand) MarshalBinary() ([]byte, error) { return nil, nil }

// MarshalBinary implements Command: the reply type, 0 (standard).
func (IDCommand) MarshalBinary() ([]byte, error) { return []byte{0}, nil }

// MarshalBinary implements Command: the reply type, 0 (standard).
func (CapCommand) MarshalBinary() ([]byte, error) { return []byte{0}, nil }

// MarshalBinary implements Command: no data.
func (LocalStatusCommand) MarshalBinary() ([]byte, error) { return nil, nil }

// MarshalBinary implements Command: no data.
func (InputStatusCommand) MarshalBinary() ([]byte, error) { return nil, nil }

// MarshalBinary implements Command: no data.
func (OutputStatusCommand) MarshalBinary() ([]byte, error) { return nil, nil }

// LED colours (SIA OSDP v2.2, 6.10).
const (
	ColorBlack = 0
	ColorRed   = 1
	ColorGreen = 2
	ColorAmber = 3
	ColorBlue  = 4
)

// LEDTemporary is the temporary part of an LED command: a pattern that runs for
// Timer (in units of 100 ms) and then gives way to the permanent state. Control is
// 0 no change, 1 cancel the temporary state, 2 set it. On and off times are in units
// of 100 ms.
type LEDTemporary struct {
	Control           byte
	OnTime, OffTime   byte
	OnColor, OffColor byte
	Timer             uint16
}

// LEDPermanent is the permanent part of an LED command. Control is 0 no change, 1
// set. On and off times are in units of 100 ms.
type LEDPermanent struct {
	Control           byte
	OnTime, OffTime   byte
	OnColor, OffColor byte
}

// LEDCommand is osdp_LED (14 bytes): one LED record.
type LEDCommand struct {
	Reader    byte
	Number    byte
	Temporary LEDTemporary
	Permanent LEDPermanent
}

// Code implements Command.
func (LEDCommand) Code() byte { return CmdLED }

// MarshalBinary implements Command.
func (c LEDCommand) MarshalBinary() ([]byte, error) {
	t, p := c.Temporary, c.Permanent
	return []byte{c.Reader, c.Number,
		t.Control, t.OnTime, t.OffTime, t.OnColor, t.OffColor, byte(t.Timer), byte(t.Timer >> 8),
		p.Control, p.OnTime, p.OffTime, p.OnColor, p.OffColor}, nil
}

// BuzzerCommand is osdp_BUZ (5 bytes). Tone is 0 no tone, 1 off, 2 default tone; on
// and off times are in units of 100 ms; Count 0 means until told otherwise.
type BuzzerCommand struct {
	Reader          byte
	Tone            byte
	OnTime, OffTime byte
	Count           byte
}

// Code implements Command.
func (BuzzerCommand) Code() byte { return CmdBUZ }

// MarshalBinary implements Command.
func (c BuzzerCommand) MarshalBinary() ([]byte, error) {
	return []byte{c.Reader, c.Tone, c.OnTime, c.OffTime, c.Count}, nil
}

// OutputCommand is osdp_OUT (4 bytes): one output record. Control codes: 0 no
// change, 1 permanent off (abort timed), 2 permanent on (abort timed), 3 permanent
// off (allow timed), 4 permanent on (allow timed), 5 temporary on then off, 6
// temporary off then on. Timer is in units of 100 ms.
type OutputCommand struct {
	Number  byte
	Control byte
	Timer   uint16
}

// Code implements Command.
func (OutputCommand) Code() byte { return CmdOUT }

// MarshalBinary implements Command.
func (c OutputCommand) MarshalBinary() ([]byte, error) {
	return []byte{c.Number, c.Control, byte(c.Timer), byte(c.Timer >> 8)}, nil
}

// ComSetCommand is osdp_COMSET (5 bytes): asks the PD to change its address and
// baud rate. The PD answers osdp_COM with the settings it will use.
type ComSetCommand struct {
	Address byte
	Baud    uint32
}

// Code implements Command.
func (ComSetCommand) Code() byte { return CmdCOMSET }

// MarshalBinary implements Command.
func (c ComSetCommand) MarshalBinary() ([]byte, error) {
	if c.Address > 0x7E {
		return nil, fmt.Errorf("osdp: COMSET address %d out of range", c.Address)
	}
	b := []byte{c.Address, 0, 0, 0, 0}
	binary.LittleEndian.PutUint32(b[1:], c.Baud)
	return b, nil
}

// KeySetCommand is osdp_KEYSET: sets the PD's secure channel base key. It is only
// sent inside a secure channel (the panel does so in install mode).
type KeySetCommand struct {
	Key []byte // 16 bytes
}

// Code implements Command.
func (KeySetCommand) Code() byte { return CmdKEYSET }

// MarshalBinary implements Command: key type 1 (SCBK), length, key.
func (c KeySetCommand) MarshalBinary() ([]byte, error) {
	if len(c.Key) != 16 {
		return nil, fmt.Errorf("osdp: KEYSET key of %d bytes, want 16", len(c.Key))
	}
	return append([]byte{1, 16}, c.Key...), nil
}

// UnknownCommand is a command this package does not decode.
type UnknownCommand struct {
	Cmd  byte
	Data []byte
}

// Code implements Command.
func (c UnknownCommand) Code() byte { return c.Cmd }

// MarshalBinary implements Command.
func (c UnknownCommand) MarshalBinary() ([]byte, error) { return c.Data, nil }

// ParseCommand decodes a command's data. Unknown codes decode as UnknownCommand. A
// length that does not match the command is an error. It never panics.
func ParseCommand(code byte, data []byte) (Command, error) {
	want := func(n int) error {
		if len(data) != n {
			return fmt.Errorf("osdp: command %#02x: %d data bytes, want %d", code, len(data), n)
		}
		return nil
	}
	switch code {
	case CmdPOLL:
		return PollCommand{}, want(0)
	case CmdID:
		return IDCommand{}, want(1)
	case CmdCAP:
		return CapCommand{}, want(1)
	case CmdLSTAT:
		return LocalStatusCommand{}, want(0)
	case CmdISTAT:
		return InputStatusCommand{}, want(0)
	case CmdOSTAT:
		return OutputStatusCommand{}, want(0)
	case CmdLED:
		if err := want(14); err != nil {
			return nil, err
		}
		d := data
		return LEDCommand{Reader: d[0], Number: d[1],
			Temporary: LEDTemporary{Control: d[2], OnTime: d[3], OffTime: d[4], OnColor: d[5], OffColor: d[6],
				Timer: binary.LittleEndian.Uint16(d[7:9])},
			Permanent: LEDPermanent{Control: d[9], OnTime: d[10], OffTime: d[11], OnColor: d[12], OffColor: d[13]},
		}, nil
	case CmdBUZ:
		if err := want(5); err != nil {
			return nil, err
		}
		return BuzzerCommand{Reader: data[0], Tone: data[1], OnTime: data[2], OffTime: data[3], Count: data[4]}, nil
	case CmdOUT:
		if err := want(4); err != nil {
			return nil, err
		}
		return OutputCommand{Number: data[0], Control: data[1], Timer: binary.LittleEndian.Uint16(data[2:])}, nil
	case CmdCOMSET:
		if err := want(5); err != nil {
			return nil, err
		}
		return ComSetCommand{Address: data[0], Baud: binary.LittleEndian.Uint32(data[1:])}, nil
	case CmdKEYSET:
		if err := want(18); err != nil {
			return nil, err
		}
		if data[0] != 1 || data[1] != 16 {
			return nil, fmt.Errorf("osdp: KEYSET key type %d length %d, want type 1 length 16", data[0], data[1])
		}
		return KeySetCommand{Key: append([]byte(nil), data[2:]...)}, nil
	}
	return UnknownCommand{Cmd: code, Data: append([]byte(nil), data...)}, nil
}
