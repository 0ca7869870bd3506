package sitebus

import (
	"fmt"
	"time"
)

// Holds: a door held unlocked or locked for a period, and a site lockdown.
//
// A hold is a command to one door (ActionHold), signed for that door like an unlock.
// A site lockdown is not a command of its own: the agent sends every door a hold of
// mode HoldLockdown, each signed for its door and each answered by its own result, so
// that the signing, the replay ledger and the results of unlocks serve it unchanged
// and a door that did not take it is seen as such. ActionRelease ends a door's hold
// early; with Mode HoldLockdown it ends only a lockdown, as a site release does.
//
// A hold ends by itself on the bridge at Until, with or without the agent: the bridge
// refuses a hold longer than its maxHold (default 12h), not by maxUnlock.
//
// Safety: an Approved Premises is a place people live, and its doors must always let
// them out. A door held locked or in lockdown refuses entry only: card reads at the
// entry reader are refused (reason DenyHeldLocked or DenyLockdown), while the exit
// button and the exit reader still unlock it, as at any other time (and so does a
// staff member's momentary ActionUnlock, itself a journaled order). A door held
// unlocked has its lock released until Until; it still reports opened and closed,
// and, since it is unlocked, never forced.
const (
	// ActionHold holds a door unlocked or locked until Until (class door), with
	// Mode, Until and Reason set.
	ActionHold = "hold"
	// ActionRelease ends a door's hold now (class door).
	ActionRelease = "release"
)

// Hold modes: a Command's Mode for ActionHold, and a DoorStatus's Hold.
const (
	// HoldUnlocked: the lock released until the hold ends.
	HoldUnlocked = "unlocked"
	// HoldLocked: entry refused until the hold ends; exit always allowed.
	HoldLocked = "locked"
	// HoldLockdown: as HoldLocked, ordered for the whole site.
	HoldLockdown = "lockdown"
)

// Door event kinds of holds.
const (
	// DoorHeld is a hold starting (or replacing the one there was): the event's Hold,
	// Until, By and HoldReason say which.
	DoorHeld = "held"
	// DoorHoldEnded is a hold ending, at its time or released; By names who released
	// it, none when it ran out.
	DoorHoldEnded = "hold-ended"
)

// UnlockByHold is the reason of an opening of a door held unlocked that no grant or
// button press preceded.
const UnlockByHold UnlockReason = "hold"

// Reasons a card read is refused while its door is held locked: a CardRead's Reason.
const (
	DenyHeldLocked = "held-locked"
	DenyLockdown   = "lockdown"
)

// MaxHoldReason bounds a hold's reason, in bytes.
const MaxHoldReason = 500

// holdAction says action is one of the hold actions.
func holdAction(action string) bool { return action == ActionHold || action == ActionRelease }

// ValidHoldMode says mode is a hold mode.
func ValidHoldMode(mode string) bool {
	return mode == HoldUnlocked || mode == HoldLocked || mode == HoldLockdown
}

// checkHold checks a hold action's fields, and that no other action carries them.
func checkHold(c *Command) error {
	if len(c.Reason) > MaxHoldReason {
		return fmt.Errorf("%w: command %s: reason of %d bytes, at most %d", ErrMessage, c.ID, len(c.Reason), MaxHoldReason)
	}
	switch c.Action {
	case ActionHold:
		switch {
		case !ValidHoldMode(c.Mode):
			return fmt.Errorf("%w: command %s: hold mode %q, want unlocked, locked or lockdown", ErrMessage, c.ID, c.Mode)
		case c.Until.IsZero():
			return fmt.Errorf("%w: command %s: hold without until", ErrMessage, c.ID)
		case !c.Until.After(c.Deadline.Add(-maxHoldSkew)):
			return fmt.Errorf("%w: command %s: hold until %s, before the command's deadline", ErrMessage, c.ID, c.Until.Format(time.RFC3339))
		case c.ForMs != 0:
			return fmt.Errorf("%w: command %s: a hold has until, not forMs", ErrMessage, c.ID)
		}
	case ActionRelease:
		if c.Mode != "" && c.Mode != HoldLockdown {
			return fmt.Errorf("%w: command %s: release mode %q, want none or lockdown", ErrMessage, c.ID, c.Mode)
		}
		if !c.Until.IsZero() || c.ForMs != 0 {
			return fmt.Errorf("%w: command %s: a release has no until or forMs", ErrMessage, c.ID)
		}
	default:
		if c.Mode != "" || !c.Until.IsZero() || c.Reason != "" {
			return fmt.Errorf("%w: command %s: mode, until and reason are for holds, not %s", ErrMessage, c.ID, c.Action)
		}
	}
	return nil
}

// maxHoldSkew is how far before a command's deadline its hold may end: a hold must
// outlast the order that places it, but a command's deadline is seconds ahead.
const maxHoldSkew = 10 * time.Second
