package bridge

import (
	"encoding/json"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/apedge/apedge/formats/sitebus"
)

// watchOutbox makes the bridge say on its retained bridge/state, through c, when its
// outbox holds messages in memory because it cannot write its file, how many, and how
// many events it has lost; and say plain online again once the outbox has written
// them. It does not wait for the broker: the outbox's writer calls it.
func (b *Bridge) watchOutbox(c mqtt.Client, boot string) {
	b.out.onHealth = func() {
		st, _ := json.Marshal(b.onlineState(boot))
		c.Publish(sitebus.BridgeStateTopic(b.cfg.Site), 1, true, st)
	}
}

// onlineState is the bridge's online state, with its outbox's health.
func (b *Bridge) onlineState(boot string) sitebus.BridgeState {
	st := sitebus.BridgeState{Status: "online", Boot: boot, Time: b.clock.Now().UTC()}
	if b.out == nil { // not open yet
		return st
	}
	return b.out.stateOf(st)
}
