package config

import (
	"fmt"
	"time"
)

// Checkpoints configures the agent's signed checkpoints of its Merkle log: one is
// made when Every entries have been journaled since the last, or Interval has passed
// with anything journaled since.
type Checkpoints struct {
	// Every is the most entries between checkpoints (default 1000).
	Every int `yaml:"every,omitempty"`
	// Interval is the longest time between checkpoints while entries come (default 1m).
	Interval time.Duration `yaml:"interval,omitempty"`
}

func (k *Checkpoints) check(c *checker) {
	if k.Every == 0 {
		k.Every = 1000
	}
	if k.Interval == 0 {
		k.Interval = time.Minute
	}
	if k.Every < 1 || k.Every > 1_000_000 {
		c.add("checkpoints.every", fmt.Sprintf("%d out of range", k.Every), "use 1..1000000, e.g. 1000")
	}
	if k.Interval < time.Second {
		c.add("checkpoints.interval", k.Interval.String()+" too short", "use at least 1s, e.g. 1m")
	}
}
