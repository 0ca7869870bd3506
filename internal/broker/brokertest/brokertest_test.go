package brokertest_test

import (
	"testing"

	"github.com/apedge/apedge/internal/broker/brokertest"
	"github.com/apedge/apedge/internal/mqttclient"
)

func TestRoundTrip(t *testing.T) {
	b := brokertest.Start(t)
	msgs := brokertest.Subscribe(t, brokertest.Client(t, b.URL(), "sub"), "apedge/test/+")
	pub := brokertest.Client(t, b.URL(), "pub")
	if err := mqttclient.WaitTimeout(t.Context(), pub.Publish("apedge/test/a", 1, false, "hello"), brokertest.Timeout); err != nil {
		t.Fatal(err)
	}
	m := brokertest.Receive(t, brokertest.Timeout, "hello", msgs)
	if m.Topic() != "apedge/test/a" || string(m.Payload()) != "hello" {
		t.Errorf("received %s %q, want apedge/test/a hello", m.Topic(), m.Payload())
	}
}

func TestNewClientOptions(t *testing.T) {
	c := brokertest.NewClient(t, "tcp://127.0.0.1:1", "c", func(o *mqttclient.Options) { o.CleanSession = false })
	if c.IsConnected() {
		t.Error("NewClient connected")
	}
	if r := c.OptionsReader(); r.ClientID() != "c" || r.CleanSession() {
		t.Errorf("client id %q, clean session %v; want c, false", r.ClientID(), r.CleanSession())
	}
}
