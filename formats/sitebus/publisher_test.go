package sitebus_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apedge/apedge/formats/sitebus"
	"github.com/apedge/apedge/internal/broker/brokertest"
	"github.com/apedge/apedge/internal/clock/clocktest"
)

const pubTimeout = 20 * time.Second

type pubCall struct {
	class, id, kind, msgKind string
	data                     any
	wantSeq                  uint64
}

var pubCalls = []pubCall{
	{sitebus.ClassReader, "r1", sitebus.KindState, "status", map[string]any{"online": true}, 1},
	{sitebus.ClassReader, "r1", sitebus.KindEvent, "card-read", sitebus.CardRead{Door: "front", Direction: "entry", Credential: sitebus.Credential{Kind: "card", Number: "0042"}}, 1},
	{sitebus.ClassReader, "r1", sitebus.KindEvent, "card-read", sitebus.CardRead{Door: "front", Direction: "entry", Credential: sitebus.Credential{Kind: "card", Number: "0043"}}, 2},
	{sitebus.ClassReader, "r2", sitebus.KindEvent, "card-read", sitebus.CardRead{Door: "front", Direction: "exit", Credential: sitebus.Credential{Kind: "card", Number: "0042"}}, 1},
	{sitebus.ClassReader, "r1", sitebus.KindEvent, "tamper", nil, 3},
	{sitebus.ClassDoor, "r1", sitebus.KindEvent, "opened", map[string]any{"held": false}, 1}, // same id, another class
	{sitebus.ClassReader, "r1", sitebus.KindState, "status", map[string]any{"online": false}, 2},
	{sitebus.ClassReader, "r2", sitebus.KindState, "status", nil, 1},
	{sitebus.ClassReader, "r2", sitebus.KindEvent, "card-read", sitebus.CardRead{Door: "front", Direction: "exit", Credential: sitebus.Credential{Kind: "card", Number: "7"}}, 2},
	{sitebus.ClassReader, "r1", sitebus.KindCmdResult, "ok", nil, 1},
}

// TestPublisherSeq publishes a mix of devices and kinds: each device numbers each kind
// of its messages from 1, and every message arrives as sitebus.Decode reads it.
func TestPublisherSeq(t *testing.T) {
	bus := brokertest.Start(t)
	msgs := brokertest.Subscribe(t, brokertest.Client(t, bus.URL(), "watcher"), "apedge/v1/MAN1/#")
	clk := clocktest.New(time.Date(2031, 3, 30, 1, 30, 0, 0, time.FixedZone("BST", 3600)))
	p := sitebus.NewPublisher(brokertest.Client(t, bus.URL(), "bridge"), "MAN1", "boot-1", clk)
	if p.Boot() != "boot-1" {
		t.Errorf("Boot() = %q, want boot-1", p.Boot())
	}

	sent := map[string]*sitebus.Message{} // by topic and seq
	for i, c := range pubCalls {
		now := clk.Add(time.Second)
		m, err := p.Publish(t.Context(), c.class, c.id, c.kind, c.msgKind, c.data)
		if err != nil {
			t.Fatalf("publish %d: %v", i, err)
		}
		if m.Seq != c.wantSeq || m.Boot != "boot-1" || m.Kind != c.msgKind {
			t.Errorf("publish %d (%s/%s %s): seq %d boot %q kind %q, want seq %d boot-1 %q",
				i, c.class, c.id, c.kind, m.Seq, m.Boot, m.Kind, c.wantSeq, c.msgKind)
		}
		if m.Time.Location() != time.UTC || !m.Time.Equal(now) {
			t.Errorf("publish %d: time %v, want the publisher's clock, %v, in UTC", i, m.Time, now.UTC())
		}
		if c.data == nil {
			if m.Data != nil {
				t.Errorf("publish %d: data %s, want none", i, m.Data)
			}
		} else if want, _ := json.Marshal(c.data); !bytes.Equal(m.Data, want) {
			t.Errorf("publish %d: data %s, want %s", i, m.Data, want)
		}
		sent[fmt.Sprintf("%s#%d", sitebus.DeviceTopic("MAN1", c.class, c.id, c.kind), m.Seq)] = m
	}

	lastSeq := map[string]uint64{}
	received := map[string][]byte{}
	for len(sent) > 0 {
		wm := brokertest.Receive(t, pubTimeout, "published message", msgs)
		got, err := sitebus.Decode(wm.Payload())
		if err != nil {
			t.Fatalf("%s: Decode(%s): %v", wm.Topic(), wm.Payload(), err)
		}
		if _, err := sitebus.ParseTopic(wm.Topic()); err != nil {
			t.Errorf("topic: %v", err)
		}
		key := fmt.Sprintf("%s#%d", wm.Topic(), got.Seq)
		if first, ok := received[key]; ok {
			// QoS 1 is at least once: a broker may deliver a message again (receivers
			// dedupe by seq), but it must be the same bytes.
			if !bytes.Equal(first, wm.Payload()) {
				t.Fatalf("%s delivered twice with different bytes:\n%s\n%s", key, first, wm.Payload())
			}
			t.Logf("%s delivered again (QoS 1 allows it)", key)
			continue
		}
		received[key] = wm.Payload()
		want, ok := sent[key]
		if !ok {
			t.Fatalf("received %s seq %d, which was not published", wm.Topic(), got.Seq)
		}
		delete(sent, key)
		if !got.Time.Equal(want.Time) || got.Boot != want.Boot || got.Kind != want.Kind || !bytes.Equal(got.Data, want.Data) {
			t.Errorf("%s: received %+v, want %+v", key, got, want)
		}
		if wm.Qos() != 1 {
			t.Errorf("%s: QoS %d, want 1", key, wm.Qos())
		}
		if got.Seq <= lastSeq[wm.Topic()] {
			t.Errorf("%s: seq %d after %d", wm.Topic(), got.Seq, lastSeq[wm.Topic()])
		}
		lastSeq[wm.Topic()] = got.Seq
	}
}

// TestPublisherStateRetained: a subscriber that comes later is given each device's
// latest state, and no event.
func TestPublisherStateRetained(t *testing.T) {
	bus := brokertest.Start(t)
	p := sitebus.NewPublisher(brokertest.Client(t, bus.URL(), "bridge"), "MAN1", "boot-1", nil)
	for i, c := range pubCalls {
		if _, err := p.Publish(t.Context(), c.class, c.id, c.kind, c.msgKind, c.data); err != nil {
			t.Fatalf("publish %d: %v", i, err)
		}
	}
	wantState := map[string]uint64{ // topic: seq of the last state
		sitebus.DeviceTopic("MAN1", sitebus.ClassReader, "r1", sitebus.KindState): 2,
		sitebus.DeviceTopic("MAN1", sitebus.ClassReader, "r2", sitebus.KindState): 1,
	}
	// The broker answers one client's subscriptions in order, so anything retained under
	// the first filters comes before the states retained under the last.
	late := brokertest.Subscribe(t, brokertest.Client(t, bus.URL(), "late"),
		sitebus.DeviceFilter("MAN1", sitebus.KindEvent),
		sitebus.DeviceFilter("MAN1", sitebus.KindCmdResult),
		sitebus.DeviceFilter("MAN1", sitebus.KindState))
	for len(wantState) > 0 {
		m := brokertest.Receive(t, pubTimeout, "retained state", late)
		if !m.Retained() {
			continue // a live copy of something published just now
		}
		want, ok := wantState[m.Topic()]
		if !ok {
			t.Fatalf("%s %s retained, want only states", m.Topic(), m.Payload())
		}
		got, err := sitebus.Decode(m.Payload())
		if err != nil {
			t.Fatal(err)
		}
		if got.Seq != want || got.Boot != "boot-1" {
			t.Errorf("%s: retained seq %d boot %q, want the latest, seq %d of boot-1", m.Topic(), got.Seq, got.Boot, want)
		}
		delete(wantState, m.Topic())
	}
}

func TestPublisherNoData(t *testing.T) {
	bus := brokertest.Start(t)
	msgs := brokertest.Subscribe(t, brokertest.Client(t, bus.URL(), "watcher"), "apedge/v1/MAN1/#")
	p := sitebus.NewPublisher(brokertest.Client(t, bus.URL(), "bridge"), "MAN1", "b", nil)
	if _, err := p.Publish(t.Context(), sitebus.ClassCamera, "cam1", sitebus.KindEvent, "motion", nil); err != nil {
		t.Fatal(err)
	}
	m := brokertest.Receive(t, pubTimeout, "message", msgs)
	if bytes.Contains(m.Payload(), []byte(`"data"`)) {
		t.Errorf("message without data has a data field: %s", m.Payload())
	}
	if got, err := sitebus.Decode(m.Payload()); err != nil || got.Kind != "motion" || got.Data != nil {
		t.Errorf("Decode = %+v, %v", got, err)
	}
}

// TestPublisherEncodeError: data that cannot be encoded is refused before it uses a seq.
func TestPublisherEncodeError(t *testing.T) {
	bus := brokertest.Start(t)
	msgs := brokertest.Subscribe(t, brokertest.Client(t, bus.URL(), "watcher"), "apedge/v1/MAN1/#")
	p := sitebus.NewPublisher(brokertest.Client(t, bus.URL(), "bridge"), "MAN1", "b", nil)
	if _, err := p.Publish(t.Context(), sitebus.ClassReader, "r1", sitebus.KindEvent, "x", map[string]any{"f": func() {}}); err == nil {
		t.Fatal("Publish of unencodable data succeeded")
	}
	m, err := p.Publish(t.Context(), sitebus.ClassReader, "r1", sitebus.KindEvent, "x", nil)
	if err != nil {
		t.Fatal(err)
	}
	if m.Seq != 1 {
		t.Errorf("seq %d after a refused message, want 1", m.Seq)
	}
	if got, err := sitebus.Decode(brokertest.Receive(t, pubTimeout, "message", msgs).Payload()); err != nil || got.Seq != 1 {
		t.Errorf("first message on the bus: %+v, %v; want seq 1", got, err)
	}
}

// TestPublisherConcurrent: publishes to one device from many goroutines take distinct
// seqs, and reach the bus in seq order.
func TestPublisherConcurrent(t *testing.T) {
	const workers, each = 4, 50
	bus := brokertest.Start(t)
	msgs := brokertest.Subscribe(t, brokertest.Client(t, bus.URL(), "watcher"), "apedge/v1/MAN1/#")
	p := sitebus.NewPublisher(brokertest.Client(t, bus.URL(), "bridge"), "MAN1", "b", nil)
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		seqs []uint64
	)
	for range workers {
		wg.Go(func() {
			for range each {
				m, err := p.Publish(t.Context(), sitebus.ClassReader, "r1", sitebus.KindEvent, "card-read", nil)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				seqs = append(seqs, m.Seq)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	slices.Sort(seqs)
	for i, s := range seqs {
		if s != uint64(i+1) {
			t.Fatalf("seqs handed out %v..., want 1..%d once each", seqs[:i+1], workers*each)
		}
	}
	for want := uint64(1); want <= workers*each; want++ {
		got, err := sitebus.Decode(brokertest.Receive(t, pubTimeout, "message", msgs).Payload())
		if err != nil {
			t.Fatal(err)
		}
		if got.Seq != want {
			t.Fatalf("on the bus: seq %d, want %d", got.Seq, want)
		}
	}
}

func TestPublisherErrors(t *testing.T) {
	t.Run("not connected", func(t *testing.T) {
		bus := brokertest.Start(t)
		// A read is never dropped for want of a link: Publish keeps trying until its
		// context ends, then names the message it could not hand over.
		p := sitebus.NewPublisher(brokertest.NewClient(t, bus.URL(), "never-connected"), "MAN1", "b", nil)
		ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
		defer cancel()
		m, err := p.Publish(ctx, sitebus.ClassReader, "r1", sitebus.KindEvent, "card-read", nil)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Publish = %v, want context.DeadlineExceeded", err)
		}
		if !strings.Contains(err.Error(), "reader/r1 seq 1") || m == nil || m.Seq != 1 {
			t.Errorf("Publish = %+v, %v; want the message and an error naming reader/r1 seq 1", m, err)
		}
	})
	t.Run("context ends first", func(t *testing.T) {
		// A client still trying to connect holds a QoS 1 publish until it connects.
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		c := brokertest.NewClient(t, "tcp://"+addr, "connecting")
		c.Connect()
		p := sitebus.NewPublisher(c, "MAN1", "b", nil)
		ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
		defer cancel()
		_, err = p.Publish(ctx, sitebus.ClassReader, "r1", sitebus.KindEvent, "card-read", nil)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Publish = %v, want context.DeadlineExceeded", err)
		}
	})
}
