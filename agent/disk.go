package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"syscall"
	"time"

	"github.com/apedge/apedge/formats/event"
)

// Disk alarm types: the journal's filesystem below disk.minFreeBytes, and back above.
const (
	DiskLowType = "agent.disk-low"
	DiskOKType  = "agent.disk-ok"
)

// diskEvery is how often the agent looks at its journal's free space.
const diskEvery = time.Minute

// FreeSpace returns the bytes free to an unprivileged writer on the filesystem that
// holds path.
type FreeSpace func(path string) (uint64, error)

// statfsFree is FreeSpace by statfs(2).
func statfsFree(path string) (uint64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(path, &st); err != nil {
		return 0, fmt.Errorf("agent: free space of %s: %w", path, err)
	}
	return st.Bavail * uint64(st.Bsize), nil
}

// WithFreeSpace makes the agent measure its journal's free space with f instead of
// statfs(2): for tests of the low-disk alarm.
func WithFreeSpace(f FreeSpace) Option { return func(o *options) { o.free = f } }

// watchDisk looks at the free space of the journal's filesystem every diskEvery on the
// agent's clock until ctx ends, and journals agent.disk-low once when it falls below
// disk.minFreeBytes, agent.disk-ok once when it is back above a tenth more than that.
func (a *Agent) watchDisk(ctx context.Context) error {
	dir := filepath.Dir(a.cfg.Database)
	min := uint64(a.cfg.Disk.MinFreeBytes)
	low, saidErr := false, false
	for next := a.clock.Now(); ; next = next.Add(diskEvery) {
		select {
		case <-ctx.Done():
			return nil
		case <-a.clock.Until(next):
		}
		free, err := a.free(dir)
		if err != nil {
			if !saidErr {
				a.log.Error("free space unknown", "err", err)
				saidErr = true
			}
			continue
		}
		saidErr = false
		typ := ""
		switch {
		case !low && free < min:
			typ, low = DiskLowType, true
			a.log.Error("journal disk low", "free", free, "minFreeBytes", min, "dir", dir)
		case low && free >= min+min/10:
			typ, low = DiskOKType, false
			a.log.Info("journal disk space back", "free", free, "dir", dir)
		}
		if typ == "" {
			continue
		}
		info, _ := json.Marshal(map[string]any{"freeBytes": free, "minFreeBytes": min, "dir": dir})
		desc := fmt.Sprintf("journal filesystem has %d MiB free, below the %d MiB set", free>>20, min>>20)
		if typ == DiskOKType {
			desc = fmt.Sprintf("journal filesystem has %d MiB free again", free>>20)
		}
		if _, err := a.append(ctx, &event.Draft{Type: typ, OccurredAt: a.clock.Now(), Description: desc, Info: info}); err != nil {
			return err
		}
	}
}
