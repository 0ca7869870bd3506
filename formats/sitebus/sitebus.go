// Package sitebus is the site MQTT bus between firmware-bridge and agent: its topic
// names and its messages (JSON, QoS 1). See ../shared/design.md, "Site bus".
//
//	apedge/v1/{site}/bridge/state                 retained bridge online/offline (last will)
//	apedge/v1/{site}/dev/{class}/{id}/state       retained device status
//	apedge/v1/{site}/dev/{class}/{id}/event       things that happened
//	apedge/v1/{site}/dev/{class}/{id}/cmd         agent to bridge
//	apedge/v1/{site}/dev/{class}/{id}/cmd/result  bridge to agent
//
// Every device message carries time (RFC 3339 UTC, the bridge's clock), the bridge's
// boot id, and a per-device seq that starts at 1 each boot, so the agent can see gaps
// and duplicates and can make each message's effect idempotent.
package sitebus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/apedge/apedge/formats/sitekey"
	"github.com/apedge/apedge/internal/clock"
)

// Device classes.
const (
	ClassReader          = "reader"
	ClassDoor            = "door"
	ClassBiometric       = "biometric"
	ClassBWCDock         = "bwc-dock"
	ClassCamera          = "camera"
	ClassPATTester       = "pat-tester"
	ClassSubstanceTester = "substance-tester"
)

var classes = map[string]bool{ClassReader: true, ClassDoor: true, ClassBiometric: true,
	ClassBWCDock: true, ClassCamera: true, ClassPATTester: true, ClassSubstanceTester: true}

// Message kinds, the last part of a device topic.
const (
	KindState     = "state"
	KindEvent     = "event"
	KindCmd       = "cmd"
	KindCmdResult = "cmd/result"
)

// MaxMessage bounds a site-bus message; larger ones are refused before parsing.
const MaxMessage = 64 << 10

// BridgeStateTopic is where the bridge retains its online/offline state.
func BridgeStateTopic(site string) string { return "apedge/v1/" + site + "/bridge/state" }

// DeviceTopic returns the topic of one device's messages of a kind.
func DeviceTopic(site, class, id, kind string) string {
	return "apedge/v1/" + site + "/dev/" + class + "/" + id + "/" + kind
}

// DeviceFilter matches every device's messages of a kind at site.
func DeviceFilter(site, kind string) string { return "apedge/v1/" + site + "/dev/+/+/" + kind }

// Topic is a parsed device topic.
type Topic struct {
	Site, Class, ID, Kind string
}

// ParseTopic splits a device topic. It never panics on any input.
func ParseTopic(t string) (Topic, error) {
	p := strings.Split(t, "/")
	if len(p) < 7 || len(p) > 8 || p[0] != "apedge" || p[1] != "v1" || p[3] != "dev" {
		return Topic{}, fmt.Errorf("sitebus: topic %q is not apedge/v1/{site}/dev/{class}/{id}/{kind}", t)
	}
	tp := Topic{Site: p[2], Class: p[4], ID: p[5], Kind: strings.Join(p[6:], "/")}
	switch {
	case !sitekey.ValidSiteCode(tp.Site):
		return Topic{}, fmt.Errorf("sitebus: topic %q: bad site", t)
	case !classes[tp.Class]:
		return Topic{}, fmt.Errorf("sitebus: topic %q: unknown class %q", t, tp.Class)
	case !ValidDeviceID(tp.ID):
		return Topic{}, fmt.Errorf("sitebus: topic %q: bad device id", t)
	case tp.Kind != KindState && tp.Kind != KindEvent && tp.Kind != KindCmd && tp.Kind != KindCmdResult:
		return Topic{}, fmt.Errorf("sitebus: topic %q: unknown kind %q", t, tp.Kind)
	}
	return tp, nil
}

// ValidDeviceID reports whether id can name a device in a topic.
func ValidDeviceID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

// Message is one device state or event message.
type Message struct {
	Time time.Time `json:"time"`
	Boot string    `json:"boot"`
	Seq  uint64    `json:"seq"`
	// Kind says what happened or what the state is, e.g. "card-read".
	Kind string          `json:"kind"`
	Data json.RawMessage `json:"data,omitempty"`
}

// Encode returns the JSON of m.
func (m *Message) Encode() []byte {
	b, err := json.Marshal(m)
	if err != nil { // only RawMessage can fail, and callers build it with json.Marshal
		panic(fmt.Sprintf("sitebus: encode: %v", err))
	}
	return b
}

// ErrMessage marks a site-bus message that cannot be used.
var ErrMessage = errors.New("sitebus: bad message")

// Decode parses and checks a device message. It never panics on any input.
func Decode(b []byte) (*Message, error) {
	if len(b) > MaxMessage {
		return nil, fmt.Errorf("%w: %d bytes", ErrMessage, len(b))
	}
	var m Message
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMessage, err)
	}
	switch {
	case m.Time.IsZero():
		return nil, fmt.Errorf("%w: no time", ErrMessage)
	case m.Seq == 0:
		return nil, fmt.Errorf("%w: seq must start at 1", ErrMessage)
	case m.Boot == "" || len(m.Boot) > 64:
		return nil, fmt.Errorf("%w: boot id missing or too long", ErrMessage)
	case m.Kind == "" || len(m.Kind) > 64:
		return nil, fmt.Errorf("%w: kind missing or too long", ErrMessage)
	case len(m.Data) > 0 && m.Data[0] != '{':
		return nil, fmt.Errorf("%w: data is not an object", ErrMessage)
	}
	return &m, nil
}

// CardRead is the data of a reader's "card-read" event.
type CardRead struct {
	// Door is the door the reader is on; Direction is "entry" (reader outside) or
	// "exit" (reader inside).
	Door      string `json:"door"`
	Direction string `json:"direction"`
	// Credential is what was presented.
	Credential Credential `json:"credential"`
	// Granted says the bridge let the credential through; Reason says why not
	// (not-listed, not-this-door, no-list). ListVersion is the credential list the
	// decision was taken with.
	Granted     bool   `json:"granted"`
	Reason      string `json:"reason,omitempty"`
	ListVersion uint64 `json:"listVersion,omitempty"`
	// DoorContact says the door has a position switch: a passage is then its
	// "opened" event after the grant, not the read itself.
	DoorContact bool `json:"doorContact,omitempty"`
	// SecondFactor is what the door's fingerprint terminal said, at an Enhanced
	// Security site (biometric.go); absent where no finger is asked for. A read it
	// did not match is refused with reason second-factor.
	SecondFactor *SecondFactor `json:"secondFactor,omitempty"`
}

// Credential is a card or other token as read.
type Credential struct {
	Kind   string `json:"kind"`             // "card"
	Number string `json:"number"`           // the card number
	Format string `json:"format,omitempty"` // e.g. "wiegand-26", "raw"
	Bits   int    `json:"bits,omitempty"`
	// Facility is the facility code of a card format that has one (Wiegand 26 and 34).
	Facility uint32 `json:"facility,omitempty"`
}

// ID is the credential as access lists and rosters name it: "facility:number" for
// formats with a facility code (wiegand-26, wiegand-34), otherwise the number.
func (c Credential) ID() string {
	if c.Format == "wiegand-26" || c.Format == "wiegand-34" {
		return strconv.FormatUint(uint64(c.Facility), 10) + ":" + c.Number
	}
	return c.Number
}

// DecodeCardRead parses and checks a card-read payload.
func DecodeCardRead(data []byte) (*CardRead, error) {
	var c CardRead
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, fmt.Errorf("%w: card-read: %v", ErrMessage, err)
	}
	switch {
	case c.Door == "" || len(c.Door) > 64:
		return nil, fmt.Errorf("%w: card-read: door missing", ErrMessage)
	case c.Direction != "entry" && c.Direction != "exit":
		return nil, fmt.Errorf("%w: card-read: direction %q", ErrMessage, c.Direction)
	case c.Credential.Number == "" || len(c.Credential.Number) > 64:
		return nil, fmt.Errorf("%w: card-read: credential number missing", ErrMessage)
	}
	if err := checkSecondFactor(c.SecondFactor); err != nil {
		return nil, err
	}
	return &c, nil
}

// BridgeState is the retained bridge status.
type BridgeState struct {
	Status string    `json:"status"` // "online" or "offline"
	Boot   string    `json:"boot,omitempty"`
	Time   time.Time `json:"time,omitzero"`
	// Outbox is "degraded" while the bridge cannot write its outbox file (disk full
	// or failing) and holds device messages in memory; absent otherwise. Held is how
	// many messages it holds, Lost how many events it has lost and not yet reported
	// (each device's loss is reported as its "messages-lost" event once it can write).
	Outbox string `json:"outbox,omitempty"`
	Held   uint64 `json:"held,omitempty"`
	Lost   uint64 `json:"lost,omitempty"`
}

// DecodeBridgeState parses and checks the bridge's retained status. It never panics.
func DecodeBridgeState(b []byte) (*BridgeState, error) {
	var st BridgeState
	if len(b) > MaxMessage {
		return nil, fmt.Errorf("%w: bridge state of %d bytes", ErrMessage, len(b))
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("%w: bridge state: %v", ErrMessage, err)
	}
	if st.Status != "online" && st.Status != "offline" {
		return nil, fmt.Errorf("%w: bridge state: status %q, want online or offline", ErrMessage, st.Status)
	}
	if len(st.Boot) > 64 {
		return nil, fmt.Errorf("%w: bridge state: boot too long", ErrMessage)
	}
	if st.Outbox != "" && st.Outbox != "degraded" {
		return nil, fmt.Errorf("%w: bridge state: outbox %q, want degraded or none", ErrMessage, st.Outbox)
	}
	return &st, nil
}

// DoorStatus is a door's retained state message (kind "status" on the door's state
// topic): the door state machine's view plus what is fitted.
type DoorStatus struct {
	Locked bool `json:"locked"`
	// Open is the door position; PositionKnown says a contact is fitted.
	Open          bool `json:"open"`
	PositionKnown bool `json:"positionKnown"`
	Forced        bool `json:"forced"`
	HeldOpen      bool `json:"heldOpen"`
	// UnlockedUntil is when the current unlock ends.
	UnlockedUntil time.Time `json:"unlockedUntil,omitzero"`
	// Lock is the relay's mode (fail-safe, fail-secure), empty if none is fitted.
	Lock        string `json:"lock,omitempty"`
	EntryReader string `json:"entryReader,omitempty"`
	ExitReader  string `json:"exitReader,omitempty"`
	// Hold is the door's hold mode (HoldUnlocked, HoldLocked, HoldLockdown), empty
	// when none; HoldUntil, HoldBy and HoldReason say until when, who ordered it and
	// why.
	Hold       string    `json:"hold,omitempty"`
	HoldUntil  time.Time `json:"holdUntil,omitzero"`
	HoldBy     string    `json:"holdBy,omitempty"`
	HoldReason string    `json:"holdReason,omitempty"`
}

// ReaderStatus is a reader's retained state message (kind "status" on the reader's
// state topic).
type ReaderStatus struct {
	Online    bool   `json:"online"`
	Door      string `json:"door,omitempty"`
	Direction string `json:"direction,omitempty"`
	Interface string `json:"interface"` // osdp or wiegand
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

// DecodeDoorStatus parses and checks a door's status data. It never panics.
func DecodeDoorStatus(b []byte) (*DoorStatus, error) {
	var st DoorStatus
	if len(b) > MaxMessage {
		return nil, fmt.Errorf("%w: door status of %d bytes", ErrMessage, len(b))
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("%w: door status: %v", ErrMessage, err)
	}
	if st.Open && !st.PositionKnown {
		return nil, fmt.Errorf("%w: door status: open without a door contact", ErrMessage)
	}
	for _, id := range []string{st.EntryReader, st.ExitReader} {
		if id != "" && !ValidDeviceID(id) {
			return nil, fmt.Errorf("%w: door status: reader %q is not a device id", ErrMessage, id)
		}
	}
	return &st, nil
}

// DecodeReaderStatus parses and checks a reader's status data. It never panics.
func DecodeReaderStatus(b []byte) (*ReaderStatus, error) {
	var st ReaderStatus
	if len(b) > MaxMessage {
		return nil, fmt.Errorf("%w: reader status of %d bytes", ErrMessage, len(b))
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("%w: reader status: %v", ErrMessage, err)
	}
	switch {
	case st.Interface != "osdp" && st.Interface != "wiegand":
		return nil, fmt.Errorf("%w: reader status: interface %q, want osdp or wiegand", ErrMessage, st.Interface)
	case st.Door != "" && !ValidDeviceID(st.Door):
		return nil, fmt.Errorf("%w: reader status: door %q is not a device id", ErrMessage, st.Door)
	case st.Direction != "" && st.Direction != "entry" && st.Direction != "exit":
		return nil, fmt.Errorf("%w: reader status: direction %q, want entry or exit", ErrMessage, st.Direction)
	}
	switch st.SecureChannel {
	case "", "on", "off", "install":
	default:
		return nil, fmt.Errorf("%w: reader status: secureChannel %q", ErrMessage, st.SecureChannel)
	}
	return &st, nil
}

// Publisher publishes one bridge's device messages, numbering each device's messages
// from 1 for this boot.
//
// A paho publish token can complete without error across a reconnect although the
// broker never acknowledged the message (paho v1 completes a stored message's old token
// when it resends it with a new one). So Publish counts a message as taken only when its
// token completed with no connection loss in between, and otherwise sends the same bytes
// again: the agent journals a given (device, boot, seq) once, so a repeat is harmless.
// The owner reports connection losses with ConnectionLost (mqttclient.Options.OnLost).
type Publisher struct {
	client mqtt.Client
	clock  clock.Clock // dates what Publish sends
	site   string
	boot   string
	lost   atomic.Uint64 // connection losses so far
	send   sync.Mutex    // orders PublishAt's messages on the wire
	mu     sync.Mutex    // guards seqs
	seqs   map[string]uint64
}

// NewPublisher returns a publisher for site's bridge whose boot id is boot, dating what
// Publish sends by clk (the system clock if nil).
func NewPublisher(c mqtt.Client, site, boot string, clk clock.Clock) *Publisher {
	return &Publisher{client: c, clock: clock.Or(clk), site: site, boot: boot, seqs: map[string]uint64{}}
}

// Boot returns the publisher's boot id.
func (p *Publisher) Boot() string { return p.boot }

// ConnectionLost tells the publisher its client lost its connection: publishes in
// flight are then sent again.
func (p *Publisher) ConnectionLost() { p.lost.Add(1) }

// Publish sends one device message at QoS 1 and waits until the broker has taken it or
// ctx ends, resending it after a lost connection. data, if not nil, is encoded as the
// message's data. State messages are retained.
func (p *Publisher) Publish(ctx context.Context, class, id, kind, msgKind string, data any) (*Message, error) {
	return p.PublishAt(ctx, p.clock.Now(), class, id, kind, msgKind, data)
}

// PublishAt is Publish for something that happened at at, earlier than now: a door
// event kept while the bus was down carries the time it happened.
func (p *Publisher) PublishAt(ctx context.Context, at time.Time, class, id, kind, msgKind string, data any) (*Message, error) {
	// Preparing and handing to the client under one lock keeps each device's
	// messages in seq order on the wire.
	p.send.Lock()
	pm, err := p.Prepare(at, class, id, kind, msgKind, data)
	if err != nil {
		p.send.Unlock()
		return nil, err
	}
	epoch := p.lost.Load()
	tok := p.client.Publish(pm.Topic, 1, pm.Retained, pm.Body)
	p.send.Unlock()
	return pm.Msg, p.wait(ctx, pm, epoch, tok)
}

// Prepared is a message numbered and encoded, ready to send; Body is what goes on the
// wire, so a prepared message kept on disk is sent later byte for byte the same.
type Prepared struct {
	Topic    string
	Retained bool
	Body     []byte
	Msg      *Message
}

// Prepare numbers and encodes a device message for Send without sending it.
func (p *Publisher) Prepare(at time.Time, class, id, kind, msgKind string, data any) (*Prepared, error) {
	var raw json.RawMessage
	if data != nil {
		b, err := json.Marshal(data)
		if err != nil {
			return nil, fmt.Errorf("sitebus: %s/%s: encode data: %w", class, id, err)
		}
		raw = b
	}
	p.mu.Lock()
	key := class + "/" + id + "/" + kind
	p.seqs[key]++
	m := &Message{Time: at.UTC(), Boot: p.boot, Seq: p.seqs[key], Kind: msgKind, Data: raw}
	p.mu.Unlock()
	return &Prepared{Topic: DeviceTopic(p.site, class, id, kind), Retained: kind == KindState, Body: m.Encode(), Msg: m}, nil
}

// Send publishes a prepared message at QoS 1 and waits until the broker has taken it
// or ctx ends, resending it after a lost connection. Callers send one device's
// messages in the order they were prepared.
func (p *Publisher) Send(ctx context.Context, pm *Prepared) error {
	epoch := p.lost.Load()
	tok := p.client.Publish(pm.Topic, 1, pm.Retained, pm.Body)
	return p.wait(ctx, pm, epoch, tok)
}

// label names pm in errors: device and seq.
func (pm *Prepared) label() string {
	name := pm.Topic
	if tp, err := ParseTopic(pm.Topic); err == nil {
		name = tp.Class + "/" + tp.ID
	}
	if pm.Msg != nil {
		name += fmt.Sprintf(" seq %d", pm.Msg.Seq)
	}
	return name
}

// wait waits for tok, sending pm again after a lost connection.
func (p *Publisher) wait(ctx context.Context, pm *Prepared, epoch uint64, tok mqtt.Token) error {
	retry := 50 * time.Millisecond
	for {
		select {
		case <-tok.Done():
		case <-ctx.Done():
			return fmt.Errorf("sitebus: publish %s: %w", pm.label(), ctx.Err())
		}
		if tok.Error() == nil && p.lost.Load() == epoch {
			return nil
		}
		// Not known to be taken: wait for the link, then send the same bytes again.
		select {
		case <-time.After(retry):
		case <-ctx.Done():
			return fmt.Errorf("sitebus: publish %s: %w", pm.label(), ctx.Err())
		}
		retry = min(2*retry, 2*time.Second)
		if !p.client.IsConnectionOpen() {
			continue
		}
		epoch = p.lost.Load()
		tok = p.client.Publish(pm.Topic, 1, pm.Retained, pm.Body)
	}
}

// CredentialsTopic is where the agent publishes, retained, the credential list the
// bridge grants access by. The bridge keeps the last one it had, so that doors keep
// working while the agent or the bus is down.
func CredentialsTopic(site string) string { return "apedge/v1/" + site + "/bridge/credentials" }

// CredentialList is the access list the bridge decides card reads by.
type CredentialList struct {
	// Version increases with every change; the bridge reports which version each
	// decision was taken with.
	Version uint64    `json:"version"`
	Time    time.Time `json:"time"`
	// Credentials are the credentials that open doors.
	Credentials []Allowed `json:"credentials"`
}

// Allowed is one credential that opens doors.
type Allowed struct {
	// ID is the credential's Credential.ID, e.g. "12:3456".
	ID string `json:"id"`
	// Doors lists the doors it opens; empty means every door.
	Doors []string `json:"doors,omitempty"`
	// Fingers maps a fingerprint terminal's id to the slots of its library holding
	// the card holder's templates: at an Enhanced Security site a door with a
	// terminal lets the card through only with a finger matching one of them.
	Fingers map[string][]int `json:"fingers,omitempty"`
	// Alternative says the holder cannot or will not enrol: a door with a terminal
	// lets the card through on a staff member's confirmation instead of a finger.
	Alternative bool `json:"alternative,omitempty"`
}

// MaxCredentials bounds a credential list (a large AP has a few hundred cards).
const MaxCredentials = 100000

// DecodeCredentialList parses and checks a credential list. It never panics.
func DecodeCredentialList(b []byte) (*CredentialList, error) {
	if len(b) > 16<<20 {
		return nil, fmt.Errorf("%w: credential list of %d bytes", ErrMessage, len(b))
	}
	var l CredentialList
	if err := json.Unmarshal(b, &l); err != nil {
		return nil, fmt.Errorf("%w: credential list: %v", ErrMessage, err)
	}
	if l.Version == 0 {
		return nil, fmt.Errorf("%w: credential list: no version", ErrMessage)
	}
	if len(l.Credentials) > MaxCredentials {
		return nil, fmt.Errorf("%w: credential list: %d credentials, at most %d", ErrMessage, len(l.Credentials), MaxCredentials)
	}
	for i, c := range l.Credentials {
		if c.ID == "" || len(c.ID) > 128 {
			return nil, fmt.Errorf("%w: credential list: credential %d has no id", ErrMessage, i)
		}
		for term, slots := range c.Fingers {
			if !ValidDeviceID(term) {
				return nil, fmt.Errorf("%w: credential list: credential %d: terminal %q", ErrMessage, i, clipText(term))
			}
			if err := checkSlots(fmt.Sprintf("credential list: credential %d", i), slots, 1); err != nil {
				return nil, err
			}
		}
	}
	return &l, nil
}

// Command actions.
const (
	// ActionUnlock unlocks a door for a moment (class door).
	ActionUnlock = "unlock"
	// ActionIndicate shows a grant or deny pattern on a reader's LED and buzzer
	// (class reader).
	ActionIndicate = "indicate"
)

// Command is a message on a device's cmd topic, agent to bridge.
type Command struct {
	// ID correlates the command with its result.
	ID     string `json:"id"`
	Action string `json:"action"`
	// Deadline is when the command stops being worth carrying out; the bridge answers
	// "expired" instead.
	Deadline time.Time `json:"deadline"`
	// By names the staff member who asked, for the audit trail.
	By string `json:"by,omitempty"`
	// For is how long an unlock lasts, in milliseconds (0: the door's own time).
	ForMs int64 `json:"forMs,omitempty"`
	// Pattern is "grant" or "deny" for ActionIndicate.
	Pattern string `json:"pattern,omitempty"`
	// Mode, Until and Reason are a hold's (ActionHold, ActionRelease): see hold.go.
	Mode   string    `json:"mode,omitempty"`
	Until  time.Time `json:"until,omitzero"`
	Reason string    `json:"reason,omitempty"`
	// Enrolment, Slot and Slots are a biometric terminal's (biometric.go): the
	// enrolment an ActionEnrol starts in slot Slot, the slots an
	// ActionDeleteTemplates deletes.
	Enrolment string `json:"enrolment,omitempty"`
	Slot      *int   `json:"slot,omitempty"`
	Slots     []int  `json:"slots,omitempty"`
}

// DecodeCommand parses and checks a command. It never panics.
func DecodeCommand(b []byte) (*Command, error) {
	if len(b) > MaxMessage {
		return nil, fmt.Errorf("%w: command of %d bytes", ErrMessage, len(b))
	}
	var c Command
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("%w: command: %v", ErrMessage, err)
	}
	switch {
	case c.ID == "" || len(c.ID) > 64:
		return nil, fmt.Errorf("%w: command: id missing or too long", ErrMessage)
	case c.Deadline.IsZero():
		return nil, fmt.Errorf("%w: command %s: no deadline", ErrMessage, c.ID)
	case c.Action != ActionUnlock && c.Action != ActionIndicate && !holdAction(c.Action) && !biometricAction(c.Action):
		return nil, fmt.Errorf("%w: command %s: unknown action %q", ErrMessage, c.ID, c.Action)
	case c.ForMs < 0 || c.ForMs > 3600_000:
		return nil, fmt.Errorf("%w: command %s: forMs %d out of range 0..3600000", ErrMessage, c.ID, c.ForMs)
	case c.Action == ActionIndicate && c.Pattern != "grant" && c.Pattern != "deny":
		return nil, fmt.Errorf("%w: command %s: pattern %q, want grant or deny", ErrMessage, c.ID, c.Pattern)
	}
	if err := checkHold(&c); err != nil {
		return nil, err
	}
	if err := checkBiometric(&c); err != nil {
		return nil, err
	}
	return &c, nil
}

// Result statuses.
const (
	ResultDone    = "done"
	ResultFailed  = "failed"
	ResultExpired = "expired"
)

// Result is the data of a cmd/result message: what became of a command.
type Result struct {
	ID     string `json:"id"`
	Status string `json:"status"`
	Error  string `json:"error,omitempty"`
}

// AckTopic is where the agent tells the bridge which device messages it has handled:
// journaled the event each made, or found it made none. The bridge keeps every message
// until then, and sends again what stays unacknowledged while the agent is online, so
// a message the broker accepted and then lost (a broker restart) is not lost.
func AckTopic(site string) string { return "apedge/v1/" + site + "/bridge/ack" }

// AgentStateTopic carries the agent's retained AgentState ("online", or "offline" as
// its last will).
func AgentStateTopic(site string) string { return "apedge/v1/" + site + "/agent/state" }

// AgentState is the agent's retained status on the site bus.
type AgentState struct {
	Status string    `json:"status"` // "online" or "offline"
	Time   time.Time `json:"time,omitzero"`
}

// Ack lists device messages of one bridge boot that the agent has handled.
type Ack struct {
	Boot string `json:"boot"`
	// Done maps a device and kind ("reader/front-in/event") to the seqs handled.
	Done map[string][]uint64 `json:"done"`
}

// MaxAckSeqs bounds the seqs one Ack may carry.
const MaxAckSeqs = 100000

// DecodeAck parses and checks an Ack. It never panics.
func DecodeAck(b []byte) (*Ack, error) {
	if len(b) > 4<<20 {
		return nil, fmt.Errorf("%w: ack of %d bytes", ErrMessage, len(b))
	}
	var a Ack
	if err := json.Unmarshal(b, &a); err != nil {
		return nil, fmt.Errorf("%w: ack: %v", ErrMessage, err)
	}
	if a.Boot == "" || len(a.Boot) > 64 {
		return nil, fmt.Errorf("%w: ack: boot missing or too long", ErrMessage)
	}
	n := 0
	for dev, seqs := range a.Done {
		if _, err := ParseTopic("apedge/v1/X/dev/" + dev); err != nil {
			return nil, fmt.Errorf("%w: ack: %q is not class/id/kind", ErrMessage, dev)
		}
		for _, s := range seqs {
			if s == 0 {
				return nil, fmt.Errorf("%w: ack: %s: seq 0", ErrMessage, dev)
			}
		}
		if n += len(seqs); n > MaxAckSeqs {
			return nil, fmt.Errorf("%w: ack: more than %d seqs", ErrMessage, MaxAckSeqs)
		}
	}
	return &a, nil
}

// DecodeAgentState parses and checks the agent's state. It never panics.
func DecodeAgentState(b []byte) (*AgentState, error) {
	var st AgentState
	if len(b) > MaxMessage {
		return nil, fmt.Errorf("%w: agent state of %d bytes", ErrMessage, len(b))
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("%w: agent state: %v", ErrMessage, err)
	}
	if st.Status != "online" && st.Status != "offline" {
		return nil, fmt.Errorf("%w: agent state: status %q, want online or offline", ErrMessage, st.Status)
	}
	return &st, nil
}

// DecodeResult parses and checks a command result. It never panics.
func DecodeResult(b []byte) (*Result, error) {
	var r Result
	if len(b) > MaxMessage {
		return nil, fmt.Errorf("%w: result of %d bytes", ErrMessage, len(b))
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%w: result: %v", ErrMessage, err)
	}
	switch {
	case r.ID == "" || len(r.ID) > 64:
		return nil, fmt.Errorf("%w: result: id missing or too long", ErrMessage)
	case r.Status != ResultDone && r.Status != ResultFailed && r.Status != ResultExpired:
		return nil, fmt.Errorf("%w: result %s: status %q", ErrMessage, r.ID, r.Status)
	}
	return &r, nil
}
