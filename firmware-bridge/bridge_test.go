package bridge_test

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/apedge/apedge/broker/brokertest"
	"github.com/apedge/apedge/config"
	bridge "github.com/apedge/apedge/firmware-bridge"
	"github.com/apedge/apedge/mqttclient"
	"github.com/apedge/apedge/sitebus"
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

// bridgeState returns the last bridge state r received, and whether it was retained.
func (r *recorder) bridgeState(t *testing.T) (st sitebus.BridgeState, retained, ok bool) {
	t.Helper()
	for _, m := range slices.Backward(r.all()) {
		if m.Topic() == sitebus.BridgeStateTopic(site) {
			if err := json.Unmarshal(m.Payload(), &st); err != nil {
				t.Fatalf("bridge state %s: %v", m.Payload(), err)
			}
			return st, m.Retained(), true
		}
	}
	return st, false, false
}

// cardReads returns the card-read events r received, decoded, by reader id.
func (r *recorder) cardReads(t *testing.T) map[string][]*sitebus.Message {
	t.Helper()
	out := map[string][]*sitebus.Message{}
	for _, m := range r.all() {
		tp, err := sitebus.ParseTopic(m.Topic())
		if err != nil || tp.Kind != sitebus.KindEvent {
			continue
		}
		msg, err := sitebus.Decode(m.Payload())
		if err != nil {
			t.Fatalf("%s: %v", m.Topic(), err)
		}
		out[tp.ID] = append(out[tp.ID], msg)
	}
	return out
}

func simConfig(url string) *config.Bridge {
	return &config.Bridge{
		Site: site,
		Bus:  config.MQTT{Broker: url, ClientID: "apedge-bridge-" + site},
		Simulate: &config.Simulate{
			Readers: []config.SimReader{
				{ID: "front-in", Door: "front", Direction: "entry"},
				{ID: "front-out", Door: "front", Direction: "exit"},
			},
			Cards: []string{"10001", "10002", "10003"},
			Every: time.Millisecond,
		},
	}
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
	return stop
}

func TestRunSimulated(t *testing.T) {
	const reads = 100
	brk := brokertest.Start(t)
	cfg := simConfig(brk.URL())
	bus := record(t, brk.URL(), "watcher")
	b := bridge.New(cfg, brokertest.Logger(t))
	stop := run(t, b)

	// Online, with a boot id.
	brokertest.WaitFor(t, timeout, "bridge online", func() (bool, string) {
		st, _, ok := bus.bridgeState(t)
		return ok && st.Status == "online", ""
	})
	online, _, _ := bus.bridgeState(t)
	if raw, err := hex.DecodeString(online.Boot); err != nil || len(raw) != 8 {
		t.Errorf("boot id %q, want 16 hex digits", online.Boot)
	}
	if online.Time.IsZero() || time.Since(online.Time) > time.Minute {
		t.Errorf("online state time %v, want now", online.Time)
	}

	// Card reads flow, numbered per reader.
	brokertest.WaitFor(t, timeout, "card reads", func() (bool, string) {
		n := 0
		for _, ms := range bus.cardReads(t) {
			n += len(ms)
		}
		return n >= reads, ""
	})
	if err := stop(); err != nil {
		t.Fatalf("Run = %v, want nil after cancel", err)
	}

	// Each reader's state was published, retained, before its reads.
	late := record(t, brk.URL(), "late")
	brokertest.WaitFor(t, timeout, "retained reader states and bridge state", func() (bool, string) {
		n := 0
		for _, m := range late.all() {
			if m.Retained() {
				n++
			}
		}
		return n >= 3, ""
	})
	states := map[string]*sitebus.Message{}
	for _, m := range late.all() {
		tp, err := sitebus.ParseTopic(m.Topic())
		if err != nil || !m.Retained() {
			continue // the bridge state, or a late live copy
		}
		if tp.Kind != sitebus.KindState || tp.Class != sitebus.ClassReader {
			t.Errorf("retained %s, want only reader states", m.Topic())
			continue
		}
		msg, err := sitebus.Decode(m.Payload())
		if err != nil {
			t.Fatal(err)
		}
		states[tp.ID] = msg
	}
	for _, r := range cfg.Simulate.Readers {
		st := states[r.ID]
		if st == nil {
			t.Errorf("no retained state for reader %s", r.ID)
			continue
		}
		var data struct{ Online, Simulated bool }
		if err := json.Unmarshal(st.Data, &data); err != nil || !data.Online || !data.Simulated {
			t.Errorf("reader %s state %s, want online and simulated", r.ID, st.Data)
		}
		if st.Boot != online.Boot || st.Seq != 1 || st.Kind != "status" {
			t.Errorf("reader %s state: boot %q seq %d kind %q, want boot %q seq 1 status", r.ID, st.Boot, st.Seq, st.Kind, online.Boot)
		}
	}

	// After a clean stop the retained state says offline, for the same boot.
	st, retained, ok := late.bridgeState(t)
	if !ok || st.Status != "offline" || st.Boot != online.Boot || !retained {
		t.Errorf("bridge state after stop: %+v (found %v, retained %v), want offline for boot %s", st, ok, retained, online.Boot)
	}

	// Published counts what the broker took: the watcher gets at least that many.
	countReads := func() (n uint64) {
		for _, ms := range bus.cardReads(t) {
			n += uint64(len(ms))
		}
		return n
	}
	if b.Published() == 0 {
		t.Errorf("Published() = 0, but the watcher saw at least %d reads", reads)
	}
	brokertest.WaitFor(t, timeout, "every published read", func() (bool, string) { return countReads() >= b.Published(), "" })

	byReader := bus.cardReads(t)
	total := 0
	for id, ms := range byReader {
		var r *config.SimReader
		for i := range cfg.Simulate.Readers {
			if cfg.Simulate.Readers[i].ID == id {
				r = &cfg.Simulate.Readers[i]
			}
		}
		if r == nil {
			t.Errorf("reads from reader %q, which is not configured", id)
			continue
		}
		for i, m := range ms {
			total++
			if m.Seq != uint64(i+1) {
				t.Fatalf("reader %s: message %d has seq %d, want %d", id, i, m.Seq, i+1)
			}
			if m.Boot != online.Boot || m.Kind != "card-read" {
				t.Errorf("reader %s seq %d: boot %q kind %q, want boot %q card-read", id, m.Seq, m.Boot, m.Kind, online.Boot)
			}
			cr, err := sitebus.DecodeCardRead(m.Data)
			if err != nil {
				t.Fatalf("reader %s seq %d: %v", id, m.Seq, err)
			}
			if cr.Door != r.Door || cr.Direction != r.Direction || !slices.Contains(cfg.Simulate.Cards, cr.Credential.Number) {
				t.Errorf("reader %s seq %d: %+v, want door %s, %s, one of the cards %v", id, m.Seq, cr, r.Door, r.Direction, cfg.Simulate.Cards)
			}
		}
	}
	if len(byReader) != len(cfg.Simulate.Readers) {
		t.Errorf("reads from %d readers, want all %d", len(byReader), len(cfg.Simulate.Readers))
	}
}

// TestRunNoDevices: with nothing to simulate the bridge only says it is online, and
// offline when it stops.
func TestRunNoDevices(t *testing.T) {
	brk := brokertest.Start(t)
	cfg := simConfig(brk.URL())
	cfg.Simulate = nil
	bus := record(t, brk.URL(), "watcher")
	b := bridge.New(cfg, nil)
	stop := run(t, b)
	brokertest.WaitFor(t, timeout, "bridge online", func() (bool, string) {
		st, _, ok := bus.bridgeState(t)
		return ok && st.Status == "online", ""
	})
	if err := stop(); err != nil {
		t.Fatalf("Run = %v", err)
	}
	brokertest.WaitFor(t, timeout, "bridge offline", func() (bool, string) {
		st, _, ok := bus.bridgeState(t)
		return ok && st.Status == "offline", ""
	})
	for _, m := range bus.all() {
		if m.Topic() != sitebus.BridgeStateTopic(site) {
			t.Errorf("published on %s with no devices", m.Topic())
		}
	}
	if b.Published() != 0 {
		t.Errorf("Published() = %d, want 0", b.Published())
	}
}

func TestRunConnectFails(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	b := bridge.New(simConfig("tcp://"+addr), brokertest.Logger(t))
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	err = b.Run(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Run with no broker = %v, want the connect to end with the context", err)
	}
}
