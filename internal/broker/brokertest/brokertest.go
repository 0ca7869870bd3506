// Package brokertest is the test twin of package broker: the helpers that tests across
// apedge share to run the embedded broker, put clients on it and wait for what happens
// there. Everything it starts is stopped at the end of the test that started it, and a
// helper that cannot do its part fails that test.
package brokertest

import (
	"context"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/apedge/apedge/internal/broker"
	"github.com/apedge/apedge/internal/mqttclient"
	"github.com/apedge/apedge/internal/testlog"
)

// Timeout bounds how long Client and Subscribe wait for the broker to answer a connect
// or a subscribe before they fail the test.
const Timeout = 30 * time.Second

// pollInterval is how often WaitFor checks its condition.
const pollInterval = 5 * time.Millisecond

// Start starts an embedded broker on a free loopback port, logging to testlog.New(t), and
// closes it at the end of the test.
func Start(t testing.TB) *broker.Broker {
	t.Helper()
	b, err := broker.Start(t.Context(), "127.0.0.1:0", testlog.New(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// mochi's Close can deadlock with a client connecting at the same moment (its
		// clients lock, taken by attachClient and by closeListenerClients): the test's
		// work is done by now, so give up on the broker after a while rather than hang
		// the whole test binary.
		done := make(chan struct{})
		go func() { b.Close(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Log("brokertest: the embedded broker did not close within 10s; left behind")
		}
	})
	return b
}

// An Option changes the mqttclient.Options that NewClient and Client make a client with.
type Option func(*mqttclient.Options)

// NewClient makes a client with mqttclient.New for clientID on the broker at url, with a
// clean session and, unless an option sets one, testlog.New(t); opts are applied in order
// over those. The client is not connected, and is disconnected at the end of the test.
func NewClient(t testing.TB, url, clientID string, opts ...Option) mqtt.Client {
	t.Helper()
	o := mqttclient.Options{Link: mqttclient.Link{Broker: url, ClientID: clientID}, CleanSession: true}
	for _, opt := range opts {
		opt(&o)
	}
	if o.Logger == nil {
		o.Logger = testlog.New(t)
	}
	c, err := mqttclient.New(o)
	if err != nil {
		t.Fatalf("New %s: %v", clientID, err)
	}
	t.Cleanup(func() { c.Disconnect(0) })
	return c
}

// Client is NewClient, connected: it waits up to Timeout for the connection.
func Client(t testing.TB, url, clientID string, opts ...Option) mqtt.Client {
	t.Helper()
	c := NewClient(t, url, clientID, opts...)
	ctx, cancel := context.WithTimeout(t.Context(), Timeout)
	defer cancel()
	if err := mqttclient.Connect(ctx, c); err != nil {
		t.Fatalf("connect %s to %s: %v", clientID, url, err)
	}
	return c
}

// Subscribe subscribes c to each filter in turn at QoS 1, waiting up to Timeout for each
// subscription, and returns the channel every message goes to. The channel holds 1024
// messages; a test that lets more pile up stalls the client.
func Subscribe(t testing.TB, c mqtt.Client, filters ...string) <-chan mqtt.Message {
	t.Helper()
	msgs := make(chan mqtt.Message, 1024)
	for _, f := range filters {
		tok := c.Subscribe(f, 1, func(_ mqtt.Client, m mqtt.Message) { msgs <- m })
		if err := mqttclient.WaitTimeout(t.Context(), tok, Timeout); err != nil {
			t.Fatalf("subscribe %s: %v", f, err)
		}
	}
	return msgs
}

// Receive returns the next message from msgs, failing the test if none comes within
// timeout; what names the message in the failure.
func Receive(t testing.TB, timeout time.Duration, what string, msgs <-chan mqtt.Message) mqtt.Message {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	select {
	case m := <-msgs:
		return m
	case <-deadline.C:
		t.Fatalf("%s: nothing received in %v", what, timeout)
		return nil
	}
}
