package sitebus

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/secure-systems-lab/go-securesystemslib/dsse"

	"github.com/apedge/apedge/formats/envelope"
	"github.com/apedge/apedge/formats/sitekey"
)

// What the agent gives the bridge travels signed by the site key, as a DSSE envelope
// (package envelope's one encoding, its own payloadType) carried as the MQTT payload:
// the bridge applies a credential list or carries out a command only once the site's
// public key verifies it, so that nobody else on the bus can open a door.
const (
	// CredentialsPayloadType is the DSSE payloadType of a signed CredentialList.
	CredentialsPayloadType = "application/vnd.apedge.credentials.v1+json"
	// CommandPayloadType is the DSSE payloadType of a signed CommandOrder.
	CommandPayloadType = "application/vnd.apedge.command.v1+json"
)

// Causes a signed message is refused for. Every error of VerifyCredentialList and
// VerifyCommand wraps ErrMessage and, where it applies, one of these.
var (
	// ErrUnsigned marks bytes that are not a DSSE envelope of the expected
	// payloadType: a bare list or command, or garbage.
	ErrUnsigned = errors.New("sitebus: not signed")
	// ErrBadSignature marks an envelope with no valid signature by the site key.
	ErrBadSignature = errors.New("sitebus: no valid signature by the site key")
	// ErrNotForDevice marks a genuine command for another site or device: replayed
	// onto a topic it was not signed for.
	ErrNotForDevice = errors.New("sitebus: command signed for another device")
)

// MaxSignedCredentials bounds a signed credential list: the list's own bound in
// base64, and room for the envelope.
const MaxSignedCredentials = (16<<20)/3*4 + 8<<10

// maxSignedCommand bounds a signed command.
const maxSignedCommand = MaxMessage

// signPayload returns the DSSE envelope of payload of type payloadType signed by k.
func signPayload(k *sitekey.Private, payloadType string, payload []byte) []byte {
	return envelope.SignType(k, payloadType, payload)
}

// openEnvelope parses raw as a DSSE envelope of payloadType, at most max bytes, without
// checking its signatures. Bytes that are no envelope of that type, or one without a
// signature, are ErrUnsigned. It never panics.
func openEnvelope(raw []byte, payloadType string, max int) (*envelope.Envelope, error) {
	if len(raw) > max {
		return nil, fmt.Errorf("%w: signed message of %d bytes, at most %d", ErrMessage, len(raw), max)
	}
	e, err := envelope.DecodeType(raw, payloadType, max)
	var d dsse.Envelope
	switch {
	case errors.Is(err, envelope.ErrPayloadType):
		return nil, fmt.Errorf("%w: %w: %v, want %s", ErrMessage, ErrUnsigned, err, payloadType)
	case err != nil && (json.Unmarshal(raw, &d) != nil || len(d.Signatures) == 0):
		return nil, fmt.Errorf("%w: %w: %v", ErrMessage, ErrUnsigned, err)
	case err != nil:
		return nil, fmt.Errorf("%w: %v", ErrMessage, err)
	}
	return e, nil
}

// verified returns the payload of raw, a DSSE envelope of payloadType, once pub
// verifies it.
func verified(raw []byte, payloadType string, max int, pub *sitekey.Public) ([]byte, error) {
	if pub == nil {
		return nil, fmt.Errorf("%w: %w: no key to verify with", ErrMessage, ErrBadSignature)
	}
	e, err := openEnvelope(raw, payloadType, max)
	if err != nil {
		return nil, err
	}
	if err := e.Verify(pub); err != nil {
		return nil, fmt.Errorf("%w: %w: %v", ErrMessage, ErrBadSignature, err)
	}
	return e.Payload, nil
}

// SignCredentialList returns l as the agent publishes it: a DSSE envelope of type
// CredentialsPayloadType signed by the site key k.
func SignCredentialList(k *sitekey.Private, l *CredentialList) ([]byte, error) {
	b, err := json.Marshal(l)
	if err != nil {
		return nil, fmt.Errorf("sitebus: encode credential list: %w", err)
	}
	return signPayload(k, CredentialsPayloadType, b), nil
}

// VerifyCredentialList checks that raw is a credential list signed by pub and returns
// the list. It never panics on any input.
func VerifyCredentialList(raw []byte, pub *sitekey.Public) (*CredentialList, error) {
	payload, err := verified(raw, CredentialsPayloadType, MaxSignedCredentials, pub)
	if err != nil {
		return nil, fmt.Errorf("credential list: %w", err)
	}
	return DecodeCredentialList(payload)
}

// CommandOrder is the signed payload of a command: the command and the device it is
// for, so that a genuine command cannot be replayed onto another door's topic.
type CommandOrder struct {
	Site   string `json:"site"`
	Class  string `json:"class"`
	Device string `json:"device"`
	Command
}

// SignCommand returns c, for device class/id of site, as the agent publishes it on the
// device's cmd topic: a DSSE envelope of type CommandPayloadType signed by the site
// key k.
func SignCommand(k *sitekey.Private, site, class, id string, c *Command) ([]byte, error) {
	b, err := json.Marshal(CommandOrder{Site: site, Class: class, Device: id, Command: *c})
	if err != nil {
		return nil, fmt.Errorf("sitebus: encode command %s: %w", c.ID, err)
	}
	return signPayload(k, CommandPayloadType, b), nil
}

// VerifyCommand checks that raw, received on the cmd topic of device class/id of
// site, is a command signed by pub for that device, and returns the command and the
// signed payload (a JSON object: the command's fields, for a class that reads its
// own). It never panics on any input.
func VerifyCommand(raw []byte, pub *sitekey.Public, site, class, id string) (*Command, []byte, error) {
	payload, err := verified(raw, CommandPayloadType, maxSignedCommand, pub)
	if err != nil {
		return nil, nil, fmt.Errorf("command: %w", err)
	}
	c, err := DecodeCommand(payload)
	if err != nil {
		return nil, nil, err
	}
	var to struct{ Site, Class, Device string }
	if err := json.Unmarshal(payload, &to); err != nil { // DecodeCommand parsed it already
		return nil, nil, fmt.Errorf("%w: command: %v", ErrMessage, err)
	}
	if to.Site != site || to.Class != class || to.Device != id {
		return nil, nil, fmt.Errorf("%w: %w: command %s is for %.64s %.64s/%.64s, received for %s %s/%s",
			ErrMessage, ErrNotForDevice, c.ID, to.Site, to.Class, to.Device, site, class, id)
	}
	return c, payload, nil
}

// ClaimedCommandID returns the id raw claims to carry, signed or not, verified or not,
// or "" if it names none that a Result could carry: the bridge answers a refused
// command by this id, so that the agent hears of a command it never ordered.
func ClaimedCommandID(raw []byte) string {
	if len(raw) > MaxMessage {
		return ""
	}
	body := raw
	if e, err := openEnvelope(raw, CommandPayloadType, maxSignedCommand); err == nil {
		body = e.Payload
	}
	var c struct {
		ID string `json:"id"`
	}
	if json.Unmarshal(body, &c) != nil || c.ID == "" || len(c.ID) > 64 {
		return ""
	}
	return c.ID
}
