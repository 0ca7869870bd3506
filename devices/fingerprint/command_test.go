package fingerprint

import (
	"errors"
	"fmt"
	"reflect"
	"testing"
)

// TestCommandPayloads: each builder makes the payload the package doc's table
// gives, and ParseCommand reads it back.
func TestCommandPayloads(t *testing.T) {
	tests := []struct {
		c    Command
		want string
	}{
		{CmdVfyPwd(0x01020304), "1301020304"},
		{CmdSetPwd(0xA1B2C3D4), "12A1B2C3D4"},
		{CmdReadSysPara(), "0F"},
		{CmdSetSysPara(ParamSecurityLevel, 4), "0E0504"},
		{CmdTemplateNum(), "1D"},
		{CmdReadIndexTable(3), "1F03"},
		{CmdGenImg(), "01"},
		{CmdImg2Tz(CharBuffer2), "0202"},
		{CmdRegModel(), "05"},
		{CmdStore(CharBuffer1, 0x03E7), "060103E7"},
		{CmdLoadChar(CharBuffer2, 0x0100), "07020100"},
		{CmdSearch(CharBuffer1, 0, 0x00A3), "04010000" + "00A3"},
		{CmdHighSpeedSearch(CharBuffer2, 0x0010, 0x03E8), "1B020010" + "03E8"},
		{CmdMatch(), "03"},
		{CmdDeletChar(0x0102, 0x0003), "0C01020003"},
		{CmdEmpty(), "0D"},
		{CmdAuraLedConfig(Aura{AuraBreathing, 0xC8, AuraBlue, 5}), "3501C80205"},
		{CmdLEDOn(), "50"},
		{CmdLEDOff(), "51"},
	}
	for _, tt := range tests {
		if got := fmt.Sprintf("%X", tt.c.Payload()); got != tt.want {
			t.Errorf("%s: payload %s, want %s", tt.c, got, tt.want)
		}
		back, err := ParseCommand(tt.c.Payload())
		if err != nil || back.Instruction != tt.c.Instruction || fmt.Sprintf("%X", back.Params) != fmt.Sprintf("%X", tt.c.Params) {
			t.Errorf("%s: ParseCommand = %v, %v", tt.c, back, err)
		}
		if tt.c.Instruction.String() == fmt.Sprintf("instruction %#02x", byte(tt.c.Instruction)) {
			t.Errorf("instruction %#02x has no name", byte(tt.c.Instruction))
		}
	}
}

func TestParseCommandRefuses(t *testing.T) {
	for _, p := range [][]byte{nil, {0x13, 0, 0}, {0x01, 0}, {0x04, 1, 0, 0, 0}, {0x1F}} {
		if c, err := ParseCommand(p); !errors.Is(err, ErrCommand) {
			t.Errorf("ParseCommand(% X) = %v, %v", p, c, err)
		}
	}
	c, err := ParseCommand([]byte{0x3C, 9})
	if err != nil || c.Instruction != 0x3C || c.Instruction.String() != "instruction 0x3c" {
		t.Errorf("an instruction not known: %v, %v", c, err)
	}
}

// TestReplyRoundTrips: what the simulator's reply builders make, the
// Terminal's parsers read back.
func TestReplyRoundTrips(t *testing.T) {
	p := SysParams{StatusRegister: StatusPassword | StatusImage, SystemID: 0x0009, Capacity: 1000, SecurityLevel: 5,
		Address: 0x12345678, PacketSizeCode: 3, PacketSize: 256, BaudMultiple: 12, Baud: 115200}
	if got, err := ParseSysParams(ReplySysParams(p)); err != nil || got != p {
		t.Errorf("sys params %+v, %v; want %+v", got, err, p)
	}
	if n, err := ParseTemplateCount(ReplyTemplateCount(999)); err != nil || n != 999 {
		t.Errorf("template count %d, %v", n, err)
	}
	used := map[int]bool{256: true, 263: true, 264: true, 511: true, 512: true, 3: true}
	slots, err := ParseIndexTable(ReplyIndexTable(1, func(s int) bool { return used[s] }), 1)
	if err != nil || !reflect.DeepEqual(slots, []int{256, 263, 264, 511}) {
		t.Errorf("index page 1: %v, %v", slots, err)
	}
	if f, err := ParseSearch(ReplySearch(CodeOK, Found{Slot: 0x03E7, Score: 0x00C8})); err != nil || f != (Found{999, 200}) {
		t.Errorf("search %+v, %v", f, err)
	}
	if s, err := ParseMatch(ReplyMatch(CodeOK, 275)); err != nil || s != 275 {
		t.Errorf("match %d, %v", s, err)
	}
}

// TestIndexTableBitOrder: bit 0 of the first byte is page id 0 (ZFM-20 6.1 (6)'s
// table, pyfingerprint, the CircuitPython library).
func TestIndexTableBitOrder(t *testing.T) {
	data := make([]byte, 32)
	data[0], data[1], data[31] = 0x01, 0x80, 0x80
	slots, err := ParseIndexTable(Reply{Data: data}, 2)
	if want := []int{512, 527, 767}; err != nil || !reflect.DeepEqual(slots, want) {
		t.Errorf("%v, %v; want %v", slots, err, want)
	}
}

// TestSysParamsSizes: the packet size code and baud multiple as bytes and baud.
func TestSysParamsSizes(t *testing.T) {
	for code, want := range map[uint16]int{0: 32, 1: 64, 2: 128, 3: 256, 4: 0, 0xFFFF: 0} {
		if got := PacketSizeBytes(code); got != want {
			t.Errorf("PacketSizeBytes(%d) = %d, want %d", code, got, want)
		}
	}
}

func TestReplyParsersRefuse(t *testing.T) {
	if _, err := ParseReply(nil); !errors.Is(err, ErrReply) {
		t.Errorf("ParseReply(nil): %v", err)
	}
	short := Reply{Data: []byte{0, 1, 2}}
	notOK := Reply{Code: CodeNotFound, Data: make([]byte, 4)}
	checks := []struct {
		name string
		err  func(Reply) error
	}{
		{"sys params", func(r Reply) error { _, err := ParseSysParams(r); return err }},
		{"template count", func(r Reply) error { _, err := ParseTemplateCount(Reply{Code: r.Code, Data: r.Data[:1]}); return err }},
		{"index table", func(r Reply) error { _, err := ParseIndexTable(r, 0); return err }},
		{"search", func(r Reply) error { _, err := ParseSearch(Reply{Code: r.Code, Data: r.Data[:3]}); return err }},
		{"match", func(r Reply) error { _, err := ParseMatch(Reply{Code: r.Code, Data: r.Data[:1]}); return err }},
	}
	for _, c := range checks {
		if err := c.err(short); !errors.Is(err, ErrReply) {
			t.Errorf("%s of a short reply: %v", c.name, err)
		}
		if err := c.err(notOK); !errors.Is(err, ErrReply) {
			t.Errorf("%s of a refusal: %v", c.name, err)
		}
	}
}

// FuzzReplies: no parser panics on any payload.
func FuzzReplies(f *testing.F) {
	f.Add([]byte{0})
	f.Add(ReplySysParams(SysParams{Capacity: 200}).Payload())
	f.Add(ReplySearch(CodeOK, Found{1, 2}).Payload())
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseReply(b)
		if err != nil {
			return
		}
		ParseSysParams(r)
		ParseTemplateCount(r)
		ParseIndexTable(r, int(r.Code)%4)
		ParseSearch(r)
		ParseMatch(r)
		ParseCommand(b)
		_ = r.Code.String()
	})
}
