// Package reader is what the classes of card readers share (devices/osdpline's
// readers on RS-485 and devices/gpiodoor's Wiegand readers): the readers' site-bus
// class, their retained status and their commands. It mirrors the site-bus
// vocabulary (package sitebus) for classes, which do not depend on the bus; a test
// in firmware-bridge checks that the two agree.
package reader

// Class is the site-bus class of card readers.
const Class = "reader"

// Kinds of a reader's messages.
const (
	// StatusKind is the kind of a reader's retained state, whose data is a Status.
	StatusKind = "status"
	// BadRead is the event of a read that did not decode; its data is
	// {"reason": why}.
	BadRead = "bad-read"
)

// ActionIndicate is the command that shows a grant or deny pattern on a reader's LED
// and buzzer; its "pattern" is PatternGrant or PatternDeny.
const ActionIndicate = "indicate"

// Patterns of ActionIndicate.
const (
	PatternGrant = "grant"
	PatternDeny  = "deny"
)

// Status is a reader's retained state (kind StatusKind): sitebus.ReaderStatus's
// JSON, field for field.
type Status struct {
	Online    bool   `json:"online"`
	Door      string `json:"door,omitempty"`
	Direction string `json:"direction,omitempty"`
	// Interface is "osdp" or "wiegand".
	Interface string `json:"interface"`
	Address   int    `json:"address,omitempty"`
	// SecureChannel is "on" (and Secure says whether it is up now), "install", or
	// "off": configured off, reported so that nobody mistakes it for a secured line.
	SecureChannel string `json:"secureChannel,omitempty"`
	Secure        bool   `json:"secure"`
	Tamper        bool   `json:"tamper"`
	PowerFault    bool   `json:"powerFault"`
	Vendor        string `json:"vendor,omitempty"`
	Serial        string `json:"serial,omitempty"`
	Firmware      string `json:"firmware,omitempty"`
	LastError     string `json:"lastError,omitempty"`
	Simulated     bool   `json:"simulated,omitempty"`
}
