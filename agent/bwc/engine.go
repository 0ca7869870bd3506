package bwc

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/apedge/apedge/agent/internal/fact"
	"github.com/apedge/apedge/formats/sitebus"
)

// Event types of the drafts an [Engine] returns and applies.
const (
	TypeIssued        = "bwc.issued"
	TypeTaken         = "bwc.taken"
	TypeReturned      = "bwc.returned"
	TypeOffloaded     = "bwc.offloaded"
	TypeOffloadFailed = "bwc.offload-failed"   // an alarm
	TypeOverdue       = "bwc.overdue"          // an alarm
	TypeRemoved       = "bwc.removed-unissued" // an alarm
)

// Types lists every event type an [Engine] returns and applies: the agent replays
// journaled events of these types into a new engine.
func Types() []string {
	return []string{TypeIssued, TypeTaken, TypeReturned, TypeOffloaded, TypeOffloadFailed, TypeOverdue, TypeRemoved}
}

// Alarms lists the event types among [Types] that are alarms: the agent raises
// them to staff as well as journaling them.
func Alarms() []string { return []string{TypeOffloadFailed, TypeOverdue, TypeRemoved} }

// Offload states of a docked camera, as its dock reports them
// ([SlotReading.Offload]).
const (
	OffloadIdle    = "idle"    // nothing being transferred
	OffloadRunning = "running" // footage being transferred
	OffloadDone    = "done"    // everything on the camera transferred
	OffloadFailed  = "failed"  // the transfer failed
)

// How a camera was issued ([Request.Via]).
const (
	ViaConsole = "console" // by a member of staff signed in on the console
	ViaBadge   = "badge"   // by a staff card shown at the dock's reader
)

// Where a camera is ([Camera.Location]).
const (
	// LocationDocked: in a slot of an online dock, as the dock last reported.
	LocationDocked = "docked"
	// LocationOut: out of every dock (issued and taken, or removed).
	LocationOut = "out"
	// LocationUnknown: last known in a dock that is offline now, or that has not
	// reported the slot since the agent started or the dock came back online.
	LocationUnknown = "unknown"
)

// Defaults of [Config], and bounds (see the package doc for where each comes from).
const (
	DefaultMinBatteryPct = 80
	DefaultShift         = 12 * time.Hour
	DefaultTakeWithin    = 2 * time.Minute
	// MaxSlots bounds a dock's slot numbers. The docks number them 1 to MaxSlots
	// on the site bus (whose decoder refuses 0); the engine takes 0 to MaxSlots,
	// so that its own tests may count from 0.
	MaxSlots = 64
	// MaxFaults bounds the faults a reading may list.
	MaxFaults = 16
)

// Errors, tested with errors.Is; each comes wrapped in a sentence saying what was
// wrong, for the member of staff who asked.
var (
	// ErrInvalid: an argument is malformed or missing (a serial, a dock, a slot, a
	// staff id, a time, a battery level).
	ErrInvalid = errors.New("bwc: invalid")
	// ErrNoCamera: no camera of that serial is known to the register.
	ErrNoCamera = errors.New("bwc: no such camera")
	// ErrRefused: the camera may not be issued now; the error is a [*Refusal]
	// saying why and which slot's LED shows it.
	ErrRefused = errors.New("bwc: not issued")
	// ErrState: an event that does not fit the camera's state (issued twice, taken
	// when not issued, offloaded with nothing to offload).
	ErrState = errors.New("bwc: not now")
	// ErrEvent: a draft Apply cannot read, of a type it does not know, or whose
	// fields contradict the register (another issue's number or time).
	ErrEvent = errors.New("bwc: bad event")
)

// Config configures an [Engine]. Zero fields take the defaults.
type Config struct {
	// MinBatteryPct is the lowest battery level, in percent, at which a camera is
	// issued (default DefaultMinBatteryPct): at it, it is; under it, it is not.
	MinBatteryPct int
	// Shift is how long a camera may be out before bwc.overdue is raised (default
	// DefaultShift): out longer than that, it is overdue.
	Shift time.Duration
	// TakeWithin is how long an issued camera may stay in its dock before the issue
	// lapses (default DefaultTakeWithin): its undock within that is the issue being
	// taken, never a removal without issue.
	TakeWithin time.Duration
}

// withDefaults returns c with its defaults set, or an error saying what is wrong.
func (c Config) withDefaults() (Config, error) {
	if c.MinBatteryPct == 0 {
		c.MinBatteryPct = DefaultMinBatteryPct
	}
	if c.Shift == 0 {
		c.Shift = DefaultShift
	}
	if c.TakeWithin == 0 {
		c.TakeWithin = DefaultTakeWithin
	}
	switch {
	case c.MinBatteryPct < 1 || c.MinBatteryPct > 100:
		return c, fmt.Errorf("%w config: minimum battery %d%%: use 1 to 100", ErrInvalid, c.MinBatteryPct)
	case c.Shift < time.Hour || c.Shift > 7*24*time.Hour:
		return c, fmt.Errorf("%w config: shift %s: use 1h to 168h", ErrInvalid, c.Shift)
	case c.TakeWithin < 10*time.Second || c.TakeWithin >= c.Shift:
		return c, fmt.Errorf("%w config: takeWithin %s: use at least 10s, less than the shift", ErrInvalid, c.TakeWithin)
	}
	return c, nil
}

// Engine holds the body-worn camera register of one site: each camera's issue, its
// offload state and the alarms raised, journaled; and, from the docks' readings,
// where each camera is, its battery, its faults and each dock's online state, not
// journaled. Its zero value is not usable: call [New].
type Engine struct {
	cfg   Config
	cams  map[string]*camera
	docks map[string]*dock
}

// camera is one camera: its register (rebuilt by replay), its place (from the
// journal and the readings) and its telemetry (from the readings only).
type camera struct {
	reg   register
	place place
	tel   telemetry
}

// register is what the journal says of a camera: everything Apply changes but its
// place. Two engines with the same journal have equal registers.
type register struct {
	events       int     // journaled events about the camera, for their keys
	issues       int     // issues ever, the last one's number
	issue        *Issued // the current issue; nil when not issued
	taken        time.Time
	overdue      bool // bwc.overdue raised for the current issue
	needsOffload bool // footage recorded since the last offload (a return, a removal, a failed offload)
	failRaised   bool // bwc.offload-failed raised since the last return, removal or offload
	since        time.Time
}

// place is where a camera is, or was last known to be.
type place struct {
	known  bool // a reading or an event said where it is
	docked bool
	live   bool // a reading since the agent started put it there
	dock   string
	slot   int
}

func (p place) at(dock string, slot int) bool { return p.docked && p.dock == dock && p.slot == slot }

// telemetry is what a camera's dock last said of it.
type telemetry struct {
	reported      bool
	battery       int
	charging      bool
	firmware      string
	faults        []string
	offload       string
	offloadDetail string
	seenAt        time.Time
}

// dock is a dock's online state and when each of its slots last reported.
type dock struct {
	online bool
	since  time.Time
	slotAt map[int]time.Time
}

// New returns an engine with no cameras, or an error if cfg is not valid.
func New(cfg Config) (*Engine, error) {
	c, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	return &Engine{cfg: c, cams: map[string]*camera{}, docks: map[string]*dock{}}, nil
}

// Config returns the engine's configuration, its defaults set.
func (e *Engine) Config() Config { return e.cfg }

// Clone returns a deep copy of e: the agent keeps one before a change it may fail to
// journal, to go back to.
func (e *Engine) Clone() *Engine {
	c := &Engine{cfg: e.cfg, cams: make(map[string]*camera, len(e.cams)), docks: make(map[string]*dock, len(e.docks))}
	for s, cam := range e.cams {
		x := *cam
		if cam.reg.issue != nil {
			i := *cam.reg.issue
			x.reg.issue = &i
		}
		x.tel.faults = slices.Clone(cam.tel.faults)
		c.cams[s] = &x
	}
	for id, d := range e.docks {
		x := *d
		x.slotAt = maps.Clone(d.slotAt)
		c.docks[id] = &x
	}
	return c
}

// Issue is a camera's current issue: the bwc.issued event that made it, when the
// camera left its dock, and whether it was raised overdue.
type Issue struct {
	Issued
	// TakenAt is when the camera left its dock with the issue; zero while it is
	// still docked.
	TakenAt time.Time `json:"takenAt,omitzero"`
	// OverdueRaised says bwc.overdue was raised for it.
	OverdueRaised bool `json:"overdueRaised,omitempty"`
}

// Out is how long the camera has been issued at now.
func (i Issue) Out(now time.Time) time.Duration { return max(now.Sub(i.At), 0) }

// Camera is the register's view of one camera.
type Camera struct {
	Serial string `json:"serial"`
	// Location is LocationDocked, LocationOut or LocationUnknown; Dock and Slot are
	// where it is docked, or, unknown, where it was last known to be (Dock is empty
	// and Slot -1 when out or never placed).
	Location string `json:"location"`
	Dock     string `json:"dock,omitempty"`
	Slot     int    `json:"slot"`
	// Unknown says, when Location is LocationUnknown, why: its dock is offline, or
	// has not reported the slot since the agent started.
	Unknown string `json:"unknown,omitempty"`
	// Battery (percent), Charging, Firmware, Faults, Offload and OffloadDetail are as
	// its dock last reported them, at SeenAt; all zero when it is out, or no dock
	// has reported it since the agent started. They are not current when Location
	// is LocationUnknown.
	Battery       int       `json:"battery"`
	Charging      bool      `json:"charging"`
	Firmware      string    `json:"firmware,omitempty"`
	Faults        []string  `json:"faults,omitempty"`
	Offload       string    `json:"offload,omitempty"`
	OffloadDetail string    `json:"offloadDetail,omitempty"`
	SeenAt        time.Time `json:"seenAt,omitzero"`
	// NeedsOffload says footage may be on it that no offload has taken since its
	// last return (or removal, or failed offload), as of NeedsOffloadSince.
	NeedsOffload      bool      `json:"needsOffload"`
	NeedsOffloadSince time.Time `json:"needsOffloadSince,omitzero"`
	// Issue is its current issue, nil when not issued.
	Issue *Issue `json:"issue,omitempty"`
	// Eligible says it may be issued now; WhyNot says why not, each reason a
	// sentence for staff.
	Eligible bool     `json:"eligible"`
	WhyNot   []string `json:"whyNot,omitempty"`
}

// Dock is the register's view of one dock.
type Dock struct {
	ID     string `json:"id"`
	Online bool   `json:"online"`
	// Since is when it was last seen to come online or go offline.
	Since time.Time `json:"since"`
}

// Cameras returns every camera the register knows (from its journal or a reading),
// by serial.
func (e *Engine) Cameras() []Camera {
	return e.list(func(*camera) bool { return true })
}

// Camera returns the camera of serial.
func (e *Engine) Camera(serial string) (Camera, bool) {
	c, ok := e.cams[serial]
	if !ok {
		return Camera{}, false
	}
	return e.view(serial, c), true
}

// Issued returns the cameras issued now, longest out first.
func (e *Engine) Issued() []Camera {
	out := e.list(func(c *camera) bool { return c.reg.issue != nil })
	slices.SortStableFunc(out, func(a, b Camera) int { return a.Issue.At.Compare(b.Issue.At) })
	return out
}

// Overdue returns the cameras issued longer than Config.Shift before now, longest
// out first, raised or not.
func (e *Engine) Overdue(now time.Time) []Camera {
	var out []Camera
	for _, c := range e.Issued() {
		if c.Issue.Out(now) > e.cfg.Shift {
			out = append(out, c)
		}
	}
	return out
}

// Docks returns the docks that have reported, by id.
func (e *Engine) Docks() []Dock {
	var out []Dock
	for id, d := range e.docks {
		out = append(out, Dock{ID: id, Online: d.online, Since: d.since})
	}
	slices.SortFunc(out, func(a, b Dock) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

func (e *Engine) list(keep func(*camera) bool) []Camera {
	var out []Camera
	for _, s := range slices.Sorted(maps.Keys(e.cams)) {
		if c := e.cams[s]; keep(c) {
			out = append(out, e.view(s, c))
		}
	}
	return out
}

// view makes the Camera of c.
func (e *Engine) view(serial string, c *camera) Camera {
	v := Camera{Serial: serial, Slot: -1, Battery: c.tel.battery, Charging: c.tel.charging, Firmware: c.tel.firmware,
		Faults: slices.Clone(c.tel.faults), Offload: c.tel.offload, OffloadDetail: c.tel.offloadDetail, SeenAt: c.tel.seenAt,
		NeedsOffload: c.reg.needsOffload}
	if c.reg.needsOffload {
		v.NeedsOffloadSince = c.reg.since
	}
	switch loc, why := e.location(c); loc {
	case LocationDocked:
		v.Location, v.Dock, v.Slot = loc, c.place.dock, c.place.slot
	case LocationUnknown:
		v.Location, v.Unknown = loc, why
		if c.place.docked {
			v.Dock, v.Slot = c.place.dock, c.place.slot
		}
	default:
		v.Location = loc
	}
	if i := c.reg.issue; i != nil {
		v.Issue = &Issue{Issued: *i, TakenAt: c.reg.taken, OverdueRaised: c.reg.overdue}
	}
	v.WhyNot = e.whyNot(c)
	v.Eligible = len(v.WhyNot) == 0
	return v
}

// location says where c is and, unknown, why.
func (e *Engine) location(c *camera) (string, string) {
	switch {
	case !c.place.known:
		return LocationUnknown, "no dock has reported it since the agent started"
	case !c.place.docked:
		return LocationOut, ""
	}
	d := e.docks[c.place.dock]
	switch {
	case d != nil && !d.online:
		return LocationUnknown, fmt.Sprintf("its dock %s has been offline since %s", c.place.dock, fact.Stamp(d.since))
	case !c.place.live && d != nil:
		return LocationUnknown, fmt.Sprintf("its dock %s has not reported slot %d since it came online at %s", c.place.dock, c.place.slot, fact.Stamp(d.since))
	case !c.place.live:
		return LocationUnknown, fmt.Sprintf("its dock %s has not reported slot %d since the agent started", c.place.dock, c.place.slot)
	}
	return LocationDocked, ""
}

// occupant returns the serial of the camera docked at dock and slot, if any.
func (e *Engine) occupant(dock string, slot int) string {
	for _, s := range slices.Sorted(maps.Keys(e.cams)) {
		if e.cams[s].place.at(dock, slot) {
			return s
		}
	}
	return ""
}

// cam returns the camera of serial, adding it if new.
func (e *Engine) cam(serial string) *camera {
	c, ok := e.cams[serial]
	if !ok {
		c = &camera{}
		e.cams[serial] = c
	}
	return c
}

// Checks of arguments.

func checkSerial(s string) error {
	if !fact.ID(s) {
		return fmt.Errorf("%w: camera serial %q: 1 to 64 printable characters, no spaces", ErrInvalid, fact.Clip(s))
	}
	return nil
}

func checkDock(id string, slot int) error {
	if !sitebus.ValidDeviceID(id) {
		return fmt.Errorf("%w: %q is not a dock id", ErrInvalid, fact.Clip(id))
	}
	if slot < 0 || slot > MaxSlots {
		return fmt.Errorf("%w: slot %d of %s: use 1 to %d", ErrInvalid, slot, id, MaxSlots)
	}
	return nil
}

func checkStaff(what, id string) error {
	if !fact.ID(id) {
		return fmt.Errorf("%w: no %s named (or %q is not a staff id)", ErrInvalid, what, fact.Clip(id))
	}
	return nil
}
