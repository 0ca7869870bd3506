package agent

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/apedge/apedge/formats/sitebus"
)

// busAcks collects the device messages the agent has handled, to tell the bridge
// (sitebus.AckTopic): a message is handled once the broker has been acknowledged for it,
// which happens only after its event is durable.
type busAcks struct {
	mu   sync.Mutex
	done map[string]map[string][]uint64 // boot: device/kind: seqs
}

func (b *busAcks) handled(m devMsg) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.done == nil {
		b.done = map[string]map[string][]uint64{}
	}
	if b.done[m.boot] == nil {
		b.done[m.boot] = map[string][]uint64{}
	}
	b.done[m.boot][m.dev] = append(b.done[m.boot][m.dev], m.seq)
}

// take returns what was collected and starts again.
func (b *busAcks) take() map[string]map[string][]uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	d := b.done
	b.done = nil
	return d
}

// ackInterval is how often the agent tells the bridge what it has handled.
const ackInterval = 100 * time.Millisecond

// sendAcks publishes the collected acks every ackInterval until ctx ends, then once more.
// An ack that does not reach the bridge costs only a resend, which the journal's origin
// dedupe absorbs; so acks are collected only while the bus is up and not retried.
func (a *Agent) sendAcks(ctx context.Context) {
	t := time.NewTicker(ackInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			a.flushAcks()
			return
		case <-t.C:
			a.flushAcks()
		}
	}
}

func (a *Agent) flushAcks() {
	if !a.busUp.Load() {
		return // kept for when the bus is back
	}
	for boot, done := range a.acks.take() {
		b, err := json.Marshal(sitebus.Ack{Boot: boot, Done: done})
		if err != nil {
			a.log.Error("bus ack", "err", err)
			continue
		}
		a.out.Publish(sitebus.AckTopic(a.cfg.Site), 1, false, b)
	}
}

// agentState is the agent's retained status on the site bus.
func agentState(status string, now time.Time) []byte {
	b, _ := json.Marshal(sitebus.AgentState{Status: status, Time: now.UTC()})
	return b
}

// announce publishes the agent's status, retained.
func (a *Agent) announce(c mqtt.Client, status string) mqtt.Token {
	return c.Publish(sitebus.AgentStateTopic(a.cfg.Site), 1, true, agentState(status, a.clock.Now()))
}
