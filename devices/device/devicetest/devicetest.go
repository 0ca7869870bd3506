// Package devicetest helps test a device class without the bridge: a Recorder stands
// where the bridge's outbox would, and Env makes an environment for a class's Open.
package devicetest

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/apedge/apedge/devices/device"
	"github.com/apedge/apedge/internal/clock"
	"github.com/apedge/apedge/internal/config"
	"github.com/apedge/apedge/internal/testlog"
	"github.com/apedge/apedge/internal/wait"
)

// Types of Msg.
const (
	State = "state"
	Event = "event"
)

// Msg is one state or event a device published.
type Msg struct {
	Ref device.Ref
	// Type is State or Event; Kind is the message's kind ("status", "opened").
	Type, Kind string
	// Data is the data as JSON, as it would go on the bus.
	Data json.RawMessage
	At   time.Time
}

// Recorder is a device.Sink that keeps what it is given. It is safe for concurrent
// use.
type Recorder struct {
	mu   sync.Mutex
	msgs []Msg
}

// State records a state.
func (r *Recorder) State(ref device.Ref, kind string, data any, at time.Time) {
	r.add(ref, State, kind, data, at)
}

// Event records an event.
func (r *Recorder) Event(ref device.Ref, kind string, data any, at time.Time) {
	r.add(ref, Event, kind, data, at)
}

func (r *Recorder) add(ref device.Ref, typ, kind string, data any, at time.Time) {
	var raw json.RawMessage
	if data != nil {
		b, err := json.Marshal(data)
		if err != nil {
			panic(fmt.Sprintf("devicetest: %s %s %s: %v", ref, typ, kind, err))
		}
		raw = b
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, Msg{Ref: ref, Type: typ, Kind: kind, Data: raw, At: at})
}

// All returns every message recorded, in order.
func (r *Recorder) All() []Msg {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.msgs)
}

// Of returns the messages of type typ that ref published, in order.
func (r *Recorder) Of(ref device.Ref, typ string) []Msg {
	var out []Msg
	for _, m := range r.All() {
		if m.Ref == ref && m.Type == typ {
			out = append(out, m)
		}
	}
	return out
}

// Kinds lists the kinds of msgs.
func Kinds(msgs []Msg) []string {
	var k []string
	for _, m := range msgs {
		k = append(k, m.Kind)
	}
	return k
}

// WaitEvents waits until ref has published events of the kinds want, in order
// (events of other kinds left out), and returns them.
func (r *Recorder) WaitEvents(t testing.TB, timeout time.Duration, ref device.Ref, want ...string) []Msg {
	t.Helper()
	var got []Msg
	wait.For(t, timeout, fmt.Sprintf("%s events %v", ref, want), func() (bool, string) {
		got = nil
		for _, m := range r.Of(ref, Event) {
			if slices.Contains(want, m.Kind) {
				got = append(got, m)
			}
		}
		return len(got) >= len(want), fmt.Sprint(Kinds(got))
	})
	if k := Kinds(got[:len(want)]); !slices.Equal(k, want) {
		t.Fatalf("%s events %v, want %v", ref, Kinds(got), want)
	}
	return got[:len(want)]
}

// LastState returns the last state ref published, waiting until there is one for
// which ok holds (nil: any).
func (r *Recorder) LastState(t testing.TB, timeout time.Duration, ref device.Ref, ok func(json.RawMessage) bool) Msg {
	t.Helper()
	var last Msg
	wait.For(t, timeout, ref.String()+" state", func() (bool, string) {
		st := r.Of(ref, State)
		if len(st) == 0 {
			return false, "no state"
		}
		last = st[len(st)-1]
		return ok == nil || ok(last.Data), string(last.Data)
	})
	return last
}

// Env returns an environment for Open: cfg, a logger writing to t, the clock (the
// system clock if nil), rec as the sink, access (refusing everything if nil) and, if
// cfg simulates, a new Sims.
func Env(t testing.TB, cfg *config.Bridge, clk clock.Clock, rec *Recorder, access device.Access) device.Env {
	t.Helper()
	if access == nil {
		access = device.AccessFunc(func(_ context.Context, _ device.Read) device.Decision {
			return device.Decision{Reason: "not-listed"}
		})
	}
	env := device.Env{Config: cfg, Log: testlog.New(t), Clock: clock.Or(clk), Sink: rec, Access: access}
	if cfg.Simulate != nil {
		env.Sims = device.NewSims()
	}
	return env
}
