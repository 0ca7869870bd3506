package bridge_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/apedge/apedge/devices/osdp"
	"github.com/apedge/apedge/devices/wiegand"
	bridge "github.com/apedge/apedge/firmware-bridge"
	"github.com/apedge/apedge/formats/sitebus"
	"github.com/apedge/apedge/formats/sitekey"
	"github.com/apedge/apedge/internal/broker/brokertest"
	"github.com/apedge/apedge/internal/config"
	"github.com/apedge/apedge/internal/mqttclient"
	"github.com/apedge/apedge/internal/testlog"
	"github.com/apedge/apedge/internal/wait"
)

const (
	site    = "MAN1"
	timeout = 20 * time.Second
)

// recorder is a site-bus subscriber that keeps every message it receives.
type recorder struct {
	mu   sync.Mutex
	msgs []mqtt.Message
}

func (r *recorder) all() []mqtt.Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.msgs)
}

// record subscribes a new client to everything of the site and records it.
func record(t *testing.T, url, id string) *recorder {
	t.Helper()
	r := new(recorder)
	c := brokertest.Client(t, url, id)
	tok := c.Subscribe("apedge/v1/"+site+"/#", 1, func(_ mqtt.Client, m mqtt.Message) {
		r.mu.Lock()
		r.msgs = append(r.msgs, m)
		r.mu.Unlock()
	})
	if err := mqttclient.WaitTimeout(t.Context(), tok, timeout); err != nil {
		t.Fatal(err)
	}
	return r
}

// busMsg is a decoded device message.
type busMsg struct {
	*sitebus.Message
	Retained bool
}

// device returns the messages r received on one device topic, decoded, in order.
func (r *recorder) device(t *testing.T, class, id, kind string) []busMsg {
	t.Helper()
	var out []busMsg
	for _, m := range r.all() {
		tp, err := sitebus.ParseTopic(m.Topic())
		if err != nil || tp.Class != class || tp.ID != id || tp.Kind != kind {
			continue
		}
		msg, err := sitebus.Decode(m.Payload())
		if err != nil {
			t.Fatalf("%s: %v", m.Topic(), err)
		}
		out = append(out, busMsg{msg, m.Retained()})
	}
	return out
}

// kinds lists the kinds of msgs.
func kinds(msgs []busMsg) []string {
	var k []string
	for _, m := range msgs {
		k = append(k, m.Kind)
	}
	return k
}

// waitEvents waits until device class/id has published the event kinds want, in
// order, after the first skip events of those kinds, and returns those events. Events
// of other kinds are left out.
func (r *recorder) waitEvents(t *testing.T, class, id string, skip int, want ...string) []busMsg {
	t.Helper()
	var got []busMsg
	wait.For(t, timeout, fmt.Sprintf("%s %s events %v", class, id, want), func() (bool, string) {
		got = nil
		for _, m := range r.device(t, class, id, sitebus.KindEvent) {
			if slices.Contains(want, m.Kind) {
				got = append(got, m)
			}
		}
		if len(got) < skip {
			return false, fmt.Sprint(kinds(got))
		}
		got = got[skip:]
		return len(got) >= len(want), fmt.Sprint(kinds(got))
	})
	if k := kinds(got[:len(want)]); !slices.Equal(k, want) {
		t.Fatalf("%s %s events %v, want %v", class, id, kinds(got), want)
	}
	return got[:len(want)]
}

// siteYAML is a site with two OSDP readers (one secure, one in clear) on the front
// door and a Wiegand reader on the side door.
const siteYAML = `site: MAN1
stateDir: state
resendAfter: 300ms
bus:
  broker: %s
osdp:
  - port: simulated
    baud: 115200
    readers:
      - {id: front-in, address: 1, scbkFile: front-in.scbk}
      - {id: front-out, address: 2, insecure: true}
doors:
  - id: front
    entryReader: front-in
    exitReader: front-out
    lock: {mode: fail-safe}
    unlockFor: 2s
    heldOpenAfter: 1s
  - id: side
    wiegand: {reader: side-in, direction: entry}
    lock: {mode: fail-secure}
simulate:
  quiet: true
`

// newConfig writes a site's files in a new directory, the site's keys among them
// (keys/MAN1.key and .pub, the default agentKey), and loads its configuration.
func newConfig(t *testing.T, url string) *config.Bridge {
	t.Helper()
	dir := t.TempDir()
	writeSiteKey(t, dir)
	if err := os.WriteFile(filepath.Join(dir, "front-in.scbk"), []byte("00112233445566778899aabbccddeeff\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "bridge.yaml")
	if err := os.WriteFile(path, fmt.Appendf(nil, siteYAML, url), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.LoadBridge(path)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// run starts b and returns a function that stops it and returns Run's result.
func run(t *testing.T, b *bridge.Bridge) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	stopped := false
	var err error
	stop = func() error {
		if !stopped {
			stopped = true
			cancel()
			select {
			case err = <-done:
			case <-time.After(timeout):
				t.Fatal("Run did not return after cancel")
			}
		}
		return err
	}
	t.Cleanup(func() { stop() })
	select {
	case <-b.Ready():
	case err := <-done:
		t.Fatalf("Run = %v before ready", err)
	case <-time.After(timeout):
		t.Fatal("bridge not ready")
	}
	return stop
}

// writeSiteKey makes a site key for MAN1 and writes it under dir/keys, where a
// bridge configuration in dir finds its public half by default.
func writeSiteKey(t *testing.T, dir string) *sitekey.Private {
	t.Helper()
	k, err := sitekey.Generate(site, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := sitekey.Write(filepath.Join(dir, "keys"), k); err != nil {
		t.Fatal(err)
	}
	return k
}

// siteKey returns the private half of the key cfg's bridge verifies with: what the
// agent signs with.
func siteKey(t *testing.T, cfg *config.Bridge) *sitekey.Private {
	t.Helper()
	priv, _ := sitekey.Paths(filepath.Dir(cfg.AgentKey), cfg.Site)
	k, err := sitekey.LoadPrivate(priv)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// list is the list an agent would publish: card 12:10001 opens every door, 12:10002
// only the side door, and the cards of more open every door.
func list(version uint64, more ...string) *sitebus.CredentialList {
	l := &sitebus.CredentialList{Version: version, Time: time.Now().UTC(), Credentials: []sitebus.Allowed{
		{ID: "12:10001"}, {ID: "12:10002", Doors: []string{"side"}},
	}}
	for _, id := range more {
		l.Credentials = append(l.Credentials, sitebus.Allowed{ID: id})
	}
	return l
}

// credentials is list(version, more...) as the agent publishes it, signed by k.
func credentials(t *testing.T, k *sitekey.Private, version uint64, more ...string) []byte {
	t.Helper()
	b, err := sitebus.SignCredentialList(k, list(version, more...))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func card(t *testing.T, fc uint8, cn uint16) wiegand.Card {
	t.Helper()
	c, err := wiegand.Decode(wiegand.Encode26(fc, cn), 26)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// harness is a running bridge on a simulated site, a broker, and a recorder of the bus.
type harness struct {
	cfg *config.Bridge
	key *sitekey.Private // the site key, which the agent signs with
	b   *bridge.Bridge
	sim *bridge.Sim
	bus *recorder
	agt mqtt.Client // stands where the agent would
}

func start(t *testing.T) *harness {
	t.Helper()
	brk := brokertest.Start(t)
	h := &harness{cfg: newConfig(t, brk.URL()), bus: record(t, brk.URL(), "watcher"), agt: brokertest.Client(t, brk.URL(), "agent")}
	h.key = siteKey(t, h.cfg)
	if err := mqttclient.WaitTimeout(t.Context(), h.agt.Publish(sitebus.CredentialsTopic(site), 1, true, credentials(t, h.key, 1)), timeout); err != nil {
		t.Fatal(err)
	}
	h.b = bridge.New(h.cfg, testlog.New(t))
	run(t, h.b)
	h.sim = h.b.Sim()
	h.waitOnline(t, "front-in", true)
	h.waitOnline(t, "front-out", false)
	wait.For(t, timeout, "credential list kept", func() (bool, string) {
		_, err := os.Stat(filepath.Join(h.cfg.StateDir, "credentials.json"))
		return err == nil, fmt.Sprint(err)
	})
	return h
}

// waitOnline waits for reader id's state to say online (and secure, if asked).
func (h *harness) waitOnline(t *testing.T, id string, secure bool) {
	t.Helper()
	wait.For(t, timeout, id+" online", func() (bool, string) {
		st := h.bus.device(t, sitebus.ClassReader, id, sitebus.KindState)
		if len(st) == 0 {
			return false, "no state"
		}
		var s struct{ Online, Secure bool }
		json.Unmarshal(st[len(st)-1].Data, &s)
		return s.Online && s.Secure == secure, string(st[len(st)-1].Data)
	})
}

// lockReleased waits until door id's lock relay lets the door open.
func (h *harness) waitLock(t *testing.T, id string, energised bool) {
	t.Helper()
	wait.For(t, timeout, fmt.Sprintf("%s lock energised=%v", id, energised), func() (bool, string) {
		return h.sim.Door(id).LockEnergised() == energised, ""
	})
}

func decodeCardRead(t *testing.T, m busMsg) *sitebus.CardRead {
	t.Helper()
	cr, err := sitebus.DecodeCardRead(m.Data)
	if err != nil {
		t.Fatal(err)
	}
	return cr
}

func TestAuthorisedEntry(t *testing.T) {
	t.Parallel()
	h := start(t)
	front := h.sim.Door("front")
	if !front.LockEnergised() {
		t.Fatal("fail-safe lock not energised (locked) at rest")
	}
	h.sim.Present("front-in", card(t, 12, 10001))
	read := h.bus.waitEvents(t, sitebus.ClassReader, "front-in", 0, "card-read")[0]
	cr := decodeCardRead(t, read)
	if !cr.Granted || cr.Door != "front" || cr.Direction != "entry" || cr.Credential.ID() != "12:10001" || cr.ListVersion != 1 {
		t.Errorf("card read %+v, want 12:10001 granted at front entry by list 1", cr)
	}
	h.waitLock(t, "front", false)
	front.Open()
	ev := h.bus.waitEvents(t, sitebus.ClassDoor, "front", 0, "unlocked", "opened")
	var opened struct {
		Authorised bool
		Reason     string
		Credential string
		Reader     string
		Passages   int
	}
	json.Unmarshal(ev[1].Data, &opened)
	if !opened.Authorised || opened.Reason != "credential" || opened.Credential != "12:10001" || opened.Reader != "front-in" || opened.Passages != 1 {
		t.Errorf("opened %s", ev[1].Data)
	}
	front.Shut()
	h.bus.waitEvents(t, sitebus.ClassDoor, "front", 0, "closed", "locked")
	h.waitLock(t, "front", true)
	// The reader showed the grant pattern.
	wait.For(t, timeout, "green LED", func() (bool, string) {
		led := h.sim.Reader("front-in").LED()
		return led.Count > 0 && led.Last.Temporary.OnColor == osdp.ColorGreen, fmt.Sprintf("%+v", led)
	})
	// Times come from the bridge's clock and follow each other.
	if !ev[0].Time.Before(ev[1].Time) && !ev[0].Time.Equal(ev[1].Time) {
		t.Errorf("unlocked at %v after opened at %v", ev[0].Time, ev[1].Time)
	}
}

func TestRefused(t *testing.T) {
	t.Parallel()
	h := start(t)
	tests := []struct {
		card   wiegand.Card
		reason string
	}{
		{card(t, 99, 1), "not-listed"},
		{card(t, 12, 10002), "not-this-door"},
	}
	for i, tc := range tests {
		h.sim.Present("front-in", tc.card)
		cr := decodeCardRead(t, h.bus.waitEvents(t, sitebus.ClassReader, "front-in", i, "card-read")[0])
		if cr.Granted || cr.Reason != tc.reason {
			t.Errorf("card %s: granted %v reason %q, want refused %q", tc.card.ID(), cr.Granted, cr.Reason, tc.reason)
		}
	}
	wait.For(t, timeout, "red LED", func() (bool, string) {
		led := h.sim.Reader("front-in").LED()
		return led.Count >= 2 && led.Last.Temporary.OnColor == osdp.ColorRed, fmt.Sprintf("%+v", led)
	})
	if got := h.bus.device(t, sitebus.ClassDoor, "front", sitebus.KindEvent); len(got) != 0 {
		t.Errorf("door events %v after refused cards, want none", kinds(got))
	}
	if !h.sim.Door("front").LockEnergised() {
		t.Error("lock released for a refused card")
	}
}

func TestForcedAndHeldOpen(t *testing.T) {
	t.Parallel()
	h := start(t)
	front := h.sim.Door("front")
	front.Open()
	h.bus.waitEvents(t, sitebus.ClassDoor, "front", 0, "forced", "held-open")
	front.Shut()
	ev := h.bus.waitEvents(t, sitebus.ClassDoor, "front", 0, "closed", "held-open-ended")
	var closed struct{ Authorised bool }
	json.Unmarshal(ev[0].Data, &closed)
	if closed.Authorised {
		t.Errorf("closed after forced: %s, want not authorised", ev[0].Data)
	}
	// The state follows the events that changed it.
	wait.For(t, timeout, "door state locked and closed", func() (bool, string) {
		st := h.bus.device(t, sitebus.ClassDoor, "front", sitebus.KindState)
		var s struct{ Locked, Open, Forced, HeldOpen bool }
		json.Unmarshal(st[len(st)-1].Data, &s)
		return s.Locked && !s.Open && !s.Forced && !s.HeldOpen, string(st[len(st)-1].Data)
	})
}

func TestExitButtonAndTailgate(t *testing.T) {
	t.Parallel()
	h := start(t)
	front := h.sim.Door("front")
	front.PressExit()
	h.waitLock(t, "front", false)
	front.ReleaseExit()
	front.Open()
	h.bus.waitEvents(t, sitebus.ClassDoor, "front", 0, "unlocked", "opened")
	front.Shut()
	h.bus.waitEvents(t, sitebus.ClassDoor, "front", 0, "closed")
	front.Open() // a second person on the same unlock
	ev := h.bus.waitEvents(t, sitebus.ClassDoor, "front", 0, "unlocked", "opened", "closed", "tailgate")
	var u struct{ Reason string }
	json.Unmarshal(ev[0].Data, &u)
	if u.Reason != "exit-button" {
		t.Errorf("unlocked %s, want by the exit button", ev[0].Data)
	}
	var tg struct{ Passages int }
	json.Unmarshal(ev[3].Data, &tg)
	if tg.Passages != 2 {
		t.Errorf("tailgate %s, want 2 passages", ev[3].Data)
	}
	front.Shut()
}

func TestWiegandDoor(t *testing.T) {
	t.Parallel()
	h := start(t)
	side := h.sim.Door("side")
	if side.LockEnergised() {
		t.Fatal("fail-secure lock energised at rest")
	}
	h.sim.Present("side-in", card(t, 12, 10002))
	cr := decodeCardRead(t, h.bus.waitEvents(t, sitebus.ClassReader, "side-in", 0, "card-read")[0])
	if !cr.Granted || cr.Door != "side" || cr.Credential.Format != wiegand.Format26 || cr.Credential.Facility != 12 || cr.Credential.Number != "10002" {
		t.Errorf("card read %+v", cr)
	}
	h.waitLock(t, "side", true) // fail-secure: energised to unlock
	h.bus.waitEvents(t, sitebus.ClassDoor, "side", 0, "unlocked")
}

// command sends cmd to device class/id signed by the site key, as the agent does, and
// returns the bridge's answer.
func command(t *testing.T, h *harness, class, id string, cmd sitebus.Command) sitebus.Result {
	t.Helper()
	b, err := sitebus.SignCommand(h.key, site, class, id, &cmd)
	if err != nil {
		t.Fatal(err)
	}
	return send(t, h, class, id, cmd.ID, b)
}

// send puts b on device class/id's cmd topic and returns the bridge's answer for
// command id.
func send(t *testing.T, h *harness, class, id, cmdID string, b []byte) sitebus.Result {
	t.Helper()
	skip := len(h.bus.device(t, class, id, sitebus.KindCmdResult))
	if err := mqttclient.WaitTimeout(t.Context(), h.agt.Publish(sitebus.DeviceTopic(site, class, id, sitebus.KindCmd), 1, false, b), timeout); err != nil {
		t.Fatal(err)
	}
	var res sitebus.Result
	wait.For(t, timeout, "result of "+cmdID, func() (bool, string) {
		rs := h.bus.device(t, class, id, sitebus.KindCmdResult)
		if len(rs) <= skip {
			return false, ""
		}
		json.Unmarshal(rs[skip].Data, &res)
		return true, ""
	})
	if res.ID != cmdID {
		t.Fatalf("result %+v, want one for %s", res, cmdID)
	}
	return res
}

func TestCommands(t *testing.T) {
	t.Parallel()
	h := start(t)
	soon := time.Now().Add(time.Minute)
	res := command(t, h, sitebus.ClassDoor, "front", sitebus.Command{ID: "c1", Action: sitebus.ActionUnlock, Deadline: soon, By: "staff-7", ForMs: 3000})
	if res.Status != sitebus.ResultDone {
		t.Errorf("unlock: %+v", res)
	}
	ev := h.bus.waitEvents(t, sitebus.ClassDoor, "front", 0, "unlocked")
	var u struct {
		Reason, By string
		Until      time.Time
	}
	json.Unmarshal(ev[0].Data, &u)
	if u.Reason != "command" || u.By != "staff-7" || u.Until.Sub(ev[0].Time).Round(time.Second) != 3*time.Second {
		t.Errorf("unlocked %s at %v, want by command of staff-7 for 3s", ev[0].Data, ev[0].Time)
	}
	h.waitLock(t, "front", false)

	res = command(t, h, sitebus.ClassDoor, "front", sitebus.Command{ID: "c2", Action: sitebus.ActionUnlock, Deadline: time.Now().Add(-time.Second), By: "staff-7"})
	if res.Status != sitebus.ResultExpired {
		t.Errorf("late unlock: %+v, want expired", res)
	}
	res = command(t, h, sitebus.ClassDoor, "back", sitebus.Command{ID: "c3", Action: sitebus.ActionUnlock, Deadline: soon})
	if res.Status != sitebus.ResultFailed || !strings.Contains(res.Error, "no door back") {
		t.Errorf("unlock of no door: %+v", res)
	}
	res = command(t, h, sitebus.ClassReader, "front-out", sitebus.Command{ID: "c4", Action: sitebus.ActionIndicate, Deadline: soon, Pattern: "deny"})
	if res.Status != sitebus.ResultDone {
		t.Errorf("indicate: %+v", res)
	}
	if led := h.sim.Reader("front-out").LED(); led.Last.Temporary.OnColor != osdp.ColorRed {
		t.Errorf("front-out LED %+v after deny, want red", led)
	}
	res = command(t, h, sitebus.ClassReader, "side-in", sitebus.Command{ID: "c5", Action: sitebus.ActionIndicate, Deadline: soon, Pattern: "grant"})
	if res.Status != sitebus.ResultFailed {
		t.Errorf("indicate on a Wiegand reader: %+v, want failed", res)
	}
}

func TestReaderOfflineAndBack(t *testing.T) {
	t.Parallel()
	h := start(t)
	r := h.sim.Reader("front-in")
	r.PowerOff(true)
	h.bus.waitEvents(t, sitebus.ClassReader, "front-in", 0, "offline")
	r.Reboot()
	r.PowerOff(false)
	h.bus.waitEvents(t, sitebus.ClassReader, "front-in", 1, "online")
	h.waitOnline(t, "front-in", true) // secure channel again, with nobody's help
	h.sim.Present("front-in", card(t, 12, 10001))
	h.bus.waitEvents(t, sitebus.ClassReader, "front-in", 0, "card-read")
}

func TestInsecureReaderSaysSo(t *testing.T) {
	t.Parallel()
	h := start(t)
	st := h.bus.device(t, sitebus.ClassReader, "front-out", sitebus.KindState)
	var s struct {
		SecureChannel string
		Secure        bool
	}
	json.Unmarshal(st[len(st)-1].Data, &s)
	if s.SecureChannel != "off" || s.Secure {
		t.Errorf("front-out state %s, want secureChannel off", st[len(st)-1].Data)
	}
	info, err := os.Stat(filepath.Join(h.cfg.StateDir, "credentials.json"))
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("kept credential list: %v, mode %v; want 0600", err, info.Mode())
	}
}

// gate is a TCP front for a broker that refuses every connection until opened: the
// site bus "down" as the bridge sees it.
type gate struct {
	addr string
	open chan struct{}
}

func newGate(t *testing.T, backend string) *gate {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	g := &gate{addr: ln.Addr().String(), open: make(chan struct{})}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			select {
			case <-g.open:
			default:
				c.Close()
				continue
			}
			b, err := net.Dial("tcp", strings.TrimPrefix(backend, "tcp://"))
			if err != nil {
				c.Close()
				continue
			}
			go func() { io.Copy(b, c); b.Close() }()
			go func() { io.Copy(c, b); c.Close() }()
		}
	}()
	return g
}

// busDown is a site whose bus is down (behind a closed gate) and whose bridge kept
// credential list 5 from before; bus records what reaches the broker once the gate opens.
func busDown(t *testing.T) (bus *recorder, g *gate, cfg *config.Bridge) {
	t.Helper()
	brk := brokertest.Start(t)
	bus = record(t, brk.URL(), "watcher")
	g = newGate(t, brk.URL())
	cfg = newConfig(t, "tcp://"+g.addr)
	if err := os.MkdirAll(cfg.StateDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(cfg.StateDir, "credentials.json"), credentials(t, siteKey(t, cfg), 5), 0o600); err != nil {
		t.Fatal(err)
	}
	return bus, g, cfg
}

// TestDoorsWorkWithoutBus: a bridge that starts with the bus down still opens doors
// from the credential list it kept, and reports what happened, in order and with the
// times it happened, once the bus is back.
func TestDoorsWorkWithoutBus(t *testing.T) {
	t.Parallel()
	bus, g, cfg := busDown(t)
	b := bridge.New(cfg, testlog.New(t))
	run(t, b)
	sim := b.Sim()
	front := sim.Door("front")
	wait.For(t, timeout, "front-in secure", func() (bool, string) { return sim.Reader("front-in").Secure(), "" })
	presented := time.Now()
	sim.Present("front-in", card(t, 12, 10001))
	wait.For(t, timeout, "lock released with the bus down", func() (bool, string) { return !front.LockEnergised(), "" })
	front.Open()
	wait.For(t, timeout, "lock back on after the unlock time", func() (bool, string) { return front.LockEnergised(), "" })
	front.Shut()
	sim.Present("front-in", card(t, 99, 99)) // refused, also with the bus down
	wait.For(t, timeout, "red LED", func() (bool, string) {
		return sim.Reader("front-in").LED().Last.Temporary.OnColor == osdp.ColorRed, ""
	})
	if b.Published() != 0 {
		t.Fatalf("published %d with the bus down", b.Published())
	}
	reopened := time.Now()
	close(g.open)

	reads := bus.waitEvents(t, sitebus.ClassReader, "front-in", 0, "card-read", "card-read")
	first, second := decodeCardRead(t, reads[0]), decodeCardRead(t, reads[1])
	if !first.Granted || first.ListVersion != 5 || second.Granted || second.Reason != "not-listed" {
		t.Errorf("reads %+v then %+v, want granted by the kept list 5, then refused", first, second)
	}
	ev := bus.waitEvents(t, sitebus.ClassDoor, "front", 0, "unlocked", "opened", "locked", "closed")
	for _, m := range append(reads, ev...) {
		if m.Time.Before(presented.Add(-time.Second)) || !m.Time.Before(reopened) {
			t.Errorf("%s at %v: want the time it happened, between %v and %v", m.Kind, m.Time, presented, reopened)
		}
	}
	for i := 1; i < len(ev); i++ {
		if ev[i].Seq <= ev[i-1].Seq || ev[i].Time.Before(ev[i-1].Time) {
			t.Errorf("door event %s seq %d at %v after %s seq %d at %v", ev[i].Kind, ev[i].Seq, ev[i].Time, ev[i-1].Kind, ev[i-1].Seq, ev[i-1].Time)
		}
	}
}

func TestHexKeyFile(t *testing.T) {
	// The simulated reader and the bridge share the key from the file.
	h := start(t)
	key := h.sim.Reader("front-in").Key()
	if hex.EncodeToString(key) != "00112233445566778899aabbccddeeff" {
		t.Errorf("reader key %x, want the configured one", key)
	}
}

// TestTamperKeypadAndBadReads: a reader's tamper switch is an event and part of its
// state; keys pressed are reported by count, never by value (they may be a PIN); a
// garbled reply is retried, not lost.
func TestTamperKeypadAndBadReads(t *testing.T) {
	t.Parallel()
	h := start(t)
	r := h.sim.Reader("front-in")
	r.SetTamper(true)
	ev := h.bus.waitEvents(t, sitebus.ClassReader, "front-in", 0, "tamper")
	if string(ev[0].Data) != `{"tamper":true}` {
		t.Errorf("tamper event %s", ev[0].Data)
	}
	wait.For(t, timeout, "tamper in the reader's state", func() (bool, string) {
		st := h.bus.device(t, sitebus.ClassReader, "front-in", sitebus.KindState)
		var s struct{ Tamper bool }
		json.Unmarshal(st[len(st)-1].Data, &s)
		return s.Tamper, string(st[len(st)-1].Data)
	})
	r.SetTamper(false)
	h.bus.waitEvents(t, sitebus.ClassReader, "front-in", 1, "tamper")

	r.Keypad("4711")
	ev = h.bus.waitEvents(t, sitebus.ClassReader, "front-in", 0, "keypad")
	if string(ev[0].Data) != `{"keys":4}` || strings.Contains(string(ev[0].Data), "4711") {
		t.Errorf("keypad event %s, want the count of keys only", ev[0].Data)
	}

	r.SetFaults(osdp.Faults{GarbleNext: 2})
	h.sim.Present("front-in", card(t, 12, 10001))
	cr := decodeCardRead(t, h.bus.waitEvents(t, sitebus.ClassReader, "front-in", 0, "card-read")[0])
	if cr.Credential.ID() != "12:10001" || !cr.Granted {
		t.Errorf("card read through garbled replies: %+v", cr)
	}
}

// TestKeptAcrossRestart: what happened while the bus was down survives the bridge
// restarting, and goes out once, under the boot and seq it was given the first time.
func TestKeptAcrossRestart(t *testing.T) {
	t.Parallel()
	bus, g, cfg := busDown(t)
	first := bridge.New(cfg, testlog.New(t))
	stop := run(t, first)
	sim := first.Sim()
	wait.For(t, timeout, "front-in secure", func() (bool, string) { return sim.Reader("front-in").Secure(), "" })
	sim.Present("front-in", card(t, 12, 10001))
	wait.For(t, timeout, "lock released with the bus down", func() (bool, string) { return !sim.Door("front").LockEnergised(), "" })
	if err := stop(); err != nil {
		t.Fatal(err)
	}

	close(g.open)
	second := bridge.New(cfg, testlog.New(t))
	run(t, second)
	reads := bus.waitEvents(t, sitebus.ClassReader, "front-in", 0, "card-read")
	ev := bus.waitEvents(t, sitebus.ClassDoor, "front", 0, "unlocked")
	if reads[0].Boot != ev[0].Boot || ev[0].Seq != 1 {
		t.Errorf("kept messages: card-read boot %s seq %d, unlocked boot %s seq %d; want one boot, the door's first event",
			reads[0].Boot, reads[0].Seq, ev[0].Boot, ev[0].Seq)
	}
	if cr := decodeCardRead(t, reads[0]); !cr.Granted || cr.Credential.ID() != "12:10001" {
		t.Errorf("kept card read %+v", cr)
	}
	// The second run's own messages carry its own boot.
	wait.For(t, timeout, "the second run's reader state", func() (bool, string) {
		for _, m := range bus.device(t, sitebus.ClassReader, "front-in", sitebus.KindState) {
			if m.Boot != reads[0].Boot {
				return true, ""
			}
		}
		return false, ""
	})
	n := 0
	for _, m := range bus.device(t, sitebus.ClassReader, "front-in", sitebus.KindEvent) {
		if m.Kind == "card-read" && m.Boot == reads[0].Boot && m.Seq == reads[0].Seq {
			n++
		}
	}
	if n != 1 {
		t.Errorf("the kept card read went out %d times, want once", n)
	}
}

// TestResendUntilAcked: while the agent is online, a message it has not acknowledged is
// sent again, byte for byte; once acknowledged it is gone from the outbox.
func TestResendUntilAcked(t *testing.T) {
	t.Parallel()
	h := start(t)
	online, _ := json.Marshal(sitebus.AgentState{Status: "online"})
	if err := mqttclient.WaitTimeout(t.Context(), h.agt.Publish(sitebus.AgentStateTopic(site), 1, true, online), timeout); err != nil {
		t.Fatal(err)
	}
	h.sim.Present("front-in", card(t, 12, 10001))
	first := h.bus.waitEvents(t, sitebus.ClassReader, "front-in", 0, "card-read")[0]
	again := h.bus.waitEvents(t, sitebus.ClassReader, "front-in", 1, "card-read")[0]
	if again.Boot != first.Boot || again.Seq != first.Seq || !bytes.Equal(again.Data, first.Data) || !again.Time.Equal(first.Time) {
		t.Errorf("resent %+v, want the same message as %+v", again.Message, first.Message)
	}

	// The agent acknowledges everything it has seen.
	ackAll := func() {
		acks := map[string]*sitebus.Ack{}
		for _, m := range h.bus.all() {
			tp, err := sitebus.ParseTopic(m.Topic())
			if err != nil {
				continue
			}
			msg, err := sitebus.Decode(m.Payload())
			if err != nil {
				t.Fatal(err)
			}
			a := acks[msg.Boot]
			if a == nil {
				a = &sitebus.Ack{Boot: msg.Boot, Done: map[string][]uint64{}}
				acks[msg.Boot] = a
			}
			dev := tp.Class + "/" + tp.ID + "/" + tp.Kind
			a.Done[dev] = append(a.Done[dev], msg.Seq)
		}
		for _, a := range acks {
			b, _ := json.Marshal(a)
			if err := mqttclient.WaitTimeout(t.Context(), h.agt.Publish(sitebus.AckTopic(site), 1, false, b), timeout); err != nil {
				t.Fatal(err)
			}
		}
	}
	wait.For(t, timeout, "the outbox emptied by the agent's acks", func() (bool, string) {
		ackAll()
		n, err := h.b.Unacknowledged(t.Context())
		return err == nil && n == 0, fmt.Sprint(n, err)
	})
}

// TestCommandsForAClassItRunsNot: a command for a class the bridge runs no device
// of (a body-worn camera dock, which speaks MQTT itself) is not the bridge's to
// answer. The door command sent after it is answered; the dock's never is.
func TestCommandsForAClassItRunsNot(t *testing.T) {
	t.Parallel()
	h := start(t)
	soon := time.Now().Add(time.Minute)
	slot := 2
	dock := sitebus.Command{ID: "d1", Action: sitebus.ActionIndicate, Deadline: soon, By: "agent", Slot: &slot, Pattern: "issue"}
	b, err := sitebus.SignCommand(h.key, site, sitebus.ClassBWCDock, "dock-1", &dock)
	if err != nil {
		t.Fatal(err)
	}
	if err := mqttclient.WaitTimeout(t.Context(), h.agt.Publish(sitebus.DeviceTopic(site, sitebus.ClassBWCDock, "dock-1", sitebus.KindCmd), 1, false, b), timeout); err != nil {
		t.Fatal(err)
	}
	if res := command(t, h, sitebus.ClassDoor, "front", sitebus.Command{ID: "c1", Action: sitebus.ActionUnlock, Deadline: soon, By: "staff-7", ForMs: 1000}); res.Status != sitebus.ResultDone {
		t.Errorf("unlock: %+v", res)
	}
	if rs := h.bus.device(t, sitebus.ClassBWCDock, "dock-1", sitebus.KindCmdResult); len(rs) != 0 {
		t.Errorf("the bridge answered the dock's command: %s", rs[0].Data)
	}
}
