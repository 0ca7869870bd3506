package bridge

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"

	"github.com/apedge/apedge/formats/sitebus"
)

// Reasons a card read is refused.
const (
	denyNoList      = "no-list"           // the bridge has never had a credential list
	denyNotListed   = "not-listed"        // the credential is not on the list
	denyNotThisDoor = "not-this-door"     // it is listed, but not for this door
	denyNoDoor      = "reader-on-no-door" // the reader is on no door the bridge runs
)

// access is the credential list the bridge grants entry by: the last one the agent
// published, kept in a file so that doors work after a restart with the agent away.
type access struct {
	path string

	mu    sync.RWMutex
	list  *sitebus.CredentialList
	doors map[string][]string // credential id: doors (nil slice: every door)
}

// loadAccess reads the kept list from dir, if there is one.
func loadAccess(dir string) (*access, error) {
	a := &access{path: filepath.Join(dir, "credentials.json")}
	b, err := os.ReadFile(a.path)
	if errors.Is(err, os.ErrNotExist) {
		return a, nil
	}
	if err != nil {
		return nil, fmt.Errorf("bridge: credential list: %w", err)
	}
	l, err := sitebus.DecodeCredentialList(b)
	if err != nil {
		return nil, fmt.Errorf("bridge: credential list %s: %w", a.path, err)
	}
	a.install(l)
	return a, nil
}

func (a *access) install(l *sitebus.CredentialList) {
	doors := make(map[string][]string, len(l.Credentials))
	for _, c := range l.Credentials {
		if c.Doors == nil {
			c.Doors = []string{}
		}
		doors[c.ID] = c.Doors
	}
	a.mu.Lock()
	a.list, a.doors = l, doors
	a.mu.Unlock()
}

// update takes a list from the bus, keeps it on disk first and then uses it. An older
// version than the one held is ignored (a stale retained message).
func (a *access) update(raw []byte) (changed bool, err error) {
	l, err := sitebus.DecodeCredentialList(raw)
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
