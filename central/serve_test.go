package central

import (
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/apedge/apedge/formats/sitekey"
	"github.com/apedge/apedge/formats/uplink"
	"github.com/apedge/apedge/internal/broker/brokertest"
	"github.com/apedge/apedge/internal/clock"
	"github.com/apedge/apedge/internal/clock/clocktest"
	"github.com/apedge/apedge/internal/config"
	"github.com/apedge/apedge/internal/mqttclient"
	"github.com/apedge/apedge/internal/testlog"
	"github.com/apedge/apedge/internal/wait"
)

// TestServersShareSubscription runs two central servers in one share group on one
// store: each batch reaches one of them, every event is stored once, the retained ack
// reaches the last seq, and the HTTP API answers from the shared store.
func TestServersShareSubscription(t *testing.T) {
	eachStore(t, func(t *testing.T, newStore func() string) {
		b := brokertest.Start(t)
		dir := t.TempDir()
		_, pub, err := sitekey.Write(filepath.Join(dir, "keys"), testKey(t, "ABC"))
		if err != nil {
			t.Fatal(err)
		}
		addr := newStore()
		servers := make([]*Server, 2)
		for i := range servers {
			cfg := &config.Central{
				Database:      addr,
				Broker:        config.MQTT{Broker: b.URL(), ClientID: "central"}, // the same id: each adds its own suffix
				ShareGroup:    "apedge-central",
				Trust:         []config.TrustedSite{{Site: "ABC", PubKey: pub}},
				GapAlarmAfter: 30 * time.Second,
			}
			if i == 0 {
				cfg.HTTP = &config.CentralHTTP{Listen: "127.0.0.1:0"}
			}
			s, err := NewServer(context.Background(), cfg, testlog.New(t))
			if err != nil {
				t.Fatal(err)
			}
			servers[i] = s
			ctx, cancel := context.WithCancel(context.Background())
			ran := make(chan error, 1)
			go func() { ran <- s.Run(ctx) }()
			t.Cleanup(func() {
				cancel()
				if err := <-ran; err != nil {
					t.Errorf("server %d: %v", i, err)
				}
			})
		}
		if servers[1].HTTPAddr() != "" || servers[0].HTTPAddr() == "" {
			t.Fatalf("HTTP addresses %q, %q", servers[0].HTTPAddr(), servers[1].HTTPAddr())
		}
		site := brokertest.Client(t, b.URL(), "site-ABC")
		var acked atomic.Uint64
		tok := site.Subscribe(uplink.AckTopic("ABC"), 1, func(_ mqtt.Client, m mqtt.Message) {
			if a, err := uplink.DecodeAck(m.Payload()); err == nil && a.Seq > acked.Load() {
				acked.Store(a.Seq)
			}
		})
		if err := mqttclient.WaitTimeout(t.Context(), tok, brokertest.Timeout); err != nil {
			t.Fatal(err)
		}
		// Both servers subscribed: each has announced itself online.
		wait.For(t, 30*time.Second, "both servers subscribed", func() (bool, string) {
			return servers[0].subscribed.Load() && servers[1].subscribed.Load(), ""
		})
		abc := makeChain(t, testKey(t, "ABC"), 400)
		for lo := 0; lo < len(abc); lo += 20 {
			if err := mqttclient.WaitTimeout(t.Context(), site.Publish(uplink.EventsTopic("ABC"), 1, false, uplink.EncodeBatch(abc[lo:lo+20])), brokertest.Timeout); err != nil {
				t.Fatal(err)
			}
		}
		wait.For(t, 60*time.Second, "the ack of seq 400", func() (bool, string) {
			return acked.Load() == 400, ""
		})
		checkStored(t, addr, "ABC", abc)
		b0, b1 := servers[0].Stats().Batches, servers[1].Stats().Batches
		if b0+b1 != 20 {
			t.Fatalf("the servers got %d + %d batches of 20: a shared subscription gives each to one", b0, b1)
		}
		resp, err := http.Get("http://" + servers[0].HTTPAddr() + "/v1/events?site=ABC&limit=1000")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var page Page
		if err := json.NewDecoder(resp.Body).Decode(&page); err != nil || resp.StatusCode != 200 || len(page.Events) != 400 {
			t.Fatalf("HTTP query: %d, %d events, %v", resp.StatusCode, len(page.Events), err)
		}
	})
}

// TestServerWithClock: a server given a clock dates its online status and its acks by
// it, and its receiver records by it too.
func TestServerWithClock(t *testing.T) {
	b := brokertest.Start(t)
	dir := t.TempDir()
	_, pub, err := sitekey.Write(filepath.Join(dir, "keys"), testKey(t, "ABC"))
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 22, 23, 15, 0, 0, time.UTC)
	clk := clocktest.New(at)
	cfg := &config.Central{
		Database:      filepath.Join(dir, "central.db"),
		Broker:        config.MQTT{Broker: b.URL(), ClientID: "central"},
		Trust:         []config.TrustedSite{{Site: "ABC", PubKey: pub}},
		GapAlarmAfter: 30 * time.Second,
	}
	s, err := NewServer(context.Background(), cfg, testlog.New(t), WithClock(clk))
	if err != nil {
		t.Fatal(err)
	}
	if s.Receiver.o.Clock != clock.Clock(clk) {
		t.Errorf("the receiver's clock is %v, want the server's", s.Receiver.o.Clock)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-ran; err != nil {
			t.Error(err)
		}
	})
	site := brokertest.Client(t, b.URL(), "site-ABC")
	var statusAt, ackAt atomic.Pointer[time.Time]
	for topic, into := range map[string]*atomic.Pointer[time.Time]{uplink.StatusTopic: &statusAt, uplink.AckTopic("ABC"): &ackAt} {
		tok := site.Subscribe(topic, 1, func(_ mqtt.Client, m mqtt.Message) {
			if st, err := uplink.DecodeStatus(m.Payload()); err == nil && st.Status == "online" {
				into.Store(&st.Time)
			} else if a, err := uplink.DecodeAck(m.Payload()); err == nil && a.Seq == 1 {
				into.Store(&a.Time)
			}
		})
		if err := mqttclient.WaitTimeout(t.Context(), tok, brokertest.Timeout); err != nil {
			t.Fatal(err)
		}
	}
	wait.For(t, 30*time.Second, "the online status", func() (bool, string) { return statusAt.Load() != nil, "" })
	abc := makeChain(t, testKey(t, "ABC"), 1)
	// Central may announce itself a moment before its events subscription is in place:
	// send the batch again, as a site's forwarder does, until it is acknowledged (central
	// stores it once).
	last := time.Time{}
	wait.For(t, 30*time.Second, "the ack of seq 1", func() (bool, string) {
		if ackAt.Load() != nil {
			return true, ""
		}
		if time.Since(last) > time.Second {
			last = time.Now()
			if err := mqttclient.WaitTimeout(t.Context(), site.Publish(uplink.EventsTopic("ABC"), 1, false, uplink.EncodeBatch(abc)), brokertest.Timeout); err != nil {
				t.Fatal(err)
			}
		}
		return false, ""
	})
	if got := *statusAt.Load(); !got.Equal(at) {
		t.Errorf("online status dated %v, want the clock's %v", got, at)
	}
	if got := *ackAt.Load(); !got.Equal(at) {
		t.Errorf("ack dated %v, want the clock's %v", got, at)
	}
}
