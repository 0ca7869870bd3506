package broker_test

import (
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/apedge/apedge/internal/broker"
	"github.com/apedge/apedge/internal/broker/brokertest"
	"github.com/apedge/apedge/internal/testlog"
)

const timeout = 10 * time.Second

// connect returns a connected paho client that does not reconnect, disconnected at the
// end of the test. lost, if not nil, is called when the connection drops. It is a plain
// paho client, not brokertest.Client's (mqttclient's, which reconnects): the broker is
// tested on its own, with clients that stay down once it has closed.
func connect(t *testing.T, url, id string, lost func(error)) mqtt.Client {
	t.Helper()
	opts := mqtt.NewClientOptions().AddBroker(url).SetClientID(id).
		SetAutoReconnect(false).SetConnectTimeout(timeout)
	if lost != nil {
		opts.SetConnectionLostHandler(func(_ mqtt.Client, err error) { lost(err) })
	}
	c := mqtt.NewClient(opts)
	waitToken(t, c.Connect(), "connect "+id)
	t.Cleanup(func() { c.Disconnect(0) })
	return c
}

func waitToken(t *testing.T, tok mqtt.Token, what string) {
	t.Helper()
	if !tok.WaitTimeout(timeout) {
		t.Fatalf("%s: no answer from the broker in %v", what, timeout)
	}
	if err := tok.Error(); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func TestStartAddr(t *testing.T) {
	b := brokertest.Start(t)
	host, port, err := net.SplitHostPort(b.Addr())
	if err != nil {
		t.Fatalf("Addr() = %q: %v", b.Addr(), err)
	}
	if host != "127.0.0.1" || port == "0" || port == "" {
		t.Errorf("Addr() = %q, want 127.0.0.1 with the port picked", b.Addr())
	}
	if got, want := b.URL(), "tcp://"+b.Addr(); got != want {
		t.Errorf("URL() = %q, want %q", got, want)
	}
	// An MQTT client, not a bare TCP connection: mochi v2.7.9 races (ClientsWg.Add
	// against Wait) when Close meets a connection it has accepted but not yet attached.
	if c := connect(t, b.URL(), "c", nil); !c.IsConnectionOpen() {
		t.Errorf("client connected to %s reports no open connection", b.URL())
	}
}

func TestPublishQoS1(t *testing.T) {
	b := brokertest.Start(t)
	sub := connect(t, b.URL(), "sub", nil)
	msgs := brokertest.Subscribe(t, sub, "apedge/test/+")
	pub := connect(t, b.URL(), "pub", nil)

	payloads := []string{"one", "two", "three"}
	for _, p := range payloads {
		waitToken(t, pub.Publish("apedge/test/a", 1, false, p), "publish "+p)
	}
	for _, want := range payloads {
		m := brokertest.Receive(t, timeout, "message "+want, msgs)
		if m.Topic() != "apedge/test/a" || string(m.Payload()) != want || m.Qos() != 1 || m.Retained() {
			t.Errorf("received topic %q payload %q qos %d retained %v, want apedge/test/a %q qos 1 not retained",
				m.Topic(), m.Payload(), m.Qos(), m.Retained(), want)
		}
	}
}

func TestRetained(t *testing.T) {
	b := brokertest.Start(t)
	pub := connect(t, b.URL(), "pub", nil)
	waitToken(t, pub.Publish("apedge/test/state", 1, true, "first"), "publish first")
	waitToken(t, pub.Publish("apedge/test/state", 1, true, "online"), "publish online")
	waitToken(t, pub.Publish("apedge/test/event", 1, false, "not kept"), "publish event")

	// A subscriber that arrives later is sent the last retained message, flagged as
	// retained. (mochi acknowledges a QoS 1 publish before it fans it out, so a
	// subscriber this quick may also see a live copy of one of the messages above; a
	// live copy is not flagged as retained.)
	late := connect(t, b.URL(), "late", nil)
	msgs := brokertest.Subscribe(t, late, "apedge/test/#")
	for {
		m := brokertest.Receive(t, timeout, "retained state", msgs)
		if !m.Retained() {
			continue
		}
		if m.Topic() != "apedge/test/state" || string(m.Payload()) != "online" {
			t.Fatalf("late subscriber got retained %q %q, want only the last state, online", m.Topic(), m.Payload())
		}
		break
	}
}

func TestStartRefusesNonLoopback(t *testing.T) {
	tests := []struct {
		addr string
		want string // in the error
	}{
		{"0.0.0.0:0", "not loopback"},
		{":0", "not loopback"},
		{"[::]:0", "not loopback"},
		{"192.0.2.1:1883", "not loopback"},
		{"10.0.0.1:0", "not loopback"},
		{"broker.example.org:1883", "not loopback"},
		{"127.0.0.1", "missing port"},
		{"", "missing port"},
	}
	for _, tc := range tests {
		t.Run(tc.addr, func(t *testing.T) {
			b, err := broker.Start(t.Context(), tc.addr, testlog.New(t))
			if err == nil {
				b.Close()
				t.Fatalf("Start(%q) listens on %s, want it refused", tc.addr, b.Addr())
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Start(%q) = %v, want an error saying %q", tc.addr, err, tc.want)
			}
		})
	}
}

func TestStartLoopbackNames(t *testing.T) {
	for _, addr := range []string{"127.0.0.1:0", "localhost:0"} {
		t.Run(addr, func(t *testing.T) {
			b, err := broker.Start(t.Context(), addr, testlog.New(t))
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			host, _, _ := net.SplitHostPort(b.Addr())
			if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
				t.Errorf("Addr() = %q, want a loopback IP", b.Addr())
			}
			connect(t, b.URL(), "c", nil)
		})
	}
}

func TestStartPortInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	b, err := broker.Start(t.Context(), ln.Addr().String(), testlog.New(t))
	if err == nil {
		b.Close()
		t.Fatalf("Start on %s, which is in use, succeeded", ln.Addr())
	}
}

func TestCloseDisconnectsClients(t *testing.T) {
	b, err := broker.Start(t.Context(), "127.0.0.1:0", testlog.New(t))
	if err != nil {
		t.Fatal(err)
	}
	lost := make(chan error, 2)
	for _, id := range []string{"c1", "c2"} {
		connect(t, b.URL(), id, func(err error) { lost <- err })
	}
	if err := b.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	for i := range 2 {
		select {
		case <-lost:
		case <-time.After(timeout):
			t.Fatalf("%d of 2 clients still connected %v after Close", 2-i, timeout)
		}
	}
	// Nothing listens any more.
	conn, err := net.DialTimeout("tcp", b.Addr(), timeout)
	if err == nil {
		conn.Close()
		t.Fatalf("%s still accepts connections after Close", b.Addr())
	}
	var opErr *net.OpError
	if !errors.As(err, &opErr) {
		t.Errorf("dial after Close: %v, want a connection error", err)
	}
}
