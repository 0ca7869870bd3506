package proof

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/apedge/apedge/formats/event"
	"github.com/apedge/apedge/formats/sitekey"
)

// SetFormat is the format string of a version 1 proof set.
const SetFormat = "apedge-proof-set/v1"

// MaxSetSize bounds an encoded set; anything larger is refused unread.
const MaxSetSize = 256 << 20

// Set is a signed record of several events of one site, for one purpose (such as every
// event about one resident over a period, for a recall hearing): one proof Bundle per
// event, each of which proves its event offline on its own (VerifyBundle), in seq
// order. What the set says beside the bundles (its title, subject, period and each
// event's sentence) is the words of whoever made it, not signed: the signed record is
// each bundle's envelope.
type Set struct {
	// Format is SetFormat.
	Format string `json:"format"`
	// Site is the site code of the log every bundle is of.
	Site string `json:"site"`
	// Title says what the set holds, e.g. "Events of X100001 (Brian Baker) ...".
	Title string `json:"title"`
	// Subject is who or what the set is about, e.g. a CRN.
	Subject string `json:"subject"`
	// From and To bound the period the events were chosen from (From inclusive, To
	// exclusive).
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
	// CreatedAt and CreatedBy say when and by whom the set was made.
	CreatedAt time.Time `json:"createdAt"`
	CreatedBy string    `json:"createdBy"`
	// TreeSize is the size of the tree every bundle is proved in.
	TreeSize uint64 `json:"treeSize"`
	// Events are the events, in seq order.
	Events []SetEvent `json:"events"`
}

// SetEvent is one event of a Set.
type SetEvent struct {
	// Seq, Type and OccurredAt repeat, for reading, what the bundle's event says.
	Seq        uint64    `json:"seq"`
	Type       string    `json:"type"`
	OccurredAt time.Time `json:"occurredAt"`
	// Sentence is the event in words (unsigned).
	Sentence string `json:"sentence"`
	// Bundle is the event's proof bundle, as EncodeBundle writes it (a JSON object).
	Bundle json.RawMessage `json:"bundle"`
}

// EncodeSet returns the encoding of s: one JSON object with the fields in the order of
// Set, the bundles embedded unchanged but for the whitespace between their tokens, and
// a final newline. Every bundle must be a JSON object.
func EncodeSet(s *Set) ([]byte, error) {
	if s == nil {
		return nil, errors.New("proof: encode set: nil set")
	}
	for i, e := range s.Events {
		if len(e.Bundle) == 0 || e.Bundle[0] != '{' || !json.Valid(e.Bundle) {
			return nil, fmt.Errorf("proof: encode set: event %d: the bundle is not a JSON object", i)
		}
	}
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false) // the envelopes must stay byte for byte as signed
	if err := enc.Encode(s); err != nil {
		return nil, fmt.Errorf("proof: encode set: %w", err)
	}
	return out.Bytes(), nil
}

// SetResult describes a verified Set.
type SetResult struct {
	// Site, Subject, From and To are the set's.
	Site, Subject string
	From, To      time.Time
	// Events are the verified events, in the set's order.
	Events []*Verified
}

// VerifySet decodes an encoded Set and verifies every bundle in it with the keys of
// its site in keys (Bundle.Verify), checking that each is of the set's site and holds
// the seq and type the set says, that seqs rise, and that no two are of one event. An
// error names the first event that fails and wraps the error of its bundle (see
// VerifyBundle); one about the set itself wraps ErrBundleFormat.
// IsSet says whether data claims to be a Set (its format field is SetFormat), as
// opposed to a single bundle; VerifySet still checks everything.
func IsSet(data []byte) bool {
	var probe struct {
		Format string `json:"format"`
	}
	return len(data) <= MaxSetSize && json.Unmarshal(data, &probe) == nil && probe.Format == SetFormat
}

func VerifySet(data []byte, keys []*sitekey.Public) (*SetResult, error) {
	if len(data) > MaxSetSize {
		return nil, badBundle("set: %d bytes exceeds %d", len(data), MaxSetSize)
	}
	var s Set
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return nil, badBundle("set: %v", err)
	}
	if s.Format != SetFormat {
		return nil, badBundle("set: format %.60q, want %q", s.Format, SetFormat)
	}
	res := &SetResult{Site: s.Site, Subject: s.Subject, From: s.From, To: s.To}
	var last uint64
	for i, e := range s.Events {
		v, err := VerifyBundle(e.Bundle, keys)
		if err != nil {
			return nil, fmt.Errorf("set: event %d (seq %d): %w", i, e.Seq, err)
		}
		switch {
		case v.Site != s.Site:
			return nil, fmt.Errorf("%w: set: event %d is of site %s, the set of site %s", ErrEvent, i, v.Site, s.Site)
		case v.Seq != e.Seq:
			return nil, fmt.Errorf("%w: set: event %d says seq %d, its bundle proves seq %d", ErrSeq, i, e.Seq, v.Seq)
		case v.Seq <= last:
			return nil, fmt.Errorf("%w: set: event %d has seq %d, not after %d", ErrSeq, i, v.Seq, last)
		case e.Type != "" && event.TypePrefix+e.Type != v.Type && e.Type != v.Type:
			return nil, fmt.Errorf("%w: set: event %d says type %q, its bundle proves %q", ErrEvent, i, e.Type, v.Type)
		}
		last = v.Seq
		res.Events = append(res.Events, v)
	}
	return res, nil
}
