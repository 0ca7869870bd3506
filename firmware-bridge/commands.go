package bridge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/apedge/apedge/devices/device"
	"github.com/apedge/apedge/formats/sitebus"
)

// Bounds on the commands the bridge carries out.
const (
	// maxAhead is the furthest ahead a command's deadline may be: the agent gives
	// 10s. It bounds how long a command id must be remembered to refuse its replay.
	maxAhead = 5 * time.Minute
	// maxRemembered bounds the command ids remembered; once that many are within
	// their deadlines, further commands are refused until some pass them.
	maxRemembered = 4096
)

// Causes a command or credential list is refused for, as logged and answered.
const (
	causeUnsigned     = "unsigned"
	causeBadSignature = "bad-signature"
	causeNotForDevice = "signed-for-another-device"
	causeMalformed    = "malformed"
	causeReplayed     = "replayed"
	causeTooLong      = "unlock-too-long"
	causeHoldTooLong  = "hold-too-long"
	causeTooFarAhead  = "deadline-too-far-ahead"
	causeTooMany      = "too-many-commands-in-flight"
)

// cause names why a signed list or command failed to verify.
func cause(err error) string {
	switch {
	case errors.Is(err, sitebus.ErrUnsigned):
		return causeUnsigned
	case errors.Is(err, sitebus.ErrBadSignature):
		return causeBadSignature
	case errors.Is(err, sitebus.ErrNotForDevice):
		return causeNotForDevice
	default:
		return causeMalformed
	}
}

// refusals logs what the bridge refuses once per cause per minute, with how many
// more were refused for that cause since, so that a flood of forgeries is not a flood
// of log lines. The causes are a fixed few, so its memory is bounded.
type refusals struct {
	mu   sync.Mutex
	last map[string]refusal // by what and cause
}

type refusal struct {
	at     time.Time
	since  uint64 // refused for this cause since at, not logged
	logged bool
}

// note counts one refusal of what ("command", "credential list") for cause at now and
// logs it unless one of the same cause was logged in the minute before.
func (r *refusals) note(log *slog.Logger, now time.Time, what, cause string, args ...any) {
	key := what + "/" + cause
	r.mu.Lock()
	if r.last == nil {
		r.last = map[string]refusal{}
	}
	st := r.last[key]
	if st.logged && now.Sub(st.at) < time.Minute && !now.Before(st.at) {
		st.since++
		r.last[key] = st
		r.mu.Unlock()
		return
	}
	r.last[key] = refusal{at: now, logged: true}
	r.mu.Unlock()
	log.Warn(what+" refused", append(args, "cause", cause, "alsoRefusedForThisCauseInTheMinuteBefore", st.since)...)
}

// unlockFor returns how long cmd, an unlock of device id, would unlock it for: its
// own time, or the door's configured one.
func (b *Bridge) unlockFor(id string, cmd *sitebus.Command) time.Duration {
	if cmd.ForMs > 0 {
		return time.Duration(cmd.ForMs) * time.Millisecond
	}
	for _, d := range b.cfg.Doors {
		if d.ID == id {
			return d.UnlockFor
		}
	}
	return 0
}

// onCommand carries out one command from the site bus and publishes its result on the
// device's cmd/result topic. Only a command the site key signed for this device is
// carried out; any other is refused, answered "failed" with the reason (when it names
// an id to answer by) and logged once per cause per minute. A command past its deadline
// is not carried out: it is answered "expired", so a late unlock never opens a door
// nobody is waiting at. A command whose deadline is more than maxAhead away, an unlock
// longer than the configured maxUnlock, a hold ending more than maxHold from now (a
// hold is not capped by maxUnlock: see holds.go), and a command id already taken, also
// before the bridge last started (the ledger kept in the state directory), are refused.
// The device the topic names carries it out, whatever its class.
func (b *Bridge) onCommand(ctx context.Context, topic string, raw []byte) {
	tp, err := sitebus.ParseTopic(topic)
	if err != nil || tp.Site != b.cfg.Site || tp.Kind != sitebus.KindCmd {
		b.log.Warn("bad command topic", "topic", topic, "err", err)
		return
	}
	if !b.runsClass(tp.Class) {
		b.log.Debug("command for a class the bridge runs no device of: left to its device", "topic", topic)
		return
	}
	now := b.clock.Now()
	b.openLedger(now) // Run opened it; a test's bridge may not have run
	answer := func(id, status, why string) {
		b.out.put(outMsg{class: tp.Class, id: tp.ID, kind: sitebus.KindCmdResult, msgKind: status,
			data: sitebus.Result{ID: id, Status: status, Error: why}})
	}
	refuse := func(id, cause string, err error) {
		b.refusedCommands.Add(1)
		b.refused.note(b.log, now, "command", cause, "class", tp.Class, "id", tp.ID, "command", id, "bytes", len(raw), "err", err)
		if id != "" {
			answer(id, sitebus.ResultFailed, "refused: "+cause+": "+err.Error())
		}
	}
	cmd, body, err := sitebus.VerifyCommand(raw, b.agentKey, tp.Site, tp.Class, tp.ID)
	if err != nil {
		refuse(sitebus.ClaimedCommandID(raw), cause(err), err)
		return
	}
	result := func(status, why string) {
		b.log.Info("command", "class", tp.Class, "id", tp.ID, "action", cmd.Action, "command", cmd.ID, "by", cmd.By, "status", status, "err", why)
		answer(cmd.ID, status, why)
	}
	left := cmd.Deadline.Sub(now)
	if left <= 0 {
		result(sitebus.ResultExpired, "received after its deadline "+cmd.Deadline.Format(time.RFC3339Nano))
		return
	}
	if left > maxAhead {
		refuse(cmd.ID, causeTooFarAhead, fmt.Errorf("deadline %s is more than %v ahead", cmd.Deadline.Format(time.RFC3339), maxAhead))
		return
	}
	if cmd.Action == sitebus.ActionUnlock {
		if d := b.unlockFor(tp.ID, cmd); d > b.cfg.MaxUnlock {
			refuse(cmd.ID, causeTooLong, fmt.Errorf("unlock for %v, longer than maxUnlock %v", d, b.cfg.MaxUnlock))
			return
		}
	}
	if why, err := b.checkHold(cmd, now); why != "" {
		refuse(cmd.ID, why, err)
		return
	}
	if why, err := b.commands.first(cmd.ID, cmd.Deadline, now); why != "" {
		refuse(cmd.ID, why, err)
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
		err := d.Command(cctx, device.Command{ID: cmd.ID, Action: cmd.Action, By: cmd.By, Deadline: cmd.Deadline, Body: body})
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

// openLedger reads the command ledger kept in the state directory, once, and logs if it
// could not: the commands that cannot then be proved new are refused for a while.
func (b *Bridge) openLedger(now time.Time) {
	if lost := b.commands.open(b.cfg.StateDir, now); lost != nil {
		b.log.Warn("command ledger kept from before unreadable: refusing the commands that cannot be proved new",
			"until", now.Add(maxAhead), "err", lost)
	}
}
