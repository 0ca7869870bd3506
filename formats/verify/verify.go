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
package verify

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io"

	"github.com/apedge/apedge/formats/envelope"
	"github.com/apedge/apedge/formats/event"
	"github.com/apedge/apedge/formats/sitekey"
)

// Errors that a LineError wraps, to tell failures apart with errors.Is. Signature
// failures wrap envelope.ErrUnknownKey or envelope.ErrBadSignature, and envelopes that do
// not decode wrap envelope.ErrMalformed or envelope.ErrPayloadType.
var (
	// ErrEmpty is returned for an export with no envelopes in it.
	ErrEmpty = errors.New("verify: export holds no events")
	// ErrNotCanonical marks an envelope whose bytes are not the one encoding apedge
	// writes (see envelope.Encode): it was re-encoded or altered outside the signed payload.
	ErrNotCanonical = errors.New("envelope is not canonically encoded")
	// ErrBlankLine marks a blank line followed by more envelopes.
	ErrBlankLine = errors.New("blank line inside the export")
	// ErrTooLong marks a line longer than any envelope may be.
	ErrTooLong = errors.New("line too long for an envelope")
	// ErrMalformedEvent marks a signed payload that is not a valid apedge event.
	ErrMalformedEvent = errors.New("malformed event")
	// ErrWrongSite marks an event of a site other than the key's.
	ErrWrongSite = errors.New("wrong site")
	// ErrChain marks an event that does not follow the one on the line before it.
	ErrChain = errors.New("chain broken")
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

// Error reads like "line 17 (ABC-17): bad signature".
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
			return res, &LineError{Line: blank, Err: ErrBlankLine}
		}
		ev, hash, err := checkLine(b, pub)
		if err != nil {
			err.Line = line
			return res, err
		}
		if err := ev.Follows(prevSeq, prevHash); err != nil {
			le := &LineError{Line: line, ID: ev.ID, Seq: ev.Seq}
			switch {
			case line == 1 && ev.Seq != 1:
				le.Err = fmt.Errorf("%w: export starts at seq %d, want 1", ErrChain, ev.Seq)
			case ev.Seq != prevSeq+1:
				le.Err = fmt.Errorf("%w: seq %d after %d", ErrChain, ev.Seq, prevSeq)
			case line == 1:
				le.Err = fmt.Errorf("%w: prevhash %s of seq 1 is not the genesis hash", ErrChain, ev.PrevHash)
			default:
				le.Err = fmt.Errorf("%w: prevhash %s is not the hash of line %d (%s)", ErrChain, ev.PrevHash, line-1, hex.EncodeToString(prevHash[:]))
			}
			return res, le
		}
		prevSeq, prevHash = ev.Seq, hash
		if res.Count == 0 {
			res.FirstSeq = ev.Seq
		}
		res.Count++
		res.LastSeq = ev.Seq
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return res, &LineError{Line: line + 1, Err: fmt.Errorf("%w (over %d bytes)", ErrTooLong, envelope.MaxSize)}
		}
		return res, fmt.Errorf("verify: read export: %w", err)
	}
	if res.Count == 0 {
		return res, ErrEmpty
	}
	return res, nil
}

// checkLine checks everything about one line except its place in the chain.
func checkLine(b []byte, pub *sitekey.Public) (*event.Event, [32]byte, *LineError) {
	env, err := envelope.Decode(b)
	if err != nil {
		return nil, [32]byte{}, &LineError{Err: err}
	}
	le := &LineError{}
	le.ID, le.Seq = event.Claimed(env.Payload)
	if !bytes.Equal(b, envelope.Encode(env)) {
		le.Err = ErrNotCanonical
		return nil, [32]byte{}, le
	}
	if err := env.Verify(pub); err != nil {
		switch {
		case errors.Is(err, envelope.ErrBadSignature):
			le.Err = envelope.ErrBadSignature
		case errors.Is(err, envelope.ErrUnknownKey):
			le.Err = fmt.Errorf("%w: no signature by key %s", envelope.ErrUnknownKey, pub.ID)
		default:
			le.Err = err
		}
		return nil, [32]byte{}, le
	}
	ev, err := event.Parse(env.Payload)
	if err != nil {
		le.Err = fmt.Errorf("%w: %v", ErrMalformedEvent, err)
		return nil, [32]byte{}, le
	}
	if ev.Site() != pub.Site {
		le.Err = fmt.Errorf("%w: event of site %s, key of site %s", ErrWrongSite, ev.Site(), pub.Site)
		return nil, [32]byte{}, le
	}
	return ev, event.Hash(env.Payload), nil
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
