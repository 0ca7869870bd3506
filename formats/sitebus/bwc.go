package sitebus

import (
	"encoding/json"
	"fmt"
	"unicode"
	"unicode/utf8"

	"github.com/apedge/apedge/formats/sitekey"
)

// Body-worn camera docks (class bwc-dock): the racks that charge staff's body-worn
// cameras and offload their footage. A dock is MQTT-native: the bridge plays no
// part. A vendor's dock is joined to the site bus by a small adapter that speaks
// the vendor's dock (its local API or management software) on one side and
// publishes the messages below on the other, on the device topics of class
// bwc-dock with the dock's id (DeviceTopic(site, ClassBWCDock, id, kind)), using
// its own client certificate from the site CA for the identity
// device:bwc-dock:{id} (internal/pki), whose ACL lets it write only its own
// event, state and cmd/result topics and read only its own cmd topic. `apedge
// sim dock` is such an adapter for a simulated dock (devices/bwcdock).
//
// Every message is a Message (time, boot, seq, kind, data) as the bridge's are.
// An adapter's boot id names one connection to the broker: it takes a new boot id
// each time it connects and numbers its messages from 1 again, so that its last
// will (below) is always the first message of its connection and never repeats a
// (boot, seq) the agent has handled.
//
// The retained state (kind "status", data DockStatus) says the whole dock: online,
// the dock's serial, model and firmware, and each slot's camera (serial, battery,
// charging, offload, firmware, faults). The adapter publishes it at every connect
// and at every change of what it says (battery whole percents, offload progress).
//
// The dock's last will is its status with online false and no slots: the adapter
// sets it when it connects as the MQTT will of its connection, on its state topic,
// QoS 1, retained, a Message of kind "status" dated at the connect with seq 1 of
// the connection's boot (its online status is then seq 2). The broker publishes it
// when the connection is lost without a DISCONNECT (power cut, network cut, crash)
// and it stays retained until the adapter is back. An adapter that stops on
// purpose publishes the same status itself before it disconnects. The will is
// dated at the connect, however long before the loss it was: the agent takes the
// arrival of an offline status as the time the dock went.
//
// Events (kind as below, data DockEvent):
//
//	docked    {slot, serial}                       a camera was put in slot
//	undocked  {slot, serial}                       the camera in slot was taken out
//	offload   {slot, serial, result, detail, bytes} an offload ended: done or failed
//	badge     {card}                               a staff card at the dock's reader
//
// The agent commands the dock's slot LEDs with ActionIndicate (Command.Slot,
// Command.Pattern one of PatternIssue, PatternRefused, PatternReturn, and
// Command.Reason), signed like every command (SignCommand for class bwc-dock) and
// checked by the adapter with VerifyDockCommand; the adapter answers on cmd/result
// as the bridge does (Result).
const (
	DockStatusKind    = "status"
	DockEventDocked   = "docked"
	DockEventUndocked = "undocked"
	DockEventOffload  = "offload"
	DockEventBadge    = "badge"
)

// Bounds of a dock's messages. Multi-bay docks hold 1 to about 16 cameras; an
// adapter may front several chained docks as one, so MaxDockSlots leaves room.
// MaxDockFaults and the text bounds keep a status within MaxMessage at
// MaxDockSlots. MaxOffloadBytes is 1 TiB, far above any camera's storage.
const (
	MaxDockSlots    = 64
	MaxDockFaults   = 8
	maxDockText     = 256 // detail, lastError, reason, a fault
	MaxOffloadBytes = 1 << 40
)

// Offload states (DockOffload.State).
const (
	// OffloadIdle: nothing to offload, none under way (the camera holds no footage
	// the dock has not offloaded).
	OffloadIdle = "idle"
	// OffloadRunning: under way, or queued at 0%, ProgressPct done so far.
	OffloadRunning = "running"
	// OffloadDone: the offload since the camera was docked completed; nothing left.
	OffloadDone = "done"
	// OffloadFailed: the last offload failed and footage is left on the camera;
	// Detail says why.
	OffloadFailed = "failed"
)

// Slot LED patterns (Command.Pattern of an ActionIndicate to a dock).
const (
	// PatternIssue: the camera in this slot is issued: take it.
	PatternIssue = "issue"
	// PatternRefused: the camera in this slot must not be taken (battery low,
	// footage not offloaded, a fault); Command.Reason says why.
	PatternRefused = "refused"
	// PatternReturn: return a camera to this slot.
	PatternReturn = "return"
)

// DockStatus is a dock's retained state.
type DockStatus struct {
	Online bool `json:"online"`
	// Serial, Model and Firmware are the dock's own, as it reports them.
	Serial   string `json:"serial,omitempty"`
	Model    string `json:"model,omitempty"`
	Firmware string `json:"firmware,omitempty"`
	// Slots are the dock's slots, each once, numbered 1 to len(Slots), in any
	// order (adapters send them in order). An online dock has at least one; the
	// offline status (the last will) has none.
	Slots []DockSlot `json:"slots,omitempty"`
	// LastError says what went wrong last with the dock, for a person.
	LastError string `json:"lastError,omitempty"`
	Simulated bool   `json:"simulated,omitempty"`
}

// DockSlot is one slot of a dock and the camera in it. An empty slot has only
// Slot and Occupied false; an occupied one has Camera, BatteryPct and Offload.
type DockSlot struct {
	Slot     int  `json:"slot"`
	Occupied bool `json:"occupied"`
	// Camera is the serial number of the camera in the slot (1 to 64 printable
	// ASCII bytes, no spaces); no two slots hold the same camera.
	Camera string `json:"camera,omitempty"`
	// BatteryPct is the camera's battery, 0 to 100 %; Charging says it is charging.
	BatteryPct *int `json:"batteryPct,omitempty"`
	Charging   bool `json:"charging,omitempty"`
	// Offload is the state of the camera's footage offload.
	Offload *DockOffload `json:"offload,omitempty"`
	// CameraFirmware is the camera's firmware version; Faults are the faults the
	// camera reports (at most MaxDockFaults, each up to 256 characters), none when
	// it is well.
	CameraFirmware string   `json:"cameraFirmware,omitempty"`
	Faults         []string `json:"faults,omitempty"`
}

// DockOffload is the offload state of a docked camera.
type DockOffload struct {
	// State is one of the Offload states; ProgressPct is 0 to 100, 0 when idle and
	// 100 when done. Detail says more, for a person (why it failed).
	State       string `json:"state"`
	ProgressPct int    `json:"progressPct"`
	Detail      string `json:"detail,omitempty"`
}

// DockEvent is the data of a dock event; which fields it has depends on its kind
// (see the const block of DockStatusKind).
type DockEvent struct {
	// Slot (1 to MaxDockSlots) and Serial (the camera's) are a docked, undocked or
	// offload event's.
	Slot   int    `json:"slot,omitempty"`
	Serial string `json:"serial,omitempty"`
	// Result ("done" or "failed"), Detail (why it failed: required then) and Bytes
	// (how much was offloaded, optional) are an offload event's.
	Result string `json:"result,omitempty"`
	Detail string `json:"detail,omitempty"`
	Bytes  int64  `json:"bytes,omitempty"`
	// Card is a badge event's: the card number as the dock's reader read it (1 to
	// 64 printable ASCII bytes, no spaces), as a roster's credential names it.
	Card string `json:"card,omitempty"`
}

// validText says s is at most maxDockText bytes of printable UTF-8.
func validText(s string) bool {
	if len(s) > maxDockText || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}

// DecodeDockStatus parses and checks a dock's status data. It never panics.
func DecodeDockStatus(b []byte) (*DockStatus, error) {
	var st DockStatus
	if err := decodeBounded(b, "dock status", &st); err != nil {
		return nil, err
	}
	bad := func(format string, a ...any) (*DockStatus, error) {
		return nil, fmt.Errorf("%w: dock status: %s", ErrMessage, fmt.Sprintf(format, a...))
	}
	for _, f := range []struct{ name, v string }{{"serial", st.Serial}, {"model", st.Model}, {"firmware", st.Firmware}} {
		if f.v != "" && !validToken(f.v) {
			return bad("%s %q: 1 to 64 printable characters, no spaces", f.name, clipText(f.v))
		}
	}
	if !validText(st.LastError) {
		return bad("lastError not printable or over %d bytes", maxDockText)
	}
	switch {
	case st.Online && len(st.Slots) == 0:
		return bad("online with no slots")
	case !st.Online && len(st.Slots) > 0:
		return bad("offline with slots: an offline dock says nothing of them")
	case len(st.Slots) > MaxDockSlots:
		return bad("%d slots, at most %d", len(st.Slots), MaxDockSlots)
	}
	seen := make([]bool, len(st.Slots)+1)
	cameras := map[string]int{}
	for _, s := range st.Slots {
		if s.Slot < 1 || s.Slot > len(st.Slots) || seen[s.Slot] {
			return bad("slot %d out of 1..%d or repeated", s.Slot, len(st.Slots))
		}
		seen[s.Slot] = true
		if err := checkDockSlot(&s); err != "" {
			return bad("slot %d: %s", s.Slot, err)
		}
		if s.Occupied {
			if other, dup := cameras[s.Camera]; dup {
				return bad("camera %s in slots %d and %d", s.Camera, other, s.Slot)
			}
			cameras[s.Camera] = s.Slot
		}
	}
	return &st, nil
}

// checkDockSlot says what is wrong with s, or "".
func checkDockSlot(s *DockSlot) string {
	if !s.Occupied {
		if s.Camera != "" || s.BatteryPct != nil || s.Charging || s.Offload != nil || s.CameraFirmware != "" || len(s.Faults) > 0 {
			return "empty, but with a camera's details"
		}
		return ""
	}
	switch {
	case !validToken(s.Camera):
		return fmt.Sprintf("camera serial %q: 1 to 64 printable characters, no spaces", clipText(s.Camera))
	case s.BatteryPct == nil || *s.BatteryPct < 0 || *s.BatteryPct > 100:
		return "batteryPct missing or out of 0..100"
	case s.CameraFirmware != "" && !validToken(s.CameraFirmware):
		return fmt.Sprintf("cameraFirmware %q", clipText(s.CameraFirmware))
	case len(s.Faults) > MaxDockFaults:
		return fmt.Sprintf("%d faults, at most %d", len(s.Faults), MaxDockFaults)
	case s.Offload == nil:
		return "occupied with no offload state"
	}
	for _, f := range s.Faults {
		if f == "" || !validText(f) {
			return "a fault empty, not printable or too long"
		}
	}
	o := s.Offload
	switch {
	case o.State != OffloadIdle && o.State != OffloadRunning && o.State != OffloadDone && o.State != OffloadFailed:
		return fmt.Sprintf("offload state %q, want idle, running, done or failed", clipText(o.State))
	case o.ProgressPct < 0 || o.ProgressPct > 100:
		return fmt.Sprintf("offload progress %d%%, want 0..100", o.ProgressPct)
	case o.State == OffloadIdle && o.ProgressPct != 0, o.State == OffloadDone && o.ProgressPct != 100:
		return fmt.Sprintf("offload %s at %d%%", o.State, o.ProgressPct)
	case !validText(o.Detail):
		return "offload detail not printable or too long"
	}
	return ""
}

// DecodeDockEvent parses and checks the data of a dock event of kind kind
// (DockEventDocked, DockEventUndocked, DockEventOffload, DockEventBadge). A slot is checked against
// MaxDockSlots: whether the dock has it is the agent's to check, against the
// dock's configured slots. It never panics.
func DecodeDockEvent(kind string, b []byte) (*DockEvent, error) {
	var ev DockEvent
	if err := decodeBounded(b, "dock event", &ev); err != nil {
		return nil, err
	}
	bad := func(format string, a ...any) (*DockEvent, error) {
		return nil, fmt.Errorf("%w: dock %.64q event: %s", ErrMessage, kind, fmt.Sprintf(format, a...))
	}
	switch kind {
	case DockEventDocked, DockEventUndocked, DockEventOffload:
		switch {
		case ev.Slot < 1 || ev.Slot > MaxDockSlots:
			return bad("slot %d out of 1..%d", ev.Slot, MaxDockSlots)
		case !validToken(ev.Serial):
			return bad("camera serial %q: 1 to 64 printable characters, no spaces", clipText(ev.Serial))
		case ev.Card != "":
			return bad("a card on a camera's event")
		}
	case DockEventBadge:
		switch {
		case !validToken(ev.Card):
			return bad("card %q: 1 to 64 printable characters, no spaces", clipText(ev.Card))
		case ev.Slot != 0 || ev.Serial != "":
			return bad("a slot or camera on a badge")
		}
	default:
		return bad("unknown kind")
	}
	if kind != DockEventOffload {
		if ev.Result != "" || ev.Detail != "" || ev.Bytes != 0 {
			return bad("an offload's result, detail or bytes")
		}
		return &ev, nil
	}
	switch {
	case ev.Result != ResultDone && ev.Result != ResultFailed:
		return bad("result %q, want done or failed", clipText(ev.Result))
	case ev.Result == ResultFailed && ev.Detail == "":
		return bad("failed with no detail")
	case !validText(ev.Detail):
		return bad("detail not printable or over %d bytes", maxDockText)
	case ev.Bytes < 0 || ev.Bytes > MaxOffloadBytes:
		return bad("bytes %d out of 0..%d", ev.Bytes, int64(MaxOffloadBytes))
	}
	return &ev, nil
}

// DecodeDockCommand parses and checks a command to a dock: ActionIndicate with a
// Slot of 1 to MaxDockSlots, a Pattern (PatternIssue, PatternRefused,
// PatternReturn) and a Reason of at most 256 printable bytes (required for
// PatternRefused), and none of other classes' fields. It never panics.
func DecodeDockCommand(b []byte) (*Command, error) {
	var c Command
	if err := decodeBounded(b, "dock command", &c); err != nil {
		return nil, err
	}
	bad := func(format string, a ...any) (*Command, error) {
		return nil, fmt.Errorf("%w: dock command %.64q: %s", ErrMessage, c.ID, fmt.Sprintf(format, a...))
	}
	switch {
	case c.ID == "" || len(c.ID) > 64:
		return bad("id missing or too long")
	case c.Deadline.IsZero():
		return bad("no deadline")
	case c.Action != ActionIndicate:
		return bad("action %q, want indicate", clipText(c.Action))
	case c.Slot == nil || *c.Slot < 1 || *c.Slot > MaxDockSlots:
		return bad("slot missing or out of 1..%d", MaxDockSlots)
	case c.Pattern != PatternIssue && c.Pattern != PatternRefused && c.Pattern != PatternReturn:
		return bad("pattern %q, want issue, refused or return", clipText(c.Pattern))
	case c.Pattern == PatternRefused && c.Reason == "":
		return bad("refused with no reason")
	case !validText(c.Reason):
		return bad("reason not printable or over %d bytes", maxDockText)
	case len(c.By) > 128:
		return bad("by too long")
	case c.ForMs != 0 || c.Mode != "" || !c.Until.IsZero() || c.Enrolment != "" || len(c.Slots) > 0:
		return bad("fields of another class's command")
	}
	return &c, nil
}

// VerifyDockCommand checks that raw, received on the cmd topic of dock id of site,
// is a dock command signed by pub for that dock (SignCommand with class
// ClassBWCDock), and returns it. It never panics on any input.
func VerifyDockCommand(raw []byte, pub *sitekey.Public, site, id string) (*Command, error) {
	payload, err := verified(raw, CommandPayloadType, maxSignedCommand, pub)
	if err != nil {
		return nil, fmt.Errorf("dock command: %w", err)
	}
	c, err := DecodeDockCommand(payload)
	if err != nil {
		return nil, err
	}
	var to struct{ Site, Class, Device string }
	if err := json.Unmarshal(payload, &to); err != nil { // DecodeDockCommand parsed it already
		return nil, fmt.Errorf("%w: dock command: %v", ErrMessage, err)
	}
	if to.Site != site || to.Class != ClassBWCDock || to.Device != id {
		return nil, fmt.Errorf("%w: %w: dock command %s is for %.64s %.64s/%.64s, received for %s %s/%s",
			ErrMessage, ErrNotForDevice, c.ID, to.Site, to.Class, to.Device, site, ClassBWCDock, id)
	}
	return c, nil
}
