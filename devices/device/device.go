// Package device is the contract between the firmware bridge and the classes of
// devices it runs: door hardware on GPIO, OSDP reader lines, and each class to come
// (RTSP cameras, fingerprint terminals, body-worn-camera docks, PAT testers,
// breath-alcohol and drug testers). It knows neither the site bus nor the bridge:
// a class reports through the Sink and the Access it is given, and the bridge turns
// those into site-bus messages and access decisions.
//
// # Adding a class
//
// A class is a package under devices/ (devices/gpiodoor and devices/osdpline are the
// two there are) and one entry in the bridge's table (Classes in
// firmware-bridge/classes.go). Nothing else in the bridge changes. The package
// provides:
//
//   - A Class value. Name names it in logs and errors. Open reads the class's own
//     section of Env.Config (a typed field of config.Bridge: add one, with its
//     defaults and checks, in internal/config/bridge.go), opens the hardware (or, when
//     Env.Sims is set, a simulator of it) and returns a Driver. Open returns a nil
//     Driver when the configuration lists none of its devices. It must not publish
//     and must not start anything that outlives it: what it acquires (ports, pins,
//     sockets, simulators) is released by the Driver's Run.
//   - A Driver: Devices lists, once and for good, the devices it answers for; Run
//     runs them until ctx ends, publishing through Env.Sink, and releases what Open
//     acquired before it returns. The bridge calls Run exactly once for each Driver
//     it got, even when it is stopping already (ctx done at the call: another class
//     failed to open), so that Run can release; it then releases and returns at
//     once, publishing nothing. Run returns nil when ctx ends; it returns an error only when
//     nothing of the class can run any more. One device failing (a camera gone, a
//     reader not answering) is that device's Health and events, not an error from
//     Run: the other devices, and every other class, keep running.
//   - A Device per addressable thing on the site bus. Ref is its site-bus class
//     (the {class} of apedge/v1/{site}/dev/{class}/{id}/..., one of the classes the
//     site-bus vocabulary, package sitebus, lists; a class new to the bus needs its
//     constant there first) and id (from the configuration, unique within its
//     site-bus class). Command carries out a command addressed to the device; Health
//     says how it is, now.
//
// What a device publishes. State messages are retained: the latest says how the
// device is (kind "status", with one struct as data, republished whole on every
// change). Events are things that happened, each with the time it happened (from
// Env.Clock, or the hardware's own time stamp). Data is encoded as JSON and must
// match the payload the site-bus vocabulary defines for that class and kind: a
// class package cannot import package sitebus (it would tie devices to the bus), so
// it declares its own payload types with the same JSON, and a test in
// firmware-bridge checks they encode alike.
//
// Commands. The bridge decodes and checks a command from the bus, answers it
// "expired" without calling the device if its deadline has passed, finds the device
// by Ref, and calls Command with a context that ends at the command's deadline.
// Command returns nil when done; Unsupported(ref, action) for an action the device
// does not take; Expired(why) (or an error wrapping context.DeadlineExceeded) when
// it could not be done before the deadline; any other error for a failure, whose
// text is sent back to the asker. A command action new to the bus needs its
// constant and checks in package sitebus first.
//
// Card reads. Access decisions are the bridge's policy, never a class's: a device
// that reads credentials (a card reader, and later a fingerprint terminal) hands
// each read to Env.Access.Decide, which decides it by the credential list, hands a
// grant to the Door the reader is on, publishes the "card-read" event as the
// reader's, and returns the decision for the reader to show. A class whose devices
// are let through by such grants (doors, turnstiles) makes those devices implement
// Door.
//
// Simulation and tests. When the bridge runs a simulated site (config simulate:),
// Env.Sims is set: Open then makes a simulator of each device instead of opening
// hardware, and adds it to Env.Sims under the device's Ref, so that tests and the
// demo can drive it (a simulated reader implements SimReader). Drive the real driver
// against the simulator, byte for byte and pin for pin, as it would hardware. A
// class's own tests need no bridge and no bus: call Open with an Env made of a
// devicetest.Recorder as Sink, an AccessFunc, a clock and a Sims (devicetest.Env
// makes one), run the Driver, drive the simulators and look at what the Recorder got
// (see devices/gpiodoor's and devices/osdpline's tests). Add the class's payload
// types to firmware-bridge/vocab_test.go, against sitebus's. Tests of the whole
// bridge reach a simulator with bridge.Sim's Simulator(ref). The bridge's test of the
// whole path is firmware-bridge's TestClassPlugsIn: a throwaway class registered
// with bridge.WithClasses, publishing, commanded and reporting health over a real
// broker.
package device

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/apedge/apedge/devices/wiegand"
	"github.com/apedge/apedge/internal/clock"
	"github.com/apedge/apedge/internal/config"
)

// Ref names one device on the site bus.
type Ref struct {
	// Class is the device's site-bus class ("door", "reader", "camera", ...): the
	// {class} of its topics.
	Class string
	// ID is the device's id from the configuration, unique within its Class.
	ID string
}

// String returns class/id.
func (r Ref) String() string { return r.Class + "/" + r.ID }

// Class is one class of devices: an entry in the bridge's table of classes.
type Class interface {
	// Name names the class in logs and errors, e.g. "gpio-door"; it is unique in
	// the table.
	Name() string
	// Open opens the devices of this class that env.Config lists, and returns their
	// Driver, or nil if the configuration lists none. It must not publish, and what
	// it acquires is released by the Driver's Run. If it fails it releases what it
	// had acquired and returns an error prefixed with its package's name.
	Open(ctx context.Context, env Env) (Driver, error)
}

// Driver runs the devices of one class that Open opened.
type Driver interface {
	// Devices lists the devices the driver answers for. It is called once, before
	// Run, and the list does not change.
	Devices() []Device
	// Run runs the devices until ctx ends and then releases what Open acquired. It
	// is called once, even with ctx already done (it then only releases). It returns
	// nil when ctx ends, or an error if nothing of the class can run any more.
	Run(ctx context.Context) error
}

// Device is one device on the site bus.
type Device interface {
	// Ref names the device.
	Ref() Ref
	// Command carries out cmd before ctx ends (at the command's deadline). It returns
	// nil when done, Unsupported for an action the device does not take, Expired
	// when the deadline came first, or an error saying why it failed. It may be
	// called from any goroutine, and concurrently.
	Command(ctx context.Context, cmd Command) error
	// Health says how the device is now. It must not block, and may be called from
	// any goroutine.
	Health() Health
}

// Env is what a class is given to open its devices with.
type Env struct {
	// Config is the bridge's configuration, checked and with its defaults set; a
	// class reads its own section of it.
	Config *config.Bridge
	// Log is the bridge's logger.
	Log *slog.Logger
	// Clock dates everything a device reports (states, events, reads); durations
	// (poll intervals, debounce, timeouts) are measured on the monotonic clock.
	Clock clock.Clock
	// Sink publishes the devices' states and events.
	Sink Sink
	// Access decides card reads.
	Access Access
	// Sims is set when the bridge runs a simulated site: a class then opens
	// simulators instead of hardware and adds them here.
	Sims *Sims
}

// Sink takes the states and events devices publish. It never blocks: what it takes
// is kept and sent in order, also across a bus outage and a restart of the bridge.
type Sink interface {
	// State publishes the device's retained state: kind says what it is ("status"),
	// data (encoded as JSON) is the state, at is when it became so (zero: now).
	State(ref Ref, kind string, data any, at time.Time)
	// Event publishes something that happened to the device: kind says what (for
	// example "opened"), data (encoded as JSON, nil for none) the details, at when it
	// happened (zero: now).
	Event(ref Ref, kind string, data any, at time.Time)
}

// Command is a command addressed to a device.
type Command struct {
	// ID correlates the command with its result; Action says what to do; By names
	// the staff member who asked, for the audit trail.
	ID, Action, By string
	// Deadline is when the command stops being worth carrying out.
	Deadline time.Time
	// Body is the command as it came, a JSON object: a class decodes the fields of
	// its actions (an unlock's "forMs", an indicate's "pattern") from it.
	Body json.RawMessage
}

// Errors of Command, tested with errors.Is.
var (
	// ErrUnsupported marks an action the device does not take.
	ErrUnsupported = errors.New("device: command not supported")
	// ErrExpired marks a command the device could not carry out before its deadline.
	ErrExpired = errors.New("device: command deadline passed")
)

// cmdError is an error with its own text that is one of the Command errors.
type cmdError struct {
	text string
	is   error
}

func (e *cmdError) Error() string        { return e.text }
func (e *cmdError) Is(target error) bool { return target == e.is }

// Unsupported returns the error for an action ref does not take, as "action is not
// a command for a class".
func Unsupported(ref Ref, action string) error {
	return &cmdError{text: action + " is not a command for a " + ref.Class, is: ErrUnsupported}
}

// Expired returns the error for a command not carried out before its deadline; why
// is its text, e.g. "door busy until the deadline".
func Expired(why string) error { return &cmdError{text: why, is: ErrExpired} }

// HealthStatus is how a device is, in one word.
type HealthStatus string

// Health statuses.
const (
	// HealthOK: the device works.
	HealthOK HealthStatus = "ok"
	// HealthDegraded: it works in part (a reader without its secure channel, a
	// tamper switch open, a camera dropping frames).
	HealthDegraded HealthStatus = "degraded"
	// HealthDown: it does not work (not answering, stopped).
	HealthDown HealthStatus = "down"
)

// Health is how a device is.
type Health struct {
	Status HealthStatus
	// Detail says why, for a person, when Status is not HealthOK.
	Detail string
}

// Read is a credential presented at a reader.
type Read struct {
	// Reader is the reading device: the read is published as its "card-read" event.
	Reader Ref
	// Door and Direction ("entry": the reader is outside; "exit": inside) are where
	// the reader is; Door is empty for a reader on no door.
	Door, Direction string
	// Card is what was read.
	Card wiegand.Card
	// At is when it was read.
	At time.Time
}

// Decision is what the bridge decided about a Read.
type Decision struct {
	Granted bool
	// Reason says why not: not-listed, not-this-door, no-list, reader-on-no-door.
	Reason string
}

// Access decides reads. The bridge implements it with its credential list.
type Access interface {
	// Decide decides r, hands a grant to r's door, publishes the read as r.Reader's
	// "card-read" event, and returns the decision. It may wait while the door's
	// queue is full, until ctx ends.
	Decide(ctx context.Context, r Read) Decision
}

// AccessFunc is an Access made of a function, for tests.
type AccessFunc func(ctx context.Context, r Read) Decision

// Decide calls f.
func (f AccessFunc) Decide(ctx context.Context, r Read) Decision { return f(ctx, r) }

// Door is a device that the bridge's grants let people through. The bridge finds a
// read's door by id among the devices that implement Door.
type Door interface {
	Device
	// Grant lets the holder of a granted credential through, waiting while the
	// door's queue is full until ctx ends.
	Grant(ctx context.Context, g Grant)
	// HasContact says a door position switch is fitted, so that a passage is seen
	// as the door opening after the grant, not as the read itself.
	HasContact() bool
}

// Grant is a credential the bridge granted at a reader on a door.
type Grant struct {
	// Reader is the reader's id; Direction is "entry" or "exit".
	Reader, Direction string
	// Credential is the credential's id, as the credential list names it.
	Credential string
	// At is when it was read.
	At time.Time
}

// Sims holds the simulators of a simulated site by device, for tests and the demo to
// drive. It is safe for concurrent use.
type Sims struct {
	mu sync.Mutex
	by map[Ref]any
}

// NewSims returns an empty Sims.
func NewSims() *Sims { return &Sims{by: map[Ref]any{}} }

// Add keeps sim as the simulator of ref, replacing any other.
func (s *Sims) Add(ref Ref, sim any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.by[ref] = sim
}

// Get returns the simulator of ref, or nil.
func (s *Sims) Get(ref Ref) any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.by[ref]
}

// SimReader is a simulated reader: where a simulated person presents a card.
type SimReader interface {
	// Swipe presents card c, as a person would.
	Swipe(c wiegand.Card)
}

// FingerChecker is a device that can check a second factor at a door: a
// fingerprint terminal (class biometric).
type FingerChecker interface {
	// CheckFinger waits up to within for a finger on the sensor and searches
	// the terminal's library for it. It fails if the terminal does not answer
	// or is busy.
	CheckFinger(ctx context.Context, within time.Duration) (FingerResult, error)
}

// FingerResult is what CheckFinger found: whether a finger came (Found), and
// whether it matched a template (Matched) in Slot, with Score.
type FingerResult struct {
	Found   bool
	Matched bool
	Slot    int
	Score   int
}
