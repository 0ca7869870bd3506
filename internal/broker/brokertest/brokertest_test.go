package brokertest_test

import (
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

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

func TestWaitFor(t *testing.T) {
	var n atomic.Int32
	brokertest.WaitFor(t, brokertest.Timeout, "three polls", func() (bool, string) {
		return n.Add(1) >= 3, fmt.Sprint(n.Load())
	})
}

// fatalTB records the first Fatalf and ends the goroutine, as testing.T does.
type fatalTB struct {
	testing.TB
	msg string
}

func (f *fatalTB) Helper() {}

func (f *fatalTB) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func TestWaitForTimesOut(t *testing.T) {
	for _, tc := range []struct{ seen, want string }{
		{"", "timed out after 20ms waiting for never"},
		{"nothing yet", "timed out after 20ms waiting for never (last seen: nothing yet)"},
	} {
		ft := &fatalTB{TB: t}
		done := make(chan struct{})
		start := time.Now()
		go func() {
			defer close(done)
			brokertest.WaitFor(ft, 20*time.Millisecond, "never", func() (bool, string) { return false, tc.seen })
		}()
		<-done
		if elapsed := time.Since(start); elapsed < 20*time.Millisecond {
			t.Errorf("WaitFor gave up after %v, before its timeout", elapsed)
		}
		if ft.msg != tc.want {
			t.Errorf("WaitFor failed with %q, want %q", ft.msg, tc.want)
		}
	}
}
