package sitebus

import (
	"encoding/json"
	"fmt"
	"slices"
	"time"
)

// Biometric terminals (class biometric): fingerprint terminals at doors and at
// enrolment desks. A fingerprint's template is made, kept and matched on the
// terminal and never leaves it: on the bus a finger is only a slot number of the
// terminal's library, whether it matched and the match score. Each terminal
// publishes a retained status (kind "status", data BiometricStatus) and these
// events: "enrol-step" (EnrolStep: what the person at the terminal is to do now),
// "enrolled" (Enrolled), "enrol-failed" (EnrolFailed), "templates-deleted"
// (TemplatesDeleted: the slots deleted and the index table read back after) and
// "index" (IndexTable: the slots in use, as read). The agent commands it with
// ActionEnrol, ActionCancelEnrol, ActionDeleteTemplates and ActionReadIndex.
const (
	BiometricStatusKind   = "status"
	BiometricEnrolStep    = "enrol-step"
	BiometricEnrolled     = "enrolled"
	BiometricEnrolFailed  = "enrol-failed"
	BiometricDeleted      = "templates-deleted"
	BiometricIndex        = "index"
	maxBiometricSlots     = 10000
	maxBiometricReasonLen = 256
)

// Enrolment steps (EnrolStep.Step), in their order.
const (
	StepPlaceFinger = "place-finger" // first capture: place the finger on the sensor
	StepLiftFinger  = "lift-finger"  // captured: lift it
	StepPlaceAgain  = "place-again"  // second capture: the same finger again
	StepStoring     = "storing"      // both captured and matched: storing the template
)

// Second-factor results at a door (SecondFactor.Result).
const (
	FactorMatched     = "matched"      // the finger matched one of the card holder's slots
	FactorNotMatched  = "not-matched"  // a finger, but no template on the terminal matched it
	FactorOtherPerson = "other-person" // it matched a slot that is not the card holder's
	FactorNoFinger    = "no-finger"    // no finger came within the window
	FactorNotEnrolled = "not-enrolled" // the card holder has no template on this terminal
	FactorUnavailable = "unavailable"  // the terminal did not answer
	FactorAlternative = "alternative"  // enrolment declined or impossible: card and staff confirmation instead
)

// BiometricStatus is a fingerprint terminal's retained state. Used are the slots
// in use as its index table last read; Templates is its template count.
type BiometricStatus struct {
	Online        bool   `json:"online"`
	Capacity      int    `json:"capacity,omitempty"`
	Templates     int    `json:"templates"`
	SecurityLevel int    `json:"securityLevel,omitempty"`
	PacketSize    int    `json:"packetSize,omitempty"`
	Baud          int    `json:"baud,omitempty"`
	Used          []int  `json:"used"`
	Enrolling     string `json:"enrolling,omitempty"` // the enrolment under way, if any
	// BadFrames counts frames from the terminal that did not decode; LastError says
	// what went wrong last, for a person.
	BadFrames int64  `json:"badFrames,omitempty"`
	LastError string `json:"lastError,omitempty"`
	Simulated bool   `json:"simulated,omitempty"`
}

// EnrolStep is an enrolment's progress: what the person at the terminal is to do.
type EnrolStep struct {
	Enrolment string `json:"enrolment"`
	Step      string `json:"step"`
}

// Enrolled is an enrolment done: both captures matched and the template is stored
// in Slot.
type Enrolled struct {
	Enrolment string `json:"enrolment"`
	Slot      int    `json:"slot"`
}

// EnrolFailed is an enrolment that failed: Reason is a code (the terminal's
// confirmation code by name, e.g. "fingers-do-not-match", "image-too-messy", or
// "timeout", "cancelled", "slot-in-use"), Detail says it for a person.
type EnrolFailed struct {
	Enrolment string `json:"enrolment"`
	Slot      int    `json:"slot"`
	Reason    string `json:"reason"`
	Detail    string `json:"detail,omitempty"`
}

// TemplatesDeleted is the answer to ActionDeleteTemplates: the slots deleted, and
// the terminal's index table read back after the deletion (Used, every slot then in
// use; ReadAt when it was read). The deletion is proven only if none of Slots is in
// Used: Confirmed says so.
type TemplatesDeleted struct {
	Command   string    `json:"command"`
	Slots     []int     `json:"slots"`
	Used      []int     `json:"used"`
	Capacity  int       `json:"capacity"`
	ReadAt    time.Time `json:"readAt"`
	Confirmed bool      `json:"confirmed"`
}

// IndexTable is the answer to ActionReadIndex: the slots in use as read.
type IndexTable struct {
	Command  string    `json:"command"`
	Used     []int     `json:"used"`
	Capacity int       `json:"capacity"`
	ReadAt   time.Time `json:"readAt"`
}

// SecondFactor is what a door's fingerprint terminal said of the finger that came
// with a card read at an Enhanced Security site (CardRead.SecondFactor): which
// terminal, the result, and, for a finger that matched a template, its slot and
// score.
type SecondFactor struct {
	Terminal string `json:"terminal"`
	Result   string `json:"result"`
	Slot     *int   `json:"slot,omitempty"`
	Score    int    `json:"score,omitempty"`
}

// Biometric command actions.
const (
	// ActionEnrol starts an enrolment on a terminal (Command.Enrolment, Command.Slot:
	// the free slot the agent allocated); its progress and outcome come as events.
	ActionEnrol = "enrol"
	// ActionCancelEnrol ends the enrolment under way (Command.Enrolment).
	ActionCancelEnrol = "cancel-enrol"
	// ActionDeleteTemplates deletes the templates of Command.Slots and reads the
	// index table back (event templates-deleted).
	ActionDeleteTemplates = "delete-templates"
	// ActionReadIndex reads the index table (event index).
	ActionReadIndex = "read-index"
)

// biometricAction says a is a biometric command action.
func biometricAction(a string) bool {
	return a == ActionEnrol || a == ActionCancelEnrol || a == ActionDeleteTemplates || a == ActionReadIndex
}

// checkBiometric checks the fields of a biometric command.
func checkBiometric(c *Command) error {
	if !biometricAction(c.Action) {
		if c.Enrolment != "" || c.Slot != nil || len(c.Slots) > 0 {
			return fmt.Errorf("%w: command %s: enrolment or slots on a %s", ErrMessage, c.ID, c.Action)
		}
		return nil
	}
	switch c.Action {
	case ActionEnrol:
		if !validToken(c.Enrolment) || c.Slot == nil || *c.Slot < 0 || *c.Slot >= maxBiometricSlots {
			return fmt.Errorf("%w: command %s: enrol needs an enrolment id and a slot 0..%d", ErrMessage, c.ID, maxBiometricSlots-1)
		}
	case ActionCancelEnrol:
		if !validToken(c.Enrolment) {
			return fmt.Errorf("%w: command %s: cancel-enrol needs the enrolment id", ErrMessage, c.ID)
		}
	case ActionDeleteTemplates:
		if err := checkSlots("command "+c.ID, c.Slots, 1); err != nil {
			return err
		}
	}
	return nil
}

// validToken says s is an id: 1 to 64 printable ASCII bytes, no spaces.
func validToken(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}

// checkSlots checks a list of slots: at least min, each 0..maxBiometricSlots-1,
// none twice.
func checkSlots(what string, slots []int, min int) error {
	if len(slots) < min || len(slots) > maxBiometricSlots {
		return fmt.Errorf("%w: %s: %d slots", ErrMessage, what, len(slots))
	}
	seen := make(map[int]bool, len(slots))
	for _, s := range slots {
		if s < 0 || s >= maxBiometricSlots || seen[s] {
			return fmt.Errorf("%w: %s: slot %d out of range or repeated", ErrMessage, what, s)
		}
		seen[s] = true
	}
	return nil
}

// DecodeBiometricStatus parses and checks a terminal's status. It never panics.
func DecodeBiometricStatus(b []byte) (*BiometricStatus, error) {
	var s BiometricStatus
	if err := decodeBounded(b, "biometric status", &s); err != nil {
		return nil, err
	}
	switch {
	case s.Capacity < 0 || s.Capacity > maxBiometricSlots || s.Templates < 0 || s.Templates > maxBiometricSlots:
		return nil, fmt.Errorf("%w: biometric status: capacity %d, templates %d", ErrMessage, s.Capacity, s.Templates)
	case s.BadFrames < 0 || len(s.LastError) > maxBiometricReasonLen || len(s.Enrolling) > 64:
		return nil, fmt.Errorf("%w: biometric status: bad counters or text", ErrMessage)
	}
	if err := checkSlots("biometric status", s.Used, 0); err != nil {
		return nil, err
	}
	return &s, nil
}

// DecodeBiometricEvent parses and checks the data of a biometric event of kind
// (BiometricEnrolStep, BiometricEnrolled, BiometricEnrolFailed, BiometricDeleted,
// BiometricIndex) and returns a *EnrolStep, *Enrolled, *EnrolFailed,
// *TemplatesDeleted or *IndexTable. It never panics.
func DecodeBiometricEvent(kind string, b []byte) (any, error) {
	switch kind {
	case BiometricEnrolStep:
		var e EnrolStep
		if err := decodeBounded(b, kind, &e); err != nil {
			return nil, err
		}
		if !validToken(e.Enrolment) || !slices.Contains([]string{StepPlaceFinger, StepLiftFinger, StepPlaceAgain, StepStoring}, e.Step) {
			return nil, fmt.Errorf("%w: %s: enrolment %q, step %q", ErrMessage, kind, clipText(e.Enrolment), clipText(e.Step))
		}
		return &e, nil
	case BiometricEnrolled:
		var e Enrolled
		if err := decodeBounded(b, kind, &e); err != nil {
			return nil, err
		}
		if !validToken(e.Enrolment) || e.Slot < 0 || e.Slot >= maxBiometricSlots {
			return nil, fmt.Errorf("%w: %s: enrolment %q, slot %d", ErrMessage, kind, clipText(e.Enrolment), e.Slot)
		}
		return &e, nil
	case BiometricEnrolFailed:
		var e EnrolFailed
		if err := decodeBounded(b, kind, &e); err != nil {
			return nil, err
		}
		if !validToken(e.Enrolment) || !validToken(e.Reason) || len(e.Detail) > maxBiometricReasonLen || e.Slot < 0 || e.Slot >= maxBiometricSlots {
			return nil, fmt.Errorf("%w: %s: enrolment %q, reason %q", ErrMessage, kind, clipText(e.Enrolment), clipText(e.Reason))
		}
		return &e, nil
	case BiometricDeleted:
		var e TemplatesDeleted
		if err := decodeBounded(b, kind, &e); err != nil {
			return nil, err
		}
		if err := checkTable(kind, e.Command, e.Used, e.Capacity, e.ReadAt); err != nil {
			return nil, err
		}
		if err := checkSlots(kind, e.Slots, 1); err != nil {
			return nil, err
		}
		// Confirmed is what the table says, not what the bridge claims.
		free := true
		for _, s := range e.Slots {
			free = free && !slices.Contains(e.Used, s)
		}
		if e.Confirmed != free {
			return nil, fmt.Errorf("%w: %s: confirmed %v, but the index table read back says %v", ErrMessage, kind, e.Confirmed, free)
		}
		return &e, nil
	case BiometricIndex:
		var e IndexTable
		if err := decodeBounded(b, kind, &e); err != nil {
			return nil, err
		}
		if err := checkTable(kind, e.Command, e.Used, e.Capacity, e.ReadAt); err != nil {
			return nil, err
		}
		return &e, nil
	}
	return nil, fmt.Errorf("%w: biometric event of kind %q", ErrMessage, clipText(kind))
}

// checkTable checks an index table read: the command it answers, the used slots
// within the capacity, and when it was read.
func checkTable(kind, cmd string, used []int, capacity int, at time.Time) error {
	switch {
	case !validToken(cmd):
		return fmt.Errorf("%w: %s: no command id", ErrMessage, kind)
	case capacity < 1 || capacity > maxBiometricSlots:
		return fmt.Errorf("%w: %s: capacity %d", ErrMessage, kind, capacity)
	case at.IsZero():
		return fmt.Errorf("%w: %s: no time of reading", ErrMessage, kind)
	}
	if err := checkSlots(kind, used, 0); err != nil {
		return err
	}
	for _, s := range used {
		if s >= capacity {
			return fmt.Errorf("%w: %s: slot %d beyond the capacity %d", ErrMessage, kind, s, capacity)
		}
	}
	return nil
}

// checkSecondFactor checks a card read's second factor.
func checkSecondFactor(f *SecondFactor) error {
	if f == nil {
		return nil
	}
	switch {
	case f.Terminal == "" || len(f.Terminal) > 64:
		return fmt.Errorf("%w: card-read: second factor names no terminal", ErrMessage)
	case !slices.Contains([]string{FactorMatched, FactorNotMatched, FactorOtherPerson, FactorNoFinger, FactorNotEnrolled, FactorUnavailable, FactorAlternative}, f.Result):
		return fmt.Errorf("%w: card-read: second factor result %q", ErrMessage, clipText(f.Result))
	case f.Slot != nil && (*f.Slot < 0 || *f.Slot >= maxBiometricSlots), f.Score < 0 || f.Score > 100000:
		return fmt.Errorf("%w: card-read: second factor slot or score out of range", ErrMessage)
	case (f.Result == FactorMatched || f.Result == FactorOtherPerson) && f.Slot == nil:
		return fmt.Errorf("%w: card-read: second factor %s names no slot", ErrMessage, f.Result)
	}
	return nil
}

// decodeBounded unmarshals b, at most MaxMessage bytes, into v.
func decodeBounded(b []byte, what string, v any) error {
	if len(b) > MaxMessage {
		return fmt.Errorf("%w: %s of %d bytes", ErrMessage, what, len(b))
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrMessage, what, err)
	}
	return nil
}

// clipText shortens s for an error message.
func clipText(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}
