package agent

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"time"

	"github.com/beevik/ntp"

	"github.com/apedge/apedge/internal/config"
)

// ClockCheck says whether the system clock is known to be right, and why not.
type ClockCheck func(ctx context.Context) (synced bool, detail string, err error)

// newClockCheck returns the check cfg names.
func newClockCheck(cfg config.Curfews) ClockCheck {
	switch cfg.ClockCheck {
	case config.ClockCheckNone:
		return func(context.Context) (bool, string, error) { return true, "not checked (clockCheck: none)", nil }
	case config.ClockCheckNTP:
		return func(ctx context.Context) (bool, string, error) {
			r, err := ntp.QueryWithOptions(cfg.ClockServer, ntp.QueryOptions{Timeout: 5 * time.Second})
			if err != nil {
				return false, "", fmt.Errorf("agent: clock check: ntp %s: %w", cfg.ClockServer, err)
			}
			if err := r.Validate(); err != nil {
				return false, "", fmt.Errorf("agent: clock check: ntp %s: %w", cfg.ClockServer, err)
			}
			off := r.ClockOffset
			detail := fmt.Sprintf("offset %v from %s (stratum %d)", off, cfg.ClockServer, r.Stratum)
			return off.Abs() <= cfg.MaxClockOffset, detail, nil
		}
	default: // timedatectl
		return func(ctx context.Context) (bool, string, error) {
			out, err := exec.CommandContext(ctx, "timedatectl", "show", "-p", "NTPSynchronized", "--value").Output()
			if err != nil {
				return false, "", fmt.Errorf("agent: clock check: timedatectl: %w", err)
			}
			v := strings.TrimSpace(string(out))
			return v == "yes", "timedatectl NTPSynchronized=" + v, nil
		}
	}
}
