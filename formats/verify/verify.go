// Package verify checks an export of one site's stored events offline, with nothing but
// the site's public key: every line must be a canonically encoded DSSE envelope signed
// by that key, carrying an event of that site, and the events must form the site's hash
// chain from seq 1 without a gap, a repeat or a change of order.
//
// An export is what central.Export writes: the stored envelopes exactly as received, one
// JSON object per line, in seq order. Any changed, removed (other than at the end),
// reordered or inserted line makes Export fail, naming the first bad line. Removing
// events from the end of an export leaves a shorter valid chain; Result.LastSeq says how
// far the export goes, to be compared with a checkpoint or the count expected.
//
// Lines is the line checker itself, for a caller that verifies with several keys of
// the site or does more with each line (package proof checks an export against a
// signed checkpoint with it).
package verify

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/apedge/apedge/formats/envelope"
	"github.com/apedge/apedge/formats/event"
	"github.com/apedge/apedge/formats/sitekey"
)

// Errors that a LineError wraps, to tell failures apart with errors.Is. A line out of
// the chain wraps event.ErrChain. Signature failures wrap envelope.ErrUnknownKey or
// envelope.ErrBadSignature, and envelopes that do not decode wrap envelope.ErrMalformed
// or envelope.ErrPayloadType.
var (
	// ErrEmpty is returned for an export with no envelopes in it.
	ErrEmpty = errors.New("verify: export holds no events")
	// ErrNotCanonical marks an envelope whose bytes are not the one encoding apedge
	// writes (see envelope.Encode): it was re-encoded or altered outside the signed payload.
	ErrNotCanonical = errors.New("verify: envelope is not canonically encoded")
	// ErrBlankLine marks a blank line followed by more envelopes.
	ErrBlankLine = errors.New("verify: blank line inside the export")
	// ErrTooLong marks a line longer than any envelope may be.
	ErrTooLong = errors.New("verify: line too long for an envelope")
	// ErrMalformedEvent marks a signed payload that is not a valid apedge event.
	ErrMalformedEvent = errors.New("verify: malformed event")
	// ErrWrongSite marks an event of a site other than the key's.
	ErrWrongSite = errors.New("verify: wrong site")
)

// Result describes a verified export.
type Result struct {
	// Count is the number of events.
	Count int
	// FirstSeq and LastSeq are the seqs of the first and last events (FirstSeq is
	// always 1: an export starts at the beginning of the site's chain).
	FirstSeq, LastSeq uint64
	// Site is the site whose events they are.
	Site string
}

// LineError is the failure of one line of an export.
type LineError struct {
	// Line is the 1-based line number.
	Line int
	// ID is the event id the line claims, if it could be read.
	ID string
	// Seq is the seq the line claims, if it could be read.
	Seq uint64
	// Err says what is wrong.
	Err error
}

// Error reads like "line 17 (ABC-17): envelope: bad signature".
func (e *LineError) Error() string {
	if e.ID != "" {
		return fmt.Sprintf("line %d (%s): %v", e.Line, e.ID, e.Err)
	}
	return fmt.Sprintf("line %d: %v", e.Line, e.Err)
}

// Unwrap returns e.Err.
func (e *LineError) Unwrap() error { return e.Err }

// Export reads an export from r and checks it against pub, whose Site must be set. It
// returns the first failure as a *LineError naming the line, the event it claims to be
// and why, or ErrEmpty if r holds no envelopes; the Result then covers the lines
// verified before the failure. A missing final newline and blank lines at the end are
// accepted.
func Export(r io.Reader, pub *sitekey.Public) (Result, error) {
	if pub == nil || !sitekey.ValidSiteCode(pub.Site) {
		return Result{}, errors.New("verify: the public key must name its site")
	}
	res := Result{Site: pub.Site}
	err := Lines(r, pub.Site, envelope.TrustStore{pub.ID: pub}, func(l Line) error {
		if res.Count == 0 {
			res.FirstSeq = l.Event.Seq
		}
		res.Count++
		res.LastSeq = l.Event.Seq
		return nil
	})
	if err != nil {
		return res, err
	}
	if res.Count == 0 {
		return res, ErrEmpty
	}
	return res, nil
}

// Line is one line of an export that Lines verified.
type Line struct {
	// N is the 1-based line number.
	N int
	// Event is the line's event.
	Event *event.Event
	// Payload is the envelope's payload: the signed bytes Event was parsed from.
	Payload []byte
	// Key is the key of the trust store whose signature verified.
	Key *sitekey.Public
}

// Lines reads an export of site from r and checks each line as Export does, except
// that a line may be signed by any key in keys (all of them keys of site), and calls
// each with every line verified, in order. It stops at the first failure: a line that
// fails is returned as a *LineError, an error of each is returned as it is, and a
// failure to read r is wrapped. A missing final newline and blank lines at the end are
// accepted; an export with no envelopes calls each never and returns nil.
func Lines(r io.Reader, site string, keys envelope.TrustStore, each func(Line) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), envelope.MaxSize+1)
	sc.Split(splitLines)
	var (
		line, blank int
		prevSeq     uint64
		prevHash    = event.GenesisHash
	)
	for sc.Scan() {
		line++
		b := sc.Bytes()
		if len(b) == 0 {
			if blank == 0 {
				blank = line
			}
			continue
		}
		if blank != 0 {
			return &LineError{Line: blank, Err: ErrBlankLine}
		}
		l, le := checkLine(b, site, keys)
		if le != nil {
			le.Line = line
			return le
		}
		l.N = line
		if l.Event.Follows(prevSeq, prevHash) != nil {
			return chainError(l, prevSeq, prevHash)
		}
		if err := each(l); err != nil {
			return err
		}
		prevSeq, prevHash = l.Event.Seq, event.Hash(l.Payload)
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return &LineError{Line: line + 1, Err: fmt.Errorf("%w (over %d bytes)", ErrTooLong, envelope.MaxSize)}
		}
		return fmt.Errorf("verify: read export: %w", err)
	}
	return nil
}

// chainError is the failure of line l, whose event does not follow the event with seq
// prevSeq and payload hash prevHash on the line before it (seq 0 and the genesis hash
// before line 1). It wraps event.ErrChain.
func chainError(l Line, prevSeq uint64, prevHash [32]byte) *LineError {
	ev := l.Event
	le := &LineError{Line: l.N, ID: ev.ID, Seq: ev.Seq}
	switch {
	case l.N == 1 && ev.Seq != 1:
		le.Err = fmt.Errorf("%w: export starts at seq %d, want 1", event.ErrChain, ev.Seq)
	case ev.Seq != prevSeq+1:
		le.Err = fmt.Errorf("%w: seq %d after %d", event.ErrChain, ev.Seq, prevSeq)
	case l.N == 1:
		le.Err = fmt.Errorf("%w: prevhash %s of seq 1 is not the genesis hash", event.ErrChain, ev.PrevHash)
	default:
		le.Err = fmt.Errorf("%w: prevhash %s is not the hash of line %d (%x)", event.ErrChain, ev.PrevHash, l.N-1, prevHash)
	}
	return le
}

// checkLine checks everything about one line except its place in the chain: it is the
// one encoding of an envelope, signed by one of keys, carrying an event of site. The
// Line it returns has no line number; the LineError neither.
func checkLine(b []byte, site string, keys envelope.TrustStore) (Line, *LineError) {
	env, err := envelope.Decode(b)
	if err != nil {
		return Line{}, &LineError{Err: err}
	}
	le := &LineError{}
	le.ID, le.Seq = event.Claimed(env.Payload)
	if !bytes.Equal(b, envelope.Encode(env)) {
		le.Err = ErrNotCanonical
		return Line{}, le
	}
	pub, err := keys.Verify(env)
	if err != nil {
		switch {
		case errors.Is(err, envelope.ErrBadSignature):
			le.Err = envelope.ErrBadSignature
		case errors.Is(err, envelope.ErrUnknownKey):
			le.Err = fmt.Errorf("%w: %s", envelope.ErrUnknownKey, signers(site, keys))
		default:
			le.Err = err
		}
		return Line{}, le
	}
	ev, err := event.Parse(env.Payload)
	if err != nil {
		le.Err = fmt.Errorf("%w: %v", ErrMalformedEvent, err)
		return Line{}, le
	}
	if ev.Site() != site {
		le.Err = fmt.Errorf("%w: event of site %s, key of site %s", ErrWrongSite, ev.Site(), site)
		return Line{}, le
	}
	return Line{Event: ev, Payload: env.Payload, Key: pub}, nil
}

// signers says which keys did not sign a line: "no signature by key ID" for one,
// "none of the N keys of site S signed it" otherwise.
func signers(site string, keys envelope.TrustStore) string {
	if len(keys) == 1 {
		for id := range keys {
			return "no signature by key " + id
		}
	}
	return fmt.Sprintf("none of the %d keys of site %s signed it", len(keys), site)
}

// splitLines is bufio.ScanLines without dropping a carriage return, so that a line
// that gained one no longer matches its envelope.
func splitLines(data []byte, atEOF bool) (advance int, token []byte, err error) {
	if atEOF && len(data) == 0 {
		return 0, nil, nil
	}
	if i := bytes.IndexByte(data, '\n'); i >= 0 {
		return i + 1, data[:i], nil
	}
	if atEOF {
		return len(data), data, nil
	}
	return 0, nil, nil
}
