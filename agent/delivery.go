package agent

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/apedge/apedge/agent/eventindex"
	"github.com/apedge/apedge/agent/forwarder"
	"github.com/apedge/apedge/formats/event"
)

// ackRefused journals the forwarder's report r of refused acks on central's ack topic
// as an alarm of type eventindex.AckRefusedType ("delivery.ack-refused"): a forged or
// foreign ack that, taken, would have stopped delivery to central. The forwarder reports
// each cause at most once a minute, so the alarm is raised at most once a minute per
// cause; r.Refused says how many refusals it stands for. It is the forwarder's
// OnAckRefused hook and runs on the forwarder's goroutine.
func (a *Agent) ackRefused(ctx context.Context, r forwarder.AckRefusal) error {
	info := map[string]any{
		"cause":    r.Cause,
		"topic":    r.Topic,
		"retained": r.Retained,
		"last":     r.Last,
		"acked":    r.Acked,
		"refused":  r.Refused,
	}
	var desc string
	switch r.Cause {
	case forwarder.RefusedBeyondJournal:
		info["site"], info["seq"] = r.Site, r.Seq
		desc = fmt.Sprintf("ack from central refused: it claims seq %d, beyond this journal's last %d", r.Seq, r.Last)
	case forwarder.RefusedOtherSite:
		info["site"], info["seq"] = r.Site, r.Seq
		desc = fmt.Sprintf("ack from central refused: it is for site %s, not this site", r.Site)
	default:
		info["error"] = r.Err
		desc = "ack from central refused: it could not be read"
	}
	b, err := json.Marshal(info)
	if err != nil {
		return fmt.Errorf("agent: journal %s: %w", eventindex.AckRefusedType, err)
	}
	_, err = a.append(ctx, &event.Draft{Type: eventindex.AckRefusedType, OccurredAt: r.At, Description: desc, Info: b})
	return err
}
