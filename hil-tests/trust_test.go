package hiltests

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/apedge/apedge/formats/event"
	"github.com/apedge/apedge/formats/sitebus"
	"github.com/apedge/apedge/formats/uplink"
	"github.com/apedge/apedge/internal/pki"
)

// attack is one message a forger publishes.
type attack struct {
	name     string
	topic    string
	payload  []byte
	retained bool
}

// forgeries are the attacks of the trust-boundary issue, on site code's bus and uplink.
func forgeries(t *testing.T, code string) []attack {
	t.Helper()
	now := time.Now()
	msg := func(at time.Time, kind string, data any) []byte {
		b, err := json.Marshal(data)
		if err != nil {
			t.Fatal(err)
		}
		return (&sitebus.Message{Time: at, Boot: "forged", Seq: 1, Kind: kind, Data: b}).Encode()
	}
	cmd, _ := json.Marshal(sitebus.Command{ID: "forged-1", Action: sitebus.ActionUnlock, Deadline: now.Add(time.Hour), ForMs: time.Hour.Milliseconds()})
	list, _ := json.Marshal(sitebus.CredentialList{Version: math.MaxUint64, Time: now, Credentials: []sitebus.Allowed{{ID: "12:66666"}}})
	return []attack{
		{name: "door opened", topic: sitebus.DeviceTopic(code, sitebus.ClassDoor, "front", sitebus.KindEvent),
			payload: msg(now, "opened", sitebus.DoorEvent{Reason: "card", Reader: "front-out", Direction: "exit", Credential: "12:10001"})},
		{name: "card read from a reader that does not exist, a day old", topic: sitebus.DeviceTopic(code, sitebus.ClassReader, "ghost-in", sitebus.KindEvent),
			payload: msg(now.Add(-24*time.Hour), "card-read", sitebus.CardRead{Door: "front", Direction: "exit",
				Credential: sitebus.Credential{Kind: "card", Number: "10001", Format: "raw"}, Granted: true})},
		{name: "unlock for an hour", topic: sitebus.DeviceTopic(code, sitebus.ClassDoor, "side", "cmd"), payload: cmd},
		{name: "credential list version 2^64-1", topic: sitebus.CredentialsTopic(code), payload: list, retained: true},
		{name: "ack far beyond the journal", topic: uplink.AckTopic(code), payload: uplink.EncodeAck(code, math.MaxInt64, now), retained: true},
	}
}

// monitor records every message on a site's bus and on central's topics.
type monitor struct {
	mu   sync.Mutex
	msgs []mqtt.Message
}

func startMonitor(t *testing.T, b Broker, code string) *monitor {
	t.Helper()
	m := &monitor{}
	c := connect(t, b, "hil-monitor", "monitor")
	for _, f := range []string{"apedge/v1/" + code + "/#", "apedge/v1/central/#"} {
		tok := c.Subscribe(f, 1, func(_ mqtt.Client, msg mqtt.Message) {
			m.mu.Lock()
			m.msgs = append(m.msgs, msg)
			m.mu.Unlock()
		})
		if !tok.WaitTimeout(20*time.Second) || tok.Error() != nil {
			t.Fatalf("monitor subscribe %s: %v", f, tok.Error())
		}
	}
	return m
}

// saw reports whether the monitor saw payload on topic.
func (m *monitor) saw(topic string, payload []byte) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, msg := range m.msgs {
		if msg.Topic() == topic && bytes.Equal(msg.Payload(), payload) {
			return true
		}
	}
	return false
}

// biggest is the size of the largest message the monitor saw.
func (m *monitor) biggest() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, msg := range m.msgs {
		n = max(n, len(msg.Payload()))
	}
	return n
}

// publishAs connects to b with identity name's certificate, publishes a at QoS 1 and
// disconnects. It returns once the broker has answered: a PUBACK (Mosquitto answers
// even a publish its ACL drops), or the connection closed (the embedded broker
// disconnects an MQTT 3.1.1 client whose publish it refuses).
func publishAs(t *testing.T, b Broker, name string, a attack) {
	t.Helper()
	certFile, keyFile := b.PKI().files(name)
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	c, err := dialRaw(b, "forger-"+strings.ReplaceAll(name, ":", "-"), &pair)
	if err != nil {
		t.Fatalf("%s connects with its own certificate: %v", name, err)
	}
	defer c.Disconnect(50)
	tok := c.Publish(a.topic, 1, a.retained, a.payload)
	if !tok.WaitTimeout(20 * time.Second) {
		t.Fatalf("%s: %s: the broker neither acknowledged nor disconnected in 20s", name, a.name)
	}
	t.Logf("%s publishes %s: %v", name, a.name, tok.Error())
}

// nosy is a client subscribed where its identity may not read.
type nosy struct {
	name, filter string
	granted      byte         // the broker's answer: 0x80 or above is a refusal
	got          atomic.Int64 // messages delivered to it
}

// subscribeAs connects as name and subscribes to filter, staying connected to the end
// of the test. The embedded broker refuses the subscription; Mosquitto's acl_file
// grants any subscription and checks each message at delivery, so a refused reader
// shows as one that receives nothing.
func subscribeAs(t *testing.T, b Broker, name, filter string) *nosy {
	t.Helper()
	certFile, keyFile := b.PKI().files(name)
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	c, err := dialRaw(b, "nosy-"+strings.ReplaceAll(name, ":", "-"), &pair)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Disconnect(50) })
	n := &nosy{name: name, filter: filter}
	tok := c.Subscribe(filter, 1, func(mqtt.Client, mqtt.Message) { n.got.Add(1) })
	if !tok.WaitTimeout(20*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe %s as %s: %v", filter, name, tok.Error())
	}
	n.granted = tok.(*mqtt.SubscribeToken).Result()[filter]
	return n
}

// TestForgersRefused: each attack of the trust-boundary issue, tried against real
// Mosquitto and against the embedded broker, each serving TLS with the ACL made by
// package pki, by a client with no certificate, with a certificate from another CA,
// with a revoked certificate, with another client's (the console's) certificate and
// with a device's own certificate. None becomes evidence: the broker refuses the
// connection or the publish; the one message a device may publish, on its own topic,
// reaches the agent, which refuses it as from no configured device and alarms once; an
// out-of-range ack with central's own certificate is refused by the forwarder, which
// keeps delivering; and central's store equals the journal afterwards.
func TestForgersRefused(t *testing.T) {
	t.Parallel()
	for _, kind := range []string{"mosquitto", "embedded"} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			forgersRefused(t, kind)
		})
	}
}

func forgersRefused(t *testing.T, kind string) {
	code := map[string]string{"mosquitto": "TRM1", "embedded": "TRE1"}[kind]
	// A body-worn camera dock that joins the bus itself, with its own certificate; this
	// site has configured no dock.
	dock := pki.Identity{Role: pki.RoleDevice, Class: sitebus.ClassBWCDock, ID: "dock-1"}
	spec := busSpec{sites: []string{code}, devices: []pki.Identity{dock}, revoked: []string{"device:" + sitebus.ClassBWCDock + ":dock-0"}}
	var b Broker
	var emb *Embedded
	if kind == "mosquitto" {
		b = startMosquittoFor(t, spec)
	} else {
		emb = startEmbedded(t, spec)
		b = emb
	}
	s := newSite(t, code, b, siteOptions{})
	mon := startMonitor(t, b, code)
	startProc(t, s.Dir, "central", "central", "-config", s.CentralYAM)
	startProc(t, s.Dir, "agent", "agent", "-config", s.AgentYAML)
	d := newBusDriver(t, s.Code, b, "front-in")
	warmUp(t, s, d)
	moved := 0
	for _, e := range s.journalEntries(t) {
		if strings.HasPrefix(parseEntry(t, e).Type, event.TypePrefix+"movement.") {
			moved++
		}
	}

	// Refused at the door: no certificate, one from another CA naming itself the
	// agent, and a revoked one (a dock taken out of service).
	if _, err := dialRaw(b, "anonymous", nil); err == nil {
		t.Error("a client with no certificate connected")
	}
	other := newTestPKI(t)
	oc, ok := other.files("agent")
	pair, err := tls.LoadX509KeyPair(oc, ok)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dialRaw(b, "impostor", &pair); err == nil {
		t.Error("a client with another CA's certificate for \"agent\" connected")
	}
	rc, rk := b.PKI().files(spec.revoked[0])
	if pair, err = tls.LoadX509KeyPair(rc, rk); err != nil {
		t.Fatal(err)
	}
	if _, err := dialRaw(b, "revoked", &pair); err == nil {
		t.Error("a client with a revoked certificate connected")
	}

	// Refused by the ACL: every forgery, by the console's and the dock's certificates.
	attacks := forgeries(t, code)
	for _, who := range []string{"console", dock.String()} {
		for _, a := range attacks {
			publishAs(t, b, who, a)
		}
	}
	nosies := []*nosy{
		subscribeAs(t, b, "console", sitebus.DeviceFilter(code, sitebus.KindEvent)),
		subscribeAs(t, b, dock.String(), "apedge/v1/"+code+"/#"),
	}
	if emb != nil {
		for _, n := range nosies {
			if n.granted < 0x80 {
				t.Errorf("%s subscribed to %s (SUBACK %#x)", n.name, n.filter, n.granted)
			}
		}
	}

	// What a device may publish, on its own topic, the agent refuses: no dock is
	// configured at this site. Twice, for one alarm.
	own := attack{name: "the dock's own event", topic: sitebus.DeviceTopic(code, dock.Class, dock.ID, sitebus.KindEvent),
		payload: (&sitebus.Message{Time: time.Now(), Boot: "dock-boot", Seq: 1, Kind: "slot-occupied", Data: json.RawMessage(`{"slot":1}`)}).Encode()}
	publishAs(t, b, dock.String(), own)
	own.payload = (&sitebus.Message{Time: time.Now(), Boot: "dock-boot", Seq: 2, Kind: "slot-occupied", Data: json.RawMessage(`{"slot":2}`)}).Encode()
	publishAs(t, b, dock.String(), own)
	// An oversized message, even on its own topic, is refused and its client cut off.
	huge := own
	huge.name, huge.payload = "an 8 MiB message", bytes.Repeat([]byte("x"), 8<<20)
	publishAs(t, b, dock.String(), huge)

	// Central's own certificate may ack, but not beyond the journal: the forwarder
	// refuses it, alarms, and goes on delivering.
	for _, a := range attacks {
		if a.topic == uplink.AckTopic(code) {
			publishAs(t, b, "central", a)
		}
	}

	// Real traffic goes on, and all of it reaches central.
	for range 20 {
		d.read(context.Background(), "10001")
	}
	var entries []struct {
		typ  string
		info map[string]any
	}
	waitFor(t, 60*time.Second, "the new reads, the dock's refusal and the ack refusal journaled", func() (bool, string) {
		entries = entries[:0]
		var moves, dockRefused, ackRefused int
		for _, e := range s.journalEntries(t) {
			ev := parseEntry(t, e)
			var info map[string]any
			json.Unmarshal(ev.Data.AdditionalInformation, &info)
			entries = append(entries, struct {
				typ  string
				info map[string]any
			}{strings.TrimPrefix(ev.Type, event.TypePrefix), info})
			switch typ := strings.TrimPrefix(ev.Type, event.TypePrefix); {
			case strings.HasPrefix(typ, "movement."):
				moves++
			case typ == "device.refused":
				dockRefused++
			case typ == "delivery.ack-refused":
				ackRefused++
			}
		}
		return moves >= moved+20 && dockRefused >= 1 && ackRefused >= 1, fmt.Sprintf("movements %d, device.refused %d, delivery.ack-refused %d", moves, dockRefused, ackRefused)
	})
	s.checkDelivered(t)

	// Nothing forged reached anyone, and nothing forged is evidence.
	for _, a := range attacks {
		if a.topic == uplink.AckTopic(code) {
			continue // published by central's identity, which may
		}
		if mon.saw(a.topic, a.payload) {
			t.Errorf("%s: the broker passed it on", a.name)
		}
	}
	for _, n := range nosies {
		if got := n.got.Load(); got > 0 {
			t.Errorf("%s, subscribed to %s, was sent %d messages", n.name, n.filter, got)
		}
	}
	if !mon.saw(own.topic, own.payload) {
		t.Error("the dock's message on its own topic never arrived")
	}
	if n := mon.biggest(); n > 1<<20 {
		t.Errorf("a message of %d bytes was passed on", n)
	}
	refusals := 0
	for _, e := range entries {
		switch {
		case strings.HasPrefix(e.typ, "movement."):
			if r, _ := e.info["reader"].(string); r != "front-in" {
				t.Errorf("%s from reader %q journaled", e.typ, r)
			}
		case e.typ == "device.refused":
			refusals++
			dev, _ := e.info["device"].(map[string]any)
			if e.info["cause"] != "unknown-device" || dev["class"] != dock.Class || dev["id"] != dock.ID {
				t.Errorf("device.refused for %v, want the dock as unknown-device", e.info)
			}
		case strings.HasPrefix(e.typ, "door."):
			t.Errorf("%s journaled: no door event was genuine", e.typ)
		}
	}
	if refusals != 1 {
		t.Errorf("%d device.refused alarms for the dock's two messages, want 1 (once per cause per device per minute)", refusals)
	}
	// The list in force is the agent's, signed.
	lists := connect(t, b, "hil-list-check", "bridge")
	got := make(chan []byte, 1)
	lists.Subscribe(sitebus.CredentialsTopic(code), 1, func(_ mqtt.Client, m mqtt.Message) {
		select {
		case got <- m.Payload():
		default:
		}
	})
	select {
	case raw := <-got:
		if _, err := sitebus.VerifyCredentialList(raw, s.Key.Public()); err != nil {
			t.Errorf("the retained credential list is not the agent's: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Error("no retained credential list")
	}
	// A certificate revoked while the broker runs is refused at its next connection,
	// once the broker has read the new list: Mosquitto on SIGHUP (systemctl reload),
	// the embedded broker by itself.
	b.PKI().Revoke(dock.String())
	if m, ok := b.(*Mosquitto); ok {
		m.Reload()
	}
	dc, dk := b.PKI().files(dock.String())
	if pair, err = tls.LoadX509KeyPair(dc, dk); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "the dock's certificate refused once revoked", func() (bool, string) {
		c, err := dialRaw(b, "dock-after-revocation", &pair)
		if err == nil {
			c.Disconnect(0)
		}
		return err != nil, fmt.Sprint(err)
	})
	if emb != nil {
		st := emb.Stats()
		t.Logf("embedded broker: %+v", st)
		if st.Denied < int64(2*len(attacks)) || st.Oversized < 1 {
			t.Errorf("embedded broker counted %+v; want every refused publish denied and the oversized one", st)
		}
	}
}
