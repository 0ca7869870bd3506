package bridge

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// The command ledger's file in the state directory, and its bounds.
const (
	// ledgerFile is the name of the ledger's file in the state directory.
	ledgerFile = "commands.json"
	// ledgerVersion is the version of the file's format.
	ledgerVersion = 1
	// maxCommandID is the longest command id a command may carry (sitebus.DecodeCommand).
	maxCommandID = 64
	// maxLedgerBytes bounds the ledger's file: maxRemembered entries, each at most 512
	// bytes (an id of maxCommandID bytes each escaped as \u00XX, and a deadline in
	// RFC 3339 with nanoseconds), and the object around them. A larger file is corrupt.
	maxLedgerBytes = maxRemembered*512 + 1024
)

// Causes a command is refused for by the ledger, besides replayed and too many.
const (
	// causeLedgerLost: the ledger kept from before could not be read, and the command
	// is due before the last command accepted before could be past its deadline.
	causeLedgerLost = "replay-ledger-lost"
	// causeLedgerUnwritable: the command's id could not be kept on disk, so it could
	// be replayed after a restart.
	causeLedgerUnwritable = "replay-ledger-unwritable"
)

// ledger remembers the ids of the commands accepted, until their deadlines pass, so
// that a command replayed from the bus is refused, also after the bridge restarts. A
// command past its deadline is answered "expired" anyway, and deadlines are at most
// maxAhead away, so the ledger holds at most maxRemembered ids.
//
// It is kept in the state directory (ledgerFile), written through a temporary file
// renamed over it and synced, each time a command is accepted and only then: never on
// a card read's path. It is read when the first command after the bridge starts
// arrives (open). If that file cannot be read or is corrupt, the ids accepted before
// are lost; as every command accepted before was accepted before the ledger was
// opened, with a deadline at most maxAhead after that, a command due no later than
// maxAhead after the ledger was opened cannot be proved new, and is refused
// (causeLedgerLost). A command due later is provably new. With the agent's deadlines
// of 10s, that refuses commands for about maxAhead after the first one. A command whose
// id cannot be written to the file is refused too (causeLedgerUnwritable): carried out,
// it could be replayed after a restart. Its id is still remembered, so that it is
// refused as replayed while the bridge runs.
type ledger struct {
	mu     sync.Mutex
	seen   map[string]time.Time // command id: its deadline
	path   string               // the file it is kept in; "" keeps it in memory only
	opened bool
	// unsureUntil is set when the ledger kept from before was lost: a command due no
	// later than it cannot be proved new.
	unsureUntil time.Time
}

// open reads the ledger kept in dir, once: later calls do nothing and return nil.
// Ids whose deadlines are before now are dropped. If the kept ledger cannot be read,
// lost says why, and commands due no later than now+maxAhead are refused; the bridge
// logs it and carries on.
func (l *ledger) open(dir string, now time.Time) (lost error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.opened {
		return nil
	}
	l.opened = true
	l.path = filepath.Join(dir, ledgerFile)
	if l.seen == nil {
		l.seen = map[string]time.Time{}
	}
	kept, err := readLedger(l.path)
	if err != nil {
		l.unsureUntil = now.Add(maxAhead)
		return err
	}
	for id, d := range kept {
		if !d.Before(now) {
			l.seen[id] = d
		}
	}
	return nil
}

// first records command id with its deadline, kept on disk, and says whether it is
// new: refused is "" if so, otherwise why the command is refused, which err details.
func (l *ledger) first(id string, deadline, now time.Time) (refused string, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.seen == nil {
		l.seen = map[string]time.Time{}
	}
	if _, dup := l.seen[id]; dup {
		return causeReplayed, fmt.Errorf("command %s", id)
	}
	if !l.unsureUntil.IsZero() && !deadline.After(l.unsureUntil) {
		return causeLedgerLost, fmt.Errorf("command %s: the ledger of commands accepted before the bridge started was lost; "+
			"commands due by %s cannot be proved new", id, l.unsureUntil.UTC().Format(time.RFC3339))
	}
	for k, d := range l.seen {
		if d.Before(now) {
			delete(l.seen, k)
		}
	}
	if len(l.seen) >= maxRemembered {
		return causeTooMany, fmt.Errorf("command %s: %d commands within their deadlines", id, len(l.seen))
	}
	l.seen[id] = deadline
	if err := l.save(); err != nil {
		return causeLedgerUnwritable, fmt.Errorf("command %s: %w", id, err)
	}
	return "", nil
}

// ledgerJSON is the ledger's file.
type ledgerJSON struct {
	Version  int           `json:"version"`
	Commands []ledgerEntry `json:"commands"`
}

type ledgerEntry struct {
	ID       string    `json:"id"`
	Deadline time.Time `json:"deadline"`
}

// encodeLedger encodes seen as the ledger's file, by id.
func encodeLedger(seen map[string]time.Time) ([]byte, error) {
	f := ledgerJSON{Version: ledgerVersion, Commands: make([]ledgerEntry, 0, len(seen))}
	for id, d := range seen {
		f.Commands = append(f.Commands, ledgerEntry{ID: id, Deadline: d.UTC()})
	}
	slices.SortFunc(f.Commands, func(a, b ledgerEntry) int { return strings.Compare(a.ID, b.ID) })
	b, err := json.Marshal(f)
	if err != nil {
		return nil, fmt.Errorf("bridge: encode command ledger: %w", err)
	}
	return b, nil
}

// decodeLedger parses and checks the ledger's file: the current version, no more than
// maxRemembered commands, each with an id of 1..maxCommandID bytes, named once, and a
// deadline in years 1..9999 (UTC, as it is written); no unknown field, nothing after the object, no more than maxLedgerBytes. It
// never panics.
func decodeLedger(b []byte) (map[string]time.Time, error) {
	if len(b) > maxLedgerBytes {
		return nil, fmt.Errorf("bridge: command ledger of %d bytes, more than %d", len(b), maxLedgerBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var f *ledgerJSON
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("bridge: command ledger: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("bridge: command ledger: data after the object")
	}
	switch {
	case f == nil:
		return nil, errors.New("bridge: command ledger: null")
	case f.Version != ledgerVersion:
		return nil, fmt.Errorf("bridge: command ledger: version %d, want %d", f.Version, ledgerVersion)
	case f.Commands == nil:
		return nil, errors.New("bridge: command ledger: no commands list")
	case len(f.Commands) > maxRemembered:
		return nil, fmt.Errorf("bridge: command ledger: %d commands, more than %d", len(f.Commands), maxRemembered)
	}
	seen := make(map[string]time.Time, len(f.Commands))
	for i, c := range f.Commands {
		switch _, dup := seen[c.ID]; {
		case c.ID == "" || len(c.ID) > maxCommandID:
			return nil, fmt.Errorf("bridge: command ledger: command %d: id missing or longer than %d bytes", i, maxCommandID)
		case c.Deadline.IsZero():
			return nil, fmt.Errorf("bridge: command ledger: command %q: no deadline", c.ID)
		case c.Deadline.UTC().Year() < 1 || c.Deadline.UTC().Year() > 9999:
			return nil, fmt.Errorf("bridge: command ledger: command %q: deadline out of range", c.ID)
		case dup:
			return nil, fmt.Errorf("bridge: command ledger: command %q named twice", c.ID)
		}
		seen[c.ID] = c.Deadline
	}
	return seen, nil
}

// readLedger reads the ledger's file at path: none is an empty ledger.
func readLedger(path string) (map[string]time.Time, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return map[string]time.Time{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("bridge: command ledger: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxLedgerBytes+1))
	if err != nil {
		return nil, fmt.Errorf("bridge: command ledger %s: %w", path, err)
	}
	seen, err := decodeLedger(b)
	if err != nil {
		return nil, fmt.Errorf("%w (%s)", err, path)
	}
	return seen, nil
}

// save writes the ledger to its file, if it has one: through a temporary file, synced
// and renamed over it, and the directory synced, so that a crash leaves the old ledger
// or the new one. l.mu is held.
func (l *ledger) save() error {
	if l.path == "" {
		return nil
	}
	b, err := encodeLedger(l.seen)
	if err != nil {
		return err
	}
	dir := filepath.Dir(l.path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("bridge: keep command ledger: %w", err)
	}
	tmp := l.path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("bridge: keep command ledger: %w", err)
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, l.path)
	}
	if err == nil {
		err = syncDir(dir)
	}
	if err != nil {
		return fmt.Errorf("bridge: keep command ledger: %w", err)
	}
	return nil
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
