package config

import "fmt"

// DefaultMinFreeBytes is the free space below which the agent raises agent.disk-low.
const DefaultMinFreeBytes = 256 << 20

// Disk configures the agent's watch on the free space of its journal's filesystem.
type Disk struct {
	// MinFreeBytes is the free space below which the agent journals agent.disk-low, an
	// alarm, well before the journal can no longer append (default 256 MiB).
	MinFreeBytes int64 `yaml:"minFreeBytes,omitempty"`
}

func (d *Disk) check(c *checker) {
	if d.MinFreeBytes == 0 {
		d.MinFreeBytes = DefaultMinFreeBytes
	}
	if d.MinFreeBytes < 1<<20 {
		c.add("disk.minFreeBytes", fmt.Sprintf("%d too small", d.MinFreeBytes), "use at least 1048576 (1 MiB), e.g. 268435456 (256 MiB)")
	}
}
