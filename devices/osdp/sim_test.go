package osdp

import (
	"bytes"
	"testing"

	"github.com/apedge/apedge/devices/wiegand"
)

func encodeT(t *testing.T, f *Frame) []byte {
	t.Helper()
	b, err := f.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func decodeT(t *testing.T, b []byte) *Frame {
	t.Helper()
	f, err := DecodeFrame(b)
	if err != nil {
		t.Fatalf("DecodeFrame(% x): %v", b, err)
	}
	return f
}

// The simulator's replies, byte for byte, against frames built by the codec.
func TestSimulatorBytes(t *testing.T) {
	id := PDID{Vendor: 0x5C2601, Model: 1, Version: 2, Serial: 0x01020304, Firmware: [3]byte{3, 4, 5}}
	r := NewReader(ReaderConfig{Address: 0, ID: id})
	reply := func(cmd []byte) []byte {
		out, _ := r.handle(decodeT(t, cmd))
		return out
	}
	// Annex E's ID command (address 0, SQN 0, CRC).
	idData, _ := id.MarshalBinary()
	want := encodeT(t, &Frame{Addr: 0, Reply: true, SQN: 0, CRC: true, Code: ReplyPDID, Data: idData})
	if got := reply(unhex(t, "53000900046100c066")); !bytes.Equal(got, want) {
		t.Errorf("PDID reply\n got % x\nwant % x", got, want)
	}
	// POLL with SQN 1 and a checksum: ACK with a checksum.
	poll := encodeT(t, &Frame{Addr: 0, SQN: 1, Code: CmdPOLL})
	want = encodeT(t, &Frame{Addr: 0, Reply: true, SQN: 1, Code: ReplyACK})
	if got := reply(poll); !bytes.Equal(got, want) {
		t.Errorf("ACK reply % x, want % x", got, want)
	}
	// The same POLL again is a retransmission: the same bytes, no new action.
	r.Swipe(mustCard(t, wiegand.Encode26(7, 8), 26))
	if got := reply(poll); !bytes.Equal(got, want) {
		t.Errorf("retransmitted reply % x, want % x", got, want)
	}
	// Next POLL reports the card as osdp_RAW.
	poll2 := encodeT(t, &Frame{Addr: 0, SQN: 2, CRC: true, Code: CmdPOLL})
	raw, _ := RawCard{Format: FormatRawWiegand, Bits: 26, Data: wiegand.Encode26(7, 8)}.MarshalBinary()
	want = encodeT(t, &Frame{Addr: 0, Reply: true, SQN: 2, CRC: true, Code: ReplyRAW, Data: raw})
	if got := reply(poll2); !bytes.Equal(got, want) {
		t.Errorf("RAW reply % x, want % x", got, want)
	}
	// A skipped sequence number is NAKed.
	bad := encodeT(t, &Frame{Addr: 0, SQN: 1, CRC: true, Code: CmdLSTAT})
	want = encodeT(t, &Frame{Addr: 0, Reply: true, SQN: 1, CRC: true, Code: ReplyNAK, Data: []byte{NakSequence}})
	if got := reply(bad); !bytes.Equal(got, want) {
		t.Errorf("sequence NAK % x, want % x", got, want)
	}
	// After a reboot only SQN 0 is accepted.
	r.Reboot()
	p3 := encodeT(t, &Frame{Addr: 0, SQN: 3, CRC: true, Code: CmdPOLL})
	want = encodeT(t, &Frame{Addr: 0, Reply: true, SQN: 3, CRC: true, Code: ReplyNAK, Data: []byte{NakSequence}})
	if got := reply(p3); !bytes.Equal(got, want) {
		t.Errorf("NAK after reboot % x, want % x", got, want)
	}
	// Powered off: no answer.
	r.PowerOff(true)
	if got := reply(encodeT(t, &Frame{Addr: 0, SQN: 0, CRC: true, Code: CmdPOLL})); got != nil {
		t.Errorf("powered-off reader answered % x", got)
	}
	if r.Stats().Ignored != 1 {
		t.Errorf("ignored %d", r.Stats().Ignored)
	}
}

// A full handshake between the panel's and the reader's code, by hand: the
// reader's cryptogram, the server cryptogram and RMAC_I agree, and a secure POLL
// gets a MACed ACK that the panel side accepts.
func TestSimulatorHandshake(t *testing.T) {
	key := testKey(3)
	r := NewReader(ReaderConfig{Address: 4, SCBK: key})
	rndA := [8]byte{1, 2, 3, 4, 5, 6, 7, 8}
	out, _ := r.handle(decodeT(t, encodeT(t, &Frame{Addr: 4, CRC: true, SCB: []byte{3, SCS11, 1}, Code: CmdCHLNG, Data: rndA[:]})))
	f := decodeT(t, out)
	rep, err := ParseReply(f.Code, f.Data)
	if err != nil || f.SCBType() != SCS12 {
		t.Fatalf("CCRYPT: %v %v", f, err)
	}
	cc := rep.(CCryptReply)
	keys, _ := deriveKeys(key, rndA)
	if clientCryptogram(keys, rndA, cc.RNDB) != cc.Cryptogram {
		t.Fatal("client cryptogram mismatch")
	}
	server := serverCryptogram(keys, rndA, cc.RNDB)
	out, _ = r.handle(decodeT(t, encodeT(t, &Frame{Addr: 4, SQN: 1, CRC: true, SCB: []byte{3, SCS13, 1}, Code: CmdSCRYPT, Data: server[:]})))
	f = decodeT(t, out)
	rep, err = ParseReply(f.Code, f.Data)
	if err != nil || f.SCBType() != SCS14 || f.SCB[2] != 1 || rep.(RMACIReply).MAC != initialRMAC(keys, server) {
		t.Fatalf("RMAC_I: %v %v", f, err)
	}
	cp := newSession(keys, initialRMAC(keys, server))
	poll := &Frame{Addr: 4, SQN: 2, CRC: true, Code: CmdPOLL}
	cp.sealCommand(poll)
	out, _ = r.handle(decodeT(t, encodeT(t, poll)))
	f = decodeT(t, out)
	if f.SCBType() != SCS16 || f.Code != ReplyACK {
		t.Fatalf("secure ACK: %v", f)
	}
	if err := cp.openReply(f); err != nil {
		t.Fatalf("secure ACK MAC: %v", err)
	}
	// A command with data goes encrypted (SCS_17) and its reply comes back SCS_18.
	out2 := &Frame{Addr: 4, SQN: 3, CRC: true, Code: CmdOUT, Data: []byte{0, 2, 0, 0}}
	cp.sealCommand(out2)
	if out2.SCBType() != SCS17 || len(out2.Data) != 16 {
		t.Fatalf("sealed OUT %v", out2)
	}
	out, _ = r.handle(decodeT(t, encodeT(t, out2)))
	f = decodeT(t, out)
	if err := cp.openReply(f); err != nil || f.SCBType() != SCS18 || f.Code != ReplyOSTATR || !bytes.Equal(f.Data, []byte{1, 0}) {
		t.Fatalf("OSTATR: %v %v", f, err)
	}
	// A forged MAC makes the reader drop the session and NAK in clear.
	forged := &Frame{Addr: 4, SQN: 1, CRC: true, Code: CmdPOLL}
	cp.sealCommand(forged)
	forged.MAC[0] ^= 1
	out, _ = r.handle(decodeT(t, encodeT(t, forged)))
	f = decodeT(t, out)
	if f.Code != ReplyNAK || f.SCB != nil || f.Data[0] != NakSCCondition || r.Secure() {
		t.Fatalf("forged MAC: %v secure=%v", f, r.Secure())
	}
}
