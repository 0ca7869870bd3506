package agent_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/apedge/apedge/agent"
	"github.com/apedge/apedge/formats/sitebus"
)

// TestBridgeMessagesLost: a door's messages-lost event from the bridge is journaled as
// the alarm bridge.messages-lost with the count and the period; a malformed one is a bad
// message, not an alarm.
func TestBridgeMessagesLost(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	a, _, _ := s.startAgent()
	subscribed(t, a)
	now := s.clock.Now()
	topic := sitebus.DeviceTopic(site, sitebus.ClassDoor, "front", sitebus.KindEvent)
	from, to := now.Add(-time.Hour), now.Add(-time.Minute)
	s.publish(topic, false, deviceMsg(t, now, 1, "messages-lost",
		map[string]any{"count": 250, "from": from, "to": to, "cause": "outbox file not writable and memory bound reached"}))
	s.publish(topic, false, deviceMsg(t, now, 2, "messages-lost", map[string]any{"count": 0}))
	journaled(t, a, 2, 0, 1) // agent.started and the alarm
	evs := s.events(a)
	last := evs[len(evs)-1]
	if !strings.HasSuffix(last.Type, "."+agent.MessagesLostType) {
		t.Fatalf("journaled %s, want %s", last.Type, agent.MessagesLostType)
	}
	var in struct {
		Count uint64    `json:"count"`
		From  time.Time `json:"from"`
		To    time.Time `json:"to"`
	}
	if err := json.Unmarshal(last.Data.AdditionalInformation, &in); err != nil {
		t.Fatal(err)
	}
	if in.Count != 250 || !in.From.Equal(from) || !in.To.Equal(to) {
		t.Errorf("alarm info %s, want count 250 from %s", last.Data.AdditionalInformation, from)
	}
}
