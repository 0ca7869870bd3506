package broker_test

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"net/url"
	"path/filepath"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/apedge/apedge/internal/broker"
	"github.com/apedge/apedge/internal/clock/clocktest"
	"github.com/apedge/apedge/internal/pki"
	"github.com/apedge/apedge/internal/testlog"
	"github.com/apedge/apedge/internal/wait"
)

func TestOversizedPublishRefused(t *testing.T) {
	b, err := broker.New(t.Context(), broker.Options{Addr: "127.0.0.1:0", Log: testlog.New(t), DevPlaintext: true})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	lost := make(chan error, 1)
	big := connect(t, b.URL(), "big", func(err error) { lost <- err })
	tok := big.Publish("apedge/test/big", 1, false, bytes.Repeat([]byte{'x'}, 10<<20))
	select {
	case <-lost:
	case <-time.After(timeout):
		t.Fatalf("a 10 MB publish did not get its client disconnected within %v (token error %v)", timeout, tok.Error())
	}
	wait.For(t, timeout, "the oversized packet counted", func() (bool, string) {
		s := b.Stats()
		return s.Oversized == 1, fmt.Sprintf("stats %+v", s)
	})

	// The broker keeps serving, and a packet at the limit still passes.
	sub := connect(t, b.URL(), "sub", nil)
	msgs := subscribe(t, sub, "apedge/test/+")
	pub := connect(t, b.URL(), "pub", nil)
	payload := bytes.Repeat([]byte{'y'}, broker.DefaultMaxPacketSize-1024)
	waitToken(t, pub.Publish("apedge/test/ok", 1, false, payload), "publish at the limit")
	select {
	case m := <-msgs:
		if len(m.Payload()) != len(payload) {
			t.Errorf("received %d bytes, want %d", len(m.Payload()), len(payload))
		}
	case <-time.After(timeout):
		t.Fatal("nothing delivered after the oversized publish")
	}
}

func TestStartOptionsRefused(t *testing.T) {
	tests := []struct {
		name string
		o    broker.Options
	}{
		{"neither", broker.Options{Addr: "127.0.0.1:0"}},
		{"both", broker.Options{Addr: "127.0.0.1:0", DevPlaintext: true, TLS: &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert}}},
		{"no client certificates", broker.Options{Addr: "127.0.0.1:0", TLS: &tls.Config{}}},
		{"plaintext off loopback", broker.Options{Addr: "0.0.0.0:0", DevPlaintext: true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.o.Log = testlog.New(t)
			b, err := broker.New(t.Context(), tc.o)
			if err == nil {
				b.Close()
				t.Fatal("New succeeded")
			}
		})
	}
}

// subscribe subscribes c to filter at QoS 1 and returns where its messages go.
func subscribe(t *testing.T, c mqtt.Client, filter string) <-chan mqtt.Message {
	t.Helper()
	msgs := make(chan mqtt.Message, 16)
	waitToken(t, c.Subscribe(filter, 1, func(_ mqtt.Client, m mqtt.Message) { msgs <- m }), "subscribe "+filter)
	return msgs
}

// site is a CA with certificates for the site's identities and a TLS broker using
// them, on the fake clock.
type site struct {
	dir string
	clk *clocktest.Clock
	b   *broker.Broker
}

func startTLS(t *testing.T) *site {
	t.Helper()
	s := &site{dir: filepath.Join(t.TempDir(), "ca"), clk: clocktest.New(time.Date(2025, 3, 14, 9, 0, 0, 0, time.UTC))}
	o := pki.Options{Clock: s.clk}
	if _, err := pki.Init(s.dir, "S1", o); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"broker", "bridge", "agent", "device:reader:r1", "central", "console"} {
		if _, err := pki.Issue(s.dir, n, o); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := pki.Revoke(s.dir, "console", o); err != nil {
		t.Fatal(err)
	}
	cfg, err := pki.ServerTLS(s.dir, s.clk)
	if err != nil {
		t.Fatal(err)
	}
	rules := pki.SiteRules(pki.Site{Code: "S1", Classes: []string{"door", "reader"},
		Devices: []pki.Identity{{Role: pki.RoleDevice, Class: "reader", ID: "r1"}}})
	s.b, err = broker.New(t.Context(), broker.Options{Addr: "127.0.0.1:0", Log: testlog.New(t), TLS: cfg, Rules: rules})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.b.Close() })
	return s
}

// options are a non-reconnecting paho client's options as identity who.
func (s *site) options(t *testing.T, who, clientID string) *mqtt.ClientOptions {
	t.Helper()
	cfg, err := pki.ClientTLS(s.dir, who, s.clk)
	if err != nil {
		t.Fatal(err)
	}
	return mqtt.NewClientOptions().AddBroker(s.b.URL()).SetClientID(clientID).SetTLSConfig(cfg).
		SetAutoReconnect(false).SetConnectTimeout(timeout).SetUsername("agent") // a username claimed, never believed
}

func (s *site) connect(t *testing.T, who string, lost func(error)) mqtt.Client {
	t.Helper()
	o := s.options(t, who, who)
	if lost != nil {
		o.SetConnectionLostHandler(func(_ mqtt.Client, err error) { lost(err) })
	}
	c := mqtt.NewClient(o)
	waitToken(t, c.Connect(), "connect "+who)
	t.Cleanup(func() { c.Disconnect(0) })
	return c
}

func TestACLPublishOutsideOwnTopic(t *testing.T) {
	s := startTLS(t)
	agent := s.connect(t, "agent", nil)
	msgs := subscribe(t, agent, "apedge/v1/S1/dev/+/+/event")

	// A device publishing as another device is disconnected and nothing is delivered.
	lost := make(chan error, 1)
	dev := s.connect(t, "device:reader:r1", func(err error) { lost <- err })
	dev.Publish("apedge/v1/S1/dev/reader/r2/event", 1, false, "forged")
	select {
	case <-lost:
	case <-time.After(timeout):
		t.Fatal("a device publishing on another device's topic was not disconnected")
	}
	// A device publishing a command is refused too.
	lost2 := make(chan error, 1)
	dev2 := s.connect(t, "device:reader:r1", func(err error) { lost2 <- err })
	dev2.Publish("apedge/v1/S1/dev/door/side/cmd", 1, false, `{"unlock":3600}`)
	select {
	case <-lost2:
	case <-time.After(timeout):
		t.Fatal("a device publishing a command was not disconnected")
	}
	dev3 := s.connect(t, "device:reader:r1", nil)
	waitToken(t, dev3.Publish("apedge/v1/S1/dev/reader/r1/event", 1, false, "own"), "publish own event")
	select {
	case m := <-msgs:
		if string(m.Payload()) != "own" {
			t.Fatalf("agent received %s %q, want only the device's own event", m.Topic(), m.Payload())
		}
	case <-time.After(timeout):
		t.Fatal("the device's own event was not delivered")
	}
	if st := s.b.Stats(); st.Denied < 2 {
		t.Errorf("stats %+v, want at least 2 denied", st)
	}
}

func TestACLSubscribeOutsideReads(t *testing.T) {
	s := startTLS(t)
	tests := []struct {
		who, filter string
		ok          bool
	}{
		{"agent", "apedge/v1/S1/dev/+/+/event", true},
		{"agent", "apedge/v1/S1/bridge/credentials", false},
		{"agent", "apedge/v1/S1/#", false},
		{"agent", "#", false},
		{"bridge", "apedge/v1/S1/dev/+/+/cmd", true},
		{"bridge", "apedge/v1/S1/dev/+/+/event", false},
		{"device:reader:r1", "apedge/v1/S1/dev/reader/r1/cmd", true},
		{"device:reader:r1", "apedge/v1/S1/dev/reader/+/cmd", false},
	}
	for _, tc := range tests {
		t.Run(tc.who+" "+tc.filter, func(t *testing.T) {
			c := s.connect(t, tc.who, nil)
			tok := c.Subscribe(tc.filter, 1, func(mqtt.Client, mqtt.Message) {})
			waitToken(t, tok, "subscribe")
			code := tok.(*mqtt.SubscribeToken).Result()[tc.filter]
			if got := code < 0x80; got != tc.ok {
				t.Errorf("subscribe %s as %s: code %#x, want allowed %v", tc.filter, tc.who, code, tc.ok)
			}
		})
	}
}

func TestTLSConnectRefused(t *testing.T) {
	s := startTLS(t)
	other := startTLS(t) // another CA
	tests := []struct {
		name string
		opts func() *mqtt.ClientOptions
	}{
		{"identity with no rule", func() *mqtt.ClientOptions { return s.options(t, "central", "c1") }},
		{"revoked certificate", func() *mqtt.ClientOptions { return s.options(t, "console", "c2") }},
		{"certificate from another CA", func() *mqtt.ClientOptions {
			o := other.options(t, "agent", "c3")
			o.Servers[0] = mustURL(t, s.b.URL())
			cfg := o.TLSConfig.Clone()
			srv, _ := pki.ClientTLS(s.dir, "agent", s.clk)
			cfg.RootCAs = srv.RootCAs // trust the broker, present the other CA's cert
			return o.SetTLSConfig(cfg)
		}},
		{"no certificate", func() *mqtt.ClientOptions {
			o := s.options(t, "agent", "c4")
			cfg := o.TLSConfig.Clone()
			cfg.Certificates = nil
			return o.SetTLSConfig(cfg)
		}},
		{"last will on a forbidden topic", func() *mqtt.ClientOptions {
			return s.options(t, "bridge", "c5").SetWill("apedge/v1/S1/bridge/credentials", "[]", 1, true)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := mqtt.NewClient(tc.opts())
			tok := c.Connect()
			if !tok.WaitTimeout(timeout) {
				t.Fatal("no answer to connect")
			}
			if tok.Error() == nil {
				c.Disconnect(0)
				t.Fatal("connected")
			}
		})
	}
	// Every refusal is counted, those at the TLS handshake too (paho tries MQTT 3.1.1
	// and then 3.1, so a refused client may be counted twice).
	wait.For(t, timeout, "every refused connection counted", func() (bool, string) {
		st := s.b.Stats()
		return st.Unauthenticated >= int64(len(tests)), fmt.Sprintf("%+v", st)
	})
	// The broker still serves the site.
	s.connect(t, "bridge", nil)
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
