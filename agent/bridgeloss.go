package agent

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/apedge/apedge/formats/event"
	"github.com/apedge/apedge/formats/sitebus"
)

// MessagesLostType is the alarm journaled when the bridge reports that it lost some of a
// device's events: its outbox could not write them (disk full or failing) and its
// memory bound was exceeded.
const MessagesLostType = "bridge.messages-lost"

// bridgeLoss makes the bridge.messages-lost alarm of a device's messages-lost event.
func (a *Agent) bridgeLoss(tp sitebus.Topic, m *sitebus.Message) (*event.Draft, error) {
	l, err := sitebus.DecodeMessagesLost(m.Data)
	if err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	a.log.Error("the bridge lost device events", "class", tp.Class, "id", tp.ID, "count", l.Count, "from", l.From, "to", l.To, "cause", l.Cause)
	info, err := json.Marshal(map[string]any{
		"device": map[string]any{"class": tp.Class, "id": tp.ID, "boot": m.Boot, "seq": m.Seq, "time": m.Time},
		"count":  l.Count, "from": l.From.UTC(), "to": l.To.UTC(), "cause": l.Cause,
	})
	if err != nil {
		return nil, fmt.Errorf("agent: messages-lost: %w", err)
	}
	return &event.Draft{Type: MessagesLostType, OccurredAt: m.Time,
		Description: fmt.Sprintf("bridge lost %d events of %s %s between %s and %s", l.Count, tp.Class, tp.ID,
			l.From.UTC().Format(time.RFC3339), l.To.UTC().Format(time.RFC3339)),
		Info: info}, nil
}
