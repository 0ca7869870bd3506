// Package event defines apedge's event to central: one CloudEvents 1.0 JSON object in
// structured mode, with HMPPS domain-event fields in data and two extension attributes
// that chain a site's events together:
//
//   - seq: the per-site sequence number, from 1, with no gaps;
//   - prevhash: lowercase hex SHA-256 of the previous event's payload bytes (64 zeros
//     for seq 1).
//
// The payload bytes built here are what the site signs (package envelope) and what
// central verifies and stores; nothing is re-serialised in between. See
// https://github.com/cloudevents/spec/blob/v1.0.2/cloudevents/spec.md and
// https://github.com/cloudevents/spec/blob/v1.0.2/cloudevents/formats/json-format.md;
// the data fields follow the HMPPS domain event conventions (eventType, version,
// occurredAt, personReference.identifiers[{type, value}], additionalInformation).
package event

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata"
	"unicode/utf8" // Europe/London must resolve on a box with no zoneinfo.

	"github.com/apedge/apedge/formats/sitekey"
)

// TypePrefix is prepended to every event type, in both the CloudEvents type and the
// HMPPS eventType.
const TypePrefix = "approved-premises."

// SpecVersion is the CloudEvents version of every event.
const SpecVersion = "1.0"

// SourcePrefix precedes the site code in an event's source.
const SourcePrefix = "urn:apedge:site:"

// LocalLayout formats occurredAtLocal: RFC 3339 that always shows the UTC offset, so
// that a reader sees which side of a clock change a local time fell.
const LocalLayout = "2006-01-02T15:04:05.999999999-07:00"

// GenesisHash is the prevhash of a site's first event.
var GenesisHash = [32]byte{}

// Identifier is one of a person's identifiers in personReference.
type Identifier struct {
	Type  string `json:"type"` // "CRN" or "NOMS"
	Value string `json:"value"`
}

// PersonReference names the person an event is about, by the identifiers central uses.
type PersonReference struct {
	Identifiers []Identifier `json:"identifiers"`
}

// Data is the HMPPS domain-event body carried in an event's data.
type Data struct {
	EventType       string           `json:"eventType"`
	Version         int              `json:"version"`
	Description     string           `json:"description,omitempty"`
	OccurredAt      string           `json:"occurredAt"`
	OccurredAtLocal string           `json:"occurredAtLocal"`
	PersonReference *PersonReference `json:"personReference,omitempty"`
	// AdditionalInformation holds the event's own fields and its evidence (door,
	// reader, credential kind, device serials...).
	AdditionalInformation json.RawMessage `json:"additionalInformation,omitempty"`
}

// Event is one CloudEvents 1.0 event in structured JSON mode.
type Event struct {
	SpecVersion     string `json:"specversion"`
	ID              string `json:"id"`
	Source          string `json:"source"`
	Type            string `json:"type"`
	Time            string `json:"time"`
	DataContentType string `json:"datacontenttype"`
	Seq             uint64 `json:"seq"`
	PrevHash        string `json:"prevhash"`
	Data            Data   `json:"data"`
}

// Draft is an event before the journal gives it its place in the chain.
type Draft struct {
	// Type is the event type without TypePrefix, e.g. "movement.entered".
	Type string
	// OccurredAt is when it happened (any location; stored as UTC).
	OccurredAt time.Time
	// Description is an optional one-line human summary.
	Description string
	// Person is who it is about, if anyone.
	Person *PersonReference
	// Info is the event's own fields and evidence, a JSON object, or nil.
	Info json.RawMessage
	// Origin, if set, is an idempotency key (e.g. the site-bus message it came from):
	// the journal records a given origin once. It is not part of the payload.
	Origin string
}

// Builder builds the payloads of one site's events.
type Builder struct {
	Site string
	Loc  *time.Location
}

// NewBuilder returns a Builder for site, giving local times in Europe/London.
func NewBuilder(site string) (*Builder, error) {
	if !sitekey.ValidSiteCode(site) {
		return nil, fmt.Errorf("event: site code %q is not valid", site)
	}
	loc, err := time.LoadLocation("Europe/London")
	if err != nil {
		return nil, fmt.Errorf("event: %w", err)
	}
	return &Builder{Site: site, Loc: loc}, nil
}

// ID returns the event id of seq at site: "{site}-{seq}".
func ID(site string, seq uint64) string { return site + "-" + strconv.FormatUint(seq, 10) }

// Source returns the CloudEvents source of site.
func Source(site string) string { return SourcePrefix + site }

// Hash returns the SHA-256 of a payload: what the next event's prevhash names.
func Hash(payload []byte) [32]byte { return sha256.Sum256(payload) }

// MaxSeq is the largest seq an event may carry: CloudEvents integers are signed 32-bit.
const MaxSeq = math.MaxInt32

// Build returns the payload bytes of d as event seq of b's site, chained to prev.
func (b *Builder) Build(seq uint64, prev [32]byte, d *Draft) ([]byte, error) {
	if seq < 1 || seq > MaxSeq {
		return nil, fmt.Errorf("event: seq %d out of range 1..%d", seq, MaxSeq)
	}
	if err := ValidType(d.Type); err != nil {
		return nil, err
	}
	// Never build what Parse, and so central, would refuse: once signed and journaled
	// it would stop the site's chain at this seq for good. These are the checks Parse
	// makes that a Draft could fail; TestBuildParses holds the two in step.
	if d.OccurredAt.IsZero() {
		return nil, errors.New("event: occurredAt is not set")
	}
	if y := d.OccurredAt.UTC().Year(); y < 1 || y > 9999 {
		return nil, fmt.Errorf("event: occurredAt year %d outside 1..9999", y)
	}
	if !sitekey.ValidSiteCode(b.Site) {
		return nil, fmt.Errorf("event: site code %q is not valid", b.Site)
	}
	if b.Loc == nil {
		return nil, errors.New("event: builder has no location")
	}
	// JSON would silently replace invalid UTF-8 with U+FFFD: evidence must not change.
	if !utf8.ValidString(d.Description) {
		return nil, errors.New("event: description is not valid UTF-8")
	}
	if d.Person != nil {
		for _, id := range d.Person.Identifiers {
			if id.Type != "CRN" && id.Type != "NOMS" {
				return nil, fmt.Errorf("event: personReference identifier type %q, want CRN or NOMS", id.Type)
			}
			if !utf8.ValidString(id.Value) {
				return nil, errors.New("event: personReference identifier is not valid UTF-8")
			}
		}
	}
	if len(d.Info) > 0 && (d.Info[0] != '{' || !json.Valid(d.Info)) {
		return nil, errors.New("event: info is not a JSON object")
	}
	t := d.OccurredAt.UTC()
	ts := t.Format(time.RFC3339Nano)
	typ := TypePrefix + d.Type
	e := Event{
		SpecVersion:     SpecVersion,
		ID:              ID(b.Site, seq),
		Source:          Source(b.Site),
		Type:            typ,
		Time:            ts,
		DataContentType: "application/json",
		Seq:             seq,
		PrevHash:        hex.EncodeToString(prev[:]),
		Data: Data{
			EventType:             typ,
			Version:               1,
			Description:           d.Description,
			OccurredAt:            ts,
			OccurredAtLocal:       t.In(b.Loc).Format(LocalLayout),
			PersonReference:       d.Person,
			AdditionalInformation: d.Info,
		},
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(&e); err != nil {
		return nil, fmt.Errorf("event: encode: %w", err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte{'\n'}), nil
}

// ValidType checks a short event type such as "movement.entered".
func ValidType(t string) error {
	if t == "" || len(t) > 64 || strings.HasPrefix(t, TypePrefix) {
		return fmt.Errorf("event: type %q: want a short type such as movement.entered", t)
	}
	for _, r := range t {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '.' || r == '-') {
			return fmt.Errorf("event: type %q: only a-z, 0-9, '.' and '-'", t)
		}
	}
	return nil
}

// Parse decodes and checks a payload: every required CloudEvents attribute present and
// well formed, id and source agreeing with seq and each other, and data carrying the
// same type. It never panics on any input.
func Parse(payload []byte) (*Event, error) {
	var e Event
	if err := json.Unmarshal(payload, &e); err != nil {
		return nil, fmt.Errorf("event: %w", err)
	}
	if err := e.check(); err != nil {
		return nil, err
	}
	return &e, nil
}

// Site returns the site code named by e's source.
func (e *Event) Site() string { return strings.TrimPrefix(e.Source, SourcePrefix) }

// Prev returns e's prevhash as bytes.
func (e *Event) Prev() [32]byte {
	var h [32]byte
	hex.Decode(h[:], []byte(e.PrevHash))
	return h
}

func (e *Event) check() error {
	switch {
	case e.SpecVersion != SpecVersion:
		return fmt.Errorf("event: specversion %q, want %q", e.SpecVersion, SpecVersion)
	case !strings.HasPrefix(e.Source, SourcePrefix) || !sitekey.ValidSiteCode(e.Site()):
		return fmt.Errorf("event: source %q is not %s{site}", e.Source, SourcePrefix)
	case e.Seq < 1 || e.Seq > MaxSeq:
		return fmt.Errorf("event: seq %d out of range", e.Seq)
	case e.ID != ID(e.Site(), e.Seq):
		return fmt.Errorf("event: id %q does not match source and seq (want %q)", e.ID, ID(e.Site(), e.Seq))
	case !strings.HasPrefix(e.Type, TypePrefix):
		return fmt.Errorf("event: type %q lacks prefix %q", e.Type, TypePrefix)
	case e.Data.EventType != e.Type:
		return fmt.Errorf("event: data.eventType %q differs from type %q", e.Data.EventType, e.Type)
	case e.DataContentType != "application/json":
		return fmt.Errorf("event: datacontenttype %q, want application/json", e.DataContentType)
	case len(e.PrevHash) != 64 || strings.ToLower(e.PrevHash) != e.PrevHash:
		return fmt.Errorf("event: prevhash must be 64 lowercase hex digits")
	}
	if _, err := hex.DecodeString(e.PrevHash); err != nil {
		return fmt.Errorf("event: prevhash: %w", err)
	}
	if err := ValidType(strings.TrimPrefix(e.Type, TypePrefix)); err != nil {
		return err
	}
	if _, err := time.Parse(time.RFC3339Nano, e.Time); err != nil {
		return fmt.Errorf("event: time: %w", err)
	}
	if _, err := time.Parse(time.RFC3339Nano, e.Data.OccurredAt); err != nil {
		return fmt.Errorf("event: data.occurredAt: %w", err)
	}
	if e.Data.PersonReference != nil {
		for _, id := range e.Data.PersonReference.Identifiers {
			if id.Type != "CRN" && id.Type != "NOMS" {
				return fmt.Errorf("event: personReference identifier type %q, want CRN or NOMS", id.Type)
			}
		}
	}
	return nil
}

// ErrChain marks an event that does not follow the one before it.
var ErrChain = errors.New("event: chain broken")

// Follows checks that e comes straight after the event with seq prevSeq and payload hash
// prevHash (prevSeq 0 and GenesisHash for a site's first event).
func (e *Event) Follows(prevSeq uint64, prevHash [32]byte) error {
	if e.Seq != prevSeq+1 {
		return fmt.Errorf("%w: seq %d after %d", ErrChain, e.Seq, prevSeq)
	}
	if e.Prev() != prevHash {
		return fmt.Errorf("%w: seq %d prevhash %s, want %s", ErrChain, e.Seq, e.PrevHash, hex.EncodeToString(prevHash[:]))
	}
	return nil
}

// Claimed returns the id and seq a payload claims, as far as they can be read, without
// checking anything: to name a refused or broken entry in an alarm or an error. An
// overlong id is cut short; an attacker's id is not worth repeating at length.
func Claimed(payload []byte) (id string, seq uint64) {
	var p struct {
		ID  string `json:"id"`
		Seq uint64 `json:"seq"`
	}
	if json.Unmarshal(payload, &p) != nil {
		return "", 0
	}
	if len(p.ID) > 64 {
		p.ID = p.ID[:64] + "..."
	}
	return p.ID, p.Seq
}
