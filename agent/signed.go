package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/apedge/apedge/formats/event"
	"github.com/apedge/apedge/formats/sitebus"
)

// lateResults is how long after an order ends (answered, or not by its deadline) a
// result for it is still taken as the late answer to an order, not as a command the
// agent never gave.
const lateResults = 2 * time.Minute

// signedCredentials returns the credential list for the bridge, signed with the site
// key: the bridge applies no other.
func (a *Agent) signedCredentials() ([]byte, error) {
	b, err := sitebus.SignCredentialList(a.key, a.credentialList())
	if err != nil {
		return nil, fmt.Errorf("agent: credential list: %w", err)
	}
	return b, nil
}

// signedCommand returns cmd for device class/id, signed with the site key for that
// device: the bridge carries out no other.
func (a *Agent) signedCommand(class, id string, cmd *sitebus.Command) ([]byte, error) {
	b, err := sitebus.SignCommand(a.key, a.cfg.Site, class, id, cmd)
	if err != nil {
		return nil, fmt.Errorf("agent: command %s: %w", cmd.ID, err)
	}
	return b, nil
}

// forgetOrder stops waiting for command id's result after lateResults, so that a late
// answer is not taken for a command the agent never ordered while memory stays bounded
// by the orders of the last few minutes.
func (a *Agent) forgetOrder(id string, ch chan<- sitebus.Result) {
	time.AfterFunc(lateResults, func() {
		a.mu.Lock()
		defer a.mu.Unlock()
		if a.waiting[id] == ch {
			delete(a.waiting, id)
		}
	})
}

// unorderedResult journals the alarm command.unordered: the bridge answered a command
// this agent never ordered (or ordered before it last started, which its info says
// may be so). Either someone else gave the bridge a command, which the bridge carried
// out if the site key signed it and refused otherwise, or someone forged a result.
// One alarm per command id: repeats of the result (the bridge sends its messages
// again until acknowledged) are the same event.
func (a *Agent) unorderedResult(r *sitebus.Result) {
	now := a.clock.Now()
	info, err := json.Marshal(map[string]any{"command": r.ID, "result": r.Status, "error": r.Error,
		"receivedAt": now.UTC(), "agentStartedAt": a.started.UTC(),
		"mayPredateAgentStart": now.Sub(a.started) < lateResults})
	if err != nil {
		a.log.Error("command result for no order", "command", r.ID, "err", err)
		return
	}
	a.log.Warn("command result for a command this agent never ordered", "command", r.ID, "status", r.Status, "err", r.Error)
	d := &event.Draft{Type: "command.unordered", OccurredAt: now, Origin: "command-result:" + r.ID,
		Description: "the bridge answered a command the agent never ordered", Info: info}
	if _, err := a.append(context.Background(), d); err != nil {
		a.log.Error("command.unordered alarm not journaled", "command", r.ID, "err", err)
	}
}
