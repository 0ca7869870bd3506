package bridge

import (
	"context"
	"errors"
	"time"

	"github.com/apedge/apedge/devices/device"
	"github.com/apedge/apedge/formats/sitebus"
)

// onCommand carries out one command from the site bus and publishes its result on the
// device's cmd/result topic. A command past its deadline is not carried out: it is
// answered "expired", so a late unlock never opens a door nobody is waiting at. The
// device the topic names carries it out, whatever its class.
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
	d := b.lookup(device.Ref{Class: tp.Class, ID: tp.ID})
	if d == nil {
		result(sitebus.ResultFailed, "no "+tp.Class+" "+tp.ID)
		return
	}
	// paho calls handlers in order on one goroutine: carry the command out on another.
	go func() {
		cctx, cancel := context.WithTimeout(ctx, left)
		defer cancel()
		err := d.Command(cctx, device.Command{ID: cmd.ID, Action: cmd.Action, By: cmd.By, Deadline: cmd.Deadline, Body: raw})
		switch {
		case err == nil:
			result(sitebus.ResultDone, "")
		case errors.Is(err, device.ErrExpired) || errors.Is(err, context.DeadlineExceeded):
			result(sitebus.ResultExpired, err.Error())
		default:
			result(sitebus.ResultFailed, err.Error())
		}
	}()
}
