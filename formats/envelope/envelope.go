// Package envelope signs and verifies apedge events as DSSE envelopes
// (https://github.com/secure-systems-lab/dsse, envelope.md and protocol.md) with
// Ed25519: the signature is over the DSSE pre-authentication encoding
// PAE(payloadType, payload) of the exact payload bytes, and verification uses the exact
// bytes received. The envelope type and PAE come from
// github.com/secure-systems-lab/go-securesystemslib/dsse.
package envelope

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/secure-systems-lab/go-securesystemslib/dsse"

	"github.com/apedge/apedge/formats/sitekey"
)

// PayloadType is the DSSE payloadType of every apedge event.
const PayloadType = "application/vnd.apedge.event.v1+json"

// MaxSize bounds an encoded envelope; anything larger is refused before parsing.
const MaxSize = 64 << 10

// Errors a verifier tells apart, so that central can count and alarm on each. The
// errors of Decode and Verify wrap one of them, followed by what was wrong.
var (
	// ErrMalformed marks bytes that are not a DSSE envelope apedge accepts.
	ErrMalformed = errors.New("envelope: malformed envelope")
	// ErrPayloadType marks an envelope whose payloadType is not PayloadType.
	ErrPayloadType = errors.New("envelope: wrong payloadType")
	// ErrUnknownKey marks an envelope with no signature by the key (or any key of the
	// trust store) it is verified with.
	ErrUnknownKey = errors.New("envelope: no signature by a trusted key")
	// ErrBadSignature marks a signature by a trusted key that does not verify.
	ErrBadSignature = errors.New("envelope: bad signature")
)

// Sign returns the compact JSON DSSE envelope of payload signed by k, in the one
// encoding Encode gives.
func Sign(k *sitekey.Private, payload []byte) []byte { return SignType(k, PayloadType, payload) }

// SignType is Sign for a payload of another type: what apedge signs besides events
// (the agent's credential lists and commands to the bridge, package sitebus).
func SignType(k *sitekey.Private, payloadType string, payload []byte) []byte {
	sig := ed25519.Sign(k.Key, dsse.PAE(payloadType, payload))
	return Encode(&Envelope{PayloadType: payloadType, Payload: payload, Signatures: []Signature{{KeyID: k.ID, Sig: sig}}})
}

// Encode returns the one encoding of e that apedge signs, stores and exports: the
// compact JSON layout (payloadType, payload, signatures with keyid
// then sig), with standard padded base64 and every signature in order. An envelope
// whose bytes differ from the Encode form of its decoding was re-encoded or altered
// outside the signed payload.
func Encode(e *Envelope) []byte {
	b64 := base64.StdEncoding
	n := 64 + len(e.PayloadType) + b64.EncodedLen(len(e.Payload))
	for _, s := range e.Signatures {
		n += 32 + len(s.KeyID) + b64.EncodedLen(len(s.Sig))
	}
	out := make([]byte, 0, n)
	out = append(out, `{"payloadType":`...)
	out = appendString(out, e.PayloadType)
	out = append(out, `,"payload":"`...)
	out = b64.AppendEncode(out, e.Payload)
	out = append(out, `","signatures":[`...)
	for i, s := range e.Signatures {
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, `{"keyid":`...)
		out = appendString(out, s.KeyID)
		out = append(out, `,"sig":"`...)
		out = b64.AppendEncode(out, s.Sig)
		out = append(out, `"}`...)
	}
	return append(out, `]}`...)
}

// appendString appends s as a JSON string: as is when it needs no escaping (key ids are
// hex), else as encoding/json writes it.
func appendString(out []byte, s string) []byte {
	plain := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			plain = false
			break
		}
	}
	if plain {
		out = append(out, '"')
		out = append(out, s...)
		return append(out, '"')
	}
	q, _ := json.Marshal(s) // a string always marshals
	return append(out, q...)
}

// Envelope is a decoded DSSE envelope.
type Envelope struct {
	PayloadType string
	// Payload is the decoded payload: the exact bytes that were signed.
	Payload    []byte
	Signatures []Signature
}

// Signature is one decoded DSSE signature.
type Signature struct {
	KeyID string
	Sig   []byte
}

// Decode parses an encoded envelope. Base64 fields must be standard padded base64, so an
// envelope has one encoding of its payload. It never panics on any input.
func Decode(raw []byte) (*Envelope, error) { return DecodeType(raw, PayloadType, MaxSize) }

// DecodeType is Decode for an envelope of payloadType of at most max bytes; an envelope
// of another type is refused with ErrPayloadType.
func DecodeType(raw []byte, payloadType string, max int) (*Envelope, error) {
	if len(raw) > max {
		return nil, fmt.Errorf("%w: %d bytes exceeds %d", ErrMalformed, len(raw), max)
	}
	var d dsse.Envelope
	if err := json.Unmarshal(raw, &d); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if d.PayloadType != payloadType {
		return nil, fmt.Errorf("%w %.64q", ErrPayloadType, d.PayloadType)
	}
	payload, err := base64.StdEncoding.Strict().DecodeString(d.Payload)
	if err != nil {
		return nil, fmt.Errorf("%w: payload: %v", ErrMalformed, err)
	}
	if len(d.Signatures) == 0 || len(d.Signatures) > 4 {
		return nil, fmt.Errorf("%w: %d signatures", ErrMalformed, len(d.Signatures))
	}
	e := &Envelope{PayloadType: d.PayloadType, Payload: payload}
	for i, s := range d.Signatures {
		sig, err := base64.StdEncoding.Strict().DecodeString(s.Sig)
		if err != nil {
			return nil, fmt.Errorf("%w: signature %d: %v", ErrMalformed, i, err)
		}
		e.Signatures = append(e.Signatures, Signature{KeyID: s.KeyID, Sig: sig})
	}
	return e, nil
}

// KeyIDs returns the key ids the envelope's signatures name.
func (e *Envelope) KeyIDs() []string {
	ids := make([]string, len(e.Signatures))
	for i, s := range e.Signatures {
		ids[i] = s.KeyID
	}
	return ids
}

// Verify checks that e carries a valid signature by pub. It returns ErrUnknownKey when no
// signature names pub's key id and ErrBadSignature when the one that does fails.
func (e *Envelope) Verify(pub *sitekey.Public) error {
	for _, s := range e.Signatures {
		if s.KeyID != pub.ID {
			continue
		}
		if len(s.Sig) != ed25519.SignatureSize || !ed25519.Verify(pub.Key, dsse.PAE(e.PayloadType, e.Payload), s.Sig) {
			return fmt.Errorf("%w: key %s", ErrBadSignature, pub.ID)
		}
		return nil
	}
	return fmt.Errorf("%w: key %s", ErrUnknownKey, pub.ID)
}

// TrustStore maps key ids to site public keys.
type TrustStore map[string]*sitekey.Public

// Add puts p in the store.
func (t TrustStore) Add(p *sitekey.Public) { t[p.ID] = p }

// Verify finds the first signature on e by a key in t and checks it, returning that key.
func (t TrustStore) Verify(e *Envelope) (*sitekey.Public, error) {
	for _, s := range e.Signatures {
		if p, ok := t[s.KeyID]; ok {
			return p, e.Verify(p)
		}
	}
	return nil, fmt.Errorf("%w: keys %v", ErrUnknownKey, e.KeyIDs())
}
