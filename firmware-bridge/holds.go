package bridge

import (
	"fmt"
	"time"

	"github.com/apedge/apedge/devices/device"
	"github.com/apedge/apedge/formats/sitebus"
)

// Holds. A manager's hold (sitebus.ActionHold: a door held unlocked or locked until a
// time, or in a site lockdown) is a signed command to one door like an unlock, and the
// door's state machine (devices/door) carries it out: it ends there by itself at its
// time, whether or not the agent is running. It is bounded by maxHold (default 12h),
// not by maxUnlock, which bounds momentary unlocks only. While a door is held locked
// the bridge refuses entry reads at it (card-read reason "held-locked" or "lockdown");
// exit reads, the exit button and a staff member's momentary unlock still open it:
// nobody is ever held in.

// holdRefuser is a door device whose state machine carries out holds: it says why its
// hold refuses a read in direction at now, or "".
type holdRefuser interface {
	Refuses(now time.Time, direction string) string
}

// holdRefusal says why a read at d in direction is refused at now by d's hold, or ""
// (as for a door that takes no holds). Exit is never refused.
func holdRefusal(d device.Door, now time.Time, direction string) string {
	h, ok := d.(holdRefuser)
	if !ok || direction == "exit" {
		return ""
	}
	return h.Refuses(now, direction)
}

// refuseHeld turns a granted read at door d into a refusal while d's hold refuses
// entry (reason held-locked or lockdown); it is what cardDesk.Decide applies after
// the credential list.
func (b *Bridge) refuseHeld(d device.Door, r device.Read, cr *sitebus.CardRead) {
	at := r.At
	if at.IsZero() {
		at = b.clock.Now()
	}
	if why := holdRefusal(d, at, r.Direction); cr.Granted && why != "" {
		cr.Granted, cr.Reason = false, why
	}
}

// checkHold returns the cause to refuse cmd for, a hold, at now (and the error
// saying why), or "" if cmd is no hold or one within bounds.
func (b *Bridge) checkHold(cmd *sitebus.Command, now time.Time) (string, error) {
	if cmd.Action != sitebus.ActionHold {
		return "", nil
	}
	if left := cmd.Until.Sub(now); left > b.cfg.MaxHold {
		return causeHoldTooLong, fmt.Errorf("hold until %s, %v from now, longer than maxHold %v",
			cmd.Until.Format(time.RFC3339), left.Round(time.Second), b.cfg.MaxHold)
	}
	return "", nil
}
