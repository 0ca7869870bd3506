package fingerprint

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/creack/pty"

	"github.com/apedge/apedge/devices/device"
	"github.com/apedge/apedge/devices/serialport"
	"github.com/apedge/apedge/internal/config"
)

// The site-bus vocabulary of fingerprint terminals, as formats/sitebus's
// biometric.go (which devices do not import; the bridge's tests check they
// agree).
const (
	// ClassName is the site-bus class of fingerprint terminals.
	ClassName = "biometric"
	// StatusKind is the kind of a terminal's retained state (Status).
	StatusKind = "status"
	// The kinds of a terminal's events.
	EnrolStepKind   = "enrol-step"        // EnrolStep
	EnrolledKind    = "enrolled"          // Enrolled
	EnrolFailedKind = "enrol-failed"      // EnrolFailed
	DeletedKind     = "templates-deleted" // TemplatesDeleted
	IndexKind       = "index"             // IndexTable
)

// Enrolment steps (EnrolStep.Step), in their order.
const (
	StepPlaceFinger = "place-finger"
	StepLiftFinger  = "lift-finger"
	StepPlaceAgain  = "place-again"
	StepStoring     = "storing"
)

// Reasons of a failed enrolment (EnrolFailed.Reason) that are not a
// confirmation code's.
const (
	ReasonTimeout   = "timeout"     // no finger (or the finger not lifted) within the enrolment's time
	ReasonCancelled = "cancelled"   // ActionCancelEnrol, or the bridge stopping
	ReasonSlotInUse = "slot-in-use" // the slot holds a template already
	ReasonNoReply   = "no-reply"    // the terminal stopped answering
	ReasonFailed    = "failed"      // anything else (the detail says what)
)

// The commands of a terminal (device.Command.Action).
const (
	ActionEnrol           = "enrol"
	ActionCancelEnrol     = "cancel-enrol"
	ActionDeleteTemplates = "delete-templates"
	ActionReadIndex       = "read-index"
)

// Status is a terminal's retained state, as sitebus.BiometricStatus.
type Status struct {
	Online        bool   `json:"online"`
	Capacity      int    `json:"capacity,omitempty"`
	Templates     int    `json:"templates"`
	SecurityLevel int    `json:"securityLevel,omitempty"`
	PacketSize    int    `json:"packetSize,omitempty"`
	Baud          int    `json:"baud,omitempty"`
	Used          []int  `json:"used"`
	Enrolling     string `json:"enrolling,omitempty"`
	BadFrames     int64  `json:"badFrames,omitempty"`
	LastError     string `json:"lastError,omitempty"`
	Simulated     bool   `json:"simulated,omitempty"`
}

// EnrolStep is an enrolment's progress, as sitebus.EnrolStep.
type EnrolStep struct {
	Enrolment string `json:"enrolment"`
	Step      string `json:"step"`
}

// Enrolled is an enrolment stored in Slot, as sitebus.Enrolled.
type Enrolled struct {
	Enrolment string `json:"enrolment"`
	Slot      int    `json:"slot"`
}

// EnrolFailed is an enrolment that failed, as sitebus.EnrolFailed.
type EnrolFailed struct {
	Enrolment string `json:"enrolment"`
	Slot      int    `json:"slot"`
	Reason    string `json:"reason"`
	Detail    string `json:"detail,omitempty"`
}

// TemplatesDeleted is the answer to ActionDeleteTemplates, as
// sitebus.TemplatesDeleted.
type TemplatesDeleted struct {
	Command   string    `json:"command"`
	Slots     []int     `json:"slots"`
	Used      []int     `json:"used"`
	Capacity  int       `json:"capacity"`
	ReadAt    time.Time `json:"readAt"`
	Confirmed bool      `json:"confirmed"`
}

// IndexTable is the answer to ActionReadIndex, as sitebus.IndexTable.
type IndexTable struct {
	Command  string    `json:"command"`
	Used     []int     `json:"used"`
	Capacity int       `json:"capacity"`
	ReadAt   time.Time `json:"readAt"`
}

// codeReasons are the reasons of the codes an enrolment meets most, named as
// the site bus's examples name them; other codes are named from their text
// (Reason).
var codeReasons = map[Code]string{
	CodeNoMatch: "fingers-do-not-match", CodeMergeFailed: "fingers-do-not-match",
	CodeImageMessy: "image-too-messy", CodeFewFeatures: "too-few-features", CodeImageFail: "image-failed",
	CodeImageDry: "image-too-dry", CodeImageWet: "image-too-wet", CodeNoImage: "no-image",
	CodeBadLocation: "slot-beyond-library", CodeFlash: "flash-error", CodeLibraryFull: "library-full",
	CodePacketReceive: "packet-receive-error", CodeNoFinger: "no-finger",
}

// Reason returns the reason code of err: its confirmation code by name
// (kebab-case: "fingers-do-not-match", "image-too-messy"), ReasonNoReply for a
// terminal that did not answer, else ReasonFailed.
func Reason(err error) string {
	if c, ok := CodeOf(err); ok {
		if r, ok := codeReasons[c]; ok {
			return r
		}
		if !c.Known() {
			return fmt.Sprintf("code-%02x", byte(c))
		}
		r := strings.ReplaceAll(strings.TrimPrefix(c.String(), "the "), " ", "-")
		r = strings.Map(func(r rune) rune {
			if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' {
				return r
			}
			return -1
		}, strings.ToLower(r))
		if len(r) > 64 {
			r = r[:64]
		}
		return r
	}
	if errorsIsNoReply(err) {
		return ReasonNoReply
	}
	return ReasonFailed
}

// timing is how often a terminal's driver does what it does on its own.
type timing struct {
	refresh time.Duration // status read again while online
	retry   time.Duration // an offline terminal tried again
	poll    time.Duration // the sensor asked for a finger again
	enrol   time.Duration // how long each wait for a finger (or its lifting) in an enrolment lasts
	reply   time.Duration // each command's reply (Options.Timeout)
}

// defaultTiming returns the timing of a real bridge.
func defaultTiming() timing {
	return timing{refresh: 30 * time.Second, retry: 5 * time.Second, poll: 200 * time.Millisecond,
		enrol: 30 * time.Second, reply: DefaultTimeout}
}

// Class is the class of fingerprint terminals on serial lines
// (cfg.FingerprintTerminals). Its zero value is ready to use.
type Class struct {
	tm *timing // nil: defaultTiming; tests set it
}

// Name returns "fingerprint-terminal".
func (Class) Name() string { return "fingerprint-terminal" }

// Open opens every terminal env.Config lists, or returns nil if it lists none.
// A terminal whose port is "simulated" (in a simulated site only) gets a
// pseudo-terminal with a simulated module (*Sim, added to env.Sims under its
// Ref) on the far end. A password file that cannot be read or does not hold 8
// hex digits is an error. A real port that cannot be opened now is no error:
// the terminal is offline, saying why, and its driver tries the port again.
func (c Class) Open(ctx context.Context, env device.Env) (device.Driver, error) {
	cfg := env.Config
	if len(cfg.FingerprintTerminals) == 0 {
		return nil, nil
	}
	tm := defaultTiming()
	if c.tm != nil {
		tm = *c.tm
	}
	drv := &driver{}
	fail := func(err error) (device.Driver, error) {
		for _, t := range drv.terminals {
			t.release()
		}
		return nil, err
	}
	for i, tc := range cfg.FingerprintTerminals {
		pw, err := readPassword(tc.PasswordFile)
		if err != nil {
			return fail(fmt.Errorf("fingerprint: fingerprintTerminals[%d] %s: %w", i, tc.ID, err))
		}
		t := newTerminal(tc, env, tm, pw)
		if tc.Port == config.SimulatedPort {
			if env.Sims == nil {
				return fail(fmt.Errorf("fingerprint: fingerprintTerminals[%d] %s: port %q in a site that is not simulated", i, tc.ID, tc.Port))
			}
			ptmx, tty, err := pty.Open()
			if err != nil {
				return fail(fmt.Errorf("fingerprint: terminal %s: simulated port: %w", tc.ID, err))
			}
			t.sim = &simPort{ptmx: ptmx, tty: tty, sim: NewSim(SimOptions{Address: tc.Address, Password: pw})}
			t.path = tty.Name()
			t.st.Simulated = true
		}
		drv.terminals = append(drv.terminals, t)
		conn, err := serialport.Open(t.path, baudOf(tc))
		switch {
		case err != nil && t.sim != nil:
			return fail(fmt.Errorf("fingerprint: terminal %s: %w", tc.ID, err))
		case err != nil:
			t.st.LastError = err.Error()
			t.log.Error("terminal port cannot be opened; trying again while the bridge runs", "port", t.path, "err", err)
			t.logged["port"] = true
		default:
			t.setConn(conn)
		}
		if t.sim != nil {
			env.Sims.Add(t.ref, t.sim.sim)
		}
	}
	return drv, nil
}

// baudOf returns tc's baud, or DefaultBaud.
func baudOf(tc config.FingerprintTerminal) int {
	if tc.Baud == 0 {
		return DefaultBaud
	}
	return tc.Baud
}

// readPassword reads a password file: 8 hex digits (and white space). No file
// means DefaultPassword.
func readPassword(path string) (uint32, error) {
	if path == "" {
		return DefaultPassword, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("password file: %w", err)
	}
	s := strings.TrimSpace(string(b))
	if len(s) != 8 {
		return 0, fmt.Errorf("password file %s: want 8 hex digits, it holds %d characters", path, len(s))
	}
	v, err := strconv.ParseUint(s, 16, 32)
	if err != nil {
		return 0, fmt.Errorf("password file %s: want 8 hex digits: %w", path, err)
	}
	return uint32(v), nil
}
