package fingerprint

import (
	"context"
	"errors"
	"fmt"
	"io"
	"reflect"
	"sync"
	"testing"
	"time"
)

const (
	fingerA = "X100001/right-index"
	fingerB = "X100002/left-thumb"
)

// enrol takes finger twice into the two buffers, combines them and stores the
// template at slot, as an enrolment does.
func enrol(t *testing.T, ctx context.Context, term *Terminal, sim *Sim, f string, slot int) {
	t.Helper()
	sim.PlaceFinger(f)
	capture(t, ctx, term, CharBuffer1)
	sim.LiftFinger()
	if err := term.CaptureImage(ctx); !errors.Is(err, ErrNoFinger) {
		t.Fatalf("CaptureImage with the finger lifted: %v", err)
	}
	sim.PlaceFinger(f)
	capture(t, ctx, term, CharBuffer2)
	must(t, "CreateModel", term.CreateModel(ctx))
	must(t, "Store", term.Store(ctx, CharBuffer1, slot))
	sim.LiftFinger()
}

// enrolAndSearch is a terminal's life: handshake, parameters, two fingers
// enrolled, found again, matched, one deleted. The pipe and pty tests both run
// it.
func enrolAndSearch(t *testing.T, term *Terminal, sim *Sim) {
	ctx := t.Context()
	must(t, "VerifyPassword", term.VerifyPassword(ctx))
	p, err := term.ReadSysParams(ctx)
	want := SysParams{StatusRegister: StatusPassword, Capacity: SimCapacity, SecurityLevel: 3, Address: DefaultAddress,
		PacketSizeCode: 2, PacketSize: 128, BaudMultiple: 6, Baud: DefaultBaud}
	if err != nil || p != want {
		t.Fatalf("ReadSysParams = %+v, %v; want %+v", p, err, want)
	}
	if n, err := term.TemplateCount(ctx); err != nil || n != 0 {
		t.Fatalf("TemplateCount of an empty library = %d, %v", n, err)
	}

	enrol(t, ctx, term, sim, fingerA, 7)
	enrol(t, ctx, term, sim, fingerB, 130)
	if got := sim.Slots(); !reflect.DeepEqual(got, map[int]string{7: fingerA, 130: fingerB}) {
		t.Fatalf("the module's library %v", got)
	}
	if n, err := term.TemplateCount(ctx); err != nil || n != 2 {
		t.Errorf("TemplateCount = %d, %v", n, err)
	}
	if used, err := term.ReadIndexTable(ctx); err != nil || !reflect.DeepEqual(used, []int{7, 130}) {
		t.Errorf("ReadIndexTable = %v, %v", used, err)
	}

	// Verification: the finger is found at its slot, by both searches, with the
	// same score every time.
	sim.PlaceFinger(fingerB)
	capture(t, ctx, term, CharBuffer1)
	slot, score, err := term.Search(ctx, CharBuffer1, 0, SimCapacity)
	if err != nil || slot != 130 || score < 50 || score > 200 {
		t.Fatalf("Search = %d, %d, %v", slot, score, err)
	}
	slot2, score2, err := term.HighSpeedSearch(ctx, CharBuffer1, 0, SimCapacity)
	if err != nil || slot2 != slot || score2 != score {
		t.Errorf("HighSpeedSearch = %d, %d, %v; Search said %d, %d", slot2, score2, err, slot, score)
	}
	if p, err := term.ReadSysParams(ctx); err != nil || p.StatusRegister != StatusPassword|StatusImage|StatusPass {
		t.Errorf("status register after a match %#04x, %v", p.StatusRegister, err)
	}
	// Not in the part of the library searched.
	if _, _, err := term.Search(ctx, CharBuffer1, 0, 130); !errors.Is(err, ErrNotFound) {
		t.Errorf("Search of slots 0 to 129: %v", err)
	}
	// A finger never enrolled is not found.
	sim.PlaceFinger("X100003/right-ring")
	capture(t, ctx, term, CharBuffer1)
	if _, _, err := term.Search(ctx, CharBuffer1, 0, SimCapacity); !errors.Is(err, ErrNotFound) {
		t.Errorf("Search for a stranger: %v", err)
	}

	// 1:1: the template loaded against a live capture.
	must(t, "Load", term.Load(ctx, CharBuffer2, 7))
	sim.PlaceFinger(fingerA)
	capture(t, ctx, term, CharBuffer1)
	if got, err := term.Match(ctx); err != nil || got < 50 || got > 200 {
		t.Errorf("Match of the same finger = %d, %v", got, err)
	}
	sim.PlaceFinger(fingerB)
	capture(t, ctx, term, CharBuffer1)
	if _, err := term.Match(ctx); !errors.Is(err, ErrNotMatched) {
		t.Errorf("Match of two fingers: %v", err)
	}

	must(t, "Delete", term.Delete(ctx, 7, 1))
	if got := sim.Slots(); !reflect.DeepEqual(got, map[int]string{130: fingerB}) {
		t.Errorf("library after Delete %v", got)
	}
	if bad := term.Bad(); len(bad) != 0 {
		t.Errorf("bad frames %v", bad)
	}
}

func TestEnrolAndSearchOverPipe(t *testing.T) {
	term, sim := rig(t, SimOptions{}, Options{})
	enrolAndSearch(t, term, sim)
}

// TestEnrolFailures: two fingers do not combine; features are made from an
// image only; slots beyond the library and empty ones are refused.
func TestEnrolFailures(t *testing.T) {
	ctx := t.Context()
	term, sim := rig(t, SimOptions{Capacity: 200}, Options{})
	if err := term.Image2Tz(ctx, CharBuffer1); !errors.Is(err, ErrNoImage) {
		t.Errorf("Image2Tz with no image: %v", err)
	}
	if err := term.CreateModel(ctx); !errors.Is(err, ErrMergeFailed) {
		t.Errorf("CreateModel of empty buffers: %v", err)
	}
	sim.PlaceFinger(fingerA)
	capture(t, ctx, term, CharBuffer1)
	sim.PlaceFinger(fingerB)
	capture(t, ctx, term, CharBuffer2)
	err := term.CreateModel(ctx)
	if me, ok := errors.AsType[*ModuleError](err); !ok || me.Code != CodeMergeFailed || me.Instruction != InstrRegModel {
		t.Errorf("CreateModel of two fingers: %v", err)
	}
	mustIs(t, "Store at 200", term.Store(ctx, CharBuffer1, 200), ErrBadLocation)
	mustIs(t, "Load of an empty slot", term.Load(ctx, CharBuffer1, 3), ErrTemplateRead)
	mustIs(t, "Load at 200", term.Load(ctx, CharBuffer1, 200), ErrBadLocation)
	mustIs(t, "Delete past the end", term.Delete(ctx, 199, 2), ErrDeleteFailed)
	mustIs(t, "Delete at 200", term.Delete(ctx, 200, 1), ErrBadLocation)
	if _, _, err := term.Search(ctx, CharBuffer1, 200, 10); !errors.Is(err, ErrBadLocation) {
		t.Errorf("Search from 200: %v", err)
	}
	if len(sim.Slots()) != 0 {
		t.Errorf("library %v", sim.Slots())
	}
}

// TestFailNextCaptures: captures fail as told, a bad image at Img2Tz, a failed
// one at GenImg, then work again.
func TestFailNextCaptures(t *testing.T) {
	ctx := t.Context()
	term, sim := rig(t, SimOptions{}, Options{})
	sim.PlaceFinger(fingerA)
	sim.FailNextCaptures(2, CodeImageMessy)
	for i := range 2 {
		must(t, "CaptureImage", term.CaptureImage(ctx))
		mustIs(t, fmt.Sprintf("Image2Tz %d", i), term.Image2Tz(ctx, CharBuffer1), ErrImageMessy)
		if b := sim.State().Buffers[0]; b != "" {
			t.Errorf("buffer 1 after a messy image: %q", b)
		}
	}
	capture(t, ctx, term, CharBuffer1)
	if b := sim.State().Buffers[0]; b != fingerA {
		t.Errorf("buffer 1 %q", b)
	}
	sim.FailNextCaptures(1, CodeImageFail)
	mustIs(t, "CaptureImage", term.CaptureImage(ctx), ErrImageFail)
	mustIs(t, "Image2Tz after a failed capture", term.Image2Tz(ctx, CharBuffer2), ErrNoImage)
	// With no finger there is no capture to fail.
	sim.FailNextCaptures(1, CodeFewFeatures)
	sim.LiftFinger()
	mustIs(t, "CaptureImage with no finger", term.CaptureImage(ctx), ErrNoFinger)
	sim.PlaceFinger(fingerA)
	must(t, "CaptureImage", term.CaptureImage(ctx))
	mustIs(t, "Image2Tz", term.Image2Tz(ctx, CharBuffer1), ErrFewFeatures)
}

// TestPassword: a module with a password refuses everything until it is
// verified; a wrong one is refused; SetPassword changes both sides'.
func TestPassword(t *testing.T) {
	ctx := t.Context()
	term, sim := rig(t, SimOptions{Password: 0x1234ABCD}, Options{Password: 0x1234ABCD})
	mustIs(t, "TemplateCount before VfyPwd", func() error { _, err := term.TemplateCount(ctx); return err }(), ErrPasswordRequired)
	must(t, "VerifyPassword", term.VerifyPassword(ctx))
	if n, err := term.TemplateCount(ctx); err != nil || n != 0 {
		t.Errorf("TemplateCount = %d, %v", n, err)
	}
	must(t, "SetPassword", term.SetPassword(ctx, 0x0BADF00D))
	if st := sim.State(); st.Password != 0x0BADF00D {
		t.Errorf("the module's password %#08x", st.Password)
	}
	sim.SetPassword(0x0BADF00D) // a power cycle
	must(t, "VerifyPassword with the new password", term.VerifyPassword(ctx))

	wrong, _ := rig(t, SimOptions{Password: 7}, Options{Password: 8})
	err := wrong.VerifyPassword(ctx)
	if me, ok := errors.AsType[*ModuleError](err); !ok || me.Code != CodeWrongPassword || !errors.Is(err, ErrWrongPassword) {
		t.Errorf("VerifyPassword with the wrong password: %v", err)
	}
}

// TestOrphansInIndexTable: templates no one enrolled are in the index table,
// over every page of a library of 1000.
func TestOrphansInIndexTable(t *testing.T) {
	term, sim := rig(t, SimOptions{Capacity: 1000}, Options{})
	for _, s := range []int{0, 255, 256, 511, 768, 999} {
		if err := sim.PutTemplate(s, fmt.Sprintf("X%d/orphan", s)); err != nil {
			t.Fatal(err)
		}
	}
	if err := sim.PutTemplate(1000, "X"); err == nil {
		t.Error("PutTemplate beyond the library")
	}
	used, err := term.ReadIndexTable(t.Context())
	if want := []int{0, 255, 256, 511, 768, 999}; err != nil || !reflect.DeepEqual(used, want) {
		t.Errorf("ReadIndexTable = %v, %v; want %v", used, err, want)
	}
	if n, err := term.TemplateCount(t.Context()); err != nil || n != 6 {
		t.Errorf("TemplateCount = %d, %v", n, err)
	}
	must(t, "Empty", term.Empty(t.Context()))
	if used, err := term.ReadIndexTable(t.Context()); err != nil || len(used) != 0 {
		t.Errorf("after Empty: %v, %v", used, err)
	}
}

// TestSilent: a module that answers nothing makes each command fail with
// ErrNoReply after the timeout, and carries nothing out; it works again after.
func TestSilent(t *testing.T) {
	ctx := t.Context()
	term, sim := rig(t, SimOptions{}, Options{Timeout: 150 * time.Millisecond})
	sim.PlaceFinger(fingerA)
	capture(t, ctx, term, CharBuffer1)
	sim.Silent(true)
	err := term.Store(ctx, CharBuffer1, 3)
	mustIs(t, "Store to a silent module", err, ErrNoReply)
	if errors.Is(err, ErrFrame) || errors.Is(err, ErrModule) {
		t.Errorf("a silence is no bad frame and no refusal: %v", err)
	}
	if len(sim.Slots()) != 0 {
		t.Errorf("a silent module stored %v", sim.Slots())
	}
	sim.Silent(false)
	must(t, "Store", term.Store(ctx, CharBuffer1, 3))
	if got := sim.Slots(); !reflect.DeepEqual(got, map[int]string{3: fingerA}) {
		t.Errorf("library %v", got)
	}
}

// TestGarbage: each garbled reply fails its command with ErrNoReply and the
// bad frame's cause, counted, though the module carried the command out; the
// next command works.
func TestGarbage(t *testing.T) {
	ctx := t.Context()
	term, sim := rig(t, SimOptions{}, Options{Timeout: 200 * time.Millisecond})
	sim.PlaceFinger(fingerA)
	capture(t, ctx, term, CharBuffer1)
	capture(t, ctx, term, CharBuffer2)
	must(t, "CreateModel", term.CreateModel(ctx))
	sim.Garbage(5)
	causes := []string{CauseGarbage, CauseChecksum, CauseTruncated, CauseLength, CauseAddress}
	for i, want := range causes {
		err := term.Store(ctx, CharBuffer1, i)
		if !errors.Is(err, ErrNoReply) || CauseOf(err) != want {
			t.Errorf("garbled reply %d: %v; want ErrNoReply and cause %s", i, err, want)
		}
	}
	if got := len(sim.Slots()); got != 5 {
		t.Errorf("%d templates stored, want 5 (the commands were carried out)", got)
	}
	bad := term.Bad()
	for _, c := range causes {
		if bad[c] != 1 {
			t.Errorf("bad frames %v, want one of each of %v", bad, causes)
			break
		}
	}
	if n, err := term.TemplateCount(ctx); err != nil || n != 5 {
		t.Errorf("TemplateCount after the garbage = %d, %v", n, err)
	}
}

// TestLED: each LED command goes only to a module said to have it; a module
// that has not answers CodeUnsupported.
func TestLED(t *testing.T) {
	ctx := t.Context()
	term, sim := rig(t, SimOptions{LED: LEDOnOff}, Options{LED: LEDOnOff})
	must(t, "SetLED on", term.SetLED(ctx, true))
	if !sim.State().LEDOn {
		t.Error("LED off after SetLED(true)")
	}
	must(t, "SetLED off", term.SetLED(ctx, false))
	if sim.State().LEDOn {
		t.Error("LED on after SetLED(false)")
	}
	before := sim.State().Commands
	mustIs(t, "SetAura on an on-off module", term.SetAura(ctx, Aura{Control: AuraOn, Color: AuraBlue}), ErrUnsupported)
	if sim.State().Commands != before {
		t.Error("SetAura sent a command to a module without an aura")
	}

	aura, asim := rig(t, SimOptions{LED: LEDAura}, Options{LED: LEDAura})
	a := Aura{Control: AuraFlashing, Speed: 20, Color: AuraGreen, Count: 3}
	must(t, "SetAura", aura.SetAura(ctx, a))
	if got := asim.State().Aura; got != a {
		t.Errorf("aura %+v, want %+v", got, a)
	}
	mustIs(t, "SetAura colour 8", aura.SetAura(ctx, Aura{Control: AuraOn, Color: 8}), ErrArgument)
	mustIs(t, "SetLED on an aura module", aura.SetLED(ctx, true), ErrUnsupported)

	// Told wrong: the module refuses what it has not.
	wrong, _ := rig(t, SimOptions{}, Options{LED: LEDAura})
	err := wrong.SetAura(ctx, a)
	if c, ok := CodeOf(err); !ok || c != CodeUnsupported || !errors.Is(err, ErrUnsupported) {
		t.Errorf("SetAura to a module without one: %v", err)
	}
}

func TestSetSysParam(t *testing.T) {
	ctx := t.Context()
	term, _ := rig(t, SimOptions{}, Options{})
	must(t, "security 5", term.SetSysParam(ctx, ParamSecurityLevel, 5))
	must(t, "packet size 3", term.SetSysParam(ctx, ParamPacketSize, 3))
	p, err := term.ReadSysParams(ctx)
	if err != nil || p.SecurityLevel != 5 || p.PacketSize != 256 {
		t.Errorf("ReadSysParams = %+v, %v", p, err)
	}
	mustIs(t, "security 6", term.SetSysParam(ctx, ParamSecurityLevel, 6), ErrRegisterContent)
	mustIs(t, "baud 13", term.SetSysParam(ctx, ParamBaud, 13), ErrRegisterContent)
	mustIs(t, "parameter 7", term.SetSysParam(ctx, 7, 1), ErrInvalidRegister)
}

// TestArguments: what the protocol cannot carry is refused before anything is
// sent.
func TestArguments(t *testing.T) {
	ctx := t.Context()
	term, sim := rig(t, SimOptions{}, Options{})
	checks := map[string]error{
		"Image2Tz 3":     term.Image2Tz(ctx, 3),
		"Store buffer 0": term.Store(ctx, 0, 1),
		"Store 65536":    term.Store(ctx, CharBuffer1, 65536),
		"Load -1":        term.Load(ctx, CharBuffer1, -1),
		"Delete count":   term.Delete(ctx, 0, 70000),
		"Search count":   func() error { _, _, err := term.Search(ctx, CharBuffer1, 0, -1); return err }(),
		"Search buffer":  func() error { _, _, err := term.HighSpeedSearch(ctx, 9, 0, 1); return err }(),
	}
	for what, err := range checks {
		mustIs(t, what, err, ErrArgument)
	}
	if n := sim.State().Commands; n != 0 {
		t.Errorf("%d commands reached the module", n)
	}
}

// TestOneCommandAtATime: commands from many goroutines are sent one at a time,
// each getting its own reply.
func TestOneCommandAtATime(t *testing.T) {
	term, sim := rig(t, SimOptions{}, Options{})
	for i := range 5 {
		sim.PutTemplate(i, fingerA)
	}
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			if i%2 == 0 {
				if n, err := term.TemplateCount(t.Context()); err != nil || n != 5 {
					t.Errorf("TemplateCount = %d, %v", n, err)
				}
				return
			}
			if p, err := term.ReadSysParams(t.Context()); err != nil || p.Capacity != SimCapacity {
				t.Errorf("ReadSysParams = %+v, %v", p, err)
			}
		})
	}
	wg.Wait()
	if n := sim.State().Commands; n != 16 {
		t.Errorf("%d commands, want 16", n)
	}
}

// TestContextEnds: a command whose context has ended fails with the context's
// error, not ErrNoReply.
func TestContextEnds(t *testing.T) {
	term, sim := rig(t, SimOptions{}, Options{Timeout: 5 * time.Second})
	sim.Silent(true)
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	err := term.CaptureImage(ctx)
	if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrNoReply) {
		t.Errorf("CaptureImage as its context ends: %v", err)
	}
	done, cancel2 := context.WithCancel(t.Context())
	cancel2()
	if err := term.CaptureImage(done); !errors.Is(err, context.Canceled) {
		t.Errorf("CaptureImage with its context ended: %v", err)
	}
}

// TestSimLine: the simulator answers a bad checksum with CodePacketReceive,
// ignores packets to other addresses and packets that are not commands, and
// answers an instruction it does not have with CodeUnsupported.
func TestSimLine(t *testing.T) {
	sim := NewSim(SimOptions{})
	host, module := pipes()
	serve(t, sim, module, func() { host.Close() })
	bad := encode(t, CmdTemplateNum())
	bad[len(bad)-1]++
	other, _ := Packet{Address: 0x01020304, PID: PIDCommand, Payload: CmdEmpty().Payload()}.Encode()
	data, _ := Packet{Address: DefaultAddress, PID: PIDData, Payload: []byte{1, 2, 3}}.Encode()
	sim.PutTemplate(0, fingerA)
	for _, b := range [][]byte{bad, other, data, encode(t, Command{Instruction: 0x3C}), encode(t, CmdTemplateNum())} {
		if _, err := host.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	want := join(ackFrame(t, Reply{Code: CodePacketReceive}), ackFrame(t, Reply{Code: CodeUnsupported}),
		ackFrame(t, ReplyTemplateCount(1)))
	if got := readN(t, host, len(want), time.Second); string(got) != string(want) {
		t.Errorf("the module answered\n% X\nwant\n% X", got, want)
	}
	if len(sim.Slots()) != 1 {
		t.Error("the Empty to another address was carried out")
	}
}

// TestTerminalSkipsNonAcks: a data packet where an acknowledgement is awaited is
// passed over, and noise before the reply is counted, not fatal.
func TestTerminalSkipsNonAcks(t *testing.T) {
	host, module := pipes()
	term := NewTerminal(host, Options{Timeout: time.Second})
	t.Cleanup(func() { term.Close(); host.Close(); module.Close() })
	go func() {
		cmd := make([]byte, len(encode(t, CmdTemplateNum())))
		if _, err := io.ReadFull(module, cmd); err != nil {
			return
		}
		data, _ := Packet{Address: DefaultAddress, PID: PIDData, Payload: []byte{9}}.Encode()
		module.Write(join([]byte{0x00, 0x55}, data, ackFrame(t, ReplyTemplateCount(42))))
	}()
	if n, err := term.TemplateCount(t.Context()); err != nil || n != 42 {
		t.Errorf("TemplateCount = %d, %v", n, err)
	}
	if b := term.Bad(); b[CauseGarbage] != 1 {
		t.Errorf("bad %v", b)
	}
}

// FuzzSimHandle: the simulator never panics on any command payload, and every
// reply it makes is a packet it can send.
func FuzzSimHandle(f *testing.F) {
	for _, c := range []Command{CmdVfyPwd(0), CmdSearch(CharBuffer1, 0, 0xFFFF), CmdDeletChar(0xFFFF, 0xFFFF),
		CmdStore(3, 0), CmdReadIndexTable(9), CmdSetSysPara(4, 0), CmdAuraLedConfig(Aura{Control: 9})} {
		f.Add(c.Payload())
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		sim := NewSim(SimOptions{Capacity: 300, LED: LEDAura})
		sim.PutTemplate(299, fingerA)
		sim.PlaceFinger(fingerA)
		for range 3 {
			r := sim.Handle(b)
			if _, err := (Packet{Address: DefaultAddress, PID: PIDAck, Payload: r.Payload()}).Encode(); err != nil {
				t.Fatalf("reply %+v to % X: %v", r, b, err)
			}
		}
	})
}
