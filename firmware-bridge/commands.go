package bridge

import (
	"context"
	"time"

	"github.com/apedge/apedge/firmware-bridge/door"
	"github.com/apedge/apedge/formats/sitebus"
)

// onCommand carries out one command from the site bus and publishes its result on the
// device's cmd/result topic. A command past its deadline is not carried out: it is
// answered "expired", so a late unlock never opens a door nobody is waiting at.
func (b *Bridge) onCommand(ctx context.Context, topic string, raw []byte) {
	tp, err := sitebus.ParseTopic(topic)
	if err != nil || tp.Site != b.cfg.Site || tp.Kind != sitebus.KindCmd {
		b.log.Warn("bad command topic", "topic", topic, "err", err)
		return
	}
	cmd, err := sitebus.DecodeCommand(raw)
	if err != nil {
		b.log.Warn("bad command", "topic", topic, "bytes", len(raw), "err", err)
		return
	}
	result := func(status, why string) {
		b.log.Info("command", "class", tp.Class, "id", tp.ID, "action", cmd.Action, "command", cmd.ID, "by", cmd.By, "status", status, "err", why)
		b.out.put(outMsg{class: tp.Class, id: tp.ID, kind: sitebus.KindCmdResult, msgKind: status,
			data: sitebus.Result{ID: cmd.ID, Status: status, Error: why}})
	}
	left := cmd.Deadline.Sub(b.clock.Now())
	if left <= 0 {
		result(sitebus.ResultExpired, "received after its deadline "+cmd.Deadline.Format(time.RFC3339Nano))
		return
	}
	// paho calls handlers in order on one goroutine: carry the command out on another.
	go func() {
		cctx, cancel := context.WithTimeout(ctx, left)
		defer cancel()
		switch {
		case tp.Class == sitebus.ClassDoor && cmd.Action == sitebus.ActionUnlock:
			d := b.door(tp.ID)
			if d == nil {
				result(sitebus.ResultFailed, "no door "+tp.ID)
				return
			}
			done := make(chan struct{})
			in := doorInput{at: b.clock.Now(), in: door.Unlock{For: time.Duration(cmd.ForMs) * time.Millisecond, By: cmd.By}, done: done}
			select {
			case d.in <- in:
			case <-cctx.Done():
				result(sitebus.ResultExpired, "door busy until the deadline")
				return
			}
			select {
			case <-done:
				result(sitebus.ResultDone, "")
			case <-cctx.Done():
				result(sitebus.ResultExpired, "door busy until the deadline")
			}
		case tp.Class == sitebus.ClassReader && cmd.Action == sitebus.ActionIndicate:
			r := b.rds.by[tp.ID]
			switch {
			case r == nil:
				result(sitebus.ResultFailed, "no reader "+tp.ID)
			case r.panel == nil:
				result(sitebus.ResultFailed, "reader "+tp.ID+" has no LED or buzzer the bridge drives")
			default:
				if err := indicate(cctx, r.panel, r.addr, cmd.Pattern == "grant"); err != nil {
					result(sitebus.ResultFailed, err.Error())
					return
				}
				result(sitebus.ResultDone, "")
			}
		default:
			result(sitebus.ResultFailed, cmd.Action+" is not a command for a "+tp.Class)
		}
	}()
}
