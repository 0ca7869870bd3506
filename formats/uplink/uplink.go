// Package uplink is the wire protocol between a site's agent and central: the topics,
// the batch of signed envelopes the agent publishes, and the acknowledgement central
// retains. Both directions are JSON over MQTT QoS 1.
//
// The agent publishes batches to apedge/v1/central/{site}/events. Central publishes the
// highest contiguous seq it has durably stored to apedge/v1/central/{site}/ack, retained,
// only after its store commit. The agent marks nothing delivered until that ack, so the
// journal plus the ack is the delivery guarantee, whatever MQTT does across reconnects.
package uplink

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/apedge/apedge/formats/sitekey"
)

// Version is the batch and ack format version.
const Version = 1

// MaxBatchBytes bounds an encoded batch; brokers commonly cap messages well above this.
const MaxBatchBytes = 4 << 20

// MaxBatchEnvelopes bounds the envelopes in one batch.
const MaxBatchEnvelopes = 4096

// EventsTopic is where site's agent publishes batches.
func EventsTopic(site string) string { return "apedge/v1/central/" + site + "/events" }

// AckTopic is where central retains site's ack.
func AckTopic(site string) string { return "apedge/v1/central/" + site + "/ack" }

// EventsFilter matches every site's events topic.
const EventsFilter = "apedge/v1/central/+/events"

// SiteFromTopic returns the site of an events or ack topic.
func SiteFromTopic(topic string) (string, error) {
	parts := strings.Split(topic, "/")
	if len(parts) != 5 || parts[0] != "apedge" || parts[1] != "v1" || parts[2] != "central" ||
		(parts[4] != "events" && parts[4] != "ack") || !sitekey.ValidSiteCode(parts[3]) {
		return "", fmt.Errorf("uplink: topic %q is not apedge/v1/central/{site}/events|ack", topic)
	}
	return parts[3], nil
}

// Batch is a run of signed envelopes in seq order, each exactly as journaled.
type Batch struct {
	V         int               `json:"v"`
	Envelopes []json.RawMessage `json:"envelopes"`
}

// EncodeBatch joins already-encoded envelopes into a batch message without re-encoding
// them.
func EncodeBatch(envs [][]byte) []byte {
	n := 32
	for _, e := range envs {
		n += len(e) + 1
	}
	out := make([]byte, 0, n)
	out = append(out, `{"v":1,"envelopes":[`...)
	for i, e := range envs {
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, e...)
	}
	return append(out, "]}"...)
}

// ErrBatch marks a batch message that cannot be read at all.
var ErrBatch = errors.New("uplink: bad batch")

// DecodeBatch parses a batch message. Each returned envelope holds its bytes exactly as
// received; central then refuses any that are not in envelope.Encode's one encoding. It
// never panics on any input.
func DecodeBatch(msg []byte) ([][]byte, error) {
	if len(msg) > MaxBatchBytes {
		return nil, fmt.Errorf("%w: %d bytes exceeds %d", ErrBatch, len(msg), MaxBatchBytes)
	}
	var b Batch
	if err := json.Unmarshal(msg, &b); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBatch, err)
	}
	if b.V != Version {
		return nil, fmt.Errorf("%w: version %d, want %d", ErrBatch, b.V, Version)
	}
	if len(b.Envelopes) == 0 || len(b.Envelopes) > MaxBatchEnvelopes {
		return nil, fmt.Errorf("%w: %d envelopes, want 1..%d", ErrBatch, len(b.Envelopes), MaxBatchEnvelopes)
	}
	out := make([][]byte, len(b.Envelopes))
	for i, raw := range b.Envelopes {
		out[i] = raw
	}
	return out, nil
}

// Ack is central's retained statement of the highest contiguous seq it has stored.
type Ack struct {
	V    int       `json:"v"`
	Site string    `json:"site"`
	Seq  uint64    `json:"seq"`
	Time time.Time `json:"time"`
}

// EncodeAck returns the JSON of an ack.
func EncodeAck(site string, seq uint64, now time.Time) []byte {
	b, _ := json.Marshal(Ack{V: Version, Site: site, Seq: seq, Time: now.UTC()})
	return b
}

// DecodeAck parses an ack message. It never panics on any input.
func DecodeAck(msg []byte) (*Ack, error) {
	var a Ack
	if len(msg) > 4096 {
		return nil, errors.New("uplink: ack too long")
	}
	if err := json.Unmarshal(msg, &a); err != nil {
		return nil, fmt.Errorf("uplink: ack: %w", err)
	}
	if a.V != Version {
		return nil, fmt.Errorf("uplink: ack version %d, want %d", a.V, Version)
	}
	if !sitekey.ValidSiteCode(a.Site) {
		return nil, fmt.Errorf("uplink: ack site %q invalid", a.Site)
	}
	return &a, nil
}

// StatusTopic is where central retains its online/offline status (its last will says
// offline). An agent that sees central come online resends from central's ack at once
// instead of waiting out its back-off.
const StatusTopic = "apedge/v1/central/status"

// Status is central's retained status message.
type Status struct {
	Status string    `json:"status"` // "online" or "offline"
	ID     string    `json:"id,omitempty"`
	Time   time.Time `json:"time,omitzero"`
}

// DecodeStatus parses a status message. It never panics on any input.
func DecodeStatus(msg []byte) (*Status, error) {
	var s Status
	if len(msg) > 4096 {
		return nil, errors.New("uplink: status too long")
	}
	if err := json.Unmarshal(msg, &s); err != nil {
		return nil, fmt.Errorf("uplink: status: %w", err)
	}
	if s.Status != "online" && s.Status != "offline" {
		return nil, fmt.Errorf("uplink: status %q", s.Status)
	}
	return &s, nil
}
