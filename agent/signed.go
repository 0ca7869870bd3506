package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
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

// unorderedKey is the one key command.unordered alarms are limited under.
const unorderedKey = "command.unordered"

// unorderedLimit limits command.unordered alarms to one per refusalAlarmEvery (a
// minute) by the agent's clock, so that a flood of results for distinct forged command
// ids is one alarm a minute, not one per id. The next alarm says how many results it
// held back.
type unorderedLimit struct {
	limit refusals // under unorderedKey only

	mu sync.Mutex
	// last is the command id of the last alarm raised: its result sent again is the
	// same event (the journal keeps it once), not held back.
	last string
	// carry counts results held back that an alarm would have reported but did not
	// raise, the journal holding it already: the next alarm reports them.
	carry uint64
}

// allow says whether the result for unordered command id, received at now, is to be
// journaled as an alarm, and how many results raised none since the last alarm.
func (u *unorderedLimit) allow(id string, now time.Time) (raise bool, heldBack uint64) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if id == u.last {
		return true, 0 // a repeat: the journal takes it as a duplicate of the alarm
	}
	ok, n := u.limit.allow(unorderedKey, unorderedKey, now)
	if !ok {
		return false, 0
	}
	u.last = id
	n += u.carry
	u.carry = 0
	return true, n
}

// notRaised gives back the count of results held back that an alarm allowed did not
// report, for the next alarm to.
func (u *unorderedLimit) notRaised(heldBack uint64) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.carry += heldBack
}

// unorderedResult journals the alarm command.unordered: the bridge answered a command
// this agent never ordered (or ordered before it last started, which its info says
// may be so). Either someone else gave the bridge a command, which the bridge carried
// out if the site key signed it and refused otherwise, or someone forged a result.
// One alarm per command id: repeats of the result (the bridge sends its messages
// again until acknowledged) are the same event. At most one alarm a minute: the
// results for other commands in that minute raise none, and the next alarm counts
// them (unorderedSinceLastAlarm); every result is counted in Stats.Unordered. The
// warning in the log is one per alarm too.
func (a *Agent) unorderedResult(r *sitebus.Result) {
	a.unordered.Add(1)
	now := a.clock.Now()
	raise, heldBack := a.unorderedLimit.allow(r.ID, now)
	if !raise {
		a.log.Debug("command result for a command this agent never ordered; alarmed once a minute", "command", r.ID, "status", r.Status)
		return
	}
	info, err := json.Marshal(map[string]any{"command": r.ID, "result": r.Status, "error": r.Error,
		"receivedAt": now.UTC(), "agentStartedAt": a.started.UTC(),
		"mayPredateAgentStart":    now.Sub(a.started) < lateResults,
		"unorderedSinceLastAlarm": heldBack})
	if err != nil {
		a.unorderedLimit.notRaised(heldBack)
		a.log.Error("command result for no order", "command", r.ID, "err", err)
		return
	}
	d := &event.Draft{Type: "command.unordered", OccurredAt: now, Origin: "command-result:" + r.ID,
		Description: "the bridge answered a command the agent never ordered", Info: info}
	rec, err := a.append(context.Background(), d)
	switch {
	case err != nil:
		a.unorderedLimit.notRaised(heldBack)
		a.log.Error("command.unordered alarm not journaled", "command", r.ID, "err", err)
	case rec.Duplicate:
		a.unorderedLimit.notRaised(heldBack)
	default:
		a.unorderedAlarms.Add(1)
		a.log.Warn("command result for a command this agent never ordered (alarmed once a minute; all are counted)",
			"command", r.ID, "status", r.Status, "err", r.Error, "unorderedSinceLastAlarm", heldBack)
	}
}
