package sitebus

import "time"

// Door event kinds: the Kind of a door's event message (class door, KindEvent).
const (
	DoorUnlocked = "unlocked"
	DoorLocked   = "locked"
	// DoorOpened is an opening while unlocked: a passage.
	DoorOpened = "opened"
	DoorClosed = "closed"
	// DoorForced is an opening while locked.
	DoorForced = "forced"
	// DoorHeldOpen is a door standing open past its limit, once per opening.
	DoorHeldOpen = "held-open"
	// DoorTailgate is a second opening on one unlock, without a new grant.
	DoorTailgate      = "tailgate"
	DoorHeldOpenEnded = "held-open-ended"
)

// UnlockReason says why a door was unlocked.
type UnlockReason string

// Reasons a door was unlocked.
const (
	UnlockByCredential UnlockReason = "credential"
	UnlockByExitButton UnlockReason = "exit-button"
	UnlockByCommand    UnlockReason = "command"
)

// DoorEvent is the data of a door's event message; its kind and time travel in the
// message around it.
type DoorEvent struct {
	// Reason, Reader, Direction, Credential and By say what unlocked the door, for
	// unlocked, opened and tailgate events.
	Reason     UnlockReason `json:"reason,omitempty"`
	Reader     string       `json:"reader,omitempty"`
	Direction  string       `json:"direction,omitempty"`
	Credential string       `json:"credential,omitempty"`
	By         string       `json:"by,omitempty"`
	// Until is when an unlock ends.
	Until time.Time `json:"until,omitzero"`
	// UnlockedAt is when the grant, button press or command that let an opened or
	// tailgate event's door open happened: the read before the passage.
	UnlockedAt time.Time `json:"unlockedAt,omitzero"`
	// Authorised says an opening happened while unlocked.
	Authorised bool `json:"authorised"`
	// Passages counts openings on one unlock (tailgate: 2 or more).
	Passages int `json:"passages,omitempty"`
	// OpenFor is how long the door stood open (closed, held-open, held-open-ended).
	// Despite the field's name it travels in nanoseconds, as the bridge has always
	// sent it.
	OpenFor time.Duration `json:"openForMs,omitempty"`
	// Hold and HoldReason are a held or hold-ended event's hold mode and reason (its
	// Until is the hold's end, By who ordered or released it).
	Hold       string `json:"hold,omitempty"`
	HoldReason string `json:"holdReason,omitempty"`
}
