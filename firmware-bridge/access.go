package bridge

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"

	"github.com/apedge/apedge/formats/sitebus"
	"github.com/apedge/apedge/formats/sitekey"
)

// Reasons a card read is refused.
const (
	denyNoList      = "no-list"           // the bridge has never had a credential list
	denyNotListed   = "not-listed"        // the credential is not on the list
	denyNotThisDoor = "not-this-door"     // it is listed, but not for this door
	denyNoDoor      = "reader-on-no-door" // the reader is on no door the bridge runs
	// denySecondFactor: granted by the list, but at an Enhanced Security door the
	// card holder's finger did not match on the door's terminal (CardRead.SecondFactor
	// says what the terminal said).
	denySecondFactor = "second-factor"
	// denyStaffConfirmation: granted by the list, but the holder has the alternative
	// to a finger: staff let them through (a console unlock, journaled).
	denyStaffConfirmation = "staff-confirmation"
)

// access is the credential list the bridge grants entry by: the last one the agent
// published signed by the site key, kept in a file with its signature so that doors
// work after a restart with the agent away. Only a list the site key verifies is
// kept or used, and a list replaces the one held only when its version is newer: a
// forged list, whatever its version, changes nothing.
type access struct {
	path string
	pub  *sitekey.Public // verifies every list, from the bus and from the file

	mu    sync.RWMutex
	list  *sitebus.CredentialList
	doors map[string][]string        // credential id: doors (nil slice: every door)
	held  map[string]sitebus.Allowed // credential id: its entry
}

// loadAccess reads the kept list from dir, if there is one, and verifies it with pub
// again. A kept list that does not verify (an older bridge kept it unsigned, the
// site key changed, or the file was altered) is not used; refused says why, and the
// bridge waits for the agent's list.
func loadAccess(dir string, pub *sitekey.Public) (a *access, refused, err error) {
	a = &access{path: filepath.Join(dir, "credentials.json"), pub: pub}
	b, err := os.ReadFile(a.path)
	if errors.Is(err, os.ErrNotExist) {
		return a, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("bridge: credential list: %w", err)
	}
	l, err := sitebus.VerifyCredentialList(b, pub)
	if err != nil {
		return a, fmt.Errorf("bridge: kept credential list %s: %w", a.path, err), nil
	}
	a.install(l)
	return a, nil, nil
}

func (a *access) install(l *sitebus.CredentialList) {
	doors := make(map[string][]string, len(l.Credentials))
	held := make(map[string]sitebus.Allowed, len(l.Credentials))
	for _, c := range l.Credentials {
		held[c.ID] = c
		if c.Doors == nil {
			c.Doors = []string{}
		}
		doors[c.ID] = c.Doors
	}
	a.mu.Lock()
	a.list, a.doors, a.held = l, doors, held
	a.mu.Unlock()
}

// update takes a signed list from the bus, verifies it, keeps it on disk (signature
// and all) and then uses it. A list that does not verify is refused with an error
// wrapping sitebus.ErrUnsigned or sitebus.ErrBadSignature; a verified one of a
// version no newer than the one held is ignored (a stale retained message).
func (a *access) update(raw []byte) (changed bool, err error) {
	l, err := sitebus.VerifyCredentialList(raw, a.pub)
	if err != nil {
		return false, err
	}
	if v := a.version(); l.Version <= v {
		return false, nil
	}
	if err := os.MkdirAll(filepath.Dir(a.path), 0o700); err != nil {
		return false, fmt.Errorf("bridge: credential list: %w", err)
	}
	tmp := a.path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return false, fmt.Errorf("bridge: credential list: %w", err)
	}
	_, err = f.Write(raw)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, a.path)
	}
	if err != nil {
		return false, fmt.Errorf("bridge: keep credential list: %w", err)
	}
	a.install(l)
	return true, nil
}

func (a *access) version() uint64 {
	a.mu.RLock()
	defer a.mu.RUnlock()
	if a.list == nil {
		return 0
	}
	return a.list.Version
}

// decide says whether credential id opens door, why not, and by which list version.
func (a *access) decide(id, door string) (granted bool, reason string, version uint64) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	if a.list == nil {
		return false, denyNoList, 0
	}
	doors, ok := a.doors[id]
	switch {
	case !ok:
		return false, denyNotListed, a.list.Version
	case len(doors) > 0 && !slices.Contains(doors, door):
		return false, denyNotThisDoor, a.list.Version
	}
	return true, "", a.list.Version
}

// entry returns credential id's entry in the list, and whether it has one.
func (a *access) entry(id string) (sitebus.Allowed, bool) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	e, ok := a.held[id]
	return e, ok
}
