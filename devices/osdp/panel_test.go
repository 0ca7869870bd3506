package osdp

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/apedge/apedge/devices/serialport"
	"github.com/apedge/apedge/devices/wiegand"
	"github.com/apedge/apedge/internal/wait"
	"github.com/creack/pty"
)

// waitFor waits for cond for up to 20 s.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	wait.Until(t, 20*time.Second, what, cond)
}

// eventLog collects events from the panel's handler.
type eventLog struct {
	mu     sync.Mutex
	events []Event
	hook   func(Event)
}

func (l *eventLog) handle(e Event) {
	if l.hook != nil {
		l.hook(e)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, e)
}

func (l *eventLog) count(addr int, kind EventKind) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, e := range l.events {
		if e.Addr == addr && e.Kind == kind {
			n++
		}
	}
	return n
}

func (l *eventLog) find(addr int, kind EventKind, match func(Event) bool) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, e := range l.events {
		if e.Addr == addr && e.Kind == kind && (match == nil || match(e)) {
			return true
		}
	}
	return false
}

// bus is a panel and simulated readers joined by a pseudo-terminal: the panel opens
// the slave with OpenSerial, ServeBus runs on the master.
type bus struct {
	panel   *Panel
	readers map[int]*Reader
	log     *eventLog
	stop    func()
}

func newBus(t testing.TB, baud int, pds []PDConfig, readers []*Reader, hook func(Event), opts ...func(*PanelConfig)) *bus {
	t.Helper()
	master, slave, err := pty.Open()
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	port, err := serialport.Open(slave.Name(), 115200)
	if err != nil {
		t.Fatal(err)
	}
	var panelPort, busPort Port = port, master
	if baud > 0 {
		panelPort, busPort = Paced(port, baud), Paced(master, baud)
	}
	cfg := PanelConfig{Port: panelPort, PDs: pds, Logger: discardLogger()}
	for _, o := range opts {
		o(&cfg)
	}
	p, err := NewPanel(cfg)
	if err != nil {
		t.Fatal(err)
	}
	b := &bus{panel: p, readers: map[int]*Reader{}, log: &eventLog{hook: hook}}
	for _, r := range readers {
		b.readers[r.Address()] = r
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := ServeBus(ctx, busPort, readers...); err != nil {
			t.Errorf("ServeBus: %v", err)
		}
	})
	wg.Go(func() {
		if err := p.Run(ctx, b.log.handle); err != nil && ctx.Err() == nil {
			t.Errorf("Run: %v", err)
		}
	})
	b.stop = func() {
		cancel()
		port.Close()
		master.Close()
		slave.Close()
		wg.Wait()
	}
	t.Cleanup(b.stop)
	return b
}

func (b *bus) waitOnline(t testing.TB, addrs ...int) {
	t.Helper()
	for _, a := range addrs {
		waitFor(t, fmt.Sprintf("pd %d online", a), func() bool { return b.panel.Status(a).Online })
	}
}

func testKey(i int) []byte {
	k := make([]byte, 16)
	for j := range k {
		k[j] = byte(0xA0 + i + j)
	}
	return k
}

// Eight readers at 115200 baud, secure channel on half of them: every reader comes
// online (secure where configured) and a card swiped at each is reported.
func TestEightReadersCards(t *testing.T) {
	var pds []PDConfig
	var readers []*Reader
	for i := range 8 {
		var key []byte
		if i%2 == 0 {
			key = testKey(i)
		}
		pds = append(pds, PDConfig{Address: i + 1, SCBK: key})
		readers = append(readers, NewReader(ReaderConfig{Address: i + 1, SCBK: key,
			ID: PDID{Vendor: 0x123456, Model: 7, Serial: uint32(1000 + i), Firmware: [3]byte{1, 0, byte(i)}}}))
	}
	b := newBus(t, 0, pds, readers, nil)
	for i := range 8 {
		b.waitOnline(t, i+1)
	}
	for i := range 8 {
		st := b.panel.Status(i + 1)
		if st.Secure != (i%2 == 0) || st.ID.Serial != uint32(1000+i) || len(st.Capabilities) == 0 {
			t.Errorf("pd %d status %+v", i+1, st)
		}
		if i%2 == 0 && b.log.count(i+1, EventSecure) == 0 {
			t.Errorf("pd %d: no EventSecure", i+1)
		}
	}
	for i, r := range readers {
		r.Swipe(mustCard(t, wiegand.Encode26(uint8(10+i), uint16(500+i)), 26))
	}
	for i := range 8 {
		waitFor(t, fmt.Sprintf("card at pd %d", i+1), func() bool {
			return b.log.find(i+1, EventCard, func(e Event) bool {
				return e.Card != nil && e.Card.Format == wiegand.Format26 && e.Card.Facility == uint32(10+i) && e.Card.Number == uint32(500+i)
			})
		})
	}
	// A 34-bit card and a keypad entry on a secure reader.
	readers[0].Swipe(mustCard(t, wiegand.Encode34(4000, 60000), 34))
	readers[0].Keypad("1234#")
	waitFor(t, "34-bit card", func() bool {
		return b.log.find(1, EventCard, func(e Event) bool {
			return e.Card != nil && e.Card.Format == wiegand.Format34 && e.Card.Facility == 4000
		})
	})
	waitFor(t, "keypad", func() bool {
		return b.log.find(1, EventKeypad, func(e Event) bool { return e.Keys == "1234#" })
	})
	if s := b.panel.Stats(); s.BadFrames != 0 || s.FramesSent == 0 {
		t.Errorf("stats %+v", s)
	}
}

func mustCard(t testing.TB, raw []byte, bits int) wiegand.Card {
	c, err := wiegand.Decode(raw, bits)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// A reader that loses power is reported offline after exactly OfflineAfter missed
// replies, comes back by itself when power returns, and re-establishes its secure
// channel; a reader that reboots is re-initialised without going offline.
func TestOfflineRebootRecovery(t *testing.T) {
	keyed := NewReader(ReaderConfig{Address: 1, SCBK: testKey(1)})
	plain := NewReader(ReaderConfig{Address: 2})
	var ignoredAtOffline = make(chan uint64, 4)
	b := newBus(t, 0, []PDConfig{{Address: 1, SCBK: testKey(1)}, {Address: 2}}, []*Reader{keyed, plain}, func(e Event) {
		if e.Kind == EventOffline && e.Addr == 1 {
			ignoredAtOffline <- keyed.Stats().Ignored
		}
	})
	b.waitOnline(t, 1, 2)

	keyed.PowerOff(true)
	waitFor(t, "offline event", func() bool { return b.log.count(1, EventOffline) == 1 })
	if got := <-ignoredAtOffline; got != DefaultOfflineAfter {
		t.Errorf("offline after %d unanswered frames, want %d", got, DefaultOfflineAfter)
	}
	if b.panel.Status(1).Online {
		t.Error("status still online")
	}
	secureBefore := b.log.count(1, EventSecure)
	keyed.PowerOff(false)
	waitFor(t, "back online", func() bool { return b.log.count(1, EventOnline) == 2 })
	waitFor(t, "secure again", func() bool { return b.log.count(1, EventSecure) > secureBefore && b.panel.Status(1).Secure })

	// Reboot: session and sequence lost; the panel notices from the NAK and
	// starts again, without an offline event.
	secureBefore = b.log.count(1, EventSecure)
	hs := keyed.Stats().Handshakes
	keyed.Reboot()
	waitFor(t, "re-established after reboot", func() bool { return keyed.Stats().Handshakes > hs && b.log.count(1, EventSecure) > secureBefore })
	plainPolls := plain.Stats().Polls
	plain.Reboot()
	waitFor(t, "plain reader polled after reboot", func() bool { return plain.Stats().Polls > plainPolls+5 })
	if n := b.log.count(1, EventOffline) + b.log.count(2, EventOffline); n != 1 {
		t.Errorf("%d offline events, want 1", n)
	}
	// Cards still flow after all that.
	keyed.Swipe(mustCard(t, wiegand.Encode26(1, 2), 26))
	waitFor(t, "card after recovery", func() bool { return b.log.count(1, EventCard) == 1 })
}

// Install mode: the panel opens the channel with SCBK-D, sets the key, and reopens.
func TestInstallMode(t *testing.T) {
	key := testKey(9)
	r := NewReader(ReaderConfig{Address: 5, AcceptDefaultKey: true})
	b := newBus(t, 0, []PDConfig{{Address: 5, SCBK: key, Install: true}}, []*Reader{r}, nil)
	b.waitOnline(t, 5)
	waitFor(t, "secure", func() bool { return b.panel.Status(5).Secure })
	if got := r.Key(); string(got) != string(key) {
		t.Fatalf("reader key % x, want % x", got, key)
	}
	if hs := r.Stats().Handshakes; hs != 2 {
		t.Errorf("%d handshakes, want 2 (SCBK-D, then SCBK)", hs)
	}
	// After a reboot the reader refuses SCBK-D; the panel uses the installed key.
	r.Reboot()
	waitFor(t, "secure after reboot", func() bool { return r.Stats().Handshakes >= 3 && r.Secure() })
}

// LED, buzzer, output and COMSET commands reach the reader, in clear and secure.
func TestCommands(t *testing.T) {
	secure := NewReader(ReaderConfig{Address: 1, SCBK: testKey(1)})
	plain := NewReader(ReaderConfig{Address: 2})
	b := newBus(t, 0, []PDConfig{{Address: 1, SCBK: testKey(1)}, {Address: 2}}, []*Reader{secure, plain}, nil)
	b.waitOnline(t, 1, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	led := LEDCommand{Number: 0, Temporary: LEDTemporary{Control: 2, OnTime: 5, OffTime: 5, OnColor: ColorGreen, Timer: 30},
		Permanent: LEDPermanent{Control: 1, OnTime: 1, OnColor: ColorRed}}
	buz := BuzzerCommand{Tone: 2, OnTime: 3, OffTime: 1, Count: 2}
	out := OutputCommand{Number: 1, Control: 2}
	for _, addr := range []int{1, 2} {
		r := b.readers[addr]
		if rep, err := b.panel.Send(ctx, addr, led); err != nil || rep.Code() != ReplyACK {
			t.Fatalf("pd %d LED: %v %v", addr, rep, err)
		}
		if got := r.LED(); got.Last != led || got.Count != 1 {
			t.Errorf("pd %d LED %+v", addr, got)
		}
		if _, err := b.panel.Send(ctx, addr, buz); err != nil {
			t.Fatal(err)
		}
		if got := r.Buzzer(); got.Last != buz {
			t.Errorf("pd %d buzzer %+v", addr, got)
		}
		rep, err := b.panel.Send(ctx, addr, out)
		if err != nil {
			t.Fatal(err)
		}
		if st, ok := rep.(OutputStatus); !ok || st[1] != 1 {
			t.Errorf("pd %d OUT reply %#v", addr, rep)
		}
		if got := r.Outputs(); got.Last != out || got.Levels[1] != 1 {
			t.Errorf("pd %d outputs %+v", addr, got)
		}
		rep, err = b.panel.Send(ctx, addr, ComSetCommand{Address: byte(addr), Baud: 38400})
		if c, ok := rep.(ComReply); err != nil || !ok || c.Baud != 38400 {
			t.Errorf("pd %d COMSET reply %#v %v", addr, rep, err)
		}
		// A bad output number is NAKed, reported as *NakError.
		_, err = b.panel.Send(ctx, addr, OutputCommand{Number: 9, Control: 1})
		if nak, ok := err.(*NakError); !ok || nak.Reason != NakRecord || nak.Addr != addr {
			t.Errorf("pd %d bad OUT: %v", addr, err)
		}
	}
	if _, err := b.panel.Send(ctx, 42, led); err == nil {
		t.Error("Send to an unknown PD succeeded")
	}
}

// Garbled and CRC-bad replies are counted and the same frame is sent again; the
// reader's retransmission is accepted. BUSY is retried. Tamper, power and input
// changes are reported.
func TestFaultsAndStatus(t *testing.T) {
	secure := NewReader(ReaderConfig{Address: 1, SCBK: testKey(1)})
	plain := NewReader(ReaderConfig{Address: 2})
	b := newBus(t, 0, []PDConfig{{Address: 1, SCBK: testKey(1)}, {Address: 2}}, []*Reader{secure, plain}, nil)
	b.waitOnline(t, 1, 2)
	waitFor(t, "secure", func() bool { return b.panel.Status(1).Secure })
	before := b.panel.Stats()
	for _, r := range []*Reader{secure, plain} {
		rt := r.Stats().Retransmits
		r.SetFaults(Faults{GarbleNext: 1})
		r.Swipe(mustCard(t, wiegand.Encode26(3, 4), 26))
		waitFor(t, "card despite garbling", func() bool { return b.log.count(r.Address(), EventCard) == 1 })
		r.SetFaults(Faults{BadCRCNext: 1})
		r.Swipe(mustCard(t, wiegand.Encode26(3, 5), 26))
		waitFor(t, "card despite bad CRC", func() bool { return b.log.count(r.Address(), EventCard) == 2 })
		if got := r.Stats().Retransmits; got < rt+2 {
			t.Errorf("pd %d: %d retransmissions, want at least 2 more than %d", r.Address(), got, rt)
		}
	}
	after := b.panel.Stats()
	if after.CRCErrors < before.CRCErrors+4 || after.Retries < before.Retries+4 || after.BadFrames < before.BadFrames+4 {
		t.Errorf("stats before %+v after %+v", before, after)
	}
	if b.log.count(1, EventOffline)+b.log.count(1, EventSecureFailed) != 0 {
		t.Error("garbling took the reader offline or broke its session")
	}

	plain.SetFaults(Faults{BusyNext: 2})
	plain.Keypad("9*")
	waitFor(t, "keypad after busy", func() bool { return b.log.find(2, EventKeypad, func(e Event) bool { return e.Keys == "9*" }) })
	if s := b.panel.Stats(); s.Busy < 2 {
		t.Errorf("busy count %d", s.Busy)
	}

	secure.SetTamper(true)
	waitFor(t, "tamper", func() bool { return b.log.find(1, EventTamper, func(e Event) bool { return e.Tamper }) })
	secure.SetTamper(false)
	waitFor(t, "tamper cleared", func() bool { return b.log.find(1, EventTamper, func(e Event) bool { return !e.Tamper }) })
	plain.SetPowerFault(true)
	waitFor(t, "power fault", func() bool { return b.log.find(2, EventPower, func(e Event) bool { return e.Power }) })
	plain.SetInputs([]byte{1, 0})
	waitFor(t, "inputs", func() bool {
		return b.log.find(2, EventInputs, func(e Event) bool { return len(e.Inputs) == 2 && e.Inputs[0] == 1 })
	})
	if !b.panel.Status(2).Power {
		t.Error("status power fault not recorded")
	}
	// A slow reader within the reply timeout still works.
	plain.SetFaults(Faults{Delay: 50 * time.Millisecond})
	plain.Keypad("5")
	waitFor(t, "keypad from a slow reader", func() bool { return b.log.find(2, EventKeypad, func(e Event) bool { return e.Keys == "5" }) })
	plain.SetFaults(Faults{})
}

// A reader with the wrong key fails the handshake: EventSecureFailed, not online.
func TestWrongKey(t *testing.T) {
	r := NewReader(ReaderConfig{Address: 3, SCBK: testKey(1)})
	b := newBus(t, 0, []PDConfig{{Address: 3, SCBK: testKey(2)}}, []*Reader{r}, nil)
	waitFor(t, "secure failure", func() bool { return b.log.count(3, EventSecureFailed) > 0 })
	if b.panel.Status(3).Online || b.log.count(3, EventOnline) != 0 {
		t.Error("reader with the wrong key came online")
	}
}

func TestMain(m *testing.M) {
	os.Exit(m.Run())
}
