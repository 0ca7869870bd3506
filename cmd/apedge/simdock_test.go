package main

import (
	"context"
	"encoding/json"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/apedge/apedge/cmd/apedge/internal/clitest"
	"github.com/apedge/apedge/devices/bwcdock"
	"github.com/apedge/apedge/formats/sitebus"
	"github.com/apedge/apedge/formats/sitekey"
	"github.com/apedge/apedge/internal/broker"
	"github.com/apedge/apedge/internal/broker/brokertest"
	"github.com/apedge/apedge/internal/clock/clocktest"
	"github.com/apedge/apedge/internal/mqttclient"
	"github.com/apedge/apedge/internal/pki"
	"github.com/apedge/apedge/internal/testlog"
	"github.com/apedge/apedge/internal/wait"
)

// dockSite is a site bus over TLS with the ACL of site S1, a dock dock-1 among its
// devices, and the certificates of the dock, the agent and a monitor.
type dockSite struct {
	dir   string
	b     *broker.Broker
	certs map[string]*pki.Cert
	key   *sitekey.Private
	pub   string // the site's public key file
}

func startDockSite(t *testing.T) *dockSite {
	t.Helper()
	// Certificates valid from 2020 for a century, so that the TLS handshakes, which
	// check them by the system clock, pass on whatever day the test runs.
	pkiClk := clocktest.New(time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC))
	o := pki.Options{Clock: pkiClk, Validity: 100 * 365 * 24 * time.Hour}
	s := &dockSite{dir: filepath.Join(t.TempDir(), "pki"), certs: map[string]*pki.Cert{}}
	if _, err := pki.Init(s.dir, "S1", o); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"broker", "agent", "monitor", "device:bwc-dock:dock-1"} {
		c, err := pki.Issue(s.dir, n, o)
		if err != nil {
			t.Fatal(err)
		}
		s.certs[n] = c
	}
	tc, err := pki.ServerTLS(s.dir, pkiClk)
	if err != nil {
		t.Fatal(err)
	}
	rules := pki.SiteRules(pki.Site{Code: "S1", Classes: []string{"door", "reader"},
		Devices: []pki.Identity{{Role: pki.RoleDevice, Class: sitebus.ClassBWCDock, ID: "dock-1"}}})
	if s.b, err = broker.New(t.Context(), broker.Options{Addr: "127.0.0.1:0", Log: testlog.New(t), TLS: tc, Rules: rules}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.b.Close() })
	if s.key, err = sitekey.FromSeed("S1", []byte(strings.Repeat("d", 32))); err != nil {
		t.Fatal(err)
	}
	if _, s.pub, err = sitekey.Write(t.TempDir(), s.key); err != nil {
		t.Fatal(err)
	}
	return s
}

// as makes a client connect as identity name.
func (s *dockSite) as(name string) brokertest.Option {
	return func(o *mqttclient.Options) {
		o.Link.TLS = &mqttclient.TLS{CA: filepath.Join(s.dir, pki.CACertFile), Cert: s.certs[name].CertFile, Key: s.certs[name].KeyFile}
	}
}

// simDockProc is apedge sim dock running in-process.
type simDockProc struct {
	t      *testing.T
	stdin  *io.PipeWriter
	stdout clitest.LockedBuffer
	stderr clitest.LockedBuffer
	stop   context.CancelFunc
	done   chan error
}

func startSimDock(t *testing.T, clk *clocktest.Clock, args ...string) *simDockProc {
	t.Helper()
	in, stdin := io.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	p := &simDockProc{t: t, stdin: stdin, stop: cancel, done: make(chan error, 1)}
	go func() {
		p.done <- sys{stdin: in, clock: clk}.cmdSim(ctx, append([]string{"dock"}, args...), &p.stdout, &p.stderr)
	}()
	t.Cleanup(func() {
		cancel()
		stdin.Close()
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			t.Errorf("apedge sim dock did not return when its context ended")
		}
	})
	return p
}

// do sends one command line and returns the line it answered with.
func (p *simDockProc) do(cmd string) string {
	p.t.Helper()
	before := len(clitest.Lines(p.stdout.String()))
	if _, err := io.WriteString(p.stdin, cmd+"\n"); err != nil {
		p.t.Fatal(err)
	}
	var answer string
	wait.For(p.t, 10*time.Second, "the answer to "+cmd, func() (bool, string) {
		ls := clitest.Lines(p.stdout.String())
		if len(ls) > before {
			answer = ls[before]
			return true, ""
		}
		return false, p.stdout.String()
	})
	return answer
}

// busMsg is a dock message as the monitor received it.
type busMsg struct {
	kind string // the topic's: state, event, cmd/result
	msg  *sitebus.Message
}

// next returns the dock's next message, skipping the agent's commands.
func next(t *testing.T, what string, msgs <-chan mqtt.Message) busMsg {
	t.Helper()
	for {
		m := brokertest.Receive(t, 10*time.Second, what, msgs)
		tp, err := sitebus.ParseTopic(m.Topic())
		if err != nil {
			t.Fatal(err)
		}
		if tp.Kind == sitebus.KindCmd {
			continue
		}
		dm, err := sitebus.Decode(m.Payload())
		if err != nil {
			t.Fatalf("%s: %s: %v", what, m.Payload(), err)
		}
		return busMsg{tp.Kind, dm}
	}
}

// want checks that m is a message of topic kind kind, of kind msgKind, seq seq and
// exactly data data.
func want(t *testing.T, what string, m busMsg, kind, msgKind string, seq uint64, data string) {
	t.Helper()
	if m.kind != kind || m.msg.Kind != msgKind || m.msg.Seq != seq || string(m.msg.Data) != data {
		t.Errorf("%s: %s %s seq %d %s\nwant %s %s seq %d %s", what, m.kind, m.msg.Kind, m.msg.Seq, m.msg.Data, kind, msgKind, seq, data)
	}
	var err error
	switch kind {
	case sitebus.KindState:
		_, err = sitebus.DecodeDockStatus(m.msg.Data)
	case sitebus.KindEvent:
		_, err = sitebus.DecodeDockEvent(m.msg.Kind, m.msg.Data)
	case sitebus.KindCmdResult:
		_, err = sitebus.DecodeResult(m.msg.Data)
	}
	if err != nil {
		t.Errorf("%s: the site bus refuses %s: %v", what, m.msg.Data, err)
	}
}

// sitebusDecoder is a bwcdock.Publisher that decodes everything with sitebus's
// decoders and counts what it took.
type sitebusDecoder struct {
	t     *testing.T
	kinds map[string]int
}

func (p *sitebusDecoder) Publish(kind string, retained bool, v any) {
	b, err := json.Marshal(v)
	if err == nil {
		if kind == sitebus.DockStatusKind {
			_, err = sitebus.DecodeDockStatus(b)
		} else {
			_, err = sitebus.DecodeDockEvent(kind, b)
		}
	}
	if err != nil || retained != (kind == sitebus.DockStatusKind) {
		p.t.Errorf("the dock published %s (retained %v) %s, which the site bus refuses: %v", kind, retained, b, err)
	}
	p.kinds[kind]++
}

// TestDockVocabulary checks that devices/bwcdock speaks formats/sitebus's
// vocabulary: the same names, and payloads its decoders take, through a shift
// with every kind of message.
func TestDockVocabulary(t *testing.T) {
	for _, c := range [][2]any{
		{bwcdock.ClassName, sitebus.ClassBWCDock}, {bwcdock.StatusKind, sitebus.DockStatusKind},
		{bwcdock.KindDocked, sitebus.DockEventDocked}, {bwcdock.KindUndocked, sitebus.DockEventUndocked},
		{bwcdock.KindOffload, sitebus.DockEventOffload}, {bwcdock.KindBadge, sitebus.DockEventBadge},
		{bwcdock.MaxSlots, sitebus.MaxDockSlots}, {bwcdock.MaxFaults, sitebus.MaxDockFaults},
		{bwcdock.OffloadIdle, sitebus.OffloadIdle}, {bwcdock.OffloadRunning, sitebus.OffloadRunning},
		{bwcdock.OffloadDone, sitebus.OffloadDone}, {bwcdock.OffloadFailed, sitebus.OffloadFailed},
		{bwcdock.ResultDone, sitebus.ResultDone}, {bwcdock.ResultFailed, sitebus.ResultFailed},
		{bwcdock.PatternIssue, sitebus.PatternIssue}, {bwcdock.PatternRefused, sitebus.PatternRefused},
		{bwcdock.PatternReturn, sitebus.PatternReturn},
	} {
		if c[0] != c[1] {
			t.Errorf("bwcdock says %v where sitebus says %v", c[0], c[1])
		}
	}
	clk := clocktest.New(simTime)
	p := &sitebusDecoder{t: t, kinds: map[string]int{}}
	sim, err := bwcdock.NewSim(bwcdock.Config{Slots: bwcdock.MaxSlots, Cameras: 3}, clk, p)
	if err != nil {
		t.Fatal(err)
	}
	sim.Announce()
	for _, step := range []func() error{
		func() error { _, err := sim.Undock(1); return err },
		func() error { _, err := sim.Undock(2); return err },
		func() error { return sim.Badge("12:10001") },
		func() error { return sim.Fault("BWC-0003", "lens obstructed") },
		func() error { clk.Add(8 * time.Hour); return sim.FailNextOffload("BWC-0002") },
		func() error { return sim.Dock(bwcdock.MaxSlots, "BWC-0001") },
		func() error { return sim.Dock(10, "BWC-0002") },
		func() error { clk.Add(time.Hour); sim.Advance(); return nil },
	} {
		if err := step(); err != nil {
			t.Fatal(err)
		}
	}
	for _, k := range []string{sitebus.DockStatusKind, sitebus.DockEventDocked, sitebus.DockEventUndocked, sitebus.DockEventOffload, sitebus.DockEventBadge} {
		if p.kinds[k] == 0 {
			t.Errorf("the shift published no %s: %v", k, p.kinds)
		}
	}
	if p.kinds[sitebus.DockEventOffload] != 2 {
		t.Errorf("%d offload events, want 2 (one done, one failed)", p.kinds[sitebus.DockEventOffload])
	}
}

func TestSimDock(t *testing.T) {
	s := startDockSite(t)
	mon := brokertest.Client(t, s.b.URL(), "monitor", s.as("monitor"))
	msgs := brokertest.Subscribe(t, mon, "apedge/v1/S1/dev/bwc-dock/dock-1/#")
	agent := brokertest.Client(t, s.b.URL(), "agent", s.as("agent"))

	clk := clocktest.New(simTime)
	dev := s.certs["device:bwc-dock:dock-1"]
	p := startSimDock(t, clk, "-broker", s.b.URL(), "-site", "S1", "-id", "dock-1", "-ca", filepath.Join(s.dir, pki.CACertFile),
		"-cert", dev.CertFile, "-key", dev.KeyFile, "-agentkey", s.pub, "-slots", "4", "-cameras", "2", "-serial", "DK4-00417")

	slot := func(n int, camera string, pct int, charging bool) string {
		if camera == "" {
			return `{"slot":` + itoa(n) + `,"occupied":false}`
		}
		ch := ""
		if charging {
			ch = `"charging":true,`
		}
		return `{"slot":` + itoa(n) + `,"occupied":true,"camera":"` + camera + `","batteryPct":` + itoa(pct) + `,` + ch +
			`"offload":{"state":"idle","progressPct":0},"cameraFirmware":"sim-3.2.0"}`
	}
	status := func(slots ...string) string {
		return `{"online":true,"serial":"DK4-00417","model":"sim-dock-4","firmware":"sim-1.0","slots":[` + strings.Join(slots, ",") + `],"simulated":true}`
	}
	const offline = `{"online":false,"serial":"DK4-00417","model":"sim-dock-4","firmware":"sim-1.0","simulated":true}`

	first := next(t, "the first status", msgs)
	want(t, "at connect", first, sitebus.KindState, sitebus.DockStatusKind, 2,
		status(slot(1, "BWC-0001", 100, false), slot(2, "BWC-0002", 100, false), slot(3, "", 0, false), slot(4, "", 0, false)))
	if !first.msg.Time.Equal(simTime) {
		t.Errorf("status dated %v, want the dock's clock, %v", first.msg.Time, simTime)
	}
	boot := first.msg.Boot

	if got := p.do("undock 1"); got != "slot 1: BWC-0001 taken out" {
		t.Errorf("undock answered %q", got)
	}
	want(t, "undock 1", next(t, "undocked", msgs), sitebus.KindEvent, sitebus.DockEventUndocked, 1, `{"slot":1,"serial":"BWC-0001"}`)
	want(t, "undock 1", next(t, "status", msgs), sitebus.KindState, sitebus.DockStatusKind, 3,
		status(slot(1, "", 0, false), slot(2, "BWC-0002", 100, false), slot(3, "", 0, false), slot(4, "", 0, false)))

	if got := p.do("badge 12:10001"); got != "card 12:10001 shown" {
		t.Errorf("badge answered %q", got)
	}
	want(t, "badge", next(t, "badge", msgs), sitebus.KindEvent, sitebus.DockEventBadge, 2, `{"card":"12:10001"}`)

	// Its battery charges by the dock's clock, a status at each whole percent.
	if got := p.do("drain BWC-0002 50"); got != "BWC-0002: battery 50%" {
		t.Errorf("drain answered %q", got)
	}
	want(t, "drain", next(t, "status", msgs), sitebus.KindState, sitebus.DockStatusKind, 4,
		status(slot(1, "", 0, false), slot(2, "BWC-0002", 50, true), slot(3, "", 0, false), slot(4, "", 0, false)))
	clk.Add(3 * time.Minute)
	want(t, "3 minutes on", next(t, "status", msgs), sitebus.KindState, sitebus.DockStatusKind, 5,
		status(slot(1, "", 0, false), slot(2, "BWC-0002", 53, true), slot(3, "", 0, false), slot(4, "", 0, false)))

	// The agent's signed indicate sets the LED; anything else is refused by id.
	two := 2
	cmdTopic := sitebus.DeviceTopic("S1", sitebus.ClassBWCDock, "dock-1", sitebus.KindCmd)
	signed, err := sitebus.SignCommand(s.key, "S1", sitebus.ClassBWCDock, "dock-1", &sitebus.Command{ID: "c-1", Action: sitebus.ActionIndicate,
		Deadline: clk.Now().Add(time.Minute), Slot: &two, Pattern: sitebus.PatternRefused, Reason: "battery 53%, under 80%"})
	if err != nil {
		t.Fatal(err)
	}
	if err := mqttclient.WaitTimeout(t.Context(), agent.Publish(cmdTopic, 1, false, signed), 10*time.Second); err != nil {
		t.Fatal(err)
	}
	want(t, "signed indicate", next(t, "result", msgs), sitebus.KindCmdResult, sitebus.ResultDone, 1, `{"id":"c-1","status":"done"}`)
	bare, _ := json.Marshal(sitebus.Command{ID: "c-2", Action: sitebus.ActionIndicate, Deadline: clk.Now().Add(time.Minute), Slot: &two, Pattern: sitebus.PatternIssue})
	if err := mqttclient.WaitTimeout(t.Context(), agent.Publish(cmdTopic, 1, false, bare), 10*time.Second); err != nil {
		t.Fatal(err)
	}
	res := next(t, "result", msgs)
	if r, err := sitebus.DecodeResult(res.msg.Data); err != nil || r.ID != "c-2" || r.Status != sitebus.ResultFailed || !strings.Contains(r.Error, "not signed") || res.msg.Seq != 2 {
		t.Errorf("unsigned command answered %+v, %v (seq %d), want failed: not signed", r, err, res.msg.Seq)
	}
	wait.For(t, 10*time.Second, "the commands' lines", func() (bool, string) {
		return strings.Contains(p.stdout.String(), "command c-2: failed"), p.stdout.String()
	})
	if got, want := p.do("status"), `dock DK4-00417 online: [1 empty] [2 BWC-0002 53% offload idle 0% LED refused "battery 53%, under 80%"] [3 empty] [4 empty] [out BWC-0001 99%]`; got != want {
		t.Errorf("status answered\n%q, want\n%q", got, want)
	}

	// Cable pulled: the broker publishes the will, seq 1 of the boot, dated at the
	// connect, and keeps it.
	if got := p.do("offline on"); got != "offline: cable pulled" {
		t.Errorf("offline answered %q", got)
	}
	will := next(t, "the will", msgs)
	want(t, "the will", will, sitebus.KindState, sitebus.DockStatusKind, 1, offline)
	if will.msg.Boot != boot || !will.msg.Time.Equal(simTime) {
		t.Errorf("will of boot %s at %v, want boot %s at %v", will.msg.Boot, will.msg.Time, boot, simTime)
	}
	late := brokertest.Client(t, s.b.URL(), "monitor-late", s.as("monitor"))
	kept := brokertest.Receive(t, 10*time.Second, "the retained will", brokertest.Subscribe(t, late, sitebus.DeviceTopic("S1", sitebus.ClassBWCDock, "dock-1", sitebus.KindState)))
	if !kept.Retained() || string(kept.Payload()) != string(will.msg.Encode()) {
		t.Errorf("retained %v %s, want the will", kept.Retained(), kept.Payload())
	}
	if got := p.do("badge 12:10001"); got != "card 12:10001 shown" {
		t.Errorf("badge answered %q", got)
	}

	// Plugged back: a new boot, its status from seq 2; the badge shown offline is lost.
	clk.Add(time.Minute)
	if got := p.do("offline off"); got != "online: cable plugged back" {
		t.Errorf("offline off answered %q", got)
	}
	back := next(t, "the status after the cable", msgs)
	want(t, "back", back, sitebus.KindState, sitebus.DockStatusKind, 2,
		status(slot(1, "", 0, false), slot(2, "BWC-0002", 54, true), slot(3, "", 0, false), slot(4, "", 0, false)))
	if back.msg.Boot == boot {
		t.Errorf("reconnected with the old boot %s", boot)
	}

	// Stopped on purpose, it says it is offline itself.
	p.stop()
	var last busMsg
	for last.msg == nil || last.msg.Kind != sitebus.DockStatusKind || last.kind == sitebus.KindState && strings.Contains(string(last.msg.Data), `"online":true`) {
		last = next(t, "the goodbye", msgs)
	}
	if last.kind != sitebus.KindState || string(last.msg.Data) != offline || last.msg.Boot != back.msg.Boot {
		t.Errorf("at the end: %s %s of boot %s, want the offline status of boot %s", last.kind, last.msg.Data, last.msg.Boot, back.msg.Boot)
	}
	if e := p.stderr.String(); strings.Contains(e, "level=ERROR") {
		t.Errorf("stderr %s", e)
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

func TestSimDockCommandErrors(t *testing.T) {
	tests := []struct{ line, wantErr string }{
		{"dock 1", "say dock SLOT SERIAL"},
		{"dock one BWC-9", `"one": say the slot as a number, 1 to 2`},
		{"dock 1 BWC-9", "slot 1 holds BWC-0001"},
		{"dock 3 BWC-9", "no slot 3"},
		{"undock 2", "slot 2 is empty"},
		{"drain BWC-0001", "say drain SERIAL PCT"},
		{"drain BWC-0001 lots", "say the battery % as a number"},
		{"drain BWC-0009 5", `no camera "BWC-0009"`},
		{"record BWC-0001 5", "is docked"},
		{"fail-offload", "say fail-offload SERIAL"},
		{"fault", "say fault SERIAL [TEXT]"},
		{"badge", "say badge CARD"},
		{"offline maybe", "say offline on or offline off"},
		{"status now", "say status"},
		{"dance", "unknown command"},
	}
	for _, tc := range tests {
		t.Run(tc.line, func(t *testing.T) {
			sim, err := bwcdock.NewSim(bwcdock.Config{Slots: 2, Cameras: 1}, clocktest.New(simTime), nopPublisher{})
			if err != nil {
				t.Fatal(err)
			}
			if msg, err := simDockCommand(sim, strings.Fields(tc.line)); err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%q, %v; want an error saying %q", msg, err, tc.wantErr)
			}
		})
	}
}

type nopPublisher struct{}

func (nopPublisher) Publish(string, bool, any) {}

func TestSimDockUsage(t *testing.T) {
	tests := []struct {
		name   string
		args   []string
		prefix string
	}{
		{"no broker", []string{"sim", "dock", "-site", "S1"}, "apedge sim dock: -broker is required"},
		{"no site", []string{"sim", "dock", "-broker", "tls://127.0.0.1:1"}, `apedge sim dock: -site "": give the site code`},
		{"bad id", []string{"sim", "dock", "-broker", "tls://127.0.0.1:1", "-site", "S1", "-id", "dock 1"}, `apedge sim dock: -id "dock 1"`},
		{"cert without key", []string{"sim", "dock", "-broker", "tls://127.0.0.1:1", "-site", "S1", "-cert", "c.crt"}, "apedge sim dock: give -cert and -key together"},
		{"no slots", []string{"sim", "dock", "-broker", "tls://127.0.0.1:1", "-site", "S1", "-slots", "0"}, "apedge sim dock: bwcdock: 0 slots"},
		{"too many cameras", []string{"sim", "dock", "-broker", "tls://127.0.0.1:1", "-site", "S1", "-cameras", "5"}, "apedge sim dock: bwcdock: 5 cameras in 4 slots"},
		{"stray argument", []string{"sim", "dock", "-broker", "tls://127.0.0.1:1", "-site", "S1", "now"}, `apedge sim dock: unexpected argument "now"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clitest.WantOneLine(t, apedge(t, tc.args...), 2, tc.prefix)
		})
	}
	r := apedge(t, "sim", "dock", "-h")
	for _, c := range []string{"dock SLOT SERIAL", "undock SLOT", "drain SERIAL PCT", "fail-offload SERIAL", "fault SERIAL [TEXT]", "badge CARD", "offline on|off", "status"} {
		if r.Code != 0 || !strings.Contains(r.Stderr, "\n  "+c) {
			t.Errorf("usage does not document %q\n%v", c, r)
		}
	}
}
