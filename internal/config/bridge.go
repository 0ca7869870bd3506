package config

import (
	"fmt"
	"path/filepath"
	"slices"
	"time"

	"github.com/apedge/apedge/devices/wiegand"
	"github.com/apedge/apedge/formats/sitekey"
)

// Bridge is the firmware bridge's configuration.
type Bridge struct {
	Site string `yaml:"site"`
	Bus  MQTT   `yaml:"bus"`
	// StateDir holds what the bridge keeps across restarts (the last credential list
	// from the agent, mode 0600), so doors work when it restarts with the agent away.
	StateDir string `yaml:"stateDir"`
	// OSDP lists the RS-485 lines with their readers.
	OSDP []OSDPBus `yaml:"osdp,omitempty"`
	// Doors lists the controlled doors.
	Doors []Door `yaml:"doors,omitempty"`
	// Cameras lists the CCTV cameras the bridge checks over RTSP, and CameraChecks
	// how it runs those checks.
	Cameras      []Camera     `yaml:"cameras,omitempty"`
	CameraChecks CameraChecks `yaml:"cameraChecks,omitempty"`
	// SubstanceTesters lists the breath-alcohol meters and oral-fluid analysers on
	// serial lines.
	SubstanceTesters []SubstanceTester `yaml:"substanceTesters,omitempty"`
	// PATTesters lists the portable appliance testers whose results download over
	// serial lines (pat.go).
	PATTesters []PATTester `yaml:"patTesters,omitempty"`
	// FingerprintTerminals lists the fingerprint terminals, at doors and enrolment
	// desks; EnhancedSecurity says whether a door's terminal must match the card
	// holder's finger (biometric.go).
	FingerprintTerminals []FingerprintTerminal `yaml:"fingerprintTerminals,omitempty"`
	EnhancedSecurity     EnhancedSecurity      `yaml:"enhancedSecurity,omitempty"`
	// ResendAfter is how long a device message may go unacknowledged by the agent,
	// while the agent is online, before it is sent again (default 10s).
	ResendAfter time.Duration `yaml:"resendAfter,omitempty"`
	// AgentKey is the site's public key file (PEM, from `apedge keygen`): the bridge
	// applies a credential list and carries out a command only when this key verifies
	// its signature. Default keys/{site}.pub next to this file.
	AgentKey string `yaml:"agentKey,omitempty"`
	// MaxUnlock is the longest a command may unlock a door for (default 30s): a
	// signed command asking for longer, or for a door whose own unlock time is longer,
	// is refused.
	MaxUnlock time.Duration `yaml:"maxUnlock,omitempty"`
	// MaxHold is the longest a manager's hold (a door held unlocked or locked, or a
	// lockdown) may last (default 12h): a signed hold ending later is refused.
	// maxUnlock does not cap a hold; a hold ends by itself on the bridge at its time.
	MaxHold time.Duration `yaml:"maxHold,omitempty"`
	// Simulate runs simulated devices in the bridge (for the demo and tests): every
	// door gets fake GPIO pins, every OSDP line whose port is "simulated" gets a
	// pseudo-terminal with simulated readers on the far end, and simulated people use
	// the doors.
	Simulate *Simulate `yaml:"simulate,omitempty"`
	Log      Log       `yaml:"log,omitempty"`
}

// SimulatedPort is the OSDP port that means "a pseudo-terminal to simulated readers".
const SimulatedPort = "simulated"

// OSDPBus is one RS-485 line.
type OSDPBus struct {
	// Port is the serial device, e.g. /dev/ttyUSB0, or "simulated".
	Port string `yaml:"port"`
	// Baud is the line speed (default 9600, OSDP's default).
	Baud int `yaml:"baud,omitempty"`
	// ReplyTimeout is how long to wait for a reader's reply (default 200ms).
	ReplyTimeout time.Duration `yaml:"replyTimeout,omitempty"`
	// OfflineAfter is how many missed replies in a row make a reader offline (default 3).
	OfflineAfter int `yaml:"offlineAfter,omitempty"`
	// PollInterval is the least time between polls of one reader (default 50ms): the
	// longest a card read waits to be collected.
	PollInterval time.Duration `yaml:"pollInterval,omitempty"`
	// Readers are the readers (PDs) on the line.
	Readers []OSDPReader `yaml:"readers"`
}

// OSDPReader is one OSDP reader.
type OSDPReader struct {
	ID string `yaml:"id"`
	// Address is the reader's OSDP address, 0 to 126.
	Address int `yaml:"address"`
	// SCBKFile holds the reader's 16-byte secure channel base key as 32 hex digits
	// (mode 0600).
	SCBKFile string `yaml:"scbkFile,omitempty"`
	// Install opens the secure channel with the standard's default install key and
	// then sets the key in SCBKFile on the reader. Only while installing a reader.
	Install bool `yaml:"install,omitempty"`
	// Insecure runs the reader without secure channel: card numbers cross the wire in
	// clear. It must be said explicitly, and is reported loudly.
	Insecure bool `yaml:"insecure,omitempty"`
}

// Door is one controlled door.
type Door struct {
	ID string `yaml:"id"`
	// EntryReader is the reader outside the door, ExitReader the one inside (ids of
	// OSDP readers or of the door's Wiegand reader).
	EntryReader string `yaml:"entryReader,omitempty"`
	ExitReader  string `yaml:"exitReader,omitempty"`
	// Contact is the door position switch, closed (active) while the door is shut, so
	// that a cut wire reads as an open door; ExitButton is the request-to-exit button,
	// active while pressed.
	Contact    *Input `yaml:"contact,omitempty"`
	ExitButton *Input `yaml:"exitButton,omitempty"`
	// Lock is the lock relay.
	Lock *Lock `yaml:"lock,omitempty"`
	// Wiegand is a reader wired to two GPIO inputs instead of OSDP.
	Wiegand *WiegandReader `yaml:"wiegand,omitempty"`
	// UnlockFor is how long a grant unlocks the door (default 5s).
	UnlockFor time.Duration `yaml:"unlockFor,omitempty"`
	// HeldOpenAfter is how long the door may stand open (default 30s).
	HeldOpenAfter time.Duration `yaml:"heldOpenAfter,omitempty"`
	// RelockOnClose relocks as soon as the door closes after opening.
	RelockOnClose bool `yaml:"relockOnClose,omitempty"`
}

// Input is a GPIO input.
type Input struct {
	// Pin is the pin's name as periph.io knows it, e.g. GPIO17.
	Pin string `yaml:"pin"`
	// ActiveHigh says the input is active when high; by default a switch pulls it low.
	ActiveHigh bool `yaml:"activeHigh,omitempty"`
}

// Lock is a lock relay output.
type Lock struct {
	Pin string `yaml:"pin"`
	// Mode is fail-safe (relay energised locks; power loss unlocks: escape routes) or
	// fail-secure (relay energised unlocks).
	Mode string `yaml:"mode"`
}

// WiegandReader is a reader on D0/D1 inputs.
type WiegandReader struct {
	// Reader is the reader's id; Direction is entry (outside) or exit (inside).
	Reader    string `yaml:"reader"`
	Direction string `yaml:"direction"`
	D0        string `yaml:"d0"`
	D1        string `yaml:"d1"`
}

// Simulate describes the simulated site a bridge runs.
type Simulate struct {
	// Every is the mean time between simulated people at a door (default 2s).
	Every time.Duration `yaml:"every,omitempty"`
	// Cards are the credentials people present, as "facility:number" of 26-bit cards.
	Cards []string `yaml:"cards"`
	// Incidents is the share of visits, 0 to 1, that go wrong: a forced door, a door
	// held open, a tailgate, an unknown card (default 0.05).
	Incidents float64 `yaml:"incidents,omitempty"`
	// Quiet runs the simulated devices with nobody using them: tests and people at a
	// keyboard drive them instead.
	Quiet bool `yaml:"quiet,omitempty"`
}

// Readers returns every reader id the configuration names (OSDP and Wiegand), with
// the door and direction of each that is on a door.
func (b *Bridge) Readers() map[string]ReaderPlace {
	m := map[string]ReaderPlace{}
	for _, bus := range b.OSDP {
		for _, r := range bus.Readers {
			m[r.ID] = ReaderPlace{}
		}
	}
	for _, d := range b.Doors {
		if d.Wiegand != nil {
			m[d.Wiegand.Reader] = ReaderPlace{}
		}
	}
	for _, d := range b.Doors {
		if d.EntryReader != "" {
			m[d.EntryReader] = ReaderPlace{Door: d.ID, Direction: "entry"}
		}
		if d.ExitReader != "" {
			m[d.ExitReader] = ReaderPlace{Door: d.ID, Direction: "exit"}
		}
	}
	return m
}

// Insecure lists the OSDP readers configured to run without secure channel.
func (b *Bridge) Insecure() []string {
	var ids []string
	for _, bus := range b.OSDP {
		for _, r := range bus.Readers {
			if r.Insecure {
				ids = append(ids, r.ID)
			}
		}
	}
	return ids
}

// ReaderPlace is where a reader is: its door and direction, empty if on none.
type ReaderPlace struct{ Door, Direction string }

var bauds = []int{9600, 19200, 38400, 57600, 115200, 230400}

// LoadBridge reads and validates a bridge configuration file.
func LoadBridge(path string) (*Bridge, error) {
	var b Bridge
	if err := decode(path, &b); err != nil {
		return nil, err
	}
	dir := filepath.Dir(path)
	resolveMQTT(&b.Bus, dir)
	b.StateDir = resolve(dir, b.StateDir)
	if b.Bus.ClientID == "" {
		b.Bus.ClientID = "apedge-bridge-" + b.Site
	}
	var c checker
	checkSite(&c, "site", b.Site)
	checkMQTT(&b.Bus, &c, "bus", true)
	if b.ResendAfter == 0 {
		b.ResendAfter = 10 * time.Second
	}
	if b.ResendAfter < 100*time.Millisecond || b.ResendAfter > time.Hour {
		c.add("resendAfter", b.ResendAfter.String(), "use 100ms to 1h; 10s is usual")
	}
	b.checkAgentKey(&c, dir)
	if b.MaxUnlock == 0 {
		b.MaxUnlock = 30 * time.Second
	}
	if b.MaxUnlock < time.Second || b.MaxUnlock > time.Hour {
		c.add("maxUnlock", b.MaxUnlock.String(), "use 1s to 1h; 30s is usual")
	}
	if b.MaxHold == 0 {
		b.MaxHold = 12 * time.Hour
	}
	if b.MaxHold < time.Minute || b.MaxHold > 7*24*time.Hour {
		c.add("maxHold", b.MaxHold.String(), "use 1m to 168h; 12h is usual")
	}
	if b.StateDir == "" {
		c.add("stateDir", "missing", "set it to a directory the bridge may write, e.g. /var/lib/apedge/bridge")
	}
	ids := map[string]string{} // reader id: field that named it
	for i := range b.OSDP {
		b.checkOSDPBus(&c, ids, dir, i)
	}
	doors := map[string]bool{}
	onDoor := map[string]string{} // reader id: field of the door it is on
	for i := range b.Doors {
		b.checkDoor(&c, ids, doors, onDoor, i)
	}
	for i, bus := range b.OSDP {
		for j, r := range bus.Readers {
			if _, ok := onDoor[r.ID]; !ok && validDeviceID(r.ID) {
				c.add(fmt.Sprintf("osdp[%d].readers[%d].id", i, j), r.ID+" is on no door",
					"name it as a door's entryReader or exitReader: a read means nothing without its door")
			}
		}
	}
	b.checkCameras(&c, dir)
	b.checkSubstanceTesters(&c, dir)
	b.checkPATTesters(&c, dir)
	b.checkFingerprint(&c, dir)
	if b.Simulate != nil {
		b.checkSimulate(&c)
	}
	b.Log.check(&c)
	return &b, c.err(path)
}

// checkAgentKey resolves the agent's public key file against dir (default
// keys/{site}.pub) and checks that it holds the site's key.
func (b *Bridge) checkAgentKey(c *checker, dir string) {
	if b.AgentKey == "" && sitekey.ValidSiteCode(b.Site) {
		_, b.AgentKey = sitekey.Paths("keys", b.Site)
	}
	b.AgentKey = resolve(dir, b.AgentKey)
	if b.AgentKey == "" {
		return // the site is wrong, and said so
	}
	if _, err := sitekey.LoadPublic(b.AgentKey, b.Site); err != nil {
		c.add("agentKey", err.Error(), "point it at the site's public key (keys/"+b.Site+".pub from `apedge keygen`): "+
			"the bridge takes credential lists and commands only when signed by that key")
	}
}

// checkOSDPBus sets the defaults of RS-485 line osdp[i] and checks it and its readers,
// resolving file names against dir and recording each reader's id in ids.
func (b *Bridge) checkOSDPBus(c *checker, ids map[string]string, dir string, i int) {
	bus := &b.OSDP[i]
	f := fmt.Sprintf("osdp[%d]", i)
	if bus.Port != SimulatedPort {
		bus.Port = resolve(dir, bus.Port)
	}
	if bus.Baud == 0 {
		bus.Baud = 9600
	}
	if bus.ReplyTimeout == 0 {
		bus.ReplyTimeout = 200 * time.Millisecond
	}
	if bus.OfflineAfter == 0 {
		bus.OfflineAfter = 3
	}
	if bus.PollInterval == 0 {
		bus.PollInterval = 50 * time.Millisecond
	}
	switch {
	case bus.Port == "":
		c.add(f+".port", "missing", "name the serial device, e.g. /dev/ttyUSB0")
	case bus.Port == SimulatedPort && b.Simulate == nil:
		c.add(f+".port", "simulated, but there is no simulate section", "add simulate: or name a serial device")
	}
	if !slices.Contains(bauds, bus.Baud) {
		c.add(f+".baud", fmt.Sprint(bus.Baud), fmt.Sprintf("use one of %v", bauds))
	}
	if bus.ReplyTimeout < 10*time.Millisecond || bus.ReplyTimeout > 5*time.Second {
		c.add(f+".replyTimeout", bus.ReplyTimeout.String(), "use 10ms to 5s; OSDP says 200ms")
	}
	if bus.PollInterval < time.Millisecond || bus.PollInterval > 5*time.Second {
		c.add(f+".pollInterval", bus.PollInterval.String(), "use 1ms to 5s; 50ms is usual")
	}
	if bus.OfflineAfter < 1 || bus.OfflineAfter > 100 {
		c.add(f+".offlineAfter", fmt.Sprint(bus.OfflineAfter), "use 1 to 100; 3 is usual")
	}
	if len(bus.Readers) == 0 {
		c.add(f+".readers", "empty", "list the readers on the line with id and address")
	}
	addrs := map[int]bool{}
	for j := range bus.Readers {
		checkOSDPReader(c, ids, addrs, dir, fmt.Sprintf("%s.readers[%d]", f, j), &bus.Readers[j])
	}
}

// checkOSDPReader checks reader r, named field rf, of a line whose addresses taken so
// far are addrs: its id, its address, and its secure channel key or the explicit lack
// of one (resolved against dir).
func checkOSDPReader(c *checker, ids map[string]string, addrs map[int]bool, dir, rf string, r *OSDPReader) {
	checkReaderID(c, ids, rf+".id", r.ID)
	if r.Address < 0 || r.Address > 126 {
		c.add(rf+".address", fmt.Sprint(r.Address), "use 0 to 126 (127 is broadcast)")
	}
	if addrs[r.Address] {
		c.add(rf+".address", fmt.Sprintf("%d used twice on this line", r.Address), "give each reader on a line its own address")
	}
	addrs[r.Address] = true
	r.SCBKFile = resolve(dir, r.SCBKFile)
	switch {
	case r.SCBKFile != "" && r.Insecure:
		c.add(rf+".insecure", "set together with scbkFile", "remove one: a reader either has a key or runs in clear")
	case r.SCBKFile == "" && !r.Insecure:
		c.add(rf+".scbkFile", "missing", "give the reader's secure channel key file (32 hex digits, mode 0600), or set insecure: true to run in clear (never on a live site)")
	case r.SCBKFile != "":
		checkSecretFile(c, rf+".scbkFile", r.SCBKFile)
	}
	if r.Install && r.SCBKFile == "" {
		c.add(rf+".install", "set without scbkFile", "install mode sets the key in scbkFile; give one")
	}
}

// checkDoor sets the defaults of door doors[i] and checks it: its id (recorded in
// doors), times, Wiegand reader (recorded in ids, and made the door's entry or exit
// reader), pins and lock, and that its entry and exit readers are configured readers
// on no other door (recorded in onDoor).
func (b *Bridge) checkDoor(c *checker, ids map[string]string, doors map[string]bool, onDoor map[string]string, i int) {
	d := &b.Doors[i]
	f := fmt.Sprintf("doors[%d]", i)
	if !validDeviceID(d.ID) {
		c.add(f+".id", fmt.Sprintf("%q is not a door id", d.ID), "use letters, digits, '-' and '_'")
	}
	if doors[d.ID] {
		c.add(f+".id", d.ID+" repeated", "give each door its own id")
	}
	doors[d.ID] = true
	if d.UnlockFor == 0 {
		d.UnlockFor = 5 * time.Second
	}
	if d.HeldOpenAfter == 0 {
		d.HeldOpenAfter = 30 * time.Second
	}
	if d.UnlockFor < 500*time.Millisecond || d.UnlockFor > 10*time.Minute {
		c.add(f+".unlockFor", d.UnlockFor.String(), "use 500ms to 10m; 5s is usual")
	}
	if d.HeldOpenAfter < time.Second || d.HeldOpenAfter > time.Hour {
		c.add(f+".heldOpenAfter", d.HeldOpenAfter.String(), "use 1s to 1h; 30s is usual")
	}
	if d.Wiegand != nil {
		b.checkWiegand(c, ids, f, d)
	}
	if b.Simulate == nil {
		for _, p := range []struct {
			name string
			in   *Input
		}{{"contact", d.Contact}, {"exitButton", d.ExitButton}} {
			if p.in != nil && p.in.Pin == "" {
				c.add(f+"."+p.name+".pin", "missing", "name the pin, e.g. GPIO17")
			}
		}
		if d.Lock != nil && d.Lock.Pin == "" {
			c.add(f+".lock.pin", "missing", "name the relay's pin, e.g. GPIO22")
		}
	}
	if d.Lock != nil && d.Lock.Mode != "fail-safe" && d.Lock.Mode != "fail-secure" {
		c.add(f+".lock.mode", fmt.Sprintf("%q", d.Lock.Mode), "say fail-safe (escape routes: unlocks on power loss) or fail-secure")
	}
	for _, side := range []struct{ field, id string }{{"entryReader", d.EntryReader}, {"exitReader", d.ExitReader}} {
		if side.id == "" {
			continue
		}
		if _, ok := ids[side.id]; !ok {
			c.add(f+"."+side.field, side.id+" is not a configured reader", "name a reader from osdp[].readers[] or the door's wiegand reader")
		}
		if other, ok := onDoor[side.id]; ok && other != f {
			c.add(f+"."+side.field, side.id+" is already on "+other, "put each reader on one door")
		}
		onDoor[side.id] = f
	}
}

// checkWiegand checks the Wiegand reader of door d, named field f, recording its id in
// ids, and makes it the door's entry or exit reader if that is not set.
func (b *Bridge) checkWiegand(c *checker, ids map[string]string, f string, d *Door) {
	w := d.Wiegand
	checkReaderID(c, ids, f+".wiegand.reader", w.Reader)
	if w.Direction != "entry" && w.Direction != "exit" {
		c.add(f+".wiegand.direction", fmt.Sprintf("%q", w.Direction), "use entry (reader outside) or exit (reader inside)")
	}
	if b.Simulate == nil && (w.D0 == "" || w.D1 == "") {
		c.add(f+".wiegand", "d0 or d1 missing", "name both data pins, e.g. d0: GPIO5, d1: GPIO6")
	}
	if w.Direction == "entry" && d.EntryReader == "" {
		d.EntryReader = w.Reader
	} else if w.Direction == "exit" && d.ExitReader == "" {
		d.ExitReader = w.Reader
	}
}

// checkSimulate sets the defaults of the simulate section, which must be present, and
// checks it.
func (b *Bridge) checkSimulate(c *checker) {
	s := b.Simulate
	if s.Every == 0 {
		s.Every = 2 * time.Second
	}
	if s.Incidents == 0 {
		s.Incidents = 0.05
	}
	if s.Every < time.Millisecond {
		c.add("simulate.every", s.Every.String()+" too short", "use at least 1ms")
	}
	if s.Incidents < 0 || s.Incidents > 1 {
		c.add("simulate.incidents", fmt.Sprint(s.Incidents), "use a share from 0 to 1")
	}
	if len(s.Cards) == 0 && !s.Quiet {
		c.add("simulate.cards", "empty", `list the cards people present, e.g. ["12:3456"]`)
	}
	for i, card := range s.Cards {
		if _, err := wiegand.Parse(card, 26); err != nil {
			c.add(fmt.Sprintf("simulate.cards[%d]", i), fmt.Sprintf("%q", card), `write a 26-bit card as "facility:number", facility 0-255, number 0-65535`)
		}
	}
	if len(b.Doors) == 0 {
		c.add("doors", "empty", "the simulation needs at least one door")
	}
}

// checkReaderID checks a reader id, named field, and records it in ids (reader id:
// the field that named it), refusing one named twice.
func checkReaderID(c *checker, ids map[string]string, field, id string) {
	checkDeviceID(c, ids, field, id, "reader")
}

// checkDeviceID checks that id, named by field, can name a device of kind what on the
// site bus and is not already in ids (device id: the field that named it), and records
// it there.
func checkDeviceID(c *checker, ids map[string]string, field, id, what string) {
	if !validDeviceID(id) {
		c.add(field, fmt.Sprintf("%q is not a %s id", id, what), "use letters, digits, '-' and '_'")
		return
	}
	if other, dup := ids[id]; dup {
		c.add(field, id+" already names "+other, "give each "+what+" its own id")
		return
	}
	ids[id] = field
}
