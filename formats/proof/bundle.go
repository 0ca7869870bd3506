package proof

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"
	"unicode/utf8"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/apedge/apedge/formats/envelope"
	"github.com/apedge/apedge/formats/event"
	"github.com/apedge/apedge/formats/sitekey"
)

// BundleFormat is the format string of a version 1 proof bundle.
const BundleFormat = "apedge-proof-bundle/v1"

// MaxBundleSize bounds an encoded bundle; anything larger is refused unread.
const MaxBundleSize = 1 << 20

// maxProofLen bounds an inclusion proof: one hash per level of a tree of MaxTreeSize.
const maxProofLen = 64

// Bundle proves offline that one event is in its site's log: the event's envelope
// exactly as stored, its place in the log, the inclusion proof, and a signed checkpoint
// of a tree that holds it. testdata/README.md describes the format for other
// implementations.
type Bundle struct {
	// Format is BundleFormat.
	Format string `json:"format"`
	// Site is the site code of the log.
	Site string `json:"site"`
	// Seq is the event's seq.
	Seq uint64 `json:"seq"`
	// Envelope is the event's DSSE envelope, byte for byte as the site signed and
	// stored it, embedded as a JSON object.
	Envelope json.RawMessage `json:"envelope"`
	// LeafIndex is the event's leaf in the tree: Seq-1.
	LeafIndex uint64 `json:"leafIndex"`
	// TreeSize is the size of the tree the proof leads to: the checkpoint's size.
	TreeSize uint64 `json:"treeSize"`
	// Proof is the RFC 6962 audit path from the leaf to the root, as tlog.ProveRecord
	// gives it (nearest the leaf first), each hash in standard base64 in JSON.
	Proof []tlog.Hash `json:"proof"`
	// Checkpoint is the signed checkpoint (a signed note, see OpenCheckpoint) of the
	// tree of TreeSize leaves.
	Checkpoint string `json:"checkpoint"`
}

// NewBundle returns the bundle proving the event seq of site, whose stored envelope is
// envelope, by the inclusion proof p in the tree of treeSize leaves that checkpoint (a
// signed checkpoint) covers. It copies its arguments and checks nothing: VerifyBundle
// does.
func NewBundle(site string, seq uint64, envelope []byte, p tlog.RecordProof, treeSize uint64, checkpoint []byte) *Bundle {
	b := &Bundle{
		Format:     BundleFormat,
		Site:       site,
		Seq:        seq,
		Envelope:   bytes.Clone(envelope),
		TreeSize:   treeSize,
		Proof:      append([]tlog.Hash{}, p...),
		Checkpoint: string(checkpoint),
	}
	if seq > 0 {
		b.LeafIndex = seq - 1
	}
	return b
}

// EncodeBundle returns the one encoding of b that apedge writes: indented JSON with the
// fields in the order of Bundle, the envelope embedded unchanged on one line, and a
// final newline. The envelope must be a JSON object.
func EncodeBundle(b *Bundle) ([]byte, error) {
	if b == nil {
		return nil, errors.New("proof: encode bundle: nil bundle")
	}
	if len(b.Envelope) == 0 || b.Envelope[0] != '{' || !json.Valid(b.Envelope) {
		return nil, errors.New("proof: encode bundle: the envelope is not a JSON object")
	}
	var out bytes.Buffer
	out.WriteString("{\n  \"format\": ")
	writeString(&out, b.Format)
	out.WriteString(",\n  \"site\": ")
	writeString(&out, b.Site)
	out.WriteString(",\n  \"seq\": ")
	out.WriteString(strconv.FormatUint(b.Seq, 10))
	out.WriteString(",\n  \"envelope\": ")
	out.Write(b.Envelope)
	out.WriteString(",\n  \"leafIndex\": ")
	out.WriteString(strconv.FormatUint(b.LeafIndex, 10))
	out.WriteString(",\n  \"treeSize\": ")
	out.WriteString(strconv.FormatUint(b.TreeSize, 10))
	out.WriteString(",\n  \"proof\": [")
	for i, h := range b.Proof {
		if i > 0 {
			out.WriteByte(',')
		}
		out.WriteString("\n    \"")
		out.WriteString(h.String())
		out.WriteByte('"')
	}
	if len(b.Proof) > 0 {
		out.WriteString("\n  ")
	}
	out.WriteString("],\n  \"checkpoint\": ")
	writeString(&out, b.Checkpoint)
	out.WriteString("\n}\n")
	return out.Bytes(), nil
}

// writeString writes s as a JSON string, escaping no more than JSON needs.
func writeString(out *bytes.Buffer, s string) {
	enc := json.NewEncoder(out)
	enc.SetEscapeHTML(false)
	enc.Encode(s) // a string always encodes
	out.Truncate(out.Len() - 1)
}

// bundleFields are the fields of an encoded bundle, every one of them required.
var bundleFields = []string{"format", "site", "seq", "envelope", "leafIndex", "treeSize", "proof", "checkpoint"}

// DecodeBundle parses an encoded bundle strictly: at most MaxBundleSize bytes of UTF-8
// holding one JSON object with exactly the fields of Bundle, each once and spelt exactly
// (encoding/json alone would match "LeafIndex" or "leafindex"), none null, format
// BundleFormat, a valid site code, seq from 1 to event.MaxSeq, tree size and leaf index
// at most MaxTreeSize, and each proof hash in canonical standard base64. Whitespace
// between JSON tokens is free. It checks no signature or proof: VerifyBundle does. Errors
// wrap ErrBundleFormat. It never panics on any input.
func DecodeBundle(data []byte) (*Bundle, error) {
	if len(data) > MaxBundleSize {
		return nil, badBundle("%d bytes exceeds %d", len(data), MaxBundleSize)
	}
	if !utf8.Valid(data) {
		return nil, badBundle("not valid UTF-8")
	}
	b, seen, err := decodeBundleObject(data)
	if err != nil {
		return nil, err
	}
	for _, f := range bundleFields {
		if !seen[f] {
			return nil, badBundle("field %s is missing", f)
		}
	}
	if err := b.checkValues(); err != nil {
		return nil, err
	}
	return b, nil
}

// badBundle returns an error wrapping ErrBundleFormat that goes on to say what is wrong.
func badBundle(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrBundleFormat}, args...)...)
}

// decodeBundleObject reads the one JSON object data holds, a field at a time (see
// Bundle.decodeField), and returns the bundle and the names of the fields it had. It
// refuses a field that appears twice or is null, and anything after the object.
func decodeBundleObject(data []byte) (*Bundle, map[string]bool, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, nil, badBundle("not a JSON object")
	}
	b := &Bundle{}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, nil, badBundle("%v", err)
		}
		key, ok := tok.(string)
		if !ok {
			return nil, nil, badBundle("object key %v", tok)
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, nil, badBundle("field %.40q: %v", key, err)
		}
		if seen[key] {
			return nil, nil, badBundle("field %.40q appears twice", key)
		}
		seen[key] = true
		if string(raw) == "null" {
			return nil, nil, badBundle("field %.40q is null", key)
		}
		if err := b.decodeField(key, raw); err != nil {
			return nil, nil, err
		}
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('}') {
		return nil, nil, badBundle("object not closed")
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, nil, badBundle("data after the object")
	}
	return b, seen, nil
}

// decodeField sets the field of b whose JSON name is exactly key from its value raw
// (not null), refusing an unknown name and a value of the wrong type.
func (b *Bundle) decodeField(key string, raw json.RawMessage) error {
	var into any
	switch key {
	case "format":
		into = &b.Format
	case "site":
		into = &b.Site
	case "seq":
		into = &b.Seq
	case "leafIndex":
		into = &b.LeafIndex
	case "treeSize":
		into = &b.TreeSize
	case "envelope":
		if raw[0] != '{' {
			return badBundle("envelope is not a JSON object")
		}
		b.Envelope = bytes.Clone(raw)
		return nil
	case "proof":
		return b.decodeProof(raw)
	case "checkpoint":
		into = &b.Checkpoint
	default:
		return badBundle("unknown field %.40q", key)
	}
	if err := json.Unmarshal(raw, into); err != nil {
		return badBundle("field %s: %v", key, err)
	}
	return nil
}

// decodeProof sets b.Proof from raw, a JSON array of at most maxProofLen hashes, each
// in canonical standard base64.
func (b *Bundle) decodeProof(raw json.RawMessage) error {
	var hs []string
	if err := json.Unmarshal(raw, &hs); err != nil {
		return badBundle("proof: %v", err)
	}
	if len(hs) > maxProofLen {
		return badBundle("proof has %d hashes, at most %d", len(hs), maxProofLen)
	}
	b.Proof = make([]tlog.Hash, len(hs))
	for i, s := range hs {
		h, err := parseHash(s)
		if err != nil {
			return badBundle("proof hash %d: %v", i, err)
		}
		b.Proof[i] = h
	}
	return nil
}

// checkValues checks what DecodeBundle requires of the decoded fields' values: the
// format, a valid site code, and seq, tree size and leaf index in range.
func (b *Bundle) checkValues() error {
	switch {
	case b.Format != BundleFormat:
		return badBundle("format %.60q, want %q", b.Format, BundleFormat)
	case !sitekey.ValidSiteCode(b.Site):
		return badBundle("site %.40q is not a site code", b.Site)
	case b.Seq < 1 || b.Seq > event.MaxSeq:
		return badBundle("seq %d out of range 1..%d", b.Seq, event.MaxSeq)
	case b.TreeSize > MaxTreeSize:
		return badBundle("tree size %d exceeds %d", b.TreeSize, MaxTreeSize)
	case b.LeafIndex > MaxTreeSize:
		return badBundle("leaf index %d exceeds %d", b.LeafIndex, MaxTreeSize)
	}
	return nil
}

// Verified describes the event a bundle proves.
type Verified struct {
	// Site and Seq place the event in its site's log.
	Site string
	Seq  uint64
	// EventID, Type and OccurredAt are the event's CloudEvents id and type and its
	// data.occurredAt.
	EventID    string
	Type       string
	OccurredAt time.Time
	// KeyID is the id of the key that signed the envelope, CheckpointKeyID that of the
	// key that signed the checkpoint (they differ across a key rotation).
	KeyID           string
	CheckpointKeyID string
	// TreeSize and Root are the checkpoint's tree that holds the event.
	TreeSize uint64
	Root     tlog.Hash
	// Payload is the event's payload: the signed bytes.
	Payload []byte
}

// VerifyBundle decodes an encoded bundle (DecodeBundle) and verifies it with the keys
// of its site in keys (see Bundle.Verify).
func VerifyBundle(b []byte, keys []*sitekey.Public) (*Verified, error) {
	bd, err := DecodeBundle(b)
	if err != nil {
		return nil, err
	}
	return bd.Verify(keys)
}

// Verify checks that b proves its event with the keys of b.Site in keys (keys of other
// sites are ignored), in this order, and names the first thing wrong: the envelope
// decodes and is in the one encoding apedge stores (ErrEnvelope); it is signed by one of
// the keys (ErrSignature); its payload is a valid event of the site (ErrEvent) with
// seq b.Seq, and b.LeafIndex is Seq-1 and inside the tree (ErrSeq); the checkpoint opens
// with the keys as a checkpoint of the site's log of b.TreeSize leaves (ErrCheckpoint);
// and the proof leads from the payload's leaf hash to the checkpoint's root (ErrProof).
func (b *Bundle) Verify(keys []*sitekey.Public) (*Verified, error) {
	if b == nil {
		return nil, badBundle("nil bundle")
	}
	if b.Format != BundleFormat || !sitekey.ValidSiteCode(b.Site) || b.TreeSize > MaxTreeSize || len(b.Proof) > maxProofLen {
		return nil, badBundle("not a valid %s bundle", BundleFormat)
	}
	env, err := envelope.Decode(b.Envelope)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrEnvelope, err)
	}
	if !bytes.Equal(b.Envelope, envelope.Encode(env)) {
		return nil, fmt.Errorf("%w: not canonically encoded: it was re-encoded or altered outside the signed payload", ErrEnvelope)
	}
	pub, err := trustStore(b.Site, keys).Verify(env)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSignature, err)
	}
	ev, err := event.Parse(env.Payload)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrEvent, err)
	}
	if ev.Site() != b.Site {
		return nil, fmt.Errorf("%w: event %s is of site %s, bundle of site %s", ErrEvent, ev.ID, ev.Site(), b.Site)
	}
	switch {
	case ev.Seq != b.Seq:
		return nil, fmt.Errorf("%w: event %s has seq %d, bundle says %d", ErrSeq, ev.ID, ev.Seq, b.Seq)
	case b.LeafIndex != b.Seq-1:
		return nil, fmt.Errorf("%w: leaf index %d, want seq-1 = %d", ErrSeq, b.LeafIndex, b.Seq-1)
	case b.LeafIndex >= b.TreeSize:
		return nil, fmt.Errorf("%w: leaf %d is not in a tree of %d leaves", ErrSeq, b.LeafIndex, b.TreeSize)
	}
	c, ckey, err := OpenCheckpoint([]byte(b.Checkpoint), b.Site, keys)
	if err != nil {
		return nil, err
	}
	if c.Size != b.TreeSize {
		return nil, fmt.Errorf("%w: checkpoint is of a tree of %d leaves, bundle proves in one of %d", ErrCheckpoint, c.Size, b.TreeSize)
	}
	if err := tlog.CheckRecord(b.Proof, int64(b.TreeSize), c.Root, int64(b.LeafIndex), LeafHash(env.Payload)); err != nil {
		return nil, fmt.Errorf("%w: leaf %d in tree of %d (root %s): %w", ErrProof, b.LeafIndex, b.TreeSize, c.Root, err)
	}
	at, err := time.Parse(time.RFC3339Nano, ev.Data.OccurredAt)
	if err != nil { // event.Parse checked it
		return nil, fmt.Errorf("%w: occurredAt: %w", ErrEvent, err)
	}
	return &Verified{
		Site:            b.Site,
		Seq:             ev.Seq,
		EventID:         ev.ID,
		Type:            ev.Type,
		OccurredAt:      at,
		KeyID:           pub.ID,
		CheckpointKeyID: ckey.ID,
		TreeSize:        c.Size,
		Root:            c.Root,
		Payload:         bytes.Clone(env.Payload),
	}, nil
}
