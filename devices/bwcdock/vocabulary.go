package bwcdock

// Site-bus vocabulary the dock speaks, as formats/sitebus (bwc.go) defines it: the
// same names and the same JSON, so that what the Sim publishes is, byte for byte,
// the payload a real dock's adapter publishes (a test in cmd/apedge checks that
// they agree, decoding everything the Sim publishes with sitebus's decoders).
const (
	// ClassName is the site-bus class of docks.
	ClassName = "bwc-dock"
	// StatusKind is the kind of a dock's retained state, whose data is a Status.
	StatusKind = "status"
	// The kinds of a dock's events, whose data is an Event.
	KindDocked   = "docked"
	KindUndocked = "undocked"
	KindOffload  = "offload"
	KindBadge    = "badge"
)

// Bounds: the most slots a dock has, the most faults a camera reports.
const (
	MaxSlots  = 64
	MaxFaults = 8
)

// Offload states (Offload.State).
const (
	OffloadIdle    = "idle"
	OffloadRunning = "running"
	OffloadDone    = "done"
	OffloadFailed  = "failed"
)

// Offload results (Event.Result of a KindOffload event).
const (
	ResultDone   = "done"
	ResultFailed = "failed"
)

// Slot LED patterns (Indicate).
const (
	PatternIssue   = "issue"
	PatternRefused = "refused"
	PatternReturn  = "return"
)

// Status is a dock's retained state (sitebus.DockStatus).
type Status struct {
	Online    bool   `json:"online"`
	Serial    string `json:"serial,omitempty"`
	Model     string `json:"model,omitempty"`
	Firmware  string `json:"firmware,omitempty"`
	Slots     []Slot `json:"slots,omitempty"`
	LastError string `json:"lastError,omitempty"`
	Simulated bool   `json:"simulated,omitempty"`
}

// Slot is one slot and its camera (sitebus.DockSlot).
type Slot struct {
	Slot           int      `json:"slot"`
	Occupied       bool     `json:"occupied"`
	Camera         string   `json:"camera,omitempty"`
	BatteryPct     *int     `json:"batteryPct,omitempty"`
	Charging       bool     `json:"charging,omitempty"`
	Offload        *Offload `json:"offload,omitempty"`
	CameraFirmware string   `json:"cameraFirmware,omitempty"`
	Faults         []string `json:"faults,omitempty"`
}

// Offload is a docked camera's offload state (sitebus.DockOffload).
type Offload struct {
	State       string `json:"state"`
	ProgressPct int    `json:"progressPct"`
	Detail      string `json:"detail,omitempty"`
}

// Event is the data of a dock event (sitebus.DockEvent).
type Event struct {
	Slot   int    `json:"slot,omitempty"`
	Serial string `json:"serial,omitempty"`
	Result string `json:"result,omitempty"`
	Detail string `json:"detail,omitempty"`
	Bytes  int64  `json:"bytes,omitempty"`
	Card   string `json:"card,omitempty"`
}
